"""Allowed embed domains: ``allowedEmbedDomains`` on ``/v1/organization``, the ``salon org
embed-domains`` command, and what they do to room pages (CSP ``frame-ancestors``) and to the
files customers' pages load (the element and the SDK, across origins)."""

from __future__ import annotations

import json
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from salon.clock import FakeClock
from tests.support.process import salon
from tests.support.server import RunningServer

ORG = "/v1/organization"


def _settings(http: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = http.get(ORG).json()
    return body


def test_set_read_and_clear(server: RunningServer, api_key: str) -> None:
    with server.client(api_key) as http:
        assert _settings(http)["allowedEmbedDomains"] == []
        answer = http.patch(
            ORG,
            json={
                "allowedEmbedDomains": [
                    "https://App.Example.com:443",
                    "https://*.example.org",
                    "http://localhost:3000",
                    "https://app.example.com",
                ]
            },
        )
        assert answer.status_code == 200, answer.text
        stored = ["https://app.example.com", "https://*.example.org", "http://localhost:3000"]
        assert answer.json()["allowedEmbedDomains"] == stored
        assert _settings(http)["allowedEmbedDomains"] == stored
        # Other settings are kept, and kept out of each other's way.
        http.patch(ORG, json={"contactEmail": "dpo@acme.example"})
        assert _settings(http)["allowedEmbedDomains"] == stored
        assert http.patch(ORG, json={"allowedEmbedDomains": []}).json()["allowedEmbedDomains"] == []
        assert _settings(http)["contactEmail"] == "dpo@acme.example"


def test_bad_entries_are_refused_by_name_and_change_nothing(
    server: RunningServer, api_key: str
) -> None:
    with server.client(api_key) as http:
        http.patch(ORG, json={"allowedEmbedDomains": ["https://ok.example"]})
        answer = http.patch(
            ORG,
            json={
                "allowedEmbedDomains": [
                    "https://fine.example",
                    "http://plain.example",
                    "https://app.example.com/embed",
                    "*",
                ]
            },
        )
        assert answer.status_code == 400
        body = answer.json()
        assert body["code"] == "invalid_input"
        fields = {f["field"]: f["message"] for f in body["data"]["fields"]}
        assert set(fields) == {
            "allowedEmbedDomains[1]",
            "allowedEmbedDomains[2]",
            "allowedEmbedDomains[3]",
        }
        assert "http:// is allowed only for local development" in fields["allowedEmbedDomains[1]"]
        assert "without a path" in fields["allowedEmbedDomains[2]"]
        assert "'http://plain.example'" in body["error"]
        for bad in (
            {"allowedEmbedDomains": "https://ok.example"},
            {"allowedEmbedDomains": [5]},
            {"allowedEmbedDomains": None},
            {"allowedEmbedDomains": [f"https://a{i}.example" for i in range(51)]},
        ):
            refused = http.patch(ORG, json=bad)
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["data"]["fields"][0]["field"].startswith("allowedEmbedDomains")
        # A bad list next to a good email: neither is written.
        both = http.patch(
            ORG, json={"contactEmail": "new@acme.example", "allowedEmbedDomains": ["nope"]}
        )
        assert both.status_code == 400
        settings = _settings(http)
        assert settings["allowedEmbedDomains"] == ["https://ok.example"]
        assert settings["contactEmail"] is None


def test_each_organization_has_its_own_list(server: RunningServer, api_key: str) -> None:
    other = server.services.orgs.create("other")
    server.services.orgs.set_embed_domains(other.org_id, ["https://other.example"])
    with server.client(api_key) as http:
        assert _settings(http)["allowedEmbedDomains"] == []


class _Root(HTMLParser):
    """The attributes of <html>, where the room page tells the app about its room."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.attrs = dict(attrs)


def _room(server: RunningServer, api_key: str, clock: FakeClock) -> dict[str, Any]:
    end = (clock.now() + timedelta(hours=2)).isoformat()
    with server.client(api_key) as http:
        made = http.post("/v1/meetings", json={"endDate": end, "fields": ["hostRoomUrl"]})
    assert made.status_code == 201
    meeting: dict[str, Any] = made.json()
    return meeting


def _frame_ancestors(response: httpx.Response) -> str:
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    return directives["frame-ancestors"]


def test_room_pages_may_be_framed_by_exactly_the_allowed_sites(
    server: RunningServer, api_key: str, clock: FakeClock
) -> None:
    meeting = _room(server, api_key, clock)
    room_path = urlsplit(meeting["roomUrl"]).path
    host = urlsplit(meeting["hostRoomUrl"])
    with server.client(api_key) as http:
        # No list: any site.
        page = http.get(room_path)
        assert _frame_ancestors(page) == "*"
        parser = _Root()
        parser.feed(page.text)
        assert parser.attrs["data-embed-domains"] == "any"

        sites = ["https://app.example.com", "https://*.example.org", "http://localhost:3000"]
        http.patch(ORG, json={"allowedEmbedDomains": sites})
        for path in (room_path, f"{host.path}?{host.query}"):
            page = http.get(path)
            assert page.status_code == 200
            assert _frame_ancestors(page) == " ".join(sites)
            parser = _Root()
            parser.feed(page.text)
            assert json.loads(parser.attrs["data-embed-domains"] or "") == sites
        # A room's refusal (a bad key) is framable by the same sites: it shows in the embed.
        refused = http.get(f"{room_path}?roomKey=forged")
        assert refused.status_code == 403
        assert _frame_ancestors(refused) == " ".join(sites)
        # Every other page: no site at all.
        for other in ("/", "/no-such-room", "/docs/embed"):
            assert _frame_ancestors(http.get(other)) == "'none'", other
        api = http.get(ORG)
        assert "frame-ancestors 'none'" in api.headers["content-security-policy"]


def test_the_element_and_the_sdk_load_from_any_origin(server: RunningServer) -> None:
    with server.client() as http:
        for path, text in (
            ("/embed/salon-embed.js", 'export * from "../static/salon-embed.js";'),
            ("/sdk.js", 'export * from "./static/sdk.js";'),
        ):
            response = http.get(path, headers={"Origin": "https://app.example.com"})
            assert response.status_code == 200, path
            assert response.text.strip() == text
            assert response.headers["content-type"] == "text/javascript; charset=utf-8"
            assert response.headers["access-control-allow-origin"] == "*"
            assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        # The modules they import too (the SDK's whole graph); not the stylesheets.
        for name in ("salon-embed.js", "sdk.js", "salon-client.js", "peer-link.js"):
            module = http.get(f"/static/{name}")
            assert module.headers["access-control-allow-origin"] == "*", name
            assert module.headers["cross-origin-resource-policy"] == "cross-origin", name
            assert module.headers.get_list("cross-origin-resource-policy") == ["cross-origin"]
        css = http.get("/static/room.css")
        assert "access-control-allow-origin" not in css.headers
        assert css.headers["cross-origin-resource-policy"] == "same-origin"


def test_the_embedding_guide_is_served(server: RunningServer) -> None:
    with server.client() as http:
        guide = http.get("/docs/embed")
    assert guide.status_code == 200
    assert guide.headers["content-type"].startswith("text/html")
    assert "<h1" in guide.text and "&lt;salon-embed" in guide.text
    assert "<script" not in guide.text


def test_cli_sets_shows_and_clears(tmp_path: Path) -> None:
    data = tmp_path / "data"
    salon(data, "org", "create", "acme")
    shown = salon(data, "org", "embed-domains", "acme").stdout
    assert "any site may embed" in shown
    set_ = salon(
        data,
        "org",
        "embed-domains",
        "acme",
        "--set",
        "https://App.example.com, http://localhost:3000",
    ).stdout
    assert "https://app.example.com" in set_ and "http://localhost:3000" in set_
    assert "http://localhost:3000" in salon(data, "org", "embed-domains", "acme").stdout
    bad = salon(data, "org", "embed-domains", "acme", "--set", "http://evil.example", check=False)
    assert bad.returncode == 1
    assert "allowedEmbedDomains[0]" in bad.stderr and "only for local development" in bad.stderr
    assert "https://app.example.com" in salon(data, "org", "embed-domains", "acme").stdout
    assert "any site" in salon(data, "org", "embed-domains", "acme", "--clear").stdout
    both = salon(data, "org", "embed-domains", "acme", "--set", "x", "--clear", check=False)
    assert both.returncode == 2
