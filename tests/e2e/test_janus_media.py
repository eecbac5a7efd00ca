"""Media through a real Janus driven by ``JanusBackend``: an aiortc publisher sends audio and
video, an aiortc subscriber receives and decodes it, and every DTLS peer either of them talks
to is Janus.

Janus never offers a loopback candidate and aioice ignores 127.0.0.1, so Janus gets one end of
a veth pair made inside this test's network namespace (``scripts/e2e`` makes the namespace;
the pair is removed afterwards). No packet leaves it.

The tests are plain functions that run their asyncio part on a thread of their own: the
browser tests' session-wide Playwright keeps an event loop running on the main thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from salon.errors import SfuRefusal, SfuRefused
from salon.janus import translate
from salon.janus.backend import JanusBackend
from salon.janus.process import JanusProcess
from salon.media.sfu import (
    FeedKind,
    FeedsPublished,
    PeerConnectionUp,
    PublishedFeed,
    PublishGrant,
    RoomSpec,
    SfuParticipant,
    TalkingChanged,
)
from tests.janus import peers
from tests.janus.support import Veth, connect, eventually, next_of, running_janus, veth_pair

T = TypeVar("T")


def run(main: Callable[[], Coroutine[None, None, T]]) -> T:
    """Runs ``main()`` to completion in a fresh event loop on a thread of its own."""
    with ThreadPoolExecutor(1, thread_name_prefix="janus-media") as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


@pytest.fixture
def veth() -> Iterator[Veth]:
    with veth_pair() as pair:
        yield pair


@asynccontextmanager
async def janus_with_backend(
    veth: Veth, directory: Path
) -> AsyncIterator[tuple[JanusProcess, JanusBackend]]:
    """A Janus whose media address is Janus's end of the veth pair, and Salon's backend on it."""
    async with running_janus(directory, media_address=veth.janus_address) as janus:
        backend = await connect(janus)
        try:
            yield janus, backend
        finally:
            await backend.close()


def test_video_goes_through_janus_from_publisher_to_subscriber(veth: Veth, tmp_path: Path) -> None:
    run(lambda: video_through_janus(veth, tmp_path / "janus"))


async def video_through_janus(veth: Veth, directory: Path) -> None:
    async with janus_with_backend(veth, directory) as (janus, backend):
        await _video_through_janus(veth, janus, backend)


async def _video_through_janus(veth: Veth, janus: JanusProcess, backend: JanusBackend) -> None:
    events = backend.events()
    room = await backend.create_room(RoomSpec("group-1", max_publishers=3))
    grant = await backend.allow_publisher(room, "alice")
    publisher = await peers.publish(backend, grant)
    subscriber = None
    try:
        published = await next_of(events, FeedsPublished, timeout=20)
        assert published == FeedsPublished(
            room,
            "alice",
            (
                PublishedFeed("alice", "0", FeedKind.AUDIO, "opus"),
                PublishedFeed("alice", "1", FeedKind.VIDEO, "vp8"),
            ),
        )
        subscriber = await peers.subscribe(backend, room, "bob", "alice")
        await eventually(
            lambda: len(subscriber.video_frames) >= 30 and subscriber.audio_frames >= 10,
            30,
            "bob to decode 30 video frames and 10 audio frames from alice",
        )
        assert set(subscriber.video_frames) == {(320, 240)}

        # Every DTLS handshake either peer made was with the holder of Janus's certificate,
        # over ICE pairs whose remote end is Janus's address: no peer-to-peer path.
        janus_fingerprint = peers.fingerprint_of(janus.config.cert_pem.read_bytes())
        assert peers.remote_dtls_fingerprints(publisher.pc) == {janus_fingerprint}
        assert peers.remote_dtls_fingerprints(subscriber.pc) == {janus_fingerprint}
        assert peers.remote_ice_hosts(publisher.pc) == {veth.janus_address}
        assert peers.remote_ice_hosts(subscriber.pc) == {veth.janus_address}
        assert peers.sdp_fingerprints(subscriber.offer.sdp) == {janus_fingerprint}

        talking = await next_of(events, TalkingChanged, timeout=20)
        assert talking == TalkingChanged(room, "alice", talking=True, level_dbov=talking.level_dbov)
        assert (await backend.participants(room)) == (
            SfuParticipant("alice", publishing=True, talking=True),
        )
    finally:
        if subscriber is not None:
            await subscriber.close()
        await publisher.close()


def test_a_publisher_without_a_salon_token_is_refused(veth: Veth, tmp_path: Path) -> None:
    run(lambda: publisher_without_token(veth, tmp_path / "janus"))


async def publisher_without_token(veth: Veth, directory: Path) -> None:
    async with janus_with_backend(veth, directory) as (_, backend):
        await _publisher_without_token(backend)


async def _publisher_without_token(backend: JanusBackend) -> None:
    events = backend.events()
    room = await backend.create_room(RoomSpec("group-2", max_publishers=3))
    crafted = peers.new_peer_connection()
    crafted.addTransceiver(peers.PatternTrack(), direction="sendonly")
    try:
        offer = await peers.offer_from(crafted)
        with pytest.raises(SfuRefused) as forged:
            await backend.publish(PublishGrant(room, "mallory", "guessed-token"), offer)
        assert forged.value.reason is SfuRefusal.UNAUTHORIZED

        # Straight to Janus's API with no token at all: the VideoRoom refuses it too.
        handle_id = await backend.transport.attach(lambda message: None)
        pin = backend._credentials(room.room_id).pin
        body = {"request": "joinandconfigure", "ptype": "publisher", "room": room.room_id}
        crafted_join = translate.JanusMessage(
            "message",
            handle_id=handle_id,
            body={**body, "id": "mallory", "pin": pin},
            jsep={"type": "offer", "sdp": offer.sdp},
        )
        with pytest.raises(SfuRefused) as direct:
            await backend.transport.request(crafted_join)
        assert direct.value.reason is SfuRefusal.UNAUTHORIZED
        await backend.transport.detach(handle_id)
    finally:
        await crafted.close()
    assert await backend.participants(room) == ()
    with pytest.raises(TimeoutError):
        await next_of(events, FeedsPublished, timeout=1.0)


def test_a_full_room_refuses_one_more_publisher(veth: Veth, tmp_path: Path) -> None:
    run(lambda: full_room(veth, tmp_path / "janus"))


async def full_room(veth: Veth, directory: Path) -> None:
    async with janus_with_backend(veth, directory) as (_, backend):
        await _full_room(backend)


async def _full_room(backend: JanusBackend) -> None:
    events = backend.events()
    room = await backend.create_room(RoomSpec("group-3", max_publishers=1))
    first = await peers.publish(backend, await backend.allow_publisher(room, "alice"))
    try:
        await next_of(events, PeerConnectionUp, timeout=20)
        with pytest.raises(SfuRefused) as raised:
            await peers.publish(backend, await backend.allow_publisher(room, "bob"))
        assert raised.value.reason is SfuRefusal.PUBLISHERS_FULL
    finally:
        await first.close()
