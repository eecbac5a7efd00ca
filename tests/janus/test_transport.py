"""``JanusTransport`` against a real Janus: sessions, keepalive, transactions, reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from salon.config import Secret
from salon.errors import SfuError, SfuRefusal, SfuRefused, SfuUnavailable
from salon.janus import translate
from salon.janus.process import JanusProcess
from salon.janus.translate import JanusMessage
from salon.janus.transport import JanusTransport, probe
from salon.media.sfu import PublisherJoined, RoomSpec, SfuRoom
from tests.janus.conftest import SESSION_TIMEOUT
from tests.janus.support import eventually
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio


async def open_transport(janus: JanusProcess, **options: object) -> JanusTransport:
    return await JanusTransport.open(
        janus.node.url,
        janus.config.api_secret,
        request_timeout=5.0,
        **options,  # type: ignore[arg-type]
    )


async def test_a_session_is_opened_and_closed(janus: JanusProcess) -> None:
    transport = await open_transport(janus)
    assert transport.session_id > 0
    handle_id = await transport.attach(lambda message: None)
    assert handle_id > 0
    await transport.detach(handle_id)
    await transport.close()
    assert transport.lost
    with pytest.raises(SfuUnavailable):
        await transport.request(translate.keepalive())


async def test_probe_says_who_the_node_is(janus: JanusProcess) -> None:
    info = await probe(janus.node.url, janus.config.api_secret)
    assert info.version == "1.1.2"
    assert info.session_timeout == SESSION_TIMEOUT


async def test_a_wrong_api_secret_is_refused(janus: JanusProcess) -> None:
    with pytest.raises(SfuUnavailable) as raised:
        await JanusTransport.open(janus.node.url, Secret("wrong-secret-0123456789"))
    assert "403" in raised.value.detail
    with pytest.raises(SfuUnavailable) as probed:
        await probe(janus.node.url, Secret("wrong-secret-0123456789"))
    assert "403" in probed.value.detail


async def test_keepalive_keeps_the_session_past_janus_s_timeout(janus: JanusProcess) -> None:
    lost: list[str] = []
    kept = await open_transport(janus, keepalive_interval=0.5, on_lost=lambda: lost.append("kept"))
    idle = await open_transport(janus, keepalive_interval=3600, on_lost=lambda: lost.append("idle"))
    # Janus times the idle session out (it checks every couple of seconds); the other one lives.
    await eventually(lambda: idle.lost, SESSION_TIMEOUT * 5, "Janus to time the idle session out")
    assert lost == ["idle"]
    with pytest.raises(SfuUnavailable):
        await idle.request(translate.keepalive())
    handle_id = await kept.attach(lambda message: None)
    assert handle_id > 0
    assert not kept.lost
    await kept.close()
    await idle.close()


async def test_the_api_secret_goes_with_every_request(janus: JanusProcess) -> None:
    sent: list[JanusMessage] = []
    transport = await open_transport(
        janus,
        keepalive_interval=0.2,
        tap=lambda direction, text: (
            sent.append(translate.parse_message(text)) if direction == "send" else None
        ),
    )
    handle_id = await transport.attach(lambda message: None)
    await eventually(lambda: any(m.janus == "keepalive" for m in sent), 5, "a keepalive")
    await transport.detach(handle_id)
    await transport.close()
    assert {m.janus for m in sent} >= {"create", "attach", "keepalive", "detach", "destroy"}
    assert all(m.apisecret == janus.config.api_secret.reveal() for m in sent)
    assert len({m.transaction for m in sent}) == len(sent)


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A WebSocket server that accepts Janus's subprotocol and never answers."""

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with websockets.serve(
        handler, "127.0.0.1", 0, subprotocols=[websockets.Subprotocol("janus-protocol")]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def test_no_reply_in_time_is_unavailable(silent_server: str) -> None:
    with pytest.raises(SfuUnavailable) as raised:
        await JanusTransport.open(silent_server, Secret("x" * 20), request_timeout=0.3)
    assert "no reply to create" in raised.value.detail


async def test_nobody_listening_is_unavailable() -> None:
    with pytest.raises(SfuUnavailable):
        await JanusTransport.open(f"ws://127.0.0.1:{free_port()}", Secret("x" * 20))


async def test_events_go_to_the_handle_they_are_for(janus: JanusProcess) -> None:
    transport = await open_transport(janus, keepalive_interval=1.0)
    first: list[JanusMessage] = []
    second: list[JanusMessage] = []
    one = await transport.attach(first.append)
    two = await transport.attach(second.append)
    admin_key = janus.config.admin_key.reveal()
    spec = RoomSpec("events", 3)
    await transport.request(
        translate.create_room(one, spec, admin_key=admin_key, secret="s", pin="p", allowed=["a"])
    )
    await transport.request(translate.join_monitor(one, "events", "first", pin="p", token="a"))
    await transport.request(translate.join_monitor(two, "events", "second", pin="p", token="a"))
    # The first participant hears the second join; the reply to each join went to its request.
    await eventually(lambda: bool(first), 5, "the joining event")
    joined = translate.room_events(SfuRoom("local", "events"), first[0], monitor_id="first")
    assert joined == (PublisherJoined(SfuRoom("local", "events"), "second"),)
    assert all(m.sender == one for m in first)
    assert all(m.sender == two for m in second)
    await transport.close()


async def test_errors_come_back_typed(janus: JanusProcess) -> None:
    transport = await open_transport(janus)
    handle_id = await transport.attach(lambda message: None)
    spec = RoomSpec("typed", 3)
    # Without the admin key (a client of Janus that is not Salon) no room can be made.
    without_key = translate.create_room(
        handle_id, spec, admin_key="wrong-admin-key", secret="s", pin="p", allowed=[]
    )
    with pytest.raises(SfuRefused) as raised:
        await transport.request(without_key)
    assert raised.value.reason is SfuRefusal.UNAUTHORIZED
    with pytest.raises(SfuError) as failed:
        await transport.request(translate.detach(handle_id + 1))
    assert "459" in failed.value.detail  # no such handle
    await transport.close()


async def test_a_dropped_connection_reclaims_the_session(janus: JanusProcess) -> None:
    lost: list[bool] = []
    transport = await open_transport(
        janus, keepalive_interval=0.5, reclaim_timeout=5.0, on_lost=lambda: lost.append(True)
    )
    session = transport.session_id
    events: list[JanusMessage] = []
    handle_id = await transport.attach(events.append)
    ws = transport._ws
    assert ws is not None
    await ws.close()  # as if the network dropped it
    await eventually(
        lambda: transport._ws is not ws and transport._connected.is_set(), 5, "a reconnect"
    )
    # Same session, same handle: the handle still answers on the new connection.
    reply = await transport.request(
        translate.list_rooms(handle_id, admin_key=janus.config.admin_key.reveal())
    )
    assert translate.room_load_of(reply).rooms == 0
    assert transport.session_id == session
    assert not lost
    await transport.close()


async def test_without_reclaim_a_dropped_connection_loses_the_session(
    janus: JanusProcess,
) -> None:
    lost = asyncio.Event()
    transport = await open_transport(janus, keepalive_interval=0.5, on_lost=lost.set)
    ws = transport._ws
    assert ws is not None
    await ws.close()
    await asyncio.wait_for(lost.wait(), 5)
    assert transport.lost
    with pytest.raises(SfuUnavailable):
        await transport.attach(lambda message: None)
    await transport.close()
