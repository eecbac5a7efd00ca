"""The signaling wire schema, version 1: every client event as a bounded, closed pydantic model.

This is the trust boundary of the signaling shell (``docs/signaling.md`` is the contract).
``parse(event, payload)`` checks the payload's size before anything else, refuses unknown
fields, bounds every string and list, and returns a frozen model; anything wrong raises
``InvalidInput`` naming the fields, which the shell answers with ``invalid_message``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from salon.errors import FieldProblem, InvalidInput
from salon.media.layers import MAX_TILE_PIXELS

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MODELS",
    "PROTOCOL_VERSION",
    "AdmitMessage",
    "CancelKnockMessage",
    "ChatDeleteMessage",
    "ChatMessage",
    "ClientMessage",
    "EndMeetingMessage",
    "HoldMessage",
    "IceCandidate",
    "JoinMessage",
    "KnockMessage",
    "LeaveMessage",
    "MediaStateMessage",
    "RejectMessage",
    "RemoveMessage",
    "RequestMuteMessage",
    "SessionDescription",
    "SetLockMessage",
    "SfuAnswerMessage",
    "SfuCandidateMessage",
    "SfuMessage",
    "SfuPublishMessage",
    "SfuRestartIceMessage",
    "SfuSubscribeMessage",
    "SfuUnpublishMessage",
    "SfuViewMessage",
    "SignalMessage",
    "ViewTile",
    "message_size",
    "parse",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
# An SDP must fit in one message together with its envelope.
MAX_SDP_CHARS = 60_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _room_name(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._-]{1,79}", value):
        raise ValueError("must be a room name such as /my-room-1a2b3c (the path of the room URL)")
    return value


RoomName = Annotated[str, StringConstraints(max_length=80), AfterValidator(_room_name)]
RoomKey = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
DisplayName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(_printable),
    AfterValidator(_not_blank),
]
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_printable)
]
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
]
ResumeToken = Annotated[str, StringConstraints(min_length=1, max_length=128)]
HostMessage = Annotated[str, StringConstraints(max_length=500), AfterValidator(_printable)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class JoinMessage(_Message):
    roomName: RoomName
    roomKey: RoomKey | None = None
    displayName: DisplayName
    externalId: ExternalId | None = None
    audio: StrictBool
    video: StrictBool
    resumeToken: ResumeToken | None = None


class KnockMessage(_Message):
    roomName: RoomName
    roomKey: RoomKey | None = None
    displayName: DisplayName
    externalId: ExternalId | None = None


class CancelKnockMessage(_Message):
    pass


class LeaveMessage(_Message):
    pass


class SessionDescription(_Message):
    """RTCSessionDescriptionInit; ``sdp`` may be empty only for a rollback."""

    type: Literal["offer", "answer", "rollback"]
    sdp: Annotated[str, StringConstraints(max_length=MAX_SDP_CHARS)] = ""

    @model_validator(mode="after")
    def _sdp_present(self) -> Self:
        if self.type != "rollback" and not self.sdp:
            raise ValueError(f"sdp is required for an {self.type}")
        return self


class IceCandidate(_Message):
    """RTCIceCandidateInit; an empty ``candidate`` means end of candidates."""

    candidate: Annotated[str, StringConstraints(max_length=1024)] = ""
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: Annotated[StrictInt, Field(ge=0, le=1023)] | None = None
    usernameFragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class SignalMessage(_Message):
    to: Id
    description: SessionDescription | None = None
    candidate: IceCandidate | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.description is None) == (self.candidate is None):
            raise ValueError("give exactly one of description or candidate")
        return self


class MediaStateMessage(_Message):
    audio: StrictBool
    video: StrictBool
    screenshare: StrictBool


class ChatMessage(_Message):
    messageId: Id
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class ChatDeleteMessage(_Message):
    messageId: Id


class SetLockMessage(_Message):
    locked: StrictBool


class AdmitMessage(_Message):
    knockId: Id


class HoldMessage(_Message):
    knockId: Id
    message: HostMessage = ""


class RejectMessage(_Message):
    knockId: Id
    message: HostMessage = ""


class RemoveMessage(_Message):
    participantId: Id


class RequestMuteMessage(_Message):
    participantId: Id
    kind: Literal["audio", "video"]


class EndMeetingMessage(_Message):
    pass


# --- group rooms: media through the SFU ------------------------------------------------------

# A media section's id as browsers make them ("0", "1", ...; any SDP token is allowed).
Mid = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
MAX_PUBLISHED_STREAMS = 16


class _SfuDescription(_Message):
    """An offer or answer exchanged with the SFU: a whole SDP, never a rollback."""

    type: Literal["offer", "answer"]
    sdp: Annotated[str, StringConstraints(min_length=3, max_length=MAX_SDP_CHARS)]

    @model_validator(mode="after")
    def _is_sdp(self) -> Self:
        if not self.sdp.startswith("v=0"):
            raise ValueError("sdp must be a session description (it starts with v=0)")
        return self


class SfuPublishMessage(_Message):
    """The browser's publisher offer; ``kinds`` says which ``mid`` is a screen share."""

    description: _SfuDescription
    kinds: (
        Annotated[
            dict[Mid, Literal["audio", "video", "screen"]],
            Field(max_length=MAX_PUBLISHED_STREAMS),
        ]
        | None
    ) = None

    @field_validator("description")
    @classmethod
    def _offer(cls, value: _SfuDescription) -> _SfuDescription:
        if value.type != "offer":
            raise ValueError("must be an offer")
        return value


class SfuSubscribeMessage(_Message):
    pass


class SfuAnswerMessage(_Message):
    """The browser's answer to the SFU's latest subscriber offer."""

    description: _SfuDescription

    @field_validator("description")
    @classmethod
    def _answer(cls, value: _SfuDescription) -> _SfuDescription:
        if value.type != "answer":
            raise ValueError("must be an answer")
        return value


class SfuCandidateMessage(_Message):
    """One trickled ICE candidate of the publisher or subscriber connection; ``candidate``
    null (or an empty ``candidate`` string) says gathering is complete."""

    target: Literal["publisher", "subscriber"]
    candidate: IceCandidate | None

    @field_validator("candidate")
    @classmethod
    def _usable(cls, value: IceCandidate | None) -> IceCandidate | None:
        if value is None or not value.candidate:
            return value
        if not value.candidate.startswith("candidate:") or "\n" in value.candidate:
            raise ValueError("candidate must be one 'candidate:' line")
        if value.sdpMid is None and value.sdpMLineIndex is None:
            raise ValueError("must name its m-line (sdpMid or sdpMLineIndex)")
        return value


class SfuUnpublishMessage(_Message):
    pass


class SfuRestartIceMessage(_Message):
    """Asks the SFU to restart ICE on the subscriber connection (the browser has fresh ICE
    servers): its new offer follows as ``sfu_offer``. The publisher restarts ICE itself, with a
    new ``sfu_publish`` offer."""


# Every camera and screen of a full group room (200 people) fits; a receive estimate above
# 10 Gbit/s is not one.
MAX_VIEW_TILES = 400
MAX_BANDWIDTH_BPS = 10_000_000_000


class ViewTile(_Message):
    """Where the browser draws one stream it receives: whose (``participantId``), which
    (``kind``), at what size in device pixels, and whether any of it can be seen."""

    participantId: Id
    kind: Literal["video", "screen"]
    width: Annotated[StrictInt, Field(ge=0, le=MAX_TILE_PIXELS)]
    height: Annotated[StrictInt, Field(ge=0, le=MAX_TILE_PIXELS)]
    visible: StrictBool = True


class SfuViewMessage(_Message):
    """How the subscriber shows what it receives, and how its receiving path fares: the SFU
    picks each stream's simulcast layer from it (``salon.media.layers``)."""

    tiles: Annotated[list[ViewTile], Field(max_length=MAX_VIEW_TILES)]
    bandwidth: Annotated[StrictInt, Field(ge=0, le=MAX_BANDWIDTH_BPS)] | None = None
    loss: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None

    @field_validator("tiles")
    @classmethod
    def _one_per_stream(cls, value: list[ViewTile]) -> list[ViewTile]:
        seen: set[tuple[str, str]] = set()
        for tile in value:
            key = (tile.participantId, tile.kind)
            if key in seen:
                raise ValueError(f"names the {tile.kind} of {tile.participantId} twice")
            seen.add(key)
        return value


SfuMessage = (
    SfuPublishMessage
    | SfuSubscribeMessage
    | SfuAnswerMessage
    | SfuCandidateMessage
    | SfuUnpublishMessage
    | SfuRestartIceMessage
    | SfuViewMessage
)


ClientMessage = (
    JoinMessage
    | KnockMessage
    | CancelKnockMessage
    | LeaveMessage
    | SignalMessage
    | MediaStateMessage
    | ChatMessage
    | ChatDeleteMessage
    | SetLockMessage
    | AdmitMessage
    | HoldMessage
    | RejectMessage
    | RemoveMessage
    | RequestMuteMessage
    | EndMeetingMessage
    | SfuMessage
)

MODELS: dict[str, type[ClientMessage]] = {
    "join": JoinMessage,
    "knock": KnockMessage,
    "cancel_knock": CancelKnockMessage,
    "leave": LeaveMessage,
    "signal": SignalMessage,
    "media_state": MediaStateMessage,
    "chat": ChatMessage,
    "chat_delete": ChatDeleteMessage,
    "set_lock": SetLockMessage,
    "admit": AdmitMessage,
    "hold": HoldMessage,
    "reject": RejectMessage,
    "remove": RemoveMessage,
    "request_mute": RequestMuteMessage,
    "end_meeting": EndMeetingMessage,
    "sfu_publish": SfuPublishMessage,
    "sfu_subscribe": SfuSubscribeMessage,
    "sfu_answer": SfuAnswerMessage,
    "sfu_candidate": SfuCandidateMessage,
    "sfu_unpublish": SfuUnpublishMessage,
    "sfu_restart_ice": SfuRestartIceMessage,
    "sfu_view": SfuViewMessage,
}

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field; remove it",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "literal_error": None,  # pydantic's own text names the allowed values
}


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "payload"
        message = _MESSAGES.get(error["type"]) or str(error["msg"])
        problems.append(FieldProblem(field, message.removeprefix("Value error, ")))
    return problems


def message_size(payload: Any) -> int:
    """The payload's size as compact JSON, in bytes (what the client sent, give or take spaces)."""
    try:
        return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return MAX_MESSAGE_BYTES + 1


def parse(event: str, payload: Any) -> ClientMessage:
    """The typed message for ``event``; raises ``InvalidInput`` naming what is wrong."""
    model = MODELS.get(event)
    if model is None:
        raise InvalidInput.one("event", f"{event[:64]!r} is not a known event")
    if message_size(payload) > MAX_MESSAGE_BYTES:
        raise InvalidInput.one("payload", f"must be at most {MAX_MESSAGE_BYTES} bytes of JSON")
    if not isinstance(payload, dict):
        raise InvalidInput.one("payload", "must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidInput(_problems(exc)) from None
