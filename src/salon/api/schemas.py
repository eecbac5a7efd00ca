"""REST request and response bodies: the trust boundary, in Whereby's field names.

Unknown fields are refused and every string is bounded, so nothing unexpected reaches the
services. ``to_new_meeting`` turns a checked body into the services' own value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from salon.api.errors import MissingFields
from salon.rooms.names import RoomNamePattern, normalise_prefix
from salon.services.meetings import MeetingField, MeetingView, NewMeeting, RoomMode

__all__ = ["MeetingCreate", "MeetingOut", "MeetingsPageOut", "RoomInsightOut", "RoomInsightsOut"]

TRANSCRIPTION_LANGUAGES = (
    "ca",
    "zh",
    "zh-TW",
    "cs",
    "da",
    "nl",
    "en",
    "en-US",
    "en-GB",
    "fi",
    "fr",
    "de",
    "de-CH",
    "el",
    "hi",
    "id",
    "it",
    "ja",
    "ko",
    "lv",
    "ms",
    "no",
    "pl",
    "pt",
    "pt-BR",
    "ro",
    "ru",
    "sk",
    "es",
    "sv",
    "th",
    "uk",
    "vi",
)

Short = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _matching(pattern: str, message: str, max_length: int) -> AfterValidator:
    """A string check whose error says what is allowed instead of quoting a regex."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_length or not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


Bucket = Annotated[
    str,
    _matching(
        r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S{1,900})?",
        "must be an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-'), "
        "optionally followed by /folder",
        1024,
    ),
]
Region = Annotated[
    str, _matching(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", "must be an S3 region such as eu-west-1", 32)
]
RoleArn = Annotated[
    str,
    _matching(
        r"arn:aws[a-z-]*:iam::\d{12}:role/\S{1,512}",
        "must be an IAM role ARN such as arn:aws:iam::123456789012:role/salon-recordings",
        600,
    ),
]
RtmpUrl = Annotated[
    str,
    _matching(
        r"rtmps?://[^\s/]+(/\S*)?",
        "must be an rtmp:// or rtmps:// URL such as rtmp://a.rtmp.youtube.com/live2/<stream key>",
        2048,
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=True)


class StorageDestination(_Strict):
    """Where a recording or transcript goes: the customer's S3 bucket, or Salon's store."""

    provider: Literal["s3", "whereby"]
    authenticationType: Literal["accessKey", "roleBased"] | None = None
    bucket: Bucket | None = None
    accessKeyId: Short | None = None
    accessKeySecret: Short | None = None
    region: Region | None = None
    fileFormat: Literal["mkv", "mp4"] | None = None
    oidcRoleArn: RoleArn | None = None

    @model_validator(mode="after")
    def _credentials_fit_provider(self) -> Self:
        if self.provider == "whereby":
            return self
        required: tuple[str, ...]
        if self.authenticationType == "roleBased":
            required = ("bucket", "oidcRoleArn")
        else:
            required = ("bucket", "region", "accessKeyId", "accessKeySecret")
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            auth = self.authenticationType or "accessKey"
            raise MissingFields(
                missing,
                f"provider 's3' with authenticationType '{auth}' needs {', '.join(required)}",
            )
        return self


class RecordingOptions(_Strict):
    type: Literal["none", "local", "cloud"]
    destination: StorageDestination | None
    startTrigger: Literal["none", "prompt", "automatic", "automatic-2nd-participant"] | None


class LiveTranscriptionOptions(_Strict):
    destination: StorageDestination | None
    startTrigger: Literal["none", "manual", "automatic", "automatic-2nd-participant"] | None
    language: str | None = None
    liveCaptions: StrictBool | None = None

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and value not in TRANSCRIPTION_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(TRANSCRIPTION_LANGUAGES)}")
        return value


class StreamingDestination(_Strict):
    url: RtmpUrl


class StreamingOptions(_Strict):
    destination: StreamingDestination
    startTrigger: Literal["none", "prompt", "automatic"] | None


class MeetingCreate(_Strict):
    """The body of ``POST /v1/meetings``."""

    endDate: Annotated[str, StringConstraints(max_length=64)]
    startDate: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, deprecated=True, description="Ignored: a meeting starts when created."
    )
    isLocked: StrictBool = False
    roomMode: RoomMode = RoomMode.NORMAL
    roomNamePrefix: Annotated[str, StringConstraints(max_length=200)] = ""
    roomNamePattern: RoomNamePattern = RoomNamePattern.UUID
    templateType: Literal["viewerMode"] | None = None
    recording: RecordingOptions | None = None
    liveTranscription: LiveTranscriptionOptions | None = None
    streaming: StreamingOptions | None = None
    fields: Annotated[list[MeetingField], Field(max_length=2)] = []
    relayOnly: StrictBool = Field(
        default=False,
        description="Salon's own: every participant's media goes through a TURN relay, so no "
        "participant learns another's IP address. An organization's relayOnly applies too.",
    )

    @field_validator("endDate")
    @classmethod
    def _date_time(cls, value: str) -> str:
        parse_date_time(value)
        return value

    @field_validator("roomNamePrefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return normalise_prefix(value)

    def to_new_meeting(self) -> NewMeeting:
        def plain(model: BaseModel | None) -> dict[str, Any] | None:
            return None if model is None else model.model_dump(mode="json", exclude_none=True)

        return NewMeeting(
            end_date=parse_date_time(self.endDate),
            is_locked=self.isLocked,
            room_mode=self.roomMode,
            room_name_prefix=self.roomNamePrefix,
            room_name_pattern=self.roomNamePattern,
            template_type=self.templateType,
            recording=plain(self.recording),
            live_transcription=plain(self.liveTranscription),
            streaming=plain(self.streaming),
            fields=frozenset(self.fields),
            relay_only=self.relayOnly,
        )


def parse_date_time(value: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is UTC. Raises ``ValueError`` otherwise."""
    if "T" not in value and " " not in value:
        raise ValueError("must be an ISO 8601 date-time such as 2030-05-07T17:42:49Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time such as 2030-05-07T17:42:49Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(value: datetime) -> str:
    """UTC with milliseconds and a Z, as Whereby writes dates."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


class MeetingOut(BaseModel):
    meetingId: str
    roomName: str
    roomUrl: str
    startDate: str
    endDate: str
    hostRoomUrl: str | None = None
    viewerRoomUrl: str | None = None
    relayOnly: bool | None = Field(
        default=None, description="Salon's own; present (true) only for a relay-only meeting."
    )

    @classmethod
    def of(cls, view: MeetingView) -> dict[str, Any]:
        out: dict[str, Any] = {
            "meetingId": view.meeting_id,
            "roomName": view.room_name,
            "roomUrl": view.room_url,
            "startDate": iso(view.start_date),
            "endDate": iso(view.end_date),
        }
        if view.host_room_url is not None:
            out["hostRoomUrl"] = view.host_room_url
        if view.viewer_room_url is not None:
            out["viewerRoomUrl"] = view.viewer_room_url
        # Whereby's shape stays exact: Salon's extension appears only when it is on.
        if view.relay_only:
            out["relayOnly"] = True
        return out


class MeetingsPageOut(BaseModel):
    results: list[MeetingOut]
    cursor: str | None


class RoomInsightOut(BaseModel):
    roomName: str
    createdAt: str
    endAt: str
    firstSessionStartedAt: str | None
    lastSessionStartedAt: str | None
    totalParticipantMinutes: int
    totalRecorderMinutes: int
    totalStreamerMinutes: int
    totalUniqueParticipants: int
    totalUniqueRecorders: int
    totalUniqueStreamers: int
    totalSessions: int


class RoomInsightsOut(BaseModel):
    results: list[RoomInsightOut]
    cursor: str | None


class OrganizationSettingsIn(_Strict):
    """``PATCH /v1/organization``: the fields given are changed, the others kept."""

    contactEmail: Annotated[str, StringConstraints(max_length=254)] | None = None
    relayOnly: StrictBool = Field(
        default=False,
        description="Every participant of every room relays its media through TURN, so no "
        "participant learns another's IP address.",
    )
    allowedEmbedDomains: list[StrictStr] = Field(
        default=[],
        description="The sites allowed to embed the organization's rooms (iframe, "
        "<salon-embed>, JS SDK): origins such as https://app.example.com, wildcards "
        "https://*.example.com, http://localhost:PORT for development; at most 50. The list "
        "replaces the previous one; [] lets any site embed.",
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise MissingFields(
                ["contactEmail", "relayOnly", "allowedEmbedDomains"],
                "give at least one field to change",
            )
        return self


class OrganizationSettingsOut(BaseModel):
    name: str
    contactEmail: str | None
    relayOnly: bool | None = Field(
        default=None, description="Present (true) only when the relay-only setting is on."
    )
    allowedEmbedDomains: list[str] = Field(
        description="The sites allowed to embed the organization's rooms; [] means any site."
    )
