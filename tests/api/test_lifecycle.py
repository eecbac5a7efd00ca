"""A room works from creation, is deactivated at end + 1 h, and purged within 24 h (fake clock)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from salon.clock import FakeClock
from tests.support.server import RunningServer


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_room_page_through_the_lifecycle(server: RunningServer, api_key: str, clock: FakeClock):
    end = clock.now() + timedelta(hours=2)
    with server.client(api_key) as http:
        meeting = http.post(
            "/v1/meetings",
            json={"endDate": end.isoformat(), "fields": ["hostRoomUrl", "viewerRoomUrl"]},
        ).json()
        room, host, viewer = (
            _path(meeting[k]) for k in ("roomUrl", "hostRoomUrl", "viewerRoomUrl")
        )

        page = http.get(room)
        assert page.status_code == 200
        # The room app's shell, told the role the link grants (tests/web checks the rest).
        assert 'data-role="visitor"' in page.text
        assert 'data-role="host"' in http.get(host).text
        assert 'data-role="viewer"' in http.get(viewer).text
        assert "frame-ancestors 'none'" not in page.headers["content-security-policy"]

        clock.advance(end - clock.now() + timedelta(minutes=59))
        still_open = http.get(host)
        assert still_open.status_code == 200
        assert 'data-role="host"' in still_open.text

        clock.advance(timedelta(minutes=1))
        for path in (room, host, viewer):
            ended = http.get(path)
            assert ended.status_code == 410
            assert "This meeting has ended" in ended.text
        # Still visible to the customer's API until purged.
        assert http.get(f"/v1/meetings/{meeting['meetingId']}").status_code == 200
        assert server.services.room_keys is not None

        clock.advance(timedelta(hours=22))
        assert server.services.meetings.purge_expired() == 1
        assert http.get(room).status_code == 404
        assert http.get(f"/v1/meetings/{meeting['meetingId']}").status_code == 404


def test_keys_for_another_room_or_forged_are_refused(
    server: RunningServer, api_key: str, clock: FakeClock
):
    end = (clock.now() + timedelta(hours=2)).isoformat()
    with server.client(api_key) as http:
        one = http.post("/v1/meetings", json={"endDate": end, "fields": ["hostRoomUrl"]}).json()
        two = http.post("/v1/meetings", json={"endDate": end}).json()
        stolen_key = urlsplit(one["hostRoomUrl"]).query
        moved = http.get(f"{_path(two['roomUrl'])}?{stolen_key}")
        forged = http.get(f"{_path(one['roomUrl'])}?roomKey=eyJhbGciOiJub25lIn0.e30.")
    for response in (moved, forged):
        assert response.status_code == 403
        assert "invalid or has expired" in response.text


def test_deleted_meeting_keys_stop_working(server: RunningServer, api_key: str, clock: FakeClock):
    end = (clock.now() + timedelta(hours=2)).isoformat()
    with server.client(api_key) as http:
        meeting = http.post("/v1/meetings", json={"endDate": end, "fields": ["hostRoomUrl"]}).json()
        http.delete(f"/v1/meetings/{meeting['meetingId']}")
        assert http.get(_path(meeting["hostRoomUrl"])).status_code == 404


def test_unknown_room_is_a_clear_404_page(server: RunningServer):
    with server.client() as http:
        response = http.get("/no-such-room")
    assert response.status_code == 404
    assert "Room not found" in response.text
    assert response.headers["content-type"].startswith("text/html")
