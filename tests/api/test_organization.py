"""Salon's own organization settings endpoint; the contact email is stored sealed."""

from __future__ import annotations

from tests.support.server import RunningServer


def test_contact_email_round_trip(server: RunningServer, api_key: str):
    with server.client(api_key) as http:
        assert http.get("/v1/organization").json() == {
            "name": "acme",
            "contactEmail": None,
            "allowedEmbedDomains": [],
        }
        updated = http.patch("/v1/organization", json={"contactEmail": "dpo@acme.example"})
        assert updated.status_code == 200
        assert http.get("/v1/organization").json()["contactEmail"] == "dpo@acme.example"
        cleared = http.patch("/v1/organization", json={"contactEmail": None})
        assert cleared.json()["contactEmail"] is None


def test_bad_email_changes_nothing(server: RunningServer, api_key: str):
    with server.client(api_key) as http:
        http.patch("/v1/organization", json={"contactEmail": "dpo@acme.example"})
        for bad in ({"contactEmail": "not-an-email"}, {"contactEmail": 5}, {"other": "x"}, {}):
            response = http.patch("/v1/organization", json=bad)
            assert response.status_code == 400, bad
            assert response.json()["data"]["fields"][0]["field"] in ("contactEmail", "other")
        assert http.get("/v1/organization").json()["contactEmail"] == "dpo@acme.example"
