"""``/v1/meetings``: thin routes over ``MeetingService``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from salon.api.deps import Caller, ServicesDep
from salon.api.params import Limit, RoomNameFilterDep, fields_param
from salon.api.schemas import MeetingCreate, MeetingOut, MeetingsPageOut
from salon.services.meetings import DEFAULT_SORT, SORT_COLUMNS
from salon.services.pagination import parse_sort

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])

FieldsQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Comma-separated extra fields: hostRoomUrl, viewerRoomUrl.",
    ),
]


@router.post("", status_code=201, responses={201: {"model": MeetingOut}})
def create_meeting(body: MeetingCreate, org: Caller, services: ServicesDep) -> JSONResponse:
    view = services.meetings.create(org.org_id, body.to_new_meeting())
    return JSONResponse(MeetingOut.of(view), status_code=201)


@router.get("", responses={200: {"model": MeetingsPageOut}})
def list_meetings(
    org: Caller,
    services: ServicesDep,
    room_names: RoomNameFilterDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = 50,
    sort_by: Annotated[str | None, Query(alias="sortBy", max_length=32)] = None,
    fields: FieldsQuery = None,
) -> JSONResponse:
    page = services.meetings.list_page(
        org.org_id,
        sort=parse_sort(sort_by, SORT_COLUMNS, DEFAULT_SORT),
        cursor=cursor,
        limit=limit,
        name_filter=room_names,
        fields=fields_param(fields),
    )
    return JSONResponse(
        {"results": [MeetingOut.of(m) for m in page.results], "cursor": page.cursor}
    )


@router.get("/{meetingId}", responses={200: {"model": MeetingOut}})
def get_meeting(
    meetingId: Annotated[str, Path(max_length=64)],
    org: Caller,
    services: ServicesDep,
    fields: FieldsQuery = None,
) -> JSONResponse:
    return JSONResponse(
        MeetingOut.of(services.meetings.get(org.org_id, meetingId, fields_param(fields)))
    )


@router.delete("/{meetingId}", status_code=204, response_class=Response)
def delete_meeting(
    meetingId: Annotated[str, Path(max_length=64)],
    org: Caller,
    services: ServicesDep,
) -> Response:
    services.meetings.delete(org.org_id, meetingId)
    return Response(status_code=204)
