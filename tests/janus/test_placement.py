"""Room placement decisions, driven with made-up node states: no Janus, no event loop."""

from __future__ import annotations

import pytest

from salon.errors import SfuUnavailable
from salon.janus.placement import IllegalPlacement, Move, Placement, RoomState
from salon.media.sfu import SfuNode

A = SfuNode("a", "ws://10.0.0.1:8188", "eu")
B = SfuNode("b", "ws://10.0.0.2:8188", "eu")
C = SfuNode("c", "ws://10.0.1.1:8188", "us")


def pool(*nodes: SfuNode, up: bool = True) -> Placement:
    placement = Placement(nodes or (A, B, C))
    if up:
        for node in nodes or (A, B, C):
            assert placement.node_up(node.node_id) == ()
    return placement


def place(placement: Placement, room_id: str, region: str | None = None) -> str:
    node_id = placement.place(room_id, region)
    placement.placed(room_id)
    return node_id


def test_a_new_room_goes_to_the_least_loaded_node_of_the_home_region():
    placement = pool()
    placement.report_load("a", rooms=3, participants=40)
    placement.report_load("b", rooms=2, participants=10)
    placement.report_load("c", rooms=0, participants=0)  # emptier, but in another region
    assert place(placement, "r1") == "b"


def test_ties_go_to_the_node_listed_first():
    assert place(pool(), "r1") == "a"


def test_rooms_placed_since_the_last_report_count_so_a_burst_spreads():
    placement = pool(A, B)
    assert [place(placement, f"r{i}") for i in range(4)] == ["a", "b", "a", "b"]
    # A report replaces the estimate with what the node says.
    placement.report_load("a", rooms=2, participants=30)
    placement.report_load("b", rooms=2, participants=2)
    assert place(placement, "r4") == "b"


def test_a_room_asks_for_its_region_and_falls_back_to_any():
    placement = pool()
    assert place(placement, "r1", region="us") == "c"
    # Its region lost, a room goes to another region rather than nowhere.
    assert placement.node_lost("c") == (Move("r1", "c", "a"),)
    assert place(placement, "r2", region="us") == "b"
    assert place(placement, "r3", region="mars") == "a"


def test_affinity_a_placed_room_stays_on_its_node():
    placement = pool(A, B)
    assert place(placement, "r1") == "a"
    placement.report_load("a", rooms=1, participants=100)
    assert placement.where("r1") is not None
    assert placement.where("r1").node_id == "a"  # type: ignore[union-attr]
    with pytest.raises(IllegalPlacement, match="'r1': 'place' is not possible when placed"):
        placement.place("r1")


def test_a_draining_node_takes_no_new_rooms_and_keeps_its_own():
    placement = pool(A, B)
    assert place(placement, "r1") == "a"
    placement.drain("a")
    assert [place(placement, f"r{i}") for i in (2, 3)] == ["b", "b"]
    assert placement.where("r1").node_id == "a"  # type: ignore[union-attr]
    assert placement.node("a").draining
    placement.undrain("a")
    assert place(placement, "r4") == "a"


def test_no_node_up_means_unavailable():
    placement = pool(A, B, up=False)
    with pytest.raises(SfuUnavailable):
        placement.place("r1")
    placement.node_up("a")
    placement.drain("a")
    with pytest.raises(SfuUnavailable):
        placement.place("r1")
    assert placement.where("r1") is None


def test_the_rooms_of_a_lost_node_spread_over_the_others():
    placement = pool(A, B, SfuNode("d", "ws://10.0.0.4:8188", "eu"))
    for i in range(3):
        placement.place(f"r{i}")
        placement.placed(f"r{i}")
    rooms_on_a = [p.room_id for p in placement.rooms() if p.node_id == "a"]
    assert rooms_on_a == ["r0"]
    place(placement, "r3")  # a again: least loaded after the first round
    moves = placement.node_lost("a")
    assert moves == (Move("r0", "a", "b"), Move("r3", "a", "d"))
    for move in moves:
        where = placement.where(move.room_id)
        assert where is not None and where.state is RoomState.MOVING
        assert where.node_id == move.to_node and where.lost_from == "a"
        assert placement.moved(move.room_id, move.to_node)
        assert placement.where(move.room_id).state is RoomState.PLACED  # type: ignore[union-attr]
    assert not placement.node("a").up
    assert placement.node("a").rooms == 0


def test_a_draining_node_takes_no_moved_rooms():
    placement = pool(A, B, C)
    place(placement, "r1")
    placement.drain("b")
    assert placement.node_lost("a") == (Move("r1", "a", "c"),)


def test_a_failed_move_tries_the_next_node_then_strands():
    placement = pool()
    place(placement, "r1")
    (move,) = placement.node_lost("a")
    assert move == Move("r1", "a", "b")
    assert placement.move_failed("r1", "b") == Move("r1", "a", "c")
    assert placement.move_failed("r1", "c") is None
    stranded = placement.where("r1")
    assert stranded is not None
    assert stranded.state is RoomState.STRANDED and stranded.node_id is None
    assert stranded.lost_from == "a"


def test_a_stranded_room_moves_as_soon_as_a_node_is_up():
    placement = pool(A)
    place(placement, "r1")
    assert placement.node_lost("a") == ()
    assert placement.where("r1").state is RoomState.STRANDED  # type: ignore[union-attr]
    # The only node restarts: the room goes back there, as a move (its clients rejoin).
    assert placement.node_up("a") == (Move("r1", "a", "a"),)
    assert placement.moved("r1", "a")
    assert placement.where("r1").state is RoomState.PLACED  # type: ignore[union-attr]


def test_undraining_rescues_stranded_rooms():
    placement = pool(A, B)
    place(placement, "r1")
    placement.drain("b")
    assert placement.node_lost("a") == ()
    assert placement.undrain("b") == (Move("r1", "a", "b"),)


def test_a_move_target_lost_meanwhile_is_sent_elsewhere():
    placement = pool()
    place(placement, "r1")
    (move,) = placement.node_lost("a")
    assert move.to_node == "b"
    assert placement.node_lost("b") == (Move("r1", "a", "c"),)
    # The shell's late answer about b is no longer wanted.
    assert not placement.moved("r1", "b")
    assert placement.move_failed("r1", "b") is None
    assert placement.moved("r1", "c")


def test_a_room_being_made_on_a_lost_node_is_abandoned_by_the_shell():
    placement = pool(A, B)
    assert placement.place("r1") == "a"
    assert placement.node_lost("a") == ()
    assert placement.where("r1").state is RoomState.PLACING  # type: ignore[union-attr]
    placement.abandon("r1")
    assert placement.where("r1") is None
    assert place(placement, "r1") == "b"


def test_a_room_destroyed_while_it_moves_is_not_placed():
    placement = pool(A, B)
    place(placement, "r1")
    (move,) = placement.node_lost("a")
    forgotten = placement.forget("r1")
    assert forgotten is not None and forgotten.state is RoomState.MOVING
    assert not placement.moved("r1", move.to_node)
    assert placement.forget("r1") is None
    assert placement.node("b").rooms == 0


def test_illegal_events_name_the_room_the_event_and_the_state():
    placement = pool(A)
    with pytest.raises(
        IllegalPlacement, match="room 'nope': 'placed' is not possible when unknown"
    ):
        placement.placed("nope")
    place(placement, "r1")
    with pytest.raises(IllegalPlacement, match="'abandon' is not possible when placed"):
        placement.abandon("r1")
    with pytest.raises(ValueError, match="already in the pool"):
        placement.add_node(A)
    with pytest.raises(ValueError, match="no node 'zz'"):
        placement.drain("zz")


def test_node_statuses_show_load_and_state():
    placement = pool(A, B)
    place(placement, "r1")
    placement.report_load("b", rooms=4, participants=12)
    placement.drain("b")
    statuses = {s.node.node_id: s for s in placement.nodes()}
    assert statuses["a"].up and statuses["a"].rooms == 1 and statuses["a"].load == 1
    assert statuses["b"].draining and statuses["b"].load == 16
