"""One organization can never see or change another's meetings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from salon.clock import FakeClock
from tests.support.server import RunningServer


@pytest.fixture
def two_orgs(server: RunningServer, api_key: str) -> tuple[str, str]:
    server.services.orgs.create("beta")
    return api_key, server.services.orgs.create_api_key("beta").plaintext


def _end(clock: FakeClock) -> str:
    return (clock.now() + timedelta(hours=1)).isoformat()


def test_org_b_cannot_read_list_or_delete_org_a_meetings(
    server: RunningServer, two_orgs: tuple[str, str], clock: FakeClock
):
    key_a, key_b = two_orgs
    with server.client(key_a) as a, server.client(key_b) as b:
        meeting = a.post("/v1/meetings", json={"endDate": _end(clock)}).json()
        path = f"/v1/meetings/{meeting['meetingId']}"
        assert b.get(path).status_code == 404
        assert b.get(path, params={"fields": "hostRoomUrl"}).status_code == 404
        assert b.get("/v1/meetings").json() == {"results": [], "cursor": None}
        assert (
            b.get("/v1/meetings", params={"roomName": meeting["roomName"]}).json()["results"] == []
        )
        assert b.get("/v1/insights/rooms").json()["results"] == []
        # Deleting someone else's meeting answers like any delete, and changes nothing.
        assert b.delete(path).status_code == 204
        assert a.get(path).status_code == 200


def test_org_a_cursor_does_not_open_org_b_pages(
    server: RunningServer, two_orgs: tuple[str, str], clock: FakeClock
):
    key_a, key_b = two_orgs
    with server.client(key_a) as a, server.client(key_b) as b:
        for _ in range(3):
            a.post("/v1/meetings", json={"endDate": _end(clock)})
            clock.advance(1)
        cursor = a.get("/v1/meetings", params={"limit": 1}).json()["cursor"]
        assert b.get("/v1/meetings", params={"cursor": cursor}).json()["results"] == []


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer salon_not-a-real-key", "bearer nope"],
)
def test_missing_or_bad_keys_get_401(server: RunningServer, api_key: str, header: str | None):
    headers = {} if header is None else {"Authorization": header}
    with server.client() as http:
        response = http.get("/v1/meetings", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert "API key" in body["error"]
    assert "x-ratelimit-remaining" not in response.headers


def test_revoked_key_stops_working(server: RunningServer, api_key: str):
    with server.client(api_key) as http:
        assert http.get("/v1/meetings").status_code == 200
        (info,) = server.services.orgs.list_api_keys("acme")
        server.services.orgs.revoke_api_key(info.key_id)
        assert http.get("/v1/meetings").status_code == 401


def test_deleted_org_keys_stop_working(server: RunningServer, api_key: str):
    server.services.orgs.delete("acme")
    with server.client(api_key) as http:
        assert http.get("/v1/meetings").status_code == 401
