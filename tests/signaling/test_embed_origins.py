"""Pages of other sites (customers' pages using the JS SDK) may connect to signaling, but may
join or knock only in rooms whose organization allows their origin (allowedEmbedDomains)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from salon.clock import FakeClock
from salon.services.container import Services
from tests.signaling.conftest import make_room
from tests.support.server import RunningServer
from tests.support.signaling_client import SignalingClient

pytestmark = pytest.mark.anyio

SITE = "https://app.customer.example"


@pytest.fixture
async def from_site(
    server: RunningServer,
) -> AsyncIterator[Callable[[str], Awaitable[SignalingClient]]]:
    """Connects clients whose page is on ``origin``, as a browser would say."""
    made: list[SignalingClient] = []

    async def connect(origin: str) -> SignalingClient:
        client = SignalingClient(server)
        made.append(client)
        await client.sio.connect(
            server.base_url,
            auth={"v": 1},
            transports=["websocket"],
            headers={"Origin": origin},
            wait_timeout=10,
        )
        return client

    yield connect
    for client in made:
        await client.close()


async def test_a_listed_site_may_join_and_knock(
    services: Services, clock: FakeClock, from_site: Callable[[str], Awaitable[SignalingClient]]
) -> None:
    room = make_room(services, clock)
    services.orgs.set_embed_domains(room.org_id, ["https://*.customer.example"])
    page = await from_site(SITE)
    assert (await page.join(room.room_name))["ok"]

    locked = make_room(services, clock, locked=True)
    knocker = await from_site(SITE)
    assert (await knocker.call("knock", {"roomName": locked.room_name, "displayName": "K"}))["ok"]


async def test_another_site_may_neither_join_nor_knock(
    services: Services, clock: FakeClock, from_site: Callable[[str], Awaitable[SignalingClient]]
) -> None:
    room = make_room(services, clock, locked=True)
    services.orgs.set_embed_domains(room.org_id, [SITE])
    page = await from_site("https://evil.example")
    joined = await page.join(room.room_name, room.host_key)
    assert joined == {
        "ok": False,
        "error": {
            "code": "forbidden",
            "message": "Pages of https://evil.example may not use this room: its organization "
            "allows other sites (allowedEmbedDomains).",
        },
    }
    knocked = await page.call("knock", {"roomName": room.room_name, "displayName": "K"})
    assert knocked["error"]["code"] == "forbidden"
    # Refused before anything happened: the connection may still try a room that allows it.
    other = make_room(services, clock, org="open")
    assert (await page.join(other.room_name))["ok"]


async def test_with_no_list_any_site_may_join(
    services: Services, clock: FakeClock, from_site: Callable[[str], Awaitable[SignalingClient]]
) -> None:
    room = make_room(services, clock)
    page = await from_site("https://anyone.example")
    assert (await page.join(room.room_name))["ok"]


async def test_salon_own_pages_are_never_checked(
    services: Services,
    clock: FakeClock,
    server: RunningServer,
    from_site: Callable[[str], Awaitable[SignalingClient]],
) -> None:
    room = make_room(services, clock)
    services.orgs.set_embed_domains(room.org_id, [SITE])
    page = await from_site(server.base_url)
    assert (await page.join(room.room_name))["ok"]


def test_a_malformed_origin_cannot_connect(server: RunningServer) -> None:
    handshake = "/socket.io/?EIO=4&transport=polling"
    with server.client() as http:
        for origin in ("null", "evil.example", "file://", "https://evil.example/path"):
            assert http.get(handshake, headers={"Origin": origin}).status_code == 400, origin
