"""The room engine: one live room as a sans-I/O state machine.

The signaling shell owns one ``Room`` per live room. It calls ``Room.handle(event, now)`` for
every decoded client message, every closed connection and every timer tick, and carries out the
returned effects in order (send, broadcast, disconnect, sign a key, record attendance). The room
never reads a clock, touches a socket or a database, or keeps chat text: ``now`` comes with each
call, and the same events at the same times give the same effects (session ids aside).

Errors a participant causes come back as ``Reply(ok=False, ...)`` to the sender and change
nothing; exceptions escape only for programming errors. Timers are not callbacks: every call
first expires what is due at ``now`` (reconnect grace, session end grace), so a ``Tick`` is only
needed when nothing else happens; ``next_deadline`` says when one is worth sending.

Who may do what, and which lifecycle steps exist, is in ``salon.rooms.participants``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, assert_never

from salon.auth.room_keys import RoomRole
from salon.errors import InvalidInput, SalonError
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
from salon.rooms.participants import (
    ParticipantEvent,
    ParticipantState,
    Permission,
    RoomEvent,
    RoomState,
    may,
    participant_transition,
    require,
    room_transition,
)
from salon.rooms.sdp import InvalidSdp, would_send_media

if TYPE_CHECKING:
    # Only the type: importing the meetings service at run time would pull the SQL stack into
    # the engine. RoomMode is a StrEnum, so CAPACITY is keyed by its values.
    from salon.services.meetings import RoomMode

__all__ = [
    "CAPACITY",
    "Capacity",
    "MeetingEnded",
    "NotInRoom",
    "ParticipantView",
    "Room",
    "RoomFull",
    "RoomLocked",
    "UnknownParticipant",
    "ViewerLimitReached",
]


# --- refusals ------------------------------------------------------------------------------


class RoomFull(SalonError):
    code = signal_code = "room_full"
    status = 409


class ViewerLimitReached(SalonError):
    code = signal_code = "max_viewer_limit_reached"
    status = 409


class RoomLocked(SalonError):
    code = signal_code = "room_locked"
    status = 403


class MeetingEnded(SalonError):
    code = signal_code = "meeting_ended"
    status = 410

    def __init__(self) -> None:
        super().__init__("This meeting has ended.")


class NotInRoom(SalonError):
    code = signal_code = "not_in_room"
    status = 409

    def __init__(self) -> None:
        super().__init__("You are not in this room; join it first.")


class UnknownParticipant(SalonError):
    code = signal_code = "unknown_participant"
    status = 404


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many may be present: ``people`` places, plus ``viewers`` places of their own (or,
    when ``viewers`` is None, viewers take ordinary places)."""

    people: int
    viewers: int | None = None


CAPACITY: dict[str, Capacity] = {
    "normal": Capacity(people=4),  # a peer-to-peer full mesh
    "group": Capacity(people=200, viewers=400),
}


@dataclass(frozen=True, slots=True)
class ParticipantView:
    """One person the room knows: present (joined or reconnecting) or knocking.

    ``role`` is None while knocking — the host's answer decides it. ``joined_at`` is None while
    knocking; ``reconnecting_since`` is set while the connection is lost.
    """

    id: str
    display_name: str
    role: RoomRole | None
    state: ParticipantState
    external_id: str | None = None
    audio: bool = False
    video: bool = False
    screenshare: bool = False
    joined_at: datetime | None = None
    reconnecting_since: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        """The protocol's ``Participant`` object."""
        if self.role is None:
            raise ValueError("a knocker is not a participant yet")
        reconnecting = self.state is ParticipantState.RECONNECTING
        return {
            "id": self.id,
            "displayName": self.display_name,
            "role": self.role.value,
            "audio": self.audio,
            "video": self.video,
            "screenshare": self.screenshare,
            "connection": "reconnecting" if reconnecting else "stable",
        }


@dataclass(slots=True)
class _Session:
    id: str
    started_at: datetime
    # Everyone recorded as in the session, in the order they were: None while present; the
    # time they left, if they left while the session might still end (their leaving is only
    # recorded once it is known whether the session went on).
    members: dict[str, datetime | None] = field(default_factory=dict)
    fewer_than_two_since: datetime | None = None


# Group rooms send media through the SFU (RoomMode.GROUP's value; see the import note above).
_GROUP = "group"
_KNOCK_ANSWERERS = frozenset(r for r in RoomRole if may(r, Permission.ANSWER_KNOCKS))
_PRESENT_TO_START = 2


# --- the room ------------------------------------------------------------------------------


class Room:
    """One live room: feed it events with the time they happened, carry out what it returns."""

    def __init__(
        self,
        room_name: str,
        meeting_id: str,
        mode: RoomMode,
        locked: bool,
        *,
        reconnect_grace: timedelta = timedelta(seconds=30),
        session_end_grace: timedelta = timedelta(seconds=60),
    ) -> None:
        if reconnect_grace < timedelta(0) or session_end_grace < timedelta(0):
            raise ValueError("grace periods cannot be negative")
        self._room_name = room_name
        self._meeting_id = meeting_id
        self._mode = mode
        self._capacity = CAPACITY[mode]
        self._locked = locked
        self._reconnect_grace = reconnect_grace
        self._session_end_grace = session_end_grace
        self._state = RoomState.OPEN
        self._participants: dict[str, ParticipantView] = {}
        self._knockers: dict[str, ParticipantView] = {}
        self._session: _Session | None = None

    # --- read-only views for the shell -----------------------------------------------------

    @property
    def room_name(self) -> str:
        return self._room_name

    @property
    def meeting_id(self) -> str:
        return self._meeting_id

    @property
    def mode(self) -> RoomMode:
        return self._mode

    def participant(self, participant_id: str) -> ParticipantView | None:
        """The participant or knocker with this id, or None if the room does not know them."""
        return self._participants.get(participant_id) or self._knockers.get(participant_id)

    @property
    def participants(self) -> list[ParticipantView]:
        """Everyone present (joined or reconnecting), in join order."""
        return list(self._participants.values())

    @property
    def knockers(self) -> list[ParticipantView]:
        """Everyone waiting to be let in, in knock order."""
        return list(self._knockers.values())

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def state(self) -> RoomState:
        return self._state

    @property
    def ended(self) -> bool:
        """Whether a host ended the meeting; later joins are refused with ``meeting_ended``."""
        return self._state is RoomState.ENDED

    @property
    def session_id(self) -> str | None:
        """The open session's id, also while it may still end for lack of people."""
        return self._session.id if self._session else None

    @property
    def is_idle(self) -> bool:
        """Nobody present or knocking and no open session: the shell may drop the room (keep
        ``ended`` somewhere first if it matters)."""
        return not self._participants and not self._knockers and self._session is None

    @property
    def next_deadline(self) -> datetime | None:
        """When a ``Tick`` would next change something, or None if no timer is running."""
        timer = self._next_timer()
        return timer[0] if timer else None

    # --- events ----------------------------------------------------------------------------

    def handle(self, event: Event, now: datetime) -> list[Effect]:
        """The effects of ``event`` happening at ``now`` (timezone-aware), in the order to carry
        them out. Timers due by ``now`` fire first."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        effects: list[Effect] = []
        self._run_timers(now, effects)
        try:
            effects += self._dispatch(event, now)
        except SalonError as error:
            sender = _sender(event)
            if sender is None:
                raise
            effects.append(
                Reply(sender, ok=False, error_code=error.signal_code, error_message=error.message)
            )
        return effects

    def _dispatch(self, event: Event, now: datetime) -> list[Effect]:
        # Every handler checks everything before it changes anything: a refusal changes nothing.
        match event:
            case Join():
                return self._join(event, now)
            case Knock():
                return self._knock(event)
            case CancelKnock():
                return self._cancel_knock(event)
            case AdmitKnocker() | HoldKnocker() | RejectKnocker():
                return self._answer_knock(event)
            case Leave():
                return self._leave(event, now)
            case ConnectionLost():
                return self._connection_lost(event, now)
            case Resume():
                return self._resume(event)
            case SetLock():
                return self._set_lock(event)
            case RemoveParticipant():
                return self._remove(event, now)
            case RequestMute():
                return self._request_mute(event)
            case EndMeeting():
                return self._end_meeting(event, now)
            case MediaState():
                return self._media_state(event)
            case Signal():
                return self._signal(event)
            case SfuRequest():
                return self._sfu_request(event)
            case ChatRelay():
                return self._chat(event, now)
            case ChatDelete():
                return self._chat_delete(event)
            case Tick():
                return []
            case _:
                assert_never(event)

    # --- entering and leaving --------------------------------------------------------------

    def _join(self, event: Join, now: datetime) -> list[Effect]:
        if self.ended:
            raise MeetingEnded
        pid = event.participant_id
        was = self._state_of(pid)
        state = participant_transition(was, ParticipantEvent.JOIN, event.role)
        if event.audio or event.video:
            require(event.role, Permission.PUBLISH)
        if self._locked and not may(event.role, Permission.JOIN_LOCKED_ROOM):
            raise RoomLocked("This room is locked; knock to ask a host to let you in.")
        self._check_capacity(event.role)

        self._knockers.pop(pid, None)
        me = ParticipantView(
            id=pid,
            display_name=event.display_name,
            role=event.role,
            state=state,
            external_id=event.external_id,
            audio=event.audio,
            video=event.video,
            joined_at=now,
        )
        self._participants[pid] = me
        effects: list[Effect] = [
            Reply(pid, ok=True, data=self._welcome(me)),
            Broadcast("participant_joined", {"participant": me.to_wire()}, exclude=pid),
        ]
        if was is ParticipantState.KNOCKING:
            effects.append(_knock_gone(pid))
        self._sync_session(now, effects)
        return effects

    def _check_capacity(self, role: RoomRole) -> None:
        limit = self._capacity
        if role is RoomRole.VIEWER and limit.viewers is not None:
            viewers = sum(p.role is RoomRole.VIEWER for p in self._participants.values())
            if viewers >= limit.viewers:
                raise ViewerLimitReached(
                    f"This room has reached its limit of {limit.viewers} viewers."
                )
            return
        counted = (
            p
            for p in self._participants.values()
            if limit.viewers is None or p.role is not RoomRole.VIEWER
        )
        if sum(1 for _ in counted) >= limit.people:
            raise RoomFull(f"This room is full ({limit.people} people).")

    def _welcome(self, me: ParticipantView) -> dict[str, Any]:
        """A join's (or resume's) answer; the shell adds iceServers, resumeToken, resumed."""
        data: dict[str, Any] = {
            "self": me.to_wire(),
            "participants": [p.to_wire() for p in self._participants.values() if p.id != me.id],
            "room": {"roomName": self.room_name, "mode": self.mode.value, "locked": self._locked},
        }
        if me.role is not None and may(me.role, Permission.ANSWER_KNOCKS):
            # Knocks that arrived while no host was here still wait for an answer.
            data["knocks"] = [_knock_card(k) for k in self._knockers.values()]
        return data

    def _leave(self, event: Leave, now: datetime) -> list[Effect]:
        pid = event.participant_id
        participant_transition(self._state_of(pid), ParticipantEvent.LEAVE, self._role_of(pid))
        effects: list[Effect] = [Reply(pid, ok=True)]
        self._depart(pid, now, "left", effects)
        return effects

    def _connection_lost(self, event: ConnectionLost, now: datetime) -> list[Effect]:
        pid = event.participant_id
        was = self._state_of(pid)
        state = participant_transition(was, ParticipantEvent.CONNECTION_LOST, self._role_of(pid))
        if was is ParticipantState.KNOCKING:
            del self._knockers[pid]
            return [_knock_gone(pid)]
        if state is ParticipantState.RECONNECTING:
            me = replace(self._participants[pid], state=state, reconnecting_since=now)
            self._participants[pid] = me
            return [Broadcast("participant_updated", {"participant": me.to_wire()}, exclude=pid)]
        return []

    def _resume(self, event: Resume) -> list[Effect]:
        if self.ended:
            raise MeetingEnded
        pid = event.participant_id
        was = self._state_of(pid)
        state = participant_transition(was, ParticipantEvent.RESUME, self._role_of(pid))
        me = replace(self._participants[pid], state=state, reconnecting_since=None)
        self._participants[pid] = me
        effects: list[Effect] = [Reply(pid, ok=True, data=self._welcome(me))]
        if was is not state:
            effects.append(
                Broadcast("participant_updated", {"participant": me.to_wire()}, exclude=pid)
            )
        return effects

    def _depart(self, pid: str, at: datetime, reason: str, effects: list[Effect]) -> None:
        """Forget a present participant who left at ``at`` and tell the others."""
        del self._participants[pid]
        effects.append(
            Broadcast("participant_left", {"participantId": pid, "reason": reason}, exclude=pid)
        )
        session = self._session
        if session is not None and pid in session.members:
            if self._state is RoomState.IN_SESSION:
                del session.members[pid]
                effects.append(ParticipantLeftSession(session.id, pid, at))
            else:
                session.members[pid] = at
        self._sync_session(at, effects)

    # --- knocking --------------------------------------------------------------------------

    def _knock(self, event: Knock) -> list[Effect]:
        if self.ended:
            raise MeetingEnded
        pid = event.participant_id
        state = participant_transition(
            self._state_of(pid), ParticipantEvent.KNOCK, self._role_of(pid)
        )
        knocker = ParticipantView(
            id=pid,
            display_name=event.display_name,
            role=None,
            state=state,
            external_id=event.external_id,
        )
        self._knockers[pid] = knocker
        return [
            Reply(pid, ok=True, data={"knockId": pid}),
            Broadcast("knock_received", _knock_card(knocker), roles=_KNOCK_ANSWERERS),
        ]

    def _cancel_knock(self, event: CancelKnock) -> list[Effect]:
        pid = event.participant_id
        participant_transition(self._state_of(pid), ParticipantEvent.CANCEL, self._role_of(pid))
        del self._knockers[pid]
        return [Reply(pid, ok=True), _knock_gone(pid)]

    def _answer_knock(self, event: AdmitKnocker | HoldKnocker | RejectKnocker) -> list[Effect]:
        host = self._present(event.by)
        require(_role(host), Permission.ANSWER_KNOCKS)
        knocker_id = event.knocker_id
        if knocker_id not in self._knockers:
            raise UnknownParticipant("No one with that knock id is waiting to be let in.")
        answer = {
            AdmitKnocker: ParticipantEvent.ADMIT,
            HoldKnocker: ParticipantEvent.HOLD,
            RejectKnocker: ParticipantEvent.REJECT,
        }[type(event)]
        participant_transition(ParticipantState.KNOCKING, answer, None)

        effects: list[Effect] = [Reply(event.by, ok=True)]
        match event:
            case AdmitKnocker():
                del self._knockers[knocker_id]
                effects += [
                    GrantKey(knocker_id, RoomRole.GRANTED_VISITOR),
                    _knock_gone(knocker_id),
                ]
            case HoldKnocker():
                effects.append(Send(knocker_id, "knock_held", {"message": event.message}))
            case RejectKnocker():
                del self._knockers[knocker_id]
                effects += [
                    Send(knocker_id, "knock_rejected", {"message": event.message}),
                    Disconnect(knocker_id, "knock_rejected"),
                    _knock_gone(knocker_id),
                ]
        return effects

    # --- host controls ---------------------------------------------------------------------

    def _set_lock(self, event: SetLock) -> list[Effect]:
        require(_role(self._present(event.by)), Permission.LOCK)
        effects: list[Effect] = [Reply(event.by, ok=True)]
        if event.locked != self._locked:
            self._locked = event.locked
            effects.append(Broadcast("room_updated", {"locked": event.locked}))
        return effects

    def _remove(self, event: RemoveParticipant, now: datetime) -> list[Effect]:
        require(_role(self._present(event.by)), Permission.REMOVE)
        target = self._target(event.target_id)
        participant_transition(target.state, ParticipantEvent.REMOVE, target.role)
        effects: list[Effect] = [
            Reply(event.by, ok=True),
            Send(target.id, "removed", {}),
            Disconnect(target.id, "removed"),
        ]
        self._depart(target.id, now, "removed", effects)
        return effects

    def _request_mute(self, event: RequestMute) -> list[Effect]:
        require(_role(self._present(event.by)), Permission.REQUEST_MUTE)
        target = self._target(event.target_id)
        return [
            Reply(event.by, ok=True),
            Send(target.id, "mute_requested", {"kind": event.kind.value}),
        ]

    def _end_meeting(self, event: EndMeeting, now: datetime) -> list[Effect]:
        require(_role(self._present(event.by)), Permission.END_MEETING)
        room_state = room_transition(self._state, RoomEvent.END_MEETING)
        people = [*self._participants.values(), *self._knockers.values()]
        for person in people:
            participant_transition(person.state, ParticipantEvent.MEETING_END, person.role)

        effects: list[Effect] = [Reply(event.by, ok=True), Broadcast("meeting_ended", {})]
        effects += [Send(k.id, "meeting_ended", {}) for k in self._knockers.values()]
        effects += [Disconnect(p.id, "meeting_ended") for p in people]
        if self._session is not None:
            self._close_session(now, effects)
        self._participants.clear()
        self._knockers.clear()
        self._state = room_state
        return effects

    # --- in the room -----------------------------------------------------------------------

    def _media_state(self, event: MediaState) -> list[Effect]:
        me = self._present(event.participant_id)
        if event.audio or event.video or event.screenshare:
            require(_role(me), Permission.PUBLISH)
        updated = replace(me, audio=event.audio, video=event.video, screenshare=event.screenshare)
        effects: list[Effect] = [Reply(me.id, ok=True)]
        if updated != me:
            self._participants[me.id] = updated
            effects.append(
                Broadcast("participant_updated", {"participant": updated.to_wire()}, exclude=me.id)
            )
        return effects

    def _signal(self, event: Signal) -> list[Effect]:
        me = self._present(event.participant_id)
        if self._mode == _GROUP:
            raise InvalidInput.one(
                "signal",
                "this is a group room: media goes through the server "
                "(sfu_publish, sfu_subscribe), not peer to peer",
            )
        if event.to == me.id or event.to not in self._participants:
            raise UnknownParticipant("No other participant with that id is in the room.")
        data: dict[str, Any] = {"from": me.id}
        if event.description is not None and event.candidate is None:
            if not may(_role(me), Permission.PUBLISH) and _would_publish(event.description):
                require(_role(me), Permission.PUBLISH)
            data["description"] = event.description
        elif event.candidate is not None and event.description is None:
            data["candidate"] = event.candidate
        else:
            raise InvalidInput.one("signal", "send exactly one of description or candidate")
        return [Reply(me.id, ok=True), Send(event.to, "signal", data)]

    def _sfu_request(self, event: SfuRequest) -> list[Effect]:
        me = self._present(event.participant_id)
        if self._mode != _GROUP:
            raise InvalidInput.one(
                event.event, "this is not a group room: media goes peer to peer (signal)"
            )
        if event.publishes:
            require(_role(me), Permission.PUBLISH)
        return []

    def _chat(self, event: ChatRelay, now: datetime) -> list[Effect]:
        me = self._present(event.participant_id)
        message = {
            "messageId": event.message_id,
            "from": me.id,
            "displayName": me.display_name,
            "text": event.text,
            "sentAt": _iso_utc(now),
        }
        return [Reply(me.id, ok=True), Broadcast("chat", message, exclude=me.id)]

    def _chat_delete(self, event: ChatDelete) -> list[Effect]:
        require(_role(self._present(event.by)), Permission.DELETE_CHAT)
        return [
            Reply(event.by, ok=True),
            Broadcast("chat_deleted", {"messageId": event.message_id}),
        ]

    # --- sessions and timers ---------------------------------------------------------------

    def _sync_session(self, at: datetime, effects: list[Effect]) -> None:
        """Start, continue or start ending the session after who is present changed at ``at``."""
        present = len(self._participants)
        if present >= _PRESENT_TO_START and self._state is RoomState.OPEN:
            self._session = _Session(id=str(uuid.uuid4()), started_at=at)
            effects.append(SessionStarted(self._session.id, at))
            self._state = room_transition(self._state, RoomEvent.TWO_PRESENT)
        elif present >= _PRESENT_TO_START and self._state is RoomState.SESSION_ENDING:
            session = self._open_session()
            for pid, left_at in list(session.members.items()):
                if left_at is not None:
                    del session.members[pid]
                    effects.append(ParticipantLeftSession(session.id, pid, left_at))
            session.fewer_than_two_since = None
            self._state = room_transition(self._state, RoomEvent.TWO_PRESENT)
        if self._state is not RoomState.IN_SESSION:
            return
        session = self._open_session()
        for p in self._participants.values():
            if p.id not in session.members:
                session.members[p.id] = None
                joined = max(p.joined_at or session.started_at, session.started_at)
                effects.append(
                    ParticipantJoinedSession(session.id, p.id, _role(p), p.external_id, joined)
                )
        if present < _PRESENT_TO_START:
            session.fewer_than_two_since = at
            self._state = room_transition(self._state, RoomEvent.FEWER_THAN_TWO)

    def _close_session(self, now: datetime, effects: list[Effect]) -> None:
        """End the session when fewer than two remained (or now, if it was still full)."""
        session = self._open_session()
        at = session.fewer_than_two_since or now
        effects += [ParticipantLeftSession(session.id, pid, at) for pid in session.members]
        effects.append(SessionEnded(session.id, at))
        self._session = None

    def _next_timer(self) -> tuple[datetime, str | None] | None:
        """The earliest deadline and whose it is (None: the session's); reconnects win ties."""
        best: tuple[datetime, str | None] | None = None
        for p in self._participants.values():
            if p.reconnecting_since is not None:
                at = p.reconnecting_since + self._reconnect_grace
                if best is None or at < best[0]:
                    best = (at, p.id)
        session = self._session
        if session is not None and session.fewer_than_two_since is not None:
            at = session.fewer_than_two_since + self._session_end_grace
            if best is None or at < best[0]:
                best = (at, None)
        return best

    def _run_timers(self, now: datetime, effects: list[Effect]) -> None:
        # One deadline at a time, earliest first, each at its own time: the outcome does not
        # depend on how often the shell ticks.
        while (timer := self._next_timer()) is not None and timer[0] <= now:
            at, pid = timer
            if pid is None:
                self._state = room_transition(self._state, RoomEvent.GRACE_EXPIRED)
                self._close_session(at, effects)
            else:
                p = self._participants[pid]
                participant_transition(p.state, ParticipantEvent.RECONNECT_EXPIRED, p.role)
                self._depart(pid, at, "disconnected", effects)

    # --- lookups ---------------------------------------------------------------------------

    def _state_of(self, pid: str) -> ParticipantState:
        if pid in self._participants:
            return self._participants[pid].state
        if pid in self._knockers:
            return ParticipantState.KNOCKING
        return ParticipantState.ABSENT

    def _role_of(self, pid: str) -> RoomRole | None:
        p = self._participants.get(pid)
        return p.role if p else None

    def _present(self, pid: str) -> ParticipantView:
        """The sender of a request that needs presence; ``not_in_room`` if absent."""
        p = self._participants.get(pid)
        if p is None:
            raise NotInRoom
        return p

    def _target(self, pid: str) -> ParticipantView:
        p = self._participants.get(pid)
        if p is None:
            raise UnknownParticipant("No one with that id is in the room.")
        return p

    def _open_session(self) -> _Session:
        if self._session is None:
            raise RuntimeError(f"room state {self._state} without a session")
        return self._session


def _role(p: ParticipantView) -> RoomRole:
    if p.role is None:
        raise RuntimeError("a present participant always has a role")
    return p.role


def _sender(event: Event) -> str | None:
    """Who gets the answer if ``event`` is refused (None: nobody sent it)."""
    match event:
        case (
            AdmitKnocker()
            | HoldKnocker()
            | RejectKnocker()
            | SetLock()
            | RemoveParticipant()
            | RequestMute()
            | EndMeeting()
            | ChatDelete()
        ):
            return event.by
        case Tick():
            return None
        case _:
            return event.participant_id


def _knock_card(knocker: ParticipantView) -> dict[str, Any]:
    return {"knockId": knocker.id, "displayName": knocker.display_name}


def _knock_gone(knock_id: str) -> Broadcast:
    """Hosts drop this knock from their lists (admitted, turned away, withdrawn or dropped)."""
    return Broadcast("knock_cancelled", {"knockId": knock_id}, roles=_KNOCK_ANSWERERS)


def _would_publish(description: dict[str, str]) -> bool:
    """Whether a session description would send audio or video; unreadable ones would."""
    if description.get("type") == "rollback":
        return False
    sdp = description.get("sdp")
    if sdp is None:
        return True
    try:
        return would_send_media(sdp)
    except InvalidSdp:
        return True


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
