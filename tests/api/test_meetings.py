"""/v1/meetings over a real HTTPS server: create, read, list, delete, as a customer uses them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from salon.clock import FakeClock
from tests.support.server import RunningServer


def _end(clock: FakeClock, hours: int = 2) -> str:
    return (clock.now() + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def test_create_returns_whereby_shape(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        response = http.post("/v1/meetings", json={"endDate": _end(clock)})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"meetingId", "roomName", "roomUrl", "startDate", "endDate"}
    assert body["roomName"].startswith("/")
    assert body["roomUrl"] == "https://localhost" + body["roomName"]
    assert body["startDate"] == "2030-01-01T12:00:00.000Z"
    assert body["endDate"] == "2030-01-01T14:00:00.000Z"
    assert response.headers["x-ratelimit-limit"] == "1000"
    assert response.headers["x-ratelimit-remaining"] == "997"


def test_end_date_with_offset_is_returned_in_utc(
    server: RunningServer, api_key: str, clock: FakeClock
):
    with server.client(api_key) as http:
        body = http.post("/v1/meetings", json={"endDate": "2030-01-01T17:42:49-05:00"}).json()
    assert body["endDate"] == "2030-01-01T22:42:49.000Z"


def test_prefix_is_lower_cased_and_spaces_removed(server: RunningServer, api_key: str, clock):
    with server.client(api_key) as http:
        body = http.post(
            "/v1/meetings", json={"endDate": _end(clock), "roomNamePrefix": "My Clinic"}
        ).json()
    assert body["roomName"].startswith("/myclinic-")
    assert len(body["roomName"]) == len("/myclinic-") + 36


def test_human_short_pattern(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        body = http.post(
            "/v1/meetings", json={"endDate": _end(clock), "roomNamePattern": "human-short"}
        ).json()
    suffix = body["roomName"][1:]
    assert len(suffix) == 6
    assert not set(suffix) & set("01ilo")


@pytest.mark.parametrize(
    "requested", [["hostRoomUrl"], ["viewerRoomUrl"], ["hostRoomUrl", "viewerRoomUrl"]]
)
def test_fields_add_keyed_urls(server: RunningServer, api_key: str, clock, requested):
    with server.client(api_key) as http:
        body = http.post("/v1/meetings", json={"endDate": _end(clock), "fields": requested}).json()
    for name in ("hostRoomUrl", "viewerRoomUrl"):
        assert (name in body) == (name in requested)
    for name in requested:
        url = urlsplit(body[name])
        assert f"https://{url.netloc}{url.path}" == body["roomUrl"]
        role = "host" if name == "hostRoomUrl" else "viewer"
        grant = server.services.room_keys.verify(
            parse_qs(url.query)["roomKey"][0], body["roomName"]
        )
        assert grant.role == role
        assert grant.meeting_id == body["meetingId"]


def test_viewer_mode_template_locks_and_groups(server: RunningServer, api_key: str, clock):
    with server.client(api_key) as http:
        body = http.post(
            "/v1/meetings", json={"endDate": _end(clock), "templateType": "viewerMode"}
        ).json()
    assert "hostRoomUrl" in body and "viewerRoomUrl" in body
    view = server.services.meetings.get(
        server.services.orgs.by_name("acme").org_id, body["meetingId"], frozenset()
    )
    assert view.is_locked and view.room_mode == "group"


def test_get_and_fields_query(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        created = http.post("/v1/meetings", json={"endDate": _end(clock)}).json()
        plain = http.get(f"/v1/meetings/{created['meetingId']}")
        both = http.get(
            f"/v1/meetings/{created['meetingId']}", params={"fields": "hostRoomUrl,viewerRoomUrl"}
        )
        again = http.get(f"/v1/meetings/{created['meetingId']}", params={"fields": "hostRoomUrl"})
    assert plain.status_code == 200
    assert plain.json() == created
    assert {"hostRoomUrl", "viewerRoomUrl"} <= set(both.json())
    # The same key every time: a host link handed out twice is the same link.
    assert again.json()["hostRoomUrl"] == both.json()["hostRoomUrl"]


def test_get_unknown_is_404(server: RunningServer, api_key: str):
    with server.client(api_key) as http:
        response = http.get("/v1/meetings/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "meetingId" in response.json()["error"]


def test_delete_is_idempotent(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        created = http.post("/v1/meetings", json={"endDate": _end(clock)}).json()
        first = http.delete(f"/v1/meetings/{created['meetingId']}")
        second = http.delete(f"/v1/meetings/{created['meetingId']}")
        gone = http.get(f"/v1/meetings/{created['meetingId']}")
    assert (first.status_code, first.content) == (204, b"")
    assert (second.status_code, second.content) == (204, b"")
    assert gone.status_code == 404


def test_list_paginates_with_cursor(server: RunningServer, api_key: str, clock: FakeClock):
    created = []
    with server.client(api_key) as http:
        for _ in range(5):
            created.append(http.post("/v1/meetings", json={"endDate": _end(clock)}).json())
            clock.advance(1)
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = http.get("/v1/meetings", params=params).json()
            pages += 1
            seen += [m["meetingId"] for m in page["results"]]
            cursor = page["cursor"]
            if cursor is None:
                break
    assert seen == [m["meetingId"] for m in created]
    assert pages == 3


def test_list_sort_and_room_name_filter(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        a = http.post(
            "/v1/meetings", json={"endDate": _end(clock, 5), "roomNamePrefix": "alpha"}
        ).json()
        b = http.post(
            "/v1/meetings", json={"endDate": _end(clock, 3), "roomNamePrefix": "beta"}
        ).json()
        by_end = http.get("/v1/meetings", params={"sortBy": "endDate:asc"}).json()
        by_end_desc = http.get("/v1/meetings", params={"sortBy": "endDate:desc"}).json()
        exact = http.get("/v1/meetings", params={"roomName": a["roomName"]}).json()
        starts = http.get("/v1/meetings", params={"roomName[startsWith]": "/bet"}).json()
        contains = http.get("/v1/meetings", params={"roomName[contains]": "lph"}).json()
    assert [m["meetingId"] for m in by_end["results"]] == [b["meetingId"], a["meetingId"]]
    assert [m["meetingId"] for m in by_end_desc["results"]] == [a["meetingId"], b["meetingId"]]
    assert [m["meetingId"] for m in exact["results"]] == [a["meetingId"]]
    assert [m["meetingId"] for m in starts["results"]] == [b["meetingId"]]
    assert [m["meetingId"] for m in contains["results"]] == [a["meetingId"]]


def test_like_wildcards_are_literal(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        http.post("/v1/meetings", json={"endDate": _end(clock)})
        found = http.get("/v1/meetings", params={"roomName[contains]": "%"}).json()
    assert found["results"] == []


def test_recording_options_are_stored_encrypted_and_readable(
    server: RunningServer, api_key: str, clock: FakeClock
):
    recording = {
        "type": "cloud",
        "destination": {
            "provider": "s3",
            "bucket": "acme-recordings/meetings",
            "region": "eu-west-1",
            "accessKeyId": "AKIAEXAMPLE",
            "accessKeySecret": "secret-value",
            "fileFormat": "mp4",
        },
        "startTrigger": "automatic-2nd-participant",
    }
    transcription = {
        "destination": {"provider": "whereby"},
        "startTrigger": "manual",
        "language": "en-US",
        "liveCaptions": True,
    }
    streaming = {"destination": {"url": "rtmp://live.example.com/app/key"}, "startTrigger": "none"}
    with server.client(api_key) as http:
        body = http.post(
            "/v1/meetings",
            json={
                "endDate": _end(clock),
                "recording": recording,
                "liveTranscription": transcription,
                "streaming": streaming,
            },
        ).json()
    org = server.services.orgs.by_name("acme")
    stored = server.services.meetings.stored_options(org.org_id, body["meetingId"])
    assert stored == {
        "recording": recording,
        "live_transcription": transcription,
        "streaming": streaming,
    }


def test_insights_rooms_lists_rooms_with_honest_zeros(
    server: RunningServer, api_key: str, clock: FakeClock
):
    with server.client(api_key) as http:
        created = http.post("/v1/meetings", json={"endDate": _end(clock)}).json()
        insights = http.get("/v1/insights/rooms").json()
    (room,) = insights["results"]
    assert room["roomName"] == created["roomName"]
    assert room["createdAt"] == created["startDate"]
    assert room["endAt"] == created["endDate"]
    assert room["totalSessions"] == 0
    assert room["firstSessionStartedAt"] is None
    assert insights["cursor"] is None
