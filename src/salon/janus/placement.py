"""Where each group room lives in a pool of SFU nodes: the decisions, without I/O.

``Placement`` is fed facts (a node answered, a node's load, a node was lost, a room was made,
moved or destroyed) and returns decisions (the node for a new room, ``Move``\\ s for the rooms of
a lost node). It never waits, sends or sleeps: ``salon.janus.pool`` is the shell that talks to
the nodes and feeds it. The rules:

- **Affinity.** A room stays on the node it was placed on until that node is lost or the room
  is destroyed; asking again for a placed room gives its node.
- **Load.** A new room goes to the least-loaded node that is up and not draining, in the
  room's region (without one: the region of the first node listed, the pool's home), or in any
  region when that one has no such node. A node's load is its participants plus its rooms (an
  empty room counts as one person: people are about to join it), as its last health report
  said, plus the rooms placed on it since; ties go to the node listed first.
- **Draining.** A draining node takes no new room and no moved one; its rooms stay, unless
  it is evacuated: each of them that another node can take gets a ``Move`` there now (the
  node is up, so a move that fails puts the room back on it rather than strand it).
- **Loss.** When a node is lost, each of its rooms gets a ``Move`` to a node chosen as above
  (each move counted before the next is chosen, so they spread). A room no node can take is
  stranded, and gets its ``Move`` as soon as a node is up (or stops draining). A move that
  fails is tried on another node; when none is left the room is stranded.

Room states and the events that change them are one table (``_TRANSITIONS``); an event a room
cannot take in its state raises ``IllegalPlacement`` naming both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from salon.errors import SfuUnavailable
from salon.media.sfu import SfuNode

__all__ = [
    "IllegalPlacement",
    "Move",
    "NodeStatus",
    "Placement",
    "RoomPlacement",
    "RoomState",
]


class RoomState(StrEnum):
    PLACING = "placing"  # being made on its node
    PLACED = "placed"  # lives on its node
    MOVING = "moving"  # its node was lost; being made again on another
    STRANDED = "stranded"  # its node was lost and no node can take it yet


# (state, event) -> the states the event may lead to; "gone" is no state (forgotten).
_GONE = "gone"
_TRANSITIONS: dict[tuple[RoomState | None, str], frozenset[str]] = {
    (None, "place"): frozenset({RoomState.PLACING}),
    (RoomState.PLACING, "placed"): frozenset({RoomState.PLACED}),
    (RoomState.PLACING, "abandon"): frozenset({_GONE}),
    # A room being made on a node that is lost meanwhile: its creation fails and is abandoned.
    (RoomState.PLACING, "node_lost"): frozenset({RoomState.PLACING}),
    (RoomState.PLACED, "node_lost"): frozenset({RoomState.MOVING, RoomState.STRANDED}),
    (RoomState.PLACED, "evacuate"): frozenset({RoomState.MOVING}),
    # An evacuated room whose move cannot be made goes back to the node it lives on (PLACED).
    (RoomState.MOVING, "node_lost"): frozenset(
        {RoomState.MOVING, RoomState.STRANDED, RoomState.PLACED}
    ),
    (RoomState.MOVING, "moved"): frozenset({RoomState.PLACED}),
    (RoomState.MOVING, "move_failed"): frozenset(
        {RoomState.MOVING, RoomState.STRANDED, RoomState.PLACED}
    ),
    (RoomState.STRANDED, "node_available"): frozenset({RoomState.MOVING}),
    (RoomState.PLACING, "forget"): frozenset({_GONE}),
    (RoomState.PLACED, "forget"): frozenset({_GONE}),
    (RoomState.MOVING, "forget"): frozenset({_GONE}),
    (RoomState.STRANDED, "forget"): frozenset({_GONE}),
}


class IllegalPlacement(Exception):
    """An event a room cannot take in its state: a bug in the shell, not a runtime condition."""

    def __init__(self, room_id: str, event: str, state: RoomState | None) -> None:
        where = state.value if state is not None else "unknown"
        super().__init__(f"room {room_id!r}: {event!r} is not possible when {where}")
        self.room_id = room_id
        self.event = event
        self.state = state


@dataclass(frozen=True, slots=True)
class RoomPlacement:
    """Where a room is: its node (being made there when PLACING or MOVING; ``None`` when
    stranded) and, after a loss, the node it was lost with."""

    room_id: str
    state: RoomState
    node_id: str | None
    region: str | None = None
    lost_from: str | None = None


@dataclass(frozen=True, slots=True)
class Move:
    """Make ``room_id`` again on ``to_node``: it was lost with ``from_node``."""

    room_id: str
    from_node: str
    to_node: str


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A node as placement sees it."""

    node: SfuNode
    up: bool
    draining: bool
    rooms: int
    participants: int
    load: int


@dataclass(slots=True)
class _Node:
    node: SfuNode
    up: bool = False
    draining: bool = False
    reported_rooms: int = 0
    reported_participants: int = 0
    assigned: set[str] = field(default_factory=set)  # rooms placed, being placed or moved here
    reported_assigned: set[str] = field(default_factory=set)  # ``assigned`` at the last report

    @property
    def load(self) -> int:
        return (
            self.reported_participants
            + self.reported_rooms
            + len(self.assigned - self.reported_assigned)
        )


@dataclass(slots=True)
class _Room:
    room_id: str
    state: RoomState
    node_id: str | None
    region: str | None
    lost_from: str | None = None
    failed: set[str] = field(default_factory=set)  # nodes a move to which failed
    # Moving away from ``lost_from``, which still has it (evacuated, not lost).
    evacuated: bool = False

    def view(self) -> RoomPlacement:
        return RoomPlacement(self.room_id, self.state, self.node_id, self.region, self.lost_from)


class Placement:
    """Room placement over a pool of nodes. Nodes start down until ``node_up``."""

    def __init__(self, nodes: Iterable[SfuNode] = ()) -> None:
        self._nodes: dict[str, _Node] = {}
        self._rooms: dict[str, _Room] = {}
        for node in nodes:
            self.add_node(node)

    # --- nodes ------------------------------------------------------------------------------

    def add_node(self, node: SfuNode) -> None:
        """Adds a node to the pool (down until ``node_up``)."""
        if node.node_id in self._nodes:
            raise ValueError(f"node {node.node_id!r} is already in the pool")
        self._nodes[node.node_id] = _Node(node)

    def _node(self, node_id: str) -> _Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise ValueError(f"no node {node_id!r} in the pool") from None

    def node_up(self, node_id: str) -> tuple[Move, ...]:
        """The node answers: it may take rooms, stranded ones first (their moves)."""
        node = self._node(node_id)
        node.up = True
        return self._rescue_stranded()

    def node_lost(self, node_id: str) -> tuple[Move, ...]:
        """Salon lost the node, and every room on it: where each of them goes now."""
        node = self._node(node_id)
        was_up = node.up
        node.up = False
        node.reported_rooms = node.reported_participants = 0
        node.reported_assigned = set()
        for room in self._rooms.values():
            if room.evacuated and room.lost_from == node_id:
                room.evacuated = False  # what it still had there is gone with the node
        if not was_up and not node.assigned:
            return ()
        moves = []
        for room_id in sorted(node.assigned):
            room = self._rooms[room_id]
            if room.state is RoomState.PLACING:
                self._transition(room, "node_lost", RoomState.PLACING)
                continue
            node.assigned.discard(room_id)
            if room.state is RoomState.PLACED:
                room.lost_from = node_id
            room.failed = set()
            move = self._send_elsewhere(room, "node_lost")
            if move is not None:
                moves.append(move)
        return tuple(moves)

    def report_load(self, node_id: str, *, rooms: int, participants: int) -> None:
        """A health report: how many rooms and participants the node has now."""
        node = self._node(node_id)
        node.reported_rooms = max(0, rooms)
        node.reported_participants = max(0, participants)
        node.reported_assigned = set(node.assigned)

    def drain(self, node_id: str) -> None:
        """The node takes no new rooms; its rooms stay until they end."""
        self._node(node_id).draining = True

    def undrain(self, node_id: str) -> tuple[Move, ...]:
        """The node takes rooms again (stranded ones first: their moves)."""
        self._node(node_id).draining = False
        return self._rescue_stranded()

    def evacuate(self, node_id: str) -> tuple[Move, ...]:
        """Drains the node and moves its rooms away now: a ``Move`` for each of them another
        node can take (the others stay). The rooms still live on the node until the shell has
        made them elsewhere; a move that fails in the end puts the room back there."""
        node = self._node(node_id)
        node.draining = True
        moves = []
        for room_id in sorted(node.assigned):
            room = self._rooms[room_id]
            if room.state is not RoomState.PLACED:
                continue
            target = self._choose(room.region)
            if target is None:
                continue
            self._transition(room, "evacuate", RoomState.MOVING)
            node.assigned.discard(room_id)
            room.lost_from = node_id
            room.evacuated = True
            room.failed = set()
            room.node_id = target.node.node_id
            target.assigned.add(room_id)
            moves.append(Move(room_id, node_id, room.node_id))
        return tuple(moves)

    def nodes(self) -> tuple[NodeStatus, ...]:
        return tuple(
            NodeStatus(
                n.node,
                n.up,
                n.draining,
                rooms=n.reported_rooms + len(n.assigned - n.reported_assigned),
                participants=n.reported_participants,
                load=n.load,
            )
            for n in self._nodes.values()
        )

    def node(self, node_id: str) -> NodeStatus:
        return next(status for status in self.nodes() if status.node.node_id == node_id)

    # --- rooms ------------------------------------------------------------------------------

    def where(self, room_id: str) -> RoomPlacement | None:
        room = self._rooms.get(room_id)
        return room.view() if room is not None else None

    def rooms(self) -> tuple[RoomPlacement, ...]:
        return tuple(room.view() for room in self._rooms.values())

    def place(self, room_id: str, region: str | None = None) -> str:
        """The node a new room goes to (now PLACING there); ``SfuUnavailable`` if none can
        take it. A room already known keeps its node (affinity): ``IllegalPlacement``."""
        existing = self._rooms.get(room_id)
        if existing is not None:
            raise IllegalPlacement(room_id, "place", existing.state)
        node = self._choose(region)
        if node is None:
            raise SfuUnavailable(detail=f"no media server node can take room {room_id}")
        room = _Room(room_id, RoomState.PLACING, node.node.node_id, region)
        self._rooms[room_id] = room
        node.assigned.add(room_id)
        return node.node.node_id

    def placed(self, room_id: str) -> None:
        """The room was made on its node."""
        self._transition(self._room(room_id, "placed"), "placed", RoomState.PLACED)

    def abandon(self, room_id: str) -> None:
        """Making the room failed: it is forgotten."""
        room = self._room(room_id, "abandon")
        self._check(room, "abandon", _GONE)
        self._drop(room)

    def moved(self, room_id: str, to_node: str) -> bool:
        """The room was made again on ``to_node``; false if that move is no longer wanted
        (the room was destroyed or sent elsewhere meanwhile): the shell undoes it."""
        room = self._rooms.get(room_id)
        if room is None or room.state is not RoomState.MOVING or room.node_id != to_node:
            return False
        self._transition(room, "moved", RoomState.PLACED)
        room.lost_from = None
        room.failed = set()
        room.evacuated = False
        return True

    def move_failed(self, room_id: str, to_node: str) -> Move | None:
        """Making the room on ``to_node`` failed: the next node to try, if any (else the room
        is stranded). ``None`` too if that move was no longer wanted."""
        room = self._rooms.get(room_id)
        if room is None or room.state is not RoomState.MOVING or room.node_id != to_node:
            return None
        room.failed.add(to_node)
        self._nodes[to_node].assigned.discard(room_id)
        return self._send_elsewhere(room, "move_failed")

    def forget(self, room_id: str) -> RoomPlacement | None:
        """The room was destroyed: where it was, if known."""
        room = self._rooms.get(room_id)
        if room is None:
            return None
        self._check(room, "forget", _GONE)
        self._drop(room)
        return room.view()

    # --- internals --------------------------------------------------------------------------

    def _room(self, room_id: str, event: str) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise IllegalPlacement(room_id, event, None)
        return room

    def _check(self, room: _Room, event: str, to: str) -> None:
        if to not in _TRANSITIONS.get((room.state, event), frozenset()):
            raise IllegalPlacement(room.room_id, event, room.state)

    def _transition(self, room: _Room, event: str, to: RoomState) -> None:
        self._check(room, event, to)
        room.state = to

    def _drop(self, room: _Room) -> None:
        del self._rooms[room.room_id]
        if room.node_id is not None and room.node_id in self._nodes:
            self._nodes[room.node_id].assigned.discard(room.room_id)

    def _home_region(self) -> str | None:
        first = next(iter(self._nodes.values()), None)
        return first.node.region if first is not None else None

    def _choose(self, region: str | None, exclude: Iterable[str] = ()) -> _Node | None:
        excluded = set(exclude)
        candidates = [
            n
            for n in self._nodes.values()
            if n.up and not n.draining and n.node.node_id not in excluded
        ]
        wanted = region if region is not None else self._home_region()
        in_region = [n for n in candidates if n.node.region == wanted]
        pool = in_region or candidates
        if not pool:
            return None
        order = {node_id: i for i, node_id in enumerate(self._nodes)}
        return min(pool, key=lambda n: (n.load, order[n.node.node_id]))

    def _send_elsewhere(self, room: _Room, event: str) -> Move | None:
        """Moves ``room`` (lost with ``room.lost_from``) to the best node left, or strands it
        (an evacuated room: back on the node it still lives on, if that is up)."""
        target = self._choose(room.region, exclude=room.failed)
        origin = self._nodes.get(room.lost_from or "")
        if target is None and room.evacuated and origin is not None and origin.up:
            self._transition(room, event, RoomState.PLACED)
            room.node_id = origin.node.node_id
            origin.assigned.add(room.room_id)
            room.lost_from = None
            room.failed = set()
            room.evacuated = False
            return None
        if target is None:
            self._transition(room, event, RoomState.STRANDED)
            room.node_id = None
            return None
        self._transition(room, event, RoomState.MOVING)
        room.node_id = target.node.node_id
        target.assigned.add(room.room_id)
        assert room.lost_from is not None
        return Move(room.room_id, room.lost_from, room.node_id)

    def _rescue_stranded(self) -> tuple[Move, ...]:
        moves = []
        for room in list(self._rooms.values()):
            if room.state is not RoomState.STRANDED:
                continue
            room.failed = set()
            target = self._choose(room.region)
            if target is None:
                break
            self._transition(room, "node_available", RoomState.MOVING)
            room.node_id = target.node.node_id
            target.assigned.add(room.room_id)
            assert room.lost_from is not None
            moves.append(Move(room.room_id, room.lost_from, room.node_id))
        return tuple(moves)
