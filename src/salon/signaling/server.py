"""The Socket.IO shell around the room engine: decode, feed, carry out the effects.

Everything a room decides is in ``salon.rooms.engine``; this module only pumps. For each client
event it checks the connection's budget, validates the payload against the wire schema, turns it
into an engine ``Event`` and, holding that room's lock so a room sees its events one at a time,
feeds it and carries out the returned effects in order: the sender's ``Reply`` becomes the
Socket.IO acknowledgement, ``Send``/``Broadcast`` become emits, ``Disconnect`` closes a
connection after what was queued before it, ``GrantKey`` signs a room key, and session effects
are queued for the database. Time comes from the services' clock; a periodic ``tick`` expires
reconnect and session grace periods.

Nothing here logs, stores or forwards a payload anywhere but to its recipients: chat text and
display names live in memory only (display names also sealed in the attendance records).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio.to_thread
import engineio  # type: ignore[import-untyped]
import socketio  # type: ignore[import-untyped]

from salon.auth.room_keys import RoomGrant, RoomRole
from salon.errors import InvalidInput, SalonError
from salon.media.sfu import SfuBackend
from salon.rooms.events import (
    AdmitKnocker,
    Broadcast,
    CancelKnock,
    ChatDelete,
    ChatRelay,
    ConnectionLost,
    Disconnect,
    Effect,
    EndMeeting,
    Event,
    GrantKey,
    HoldKnocker,
    Join,
    Knock,
    Leave,
    MediaState,
    MuteKind,
    ParticipantJoinedSession,
    ParticipantLeftSession,
    RejectKnocker,
    RemoveParticipant,
    Reply,
    RequestMute,
    Resume,
    Send,
    SessionEnded,
    SessionStarted,
    SetLock,
    SfuRequest,
    Signal,
    Tick,
)
from salon.rooms.lifecycle import deactivates_at
from salon.rooms.participants import Permission, may
from salon.services.container import Services
from salon.services.embed_domains import origin_allowed
from salon.services.meetings import RoomAccess, RoomMode
from salon.signaling.attendance import AttendanceRecorder
from salon.signaling.registry import LiveRoom, Member, new_participant_id
from salon.signaling.schema import (
    MAX_MESSAGE_BYTES,
    MODELS,
    PROTOCOL_VERSION,
    AdmitMessage,
    CancelKnockMessage,
    ChatDeleteMessage,
    ChatMessage,
    ClientMessage,
    EndMeetingMessage,
    HoldMessage,
    JoinMessage,
    KnockMessage,
    LeaveMessage,
    MediaStateMessage,
    RejectMessage,
    RemoveMessage,
    RequestMuteMessage,
    SetLockMessage,
    SfuMessage,
    SfuPublishMessage,
    SignalMessage,
    parse,
)
from salon.signaling.sfu_bridge import RoomRef, SfuBridge
from salon.signaling.token_bucket import TokenBucket

__all__ = ["SignalingServer"]

log = logging.getLogger("salon.signaling")

BURST = 100
RATE_PER_SECOND = 50.0
MAX_REFUSED_IN_A_ROW = 200
TICK_SECONDS = 5.0
# An Engine.IO frame (a WebSocket message, or a long-polling POST that may batch a few packets)
# may be a little larger than the biggest message the schema accepts; beyond this the transport
# refuses it before it is even decoded.
MAX_FRAME_BYTES = 2 * MAX_MESSAGE_BYTES
# How long a silent transport takes to be noticed: ping every 10 s, give up 10 s later.
PING_INTERVAL_SECONDS = 10
PING_TIMEOUT_SECONDS = 10


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


@dataclass(frozen=True, slots=True)
class _Ack:
    """Where the acknowledgement of one client event goes."""

    eio_sid: str
    namespace: str
    id: int


class _Turn:
    """Everything the server sends while handling one event (or a disconnect, or a tick).

    Sends are decided, and started, in order, while the room's lock is held: each is an
    asyncio task that only appends to a connection's Engine.IO queue, and tasks run in the
    order they were created, so every recipient sees a room's messages in the order the
    room decided them. ``finish`` waits for them once the lock has been released, so other
    events (of this room and others) are decided meanwhile and their deliveries share the
    writers' wake-ups.
    """

    __slots__ = ("_ack", "_answered", "_sends", "_sio")

    def __init__(self, sio: _SocketServer, ack: _Ack | None = None) -> None:
        self._sio = sio
        self._ack = ack
        self._answered = False
        self._sends: list[asyncio.Task[Any]] = []

    @property
    def wants_answer(self) -> bool:
        return self._ack is not None and not self._answered

    def answer(self, payload: dict[str, Any]) -> None:
        """Acknowledges the client's event; only the first answer counts."""
        if self._ack is not None and not self._answered:
            self._answered = True
            self._sends.append(self._sio.post_ack(self._ack, payload))

    def refuse(self, code: str, message: str) -> None:
        self.answer(_error(code, message))

    def emit(self, event: str, data: Any, *, to: str, skip_sid: str | None = None) -> None:
        self._sends.extend(self._sio.post(event, data, to=to, skip_sid=skip_sid))

    def disconnect(self, sid: str) -> None:
        """Closes ``sid`` after everything posted to it before."""
        self._sends.append(asyncio.create_task(self._sio.disconnect(sid)))

    async def finish(self) -> None:
        """Answers ``{"ok": true}`` if nothing else answered, then waits for every send."""
        self.answer({"ok": True})
        sends, self._sends = self._sends, []
        if not sends:
            return
        for result in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("a signaling send failed: %s", type(result).__name__)


@dataclass(slots=True)
class Connection:
    """One Socket.IO connection: its budget and which room participant it speaks for."""

    sid: str
    bucket: TokenBucket
    refused_in_a_row: int = 0
    room_name: str | None = None
    participant_id: str | None = None
    knocking: bool = False
    # The page's origin when it is not Salon's own (a customer's page using the JS SDK): it
    # may join or knock only in rooms whose organization allows that origin.
    foreign_origin: str | None = None

    def detach(self) -> None:
        self.room_name = None
        self.participant_id = None
        self.knocking = False


class _SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server with every event, and whether it wants an ack, handed to the
    shell. This override is the only place that touches the library's internals."""

    def __init__(self, shell: SignalingServer, **options: Any) -> None:
        super().__init__(**options)
        self._shell = shell

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: int | None
    ) -> None:
        ack = None if id is None else _Ack(eio_sid, namespace, id)
        name = data[0] if isinstance(data, list) and data and isinstance(data[0], str) else ""
        args = data[1:] if isinstance(data, list) else []
        await self._shell.on_event(sid, name, args, ack)

    def post(
        self, event: str, data: Any, *, to: str, skip_sid: str | None = None
    ) -> list[asyncio.Task[None]]:
        """Starts sending ``event`` to every local connection in the Socket.IO room ``to`` (a
        connection's own sid names a room of one) and returns at once.

        The packet is encoded once and each recipient's send is its own task; asyncio starts
        tasks in the order they were created and a send only appends to the recipient's
        Engine.IO queue, so every connection receives what was posted in the order it was
        posted. Unlike ``emit`` it needs no ``await``, so a room's lock is never held while
        deliveries are waited for. (With a message queue between nodes, recipients on other
        nodes would need the manager's ``emit``; Salon runs one signaling node today.)
        """
        pkt = self.packet_class(socketio.packet.EVENT, namespace="/", data=[event, data])
        encoded = pkt.encode()
        frames = [
            engineio.packet.Packet(engineio.packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        return [
            asyncio.create_task(self._send_eio_packet(eio_sid, frame))
            for sid, eio_sid in self.manager.get_participants("/", to)
            if sid != skip_sid
            for frame in frames
        ]

    def enter_channel(self, sid: str, channel: str) -> None:
        self.manager.basic_enter_room(sid, "/", channel)

    def leave_channel(self, sid: str, channel: str) -> None:
        self.manager.basic_leave_room(sid, "/", channel)

    def post_ack(self, ack: _Ack, payload: dict[str, Any]) -> asyncio.Task[None]:
        packet = self.packet_class(
            socketio.packet.ACK, namespace=ack.namespace, id=ack.id, data=[payload]
        )
        return asyncio.create_task(self._send_packet(ack.eio_sid, packet))

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        socket = self.eio.sockets.get(eio_sid)
        if reason == self.reason.CLIENT_DISCONNECT and socket is not None and not socket.upgraded:
            # A long-polling client said goodbye and abandoned its pending poll; nothing more
            # will be sent on this socket, so end the poll now rather than at its timeout
            # (it would otherwise hold a request, and a server stop, for up to 20 s).
            socket.queue.put_nowait(None)


class SignalingServer:
    """The signaling endpoint of one node; ``sio`` is mounted at ``/socket.io/``."""

    def __init__(self, services: Services, sfu: SfuBackend | None = None) -> None:
        self._services = services
        self._clock = services.clock
        self._rooms = services.rooms
        self._recorder = AttendanceRecorder()
        self._connections: dict[str, Connection] = {}
        # Group rooms' media (``services.sfu`` once the container has one).
        self._sfu = SfuBridge(sfu or services.sfu, self._post_sfu)
        self._sfu_sends: set[asyncio.Task[None]] = set()
        quiet = logging.getLogger("salon.signaling.socketio")
        quiet.setLevel(logging.WARNING)
        self.sio = _SocketServer(
            self,
            async_mode="asgi",
            transports=["polling", "websocket"],
            cors_allowed_origins=self._origin_may_connect,
            cors_credentials=False,
            max_http_buffer_size=MAX_FRAME_BYTES,
            ping_interval=PING_INTERVAL_SECONDS,
            ping_timeout=PING_TIMEOUT_SECONDS,
            # One connection's events run one after another, in the order they arrived.
            async_handlers=False,
            logger=quiet,
            engineio_logger=quiet,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)

    # transport lifecycle ---------------------------------------------------------------------

    def _same_origin(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        # The room app is served by Salon itself. Browsers always send the Host they connect
        # to, so a page of this server matches it; other clients send no Origin at all.
        host = environ.get("HTTP_HOST", "")
        public_url = self._services.settings.server.public_url
        return origin is not None and origin in (public_url, f"https://{host}")

    def _origin_may_connect(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        # Salon's own pages; and pages of other sites using the JS SDK, which then may join
        # or knock only where the room's organization allows their origin (_may_enter).
        return self._same_origin(origin, environ) or (
            origin is not None and origin_allowed(origin, ())
        )

    async def _may_enter(self, conn: Connection, turn: _Turn, room_name: str) -> bool:
        """Whether this connection's page may join or knock in ``room_name``; refuses if not."""
        origin = conn.foreign_origin
        if origin is None:
            return True
        domains = await anyio.to_thread.run_sync(
            self._services.orgs.embed_domains_of_room, room_name
        )
        if domains is not None and origin_allowed(origin, domains):
            return True
        turn.refuse(
            "forbidden",
            f"Pages of {origin} may not use this room: its organization allows other sites "
            "(allowedEmbedDomains).",
        )
        return False

    async def _on_connect(self, sid: str, environ: Any, auth: Any) -> None:
        version = auth.get("v") if isinstance(auth, dict) else None
        if type(version) is not int or version != PROTOCOL_VERSION:
            raise socketio.exceptions.ConnectionRefusedError(
                "unsupported_version",
                {
                    "code": "unsupported_version",
                    "message": f"This server speaks signaling version {PROTOCOL_VERSION}; "
                    f'connect with auth {{"v": {PROTOCOL_VERSION}}}.',
                },
            )
        conn = Connection(sid, TokenBucket(BURST, RATE_PER_SECOND, self._clock.now()))
        origin = environ.get("HTTP_ORIGIN") if isinstance(environ, Mapping) else None
        if origin is not None and not self._same_origin(origin, environ):
            conn.foreign_origin = origin
        self._connections[sid] = conn

    async def _on_disconnect(self, sid: str, _reason: Any = None) -> None:
        try:
            await self._connection_closed(sid)
        except Exception as exc:
            log.error("handling a closed connection failed: %s", type(exc).__name__)

    async def _connection_closed(self, sid: str) -> None:
        # A dropped transport is not a goodbye: the participant may resume (``leave`` is).
        conn = self._connections.pop(sid, None)
        if conn is None or conn.room_name is None or conn.participant_id is None:
            return
        pid = conn.participant_id
        live = self._rooms.get(conn.room_name)
        if live is None:
            return
        turn = _Turn(self.sio)
        async with live.lock:
            member = live.members.get(pid)
            if not self._rooms.is_current(live) or member is None or member.sid != sid:
                return
            member.sid = None
            conn.detach()
            self._carry_out(turn, live, self._feed(live, ConnectionLost(pid)))
            self._settle(live)
        await turn.finish()

    # client events ---------------------------------------------------------------------------

    async def on_event(self, sid: str, name: str, args: list[Any], ack: _Ack | None) -> None:
        conn = self._connections.get(sid)
        if conn is None:
            return
        turn = _Turn(self.sio, ack)
        try:
            await self._on_event(conn, turn, name, args)
        finally:
            await turn.finish()

    async def _on_event(self, conn: Connection, turn: _Turn, name: str, args: list[Any]) -> None:
        if not conn.bucket.take(self._clock.now()):
            conn.refused_in_a_row += 1
            self._refuse(
                turn,
                conn.sid,
                name,
                "rate_limited",
                "Too many messages; slow down (50 per second).",
            )
            if conn.refused_in_a_row >= MAX_REFUSED_IN_A_ROW:
                turn.disconnect(conn.sid)
            return
        conn.refused_in_a_row = 0
        if name not in MODELS:
            self._refuse(
                turn,
                conn.sid,
                name,
                "unknown_event",
                f"{name[:64]!r} is not an event of signaling version {PROTOCOL_VERSION}.",
                always_emit=True,
            )
            return
        if not turn.wants_answer:
            self._refuse(
                turn,
                conn.sid,
                name,
                "invalid_message",
                "Every event needs an acknowledgement callback; this one was ignored.",
            )
            return
        if len(args) > 1:
            turn.refuse("invalid_message", "Invalid request. payload: send one JSON object")
            return
        try:
            message = parse(name, args[0] if args else {})
        except InvalidInput as exc:
            turn.refuse("invalid_message", exc.message)
            return
        try:
            await self._dispatch(conn, turn, message)
        except SalonError as exc:
            # E.g. the meeting was deleted between the key check and opening its room.
            turn.refuse(exc.signal_code, exc.message)
        except Exception as exc:
            # A bug must not take the connection (or the room's lock) down with it.
            log.error("signaling event %s failed: %s", name, type(exc).__name__)
            turn.refuse("internal_error", "Something went wrong on the server.")

    def _refuse(
        self,
        turn: _Turn,
        sid: str,
        name: str,
        code: str,
        message: str,
        *,
        always_emit: bool = False,
    ) -> None:
        wanted = turn.wants_answer
        turn.refuse(code, message)
        if not wanted or always_emit:
            error = {"code": code, "message": message, "event": name[:64]}
            turn.emit("error", error, to=sid)

    async def _dispatch(self, conn: Connection, turn: _Turn, message: ClientMessage) -> None:
        if isinstance(message, JoinMessage):
            await self._join(conn, turn, message)
        elif isinstance(message, KnockMessage):
            await self._knock(conn, turn, message)
        elif isinstance(message, SfuMessage):
            await self._sfu_request(conn, turn, message)
        else:
            await self._in_room(conn, turn, message)

    async def _join(self, conn: Connection, turn: _Turn, message: JoinMessage) -> None:
        if conn.participant_id is not None and not conn.knocking:
            turn.refuse(
                "invalid_message",
                "This connection is already in a room; send leave before joining again.",
            )
            return
        try:
            access = await anyio.to_thread.run_sync(
                self._services.meetings.access, message.roomName, message.roomKey
            )
        except SalonError as exc:
            turn.refuse(exc.signal_code, exc.message)
            return
        if not await self._may_enter(conn, turn, access.room_name):
            return
        if conn.knocking and conn.room_name != access.room_name:
            turn.refuse("invalid_message", "Cancel the knock before joining another room.")
            return
        async with self._locked_room(access) as live:
            if live is None:
                turn.refuse("meeting_ended", "This meeting has ended.")
                return
            if message.resumeToken and await self._resume(conn, turn, live, message.resumeToken):
                return
            await self._fresh_join(conn, turn, live, access.role, message)

    async def _resume(self, conn: Connection, turn: _Turn, live: LiveRoom, token: str) -> bool:
        """Resumes the participant ``token`` names, if it is still in the room; else False."""
        pid = self._rooms.redeem(token, live.name)
        member = None if pid is None else live.members.get(pid)
        if pid is None or member is None or member.role is None:
            return False
        retired = member.sid if member.sid not in (None, conn.sid) else None
        if retired is not None:
            # The client is back before the server noticed its old transport drop.
            old = self._connections.get(retired)
            if old is not None:
                old.detach()
            self._leave_channels(retired, live, member.role)
            member.sid = None
        effects = self._feed(live, Resume(pid))
        reply = _reply_to(pid, effects)
        if reply is None or not reply.ok:
            self._carry_out(turn, live, [e for e in effects if e is not reply])
            return False
        self._bind(conn, live, pid, member)
        self._sfu.resumed(_ref(live), pid)
        extra = {
            **self._ice_grant(live, member),
            "resumeToken": self._rooms.issue_resume_token(live, pid),
            "resumed": True,
        }
        self._carry_out(turn, live, effects, sender=pid, extra=extra)
        if retired is not None:
            turn.disconnect(retired)
        self._settle(live)
        return True

    async def _fresh_join(
        self, conn: Connection, turn: _Turn, live: LiveRoom, role: RoomRole, message: JoinMessage
    ) -> None:
        # A knocker who joins directly (the room was unlocked meanwhile) withdraws the knock.
        was_knocking = conn.knocking and conn.participant_id is not None
        pid = conn.participant_id if was_knocking and conn.participant_id else new_participant_id()
        join = Join(
            pid, role, message.displayName, message.externalId, message.audio, message.video
        )
        effects = self._feed(live, join)
        reply = _reply_to(pid, effects)
        extra: dict[str, Any] | None = None
        if reply is not None and reply.ok:
            member = Member(None, message.displayName, message.externalId, role)
            live.members[pid] = member
            self._bind(conn, live, pid, member)
            if live.room.mode is RoomMode.GROUP:
                self._sfu.joined(_ref(live), pid, may_publish=may(role, Permission.PUBLISH))
            extra = {
                **self._ice_grant(live, member),
                "resumeToken": self._rooms.issue_resume_token(live, pid),
                "resumed": False,
            }
        self._carry_out(turn, live, effects, sender=pid, extra=extra)
        self._settle(live)

    async def _knock(self, conn: Connection, turn: _Turn, message: KnockMessage) -> None:
        if conn.participant_id is not None:
            turn.refuse("invalid_message", "This connection is already in a room or knocking.")
            return
        try:
            access = await anyio.to_thread.run_sync(
                self._services.meetings.access, message.roomName, message.roomKey
            )
        except SalonError as exc:
            turn.refuse(exc.signal_code, exc.message)
            return
        if not await self._may_enter(conn, turn, access.room_name):
            return
        async with self._locked_room(access) as live:
            if live is None:
                turn.refuse("meeting_ended", "This meeting has ended.")
                return
            pid = new_participant_id()
            effects = self._feed(live, Knock(pid, message.displayName, message.externalId))
            reply = _reply_to(pid, effects)
            if reply is not None and reply.ok:
                live.members[pid] = Member(conn.sid, message.displayName, message.externalId, None)
                conn.room_name, conn.participant_id, conn.knocking = live.name, pid, True
            self._carry_out(turn, live, effects, sender=pid)
            self._settle(live)

    async def _in_room(self, conn: Connection, turn: _Turn, message: ClientMessage) -> None:
        pid, room_name = conn.participant_id, conn.room_name
        live = None if room_name is None else self._rooms.get(room_name)
        if pid is None or live is None:
            turn.refuse("not_in_room", "You are not in a room; join one first.")
            return
        async with live.lock:
            member = live.members.get(pid)
            if not self._rooms.is_current(live) or member is None or member.sid != conn.sid:
                turn.refuse("not_in_room", "You are not in a room; join one first.")
                return
            self._carry_out(turn, live, self._feed(live, _room_event(message, pid)), sender=pid)
            self._settle(live)

    async def _sfu_request(self, conn: Connection, turn: _Turn, message: SfuMessage) -> None:
        """A group room's media request: the room decides whether it may (under its lock),
        the SFU bridge carries it out and answers (after the lock, in the room's SFU order)."""
        pid, room_name = conn.participant_id, conn.room_name
        live = None if room_name is None else self._rooms.get(room_name)
        if pid is None or live is None:
            turn.refuse("not_in_room", "You are not in a room; join one first.")
            return
        async with live.lock:
            member = live.members.get(pid)
            if not self._rooms.is_current(live) or member is None or member.sid != conn.sid:
                turn.refuse("not_in_room", "You are not in a room; join one first.")
                return
            publishes = isinstance(message, SfuPublishMessage)
            event = SfuRequest(pid, _SFU_EVENTS[type(message)], publishes)
            effects = self._feed(live, event)
            self._carry_out(turn, live, effects, sender=pid)
            self._settle(live)
            if not turn.wants_answer:
                return  # refused
            done = self._sfu.request(_ref(live), pid, message, turn.answer)
        await done

    def _post_sfu(self, room: RoomRef, to: str | None, event: str, data: dict[str, Any]) -> None:
        """Posts what the SFU bridge has to say to a participant of ``room`` (or everyone)."""
        live = self._rooms.get(room.room_name)
        if live is None or live.facts.meeting_id != room.meeting_id:
            return
        target = live.channel() if to is None else live.sid_of(to)
        if target is None:
            return
        for task in self.sio.post(event, data, to=target):
            self._sfu_sends.add(task)
            task.add_done_callback(self._sfu_sent)

    def _sfu_sent(self, task: asyncio.Task[None]) -> None:
        self._sfu_sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a signaling send failed: %s", type(task.exception()).__name__)

    # rooms -----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked_room(self, access: RoomAccess) -> AsyncIterator[LiveRoom | None]:
        """The live room for ``access``, opened if needed, with its lock held; None if a host
        ended the meeting."""
        if self._rooms.ended(access.meeting_id):
            yield None
            return
        while True:
            live = self._rooms.get(access.room_name)
            if live is None or live.facts.meeting_id != access.meeting_id:
                facts = await anyio.to_thread.run_sync(
                    self._services.sessions.room_facts, access.meeting_id
                )
                live = self._rooms.open(facts, access.room_mode)
            async with live.lock:
                # The room may have emptied and been dropped while this task waited.
                if self._rooms.is_current(live):
                    yield live
                    return

    def _feed(self, live: LiveRoom, event: Event) -> list[Effect]:
        return live.room.handle(event, self._clock.now())

    def _settle(self, live: LiveRoom) -> None:
        """Forgets whom the engine forgot, and the room itself once it is idle."""
        group = live.room.mode is RoomMode.GROUP
        for pid in list(live.members):
            if live.room.participant(pid) is not None:
                continue
            member = self._rooms.forget_member(live, pid)
            if group and member is not None and member.role is not None:
                self._sfu.left(_ref(live), pid)
            if member is not None and member.sid is not None:
                conn = self._connections.get(member.sid)
                if conn is not None and conn.participant_id == pid:
                    conn.detach()
                self._leave_channels(member.sid, live, member.role)
        if self._rooms.drop_if_idle(live) and group:
            self._sfu.closed(_ref(live))

    def _bind(self, conn: Connection, live: LiveRoom, pid: str, member: Member) -> None:
        conn.room_name, conn.participant_id, conn.knocking = live.name, pid, False
        member.sid = conn.sid
        self.sio.enter_channel(conn.sid, live.channel())
        if member.role is not None:
            self.sio.enter_channel(conn.sid, live.channel(member.role))

    def _leave_channels(self, sid: str, live: LiveRoom, role: RoomRole | None) -> None:
        if role is None:
            return
        self.sio.leave_channel(sid, live.channel())
        self.sio.leave_channel(sid, live.channel(role))

    # effects ---------------------------------------------------------------------------------

    def _carry_out(
        self,
        turn: _Turn,
        live: LiveRoom,
        effects: list[Effect],
        *,
        sender: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Posts what ``effects`` send, in their order, and queues their session records.
        Called with the room's lock held; nothing here waits."""
        for effect in effects:
            match effect:
                case Reply(to=to) if to == sender and turn.wants_answer:
                    if effect.ok:
                        turn.answer({"ok": True, **effect.data, **(extra or {})})
                    else:
                        turn.refuse(effect.error_code or "error", effect.error_message or "")
                case Reply():
                    log.warning("dropped a reply that was not for the sender")
                case Send(to=to, event=event, data=data):
                    sid = live.sid_of(to)
                    if sid is not None:
                        turn.emit(event, data, to=sid)
                case Broadcast():
                    self._broadcast(turn, live, effect)
                case Disconnect(participant_id=pid):
                    self._disconnect(turn, live, pid)
                case GrantKey():
                    self._grant_key(turn, live, effect)
                case (
                    SessionStarted()
                    | SessionEnded()
                    | ParticipantJoinedSession()
                    | ParticipantLeftSession()
                ):
                    self._record(live, effect)

    def _broadcast(self, turn: _Turn, live: LiveRoom, effect: Broadcast) -> None:
        skip = None if effect.exclude is None else live.sid_of(effect.exclude)
        channels = (
            [live.channel()]
            if effect.roles is None
            else [live.channel(role) for role in sorted(effect.roles)]
        )
        for channel in channels:
            turn.emit(effect.event, effect.data, to=channel, skip_sid=skip)

    def _disconnect(self, turn: _Turn, live: LiveRoom, pid: str) -> None:
        member = live.members.get(pid)
        if member is None or member.sid is None:
            return
        sid, member.sid = member.sid, None
        conn = self._connections.get(sid)
        if conn is not None:
            conn.detach()
        # Out of the room's channels now, so nothing posted after this reaches it; closed
        # after what was posted to it before.
        self._leave_channels(sid, live, member.role)
        turn.disconnect(sid)

    def _ice_grant(self, live: LiveRoom, member: Member) -> dict[str, Any]:
        """Fresh ICE servers (TURN credentials) and transport policy for ``member``, as the
        ``iceServers`` and ``iceTransportPolicy`` fields the browser passes to
        RTCPeerConnection; remembers when they need replacing."""
        grant = self._services.ice.grant(live.facts, self._clock.now())
        member.ice_refresh_at = grant.refresh_at
        return grant.rtc_configuration()

    def _refresh_ice(self, turn: _Turn, live: LiveRoom) -> None:
        """Sends new ICE servers to every connected participant whose credentials are due to
        be replaced, before they expire (a restart of ICE would need them)."""
        now = self._clock.now()
        for member in live.members.values():
            due = member.ice_refresh_at
            if member.sid is None or member.role is None or due is None or due > now:
                continue
            turn.emit("ice_servers", self._ice_grant(live, member), to=member.sid)

    def _grant_key(self, turn: _Turn, live: LiveRoom, effect: GrantKey) -> None:
        facts, now = live.facts, self._clock.now()
        grant = RoomGrant(
            facts.room_name, facts.meeting_id, effect.role, now, deactivates_at(facts.end_date)
        )
        key = self._services.room_key_signer.issue(grant)
        sid = live.sid_of(effect.participant_id)
        if sid is not None:
            turn.emit("knock_accepted", {"roomKey": key}, to=sid)

    def _record(
        self,
        live: LiveRoom,
        effect: SessionStarted | SessionEnded | ParticipantJoinedSession | ParticipantLeftSession,
    ) -> None:
        sessions, facts = self._services.sessions, live.facts
        match effect:
            case SessionStarted(session_id=session_id, at=at):
                write = partial(
                    sessions.start, session_id, facts.org_id, facts.meeting_id, facts.room_name, at
                )
            case SessionEnded(session_id=session_id, at=at):
                write = partial(sessions.end, session_id, at)
            case ParticipantJoinedSession():
                member = live.members.get(effect.participant_id)
                write = partial(
                    sessions.participant_joined,
                    effect.session_id,
                    facts.org_id,
                    effect.participant_id,
                    effect.role,
                    member.display_name if member is not None else "",
                    effect.external_id,
                    effect.at,
                )
            case ParticipantLeftSession(session_id=session_id, participant_id=pid, at=at):
                write = partial(sessions.participant_left, session_id, pid, at)
        self._recorder.record(write)

    # timers and shutdown ---------------------------------------------------------------------

    async def tick(self) -> None:
        """Lets every live room expire what is due now (reconnect and session grace)."""
        now = self._clock.now()
        self._rooms.forget_ended(now)
        turn = _Turn(self.sio)
        for live in self._rooms.all():
            async with live.lock:
                if not self._rooms.is_current(live):
                    continue
                self._carry_out(turn, live, self._feed(live, Tick()))
                self._settle(live)
                self._refresh_ice(turn, live)
        await turn.finish()

    async def run_ticker(self, interval: float = TICK_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception as exc:
                log.error("room tick failed: %s", type(exc).__name__)

    async def disconnect_all(self) -> None:
        """Closes every signaling connection (the server is stopping): participants show as
        reconnecting, and their clients reconnect."""
        for sid in list(self._connections):
            await self.sio.disconnect(sid)

    async def flush(self) -> None:
        """Returns once every session record produced so far is in the database."""
        await self._recorder.flush()

    def use_sfu(self, sfu: SfuBackend) -> None:
        """Carries group rooms' media through ``sfu`` from now on."""
        self._sfu.use(sfu)

    @property
    def sfu(self) -> SfuBridge:
        """Group rooms' media (``lost(room_id)`` makes a room's clients start over)."""
        return self._sfu

    async def close(self) -> None:
        """Finishes pending session records and stops Socket.IO's and the SFU bridge's
        background work."""
        await self._recorder.close()
        await self._sfu.close()
        await self.sio.shutdown()


_SFU_EVENTS: dict[type[ClientMessage], str] = {
    model: name for name, model in MODELS.items() if name.startswith("sfu_")
}


def _ref(live: LiveRoom) -> RoomRef:
    return RoomRef(live.name, live.facts.meeting_id)


def _reply_to(pid: str, effects: list[Effect]) -> Reply | None:
    return next((e for e in effects if isinstance(e, Reply) and e.to == pid), None)


def _room_event(message: ClientMessage, pid: str) -> Event:
    """The engine event a validated in-room message stands for, sent by ``pid``."""
    match message:
        case CancelKnockMessage():
            return CancelKnock(pid)
        case LeaveMessage():
            return Leave(pid)
        case SignalMessage():
            description = None
            if message.description is not None:
                description = {"type": message.description.type, "sdp": message.description.sdp}
            candidate = None
            if message.candidate is not None:
                candidate = message.candidate.model_dump(exclude_unset=True)
            return Signal(pid, message.to, description, candidate)
        case MediaStateMessage():
            return MediaState(pid, message.audio, message.video, message.screenshare)
        case ChatMessage():
            return ChatRelay(pid, message.messageId, message.text)
        case ChatDeleteMessage():
            return ChatDelete(pid, message.messageId)
        case SetLockMessage():
            return SetLock(pid, message.locked)
        case AdmitMessage():
            return AdmitKnocker(pid, message.knockId)
        case HoldMessage():
            return HoldKnocker(pid, message.knockId, message.message)
        case RejectMessage():
            return RejectKnocker(pid, message.knockId, message.message)
        case RemoveMessage():
            return RemoveParticipant(pid, message.participantId)
        case RequestMuteMessage():
            return RequestMute(pid, message.participantId, MuteKind(message.kind))
        case EndMeetingMessage():
            return EndMeeting(pid)
    raise InvalidInput.one("event", "is not an in-room event")
