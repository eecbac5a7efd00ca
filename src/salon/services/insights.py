"""Usage insights per room, in the shape of Whereby's ``/insights`` endpoints.

Sessions are counted by the signaling layer; until a room has had a session its totals are zero
and its session dates are null, which is the truth rather than an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from salon.services.meetings import MeetingService, RoomNameFilter
from salon.services.pagination import SortSpec
from salon.storage.models import Meeting

__all__ = ["ROOM_SORT_COLUMNS", "InsightsService", "RoomInsight", "RoomInsightsPage"]

ROOM_SORT_COLUMNS: dict[str, Any] = {
    "createdAt": Meeting.created_at,
    "endAt": Meeting.end_date,
    "roomName": Meeting.room_name,
}
# Until sessions are recorded every room has the same totals (0) and session dates (null), so
# sorting by them is exactly the tie-break order. The session issue replaces these with the
# recorded aggregates.
for _name in (
    "firstSessionStartedAt",
    "lastSessionStartedAt",
    "totalParticipantMinutes",
    "totalRecorderMinutes",
    "totalStreamerMinutes",
    "totalUniqueParticipants",
    "totalUniqueRecorders",
    "totalUniqueStreamers",
    "totalSessions",
):
    ROOM_SORT_COLUMNS[_name] = Meeting.id
DEFAULT_ROOM_SORT = SortSpec("createdAt", descending=True)


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
class RoomInsightsPage:
    results: Sequence[RoomInsight]
    cursor: str | None


class InsightsService:
    def __init__(self, meetings: MeetingService) -> None:
        self._meetings = meetings

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
    ) -> RoomInsightsPage:
        query = self._meetings.rooms_query(org_id, name_filter, created_from, created_to)
        rows, next_cursor = self._meetings.page(query, ROOM_SORT_COLUMNS, sort, cursor, limit)
        results = [
            RoomInsight(
                room_name=row.room_name,
                created_at=row.created_at,
                end_at=row.end_date,
            )
            for row in rows
        ]
        return RoomInsightsPage(results, next_cursor)
