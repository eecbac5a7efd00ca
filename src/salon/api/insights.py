"""``/v1/insights``: usage per room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from salon.api.deps import Caller, ServicesDep
from salon.api.params import CreatedRange, Limit, RoomNameFilterDep
from salon.api.schemas import RoomInsightsOut, iso
from salon.services.insights import DEFAULT_ROOM_SORT, ROOM_SORT_COLUMNS
from salon.services.pagination import parse_sort

router = APIRouter(prefix="/v1/insights", tags=["insights"])


@router.get("/rooms", responses={200: {"model": RoomInsightsOut}})
def room_insights(
    org: Caller,
    services: ServicesDep,
    room_names: RoomNameFilterDep,
    created: Annotated[CreatedRange, Depends()],
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = 10,
    sort_by: Annotated[str | None, Query(alias="sortBy", max_length=48)] = None,
) -> JSONResponse:
    page = services.insights.rooms(
        org.org_id,
        name_filter=room_names,
        created_from=created.start,
        created_to=created.end,
        sort=parse_sort(sort_by, ROOM_SORT_COLUMNS, DEFAULT_ROOM_SORT),
        cursor=cursor,
        limit=limit,
    )
    results = [
        {
            "roomName": r.room_name,
            "createdAt": iso(r.created_at),
            "endAt": iso(r.end_at),
            "firstSessionStartedAt": r.first_session_started_at and iso(r.first_session_started_at),
            "lastSessionStartedAt": r.last_session_started_at and iso(r.last_session_started_at),
            "totalParticipantMinutes": r.total_participant_minutes,
            "totalRecorderMinutes": r.total_recorder_minutes,
            "totalStreamerMinutes": r.total_streamer_minutes,
            "totalUniqueParticipants": r.total_unique_participants,
            "totalUniqueRecorders": r.total_unique_recorders,
            "totalUniqueStreamers": r.total_unique_streamers,
            "totalSessions": r.total_sessions,
        }
        for r in page.results
    ]
    return JSONResponse({"results": results, "cursor": page.cursor})
