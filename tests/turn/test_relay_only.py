"""The relay-only privacy setting: REST fields (organization and meeting), storage, and what
the room facts and ICE grants make of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from salon.clock import FakeClock
from salon.services.container import Services
from tests.support.server import RunningServer


def _end(clock: FakeClock) -> str:
    return (clock.now() + timedelta(hours=2)).isoformat()


def _grant_policy(services: Services, meeting_id: str) -> str:
    facts = services.sessions.room_facts(meeting_id)
    return services.ice.grant(facts, services.clock.now()).transport_policy


def test_meeting_relay_only_is_echoed_and_reaches_the_room(
    server: RunningServer, api_key: str, clock: FakeClock
):
    with server.client(api_key) as http:
        created = http.post("/v1/meetings", json={"endDate": _end(clock), "relayOnly": True})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["relayOnly"] is True
        got = http.get(f"/v1/meetings/{body['meetingId']}").json()
        assert got["relayOnly"] is True
        listed = http.get("/v1/meetings").json()["results"]
        assert [m.get("relayOnly") for m in listed] == [True]
    services = server.services
    assert services.sessions.room_facts(body["meetingId"]).relay_only
    assert _grant_policy(services, body["meetingId"]) == "relay"


@pytest.mark.parametrize("body", [{}, {"relayOnly": False}])
def test_direct_meetings_keep_whereby_shape(
    server: RunningServer, api_key: str, clock: FakeClock, body: dict[str, Any]
):
    with server.client(api_key) as http:
        created = http.post("/v1/meetings", json={"endDate": _end(clock)} | body).json()
        got = http.get(f"/v1/meetings/{created['meetingId']}").json()
    for meeting in (created, got):
        assert set(meeting) == {"meetingId", "roomName", "roomUrl", "startDate", "endDate"}
    assert not server.services.sessions.room_facts(created["meetingId"]).relay_only
    assert _grant_policy(server.services, created["meetingId"]) == "all"


@pytest.mark.parametrize("bad", [None, "yes", 1, "true", [], {}])
def test_bad_meeting_relay_only_is_refused_and_creates_nothing(
    server: RunningServer, api_key: str, clock: FakeClock, bad: Any
):
    with server.client(api_key) as http:
        response = http.post("/v1/meetings", json={"endDate": _end(clock), "relayOnly": bad})
        assert response.status_code == 400
        error = response.json()
        assert error["code"] == "invalid_input"
        assert error["data"]["fields"][0] == {
            "field": "relayOnly",
            "message": "must be true or false",
        }
        assert http.get("/v1/meetings").json()["results"] == []


def test_organization_relay_only_round_trip(server: RunningServer, api_key: str, clock: FakeClock):
    with server.client(api_key) as http:
        meeting = http.post("/v1/meetings", json={"endDate": _end(clock)}).json()
        assert "relayOnly" not in http.get("/v1/organization").json()
        turned_on = http.patch("/v1/organization", json={"relayOnly": True})
        assert turned_on.status_code == 200
        assert without_embed(turned_on.json()) == {
            "name": "acme",
            "contactEmail": None,
            "relayOnly": True,
        }
        assert http.get("/v1/organization").json()["relayOnly"] is True
        # The meeting made before is relay-only now too: the room reads the org's setting.
        assert _grant_policy(server.services, meeting["meetingId"]) == "relay"
        # Changing the email leaves the relay setting as it is, and the other way round.
        both = http.patch("/v1/organization", json={"contactEmail": "dpo@acme.example"}).json()
        assert without_embed(both) == {
            "name": "acme",
            "contactEmail": "dpo@acme.example",
            "relayOnly": True,
        }
        off = http.patch("/v1/organization", json={"relayOnly": False}).json()
        assert without_embed(off) == {"name": "acme", "contactEmail": "dpo@acme.example"}
    assert _grant_policy(server.services, meeting["meetingId"]) == "all"


def test_a_meeting_cannot_undo_its_organization_relay_only(
    server: RunningServer, api_key: str, clock: FakeClock
):
    with server.client(api_key) as http:
        http.patch("/v1/organization", json={"relayOnly": True})
        meeting = http.post("/v1/meetings", json={"endDate": _end(clock), "relayOnly": False})
    assert _grant_policy(server.services, meeting.json()["meetingId"]) == "relay"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"relayOnly": None}, "relayOnly"),
        ({"relayOnly": "on"}, "relayOnly"),
        ({"relayOnly": 0}, "relayOnly"),
        ({"relayOnly": True, "contactEmail": "not-an-email"}, "contactEmail"),
        ({}, "contactEmail"),
    ],
)
def test_bad_organization_input_changes_nothing(
    server: RunningServer, api_key: str, bad: dict[str, Any], field: str
):
    with server.client(api_key) as http:
        response = http.patch("/v1/organization", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["data"]["fields"][0]["field"] == field
        settings = without_embed(http.get("/v1/organization").json())
        assert settings == {"name": "acme", "contactEmail": None}


def without_embed(settings: dict[str, object]) -> dict[str, object]:
    """The organization's settings but its allowed embed domains (tested on their own)."""
    return {k: v for k, v in settings.items() if k != "allowedEmbedDomains"}


def test_empty_patch_names_both_fields(server: RunningServer, api_key: str):
    with server.client(api_key) as http:
        fields = http.patch("/v1/organization", json={}).json()["data"]["fields"]
    assert {"contactEmail", "relayOnly"} <= {f["field"] for f in fields}


def test_openapi_documents_the_extension(server: RunningServer):
    with server.client() as http:
        spec = http.get("/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["MeetingCreate"]["properties"]["relayOnly"]["type"] == "boolean"
    assert "relayOnly" in schemas["OrganizationSettingsIn"]["properties"]


def test_one_org_cannot_see_or_change_another(services: Services):
    acme = services.orgs.create("acme")
    beta = services.orgs.create("beta")
    services.relay_policy.set_org_relay_only(acme.org_id, True)
    assert services.relay_policy.org_relay_only(acme.org_id)
    assert not services.relay_policy.org_relay_only(beta.org_id)
