"""Fixtures for signaling tests: rooms made through the real services, clients on a real server."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from salon.clock import FakeClock
from salon.services.container import Services
from salon.services.meetings import MeetingField, NewMeeting, RoomMode
from tests.support.server import RunningServer
from tests.support.signaling_client import SignalingClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class RoomUnderTest:
    org_id: str
    meeting_id: str
    room_name: str
    host_key: str
    viewer_key: str


def _key(url: str | None) -> str:
    assert url is not None
    return parse_qs(urlsplit(url).query)["roomKey"][0]


def make_room(
    services: Services,
    clock: FakeClock,
    *,
    org: str = "acme",
    mode: RoomMode = RoomMode.NORMAL,
    locked: bool = False,
    relay_only: bool = False,
) -> RoomUnderTest:
    try:
        org_id = services.orgs.by_name(org).org_id
    except Exception:
        org_id = services.orgs.create(org).org_id
    view = services.meetings.create(
        org_id,
        NewMeeting(
            end_date=clock.now() + timedelta(hours=2),
            room_mode=mode,
            is_locked=locked,
            fields=frozenset(MeetingField),
            relay_only=relay_only,
        ),
    )
    return RoomUnderTest(
        org_id,
        view.meeting_id,
        view.room_name,
        _key(view.host_room_url),
        _key(view.viewer_room_url),
    )


@pytest.fixture
def room(services: Services, clock: FakeClock) -> RoomUnderTest:
    return make_room(services, clock)


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[Callable[..., object]]:
    """Makes connected clients; closes every one at the end of the test."""
    made: list[SignalingClient] = []

    async def connect(transports: tuple[str, ...] = ("websocket",)) -> SignalingClient:
        client = SignalingClient(server, transports)
        made.append(client)
        await client.connect()
        return client

    yield connect
    for client in made:
        await client.close()
    # A leaked connection is reported when it is collected: collect now, so that the test that
    # leaked it is the one that fails.
    gc.collect()
