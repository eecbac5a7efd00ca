"""What goes into a room and what comes out of it.

The room engine (``salon.rooms.engine.Room``) is sans-I/O: the signaling shell feeds it one
``Event`` at a time together with the current time, and gets back a list of ``Effect`` values to
carry out (send a message to a participant, broadcast, disconnect someone, record attendance,
sign a new room key). Nothing here touches a socket, a database or a clock.

Participants are named by ``participant_id`` (an opaque string the shell assigns per join; a
reconnect that resumes keeps it). Roles come from verified room keys, never from the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from salon.auth.room_keys import RoomRole

__all__ = [
    "AdmitKnocker",
    "Broadcast",
    "CancelKnock",
    "ChatDelete",
    "ChatRelay",
    "ConnectionLost",
    "Disconnect",
    "Effect",
    "EndMeeting",
    "Event",
    "GrantKey",
    "HoldKnocker",
    "Join",
    "Knock",
    "Leave",
    "MediaState",
    "MuteKind",
    "ParticipantJoinedSession",
    "ParticipantLeftSession",
    "RejectKnocker",
    "RemoveParticipant",
    "Reply",
    "RequestMute",
    "Resume",
    "Send",
    "SessionEnded",
    "SessionStarted",
    "SetLock",
    "SfuRequest",
    "Signal",
    "Tick",
]


class MuteKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


# --- events: what happened ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """A participant with a verified role asks to enter (``wants_*``: media it will send)."""

    participant_id: str
    role: RoomRole
    display_name: str
    external_id: str | None = None
    audio: bool = False
    video: bool = False


@dataclass(frozen=True, slots=True)
class Knock:
    """Someone outside a locked room asks to be let in."""

    participant_id: str
    display_name: str
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelKnock:
    participant_id: str


@dataclass(frozen=True, slots=True)
class AdmitKnocker:
    by: str
    knocker_id: str


@dataclass(frozen=True, slots=True)
class HoldKnocker:
    """The host answers "please wait" with a message; the knocker keeps waiting."""

    by: str
    knocker_id: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class RejectKnocker:
    by: str
    knocker_id: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class Leave:
    participant_id: str


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The transport dropped; the participant may ``Resume`` within the grace period."""

    participant_id: str


@dataclass(frozen=True, slots=True)
class Resume:
    participant_id: str


@dataclass(frozen=True, slots=True)
class SetLock:
    by: str
    locked: bool


@dataclass(frozen=True, slots=True)
class RemoveParticipant:
    by: str
    target_id: str


@dataclass(frozen=True, slots=True)
class RequestMute:
    by: str
    target_id: str
    kind: MuteKind


@dataclass(frozen=True, slots=True)
class EndMeeting:
    by: str


@dataclass(frozen=True, slots=True)
class MediaState:
    participant_id: str
    audio: bool
    video: bool
    screenshare: bool


@dataclass(frozen=True, slots=True)
class Signal:
    """A WebRTC offer/answer or ICE candidate for one other participant.

    ``description`` is ``{"type": "offer"|"answer"|"rollback", "sdp": str}`` or None;
    ``candidate`` is an RTCIceCandidateInit-shaped dict or None (exactly one is set).
    """

    participant_id: str
    to: str
    description: dict[str, str] | None = None
    candidate: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SfuRequest:
    """A participant asks the SFU something (``event``: ``sfu_publish``, ``sfu_subscribe``…);
    ``publishes`` when it would send media.

    The room only decides whether it may: a refusal is a ``Reply``; no effect at all means
    allowed, and the shell answers once the SFU has.
    """

    participant_id: str
    event: str
    publishes: bool = False


@dataclass(frozen=True, slots=True)
class ChatRelay:
    """A chat message relayed by the server (group rooms, or when a data channel fails)."""

    participant_id: str
    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class ChatDelete:
    """A host deletes a chat message for everyone."""

    by: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: expire reconnect grace periods and end sessions that emptied."""


Event = (
    Join
    | Knock
    | CancelKnock
    | AdmitKnocker
    | HoldKnocker
    | RejectKnocker
    | Leave
    | ConnectionLost
    | Resume
    | SetLock
    | RemoveParticipant
    | RequestMute
    | EndMeeting
    | MediaState
    | Signal
    | SfuRequest
    | ChatRelay
    | ChatDelete
    | Tick
)


# --- effects: what the shell must do -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to the event's sender (a Socket.IO ack): ok with data, or an error code."""

    to: str
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """One server event to one participant (or knocker)."""

    to: str
    event: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One server event to every joined participant, except ``exclude``; ``roles`` limits it."""

    event: str
    data: dict[str, Any] = field(default_factory=dict)
    exclude: str | None = None
    roles: frozenset[RoomRole] | None = None


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close this participant's connection after sending what precedes this effect."""

    participant_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class GrantKey:
    """Sign a fresh room key for an admitted knocker and send it as ``knock_accepted``."""

    participant_id: str
    role: RoomRole


@dataclass(frozen=True, slots=True)
class SessionStarted:
    session_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ParticipantJoinedSession:
    session_id: str
    participant_id: str
    role: RoomRole
    external_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ParticipantLeftSession:
    session_id: str
    participant_id: str
    at: datetime


Effect = (
    Reply
    | Send
    | Broadcast
    | Disconnect
    | GrantKey
    | SessionStarted
    | SessionEnded
    | ParticipantJoinedSession
    | ParticipantLeftSession
)
