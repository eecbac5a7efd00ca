"""``SfuPool``'s shell with fake nodes: the races real Janus nodes make hard to time.

The fakes keep rooms the way a Janus process does (they survive a lost session, not a
restart); gates hold a node's ``create_room`` open so a test can act while it is in flight.
The same behaviours on real nodes are in test_pool.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from salon.errors import SfuRefusal, SfuRefused, SfuRoomNotFound, SfuUnavailable
from salon.janus.pool import NodeDown, PoolEvent, RoomMoved, RoomStranded, SfuPool
from salon.media.events import EventHub, SfuEventStream
from salon.media.sfu import (
    NodeHealth,
    NodeLost,
    PublishGrant,
    RoomSpec,
    SfuNode,
    SfuParticipant,
    SfuRoom,
)
from tests.janus.support import eventually

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeNode:
    node: SfuNode
    rooms: set[str] = field(default_factory=set)
    alive: bool = True
    healthy: bool = True
    gate: asyncio.Event | None = None
    backends: list[FakeBackend] = field(default_factory=list)

    def crash(self) -> None:
        """Dies: rooms gone, the session lost."""
        self.alive = False
        self.rooms.clear()
        for backend in self.backends:
            backend.lose()

    def restart(self) -> None:
        self.alive = True


class FakeBackend:
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake
        self.hub = EventHub()

    @property
    def node(self) -> SfuNode:
        return self.fake.node

    def _check(self) -> None:
        if not self.fake.alive or not self.fake.healthy:
            raise SfuUnavailable(detail="fake node down")

    async def create_room(self, spec: RoomSpec) -> SfuRoom:
        if self.fake.gate is not None:
            await self.fake.gate.wait()
        self._check()
        if spec.room_id in self.fake.rooms:
            raise SfuRefused(SfuRefusal.ROOM_EXISTS)
        self.fake.rooms.add(spec.room_id)
        return SfuRoom(self.fake.node.node_id, spec.room_id)

    async def destroy_room(self, room: SfuRoom) -> None:
        self._check()
        self.fake.rooms.discard(room.room_id)

    async def participants(self, room: SfuRoom) -> tuple[SfuParticipant, ...]:
        self._check()
        if room.room_id not in self.fake.rooms:
            raise SfuRoomNotFound()
        return ()

    async def allow_publisher(self, room: SfuRoom, participant_id: str) -> PublishGrant:
        await self.participants(room)
        return PublishGrant(room, participant_id, "token")

    def events(self) -> SfuEventStream:
        return self.hub.listen()

    async def health(self) -> NodeHealth:
        self._check()
        return NodeHealth(self.fake.node, "fake", len(self.fake.rooms), 0)

    def lose(self) -> None:
        self.hub.emit(NodeLost(self.fake.node.node_id))
        self.hub.close()

    async def close(self) -> None:
        self.hub.close()


@pytest.fixture
def fakes() -> dict[str, FakeNode]:
    return {name: FakeNode(SfuNode(name, f"fake://{name}", "eu")) for name in ("a", "b")}


def _pool(fakes: dict[str, FakeNode], *names: str) -> SfuPool:
    async def connect(node: SfuNode) -> FakeBackend:
        fake = fakes[node.node_id]
        if not fake.alive:
            raise SfuUnavailable(detail="connection refused")
        backend = FakeBackend(fake)
        fake.backends.append(backend)
        return backend

    return SfuPool(
        connect,  # type: ignore[arg-type]
        [fakes[name].node for name in names or tuple(fakes)],
        health_interval=0.05,
        health_failures=2,
        reconnect_initial=0.01,
        reconnect_max=0.05,
    )


async def _started(pool: SfuPool, up: int) -> SfuPool:
    await pool.start()
    await eventually(lambda: sum(s.up for s in pool.nodes()) == up, 5, f"{up} nodes up")
    return pool


async def _next(events: AsyncIterator[PoolEvent], kind: type, timeout: float = 5.0) -> PoolEvent:
    async with asyncio.timeout(timeout):
        async for event in events:
            if isinstance(event, kind):
                return event
    raise AssertionError("the stream ended")


async def test_a_crashed_node_s_rooms_move_and_old_handles_are_refused(
    fakes: dict[str, FakeNode],
) -> None:
    async with _pool(fakes) as pool:
        await _started(pool, 2)
        events = pool.listen()
        room = await pool.create_room(RoomSpec("r1", max_publishers=2))
        assert room.node_id == "a"
        fakes["a"].crash()
        down = await _next(events, NodeDown)
        assert down == NodeDown(fakes["a"].node, 1)
        moved = await _next(events, RoomMoved)
        assert moved == RoomMoved("r1", "a", "b")
        assert fakes["b"].rooms == {"r1"}
        with pytest.raises(SfuRoomNotFound):
            await pool.allow_publisher(room, "alice")
        assert (await pool.allow_publisher(moved.room, "alice")).room == moved.room


async def test_a_node_failing_health_checks_is_lost_and_cleaned_when_back(
    fakes: dict[str, FakeNode],
) -> None:
    async with _pool(fakes) as pool:
        await _started(pool, 2)
        events = pool.listen()
        await pool.create_room(RoomSpec("r1", max_publishers=2))
        fakes["a"].healthy = False  # unreachable: its room survives on it
        assert await _next(events, RoomMoved) == RoomMoved("r1", "a", "b")
        assert fakes["a"].rooms == {"r1"}
        fakes["a"].healthy = True
        await eventually(lambda: not fakes["a"].rooms, 5, "the stale room to be destroyed on a")
        assert pool.where("r1") == SfuRoom("b", "r1")


async def test_the_only_node_down_strands_its_rooms_until_it_is_back(
    fakes: dict[str, FakeNode],
) -> None:
    async with _pool(fakes, "a") as pool:
        await _started(pool, 1)
        events = pool.listen()
        await pool.create_room(RoomSpec("r1", max_publishers=2))
        fakes["a"].crash()
        assert await _next(events, RoomStranded) == RoomStranded("r1", "a")
        with pytest.raises(SfuUnavailable):
            await pool.ensure_room(RoomSpec("r1", max_publishers=2))
        fakes["a"].restart()
        assert await _next(events, RoomMoved) == RoomMoved("r1", "a", "a")
        assert await pool.ensure_room(RoomSpec("r1", max_publishers=2)) == SfuRoom("a", "r1")


async def test_a_room_destroyed_while_it_moves_is_not_made_again(
    fakes: dict[str, FakeNode],
) -> None:
    async with _pool(fakes) as pool:
        await _started(pool, 2)
        events = pool.listen()
        room = await pool.create_room(RoomSpec("r1", max_publishers=2))
        fakes["b"].gate = asyncio.Event()
        fakes["a"].crash()
        await _next(events, NodeDown)
        await pool.destroy_room(room)
        fakes["b"].gate.set()
        await eventually(lambda: not pool._background, 5, "the move to finish")
        assert fakes["b"].rooms == set()
        assert pool.where("r1") is None


async def test_a_room_destroyed_while_it_is_made_is_undone(fakes: dict[str, FakeNode]) -> None:
    async with _pool(fakes, "a") as pool:
        await _started(pool, 1)
        fakes["a"].gate = asyncio.Event()
        creating = asyncio.create_task(pool.create_room(RoomSpec("r1", max_publishers=2)))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(pool.ensure_room(RoomSpec("r1", max_publishers=2)))
        await asyncio.sleep(0.05)
        await pool.destroy_room(SfuRoom("a", "r1"))
        fakes["a"].gate.set()
        with pytest.raises(SfuRoomNotFound):
            await creating
        with pytest.raises(SfuRoomNotFound):
            await waiting
        assert fakes["a"].rooms == set()
        # The room can be made again.
        assert await pool.ensure_room(RoomSpec("r1", max_publishers=2)) == SfuRoom("a", "r1")


async def test_concurrent_ensure_room_makes_one_room(fakes: dict[str, FakeNode]) -> None:
    async with _pool(fakes) as pool:
        await _started(pool, 2)
        fakes["a"].gate = asyncio.Event()
        calls = [pool.ensure_room(RoomSpec("r1", max_publishers=2)) for _ in range(5)]
        tasks = [asyncio.create_task(call) for call in calls]
        await asyncio.sleep(0.05)
        fakes["a"].gate.set()
        assert set(await asyncio.gather(*tasks)) == {SfuRoom("a", "r1")}
        with pytest.raises(SfuRefused):
            await pool.create_room(RoomSpec("r1", max_publishers=2))


async def test_closing_the_pool_ends_its_streams(fakes: dict[str, FakeNode]) -> None:
    pool = await _started(_pool(fakes), 2)
    events = pool.events()
    await pool.close()
    assert [event async for event in events] == []
    assert all(backend.hub._closed for fake in fakes.values() for backend in fake.backends)
