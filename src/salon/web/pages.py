"""Server-rendered pages: the room app's shell at ``/<room>``, the clear refusals when a room
cannot be entered, the landing page at ``/`` (embedded mode only), and the embedding guide at
``/docs/embed``.

No page carries inline style, and only the room page inline script (templates/room-boot.js,
after the link's rules of static/params.js): it opens the signaling WebSocket while the room
app's ES modules load, and a page that joins at once sends its join there. That page's CSP
allows the script by its hash. What the app needs from the server travels in ``data-``
attributes of ``<html>``, which the inline script can read.

Who may frame a page: a room's pages (the app, and its refusals) only the sites in its
organization's allowed embed domains (CSP ``frame-ancestors``; an empty list: any site); every
other page no site at all (``frame-ancestors 'none'``, set by the edge middleware).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import cache
from html import escape
from importlib.resources import files
from string import Template
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from salon.api.deps import ServicesDep
from salon.api.middleware import page_csp
from salon.errors import Conflict, InvalidToken, NotFound, RoomDeactivated, SalonError
from salon.services.container import Services
from salon.services.embed_domains import frame_ancestors
from salon.services.meetings import MeetingField, MeetingView, NewMeeting, RoomMode
from salon.services.orgs import OrgContext
from salon.web.markdown import render as render_markdown
from salon.web.static_files import router as static_router

__all__ = ["LANDING_MEETING_HOURS", "LOCAL_ORG", "router"]

# The organization that owns meetings started from the landing page.
LOCAL_ORG = "local"
LANDING_MEETING_HOURS = 24
# A landing-page start costs what an API write costs, from one shared budget.
_LANDING_RATE_KEY = "landing-page"
_LANDING_COST = 3

router = APIRouter(include_in_schema=False)
router.include_router(static_router)


@cache
def _template(name: str) -> Template:
    return Template(files("salon.web").joinpath("templates", name).read_text(encoding="utf-8"))


def _page(title: str, heading: str, body: str, status: int) -> HTMLResponse:
    html = _template("page.html").substitute(
        title=escape(title), heading=escape(heading), body=escape(body)
    )
    return HTMLResponse(html, status_code=status)


def _not_found() -> HTMLResponse:
    return _page("Not found", "Nothing here", "There is no page at this address.", 404)


# --- landing page ----------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _same_origin(request: Request, public_url: str) -> bool:
    """Whether a POST comes from one of Salon's own pages (CSRF check, no token needed).

    Browsers say so in ``Sec-Fetch-Site``, which no page can forge. Without it, ``Origin`` must
    be this server's. The room pages' ``Referrer-Policy: no-referrer`` makes a browser send
    ``Origin: null`` on a form POST, so ``null`` only passes with ``Sec-Fetch-Site``.
    """
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    ours = {_origin(public_url)}
    host = request.headers.get("host")
    if host:
        ours.add(f"https://{host}".lower())
    if origin is not None and origin != "null" and origin.lower() not in ours:
        return False
    if site is not None:
        return site == "same-origin"
    return origin is not None and origin != "null"


def _local_org(services: Services) -> OrgContext:
    try:
        return services.orgs.by_name(LOCAL_ORG)
    except NotFound:
        pass
    try:
        return services.orgs.create(LOCAL_ORG)
    except Conflict:  # another request made it first
        return services.orgs.by_name(LOCAL_ORG)


def _start_meeting(services: Services, mode: RoomMode) -> MeetingView:
    org = _local_org(services)
    spec = NewMeeting(
        end_date=services.clock.now() + timedelta(hours=LANDING_MEETING_HOURS),
        room_mode=mode,
        fields=frozenset(MeetingField),
    )
    return services.meetings.create(org.org_id, spec)


def _link_row(label: str, url: str, testid: str, hint: str) -> str:
    href = escape(url, quote=True)
    return (
        f'<div class="link-row"><h3>{escape(label)}</h3><p>{escape(hint)}</p>'
        f'<p class="link"><a data-testid="{testid}" href="{href}">{escape(url)}</a> '
        f'<a class="open" href="{href}" target="_blank" rel="noopener">Open</a></p></div>'
    )


def _landing(result: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(_template("landing.html").substitute(result=result), status_code=status)


def _landing_result(view: MeetingView) -> str:
    kind = "small (peer to peer)" if view.room_mode is RoomMode.NORMAL else "group"
    rows = [
        _link_row(
            "Host link",
            view.host_room_url or "",
            "host-link",
            "For you: lock the room, let people in, remove them, end the meeting.",
        ),
        _link_row("Room link", view.room_url, "room-link", "For participants."),
        _link_row(
            "Viewer link",
            view.viewer_room_url or "",
            "viewer-link",
            "For people who watch and chat, without camera or microphone.",
        ),
    ]
    return (
        '<section class="result" aria-live="polite">'
        f"<h2>Your {escape(kind)} meeting is ready</h2>"
        f"<p>It stays open until {escape(view.end_date.strftime('%Y-%m-%d %H:%M UTC'))}. "
        "Keep the host link to yourself.</p>" + "".join(rows) + "</section>"
    )


def _notice(text: str) -> str:
    return f'<p class="notice" role="alert">{escape(text)}</p>'


@router.get("/")
def landing_page(services: ServicesDep) -> HTMLResponse:
    if not services.settings.landing_page:
        return _not_found()
    return _landing()


@router.post("/")
async def start_meeting(request: Request, services: ServicesDep) -> HTMLResponse:
    """Starts a meeting for the server's own ``local`` organization (the form on ``/``)."""
    if not services.settings.landing_page:
        return _not_found()
    if not _same_origin(request, services.settings.server.public_url):
        return _landing(_notice("This form only works from this server's own page."), 403)
    if not services.rate_limiter.consume(_LANDING_RATE_KEY, _LANDING_COST).allowed:
        return _landing(_notice("Too many meetings were started just now. Wait a minute."), 429)
    body = (await request.body()).decode("utf-8", "replace")
    mode = parse_qs(body, max_num_fields=8).get("mode", [""])[0]
    if mode not in (RoomMode.NORMAL.value, RoomMode.GROUP.value):
        return _landing(_notice("Choose a small or a group meeting."), 400)
    view = await run_in_threadpool(_start_meeting, services, RoomMode(mode))
    return _landing(_landing_result(view))


# --- rooms -----------------------------------------------------------------------------------


# --- documents -------------------------------------------------------------------------------


@cache
def _embed_guide() -> str:
    source = files("salon.web").joinpath("docs", "embed.md").read_text(encoding="utf-8")
    return _template("docs.html").substitute(
        title="Embedding Salon rooms", body=render_markdown(source)
    )


@router.get("/docs/embed")
def embed_guide() -> HTMLResponse:
    """The embedding guide (docs/embed.md): the element, the iframe API, the JS SDK."""
    return HTMLResponse(_embed_guide())


# --- rooms -----------------------------------------------------------------------------------


@cache
def _room_boot() -> str:
    """The room page's inline script (its CSP allows it by hash): templates/room-boot.js after
    the link's rules of static/params.js, in one function. params.js imports nothing, so it
    runs as it is without its ``export`` keywords: one source for both, not a copy."""
    web = files("salon.web")
    rules = web.joinpath("static", "params.js").read_text(encoding="utf-8")
    if re.search(r"^\s*import\b", rules, re.MULTILINE):
        raise RuntimeError("static/params.js must import nothing: the room page inlines it")
    boot = web.joinpath("templates", "room-boot.js").read_text(encoding="utf-8")
    return "(() => {\n" + re.sub(r"^export ", "", rules, flags=re.MULTILINE) + boot + "})();\n"


# The room app's modules, largest first: over HTTP/1.1 they share up to six connections and the
# app starts only once the last has come, so a small one goes last. room.js is the entry
# (a script); the others are preloaded. sfu-link.js only for a group room, embed-bridge.js
# only for a page asked for as a frame (``Sec-Fetch-Dest: iframe``): the app imports them
# when it needs them (salon-client.js, room.js), so a page without them still works.
_ROOM_MODULES = (
    "salon-client.js",
    "sdk.js",
    "room.js",
    "sfu-link.js",
    "signal-socket.js",
    "peer-link.js",
    "embed-bridge.js",
    "params.js",
    "strings.js",
    "tiles.js",
    "dom.js",
    "speaker.js",
)


def _room_modules(mode: RoomMode, framed: bool) -> str:
    """The room page's module tags."""
    left_out = {"sfu-link.js"} if mode is not RoomMode.GROUP else set()
    if not framed:
        left_out.add("embed-bridge.js")
    return "\n".join(
        f'<script type="module" src="/static/{name}"></script>'
        if name == "room.js"
        else f'<link rel="modulepreload" href="/static/{name}">'
        for name in _ROOM_MODULES
        if name not in left_out
    )


def _framable(
    response: HTMLResponse, domains: tuple[str, ...] | None, inline_scripts: tuple[str, ...] = ()
) -> HTMLResponse:
    """Lets the room's organization's allowed embed domains frame ``response`` (a room that
    does not exist keeps the default: no site)."""
    if domains is not None:
        csp = page_csp(frame_ancestors(domains), inline_scripts)
        response.headers["content-security-policy"] = csp
    return response


@router.get("/{room}")
def room_page(
    room: str,
    services: ServicesDep,
    room_key: Annotated[str | None, Query(alias="roomKey", max_length=4096)] = None,
    sec_fetch_dest: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    try:
        access = services.meetings.access("/" + room, room_key)
    except RoomDeactivated as exc:
        ended = _page("Meeting ended", "This meeting has ended", exc.message, exc.status)
        return _framable(ended, services.orgs.embed_domains_of_room("/" + room))
    except NotFound as exc:
        return _page("No such room", "Room not found", exc.message, exc.status)
    except InvalidToken:
        invalid = _page(
            "Invalid link",
            "This link does not work",
            "The room key in this link is invalid or has expired. Ask for a new link.",
            403,
        )
        return _framable(invalid, services.orgs.embed_domains_of_room("/" + room))
    except SalonError as exc:
        return _page("Error", "Something went wrong", exc.message, exc.status)
    domains = services.orgs.embed_domains_of_room(access.room_name) or ()
    name = access.room_name.removeprefix("/")
    html = _template("room.html").substitute(
        title=escape(f"Room {name}"),
        heading=escape(f"Room {name}"),
        room_name=escape(access.room_name, quote=True),
        role=escape(access.role.value, quote=True),
        room_mode=escape(access.room_mode.value, quote=True),
        modules=_room_modules(access.room_mode, framed=sec_fetch_dest == "iframe"),
        # For the embed API (embed-bridge.js): whom the room may talk to by postMessage.
        embed_domains=escape(json.dumps(list(domains)) if domains else "any", quote=True),
        boot=_room_boot(),
    )
    response = _framable(HTMLResponse(html), domains, (_room_boot(),))
    # Every other page is Cross-Origin-Opener-Policy: same-origin. Not this one: it is made to
    # be framed by the embedding site, where COOP does not apply, and as a top-level page COOP
    # makes the browser put it in a new browsing context group, i.e. start a new renderer only
    # once the response has come, instead of alongside the request: 50-100 ms before a person
    # joins (docs/security.md, "Headers").
    response.headers["cross-origin-opener-policy"] = "unsafe-none"
    return response
