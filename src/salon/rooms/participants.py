"""The lifecycles inside a live room, as tables: participants, the room's sessions, and roles.

``PARTICIPANT_TRANSITIONS`` says, for each participant state, which events may happen and where
they lead. Someone the room does not know is ``ABSENT``; ``LEFT`` and ``ADMITTED`` are final —
the room forgets the person (an admitted knocker comes back with a granted key and joins like
anyone else)::

    ABSENT ──join──▶ JOINED ──connection_lost──▶ RECONNECTING ──resume──▶ JOINED
       │               │                              │
       knock           leave / remove / meeting_end   leave / remove / meeting_end /
       ▼               ▼                              reconnect_expired ──▶ LEFT
    KNOCKING ──admit──▶ ADMITTED
       ├─ hold ──▶ KNOCKING       ├─ join ──▶ JOINED (the room was unlocked meanwhile)
       └─ reject / cancel / connection_lost / meeting_end ──▶ LEFT

``ROOM_TRANSITIONS`` does the same for the room: a session starts when two people are present,
survives a dip below two for a grace period, and the host can end the meeting for good.

``PERMISSIONS`` says what each role may do beyond being present. Anything not in these tables is
refused; an illegal transition raises ``IllegalTransition``, which names event, role and state.
"""

from __future__ import annotations

from enum import StrEnum

from salon.auth.room_keys import RoomRole
from salon.errors import Forbidden, SalonError

__all__ = [
    "FINAL_STATES",
    "IN_ROOM",
    "PARTICIPANT_TRANSITIONS",
    "PERMISSIONS",
    "ROOM_TRANSITIONS",
    "IllegalTransition",
    "ParticipantEvent",
    "ParticipantState",
    "Permission",
    "RoomEvent",
    "RoomState",
    "may",
    "participant_transition",
    "require",
    "room_transition",
]


class ParticipantState(StrEnum):
    ABSENT = "absent"
    KNOCKING = "knocking"
    JOINED = "joined"
    RECONNECTING = "reconnecting"
    ADMITTED = "admitted"
    LEFT = "left"


class ParticipantEvent(StrEnum):
    JOIN = "join"
    KNOCK = "knock"
    ADMIT = "admit"
    HOLD = "hold"
    REJECT = "reject"
    CANCEL = "cancel"
    LEAVE = "leave"
    CONNECTION_LOST = "connection_lost"
    RESUME = "resume"
    REMOVE = "remove"
    MEETING_END = "meeting_end"
    RECONNECT_EXPIRED = "reconnect_expired"


_P = ParticipantState
_E = ParticipantEvent

PARTICIPANT_TRANSITIONS: dict[ParticipantState, dict[ParticipantEvent, ParticipantState]] = {
    _P.ABSENT: {
        _E.JOIN: _P.JOINED,
        _E.KNOCK: _P.KNOCKING,
        # A connection that never joined (or was already sent away) closes: nothing to do.
        _E.CONNECTION_LOST: _P.ABSENT,
    },
    _P.KNOCKING: {
        # A knocker may join directly once the room is unlocked; the knock is withdrawn.
        _E.JOIN: _P.JOINED,
        _E.ADMIT: _P.ADMITTED,
        _E.HOLD: _P.KNOCKING,
        _E.REJECT: _P.LEFT,
        _E.CANCEL: _P.LEFT,
        # Knockers have no reconnect grace: they knock again.
        _E.CONNECTION_LOST: _P.LEFT,
        _E.MEETING_END: _P.LEFT,
    },
    _P.JOINED: {
        # The client came back on a new connection before the server noticed the old one drop.
        _E.RESUME: _P.JOINED,
        _E.LEAVE: _P.LEFT,
        _E.CONNECTION_LOST: _P.RECONNECTING,
        _E.REMOVE: _P.LEFT,
        _E.MEETING_END: _P.LEFT,
    },
    _P.RECONNECTING: {
        _E.RESUME: _P.JOINED,
        _E.LEAVE: _P.LEFT,
        _E.REMOVE: _P.LEFT,
        _E.MEETING_END: _P.LEFT,
        _E.RECONNECT_EXPIRED: _P.LEFT,
    },
    _P.ADMITTED: {},
    _P.LEFT: {},
}

FINAL_STATES = frozenset(s for s, row in PARTICIPANT_TRANSITIONS.items() if not row)
IN_ROOM = frozenset({ParticipantState.JOINED, ParticipantState.RECONNECTING})
"""States in which a participant is present: seen by others, counted, able to act."""


class RoomState(StrEnum):
    OPEN = "open"
    IN_SESSION = "in_session"
    SESSION_ENDING = "session_ending"
    """Fewer than two are present; the session ends unless a second person is back in time."""
    ENDED = "ended"


class RoomEvent(StrEnum):
    TWO_PRESENT = "two_present"
    FEWER_THAN_TWO = "fewer_than_two"
    GRACE_EXPIRED = "grace_expired"
    END_MEETING = "end_meeting"


_R = RoomState
_RE = RoomEvent

ROOM_TRANSITIONS: dict[RoomState, dict[RoomEvent, RoomState]] = {
    _R.OPEN: {_RE.TWO_PRESENT: _R.IN_SESSION, _RE.END_MEETING: _R.ENDED},
    _R.IN_SESSION: {_RE.FEWER_THAN_TWO: _R.SESSION_ENDING, _RE.END_MEETING: _R.ENDED},
    _R.SESSION_ENDING: {
        _RE.TWO_PRESENT: _R.IN_SESSION,  # the same session continues
        _RE.GRACE_EXPIRED: _R.OPEN,
        _RE.END_MEETING: _R.ENDED,
    },
    _R.ENDED: {},
}


class Permission(StrEnum):
    PUBLISH = "publish"
    JOIN_LOCKED_ROOM = "join_locked_room"
    LOCK = "lock"
    ANSWER_KNOCKS = "answer_knocks"
    REMOVE = "remove"
    REQUEST_MUTE = "request_mute"
    END_MEETING = "end_meeting"
    DELETE_CHAT = "delete_chat"


PERMISSIONS: dict[RoomRole, frozenset[Permission]] = {
    RoomRole.HOST: frozenset(Permission),
    RoomRole.VISITOR: frozenset({Permission.PUBLISH}),
    # Admitted by a host after knocking, so the lock no longer keeps them out.
    RoomRole.GRANTED_VISITOR: frozenset({Permission.PUBLISH, Permission.JOIN_LOCKED_ROOM}),
    RoomRole.VIEWER: frozenset(),
}

_REFUSALS: dict[Permission, str] = {
    Permission.PUBLISH: "Viewers can watch and listen but cannot send audio, video or a screen.",
    Permission.JOIN_LOCKED_ROOM: "This room is locked; knock to ask a host to let you in.",
    Permission.LOCK: "Only hosts can lock or unlock the room.",
    Permission.ANSWER_KNOCKS: "Only hosts can let people in or turn them away.",
    Permission.REMOVE: "Only hosts can remove participants.",
    Permission.REQUEST_MUTE: "Only hosts can ask others to mute or turn off their camera.",
    Permission.END_MEETING: "Only hosts can end the meeting.",
    Permission.DELETE_CHAT: "Only hosts can delete chat messages.",
}


def may(role: RoomRole, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def require(role: RoomRole, permission: Permission) -> None:
    """Returns if ``role`` has ``permission``; raises ``Forbidden`` saying who may, if not."""
    if not may(role, permission):
        raise Forbidden(_REFUSALS[permission])


class IllegalTransition(SalonError):
    """An event that the lifecycle tables do not allow in the current state.

    ``event``, ``role`` (None for someone without one yet, and for the room itself) and
    ``state`` say which cell of the table was empty. Someone outside the room is answered
    ``not_in_room``; someone inside it (joining twice, say) ``invalid_message``.
    """

    code = "illegal_transition"
    status = 409

    def __init__(self, event: str, role: RoomRole | None, state: str, message: str) -> None:
        super().__init__(message)
        self.event = event
        self.role = role
        self.state = state
        self.signal_code = "invalid_message" if state in IN_ROOM else "not_in_room"


_WHO: dict[RoomRole | None, str] = {
    RoomRole.HOST: "A host",
    RoomRole.VISITOR: "A visitor",
    RoomRole.GRANTED_VISITOR: "An admitted visitor",
    RoomRole.VIEWER: "A viewer",
    None: "Someone",
}
_BEING: dict[ParticipantState, str] = {
    _P.ABSENT: "is not in the room",
    _P.KNOCKING: "is waiting to be let in",
    _P.JOINED: "is in the room",
    _P.RECONNECTING: "is reconnecting",
    _P.ADMITTED: "was let in but has not joined",
    _P.LEFT: "has left",
}
_DOING: dict[ParticipantEvent, str] = {
    _E.JOIN: "join",
    _E.KNOCK: "knock",
    _E.ADMIT: "be let in",
    _E.HOLD: "be asked to wait",
    _E.REJECT: "be turned away",
    _E.CANCEL: "cancel a knock",
    _E.LEAVE: "leave",
    _E.CONNECTION_LOST: "lose the connection",
    _E.RESUME: "resume",
    _E.REMOVE: "be removed",
    _E.MEETING_END: "be sent off when the meeting ends",
    _E.RECONNECT_EXPIRED: "run out of time to reconnect",
}


def participant_transition(
    state: ParticipantState, event: ParticipantEvent, role: RoomRole | None
) -> ParticipantState:
    """The state ``event`` leads to; raises ``IllegalTransition`` if the table has no such cell."""
    try:
        return PARTICIPANT_TRANSITIONS[state][event]
    except KeyError:
        message = f"{_WHO[role]} who {_BEING[state]} cannot {_DOING[event]}."
        raise IllegalTransition(event, role, state, message) from None


def room_transition(state: RoomState, event: RoomEvent) -> RoomState:
    """The room state ``event`` leads to; an empty cell is a programming error in the engine."""
    try:
        return ROOM_TRANSITIONS[state][event]
    except KeyError:
        message = f"A room that is {state.replace('_', ' ')} cannot take '{event}'."
        raise IllegalTransition(event, None, state, message) from None
