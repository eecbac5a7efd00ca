"""Server-rendered pages: the room address and the clear refusals when a room cannot be entered."""

from __future__ import annotations

from html import escape
from importlib.resources import files
from string import Template
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from salon.api.deps import ServicesDep
from salon.auth.room_keys import RoomRole
from salon.errors import InvalidToken, NotFound, RoomDeactivated, SalonError

router = APIRouter(include_in_schema=False)

_ROLE_TEXT = {
    RoomRole.HOST: "You will join as the host.",
    RoomRole.VIEWER: "You will join as a viewer: you can watch and chat, not speak or show video.",
    RoomRole.VISITOR: "You will join as a participant.",
    RoomRole.GRANTED_VISITOR: "You will join as a participant.",
}


def _page(title: str, heading: str, body: str, status: int) -> HTMLResponse:
    template = Template(files("salon.web").joinpath("page.html").read_text(encoding="utf-8"))
    html = template.substitute(title=escape(title), heading=escape(heading), body=escape(body))
    return HTMLResponse(html, status_code=status)


@router.get("/static/salon.css")
def stylesheet() -> Response:
    css = files("salon.web").joinpath("salon.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css")


@router.get("/{room}")
def room_page(
    room: str,
    services: ServicesDep,
    room_key: Annotated[str | None, Query(alias="roomKey", max_length=4096)] = None,
) -> HTMLResponse:
    try:
        access = services.meetings.access("/" + room, room_key)
    except RoomDeactivated as exc:
        return _page("Meeting ended", "This meeting has ended", exc.message, exc.status)
    except NotFound as exc:
        return _page("No such room", "Room not found", exc.message, exc.status)
    except InvalidToken:
        return _page(
            "Invalid link",
            "This link does not work",
            "The room key in this link is invalid or has expired. Ask for a new link.",
            403,
        )
    except SalonError as exc:
        return _page("Error", "Something went wrong", exc.message, exc.status)
    return _page(
        f"Room {access.room_name}",
        f"Room {access.room_name}",
        f"This room is open. {_ROLE_TEXT[access.role]}",
        200,
    )
