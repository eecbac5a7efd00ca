"""Sessions recorded by real signaling show up in the insights API, sealed at rest, per org."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from salon.clock import FakeClock
from salon.services.container import Services
from tests.signaling.conftest import make_room
from tests.support.server import RunningServer
from tests.support.signaling_client import on_server

pytestmark = pytest.mark.anyio

T0 = "2030-01-01T12:00:00.000Z"  # FakeClock's start


async def test_two_participants_make_one_session_with_real_numbers(
    server: RunningServer, services: Services, clock: FakeClock, clients, tmp_path: Path
):
    room = make_room(services, clock)
    name = f"canary-name-{uuid.uuid4().hex}"
    external = f"canary-ext-{uuid.uuid4().hex}"
    a, b = await clients(), await clients()
    host = await a.join(room.room_name, room.host_key, displayName=name, externalId=external)
    assert host["ok"]
    assert (await b.join(room.room_name, displayName="Ben"))["ok"]
    clock.advance(timedelta(seconds=90))
    assert (await b.call("leave", {}))["ok"]
    clock.advance(timedelta(seconds=10))
    assert (await a.call("leave", {}))["ok"]
    clock.advance(timedelta(seconds=61))  # the session survives a dip for 60 s
    await on_server(server, server.signaling.tick())
    await on_server(server, server.signaling.flush())

    key = services.orgs.create_api_key("acme").plaintext
    with server.client(key) as http:
        rooms = http.get("/v1/insights/rooms").json()["results"]
        sessions = http.get("/v1/insights/room-sessions", params={"roomName": room.room_name})
        (session,) = sessions.json()["results"]
        people = http.get(
            "/v1/insights/participants", params={"roomSessionId": session["roomSessionId"]}
        ).json()["results"]
        by_external = http.get("/v1/insights/participants", params={"externalId": external})

    (insight,) = rooms
    assert insight["roomName"] == room.room_name
    assert insight["totalSessions"] == 1
    assert insight["firstSessionStartedAt"] == insight["lastSessionStartedAt"] == T0
    # Both were in the session from 12:00:00 until it dropped below two at 12:01:30: each
    # connection is 90 s, rounded up to 2 minutes.
    assert insight["totalParticipantMinutes"] == 4
    assert insight["totalUniqueParticipants"] == 2
    assert session["roomName"] == room.room_name
    assert (session["startedAt"], session["endedAt"]) == (T0, "2030-01-01T12:01:30.000Z")
    assert session["totalParticipantMinutes"] == 4
    assert session["totalUniqueParticipants"] == 2
    # Both joined the session when it started: same joinedAt, so compare without order.
    assert sorted((p["roleName"], p["displayName"], p["externalId"]) for p in people) == [
        ("host", name, external),
        ("visitor", "Ben", None),
    ]
    assert [p["participantId"] for p in by_external.json()["results"]] == [host["self"]["id"]]

    # At rest the name and external id exist only sealed.
    data_dir = services.settings.data_dir
    for path in (p for p in data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes()
        assert name.encode() not in content, f"display name found in {path}"
        assert external.encode() not in content, f"external id found in {path}"


async def test_one_org_never_sees_another_orgs_sessions(
    server: RunningServer, services: Services, clock: FakeClock, clients
):
    room = make_room(services, clock)
    a, b = await clients(), await clients()
    assert (await a.join(room.room_name, displayName="Ann", externalId="shared-ext"))["ok"]
    assert (await b.join(room.room_name, displayName="Ben"))["ok"]
    await on_server(server, server.signaling.flush())
    services.orgs.create("other")
    make_room(services, clock, org="other")
    mine = services.orgs.create_api_key("acme").plaintext
    theirs = services.orgs.create_api_key("other").plaintext
    with server.client(mine) as http:
        (session,) = http.get(
            "/v1/insights/room-sessions", params={"roomName": room.room_name}
        ).json()["results"]
        assert session["endAt"] is None  # still running
        assert "endedAt" not in session
    with server.client(theirs) as http:
        assert (
            http.get("/v1/insights/room-sessions", params={"roomName": room.room_name}).json()[
                "results"
            ]
            == []
        )
        by_session = {"roomSessionId": session["roomSessionId"]}
        assert http.get("/v1/insights/participants", params=by_session).json()["results"] == []
        by_external = {"externalId": "shared-ext"}
        assert http.get("/v1/insights/participants", params=by_external).json()["results"] == []
        (their_room,) = http.get("/v1/insights/rooms").json()["results"]
        assert their_room["totalSessions"] == 0


async def test_participants_needs_exactly_one_filter(server: RunningServer, services: Services):
    services.orgs.create("acme")
    key = services.orgs.create_api_key("acme").plaintext
    with server.client(key) as http:
        for params in ({}, {"roomSessionId": "x", "externalId": "y"}):
            response = http.get("/v1/insights/participants", params=params)
            assert response.status_code == 400
            assert response.json()["data"]["fields"][0]["field"] == "roomSessionId"
        missing = http.get("/v1/insights/room-sessions")
        assert missing.status_code == 400
        assert (
            http.get(
                "/v1/insights/room-sessions", params={"roomName": "/x", "sortBy": "colour:asc"}
            ).status_code
            == 400
        )
