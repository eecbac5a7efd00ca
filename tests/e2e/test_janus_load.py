"""Load through Salon's SFU pool: 6 publishers and 50 subscribers in one group room on a real
Janus, and nobody starves.

The clients are bench/sfu_peers.py's: aiortc negotiates ICE and DTLS-SRTP with Janus, then
publishers replay a clip encoded once (no encoding while they run) and subscribers decrypt each
SRTP packet and count it, so the load is Janus's forwarding (about 18,000 packets a second
out), not the clients. Every subscriber subscribes to every publisher's audio and video; after
all are connected, the publishers send for a few seconds, and each subscriber must have
received at least 90 % of the packets of each stream it subscribed to.

Janus gets one end of a veth pair in this test's network namespace (``scripts/e2e``): it never
offers loopback candidates and aioice ignores 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bench.sfu_peers import (
    CountingSubscriber,
    ReplayPublisher,
    Sender,
    encode_clip,
    publish_via,
    subscribe_via,
)

from salon.janus.pool import SfuPool
from salon.media.sfu import FeedSelection, RoomSpec
from tests.janus.pool_support import janus_nodes, make_pool, shared_credentials
from tests.janus.support import eventually, veth_pair

T = TypeVar("T")

PUBLISHERS = 6
SUBSCRIBERS = 50
VIDEO_FPS = 10
SEND_S = 5.0
CONNECT_PARALLEL = 8
MIN_SHARE = 0.9


def run(main: Callable[[], Coroutine[None, None, T]]) -> T:
    """Runs ``main()`` in a fresh event loop on a thread of its own (Playwright keeps one on
    the main thread)."""
    with ThreadPoolExecutor(1, thread_name_prefix="janus-load") as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def test_fifty_subscribers_and_six_publishers_none_starves(tmp_path: Path) -> None:
    run(lambda: _load(tmp_path))


async def _load(tmp_path: Path) -> None:
    credentials = shared_credentials()
    with veth_pair() as veth:
        async with (
            janus_nodes(tmp_path, credentials, 1, media_address=veth.janus_address) as nodes,
            make_pool(credentials, nodes) as pool,
        ):
            await eventually(lambda: any(s.up for s in pool.nodes()), 10, "the node to be up")
            await _room_under_load(pool)


async def _room_under_load(pool: SfuPool) -> None:
    started = time.monotonic()
    clip = encode_clip(width=320, height=180, bitrate=250_000, seconds=1.0)
    room = await pool.create_room(RoomSpec("load", max_publishers=PUBLISHERS))
    publishers: list[ReplayPublisher] = []
    subscribers: list[CountingSubscriber] = []
    sender: Sender | None = None
    try:
        for i in range(PUBLISHERS):
            grant = await pool.allow_publisher(room, f"pub-{i}")
            publishers.append(await publish_via(pool, grant, clip))
        feeds = [FeedSelection(f"pub-{i}") for i in range(PUBLISHERS)]
        gate = asyncio.Semaphore(CONNECT_PARALLEL)

        async def join(index: int) -> CountingSubscriber:
            async with gate:
                return await subscribe_via(pool, room, f"sub-{index}", feeds)

        subscribers.extend(await asyncio.gather(*(join(i) for i in range(SUBSCRIBERS))))
        connected = time.monotonic() - started
        participants = await pool.participants(room)
        assert len(participants) == PUBLISHERS
        assert all(p.publishing for p in participants)

        # Everyone is connected: count from zero, send, let the last packets arrive.
        for peer in (*publishers, *subscribers):
            peer.reset()
        sender = Sender(publishers, VIDEO_FPS)
        sender.start()
        await asyncio.sleep(SEND_S)
        await sender.stop()
        await _settled(subscribers)

        sent = {
            (f"pub-{i}", kind): getattr(p, kind).sent
            for i, p in enumerate(publishers)
            for kind in ("audio", "video")
        }
        assert all(count > 0 for count in sent.values())
        starved = []
        for index, subscriber in enumerate(subscribers):
            received = subscriber.received()
            for stream, count in sent.items():
                if received.get(stream, 0) < MIN_SHARE * count:
                    starved.append((f"sub-{index}", stream, received.get(stream, 0), count))
            assert subscriber.errors == 0
        total_sent = sum(sent.values()) * SUBSCRIBERS
        total_received = sum(s.total for s in subscribers)
        summary = (
            f"{PUBLISHERS} publishers, {SUBSCRIBERS} subscribers connected in {connected:.1f} s; "
            f"{total_received}/{total_sent} packets forwarded "
            f"({total_received / SEND_S:.0f} per second)"
        )
        assert starved == [], f"{summary}; starved: {starved[:10]}"
        print(summary)
    finally:
        if sender is not None:
            await sender.stop()
        await asyncio.gather(*(peer.close() for peer in (*subscribers, *publishers)))


async def _settled(subscribers: list[CountingSubscriber], timeout: float = 5.0) -> None:
    """Waits until the subscribers' counts stop growing."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        total = sum(s.total for s in subscribers)
        if total == last:
            return
        last = total
        await asyncio.sleep(0.25)
