"""``SfuPool`` over real Janus nodes: placement, affinity, draining, and failover.

The control-plane tests run on loopback. The failover test with media runs in a network
namespace of its own (``run_in_private_network``): two Janus nodes share a veth address, an
aiortc publisher publishes on the first, the first is killed, and the room, made again on the
second within 10 s, carries media again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from salon.errors import SfuRoomNotFound, SfuUnavailable
from salon.janus.pool import NodeDown, NodeUp, PoolEventStream, RoomMoved, SfuPool
from salon.janus.process import JanusProcess
from salon.media.sfu import FeedsPublished, PeerConnectionUp, RoomSpec, SfuRoom
from tests.janus import peers
from tests.janus.pool_support import (
    janus_nodes,
    make_pool,
    run_in_private_network,
    shared_credentials,
)
from tests.janus.support import connect, eventually, next_of, veth_pair

pytestmark = pytest.mark.skipif(not Path("/usr/bin/janus").exists(), reason="Janus missing")

FAILOVER_BUDGET_S = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _up(pool: SfuPool, count: int) -> None:
    await eventually(lambda: sum(s.up for s in pool.nodes()) == count, 10, f"{count} nodes up")


async def _moved(
    events: PoolEventStream[object], room_id: str, timeout: float, seen: list[object] | None = None
) -> RoomMoved:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await events.next(max(0.01, deadline - loop.time()))
        if seen is not None:
            seen.append(event)
        if isinstance(event, RoomMoved) and event.room_id == room_id:
            return event


def _kill(process: JanusProcess) -> None:
    pid = process.supervisor.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


@pytest.mark.anyio
async def test_rooms_spread_by_load_and_stay_where_they_are(tmp_path: Path) -> None:
    credentials = shared_credentials()
    async with (
        janus_nodes(tmp_path, credentials, 2) as nodes,
        make_pool(credentials, nodes) as pool,
    ):
        await _up(pool, 2)
        first = await pool.create_room(RoomSpec("r1", max_publishers=4))
        second = await pool.create_room(RoomSpec("r2", max_publishers=4))
        assert {first.node_id, second.node_id} == {"node-0", "node-1"}
        # Affinity: asking again, or asking many times at once, gives the same room.
        again = await asyncio.gather(
            *(pool.ensure_room(RoomSpec("r1", max_publishers=4)) for _ in range(5))
        )
        assert set(again) == {first}
        assert pool.where("r1") == first
        third = await pool.ensure_room(RoomSpec("r3", max_publishers=4))
        grant = await pool.allow_publisher(third, "alice")
        assert grant.room == third
        health = await pool.health()
        assert health.rooms == 3
        # A room handle naming another node than the room's is refused, not rerouted.
        other = "node-1" if first.node_id == "node-0" else "node-0"
        with pytest.raises(SfuRoomNotFound):
            await pool.participants(SfuRoom(other, "r1"))
        await pool.destroy_room(first)
        assert pool.where("r1") is None
        await pool.destroy_room(first)  # idempotent


@pytest.mark.anyio
async def test_a_draining_node_keeps_its_rooms_and_takes_no_new_ones(tmp_path: Path) -> None:
    credentials = shared_credentials()
    async with (
        janus_nodes(tmp_path, credentials, 2) as nodes,
        make_pool(credentials, nodes) as pool,
    ):
        await _up(pool, 2)
        kept = await pool.create_room(RoomSpec("kept", max_publishers=2))
        pool.drain(kept.node_id)
        rooms = [await pool.create_room(RoomSpec(f"new-{i}", max_publishers=2)) for i in range(3)]
        assert {room.node_id for room in rooms} == {
            "node-1" if kept.node_id == "node-0" else "node-0"
        }
        assert pool.where("kept") == kept
        assert (await pool.participants(kept)) == ()
        pool.undrain(kept.node_id)
        assert (await pool.create_room(RoomSpec("after", max_publishers=2))).node_id == kept.node_id


@pytest.mark.anyio
async def test_a_killed_node_s_rooms_move_to_another_within_10_s(tmp_path: Path) -> None:
    credentials = shared_credentials()
    # max_failures=0: the killed node stays dead, as a lost machine would.
    async with (
        janus_nodes(tmp_path, credentials, 2, max_failures=0) as nodes,
        make_pool(credentials, nodes) as pool,
    ):
        await _up(pool, 2)
        events = pool.listen()
        room = await pool.create_room(RoomSpec("moving", max_publishers=4))
        await pool.allow_publisher(room, "alice")
        victim = next(n for n in nodes if n.node.node_id == room.node_id)
        killed_at = time.monotonic()
        _kill(victim)
        seen: list[object] = []
        moved = await _moved(events, "moving", FAILOVER_BUDGET_S, seen)
        took = time.monotonic() - killed_at
        assert NodeDown(victim.node, 1) in seen
        assert moved.from_node == room.node_id
        assert moved.to_node != room.node_id
        assert took < FAILOVER_BUDGET_S
        assert pool.where("moving") == moved.room
        # The new room works; the old handle names a room that is not there any more.
        assert (await pool.participants(moved.room)) == ()
        await pool.allow_publisher(moved.room, "alice")
        with pytest.raises(SfuRoomNotFound):
            await pool.allow_publisher(room, "bob")
        down = [s.node.node_id for s in pool.nodes() if not s.up]
        assert down == [room.node_id]
        # New rooms go to the node that is left.
        assert (await pool.create_room(RoomSpec("next", max_publishers=4))).node_id == (
            moved.to_node
        )


@pytest.mark.anyio
async def test_the_only_node_restarting_gets_its_rooms_back(tmp_path: Path) -> None:
    credentials = shared_credentials()
    async with (
        janus_nodes(tmp_path, credentials, 1) as nodes,
        make_pool(credentials, nodes) as pool,
    ):
        await _up(pool, 1)
        events = pool.listen()
        room = await pool.create_room(RoomSpec("back", max_publishers=4))
        _kill(nodes[0])
        moved = await _moved(events, "back", FAILOVER_BUDGET_S)
        assert moved == RoomMoved("back", "node-0", "node-0")
        assert nodes[0].supervisor.restarts == 1
        assert (await pool.participants(room)) == ()  # the same SfuRoom again


@pytest.mark.anyio
async def test_a_frozen_node_is_lost_by_health_checks_and_cleaned_when_back(
    tmp_path: Path,
) -> None:
    credentials = shared_credentials()
    async with (
        janus_nodes(tmp_path, credentials, 2) as nodes,
        make_pool(credentials, nodes) as pool,
    ):
        await _up(pool, 2)
        events = pool.listen()
        room = await pool.create_room(RoomSpec("frozen", max_publishers=4))
        victim = next(n for n in nodes if n.node.node_id == room.node_id)
        pid = victim.supervisor.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # unreachable, not dead: its session and room survive
        try:
            moved = await _moved(events, "frozen", FAILOVER_BUDGET_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert moved.from_node == room.node_id
        # Back: the pool reconnects and destroys the room it moved away from there.
        up = await next_of(events, NodeUp, timeout=15)  # type: ignore[arg-type]
        assert up.node == victim.node
        direct = await connect(victim)
        try:
            await eventually(
                lambda: _gone(direct, room), 10, "the stale room to be destroyed on the old node"
            )
        finally:
            await direct.close()
        assert pool.where("frozen") == moved.room


async def _gone(backend: object, room: SfuRoom) -> bool:
    try:
        await backend.participants(room)  # type: ignore[attr-defined]
    except SfuRoomNotFound:
        return True
    return False


@pytest.mark.anyio
async def test_without_nodes_up_calls_say_unavailable(tmp_path: Path) -> None:
    credentials = shared_credentials()
    async with janus_nodes(tmp_path, credentials, 1) as nodes:
        pool = make_pool(credentials, nodes)
        with pytest.raises(SfuUnavailable):  # not started
            await pool.create_room(RoomSpec("early", max_publishers=2))
        with pytest.raises(SfuUnavailable):
            await pool.health()
        await pool.start(wait=10)
        try:
            assert (await pool.health()).rooms == 0
        finally:
            await pool.close()


# --- failover with media, in a network namespace of the test's own --------------------------


def test_after_failover_a_publisher_publishes_again_on_the_other_node(tmp_path: Path) -> None:
    run_in_private_network(lambda: _failover_with_media(tmp_path))


async def _failover_with_media(tmp_path: Path) -> None:
    credentials = shared_credentials()
    with veth_pair() as veth:
        async with (
            janus_nodes(
                tmp_path, credentials, 2, media_address=veth.janus_address, max_failures=0
            ) as nodes,
            make_pool(credentials, nodes) as pool,
        ):
            await _up(pool, 2)
            await _publish_kill_publish(pool, nodes)


async def _publish_kill_publish(pool: SfuPool, nodes: list[JanusProcess]) -> None:
    events = pool.listen()
    room = await pool.create_room(RoomSpec("group-failover", max_publishers=4))
    publisher = await peers.publish(pool, await pool.allow_publisher(room, "alice"))  # type: ignore[arg-type]
    second = subscriber = None
    try:
        await next_of(events, FeedsPublished, timeout=20)  # type: ignore[arg-type]
        victim = next(n for n in nodes if n.node.node_id == room.node_id)
        survivor = next(n for n in nodes if n is not victim)
        killed_at = time.monotonic()
        _kill(victim)
        moved = await _moved(events, room.room_id, FAILOVER_BUDGET_S)
        assert time.monotonic() - killed_at < FAILOVER_BUDGET_S
        assert moved.to_node == survivor.node.node_id
        await publisher.close()

        # The client rejoins: a new grant, a new publication, on the survivor.
        grant = await pool.allow_publisher(moved.room, "alice")
        second = await peers.publish(pool, grant)  # type: ignore[arg-type]
        seen: dict[type, object] = {}
        while len(seen) < 2:
            event = await events.next(20)
            if isinstance(event, PeerConnectionUp | FeedsPublished):
                seen[type(event)] = event
        assert seen[PeerConnectionUp].handle.room == moved.room  # type: ignore[attr-defined]
        assert seen[FeedsPublished].room == moved.room  # type: ignore[attr-defined]
        subscriber = await peers.subscribe(pool, moved.room, "bob", "alice")  # type: ignore[arg-type]
        await eventually(
            lambda: len(subscriber.video_frames) >= 10, 30, "bob to decode alice's video again"
        )
        survivor_cert = peers.fingerprint_of(survivor.config.cert_pem.read_bytes())
        assert peers.remote_dtls_fingerprints(second.pc) == {survivor_cert}
        assert peers.remote_dtls_fingerprints(subscriber.pc) == {survivor_cert}
    finally:
        for peer in (subscriber, second, publisher):
            if peer is not None:
                await peer.close()
