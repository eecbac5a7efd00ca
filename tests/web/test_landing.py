"""The landing page at ``/``: starts a meeting for the server's ``local`` organization
from a same-origin form, refuses cross-site posts, and does not exist in production mode."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from salon.clock import FakeClock
from salon.services.container import build_services
from salon.services.meetings import RoomMode
from salon.web.pages import LOCAL_ORG
from tests.conftest import make_settings
from tests.support.server import RunningServer, https_server

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _links(html: str) -> dict[str, str]:
    found = {}
    for testid in ("room-link", "host-link", "viewer-link"):
        match = re.search(rf'data-testid="{testid}" href="([^"]+)"', html)
        assert match, f"{testid} missing"
        found[testid] = match.group(1).replace("&amp;", "&")
    return found


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _local_meetings(server: RunningServer) -> list[RoomMode]:
    org = server.services.orgs.by_name(LOCAL_ORG)
    return [m.room_mode for m in server.services.meetings.list_page(org.org_id).results]


def test_landing_page_offers_both_kinds_of_meeting(server: RunningServer) -> None:
    with server.client() as http:
        page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-testid="start-normal"' in page.text
    assert 'data-testid="start-group"' in page.text
    assert 'method="post"' in page.text


@pytest.mark.parametrize("mode", ["normal", "group"])
def test_start_creates_a_meeting_for_the_local_org(
    server: RunningServer, clock: FakeClock, mode: str
) -> None:
    with server.client() as http:
        page = http.post("/", content=f"mode={mode}", headers=SAME_ORIGIN | FORM)
        assert page.status_code == 200
        links = _links(page.text)
        assert _local_meetings(server) == [RoomMode(mode)]
        room = _path(links["room-link"])
        assert _path(links["host-link"]).startswith(room + "?roomKey=")
        assert _path(links["viewer-link"]).startswith(room + "?roomKey=")
        assert 'data-role="host"' in http.get(_path(links["host-link"])).text
        assert 'data-role="viewer"' in http.get(_path(links["viewer-link"])).text
        assert 'data-role="visitor"' in http.get(room).text
        # Each link has an "Open" link beside it.
        assert page.text.count('class="open"') == 3
    org = server.services.orgs.by_name(LOCAL_ORG)
    (meeting,) = server.services.meetings.list_page(org.org_id).results
    assert meeting.end_date - clock.now() == timedelta(hours=24)


def test_second_start_reuses_the_local_org(server: RunningServer) -> None:
    with server.client() as http:
        for _ in range(2):
            response = http.post("/", content="mode=normal", headers=SAME_ORIGIN | FORM)
            assert response.status_code == 200
    assert [o.name for o in server.services.orgs.all()] == [LOCAL_ORG]
    assert len(_local_meetings(server)) == 2


def test_own_origin_passes_without_fetch_metadata(server: RunningServer) -> None:
    with server.client() as http:
        response = http.post("/", content="mode=normal", headers=FORM | {"Origin": server.base_url})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.localhost"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {},
    ],
)
def test_cross_site_posts_are_refused(server: RunningServer, headers: dict[str, str]) -> None:
    with server.client() as http:
        response = http.post("/", content="mode=normal", headers=FORM | headers)
    assert response.status_code == 403
    assert 'data-testid="room-link"' not in response.text
    assert server.services.orgs.all() == []


def test_unknown_mode_is_refused(server: RunningServer) -> None:
    with server.client() as http:
        response = http.post("/", content="mode=huge", headers=SAME_ORIGIN | FORM)
    assert response.status_code == 400
    assert server.services.orgs.all() == []


def test_no_landing_page_in_production_mode(tmp_path: Path, clock: FakeClock) -> None:
    services = build_services(make_settings(tmp_path, mode="production"), clock)
    try:
        with https_server(services) as running, running.client() as http:
            assert http.get("/").status_code == 404
            posted = http.post("/", content="mode=normal", headers=SAME_ORIGIN | FORM)
            assert posted.status_code == 404
        assert services.orgs.all() == []
    finally:
        services.close()
