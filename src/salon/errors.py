"""Salon's one exception tree.

Every error Salon raises on purpose is a ``SalonError``. Each class carries a stable machine
``code``, the HTTP ``status`` a REST response uses and the ``signal_code`` a signaling error
event uses, so one place decides how a failure looks on every surface. The message is written
for the caller: it says what was wrong and how to fix it. Server-side detail (SQL, stack
traces, key material) never goes into a message.

    SalonError
    ├── ConfigError                 a setting is wrong; start-up stops       (no HTTP status)
    ├── InvalidInput                bad request body / query / parameter     400 invalid_input
    │   ├── PayloadTooLarge         body over the size bound                 413 payload_too_large
    │   └── UnsupportedContentType  body is not JSON                         415 unsupported_...
    ├── Unauthenticated             missing or bad API key                   401 unauthenticated
    ├── Forbidden                   authenticated but not allowed            403 forbidden
    ├── NotFound                    no such resource (for this org)          404 not_found
    ├── Conflict                    the resource already exists              409 conflict
    ├── RoomDeactivated             the room's end date + 1 h has passed     410 room_deactivated
    ├── RateLimited                 the org's points for the minute are used 429 rate_limited
    ├── InvalidToken                a room key / grant failed verification   401 invalid_token
    ├── DecryptionError             any failure to unwrap or decrypt         500 internal_error
    └── SfuError                    the media server (SFU) failed a request  502 sfu_error
        ├── SfuUnavailable          no answer from the node, session lost    503 sfu_unavailable
        ├── SfuRoomNotFound         the room is not (or no longer) on it     503 sfu_room_not_found
        └── SfuRefused              refused: not allowed, full, bad offer    403 sfu_refused

An ``SfuError`` keeps what the media server said in ``detail``, for logs only: the message a
caller sees never repeats it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ConfigError",
    "Conflict",
    "DecryptionError",
    "FieldProblem",
    "Forbidden",
    "InvalidInput",
    "InvalidToken",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RoomDeactivated",
    "SalonError",
    "SfuError",
    "SfuRefusal",
    "SfuRefused",
    "SfuRoomNotFound",
    "SfuUnavailable",
    "Unauthenticated",
    "UnsupportedContentType",
]


class SalonError(Exception):
    """Base of every error Salon raises on purpose."""

    code = "internal_error"
    status = 500
    signal_code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SalonError):
    """A setting is missing, malformed or conflicts with another; start-up stops."""

    code = "config_error"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field: where it is (``recording.destination.bucket``) and what is allowed."""

    field: str
    message: str


class InvalidInput(SalonError):
    """The request carried a value that is not allowed; nothing was changed."""

    code = "invalid_input"
    status = 400
    signal_code = "invalid_message"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        summary = "; ".join(f"{p.field}: {p.message}" for p in self.problems)
        super().__init__(f"Invalid request. {summary}")

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        return cls([FieldProblem(field, message)])


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    status = 413
    signal_code = "message_too_large"


class UnsupportedContentType(InvalidInput):
    code = "unsupported_content_type"
    status = 415

    def __init__(self) -> None:
        super().__init__([FieldProblem("Content-Type", "must be application/json")])


class Unauthenticated(SalonError):
    code = "unauthenticated"
    status = 401
    signal_code = "unauthenticated"


class Forbidden(SalonError):
    code = "forbidden"
    status = 403
    signal_code = "forbidden"


class NotFound(SalonError):
    code = "not_found"
    status = 404
    signal_code = "not_found"


class Conflict(SalonError):
    code = "conflict"
    status = 409
    signal_code = "conflict"


class RoomDeactivated(SalonError):
    code = "room_deactivated"
    status = 410
    signal_code = "room_deactivated"


class RateLimited(SalonError):
    """The organization spent its points for the current window."""

    code = "rate_limited"
    status = 429
    signal_code = "rate_limited"

    def __init__(self, message: str, *, ms_left: int) -> None:
        super().__init__(message)
        self.ms_left = ms_left


class InvalidToken(SalonError):
    """A room key or grant is forged, expired, or for another room. Deliberately opaque."""

    code = "invalid_token"
    status = 401
    signal_code = "invalid_token"

    def __init__(self) -> None:
        super().__init__("The room key is invalid or has expired.")


class DecryptionError(SalonError):
    """Any failure to unwrap a key or decrypt a value. Deliberately opaque."""

    code = "internal_error"
    status = 500

    def __init__(self) -> None:
        super().__init__("Stored data could not be decrypted.")


class SfuError(SalonError):
    """The media server failed or answered something Salon did not expect."""

    code = "sfu_error"
    status = 502
    signal_code = "sfu_error"

    def __init__(self, message: str = "The media server failed.", *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class SfuUnavailable(SfuError):
    """No media server node answers, or the session with it was lost."""

    code = "sfu_unavailable"
    status = 503
    signal_code = "sfu_unavailable"

    def __init__(
        self, message: str = "The media server is unavailable; try again.", *, detail: str = ""
    ) -> None:
        super().__init__(message, detail=detail)


class SfuRoomNotFound(SfuError):
    """The room is not on that media server node (never made, destroyed, or the node restarted)."""

    code = "sfu_room_not_found"
    status = 503
    signal_code = "sfu_room_not_found"

    def __init__(self, *, detail: str = "") -> None:
        super().__init__("The room is not open on the media server.", detail=detail)


class SfuRefusal(StrEnum):
    """Why the media server refused a request."""

    UNAUTHORIZED = "unauthorized"
    PUBLISHERS_FULL = "publishers_full"
    INVALID_OFFER = "invalid_offer"
    INVALID_REQUEST = "invalid_request"
    ROOM_EXISTS = "room_exists"
    ALREADY_JOINED = "already_joined"
    NO_SUCH_FEED = "no_such_feed"


_REFUSAL_MESSAGES = {
    SfuRefusal.UNAUTHORIZED: "The media server refused: not allowed to do that in this room.",
    SfuRefusal.PUBLISHERS_FULL: "The media server refused: the room has its most publishers.",
    SfuRefusal.INVALID_OFFER: "The media server refused the session description.",
    SfuRefusal.INVALID_REQUEST: "The media server refused the request as malformed.",
    SfuRefusal.ROOM_EXISTS: "The media server already has a room with that id.",
    SfuRefusal.ALREADY_JOINED: "The media server already has that participant in the room.",
    SfuRefusal.NO_SUCH_FEED: "The media server has no such feed in the room.",
}


class SfuRefused(SfuError):
    """The media server refused the request; ``reason`` says why."""

    code = "sfu_refused"
    status = 403
    signal_code = "sfu_refused"

    def __init__(self, reason: SfuRefusal, *, detail: str = "") -> None:
        super().__init__(_REFUSAL_MESSAGES[reason], detail=detail)
        self.reason = reason
