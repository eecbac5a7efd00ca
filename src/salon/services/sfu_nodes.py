"""The operator's handle on the SFU nodes of running servers: drain a node, undrain it, move
its rooms away now, and see every node's state.

A ``salon sfu`` command and the ``salon serve`` processes share nothing but the database. The
table ``sfu_nodes`` (``SfuNodeState``, one row per node) holds what the operator asked for a
node (draining; a count of requests to move its rooms away now) and what a server last saw of
it (up, draining as applied, rooms, participants, when). The command writes the first half
(``SfuNodes.set_draining``). Each server runs an ``SfuNodeSync``: every ``SYNC_INTERVAL``
seconds it reads the table, applies it to its pool (the decisions are ``plan``'s, a pure
function of what the pool says and what the operator asked) and writes the second half, which
``salon sfu nodes`` prints. So every Salon process sharing the database drains the same nodes,
and a drain outlives a restart of Salon.

Node ids are the pool's: ``HOST:PORT`` of the API of each ``SALON_JANUS_NODES`` entry, or
``local`` for the node ``salon serve`` runs itself (``SALON_JANUS_MODE=embedded``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from salon.clock import Clock
from salon.config import JanusMode, JanusSettings
from salon.errors import NotFound
from salon.janus.embedded import EMBEDDED_NODE_ID
from salon.janus.placement import NodeStatus
from salon.storage.db import Database
from salon.storage.models import SfuNodeState

__all__ = [
    "FORGET_AFTER",
    "SYNC_INTERVAL",
    "ActionKind",
    "Asked",
    "NodeAction",
    "NodeReport",
    "SfuNodeRecord",
    "SfuNodeSync",
    "SfuNodes",
    "plan",
]

log = logging.getLogger("salon.services.sfu_nodes")

# How often a server applies the operator's asks and reports its nodes: a drain takes effect
# within this long, and `salon sfu nodes` is this fresh.
SYNC_INTERVAL = 2.0
# A node no server has reported for this long (removed from the configuration, say) is
# forgotten.
FORGET_AFTER = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class NodeReport:
    """What a server's pool last said about a node."""

    up: bool
    draining: bool
    rooms: int
    participants: int
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class SfuNodeRecord:
    """One node as ``salon sfu nodes`` shows it."""

    node_id: str
    region: str | None
    draining: bool  # what the operator asked
    moves_requested: int
    changed_at: datetime | None
    report: NodeReport | None  # None until a server has reported the node


@dataclass(frozen=True, slots=True)
class Asked:
    """What the operator asked for one node."""

    draining: bool
    moves_requested: int


class ActionKind(StrEnum):
    DRAIN = "drain"
    UNDRAIN = "undrain"
    EVACUATE = "evacuate"  # drain, and move its rooms away now


@dataclass(frozen=True, slots=True)
class NodeAction:
    kind: ActionKind
    node_id: str


def plan(
    nodes: Sequence[NodeStatus], asked: Mapping[str, Asked], moves_seen: Mapping[str, int]
) -> tuple[tuple[NodeAction, ...], dict[str, int]]:
    """What a pool must do for its nodes to be as the operator asked, and the move requests
    seen once that is done.

    A node nobody asked about takes rooms. A move request counts once: the first time a pool
    sees a node, the requests made before are taken as done (a server that starts has no
    rooms to move), and a request for a node that is not to drain moves nothing.
    """
    actions = []
    seen = {}
    for status in nodes:
        node_id = status.node.node_id
        wanted = asked.get(node_id, Asked(draining=False, moves_requested=0))
        before = moves_seen.get(node_id)
        seen[node_id] = wanted.moves_requested
        if wanted.draining and before is not None and wanted.moves_requested > before:
            actions.append(NodeAction(ActionKind.EVACUATE, node_id))
        elif wanted.draining and not status.draining:
            actions.append(NodeAction(ActionKind.DRAIN, node_id))
        elif not wanted.draining and status.draining:
            actions.append(NodeAction(ActionKind.UNDRAIN, node_id))
    return tuple(actions), seen


def _record(row: SfuNodeState, region: str | None = None) -> SfuNodeRecord:
    report = None
    if row.reported_at is not None:
        report = NodeReport(
            up=bool(row.up),
            draining=bool(row.draining_applied),
            rooms=row.rooms or 0,
            participants=row.participants or 0,
            reported_at=row.reported_at,
        )
    return SfuNodeRecord(
        node_id=row.node_id,
        region=row.region or region,
        draining=row.draining,
        moves_requested=row.moves_requested,
        changed_at=row.changed_at,
        report=report,
    )


class SfuNodes:
    """The ``sfu_nodes`` table: the operator's asks, and the servers' reports."""

    def __init__(self, db: Database, clock: Clock, janus: JanusSettings) -> None:
        self._db = db
        self._clock = clock
        self._janus = janus

    def configured(self) -> dict[str, str]:
        """The nodes this process's settings name: node id -> region."""
        if self._janus.mode is JanusMode.EXTERNAL:
            return {node.node_id: node.region for node in self._janus.nodes}
        if self._janus.mode is JanusMode.EMBEDDED:
            return {EMBEDDED_NODE_ID: EMBEDDED_NODE_ID}
        return {}

    def all(self) -> tuple[SfuNodeRecord, ...]:
        """Every node: the configured ones first, in their order, then any other a server
        reported (its settings may differ from this process's)."""
        configured = self.configured()
        with self._db.transaction() as session:
            rows = {row.node_id: row for row in session.scalars(select(SfuNodeState))}
        records = []
        for node_id, region in configured.items():
            row = rows.pop(node_id, None)
            if row is None:
                records.append(SfuNodeRecord(node_id, region, False, 0, None, None))
            else:
                records.append(_record(row, region))
        records += [_record(rows[node_id]) for node_id in sorted(rows)]
        return tuple(records)

    def set_draining(self, node_id: str, draining: bool, *, move: bool = False) -> SfuNodeRecord:
        """Asks every server to drain ``node_id`` (``move``: and move its rooms away now) or
        to place rooms on it again. ``NotFound`` for a node neither the settings nor a server
        name, or when there is no SFU at all."""
        if move and not draining:
            raise ValueError("only a node that drains has its rooms moved away")
        known = set(self.configured())
        with self._db.transaction() as session:
            known.update(session.scalars(select(SfuNodeState.node_id)))
        if not known:
            raise NotFound(
                "There is no SFU node: Janus is off (SALON_JANUS_MODE=off) and no running Salon "
                "has reported one, so draining changes nothing. Set SALON_JANUS_MODE (and "
                "SALON_JANUS_NODES) as the server has them."
            )
        if node_id not in known:
            raise NotFound(
                f"No SFU node {node_id!r}. The nodes are: {', '.join(sorted(known))} "
                "(`salon sfu nodes` lists them)."
            )
        try:
            return self._ask(node_id, draining, move)
        except IntegrityError:  # a server made the row meanwhile: change that one
            return self._ask(node_id, draining, move)

    def _ask(self, node_id: str, draining: bool, move: bool) -> SfuNodeRecord:
        with self._db.transaction() as session:
            row = session.get(SfuNodeState, node_id)
            if row is None:
                row = SfuNodeState(node_id=node_id, draining=False, moves_requested=0)
                row.region = self.configured().get(node_id)
                session.add(row)
            row.draining = draining
            if move:
                row.moves_requested += 1
            row.changed_at = self._clock.now()
            session.flush()
            return _record(row)

    def asked(self) -> dict[str, Asked]:
        """What the operator asked, per node."""
        with self._db.transaction() as session:
            rows = session.execute(
                select(SfuNodeState.node_id, SfuNodeState.draining, SfuNodeState.moves_requested)
            ).all()
        return {node_id: Asked(draining, moves) for node_id, draining, moves in rows}

    def report(self, nodes: Sequence[NodeStatus]) -> None:
        """Writes what a pool says about its nodes (never the operator's columns), and
        forgets nodes no server has reported for ``FORGET_AFTER``."""
        now = self._clock.now()
        reported = {status.node.node_id: status for status in nodes}
        cutoff = now - FORGET_AFTER
        try:
            with self._db.transaction() as session:
                for row in session.scalars(select(SfuNodeState)).all():
                    status = reported.pop(row.node_id, None)
                    if status is not None:
                        # Only these columns are written: an ask made meanwhile stays.
                        for column, value in _report_values(status, now).items():
                            setattr(row, column, value)
                    elif (row.reported_at or row.changed_at or now) < cutoff:
                        session.delete(row)
                for node_id, status in reported.items():
                    session.add(SfuNodeState(node_id=node_id, **_report_values(status, now)))
        except IntegrityError:  # another server added a node meanwhile: the next report
            log.debug("two servers reported a new SFU node at once")


def _report_values(status: NodeStatus, now: datetime) -> dict[str, object]:
    return {
        "region": status.node.region,
        "up": status.up,
        "draining_applied": status.draining,
        "rooms": status.rooms,
        "participants": status.participants,
        "reported_at": now,
    }


class _Pool(Protocol):
    """What the sync drives: ``salon.janus.pool.SfuPool``."""

    def nodes(self) -> tuple[NodeStatus, ...]: ...

    def drain(self, node_id: str) -> None: ...

    def undrain(self, node_id: str) -> None: ...

    def evacuate(self, node_id: str) -> int: ...


class SfuNodeSync:
    """A running server's side: applies the operator's asks to ``pool`` and reports its nodes,
    every ``interval`` seconds (``run``), or once (``sync``)."""

    def __init__(self, nodes: SfuNodes, pool: _Pool, *, interval: float = SYNC_INTERVAL) -> None:
        self._nodes = nodes
        self._pool = pool
        self._interval = interval
        self._moves_seen: dict[str, int] = {}

    async def sync(self) -> None:
        # On the worker threads every database call uses (one for SQLite: see server.py).
        asked = await anyio.to_thread.run_sync(self._nodes.asked)
        actions, self._moves_seen = plan(self._pool.nodes(), asked, self._moves_seen)
        for action in actions:
            match action.kind:
                case ActionKind.DRAIN:
                    self._pool.drain(action.node_id)
                case ActionKind.UNDRAIN:
                    self._pool.undrain(action.node_id)
                case ActionKind.EVACUATE:
                    self._pool.evacuate(action.node_id)
        await anyio.to_thread.run_sync(self._nodes.report, self._pool.nodes())

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sync()
            except Exception as exc:
                log.warning("could not sync the SFU nodes' state: %s", type(exc).__name__)
