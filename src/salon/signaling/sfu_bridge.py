"""Group rooms' media: Salon's signaling on one side, an ``SfuBackend`` on the other.

Browsers in a group room never speak the SFU's API. They send ``sfu_publish``,
``sfu_subscribe``, ``sfu_answer``, ``sfu_candidate``, ``sfu_unpublish``, ``sfu_restart_ice`` and
``sfu_view`` to Salon (docs/signaling.md, "Group rooms (SFU)"); the signaling shell checks with
the room engine that they may (viewers never publish), and hands the request to this bridge,
which makes the SFU calls and answers. The bridge in turn relays what the SFU says: a
renegotiated subscription (``sfu_offer``), who is talking (``active_speaker``), and a room that
is gone from its node (``sfu_reset``: publish and subscribe again).

Per live group room the bridge keeps an ``_RoomMedia``: the room on the SFU (created at the
first join, ``max_publishers`` = the room's people capacity), and per participant a publish
grant (made at the first ``sfu_publish``, so a viewer never has one), a publisher handle and a
subscriber handle. Each participant subscribes to every stream the others publish; as
``FeedsPublished`` events arrive, subscriptions grow (``update_subscription``), and the SFU's
new offer reaches the browser as ``sfu_offer``.

ICE restarts. TURN credentials are short-lived: the browser gets fresh ICE servers before its
old ones expire, and must gather new relay candidates on them. Its publisher does that on its
own, with a new offer (``sfu_publish``, a renegotiation); its subscriber cannot, since the SFU
makes the subscriber's offers, so it asks with ``sfu_restart_ice``. The SFU's restart offer
carries the same streams on the same m-lines as its previous one (``SubscriptionRestarted``) and
goes to the browser as an ordinary ``sfu_offer``; one held back by the SFU until its previous
offer is answered comes as a ``SubscriptionOffer`` like any other. Both connections stay up
throughout: media keeps flowing on the current ICE pair until the new one is chosen.

Simulcast layers. ``sfu_view`` says how large the browser draws each stream it receives and
how its receiving path fares. Each subscriber has a ``LayerPolicy`` (``salon.media.layers``,
sans-I/O) that turns the latest view into a layer (or a pause) per video m-line; the bridge
calls ``configure_subscription`` only for the m-lines whose choice differs from what the SFU
was last told, runs the policy again whenever the subscription's streams change, and once more
when the policy says a hold ends (``LayerPlan.wake_at``). An m-line the SFU reuses for another
stream starts again from the SFU's default (the high layer, not paused).

Ordering. Every SFU call of a room runs on that room's own queue, one at a time, in the order
the room decided them (the shell submits while it holds the room's lock, and submitting only
appends), and so do the SFU events about that room. Nothing here holds the room's lock while it
waits for the SFU: other rooms, and the room's other decisions, carry on meanwhile. A request's
acknowledgement is posted from the queue too, so a participant sees the answer to its
``sfu_subscribe`` before any ``sfu_offer`` that follows it.

Node failure. A pool (``salon.janus.pool``) makes a lost node's rooms again on another node and
says so with ``RoomMoved``; a single node's backend says ``NodeLost``; an SFU call may find the
room gone (``SfuRoomNotFound``). Each drops the room's SFU state, without calling the lost
node, and tells everyone ``sfu_reset``: their clients publish and subscribe again, in the room
where it is now (or made anew). ``RoomStranded`` (no node can take it yet) drops the state
quietly: the ``RoomMoved`` that follows tells everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, runtime_checkable

from salon.errors import (
    Forbidden,
    InvalidInput,
    SalonError,
    SfuError,
    SfuRefusal,
    SfuRefused,
    SfuRoomNotFound,
    SfuUnavailable,
)
from salon.janus.pool import RoomMoved, RoomStranded
from salon.media.layers import (
    DEFAULT_CHOICE,
    FeedView,
    LayerChoice,
    LayerPolicy,
    LayerRules,
    NetworkFacts,
    Tile,
)
from salon.media.sfu import (
    FeedKind,
    FeedSelection,
    FeedsPublished,
    FeedsUnpublished,
    IceCandidate,
    MediaHandle,
    NodeLost,
    PeerConnectionDown,
    PeerConnectionUp,
    PublishedFeed,
    PublisherLeft,
    PublishGrant,
    RoomDestroyed,
    RoomSpec,
    SdpType,
    SessionDescription,
    SfuBackend,
    SfuEvent,
    SfuRoom,
    StreamSetting,
    SubscribedStream,
    SubscriptionOffer,
    SubscriptionRestarted,
    TalkingChanged,
)
from salon.rooms.engine import CAPACITY, NotInRoom
from salon.signaling.schema import (
    SfuAnswerMessage,
    SfuCandidateMessage,
    SfuMessage,
    SfuPublishMessage,
    SfuRestartIceMessage,
    SfuSubscribeMessage,
    SfuUnpublishMessage,
    SfuViewMessage,
)

__all__ = ["Post", "RoomRef", "SfuBridge", "sfu_participant_id"]

log = logging.getLogger("salon.signaling.sfu")

# Salon's participant ids may start with '-' or '_'; the SFU's must start with a letter or
# digit. Every id crosses the boundary with this prefix, and comes back without it.
_PREFIX = "p."


def sfu_participant_id(participant_id: str) -> str:
    """The id a Salon participant has on the SFU."""
    return _PREFIX + participant_id


def _salon_id(sfu_id: str) -> str | None:
    return sfu_id[len(_PREFIX) :] if sfu_id.startswith(_PREFIX) else None


@dataclass(frozen=True, slots=True)
class RoomRef:
    """A live room as the shell names it; ``meeting_id`` is also the room's id on the SFU."""

    room_name: str
    meeting_id: str


class Post(Protocol):
    """Posts a server event to one participant of a room (``to``), or to all (``to=None``).
    Never waits: it only queues the message, in order, like the shell's own sends."""

    def __call__(self, room: RoomRef, to: str | None, event: str, data: dict[str, Any]) -> None:
        """Queues ``event`` for ``to`` (everyone in the room when None)."""
        ...


Answer = Callable[[dict[str, Any]], None]


@runtime_checkable
class _Pool(Protocol):
    """A backend over several nodes that places rooms itself (``salon.janus.pool.SfuPool``)."""

    async def ensure_room(self, spec: RoomSpec) -> SfuRoom:
        """The room, placed if it was not; waits while it is being made or moved."""
        ...

    def listen(self) -> AsyncIterator[object]:
        """The SFU's events and the pool's own (``RoomMoved``, ``RoomStranded`` …)."""
        ...


@dataclass(frozen=True, slots=True)
class _View:
    """A subscriber's latest ``sfu_view``: its tiles by (participant id, kind), its network."""

    tiles: dict[tuple[str, str], Tile]
    network: NetworkFacts


@dataclass(slots=True)
class _Member:
    """One participant's media on the SFU."""

    may_publish: bool
    grant: PublishGrant | None = None
    publisher: MediaHandle | None = None
    # The DTLS fingerprint in the publisher's offer: which peer connection it is.
    publisher_fingerprint: str | None = None
    subscriber: MediaHandle | None = None
    # Asked to receive (sfu_subscribe) even while nobody publishes yet.
    wants_streams: bool = False
    # (publisher id, mid) of every stream in the subscription, asked for or received.
    receiving: set[tuple[str, str]] = field(default_factory=set)
    # The subscriber offer the browser has not answered yet (sent again after a resume).
    unanswered: dict[str, Any] | None = None
    # What each m-line of the subscription carries now (from the SFU's latest offer).
    streams: dict[str, SubscribedStream] = field(default_factory=dict)
    # Simulcast layers: the latest view, the policy that reads it, what the SFU was told per
    # m-line (absent: the SFU's default), and the timer that asks the policy again.
    view: _View | None = None
    layers: LayerPolicy[str] = field(default_factory=LayerPolicy)
    applied: dict[str, LayerChoice] = field(default_factory=dict)
    wake: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _RoomMedia:
    """A group room's media: its room on the SFU, its members, and its queue of work."""

    ref: RoomRef
    room: SfuRoom | None = None
    members: dict[str, _Member] = field(default_factory=dict)
    # What each participant publishes now, as the SFU reported it.
    feeds: dict[str, tuple[PublishedFeed, ...]] = field(default_factory=dict)
    work: deque[Callable[[], Awaitable[None]]] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None
    # A room the shell dropped: the SFU room is destroyed once the work before it is done.
    closed: bool = False


def _unavailable() -> SfuUnavailable:
    return SfuUnavailable("Group rooms need the media server, which is off.")


_INTERNAL_ERROR = {
    "ok": False,
    "error": {"code": "internal_error", "message": "Something went wrong on the server."},
}


def _error(exc: SalonError) -> dict[str, Any]:
    return {"ok": False, "error": {"code": exc.signal_code, "message": exc.message}}


_FINGERPRINT = re.compile(r"^a=fingerprint:(\S+ \S+)", re.MULTILINE)


def _fingerprint(sdp: str) -> str | None:
    """The first DTLS fingerprint an SDP announces: it names the peer connection."""
    found = _FINGERPRINT.search(sdp)
    return found[1].lower() if found else None


def _description(description: SessionDescription) -> dict[str, str]:
    return {"type": description.type.value, "sdp": description.sdp}


def _streams(streams: tuple[SubscribedStream, ...]) -> list[dict[str, str]]:
    return [
        {"mid": s.mid, "participantId": pid, "kind": s.kind.value}
        for s in streams
        if (pid := _salon_id(s.publisher_id)) is not None
    ]


class SfuBridge:
    """Drives one ``SfuBackend`` for every live group room of this signaling node.

    The shell calls ``joined``, ``resumed``, ``left``, ``closed`` and ``request`` while it holds
    the room's lock; they only queue work. ``sfu`` None means no SFU is configured: every
    request is answered ``sfu_unavailable``.
    """

    def __init__(
        self,
        sfu: SfuBackend | None,
        post: Post,
        *,
        max_publishers: int = CAPACITY["group"].people,
        layer_rules: LayerRules | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sfu = sfu
        self._post = post
        self._max_publishers = max_publishers
        self._layer_rules = layer_rules or LayerRules()
        # Seconds, for the layer policy's holds (any monotonic clock).
        self._clock = clock
        self._rooms: dict[str, _RoomMedia] = {}
        self._events: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def sfu(self) -> SfuBackend | None:
        return self._sfu

    def use(self, sfu: SfuBackend) -> None:
        """Drives group rooms through ``sfu`` from now on (rooms made before stay where they
        are until they reset)."""
        self._sfu = sfu
        if self._events is not None:
            self._events.cancel()
            self._events = None

    # --- what the shell tells the bridge (under the room's lock; nothing waits) -----------

    def joined(self, ref: RoomRef, participant_id: str, *, may_publish: bool) -> None:
        """A participant joined a group room: make the SFU room if it is the first."""
        media = self._media(ref, create=True)
        if media is not None:
            self._submit(media, lambda: self._join(media, participant_id, may_publish))

    def resumed(self, ref: RoomRef, participant_id: str) -> None:
        """A participant is back after a signaling drop: send the offer it may have missed."""
        media = self._media(ref)
        if media is not None:
            self._submit(media, lambda: self._resend_offer(media, participant_id))

    def left(self, ref: RoomRef, participant_id: str) -> None:
        """A participant is gone for good (left, removed, grace over, meeting ended)."""
        media = self._media(ref)
        if media is not None:
            self._submit(media, lambda: self._leave(media, participant_id))

    def closed(self, ref: RoomRef) -> None:
        """The shell dropped the room (idle): destroy it on the SFU."""
        media = self._media(ref)
        if media is not None:
            media.closed = True
            self._submit(media, lambda: self._destroy(media))

    def request(
        self,
        ref: RoomRef,
        participant_id: str,
        message: SfuMessage,
        answer: Answer,
    ) -> asyncio.Future[None]:
        """Carries out one client request the room allowed; ``answer`` gets the ack payload.

        The future completes once it has been answered.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        media = self._media(ref)
        if self._sfu is None or media is None:
            answer(_error(_unavailable() if self._sfu is None else NotInRoom()))
            done.set_result(None)
            return done

        async def run() -> None:
            try:
                answer(await self._carry_out(media, participant_id, message))
            except SfuRoomNotFound as exc:
                answer(_error(exc))
                self._lose_now(media, "the room is gone from its media server")
            except SalonError as exc:
                answer(_error(exc))
            except Exception as exc:
                log.error("an SFU request failed: %s", type(exc).__name__)
                answer(_INTERNAL_ERROR)
            finally:
                if not done.done():
                    done.set_result(None)

        self._submit(media, run)
        return done

    def lost(self, room_id: str, now_in: SfuRoom | None = None) -> None:
        """The SFU room with this id is gone (or, ``now_in`` given, was made again there):
        forget what was in it and have its participants publish and subscribe again."""
        media = self._rooms.get(room_id)
        if media is not None:
            self._submit(media, partial(self._lose, media, "the room moved", now_in))

    async def close(self) -> None:
        """Stops the bridge's tasks (the server is stopping); SFU rooms are left as they are."""
        self._closing = True
        for media in self._rooms.values():
            for member in media.members.values():
                _stop_waking(member)
        tasks = [m.worker for m in self._rooms.values() if m.worker is not None]
        if self._events is not None:
            tasks.append(self._events)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._rooms.clear()

    # --- queues ---------------------------------------------------------------------------

    def _media(self, ref: RoomRef, *, create: bool = False) -> _RoomMedia | None:
        media = self._rooms.get(ref.meeting_id)
        if media is None and create and not self._closing:
            media = self._rooms[ref.meeting_id] = _RoomMedia(ref)
        elif media is not None and media.closed and create:
            # Reopened (someone joined) while its destruction waits: the destruction is called
            # off, and the room on the SFU stays.
            media.closed = False
        return media

    def _submit(self, media: _RoomMedia, job: Callable[[], Awaitable[None]]) -> None:
        media.work.append(job)
        if media.worker is None or media.worker.done():
            media.worker = asyncio.create_task(self._drain(media))
        self._listen()

    async def _drain(self, media: _RoomMedia) -> None:
        while media.work:
            job = media.work.popleft()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except SfuRoomNotFound:
                self._lose_now(media, "the room is gone from its media server")
            except Exception as exc:
                # A job's own answers say what went wrong; this is for the ones that answer
                # nobody (a join, a leave, an SFU event).
                log.warning(
                    "SFU work for room %s failed: %s %s",
                    media.ref.meeting_id,
                    type(exc).__name__,
                    getattr(exc, "detail", ""),
                )
        if media.closed and not media.members and self._rooms.get(media.ref.meeting_id) is media:
            del self._rooms[media.ref.meeting_id]

    # --- events from the SFU --------------------------------------------------------------

    def _listen(self) -> None:
        """Listens to the SFU's events, if nothing listens now (the stream ends after a
        ``NodeLost``; the next piece of work listens again)."""
        if self._sfu is None or self._closing:
            return
        if self._events is None or self._events.done():
            self._events = asyncio.create_task(self._pump(self._sfu))

    async def _pump(self, sfu: SfuBackend) -> None:
        # A pool's listen() adds its own events (RoomMoved …) to the SfuBackend stream.
        stream = sfu.listen() if isinstance(sfu, _Pool) else sfu.events()
        try:
            async for event in stream:
                self._route(event)
        except SfuError as exc:
            log.warning("the SFU's event stream failed: %s", type(exc).__name__)

    def _route(self, event: object) -> None:
        match event:
            case NodeLost(node_id=node_id):
                # One node's backend: every room it had is gone with its session.
                for lost in list(self._rooms.values()):
                    if lost.room is not None and lost.room.node_id == node_id:
                        self._submit(lost, partial(self._lose, lost, "its node was lost"))
            case RoomMoved(room_id=room_id):
                self.lost(room_id, event.room)
            case RoomStranded(room_id=room_id):
                # No node can take it yet: calls fail until a RoomMoved says where it is.
                media = self._rooms.get(room_id)
                if media is not None:
                    self._submit(media, partial(self._lose, media, "no node has it", None, False))
            case _ if isinstance(event, SfuEvent):
                room = _room_of(event)
                media = None if room is None else self._rooms.get(room.room_id)
                if media is not None:
                    self._submit(media, partial(self._on_event, media, event))
            case _:
                pass  # a pool's news about its nodes

    async def _on_event(self, media: _RoomMedia, event: SfuEvent) -> None:
        # Only Salon destroys its rooms (only it has their secrets), and a node that restarts
        # is a NodeLost: a RoomDestroyed is the echo of Salon's own destroy_room, and may
        # arrive after the room was made again with the same id. Nothing to do for it.
        if media.room is None or _room_of(event) != media.room or isinstance(event, RoomDestroyed):
            return
        match event:
            case FeedsPublished(participant_id=sfu_id, feeds=feeds):
                pid = _salon_id(sfu_id)
                if pid is not None and pid in media.members:
                    await self._published(media, pid, feeds)
            case FeedsUnpublished(participant_id=sfu_id) | PublisherLeft(participant_id=sfu_id):
                pid = _salon_id(sfu_id)
                if pid is not None:
                    # The SFU takes the streams out of every subscription itself (and offers
                    # anew); only Salon's record of them changes here.
                    media.feeds.pop(pid, None)
                    for member in media.members.values():
                        member.receiving = {r for r in member.receiving if r[0] != pid}
            case SubscriptionOffer(handle=handle, offer=offer, streams=streams):
                pid = _salon_id(handle.participant_id)
                subscriber = media.members.get(pid) if pid is not None else None
                if pid is not None and subscriber is not None and subscriber.subscriber == handle:
                    self._offer(media, pid, subscriber, offer, streams)
                    await self._layers_quietly(media, pid, subscriber)
            case SubscriptionRestarted(handle=handle, offer=offer):
                pid = _salon_id(handle.participant_id)
                subscriber = media.members.get(pid) if pid is not None else None
                if pid is not None and subscriber is not None and subscriber.subscriber == handle:
                    # The m-lines carry what they carried: the layers the SFU was told hold.
                    same = tuple(subscriber.streams.values())
                    self._offer(media, pid, subscriber, offer, same)
            case TalkingChanged(participant_id=sfu_id, talking=True):
                pid = _salon_id(sfu_id)
                if pid is not None and pid in media.members:
                    self._post(media.ref, None, "active_speaker", {"participantId": pid})
            case PeerConnectionDown(handle=handle, reason=reason):
                log.debug("SFU peer connection down (%s, %s)", handle.role.value, reason)
            case _:
                pass

    # --- the work -------------------------------------------------------------------------

    def _backend(self) -> SfuBackend:
        if self._sfu is None:
            raise _unavailable()
        return self._sfu

    async def _room(self, media: _RoomMedia) -> SfuRoom:
        """The room on the SFU, made now if it does not exist yet."""
        if media.room is not None:
            return media.room
        sfu = self._backend()
        spec = RoomSpec(media.ref.meeting_id, max_publishers=self._max_publishers)
        if isinstance(sfu, _Pool):
            # The pool places the room (or finds where it is, or waits while it moves).
            media.room = await sfu.ensure_room(spec)
            return media.room
        try:
            room = await sfu.create_room(spec)
        except SfuRefused as exc:
            if exc.reason is not SfuRefusal.ROOM_EXISTS:
                raise
            # Left over from before a restart of Salon: nobody in it is ours any more.
            await sfu.destroy_room(SfuRoom(sfu.node.node_id, spec.room_id))
            room = await sfu.create_room(spec)
        media.room = room
        return room

    def _new_member(self, may_publish: bool) -> _Member:
        return _Member(may_publish, layers=LayerPolicy(self._layer_rules))

    async def _join(self, media: _RoomMedia, pid: str, may_publish: bool) -> None:
        if pid not in media.members:
            media.members[pid] = self._new_member(may_publish)
        media.closed = False
        if self._sfu is not None:
            await self._room(media)

    def _member(self, media: _RoomMedia, pid: str) -> _Member:
        member = media.members.get(pid)
        if member is None:
            raise NotInRoom
        return member

    async def _carry_out(self, media: _RoomMedia, pid: str, message: SfuMessage) -> dict[str, Any]:
        member = self._member(media, pid)
        sfu = self._backend()
        match message:
            case SfuPublishMessage():
                return await self._publish(media, pid, member, message)
            case SfuSubscribeMessage():
                return await self._subscribe(media, pid, member)
            case SfuAnswerMessage(description=description):
                if member.subscriber is None:
                    raise InvalidInput.one("sfu_answer", "there is no subscription to answer")
                answer = SessionDescription(SdpType.ANSWER, description.sdp)
                await sfu.start_subscription(member.subscriber, answer)
                member.unanswered = None
                return {"ok": True}
            case SfuCandidateMessage(target=target, candidate=candidate):
                handle = member.publisher if target == "publisher" else member.subscriber
                if handle is None:
                    raise InvalidInput.one("target", f"there is no {target} connection yet")
                ice = None
                if candidate is not None and candidate.candidate:
                    ice = IceCandidate(
                        candidate.candidate.removeprefix("a="),
                        candidate.sdpMid,
                        candidate.sdpMLineIndex,
                    )
                await sfu.trickle(handle, ice)
                return {"ok": True}
            case SfuRestartIceMessage():
                if member.subscriber is None:
                    raise InvalidInput.one("sfu_restart_ice", "there is no subscription to restart")
                # The offer follows as sfu_offer (an event: the SFU may hold it back).
                await sfu.restart_subscription(member.subscriber)
                return {"ok": True}
            case SfuUnpublishMessage():
                # Leaving the SFU room stops the streams everywhere; the grant stays, so the
                # next sfu_publish (from a new peer connection, say) joins afresh.
                if member.publisher is not None:
                    handle, member.publisher = member.publisher, None
                    await sfu.leave(handle)
                return {"ok": True}
            case SfuViewMessage():
                member.view = _View(
                    {
                        (t.participantId, t.kind): Tile(t.width, t.height, t.visible)
                        for t in message.tiles
                    },
                    NetworkFacts(message.bandwidth, message.loss),
                )
                await self._apply_layers(media, pid, member)
                return {"ok": True, "layers": self._layers_of(media, member)}

    async def _publish(
        self, media: _RoomMedia, pid: str, member: _Member, message: SfuPublishMessage
    ) -> dict[str, Any]:
        if not member.may_publish:
            # The room engine refuses first; this is the second lock on the same door.
            raise Forbidden(
                "Viewers can watch and listen but cannot send audio, video or a screen."
            )
        sfu = self._backend()
        offer = SessionDescription(SdpType.OFFER, message.description.sdp)
        kinds = (
            None
            if message.kinds is None
            else {mid: FeedKind(kind) for mid, kind in message.kinds.items()}
        )
        fingerprint = _fingerprint(offer.sdp)
        if member.publisher is not None and fingerprint != member.publisher_fingerprint:
            # An offer from another peer connection (the browser started over, and its
            # sfu_unpublish was lost or raced a reset): the old one cannot be renegotiated.
            old, member.publisher = member.publisher, None
            await sfu.leave(old)
        if member.publisher is not None:
            answer = await sfu.renegotiate(member.publisher, offer, kinds=kinds)
        else:
            room = await self._room(media)
            if member.grant is None:
                member.grant = await sfu.allow_publisher(room, sfu_participant_id(pid))
            publication = await sfu.publish(member.grant, offer, kinds=kinds)
            member.publisher = publication.handle
            member.publisher_fingerprint = fingerprint
            answer = publication.answer
        return {"ok": True, "description": _description(answer)}

    def _available(self, media: _RoomMedia, pid: str) -> list[tuple[str, str]]:
        """(publisher, mid) of every stream published by someone other than ``pid``."""
        return [
            (publisher, feed.mid)
            for publisher, feeds in media.feeds.items()
            if publisher != pid
            for feed in feeds
        ]

    async def _subscribe(self, media: _RoomMedia, pid: str, member: _Member) -> dict[str, Any]:
        sfu = self._backend()
        if member.subscriber is not None:
            # A new subscription replaces the old one (the browser made a new connection).
            old, member.subscriber = member.subscriber, None
            member.receiving = set()
            member.unanswered = None
            self._forget_layers(member)
            await sfu.leave(old)
        member.wants_streams = True
        await self._room(media)
        offered = await self._start_subscription(media, pid, member)
        if offered is None:
            # Nobody publishes yet: the offer comes as sfu_offer when someone does.
            return {"ok": True, "description": None, "streams": []}
        # A view sent for the subscription this one replaces holds for it too.
        await self._layers_quietly(media, pid, member)
        return {"ok": True, **offered}

    async def _start_subscription(
        self, media: _RoomMedia, pid: str, member: _Member
    ) -> dict[str, Any] | None:
        """Subscribes ``pid`` to everything the others publish; the offer, or None when there
        is nothing to receive."""
        sfu = self._backend()
        room = await self._room(media)
        wanted = self._available(media, pid)
        for attempt in range(2):
            if not wanted:
                return None
            selections = [FeedSelection(sfu_participant_id(p), mid) for p, mid in wanted]
            try:
                subscription = await sfu.subscribe(room, sfu_participant_id(pid), selections)
                break
            except SfuRefused as exc:
                if exc.reason is not SfuRefusal.NO_SUCH_FEED or attempt:
                    raise
                # A publisher left a moment ago (its event is still on the way): ask the SFU
                # who publishes now.
                publishing = {
                    _salon_id(p.participant_id)
                    for p in await sfu.participants(room)
                    if p.publishing
                }
                wanted = [(p, mid) for p, mid in wanted if p in publishing]
        member.subscriber = subscription.handle
        member.receiving = set(wanted)
        self._forget_layers(member)
        member.streams = {s.mid: s for s in subscription.streams}
        offered = {
            "description": _description(subscription.offer),
            "streams": _streams(subscription.streams),
        }
        member.unanswered = offered
        return offered

    async def _published(
        self, media: _RoomMedia, publisher: str, feeds: tuple[PublishedFeed, ...]
    ) -> None:
        """``publisher``'s streams are live (or changed): everyone else receives them."""
        gone = {f.mid for f in media.feeds.get(publisher, ())} - {f.mid for f in feeds}
        media.feeds[publisher] = feeds
        for member in media.members.values():
            # The SFU drops streams that went away from subscriptions itself.
            member.receiving -= {(publisher, mid) for mid in gone}
        sfu = self._backend()
        for pid, member in list(media.members.items()):
            if pid == publisher or not member.wants_streams:
                continue
            try:
                if member.subscriber is None:
                    offered = await self._start_subscription(media, pid, member)
                    if offered is not None:
                        self._post(media.ref, pid, "sfu_offer", offered)
                        await self._layers_quietly(media, pid, member)
                    continue
                new = [
                    (publisher, feed.mid)
                    for feed in feeds
                    if (publisher, feed.mid) not in member.receiving
                ]
                if new:
                    member.receiving.update(new)
                    # The SFU's new offer comes back as a SubscriptionOffer event.
                    await sfu.update_subscription(
                        member.subscriber,
                        add=[FeedSelection(sfu_participant_id(p), mid) for p, mid in new],
                    )
            except SfuRoomNotFound:
                raise
            except SfuError as exc:
                # One subscriber's trouble must not keep the others from the new streams.
                log.warning("could not add streams to a subscription: %s", exc.code)

    def _offer(
        self,
        media: _RoomMedia,
        pid: str,
        member: _Member,
        offer: SessionDescription,
        streams: tuple[SubscribedStream, ...],
    ) -> None:
        offered = {"description": _description(offer), "streams": _streams(streams)}
        member.unanswered = offered
        self._post(media.ref, pid, "sfu_offer", offered)
        # An m-line that now carries another stream (or none) is back to the SFU's default.
        now = {stream.mid: stream for stream in streams}
        for mid, before in member.streams.items():
            after = now.get(mid)
            if after is None or (after.publisher_id, after.feed_mid) != (
                before.publisher_id,
                before.feed_mid,
            ):
                member.applied.pop(mid, None)
                member.layers.forget(mid)
        member.streams = now

    # --- simulcast layers -----------------------------------------------------------------

    def _forget_layers(self, member: _Member) -> None:
        """A new subscription (or none): the SFU holds no choices for it yet. The view stays:
        it describes the browser's tiles, not a connection."""
        _stop_waking(member)
        member.streams = {}
        member.applied = {}
        member.layers = LayerPolicy(self._layer_rules)

    async def _apply_layers(self, media: _RoomMedia, pid: str, member: _Member) -> None:
        """Runs ``pid``'s layer policy on its latest view and tells the SFU what changed."""
        view, handle = member.view, member.subscriber
        if view is None or handle is None:
            return
        feeds: dict[str, FeedView] = {}
        for mid, stream in member.streams.items():
            publisher = _salon_id(stream.publisher_id)
            if stream.kind is FeedKind.AUDIO or publisher is None:
                continue
            simulcast = any(
                f.mid == stream.feed_mid and f.simulcast for f in media.feeds.get(publisher, ())
            )
            tile = view.tiles.get((publisher, stream.kind.value))
            feeds[mid] = FeedView(tile, simulcast=simulcast)
        now = self._clock()
        plan = member.layers.decide(feeds, view.network, now=now)
        settings = []
        for mid, choice in plan.choices.items():
            before = member.applied.get(mid, DEFAULT_CHOICE)
            layer = choice.layer if feeds[mid].simulcast and choice.layer != before.layer else None
            paused = choice.paused if choice.paused != before.paused else None
            if layer is not None or paused is not None:
                settings.append(StreamSetting(mid, layer, paused))
        _stop_waking(member)
        if plan.wake_at is not None and not self._closing:
            delay = max(0.0, plan.wake_at - now)
            member.wake = asyncio.get_running_loop().call_later(
                delay, lambda: self._submit(media, partial(self._rethink_layers, media, pid))
            )
        if settings:
            await self._backend().configure_subscription(handle, settings)
            for setting in settings:
                member.applied[setting.mid] = plan.choices[setting.mid]

    async def _layers_quietly(self, media: _RoomMedia, pid: str, member: _Member) -> None:
        """``_apply_layers`` where a failure must not fail what called it (a subscription
        that changed): the next view tries again."""
        try:
            await self._apply_layers(media, pid, member)
        except SfuRoomNotFound:
            raise
        except SfuError as exc:
            log.info("could not set a subscriber's layers: %s", exc.code)

    async def _rethink_layers(self, media: _RoomMedia, pid: str) -> None:
        member = media.members.get(pid)
        if member is not None:
            member.wake = None
            await self._layers_quietly(media, pid, member)

    def _layers_of(self, media: _RoomMedia, member: _Member) -> list[dict[str, Any]]:
        """What each video m-line of the subscription is forwarded as now."""
        out: list[dict[str, Any]] = []
        for mid, stream in member.streams.items():
            publisher = _salon_id(stream.publisher_id)
            if stream.kind is FeedKind.AUDIO or publisher is None:
                continue
            choice = member.applied.get(mid, DEFAULT_CHOICE)
            simulcast = any(
                f.mid == stream.feed_mid and f.simulcast for f in media.feeds.get(publisher, ())
            )
            out.append(
                {
                    "participantId": publisher,
                    "kind": stream.kind.value,
                    "layer": choice.layer.name.lower() if simulcast else None,
                    "paused": choice.paused,
                }
            )
        return out

    async def _resend_offer(self, media: _RoomMedia, pid: str) -> None:
        member = media.members.get(pid)
        if member is not None and member.unanswered is not None:
            self._post(media.ref, pid, "sfu_offer", member.unanswered)

    async def _leave(self, media: _RoomMedia, pid: str) -> None:
        member = media.members.pop(pid, None)
        media.feeds.pop(pid, None)
        if member is not None:
            _stop_waking(member)
        if member is None or self._sfu is None:
            return
        for handle in (member.publisher, member.subscriber):
            if handle is not None:
                with _logged("leave"):
                    await self._sfu.leave(handle)
        if member.grant is not None:
            with _logged("revoke a publisher"):
                await self._sfu.revoke_publisher(member.grant)

    async def _destroy(self, media: _RoomMedia) -> None:
        if not media.closed or media.members:
            return  # someone joined again after the room was dropped
        room, media.room = media.room, None
        media.feeds.clear()
        if room is not None and self._sfu is not None:
            with _logged("destroy a room"):
                await self._sfu.destroy_room(room)

    async def _lose(
        self, media: _RoomMedia, why: str, now_in: SfuRoom | None = None, tell: bool = True
    ) -> None:
        self._lose_now(media, why, now_in, tell)

    def _lose_now(
        self, media: _RoomMedia, why: str, now_in: SfuRoom | None = None, tell: bool = True
    ) -> None:
        """Forgets the room's SFU state (nothing of it survived where it was) and, ``tell``,
        has everyone start over: ``sfu_reset``, then they publish and subscribe again (in
        ``now_in``, the room made again elsewhere, if known; else in a room made anew)."""
        if media.room is None and now_in is None:
            return  # nothing was there to lose, or it is lost already
        log.warning("group room %s starts over on the SFU: %s", media.ref.meeting_id, why)
        media.room = now_in
        media.feeds.clear()
        for member in media.members.values():
            member.grant = member.publisher = member.subscriber = None
            member.wants_streams = False
            member.receiving = set()
            member.unanswered = None
            self._forget_layers(member)
        if tell:
            self._post(media.ref, None, "sfu_reset", {})


def _room_of(event: SfuEvent) -> SfuRoom | None:
    """The room an event is about (None for a node's)."""
    match event:
        case (
            PeerConnectionUp(handle=h)
            | PeerConnectionDown(handle=h)
            | SubscriptionOffer(handle=h)
            | SubscriptionRestarted(handle=h)
        ):
            return h.room
        case NodeLost():
            return None
        case _:
            return event.room


def _stop_waking(member: _Member) -> None:
    if member.wake is not None:
        member.wake.cancel()
        member.wake = None


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """Runs a clean-up call whose failure must not stop the next one."""
    try:
        yield
    except SfuError as exc:
        log.info("SFU clean-up failed (%s): %s", what, exc.code)
