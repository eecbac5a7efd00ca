"""Query parameters shared by list endpoints, parsed and bounded at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from salon.api.schemas import parse_date_time
from salon.errors import FieldProblem, InvalidInput
from salon.services.meetings import MeetingField, RoomNameFilter

__all__ = ["CreatedRange", "Limit", "RoomNameFilterDep", "fields_param"]

Limit = Annotated[int, Query(ge=1, le=100)]
_Name = Annotated[str | None, Query(max_length=200)]


def fields_param(raw: str | None) -> frozenset[MeetingField]:
    """``fields=hostRoomUrl,viewerRoomUrl`` as a set; unknown names are a 400."""
    if not raw:
        return frozenset()
    chosen: set[MeetingField] = set()
    for name in (part.strip() for part in raw.split(",")):
        try:
            chosen.add(MeetingField(name))
        except ValueError:
            allowed = ", ".join(f.value for f in MeetingField)
            raise InvalidInput.one("fields", f"{name!r} is not one of {allowed}") from None
    return frozenset(chosen)


def room_name_filter(
    room_name: Annotated[str | None, Query(alias="roomName", max_length=200)] = None,
    exact: Annotated[str | None, Query(alias="roomName[exact]", max_length=200)] = None,
    starts_with: Annotated[str | None, Query(alias="roomName[startsWith]", max_length=200)] = None,
    contains: Annotated[str | None, Query(alias="roomName[contains]", max_length=200)] = None,
) -> RoomNameFilter:
    if room_name is not None and exact is not None and room_name != exact:
        raise InvalidInput.one("roomName", "give roomName or roomName[exact], not both")
    return RoomNameFilter(exact=exact or room_name, starts_with=starts_with, contains=contains)


RoomNameFilterDep = Annotated[RoomNameFilter, Depends(room_name_filter)]


def _date(field: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_date_time(raw)
    except ValueError as exc:
        raise InvalidInput([FieldProblem(field, str(exc))]) from None


class CreatedRange:
    def __init__(
        self,
        created_from: Annotated[str | None, Query(alias="createdAt[from]", max_length=64)] = None,
        created_to: Annotated[str | None, Query(alias="createdAt[to]", max_length=64)] = None,
    ) -> None:
        self.start = _date("createdAt[from]", created_from)
        self.end = _date("createdAt[to]", created_to)
