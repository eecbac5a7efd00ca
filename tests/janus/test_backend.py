"""``JanusBackend`` against a real Janus over its loopback WebSocket (no media: see
tests/e2e/test_janus_media.py for aiortc peers sending video through it)."""

from __future__ import annotations

import os
import signal

import pytest

from salon.errors import SfuRefusal, SfuRefused, SfuRoomNotFound, SfuUnavailable
from salon.janus import translate
from salon.janus.backend import JanusBackend
from salon.janus.process import JanusProcess
from salon.janus.transport import probe
from salon.media.sfu import (
    FeedSelection,
    NodeLost,
    PeerConnectionDown,
    PublisherJoined,
    PublisherLeft,
    PublishGrant,
    RoomDestroyed,
    RoomSpec,
    SfuParticipant,
    SfuRoom,
)
from tests.janus.support import connect, eventually, next_of, recorded_offer

pytestmark = pytest.mark.anyio


async def test_rooms_are_created_listed_and_destroyed(backend: JanusBackend) -> None:
    events = backend.events()
    room = await backend.create_room(RoomSpec("room-1", max_publishers=3))
    assert room == SfuRoom("local", "room-1")
    assert await backend.participants(room) == ()  # Salon's own monitor is not a participant
    health = await backend.health()
    assert (health.version, health.rooms, health.participants) == ("1.1.2", 1, 0)

    await backend.destroy_room(room)
    assert await next_of(events, RoomDestroyed) == RoomDestroyed(room)
    assert (await backend.health()).rooms == 0
    await backend.destroy_room(room)  # already gone: fine
    with pytest.raises(SfuRoomNotFound):
        await backend.participants(room)


async def test_a_room_id_is_unique_on_a_node(backend: JanusBackend) -> None:
    await backend.create_room(RoomSpec("room-1", max_publishers=3))
    with pytest.raises(SfuRefused) as raised:
        await backend.create_room(RoomSpec("room-1", max_publishers=5))
    assert raised.value.reason is SfuRefusal.ROOM_EXISTS


async def test_a_room_on_another_node_is_not_here(backend: JanusBackend) -> None:
    with pytest.raises(SfuRoomNotFound):
        await backend.participants(SfuRoom("elsewhere", "room-1"))


async def test_publishing_needs_a_grant_salon_issued(backend: JanusBackend) -> None:
    room = await backend.create_room(RoomSpec("room-1", max_publishers=3))
    offer = recorded_offer()
    with pytest.raises(SfuRefused) as forged:
        await backend.publish(PublishGrant(room, "mallory", "made-up-token"), offer)
    assert forged.value.reason is SfuRefusal.UNAUTHORIZED
    # Another participant's grant is no good once it is revoked either.
    grant = await backend.allow_publisher(room, "alice")
    await backend.revoke_publisher(grant)
    with pytest.raises(SfuRefused) as revoked:
        await backend.publish(grant, offer)
    assert revoked.value.reason is SfuRefusal.UNAUTHORIZED
    assert await backend.participants(room) == ()
    assert backend._handles == {}  # the refused handles were detached


async def test_a_crafted_join_without_a_token_is_refused_by_janus(
    backend: JanusBackend, janus: JanusProcess
) -> None:
    """Even a client holding the API secret and the room pin, joining Janus directly as a
    publisher without a token Salon added, is refused by the VideoRoom itself."""
    room = await backend.create_room(RoomSpec("room-1", max_publishers=3))
    pin = backend._credentials(room.room_id).pin
    transport = backend.transport
    handle_id = await transport.attach(lambda message: None)
    body = dict(
        translate.publish(
            handle_id, room.room_id, "mallory", recorded_offer(), pin=pin, token=""
        ).body
        or {}
    )
    del body["token"]
    crafted = translate.JanusMessage(
        "message",
        handle_id=handle_id,
        body=body,
        jsep={"type": "offer", "sdp": recorded_offer().sdp},
    )
    with pytest.raises(SfuRefused) as raised:
        await transport.request(crafted)
    assert raised.value.reason is SfuRefusal.UNAUTHORIZED
    wrong_pin = translate.join_subscriber(handle_id, room.room_id, [], pin="guess")
    with pytest.raises(SfuRefused) as pinned:
        await transport.request(wrong_pin)
    assert pinned.value.reason is SfuRefusal.UNAUTHORIZED
    await transport.detach(handle_id)


async def test_a_granted_publisher_joins_and_a_revoked_one_is_removed(
    backend: JanusBackend,
) -> None:
    events = backend.events()
    room = await backend.create_room(RoomSpec("room-1", max_publishers=3))
    grant = await backend.allow_publisher(room, "alice")
    assert "token" not in repr(grant)
    publication = await backend.publish(grant, recorded_offer())
    assert publication.answer.type.value == "answer"
    assert publication.handle.participant_id == "alice"
    assert await next_of(events, PublisherJoined) == PublisherJoined(room, "alice")
    # Joined, not yet publishing: no ICE here, so no media ever flows.
    assert await backend.participants(room) == (SfuParticipant("alice", publishing=False),)

    await backend.revoke_publisher(grant)
    assert await next_of(events, PeerConnectionDown) == PeerConnectionDown(
        publication.handle, "kicked"
    )
    assert await next_of(events, PublisherLeft) == PublisherLeft(room, "alice", kicked=True)
    assert await backend.participants(room) == ()
    await backend.leave(publication.handle)
    await backend.leave(publication.handle)  # twice: fine


async def test_a_participant_joins_a_room_once(backend: JanusBackend) -> None:
    room = await backend.create_room(RoomSpec("room-1", max_publishers=3))
    grant = await backend.allow_publisher(room, "alice")
    await backend.publish(grant, recorded_offer())
    with pytest.raises(SfuRefused) as raised:
        await backend.publish(grant, recorded_offer())
    assert raised.value.reason is SfuRefusal.ALREADY_JOINED


async def test_subscribing_to_nobody_is_refused(backend: JanusBackend) -> None:
    room = await backend.create_room(RoomSpec("room-1", max_publishers=3))
    with pytest.raises(SfuRefused) as raised:
        await backend.subscribe(room, "bob", [FeedSelection("nobody")])
    assert raised.value.reason is SfuRefusal.NO_SUCH_FEED
    assert backend._handles == {}
    with pytest.raises(ValueError, match="participant_id"):
        await backend.subscribe(room, "_salon_monitor", [FeedSelection("alice")])


async def test_the_node_is_lost_when_janus_dies_and_back_after_restart(
    backend: JanusBackend, janus: JanusProcess
) -> None:
    events = backend.events()
    await backend.create_room(RoomSpec("room-1", max_publishers=3))
    pid = janus.supervisor.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert await next_of(events, NodeLost, timeout=10) == NodeLost("local")
    with pytest.raises(StopAsyncIteration):
        await events.next(1)
    # The supervisor starts Janus again: an empty node, to which Salon can connect anew.
    await eventually(lambda: janus.supervisor.restarts == 1, 20, "a restart")

    async def answers() -> bool:
        try:
            await probe(janus.node.url, janus.config.api_secret, timeout=1.0)
        except SfuUnavailable:
            return False
        return True

    await eventually(answers, 20, "the restarted Janus to answer")
    assert janus.supervisor.pid != pid
    again = await connect(janus)
    assert (await again.health()).rooms == 0
    await again.close()


async def test_closing_ends_every_event_stream(janus: JanusProcess) -> None:
    backend = await connect(janus)
    events = backend.events()
    await backend.close()
    with pytest.raises(StopAsyncIteration):
        await events.next(1)
    late = backend.events()
    with pytest.raises(StopAsyncIteration):
        await late.next(1)
