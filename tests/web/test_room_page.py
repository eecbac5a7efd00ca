"""The room app's shell at ``/<room>``: what the page tells the app, and a CSP without
``unsafe-inline`` that the page fully respects (no inline style; one inline script, the room
page's early signaling start, allowed by its hash and nothing else)."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

from salon.api.middleware import script_hash
from salon.clock import FakeClock
from salon.web.static_files import STATIC_ROOT
from tests.support.server import RunningServer


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _Audit(HTMLParser):
    """Collects the data- attributes of <html> and anything inline the CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.inline: list[str] = []
        self.scripts: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False
        self._inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.root = attributes
        if tag == "style" or "style" in attributes:
            self.inline.append(f"style on <{tag}>")
        if any(name.startswith("on") for name in attributes):
            self.inline.append(f"event handler on <{tag}>")
        if tag == "script":
            self._in_script = True
            src = attributes.get("src")
            self._inline = src is None
            if src is None:
                self.inline_scripts.append("")
            else:
                self.scripts.append(src)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and self._inline:
            self.inline_scripts[-1] += data


def _audit(html: str) -> _Audit:
    audit = _Audit()
    audit.feed(html)
    return audit


def _meeting(server: RunningServer, api_key: str, clock: FakeClock, **body: object) -> dict:
    end = (clock.now() + timedelta(hours=2)).isoformat()
    request = {"endDate": end, "fields": ["hostRoomUrl", "viewerRoomUrl"]} | body
    with server.client(api_key) as http:
        response = http.post("/v1/meetings", json=request)
    assert response.status_code == 201, response.text
    meeting: dict = response.json()
    return meeting


def test_room_page_tells_the_app_room_role_and_mode(
    server: RunningServer, api_key: str, clock: FakeClock
) -> None:
    meeting = _meeting(server, api_key, clock, roomMode="group")
    expected = {"roomUrl": "visitor", "hostRoomUrl": "host", "viewerRoomUrl": "viewer"}
    with server.client() as http:
        for field, role in expected.items():
            page = http.get(_path(meeting[field]))
            assert page.status_code == 200
            root = _audit(page.text).root
            assert root["data-room-name"] == meeting["roomName"]
            assert root["data-role"] == role
            assert root["data-room-mode"] == "group"


def test_room_page_is_a_module_shell_with_a_noscript_message(
    server: RunningServer, api_key: str, clock: FakeClock
) -> None:
    meeting = _meeting(server, api_key, clock)
    with server.client() as http:
        page = http.get(_path(meeting["roomUrl"]))
    audit = _audit(page.text)
    assert audit.scripts == ["/static/room.js"]
    assert re.search(r'<script type="module" src="/static/room.js">', page.text)
    assert 'data-testid="screen"' in page.text
    noscript = page.text.split("<noscript>")[1].split("</noscript>")[0]
    assert "This room exists" in noscript
    assert meeting["roomName"].removeprefix("/") in noscript


def test_pages_have_a_strict_csp_and_nothing_inline(
    server: RunningServer, api_key: str, clock: FakeClock
) -> None:
    meeting = _meeting(server, api_key, clock)
    with server.client() as http:
        pages = [
            http.get(_path(meeting["roomUrl"])),
            http.get(_path(meeting["hostRoomUrl"])),
            http.get("/"),
            http.get("/no-such-room"),
        ]
    for page in pages:
        csp = page.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "style-src 'self';" in csp
        audit = _audit(page.text)
        assert audit.inline == [], page.url
        # Each inline script is allowed by its own hash, and nothing else inline is.
        script_src = csp.split("script-src ")[1].split(";")[0].split()
        assert script_src == ["'self'", *(script_hash(text) for text in audit.inline_scripts)]
    room, host, landing, missing = (_audit(page.text).inline_scripts for page in pages)
    assert len(room) == len(host) == 1 and "new WebSocket(" in room[0]
    # The link's rules are params.js's own, inlined without their exports (pages._room_boot).
    params = (STATIC_ROOT / "params.js").read_text(encoding="utf-8")
    assert re.sub(r"^export ", "", params, flags=re.MULTILINE) in room[0]
    assert not re.search(r"^\s*(import|export)\b", room[0], re.MULTILINE)
    assert landing == missing == []


def test_every_static_file_the_app_imports_is_served(server: RunningServer) -> None:
    """Each relative import of the room app's modules names a file /static/ serves."""
    with server.client() as http:
        seen: set[str] = set()
        queue = ["room.js"]
        while queue:
            name = queue.pop()
            if name in seen:
                continue
            seen.add(name)
            response = http.get(f"/static/{name}")
            assert response.status_code == 200, name
            pattern = r'(?:from |import\()"\./([\w.-]+\.js)"'
            for imported in re.findall(pattern, response.text):
                queue.append(imported)
    assert {"room.js", "salon-client.js", "peer-link.js", "params.js", "strings.js"} <= seen
    assert {"sfu-link.js", "embed-bridge.js", "tiles.js"} <= seen  # loaded when needed


def test_only_the_room_page_leaves_out_the_opener_policy(
    server: RunningServer, api_key: str, clock: FakeClock
) -> None:
    """COOP would start the room page's renderer only once its response came (see
    docs/security.md); every other page keeps ``same-origin``."""
    meeting = _meeting(server, api_key, clock)
    with server.client() as http:
        room = http.get(_path(meeting["roomUrl"]))
        others = [
            http.get("/"),
            http.get("/no-such-room"),
            http.get(_path(meeting["roomUrl"]) + "?roomKey=forged"),
            http.get("/docs/embed"),
            http.get("/v1/meetings"),
        ]
    assert room.headers.get_list("cross-origin-opener-policy") == ["unsafe-none"]
    for page in others:
        assert page.headers.get_list("cross-origin-opener-policy") == ["same-origin"], page.url


def test_the_room_page_preloads_what_its_room_and_frame_need(
    server: RunningServer, api_key: str, clock: FakeClock
) -> None:
    """The group rooms' media client only for a group room, the embed API only for a page
    asked for as a frame; every page preloads the rest and starts at room.js."""
    normal = _meeting(server, api_key, clock, roomMode="normal")
    group = _meeting(server, api_key, clock, roomMode="group")

    def preloads(url: str, **headers: str) -> set[str]:
        with server.client() as http:
            page = http.get(_path(url), headers=headers)
        assert _audit(page.text).scripts == ["/static/room.js"]
        return set(re.findall(r'<link rel="modulepreload" href="/static/([\w.-]+)">', page.text))

    common = {"salon-client.js", "sdk.js", "signal-socket.js", "peer-link.js", "params.js"}
    alone = preloads(normal["roomUrl"], **{"Sec-Fetch-Dest": "document"})
    assert common <= alone and not {"sfu-link.js", "embed-bridge.js"} & alone
    assert "sfu-link.js" in preloads(group["roomUrl"])
    framed = preloads(normal["roomUrl"], **{"Sec-Fetch-Dest": "iframe"})
    assert "embed-bridge.js" in framed and "sfu-link.js" not in framed
