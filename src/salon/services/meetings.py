"""Meetings: transient rooms created through the REST API, their URLs, keys and lifecycle."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, insert, select
from sqlalchemy.exc import IntegrityError

from salon.auth.room_keys import RoomGrant, RoomKeySigner, RoomKeyVerifier, RoomRole
from salon.clock import Clock
from salon.errors import InvalidInput, InvalidToken, NotFound, RoomDeactivated
from salon.rooms.lifecycle import PURGE_AFTER_END, RoomPhase, deactivates_at, phase_at
from salon.rooms.names import RESERVED, RoomNamePattern, generate_room_name
from salon.services.keyring import Keyring
from salon.services.pagination import (
    SortSpec,
    decode_cursor,
    encode_cursor,
    keyset,
)
from salon.storage.db import Database
from salon.storage.models import Meeting

__all__ = [
    "MeetingField",
    "MeetingPage",
    "MeetingService",
    "MeetingView",
    "NewMeeting",
    "RoomAccess",
    "RoomMode",
    "RoomNameFilter",
]

_NAME_ATTEMPTS = 8
_SEALED_OPTIONS = {
    "recording": "meetings.recording",
    "live_transcription": "meetings.live_transcription",
    "streaming": "meetings.streaming",
}


class RoomMode(StrEnum):
    NORMAL = "normal"
    GROUP = "group"


class MeetingField(StrEnum):
    HOST_ROOM_URL = "hostRoomUrl"
    VIEWER_ROOM_URL = "viewerRoomUrl"


@dataclass(frozen=True, slots=True)
class NewMeeting:
    """A validated request to create a meeting."""

    end_date: datetime
    is_locked: bool = False
    room_mode: RoomMode = RoomMode.NORMAL
    room_name_prefix: str = ""
    room_name_pattern: RoomNamePattern = RoomNamePattern.UUID
    template_type: str | None = None
    recording: Mapping[str, Any] | None = None
    live_transcription: Mapping[str, Any] | None = None
    streaming: Mapping[str, Any] | None = None
    fields: frozenset[MeetingField] = field(default_factory=frozenset)
    # Salon's own: every participant's media goes through a TURN relay.
    relay_only: bool = False


@dataclass(frozen=True, slots=True)
class MeetingView:
    meeting_id: str
    room_name: str
    room_url: str
    start_date: datetime
    end_date: datetime
    created_at: datetime
    room_mode: RoomMode
    is_locked: bool
    host_room_url: str | None = None
    viewer_room_url: str | None = None
    relay_only: bool = False


@dataclass(frozen=True, slots=True)
class MeetingPage:
    results: Sequence[MeetingView]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class RoomNameFilter:
    exact: str | None = None
    starts_with: str | None = None
    contains: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.exact is not None:
            clauses.append(Meeting.room_name == self.exact)
        if self.starts_with is not None:
            clauses.append(Meeting.room_name.startswith(self.starts_with, autoescape=True))
        if self.contains is not None:
            clauses.append(Meeting.room_name.contains(self.contains, autoescape=True))
        return clauses


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """Who may enter a room page: the room and the role the presented key grants."""

    meeting_id: str
    room_name: str
    room_mode: RoomMode
    role: RoomRole
    phase: RoomPhase


SORT_COLUMNS: dict[str, Any] = {
    "createdAt": Meeting.created_at,
    "endDate": Meeting.end_date,
    "roomName": Meeting.room_name,
}
DEFAULT_SORT = SortSpec("createdAt", descending=False)


class MeetingService:
    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        clock: Clock,
        public_url: str,
        signer: RoomKeySigner,
        verifier: RoomKeyVerifier,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._public_url = public_url
        self._signer = signer
        self._verifier = verifier

    # views ---------------------------------------------------------------------------------

    def room_url(self, room_name: str) -> str:
        return self._public_url + room_name

    def _keyed_url(self, row: Meeting, role: RoomRole) -> str:
        grant = RoomGrant(row.room_name, row.id, role, row.created_at, deactivates_at(row.end_date))
        return f"{self.room_url(row.room_name)}?roomKey={self._signer.issue(grant)}"

    def _view(self, row: Meeting, fields: frozenset[MeetingField]) -> MeetingView:
        return MeetingView(
            meeting_id=row.id,
            room_name=row.room_name,
            room_url=self.room_url(row.room_name),
            start_date=row.start_date,
            end_date=row.end_date,
            created_at=row.created_at,
            room_mode=RoomMode(row.room_mode),
            is_locked=row.is_locked,
            host_room_url=(
                self._keyed_url(row, RoomRole.HOST)
                if MeetingField.HOST_ROOM_URL in fields
                else None
            ),
            viewer_room_url=(
                self._keyed_url(row, RoomRole.VIEWER)
                if MeetingField.VIEWER_ROOM_URL in fields
                else None
            ),
            relay_only=row.relay_only,
        )

    # commands ------------------------------------------------------------------------------

    def create(self, org_id: str, spec: NewMeeting) -> MeetingView:
        now = self._clock.now()
        if spec.end_date < now:
            raise InvalidInput.one(
                "endDate", "must not be in the past; give a date-time after the current time"
            )
        fields, room_mode, is_locked = spec.fields, spec.room_mode, spec.is_locked
        if spec.template_type == "viewerMode":
            fields = frozenset(MeetingField)
            room_mode, is_locked = RoomMode.GROUP, True
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "org_id": org_id,
            "room_mode": room_mode.value,
            "is_locked": is_locked,
            "template_type": spec.template_type,
            "start_date": now,
            "end_date": spec.end_date,
            "created_at": now,
            "relay_only": spec.relay_only,
        }
        cipher = self._keyring.cached(org_id)
        if cipher is None:
            with self._db.transaction() as session:
                cipher = self._keyring.cipher(session, org_id)
        for attr, column in _SEALED_OPTIONS.items():
            value = getattr(spec, attr)
            values[f"{attr}_enc"] = (
                None if value is None else cipher.seal(column, json.dumps(value).encode())
            )
        for _ in range(_NAME_ATTEMPTS):
            values["room_name"] = generate_room_name(spec.room_name_prefix, spec.room_name_pattern)
            if values["room_name"][1:] in RESERVED:
                continue
            try:
                with self._db.transaction() as session:
                    session.execute(insert(Meeting), [values])
            except IntegrityError:
                continue  # the room name is taken: draw another
            return self._view(Meeting(**values), fields)
        raise InvalidInput.one(
            "roomNamePattern",
            "no free room name was found; use the uuid pattern or another prefix",
        )

    def delete(self, org_id: str, meeting_id: str) -> None:
        """Deletes the meeting if it is the org's; deleting twice is not an error."""
        with self._db.transaction() as session:
            session.execute(
                delete(Meeting).where(Meeting.id == meeting_id, Meeting.org_id == org_id)
            )

    def purge_expired(self) -> int:
        """Deletes every room whose purge time has come; returns how many."""
        cutoff = self._clock.now() - PURGE_AFTER_END
        with self._db.transaction() as session:
            result = session.execute(delete(Meeting).where(Meeting.end_date <= cutoff))
            return int(getattr(result, "rowcount", 0) or 0)

    # queries -------------------------------------------------------------------------------

    def get(self, org_id: str, meeting_id: str, fields: frozenset[MeetingField]) -> MeetingView:
        with self._db.transaction() as session:
            row = session.get(Meeting, meeting_id) if len(meeting_id) <= 36 else None
            if row is None or row.org_id != org_id:
                raise NotFound(f"No meeting with meetingId {meeting_id!r}.")
            return self._view(row, fields)

    def stored_options(self, org_id: str, meeting_id: str) -> dict[str, Any]:
        """The decrypted recording / transcription / streaming options of a meeting."""
        with self._db.transaction() as session:
            row = session.get(Meeting, meeting_id)
            if row is None or row.org_id != org_id:
                raise NotFound(f"No meeting with meetingId {meeting_id!r}.")
            cipher = self._keyring.cipher(session, org_id)
            options: dict[str, Any] = {}
            for attr, column in _SEALED_OPTIONS.items():
                sealed = getattr(row, f"{attr}_enc")
                options[attr] = None if sealed is None else json.loads(cipher.open(column, sealed))
            return options

    def rooms_query(
        self,
        org_id: str,
        name_filter: RoomNameFilter,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> Select[Meeting]:
        query = select(Meeting).where(Meeting.org_id == org_id, *name_filter.clauses())
        if created_from is not None:
            query = query.where(Meeting.created_at >= created_from)
        if created_to is not None:
            query = query.where(Meeting.created_at <= created_to)
        return query

    def page(
        self,
        query: Select[Meeting],
        sort_columns: Mapping[str, Any],
        sort: SortSpec,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Meeting], str | None]:
        """One page of ``query`` in ``sort`` order, and the cursor of the next page."""
        after = None if cursor is None else decode_cursor(cursor, sort)
        column = sort_columns[sort.field]
        with self._db.transaction() as session:
            rows = list(
                session.scalars(keyset(query, column, Meeting.id, sort, after, limit)).all()
            )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(sort, getattr(last, column.key), last.id)
        return rows, next_cursor

    def list_page(
        self,
        org_id: str,
        *,
        sort: SortSpec = DEFAULT_SORT,
        cursor: str | None = None,
        limit: int = 50,
        name_filter: RoomNameFilter | None = None,
        fields: frozenset[MeetingField] = frozenset(),
    ) -> MeetingPage:
        query = self.rooms_query(org_id, name_filter or RoomNameFilter())
        rows, next_cursor = self.page(query, SORT_COLUMNS, sort, cursor, limit)
        return MeetingPage([self._view(r, fields) for r in rows], next_cursor)

    def access(self, room_name: str, room_key: str | None) -> RoomAccess:
        """The role a visitor of ``/<room_name>`` gets; refuses ended or unknown rooms."""
        with self._db.transaction() as session:
            row = session.scalar(select(Meeting).where(Meeting.room_name == room_name))
        phase = RoomPhase.PURGED if row is None else phase_at(row.end_date, self._clock.now())
        if row is None or phase is RoomPhase.PURGED:
            raise NotFound("There is no room at this address. Check the link you were given.")
        if phase is RoomPhase.DEACTIVATED:
            raise RoomDeactivated("This meeting has ended. The room is closed.")
        role = RoomRole.VISITOR
        if room_key:
            grant = self._verifier.verify(room_key, room_name)
            if grant.meeting_id != row.id:
                raise InvalidToken()
            role = grant.role
        return RoomAccess(row.id, row.room_name, RoomMode(row.room_mode), role, phase)
