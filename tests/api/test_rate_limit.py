"""Rate limits over HTTP: points per organization per minute, 429 with Whereby's headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from salon.clock import FakeClock
from salon.services.container import build_services
from tests.conftest import make_settings
from tests.support.server import RunningServer, https_server


@pytest.fixture
def limited(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[RunningServer, str, str]]:
    services = build_services(make_settings(tmp_path, rate_limit_points="7"), clock)
    services.orgs.create("acme")
    services.orgs.create("beta")
    key_a = services.orgs.create_api_key("acme").plaintext
    key_b = services.orgs.create_api_key("beta").plaintext
    with https_server(services) as server:
        yield server, key_a, key_b
    services.close()


def test_write_costs_three_read_one_delete_two(limited, clock: FakeClock):
    server, key, _ = limited
    end = (clock.now() + timedelta(hours=1)).isoformat()
    with server.client(key) as http:
        created = http.post("/v1/meetings", json={"endDate": end})
        assert created.headers["x-ratelimit-remaining"] == "4"
        assert http.get("/v1/meetings").headers["x-ratelimit-remaining"] == "3"
        deleted = http.delete(f"/v1/meetings/{created.json()['meetingId']}")
        assert deleted.headers["x-ratelimit-remaining"] == "1"
        refused = http.post("/v1/meetings", json={"endDate": end})
    assert refused.status_code == 429
    assert refused.json()["data"]["msLeft"] == 60_000
    assert refused.json()["error"].startswith("Rate limit active for throttle key: organization:")
    assert refused.headers["retry-after"] == "60"
    assert refused.headers["x-ratelimit-limit"] == "7"
    assert refused.headers["x-ratelimit-remaining"] == "1"
    assert refused.headers["x-ratelimit-reset"] == "Tue, 01 Jan 2030 12:01:00 GMT"


def test_refused_writes_change_nothing(limited, clock: FakeClock):
    server, key, _ = limited
    end = (clock.now() + timedelta(hours=1)).isoformat()
    with server.client(key) as http:
        for _ in range(2):
            http.post("/v1/meetings", json={"endDate": end})
        assert http.post("/v1/meetings", json={"endDate": end}).status_code == 429
        clock.advance(timedelta(minutes=1))
        assert len(http.get("/v1/meetings").json()["results"]) == 2


def test_limits_are_per_organization_and_reset_each_minute(limited, clock: FakeClock):
    server, key_a, key_b = limited
    with server.client(key_a) as a, server.client(key_b) as b:
        for _ in range(7):
            assert a.get("/v1/meetings").status_code == 200
        assert a.get("/v1/meetings").status_code == 429
        assert b.get("/v1/meetings").status_code == 200
        clock.advance(timedelta(seconds=30))
        retry = a.get("/v1/meetings")
        assert retry.status_code == 429
        assert retry.headers["retry-after"] == "30"
        clock.advance(timedelta(seconds=30))
        assert a.get("/v1/meetings").status_code == 200
