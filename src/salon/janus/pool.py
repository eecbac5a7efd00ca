"""``SfuPool``: the ``SfuBackend`` protocol over a pool of SFU nodes, with room placement.

Each group room lives on one node. ``salon.janus.placement`` decides which (by load, with
affinity, never a draining node) and where a lost node's rooms go; this module is the thin
async shell around it: it keeps a session with every node (``JanusConnector`` makes one; the
pool itself speaks only ``SfuBackend``), polls each node's health for its load, routes every
call to the node its room or handle names, and carries out the moves.

A node counts as lost when its backend reports ``NodeLost`` (the session is gone: the node
died or restarted, or stayed unreachable longer than the transport's reclaim window) or when
``health_failures`` health checks in a row fail. Its rooms are then made again on another node
(the same one, once it is back, if it is the only one) and each move is announced with
``RoomMoved``: everything in the room died with the node (publish grants, publishers,
subscriptions), so the signaling layer tells its clients to publish and subscribe again in the
new room. A room no node can take yet is announced with ``RoomStranded`` and moved when one can.

Events: ``events()`` is the ``SfuBackend`` stream (every node's room events; never
``NodeLost``: the pool carries on); ``listen()`` gives the same events in the same order with
the pool's own in between (``RoomMoved``, ``RoomStranded``, ``NodeUp``, ``NodeDown``). The
signaling layer wants ``listen()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from salon.config import JanusSettings
from salon.errors import SfuError, SfuRefusal, SfuRefused, SfuRoomNotFound, SfuUnavailable
from salon.janus.backend import JanusBackend
from salon.janus.credentials import JanusCredentials
from salon.janus.placement import Move, NodeStatus, Placement, RoomState
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    IceCandidate,
    MediaHandle,
    NodeHealth,
    NodeLost,
    Publication,
    PublishGrant,
    RoomSpec,
    SessionDescription,
    SfuBackend,
    SfuEvent,
    SfuNode,
    SfuParticipant,
    SfuRoom,
    Subscription,
)

__all__ = [
    "JanusConnector",
    "NodeConnector",
    "NodeDown",
    "NodeUp",
    "PoolEvent",
    "PoolEventStream",
    "RoomMoved",
    "RoomStranded",
    "SfuPool",
    "pool_from_settings",
]

logger = logging.getLogger("salon.janus.pool")

POOL_NODE_ID = "pool"
_RETRY_HEALTH_S = 0.25


# --- the pool's own events ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomMoved:
    """``room_id`` was lost with ``from_node`` and made again, empty, on ``to_node`` (the same
    node when it restarted). Grants, publishers and subscriptions did not survive: every client
    of the room publishes and subscribes again in ``room``."""

    room_id: str
    from_node: str
    to_node: str

    @property
    def room(self) -> SfuRoom:
        """The room as it is now."""
        return SfuRoom(self.to_node, self.room_id)


@dataclass(frozen=True, slots=True)
class RoomStranded:
    """``room_id`` was lost with ``from_node`` and no node can take it yet; a ``RoomMoved``
    follows when one can. Calls for the room raise ``SfuUnavailable`` meanwhile."""

    room_id: str
    from_node: str


@dataclass(frozen=True, slots=True)
class NodeUp:
    """Salon has a session with the node and places rooms on it (unless it is draining)."""

    node: SfuNode
    version: str


@dataclass(frozen=True, slots=True)
class NodeDown:
    """Salon lost the node; ``rooms`` of its rooms are being moved."""

    node: SfuNode
    rooms: int


PoolEvent = SfuEvent | RoomMoved | RoomStranded | NodeUp | NodeDown
_POOL_ONLY = (RoomMoved, RoomStranded, NodeUp, NodeDown)

E_co = TypeVar("E_co", covariant=True)
_END = object()


class PoolEventStream(AsyncIterator[E_co], Generic[E_co]):
    """One listener's events, in order, from when it was made until the pool closes."""

    def __init__(self, hub: _Hub, accepts: Callable[[PoolEvent], bool]) -> None:
        self._hub = hub
        self._accepts = accepts
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._done = False

    def _offer(self, event: PoolEvent) -> None:
        if self._accepts(event):
            self._queue.put_nowait(event)

    def _end(self) -> None:
        self._queue.put_nowait(_END)

    def __aiter__(self) -> PoolEventStream[E_co]:
        return self

    async def __anext__(self) -> E_co:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self.close()
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    async def next(self, timeout: float) -> E_co:
        """The next event, or ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    def close(self) -> None:
        self._done = True
        self._hub.listeners.discard(self)

    async def __aenter__(self) -> PoolEventStream[E_co]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class _Hub:
    def __init__(self) -> None:
        self.listeners: set[PoolEventStream[Any]] = set()
        self.closed = False

    def listen(self, accepts: Callable[[PoolEvent], bool]) -> PoolEventStream[Any]:
        stream: PoolEventStream[Any] = PoolEventStream(self, accepts)
        if self.closed:
            stream._end()
        else:
            self.listeners.add(stream)
        return stream

    def emit(self, event: PoolEvent) -> None:
        for listener in list(self.listeners):
            listener._offer(event)

    def close(self) -> None:
        self.closed = True
        for listener in list(self.listeners):
            listener._end()
        self.listeners.clear()


# --- connecting to nodes --------------------------------------------------------------------


class NodeConnector(Protocol):
    """Opens Salon's session with one node: a connected ``SfuBackend``, or an ``SfuError``."""

    def __call__(self, node: SfuNode) -> Awaitable[SfuBackend]: ...


@dataclass(frozen=True, slots=True)
class JanusConnector:
    """Connects ``JanusBackend``\\ s with Salon's Janus secrets.

    ``keepalive_interval`` must stay well under the nodes' session timeout (Janus: 60 s);
    ``reclaim_timeout`` is how long a dropped WebSocket may take to come back before the node
    counts as lost (Janus keeps the session for its ``reclaim_session_timeout``, 15 s in
    Salon's config; a shorter wait here moves rooms sooner).
    """

    credentials: JanusCredentials
    request_timeout: float = 5.0
    keepalive_interval: float = 15.0
    reclaim_timeout: float = 3.0

    async def __call__(self, node: SfuNode) -> SfuBackend:
        return await JanusBackend.connect(
            node,
            api_secret=self.credentials.api_secret,
            admin_key=self.credentials.admin_key,
            room_key=self.credentials.room_key,
            request_timeout=self.request_timeout,
            keepalive_interval=self.keepalive_interval,
            reclaim_timeout=self.reclaim_timeout,
        )


@dataclass(slots=True)
class _Link:
    """Salon's connection to one node, as the pool keeps it."""

    node: SfuNode
    backend: SfuBackend | None = None
    version: str = ""
    task: asyncio.Task[None] | None = None
    # Rooms Salon lost with this node that may still exist on it (it was unreachable rather
    # than restarted): destroyed when it is back, before any room is placed there again.
    stale_rooms: set[str] | None = None


# --- the pool -------------------------------------------------------------------------------


class SfuPool:
    """``SfuBackend`` over several nodes: ``await pool.start()``, use, ``await pool.close()``.

    ``health_interval`` seconds between health checks of each node; ``health_failures`` in a
    row (no answer within ``health_timeout`` seconds, or an error) lose it. A node that cannot
    be reached is tried again after ``reconnect_initial`` seconds, doubling up to
    ``reconnect_max``. ``sleep`` waits; tests may pass their own.
    """

    def __init__(
        self,
        connect: NodeConnector,
        nodes: Iterable[SfuNode] = (),
        *,
        health_interval: float = 2.0,
        health_timeout: float = 1.5,
        health_failures: int = 2,
        reconnect_initial: float = 0.25,
        reconnect_max: float = 5.0,
        move_concurrency: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._connect = connect
        self._placement = Placement()
        self._links: dict[str, _Link] = {}
        self._health_interval = health_interval
        self._health_timeout = health_timeout
        self._health_failures = health_failures
        self._reconnect_initial = reconnect_initial
        self._reconnect_max = reconnect_max
        self._move_limit = move_concurrency
        self._moves: asyncio.Semaphore | None = None
        self._sleep = sleep
        self._hub = _Hub()
        self._specs: dict[str, RoomSpec] = {}
        self._waiters: dict[str, list[asyncio.Future[SfuRoom]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._started = False
        self._closing = False
        self._any_up = asyncio.Event()
        for node in nodes:
            self.add_node(node)

    # --- the pool itself ------------------------------------------------------------------

    @property
    def node(self) -> SfuNode:
        """The pool as one node: id ``pool``, in the region of its first node."""
        first = next(iter(self._links.values()), None)
        return SfuNode(POOL_NODE_ID, "salon:pool", first.node.region if first else "local")

    def add_node(self, node: SfuNode) -> None:
        """Adds a node; once the pool is started, Salon connects to it at once."""
        if node.node_id == POOL_NODE_ID:
            raise ValueError(f"{POOL_NODE_ID!r} names the pool itself, not a node")
        self._placement.add_node(node)
        link = _Link(node, stale_rooms=set())
        self._links[node.node_id] = link
        if self._started and not self._closing:
            link.task = asyncio.create_task(self._run_node(link), name=f"sfu {node.node_id}")

    async def start(self, *, wait: float = 0.0) -> None:
        """Connects to every node (and keeps doing so); waits up to ``wait`` seconds for one
        to be up. Nodes that do not answer are tried again in the background."""
        if self._started:
            return
        self._started = True
        self._moves = asyncio.Semaphore(self._move_limit)
        for link in self._links.values():
            link.task = asyncio.create_task(self._run_node(link), name=f"sfu {link.node.node_id}")
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._any_up.wait()

    def drain(self, node_id: str) -> None:
        """No new rooms on ``node_id``; its rooms stay until they end."""
        self._placement.drain(node_id)
        logger.info("SFU node %s is draining", node_id)

    def undrain(self, node_id: str) -> None:
        """``node_id`` takes rooms again."""
        self._start_moves(self._placement.undrain(node_id))
        logger.info("SFU node %s takes rooms again", node_id)

    def evacuate(self, node_id: str) -> int:
        """Drains ``node_id`` and moves its rooms to other nodes now: how many are moving.

        Each move is announced with ``RoomMoved`` (its clients publish and subscribe again in
        the new room), then the room left behind is destroyed. A room no other node can take
        stays where it is, as does one whose move fails."""
        moves = self._placement.evacuate(node_id)
        self._stale(self._links[node_id]).update(move.room_id for move in moves)
        logger.info("SFU node %s is draining; moving its %d rooms away", node_id, len(moves))
        self._start_moves(moves)
        return len(moves)

    def nodes(self) -> tuple[NodeStatus, ...]:
        """Every node: up or not, draining or not, its load as last reported."""
        return self._placement.nodes()

    def where(self, room_id: str) -> SfuRoom | None:
        """Where ``room_id`` lives now, if it is placed (not being made, moved, or stranded)."""
        placement = self._placement.where(room_id)
        if placement is None or placement.state is not RoomState.PLACED:
            return None
        assert placement.node_id is not None
        return SfuRoom(placement.node_id, room_id)

    def events(self) -> PoolEventStream[SfuEvent]:
        """Every room event of every node from now on (``SfuBackend``'s stream)."""
        stream: PoolEventStream[SfuEvent] = self._hub.listen(
            lambda event: not isinstance(event, _POOL_ONLY)
        )
        return stream

    def listen(self) -> PoolEventStream[PoolEvent]:
        """Room events and the pool's own (``RoomMoved`` …), in order, from now on."""
        stream: PoolEventStream[PoolEvent] = self._hub.listen(lambda event: True)
        return stream

    async def health(self) -> NodeHealth:
        """The pool's load (rooms and participants over its nodes that are up)."""
        up = [status for status in self._placement.nodes() if status.up]
        if not up:
            raise SfuUnavailable(detail="no SFU node is up")
        versions = sorted({self._links[s.node.node_id].version for s in up})
        return NodeHealth(
            self.node,
            ",".join(versions),
            rooms=sum(s.rooms for s in up),
            participants=sum(s.participants for s in up),
        )

    async def close(self) -> None:
        """Ends Salon's sessions with every node (their rooms stay until destroyed)."""
        if self._closing:
            return
        self._closing = True
        tasks = [link.task for link in self._links.values() if link.task is not None]
        while tasks:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            tasks = list(self._background)  # moves and closings started meanwhile
        for link in self._links.values():
            backend, link.backend = link.backend, None
            if backend is not None:
                with contextlib.suppress(SfuError):
                    await backend.close()
        for room_id in list(self._waiters):
            self._settle(room_id, SfuUnavailable(detail="the SFU pool is closed"))
        self._hub.close()

    async def __aenter__(self) -> SfuPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- rooms ----------------------------------------------------------------------------

    async def create_room(self, spec: RoomSpec, *, region: str | None = None) -> SfuRoom:
        """A new room on the least-loaded node (of ``region``, if given and it has one);
        ``SfuRefused(ROOM_EXISTS)`` if the pool already has the room."""
        if self._placement.where(spec.room_id) is not None:
            raise SfuRefused(SfuRefusal.ROOM_EXISTS, detail=f"room {spec.room_id} is placed")
        node_id = self._placement.place(spec.room_id, region)
        self._specs[spec.room_id] = spec
        link = self._links[node_id]
        backend = link.backend
        try:
            if backend is None:
                raise SfuUnavailable(detail=f"node {node_id} went down")
            room = await self._create_on(link, backend, spec)
            if link.backend is not backend:  # lost while the room was being made
                raise SfuUnavailable(detail=f"node {node_id} was lost")
        except BaseException as exc:
            self._abandon(spec.room_id, exc)
            raise
        current = self._placement.where(spec.room_id)
        if current is None or current.state is not RoomState.PLACING:
            # Destroyed while it was being made: undo.
            with contextlib.suppress(SfuError):
                await backend.destroy_room(room)
            raise SfuRoomNotFound(detail=f"room {spec.room_id} was destroyed meanwhile")
        self._placement.placed(spec.room_id)
        self._settle(spec.room_id)
        logger.debug("room %s placed on %s", spec.room_id, node_id)
        return room

    def _abandon(self, room_id: str, exc: BaseException) -> None:
        current = self._placement.where(room_id)
        if current is not None and current.state is RoomState.PLACING:
            self._placement.abandon(room_id)
            self._specs.pop(room_id, None)
        failure = exc if isinstance(exc, SfuError) else SfuUnavailable(detail=repr(exc))
        self._settle(room_id, failure)

    async def ensure_room(
        self, spec: RoomSpec, *, region: str | None = None, timeout: float = 10.0
    ) -> SfuRoom:
        """The room, placed if it was not (affinity: a placed room stays where it is). Waits
        up to ``timeout`` seconds for one being made or moved; ``SfuUnavailable`` for one that
        is stranded."""
        placement = self._placement.where(spec.room_id)
        if placement is None:
            try:
                return await self.create_room(spec, region=region)
            except SfuRefused as exc:
                if exc.reason is not SfuRefusal.ROOM_EXISTS:
                    raise
                placement = self._placement.where(spec.room_id)  # placed meanwhile
                if placement is None:
                    raise
        if placement.state is RoomState.PLACED:
            assert placement.node_id is not None
            return SfuRoom(placement.node_id, spec.room_id)
        if placement.state is RoomState.STRANDED:
            raise SfuUnavailable(detail=f"no node can take room {spec.room_id} yet")
        waiter: asyncio.Future[SfuRoom] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(spec.room_id, []).append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            raise SfuUnavailable(detail=f"room {spec.room_id} was not ready in time") from None

    async def destroy_room(self, room: SfuRoom) -> None:
        placement = self._placement.forget(room.room_id)
        self._specs.pop(room.room_id, None)
        self._settle(room.room_id, SfuRoomNotFound(detail=f"room {room.room_id} was destroyed"))
        nodes = {room.node_id}
        if placement is not None and placement.node_id is not None:
            nodes.add(placement.node_id)
        for node_id in nodes:
            link = self._links.get(node_id)
            if link is None:
                continue
            backend = link.backend
            try:
                if backend is None:
                    raise SfuUnavailable(detail=f"node {node_id} is down")
                await backend.destroy_room(SfuRoom(node_id, room.room_id))
            except SfuUnavailable:
                self._stale(link).add(room.room_id)

    def _room_backend(self, room: SfuRoom) -> SfuBackend:
        placement = self._placement.where(room.room_id)
        if placement is None or placement.node_id != room.node_id:
            raise SfuRoomNotFound(detail=f"room {room.room_id} is not on node {room.node_id}")
        if placement.state is not RoomState.PLACED:
            raise SfuUnavailable(detail=f"room {room.room_id} is {placement.state.value}")
        return self._node_backend(room.node_id)

    def _node_backend(self, node_id: str) -> SfuBackend:
        link = self._links.get(node_id)
        if link is None:
            raise SfuRoomNotFound(detail=f"no node {node_id} in the pool")
        if link.backend is None:
            raise SfuUnavailable(detail=f"node {node_id} is down")
        return link.backend

    async def participants(self, room: SfuRoom) -> tuple[SfuParticipant, ...]:
        return await self._room_backend(room).participants(room)

    async def allow_publisher(self, room: SfuRoom, participant_id: str) -> PublishGrant:
        return await self._room_backend(room).allow_publisher(room, participant_id)

    async def revoke_publisher(self, grant: PublishGrant) -> None:
        """Withdraws the grant; a grant whose room has moved died with its node already."""
        try:
            backend = self._room_backend(grant.room)
        except SfuRoomNotFound:
            return
        await backend.revoke_publisher(grant)

    async def publish(
        self,
        grant: PublishGrant,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> Publication:
        return await self._room_backend(grant.room).publish(grant, offer, kinds=kinds)

    async def renegotiate(
        self,
        handle: MediaHandle,
        offer: SessionDescription,
        *,
        kinds: Mapping[str, FeedKind] | None = None,
    ) -> SessionDescription:
        return await self._node_backend(handle.room.node_id).renegotiate(handle, offer, kinds=kinds)

    async def unpublish(self, handle: MediaHandle) -> None:
        await self._node_backend(handle.room.node_id).unpublish(handle)

    async def subscribe(
        self, room: SfuRoom, participant_id: str, feeds: Sequence[FeedSelection]
    ) -> Subscription:
        return await self._room_backend(room).subscribe(room, participant_id, feeds)

    async def update_subscription(
        self,
        handle: MediaHandle,
        *,
        add: Sequence[FeedSelection] = (),
        remove: Sequence[FeedSelection] = (),
    ) -> None:
        backend = self._node_backend(handle.room.node_id)
        await backend.update_subscription(handle, add=add, remove=remove)

    async def configure_subscription(self, handle: MediaHandle, streams: Sequence[Any]) -> None:
        """Passes the stream settings on to the node the handle is on."""
        await self._node_backend(handle.room.node_id).configure_subscription(handle, streams)

    async def start_subscription(self, handle: MediaHandle, answer: SessionDescription) -> None:
        await self._node_backend(handle.room.node_id).start_subscription(handle, answer)

    async def restart_subscription(self, handle: MediaHandle) -> None:
        await self._node_backend(handle.room.node_id).restart_subscription(handle)

    async def trickle(self, handle: MediaHandle, candidate: IceCandidate | None) -> None:
        await self._node_backend(handle.room.node_id).trickle(handle, candidate)

    async def leave(self, handle: MediaHandle) -> None:
        """Closes the handle; one whose node is gone is closed already."""
        link = self._links.get(handle.room.node_id)
        if link is not None and link.backend is not None:
            await link.backend.leave(handle)

    # --- per node -------------------------------------------------------------------------

    @staticmethod
    def _stale(link: _Link) -> set[str]:
        if link.stale_rooms is None:
            link.stale_rooms = set()
        return link.stale_rooms

    async def _run_node(self, link: _Link) -> None:
        """Keeps a session with the node: connect, serve until lost, connect again."""
        delay = self._reconnect_initial
        failures = 0
        while not self._closing:
            try:
                backend = await self._connect(link.node)
            except SfuError as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                logger.log(level, "SFU node %s does not answer (%s)", link.node.node_id, exc.detail)
                await self._sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            was_up = False
            try:
                was_up = await self._serve_node(link, backend)
            finally:
                if link.backend is backend:
                    link.backend = None
                    if not self._closing:
                        self._lose(link)
                if self._closing:
                    await self._close_quietly(backend)
                else:
                    self._in_background(self._close_quietly(backend))
            if was_up:
                delay, failures = self._reconnect_initial, 0
            else:  # it answers but is not healthy: back off as if it did not answer
                await self._sleep(delay)
                delay = min(delay * 2, self._reconnect_max)

    async def _serve_node(self, link: _Link, backend: SfuBackend) -> bool:
        """Serves the node until it is lost; false if it never became healthy."""
        events = backend.events()
        try:
            health = await backend.health()
            await self._clean_stale(link, backend)
        except SfuError as exc:
            logger.warning("SFU node %s is not healthy (%s)", link.node.node_id, exc.detail)
            return False
        link.backend = backend
        link.version = health.version
        node_id = link.node.node_id
        self._placement.report_load(node_id, rooms=health.rooms, participants=health.participants)
        moves = self._placement.node_up(node_id)
        logger.info("SFU node %s is up (Janus %s)", node_id, health.version)
        self._hub.emit(NodeUp(link.node, health.version))
        self._any_up.set()
        self._start_moves(moves)
        pump = asyncio.create_task(self._pump(events), name=f"sfu {node_id} events")
        watch = asyncio.create_task(self._watch(link, backend), name=f"sfu {node_id} health")
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return True

    async def _pump(self, events: AsyncIterator[SfuEvent]) -> None:
        async for event in events:
            if isinstance(event, NodeLost):
                return
            self._hub.emit(event)

    async def _watch(self, link: _Link, backend: SfuBackend) -> None:
        failures = 0
        node_id = link.node.node_id
        while True:
            # After a failure, ask again soon: a frozen node is lost within about
            # health_interval + health_failures x health_timeout.
            await self._sleep(self._health_interval if failures == 0 else _RETRY_HEALTH_S)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the call completes, and this loop would never end.
                async with asyncio.timeout(self._health_timeout):
                    health = await backend.health()
            except (SfuError, TimeoutError) as exc:
                failures += 1
                detail = exc.detail if isinstance(exc, SfuError) else "timed out"
                logger.warning("SFU node %s failed a health check (%s)", node_id, detail)
                if failures >= self._health_failures:
                    return
                continue
            failures = 0
            self._placement.report_load(
                node_id, rooms=health.rooms, participants=health.participants
            )

    def _lose(self, link: _Link) -> None:
        node_id = link.node.node_id
        before = [
            p
            for p in self._placement.rooms()
            if p.node_id == node_id and p.state in (RoomState.PLACED, RoomState.MOVING)
        ]
        self._stale(link).update(p.room_id for p in before if p.state is RoomState.PLACED)
        moves = self._placement.node_lost(node_id)
        logger.warning("SFU node %s was lost; moving its %d rooms", node_id, len(before))
        self._hub.emit(NodeDown(link.node, len(before)))
        moving = {move.room_id for move in moves}
        for placement in before:
            if placement.room_id not in moving:
                self._strand(placement.room_id)
        self._start_moves(moves)

    def _strand(self, room_id: str) -> None:
        placement = self._placement.where(room_id)
        if placement is None or placement.state is not RoomState.STRANDED:
            return
        assert placement.lost_from is not None
        logger.warning("room %s has no SFU node to go to yet", room_id)
        self._hub.emit(RoomStranded(room_id, placement.lost_from))
        self._settle(room_id, SfuUnavailable(detail=f"no node can take room {room_id} yet"))

    async def _clean_stale(self, link: _Link, backend: SfuBackend) -> None:
        """Destroys rooms Salon lost with this node that are not placed on it now."""
        stale = self._stale(link)
        for room_id in sorted(stale):
            placement = self._placement.where(room_id)
            if placement is not None and placement.node_id == link.node.node_id:
                continue
            with contextlib.suppress(SfuRoomNotFound):
                await backend.destroy_room(SfuRoom(link.node.node_id, room_id))
            stale.discard(room_id)

    async def _create_on(self, link: _Link, backend: SfuBackend, spec: RoomSpec) -> SfuRoom:
        try:
            return await backend.create_room(spec)
        except SfuRefused as exc:
            # A room Salon lost with this node and that survived there: make it anew.
            if exc.reason is not SfuRefusal.ROOM_EXISTS or spec.room_id not in self._stale(link):
                raise
        await backend.destroy_room(SfuRoom(link.node.node_id, spec.room_id))
        self._stale(link).discard(spec.room_id)
        return await backend.create_room(spec)

    # --- moves ----------------------------------------------------------------------------

    def _start_moves(self, moves: Iterable[Move]) -> None:
        for move in moves:
            self._in_background(self._move(move))

    async def _move(self, first: Move) -> None:
        assert self._moves is not None
        move: Move | None = first
        while move is not None and not self._closing:
            spec = self._specs.get(move.room_id)
            if spec is None:
                return
            link = self._links[move.to_node]
            backend = link.backend
            try:
                if backend is None:
                    raise SfuUnavailable(detail=f"node {move.to_node} is down")
                async with self._moves:
                    room = await self._create_on(link, backend, spec)
            except SfuError as exc:
                logger.warning(
                    "could not move room %s to %s (%s)", move.room_id, move.to_node, exc.detail
                )
                move = self._placement.move_failed(move.room_id, move.to_node)
                if move is None:
                    self._strand(first.room_id)
                    self._stay(first)
                continue
            if link.backend is not backend or not self._placement.moved(move.room_id, move.to_node):
                # Destroyed, or sent elsewhere, while it was being made: undo.
                with contextlib.suppress(SfuError):
                    await backend.destroy_room(room)
                return
            logger.info("room %s moved from %s to %s", move.room_id, move.from_node, move.to_node)
            self._hub.emit(RoomMoved(move.room_id, move.from_node, move.to_node))
            self._settle(move.room_id)
            await self._destroy_left_behind(move)
            return

    def _stay(self, move: Move) -> None:
        """An evacuated room that could not move stays where it was: callers wake to it."""
        room = self.where(move.room_id)
        if room is not None and room.node_id == move.from_node:
            self._stale(self._links[move.from_node]).discard(move.room_id)
            self._settle(move.room_id)

    async def _destroy_left_behind(self, move: Move) -> None:
        """Destroys the room a move left on a node that is up (an evacuation): that ends its
        clients' old connections there, and the node is empty once its rooms have moved."""
        old = self._links.get(move.from_node)
        if old is None or old.backend is None or move.room_id not in self._stale(old):
            return  # a lost node: cleaned when it is back, if it kept the room
        try:
            await old.backend.destroy_room(SfuRoom(move.from_node, move.room_id))
        except SfuRoomNotFound:
            pass
        except SfuError as exc:
            logger.info(
                "room %s stays on %s for now (%s)", move.room_id, move.from_node, exc.detail
            )
            return
        self._stale(old).discard(move.room_id)

    def _settle(self, room_id: str, failure: SfuError | None = None) -> None:
        """Wakes ``ensure_room`` callers waiting for ``room_id``."""
        waiters = self._waiters.pop(room_id, [])
        room = self.where(room_id)
        for waiter in waiters:
            if waiter.done():
                continue
            if room is not None:
                waiter.set_result(room)
            else:
                waiter.set_exception(failure or SfuUnavailable(detail=f"room {room_id} is gone"))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _close_quietly(backend: SfuBackend) -> None:
        with contextlib.suppress(SfuError):
            await backend.close()


def pool_from_settings(settings: JanusSettings, credentials: JanusCredentials) -> SfuPool:
    """The pool of ``settings``: the external nodes, or none yet in the embedded mode (the
    node ``salon serve`` starts is added once it runs)."""
    nodes = [SfuNode(n.node_id, n.url, n.region) for n in settings.nodes]
    return SfuPool(JanusConnector(credentials), nodes)


if TYPE_CHECKING:

    def _implements_protocol(pool: SfuPool) -> SfuBackend:
        return pool
