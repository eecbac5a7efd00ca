"""Shared fixtures: settings in a temp data dir, a fake clock, both database engines,
and a real HTTPS server running the app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from salon.clock import FakeClock
from salon.config import Settings, load_settings
from salon.services.container import Services, build_services
from tests.support import postgres
from tests.support.server import RunningServer, https_server


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    if not postgres.available():
        if os.environ.get("SALON_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (SALON_REQUIRE_POSTGRES=1) but not installed")
        pytest.skip("PostgreSQL is not installed; `make test` installs it")
    with postgres.cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'salon.db'}"
    admin: str = request.getfixturevalue("postgres_admin_url")
    return postgres.fresh_database(admin)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(tmp_path: Path, database_url: str | None = None, **env: str) -> Settings:
    values = {"SALON_DATA_DIR": str(tmp_path / "data"), "SALON_PUBLIC_URL": "https://localhost"}
    if database_url:
        values["SALON_DATABASE_URL"] = database_url
    values.update({f"SALON_{k.upper()}": v for k, v in env.items()})
    return load_settings(env=values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    built = build_services(settings, clock)
    yield built
    built.close()


@pytest.fixture
def server(services: Services) -> Iterator[RunningServer]:
    with https_server(services) as running:
        yield running


@pytest.fixture
def api_key(services: Services) -> str:
    services.orgs.create("acme")
    return services.orgs.create_api_key("acme").plaintext
