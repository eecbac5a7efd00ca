"""Usage insights per room, per session and per participant, in the shape of Whereby's
``/insights`` endpoints, computed from the sessions the signaling shell records.

Numbers are aggregates in SQL, so every documented sort field sorts for real and pages with a
keyset cursor. Definitions:

- a *session* runs from the moment two people are in a room until it empties;
- *participant minutes* add up each connection's length rounded up to a whole minute, counted
  when the connection ends (a connection still open counts from its end);
- *unique participants* are distinct external ids, plus participants without one (each join
  without an external id is someone Salon cannot recognise again, by design).

Recorders and streamers arrive with their own issues; until then their totals are zero, which is
the truth. One organization never sees another's rows: every query is scoped by ``org_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)

from salon.auth.room_keys import RoomRole
from salon.errors import InvalidInput
from salon.services.keyring import Keyring
from salon.services.meetings import MeetingService, RoomNameFilter
from salon.services.pagination import SortSpec, decode_cursor, encode_cursor
from salon.services.sessions import DISPLAY_NAME_COLUMN, EXTERNAL_ID_COLUMN
from salon.storage.db import Database
from salon.storage.models import Meeting, RoomSession, SessionParticipant, UTCDateTime

__all__ = [
    "PARTICIPANT_SORT_FIELDS",
    "ROOM_SESSION_SORT_FIELDS",
    "ROOM_SORT_FIELDS",
    "InsightsService",
    "Page",
    "ParticipantInsight",
    "RoomInsight",
    "RoomSessionInsight",
]

# Sorting by a date that may be missing (a room without sessions, a session still running)
# puts the missing ones first ascending and last descending, the same on every engine.
_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)
# Recorder and streamer totals are zero until those features exist; a cast keeps the constant an
# expression (a bare ``ORDER BY 0`` would name a column position).
_ZERO = cast(literal(0), Integer)
T = TypeVar("T")

ROOM_SORT_FIELDS = (
    "createdAt",
    "endAt",
    "roomName",
    "firstSessionStartedAt",
    "lastSessionStartedAt",
    "totalParticipantMinutes",
    "totalRecorderMinutes",
    "totalStreamerMinutes",
    "totalUniqueParticipants",
    "totalUniqueRecorders",
    "totalUniqueStreamers",
    "totalSessions",
)
ROOM_SESSION_SORT_FIELDS = (
    "createdAt",
    "startedAt",
    "endAt",
    "endedAt",
    "totalParticipantMinutes",
    "totalRecorderMinutes",
    "totalStreamerMinutes",
    "totalUniqueParticipants",
    "totalUniqueRecorders",
    "totalUniqueStreamers",
)
PARTICIPANT_SORT_FIELDS = ("joinedAt", "leftAt")

DEFAULT_ROOM_SORT = SortSpec("createdAt", descending=True)
DEFAULT_ROOM_SESSION_SORT = SortSpec("startedAt", descending=True)
DEFAULT_PARTICIPANT_SORT = SortSpec("joinedAt", descending=False)


@dataclass(frozen=True, slots=True)
class RoomInsight:
    room_name: str
    created_at: datetime
    end_at: datetime
    first_session_started_at: datetime | None = None
    last_session_started_at: datetime | None = None
    total_participant_minutes: int = 0
    total_recorder_minutes: int = 0
    total_streamer_minutes: int = 0
    total_unique_participants: int = 0
    total_unique_recorders: int = 0
    total_unique_streamers: int = 0
    total_sessions: int = 0


@dataclass(frozen=True, slots=True)
class RoomSessionInsight:
    room_session_id: str
    room_name: str
    started_at: datetime
    ended_at: datetime | None
    total_participant_minutes: int = 0
    total_unique_participants: int = 0
    total_recorder_minutes: int = 0
    total_streamer_minutes: int = 0
    total_unique_recorders: int = 0
    total_unique_streamers: int = 0


@dataclass(frozen=True, slots=True)
class ParticipantInsight:
    room_session_id: str
    participant_id: str
    role: RoomRole
    display_name: str
    external_id: str | None
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    results: Sequence[T]
    cursor: str | None


def _unique_participants() -> ColumnElement[int]:
    sp = SessionParticipant
    return func.count(sp.external_id_bidx.distinct()) + func.count(
        case((sp.external_id_bidx.is_(None), sp.participant_id)).distinct()
    )


def _dated(expression: Any) -> ColumnElement[datetime]:
    return func.coalesce(expression, literal(_NO_DATE, UTCDateTime()), type_=UTCDateTime())


def _counted(expression: Any) -> ColumnElement[int]:
    return func.coalesce(expression, 0)


def _cursor_value(raw: str, is_date: bool) -> object:
    try:
        return datetime.fromisoformat(raw) if is_date else int(raw)
    except ValueError:
        raise InvalidInput.one("cursor", "is not a cursor returned by this endpoint") from None


def _page_rows(
    db: Database,
    query: Select[Any],
    columns: Mapping[str, Any],
    id_column: Any,
    sort: SortSpec,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` in ``sort`` order (ties broken by id), and the next cursor.

    Each row carries the sort value as ``sort_value`` and the tie-break as ``row_id``.
    """
    column = columns[sort.field]
    is_date = isinstance(column.type, UTCDateTime)
    text_sort = sort.field == "roomName"
    if cursor is not None:
        after = decode_cursor(cursor, sort)
        value = after.value if text_sort else _cursor_value(after.value, is_date)
        typed = literal(value, column.type)
        if sort.descending:
            condition = or_(column < typed, and_(column == typed, id_column < after.last_id))
        else:
            condition = or_(column > typed, and_(column == typed, id_column > after.last_id))
        query = query.where(condition)
    order = (column.desc(), id_column.desc()) if sort.descending else (column, id_column)
    query = query.add_columns(column.label("sort_value"), id_column.label("row_id"))
    with db.transaction() as session:
        rows = list(session.execute(query.order_by(*order).limit(limit + 1)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(sort, rows[-1].sort_value, rows[-1].row_id)
    return rows, next_cursor


class InsightsService:
    def __init__(self, db: Database, keyring: Keyring, meetings: MeetingService) -> None:
        self._db = db
        self._keyring = keyring
        self._meetings = meetings

    # /insights/rooms ---------------------------------------------------------------------------

    def rooms(
        self,
        org_id: str,
        *,
        name_filter: RoomNameFilter,
        created_from: datetime | None,
        created_to: datetime | None,
        sort: SortSpec = DEFAULT_ROOM_SORT,
        cursor: str | None = None,
        limit: int = 10,
    ) -> Page[RoomInsight]:
        rs, sp = RoomSession, SessionParticipant
        sessions = (
            select(
                rs.meeting_id.label("meeting_id"),
                func.count(rs.id).label("total"),
                func.min(rs.started_at).label("first"),
                func.max(rs.started_at).label("last"),
            )
            .where(rs.org_id == org_id, rs.meeting_id.is_not(None))
            .group_by(rs.meeting_id)
            .subquery()
        )
        people = (
            select(
                rs.meeting_id.label("meeting_id"),
                func.sum(sp.minutes).label("minutes"),
                _unique_participants().label("unique"),
            )
            .join(rs, rs.id == sp.session_id)
            .where(rs.org_id == org_id, rs.meeting_id.is_not(None))
            .group_by(rs.meeting_id)
            .subquery()
        )
        columns: dict[str, Any] = {
            "createdAt": Meeting.created_at,
            "endAt": Meeting.end_date,
            "roomName": Meeting.room_name,
            "firstSessionStartedAt": _dated(sessions.c.first),
            "lastSessionStartedAt": _dated(sessions.c.last),
            "totalParticipantMinutes": _counted(people.c.minutes),
            "totalUniqueParticipants": _counted(people.c.unique),
            "totalSessions": _counted(sessions.c.total),
        }
        for zero in ("Recorder", "Streamer"):
            columns[f"total{zero}Minutes"] = _ZERO
            columns[f"totalUnique{zero}s"] = _ZERO
        query = (
            self._meetings.rooms_query(org_id, name_filter, created_from, created_to)
            .outerjoin(sessions, sessions.c.meeting_id == Meeting.id)
            .outerjoin(people, people.c.meeting_id == Meeting.id)
            .add_columns(
                sessions.c.first,
                sessions.c.last,
                columns["totalSessions"].label("total_sessions"),
                columns["totalParticipantMinutes"].label("total_minutes"),
                columns["totalUniqueParticipants"].label("total_unique"),
            )
        )
        rows, next_cursor = _page_rows(self._db, query, columns, Meeting.id, sort, cursor, limit)
        results = []
        for row in rows:
            meeting: Meeting = row[0]
            results.append(
                RoomInsight(
                    room_name=meeting.room_name,
                    created_at=meeting.created_at,
                    end_at=meeting.end_date,
                    first_session_started_at=row.first,
                    last_session_started_at=row.last,
                    total_participant_minutes=int(row.total_minutes),
                    total_unique_participants=int(row.total_unique),
                    total_sessions=int(row.total_sessions),
                )
            )
        return Page(results, next_cursor)

    # /insights/room-sessions -------------------------------------------------------------------

    def room_sessions(
        self,
        org_id: str,
        room_name: str,
        *,
        room_session_id: str | None = None,
        sort: SortSpec = DEFAULT_ROOM_SESSION_SORT,
        cursor: str | None = None,
        limit: int = 10,
    ) -> Page[RoomSessionInsight]:
        rs, sp = RoomSession, SessionParticipant
        people = (
            select(
                sp.session_id.label("session_id"),
                func.sum(sp.minutes).label("minutes"),
                _unique_participants().label("unique"),
            )
            .group_by(sp.session_id)
            .subquery()
        )
        columns: dict[str, Any] = {
            "createdAt": rs.started_at,
            "startedAt": rs.started_at,
            "endAt": _dated(rs.ended_at),
            "endedAt": _dated(rs.ended_at),
            "totalParticipantMinutes": _counted(people.c.minutes),
            "totalUniqueParticipants": _counted(people.c.unique),
        }
        for zero in ("Recorder", "Streamer"):
            columns[f"total{zero}Minutes"] = _ZERO
            columns[f"totalUnique{zero}s"] = _ZERO
        query = (
            select(
                rs,
                columns["totalParticipantMinutes"].label("total_minutes"),
                columns["totalUniqueParticipants"].label("total_unique"),
            )
            .outerjoin(people, people.c.session_id == rs.id)
            .where(rs.org_id == org_id, rs.room_name == room_name)
        )
        if room_session_id is not None:
            query = query.where(rs.id == room_session_id)
        rows, next_cursor = _page_rows(self._db, query, columns, rs.id, sort, cursor, limit)
        results = []
        for row in rows:
            session: RoomSession = row[0]
            results.append(
                RoomSessionInsight(
                    room_session_id=session.id,
                    room_name=session.room_name,
                    started_at=session.started_at,
                    ended_at=session.ended_at,
                    total_participant_minutes=int(row.total_minutes),
                    total_unique_participants=int(row.total_unique),
                )
            )
        return Page(results, next_cursor)

    # /insights/participants --------------------------------------------------------------------

    def participants(
        self,
        org_id: str,
        *,
        room_session_id: str | None = None,
        external_id: str | None = None,
        sort: SortSpec = DEFAULT_PARTICIPANT_SORT,
        cursor: str | None = None,
        limit: int = 10,
    ) -> Page[ParticipantInsight]:
        if (room_session_id is None) == (external_id is None):
            raise InvalidInput.one("roomSessionId", "give either roomSessionId or externalId")
        rs, sp = RoomSession, SessionParticipant
        query = select(sp).join(rs, rs.id == sp.session_id).where(rs.org_id == org_id)
        with self._db.transaction() as session:
            cipher = self._keyring.cipher(session, org_id)
        if room_session_id is not None:
            query = query.where(sp.session_id == room_session_id)
        if external_id is not None:
            probe = cipher.blind_index(EXTERNAL_ID_COLUMN, external_id)
            query = query.where(sp.external_id_bidx == probe)
        columns: dict[str, Any] = {
            "joinedAt": sp.joined_at,
            "leftAt": _dated(sp.left_at),
        }
        rows, next_cursor = _page_rows(self._db, query, columns, sp.id, sort, cursor, limit)
        results = []
        for row in rows:
            attendance: SessionParticipant = row[0]
            sealed_external = attendance.external_id_enc
            results.append(
                ParticipantInsight(
                    room_session_id=attendance.session_id,
                    participant_id=attendance.participant_id,
                    role=RoomRole(attendance.role),
                    display_name=cipher.open_text(DISPLAY_NAME_COLUMN, attendance.display_name_enc),
                    external_id=(
                        None
                        if sealed_external is None
                        else cipher.open_text(EXTERNAL_ID_COLUMN, sealed_external)
                    ),
                    joined_at=attendance.joined_at,
                    left_at=attendance.left_at,
                )
            )
        return Page(results, next_cursor)
