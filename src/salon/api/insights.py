"""``/v1/insights``: usage per room, per room session, and per participant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from salon.api.deps import Caller, ServicesDep
from salon.api.params import CreatedRange, Limit, RoomNameFilterDep
from salon.api.schemas import RoomInsightsOut, iso
from salon.errors import InvalidInput
from salon.services.insights import (
    DEFAULT_PARTICIPANT_SORT,
    DEFAULT_ROOM_SESSION_SORT,
    DEFAULT_ROOM_SORT,
    PARTICIPANT_SORT_FIELDS,
    ROOM_SESSION_SORT_FIELDS,
    ROOM_SORT_FIELDS,
)
from salon.services.pagination import parse_sort

router = APIRouter(prefix="/v1/insights", tags=["insights"])

Cursor = Annotated[str | None, Query(max_length=512)]
SortBy = Annotated[str | None, Query(alias="sortBy", max_length=48)]
SessionId = Annotated[str | None, Query(alias="roomSessionId", max_length=36)]


class RoomSessionInsightOut(BaseModel):
    roomSessionId: str
    roomName: str
    createdAt: str
    endAt: str | None
    startedAt: str
    endedAt: str | None = None
    totalParticipantMinutes: int
    totalRecorderMinutes: int
    totalStreamerMinutes: int
    totalUniqueParticipants: int
    totalUniqueRecorders: int
    totalUniqueStreamers: int


class RoomSessionInsightsOut(BaseModel):
    results: list[RoomSessionInsightOut]
    cursor: str | None


class ParticipantInsightOut(BaseModel):
    roomSessionId: str
    participantId: str
    deviceId: str | None
    userId: str | None
    roleName: str
    displayName: str
    joinedAt: str
    leftAt: str | None
    externalId: str | None


class ParticipantInsightsOut(BaseModel):
    results: list[ParticipantInsightOut]
    cursor: str | None


@router.get("/rooms", responses={200: {"model": RoomInsightsOut}})
def room_insights(
    org: Caller,
    services: ServicesDep,
    room_names: RoomNameFilterDep,
    created: Annotated[CreatedRange, Depends()],
    cursor: Cursor = None,
    limit: Limit = 10,
    sort_by: SortBy = None,
) -> JSONResponse:
    page = services.insights.rooms(
        org.org_id,
        name_filter=room_names,
        created_from=created.start,
        created_to=created.end,
        sort=parse_sort(sort_by, dict.fromkeys(ROOM_SORT_FIELDS), DEFAULT_ROOM_SORT),
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


@router.get("/room-sessions", responses={200: {"model": RoomSessionInsightsOut}})
def room_session_insights(
    org: Caller,
    services: ServicesDep,
    room_name: Annotated[str, Query(alias="roomName", min_length=1, max_length=200)],
    room_session_id: SessionId = None,
    cursor: Cursor = None,
    limit: Limit = 10,
    sort_by: SortBy = None,
) -> JSONResponse:
    """Each session of one room. A session still running has ``endAt`` null and no ``endedAt``."""
    page = services.insights.room_sessions(
        org.org_id,
        room_name,
        room_session_id=room_session_id,
        sort=parse_sort(
            sort_by, dict.fromkeys(ROOM_SESSION_SORT_FIELDS), DEFAULT_ROOM_SESSION_SORT
        ),
        cursor=cursor,
        limit=limit,
    )
    results = []
    for s in page.results:
        item = {
            "roomSessionId": s.room_session_id,
            "roomName": s.room_name,
            "createdAt": iso(s.started_at),
            "endAt": s.ended_at and iso(s.ended_at),
            "startedAt": iso(s.started_at),
            "totalParticipantMinutes": s.total_participant_minutes,
            "totalRecorderMinutes": s.total_recorder_minutes,
            "totalStreamerMinutes": s.total_streamer_minutes,
            "totalUniqueParticipants": s.total_unique_participants,
            "totalUniqueRecorders": s.total_unique_recorders,
            "totalUniqueStreamers": s.total_unique_streamers,
        }
        if s.ended_at is not None:
            item["endedAt"] = iso(s.ended_at)
        results.append(item)
    return JSONResponse({"results": results, "cursor": page.cursor})


@router.get("/participants", responses={200: {"model": ParticipantInsightsOut}})
def participant_insights(
    org: Caller,
    services: ServicesDep,
    room_session_id: SessionId = None,
    external_id: Annotated[str | None, Query(alias="externalId", max_length=255)] = None,
    cursor: Cursor = None,
    limit: Limit = 10,
    sort_by: SortBy = None,
) -> JSONResponse:
    """Who attended a session, or every attendance of one ``externalId``.

    Salon keeps no device or user identifiers, so ``deviceId`` and ``userId`` are null.
    """
    if (room_session_id is None) == (external_id is None):
        raise InvalidInput.one("roomSessionId", "give either roomSessionId or externalId")
    page = services.insights.participants(
        org.org_id,
        room_session_id=room_session_id,
        external_id=external_id,
        sort=parse_sort(sort_by, dict.fromkeys(PARTICIPANT_SORT_FIELDS), DEFAULT_PARTICIPANT_SORT),
        cursor=cursor,
        limit=limit,
    )
    results = [
        {
            "roomSessionId": p.room_session_id,
            "participantId": p.participant_id,
            "deviceId": None,
            "userId": None,
            "roleName": p.role.value,
            "displayName": p.display_name,
            "joinedAt": iso(p.joined_at),
            "leftAt": p.left_at and iso(p.left_at),
            "externalId": p.external_id,
        }
        for p in page.results
    ]
    return JSONResponse({"results": results, "cursor": page.cursor})
