"""Draining SFU nodes: the decisions (``plan``, ``Placement.evacuate``), the pool carrying out
an evacuation (fake nodes), the ``sfu_nodes`` table on both engines, the server-side sync
over a real pool and database, and the ``salon sfu`` commands.

A real ``salon serve`` with real Janus nodes obeying ``salon sfu drain`` is in
test_drain_serve.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from salon.clock import FakeClock
from salon.errors import NotFound
from salon.janus.placement import Move, NodeStatus, Placement, RoomState
from salon.janus.pool import RoomMoved, SfuPool
from salon.media.sfu import RoomSpec, SfuNode, SfuRoom
from salon.services.container import Services, build_services
from salon.services.sfu_nodes import (
    FORGET_AFTER,
    ActionKind,
    Asked,
    NodeAction,
    SfuNodes,
    SfuNodeSync,
    plan,
)
from tests.conftest import make_settings
from tests.janus.support import eventually
from tests.janus.test_pool_shell import FakeBackend, FakeNode
from tests.support.process import salon

A = SfuNode("a", "ws://10.0.0.1:8188", "eu")
B = SfuNode("b", "ws://10.0.0.2:8188", "eu")
C = SfuNode("c", "ws://10.0.0.3:8188", "eu")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- plan: what a pool does for the operator's asks (pure) -----------------------------------


def _status(node: SfuNode, *, draining: bool = False, up: bool = True) -> NodeStatus:
    return NodeStatus(node, up, draining, rooms=0, participants=0, load=0)


def test_plan_drains_and_undrains_to_match_the_asks() -> None:
    nodes = [_status(A), _status(B, draining=True), _status(C, draining=True)]
    asked = {"a": Asked(True, 0), "b": Asked(False, 0)}  # nobody asked about c
    actions, seen = plan(nodes, asked, {})
    assert actions == (
        NodeAction(ActionKind.DRAIN, "a"),
        NodeAction(ActionKind.UNDRAIN, "b"),
        NodeAction(ActionKind.UNDRAIN, "c"),
    )
    assert seen == {"a": 0, "b": 0, "c": 0}
    # Done: nothing more to do.
    done = [_status(A, draining=True), _status(B), _status(C)]
    assert plan(done, asked, seen) == ((), seen)


def test_plan_moves_rooms_once_per_request_made_after_it_first_saw_the_node() -> None:
    nodes = [_status(A, draining=True), _status(B)]
    # Requests made before this pool started are done (a new server has no rooms to move).
    actions, seen = plan(nodes, {"a": Asked(True, 3)}, {})
    assert actions == ()
    actions, seen = plan(nodes, {"a": Asked(True, 4)}, seen)
    assert actions == (NodeAction(ActionKind.EVACUATE, "a"),)
    assert plan(nodes, {"a": Asked(True, 4)}, seen)[0] == ()
    # An evacuation drains: it is the action for a node not draining yet.
    actions, _ = plan([_status(A), _status(B)], {"a": Asked(True, 5)}, seen)
    assert actions == (NodeAction(ActionKind.EVACUATE, "a"),)
    # A request for a node that is not to drain moves nothing.
    actions, _ = plan(nodes, {"a": Asked(False, 5)}, seen)
    assert actions == (NodeAction(ActionKind.UNDRAIN, "a"),)


# --- Placement.evacuate (pure) ---------------------------------------------------------------


def _placement(*nodes: SfuNode) -> Placement:
    placement = Placement(nodes)
    for node in nodes:
        placement.node_up(node.node_id)
    return placement


def _place(placement: Placement, room_id: str) -> str:
    node_id = placement.place(room_id)
    placement.placed(room_id)
    return node_id


def test_evacuating_a_node_drains_it_and_moves_its_rooms_to_the_least_loaded() -> None:
    placement = _placement(A, B, C)
    assert [_place(placement, f"r{i}") for i in range(4)] == ["a", "b", "c", "a"]
    placement.report_load("b", rooms=1, participants=9)
    moves = placement.evacuate("a")
    # Each move counts before the next is chosen: they spread, the busy node last.
    assert moves == (Move("r0", "a", "c"), Move("r3", "a", "c"))
    assert placement.node("a").draining
    assert {p.room_id: (p.state, p.node_id) for p in placement.rooms()} == {
        "r0": (RoomState.MOVING, "c"),
        "r1": (RoomState.PLACED, "b"),
        "r2": (RoomState.PLACED, "c"),
        "r3": (RoomState.MOVING, "c"),
    }
    assert placement.moved("r0", "c") and placement.moved("r3", "c")
    assert placement.node("a").rooms == 0
    # Draining: new rooms go elsewhere.
    assert _place(placement, "r4") != "a"


def test_rooms_no_other_node_can_take_stay_on_the_evacuated_node() -> None:
    placement = _placement(A, B)
    assert _place(placement, "r1") == "a"
    placement.drain("b")
    assert placement.evacuate("a") == ()
    assert placement.where("r1").state is RoomState.PLACED  # type: ignore[union-attr]
    assert placement.where("r1").node_id == "a"  # type: ignore[union-attr]


def test_an_evacuated_room_whose_moves_fail_goes_back_to_its_node() -> None:
    placement = _placement(A, B, C)
    assert _place(placement, "r1") == "a"
    (move,) = placement.evacuate("a")
    assert move.to_node == "b"
    assert placement.move_failed("r1", "b") == Move("r1", "a", "c")
    assert placement.move_failed("r1", "c") is None
    back = placement.where("r1")
    assert back is not None and (back.state, back.node_id) == (RoomState.PLACED, "a")
    assert placement.node("a").rooms == 1  # it counts there again
    # The target lost while the room moves there: back home too.
    (move,) = placement.evacuate("a")
    placement.drain("c")
    assert placement.node_lost(move.to_node) == ()
    back = placement.where("r1")
    assert back is not None and (back.state, back.node_id) == (RoomState.PLACED, "a")


def test_an_evacuated_room_whose_node_died_meanwhile_is_stranded_not_sent_back() -> None:
    placement = _placement(A, B)
    assert _place(placement, "r1") == "a"
    placement.evacuate("a")
    assert placement.node_lost("a") == ()  # its old room went with it; the move goes on
    placement.node_up("a")  # restarted, empty
    assert placement.move_failed("r1", "b") is None
    stranded = placement.where("r1")
    assert stranded is not None and stranded.state is RoomState.STRANDED


# --- SfuPool.evacuate, with fake nodes --------------------------------------------------------


@pytest.fixture
def fakes() -> dict[str, FakeNode]:
    return {name: FakeNode(SfuNode(name, f"fake://{name}", "eu")) for name in ("a", "b")}


def _pool(fakes: dict[str, FakeNode]) -> SfuPool:
    async def connect(node: SfuNode) -> FakeBackend:
        backend = FakeBackend(fakes[node.node_id])
        fakes[node.node_id].backends.append(backend)
        return backend

    return SfuPool(
        connect,  # type: ignore[arg-type]
        [fake.node for fake in fakes.values()],
        health_interval=0.05,
        reconnect_initial=0.01,
        reconnect_max=0.05,
    )


async def _moved(events: object, room_id: str) -> RoomMoved:
    async with asyncio.timeout(5):
        async for event in events:  # type: ignore[attr-defined]
            if isinstance(event, RoomMoved) and event.room_id == room_id:
                return event
    raise AssertionError("the stream ended")


@pytest.mark.anyio
async def test_evacuating_moves_the_rooms_and_destroys_what_they_left(
    fakes: dict[str, FakeNode],
) -> None:
    async with _pool(fakes) as pool:
        await eventually(lambda: all(s.up for s in pool.nodes()), 5, "both nodes up")
        events = pool.listen()
        first = await pool.create_room(RoomSpec("r1", max_publishers=2))
        second = await pool.create_room(RoomSpec("r2", max_publishers=2))
        assert (first.node_id, second.node_id) == ("a", "b")
        assert pool.evacuate("a") == 1
        assert await _moved(events, "r1") == RoomMoved("r1", "a", "b")
        assert pool.where("r1") == SfuRoom("b", "r1")
        await eventually(lambda: fakes["a"].rooms == set(), 5, "r1 destroyed on a")
        assert fakes["b"].rooms == {"r1", "r2"}
        assert [s.draining for s in pool.nodes()] == [True, False]
        # New rooms avoid it; undrained, it takes them again.
        assert (await pool.create_room(RoomSpec("r3", max_publishers=2))).node_id == "b"
        pool.undrain("a")
        assert (await pool.create_room(RoomSpec("r4", max_publishers=2))).node_id == "a"


@pytest.mark.anyio
async def test_a_room_that_cannot_move_stays_where_it_works(fakes: dict[str, FakeNode]) -> None:
    async with _pool(fakes) as pool:
        await eventually(lambda: all(s.up for s in pool.nodes()), 5, "both nodes up")
        room = await pool.create_room(RoomSpec("r1", max_publishers=2))
        assert room.node_id == "a"
        fakes["b"].gate = asyncio.Event()
        assert pool.evacuate("a") == 1
        # Callers wait while it moves, and get it where it stays.
        waiting = asyncio.create_task(pool.ensure_room(RoomSpec("r1", max_publishers=2)))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        fakes["b"].rooms.add("r1")  # b refuses: ROOM_EXISTS for a room that is not Salon's
        fakes["b"].gate.set()
        assert await waiting == room
        assert pool.where("r1") == room
        assert fakes["a"].rooms == {"r1"}
        assert (await pool.allow_publisher(room, "alice")).room == room


# --- the sfu_nodes table, on both engines -----------------------------------------------------


@pytest.fixture
def external(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Services]:
    (tmp_path / "api.secret").write_text("s" * 32)
    (tmp_path / "admin.key").write_text("k" * 32)
    settings = make_settings(
        tmp_path,
        database_url,
        janus_mode="external",
        janus_nodes="eu=ws://10.0.0.1:8188,us=ws://10.0.0.2:8188",
        janus_api_secret_file=str(tmp_path / "api.secret"),
        janus_admin_key_file=str(tmp_path / "admin.key"),
        turn_mode="off",
    )
    services = build_services(settings, clock)
    yield services
    services.close()


def _statuses(*, a_rooms: int = 0, draining: bool = False) -> list[NodeStatus]:
    eu = SfuNode("10.0.0.1:8188", "ws://10.0.0.1:8188", "eu")
    us = SfuNode("10.0.0.2:8188", "ws://10.0.0.2:8188", "us")
    return [
        NodeStatus(eu, True, draining, rooms=a_rooms, participants=3 * a_rooms, load=0),
        NodeStatus(us, False, False, rooms=0, participants=0, load=0),
    ]


def test_the_table_keeps_asks_and_reports_apart(external: Services, clock: FakeClock) -> None:
    nodes = external.sfu_nodes
    assert nodes.configured() == {"10.0.0.1:8188": "eu", "10.0.0.2:8188": "us"}
    # Before anything is stored: the configured nodes, not draining, never reported.
    assert [(r.node_id, r.region, r.draining, r.report) for r in nodes.all()] == [
        ("10.0.0.1:8188", "eu", False, None),
        ("10.0.0.2:8188", "us", False, None),
    ]
    asked = nodes.set_draining("10.0.0.1:8188", True, move=True)
    assert (asked.draining, asked.moves_requested, asked.changed_at) == (True, 1, clock.now())
    assert nodes.asked() == {"10.0.0.1:8188": Asked(True, 1)}
    clock.advance(1)
    nodes.report(_statuses(a_rooms=2))
    first, second = nodes.all()
    assert first.draining and first.moves_requested == 1  # a report never touches the asks
    assert first.report is not None and second.report is not None
    assert (first.report.up, first.report.draining, first.report.rooms) == (True, False, 2)
    assert first.report.participants == 6 and first.report.reported_at == clock.now()
    assert (second.report.up, second.region) == (False, "us")
    nodes.set_draining("10.0.0.1:8188", True, move=True)
    nodes.report(_statuses(draining=True))
    assert nodes.asked()["10.0.0.1:8188"] == Asked(True, 2)
    assert nodes.all()[0].report.draining  # type: ignore[union-attr]
    nodes.set_draining("10.0.0.1:8188", False)
    assert nodes.asked()["10.0.0.1:8188"] == Asked(False, 2)


def test_unknown_nodes_are_refused_and_reported_ones_known(external: Services) -> None:
    nodes = external.sfu_nodes
    with pytest.raises(NotFound, match=r"No SFU node '10.0.0.9:8188'. The nodes are: 10.0.0.1"):
        nodes.set_draining("10.0.0.9:8188", True)
    with pytest.raises(ValueError):
        nodes.set_draining("10.0.0.1:8188", False, move=True)
    # A node another server reported (its settings differ) is known too.
    other = SfuNode("10.0.0.9:8188", "ws://10.0.0.9:8188", "ap")
    nodes.report([NodeStatus(other, True, False, rooms=1, participants=1, load=2)])
    assert nodes.set_draining("10.0.0.9:8188", True).region == "ap"
    assert [r.node_id for r in nodes.all()] == ["10.0.0.1:8188", "10.0.0.2:8188", "10.0.0.9:8188"]


def test_nodes_nobody_reports_for_a_week_are_forgotten(
    external: Services, clock: FakeClock
) -> None:
    nodes = external.sfu_nodes
    gone = SfuNode("10.0.0.9:8188", "ws://10.0.0.9:8188", "ap")
    nodes.report([NodeStatus(gone, True, False, rooms=0, participants=0, load=0)])
    nodes.set_draining("10.0.0.2:8188", True)  # asked, never reported
    # A pool with the first node only reports from now on.
    clock.advance(FORGET_AFTER - timedelta(seconds=1))
    nodes.report(_statuses()[:1])
    assert set(nodes.asked()) == {"10.0.0.1:8188", "10.0.0.2:8188", "10.0.0.9:8188"}
    clock.advance(2)
    nodes.report(_statuses()[:1])
    assert set(nodes.asked()) == {"10.0.0.1:8188"}
    # Configured nodes are still listed, as never reported.
    assert [r.node_id for r in nodes.all()] == ["10.0.0.1:8188", "10.0.0.2:8188"]


def test_without_janus_draining_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    services = build_services(make_settings(tmp_path, janus_mode="off", turn_mode="off"), clock)
    try:
        assert services.sfu_nodes.all() == ()
        with pytest.raises(NotFound, match=r"Janus is off .* draining changes nothing"):
            services.sfu_nodes.set_draining("local", True)
    finally:
        services.close()


def test_the_embedded_node_is_local(tmp_path: Path, clock: FakeClock) -> None:
    services = build_services(make_settings(tmp_path, turn_mode="off"), clock)
    try:
        assert services.sfu_nodes.configured() == {"local": "local"}
        assert services.sfu_nodes.set_draining("local", True).draining
    finally:
        services.close()


# --- the server's sync: a real pool (fake nodes) and a real database ------------------------


@pytest.mark.anyio
async def test_the_sync_applies_asks_to_the_pool_and_reports_it(
    tmp_path: Path, fakes: dict[str, FakeNode], clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, janus_mode="off", turn_mode="off")
    services = build_services(settings, clock)
    operator = SfuNodes(services.db, clock, settings.janus)  # another process, same database
    try:
        async with _pool(fakes) as pool:
            await eventually(lambda: all(s.up for s in pool.nodes()), 5, "both nodes up")
            sync = SfuNodeSync(services.sfu_nodes, pool, interval=0.05)
            await sync.sync()
            assert [(r.node_id, r.report.up) for r in operator.all()] == [  # type: ignore[union-attr]
                ("a", True),
                ("b", True),
            ]
            room = await pool.create_room(RoomSpec("r1", max_publishers=2))
            assert room.node_id == "a"
            operator.set_draining("a", True)
            await sync.sync()
            assert [s.draining for s in pool.nodes()] == [True, False]
            assert operator.all()[0].report.draining  # type: ignore[union-attr]
            assert (await pool.create_room(RoomSpec("r2", max_publishers=2))).node_id == "b"
            assert pool.where("r1") == room  # draining alone moves nothing

            # --move, picked up by the running loop.
            events = pool.listen()
            running = asyncio.create_task(sync.run())
            try:
                operator.set_draining("a", True, move=True)
                assert await _moved(events, "r1") == RoomMoved("r1", "a", "b")
                await eventually(lambda: fakes["a"].rooms == set(), 5, "a to be empty")
                operator.set_draining("a", False)
                await eventually(lambda: not pool.nodes()[0].draining, 5, "a to take rooms again")
            finally:
                running.cancel()
            assert (await pool.create_room(RoomSpec("r3", max_publishers=2))).node_id == "a"
    finally:
        services.close()


# --- the commands -----------------------------------------------------------------------------


def test_sfu_commands_say_what_they_do_and_refuse_what_makes_no_sense(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "api.secret").write_text("s" * 32)
    (tmp_path / "admin.key").write_text("k" * 32)
    env = {
        "SALON_JANUS_MODE": "external",
        "SALON_JANUS_NODES": "eu=ws://10.0.0.1:8188,us=ws://10.0.0.2:8188",
        "SALON_JANUS_API_SECRET_FILE": str(tmp_path / "api.secret"),
        "SALON_JANUS_ADMIN_KEY_FILE": str(tmp_path / "admin.key"),
        "SALON_TURN_MODE": "off",
    }
    listed = salon(data, "sfu", "nodes", env=env).stdout
    lines = listed.splitlines()
    assert lines[0].split() == [
        "NODE",
        "REGION",
        "STATUS",
        "DRAINING",
        "ROOMS",
        "PARTICIPANTS",
        "REPORTED",
    ]
    assert lines[1].split() == ["10.0.0.1:8188", "eu", "unknown", "no", "-", "-", "never"]
    assert "no running server's pool" in listed

    drained = salon(data, "sfu", "drain", "10.0.0.1:8188", env=env)
    assert "SFU node 10.0.0.1:8188 is draining" in drained.stdout
    assert "no running Salon has reported this node" in drained.stderr
    assert "no other node" not in drained.stderr
    row = salon(data, "sfu", "nodes", env=env).stdout.splitlines()[1].split()
    assert row[:5] == ["10.0.0.1:8188", "eu", "unknown", "yes", "(pending)"]
    last = salon(data, "sfu", "drain", "10.0.0.2:8188", "--move", env=env)
    assert "its rooms move to other nodes now" in last.stdout
    assert "no other node takes rooms" in last.stderr
    assert (
        "takes new rooms again"
        in salon(data, "sfu", "drain", "10.0.0.1:8188", "--undrain", env=env).stdout
    )

    unknown = salon(data, "sfu", "drain", "10.0.0.3:8188", env=env, check=False)
    assert unknown.returncode == 1
    assert "No SFU node '10.0.0.3:8188'. The nodes are: 10.0.0.1:8188, 10.0.0.2:8188" in (
        unknown.stderr
    )
    both = salon(data, "sfu", "drain", "10.0.0.1:8188", "--move", "--undrain", env=env, check=False)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    missing = salon(data, "sfu", "drain", env=env, check=False)
    assert missing.returncode == 2 and "node" in missing.stderr

    off = {"SALON_JANUS_MODE": "off", "SALON_TURN_MODE": "off"}
    nothing = salon(tmp_path / "other", "sfu", "drain", "local", env=off, check=False)
    assert nothing.returncode == 1 and "draining changes nothing" in nothing.stderr
    assert "No SFU nodes: Janus is off" in salon(tmp_path / "other", "sfu", "nodes", env=off).stdout
