"""The signaling shell on a real HTTPS server, driven by real python-socketio clients.

Every test talks over real TLS (WebSocket, or long-polling where named) to a real uvicorn; time
on the server is a FakeClock the test moves, and timers are driven with ``signaling.tick()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio

from salon.clock import FakeClock
from salon.services.container import build_services
from salon.services.meetings import RoomMode
from salon.signaling.server import MAX_REFUSED_IN_A_ROW
from tests.conftest import make_settings
from tests.signaling.conftest import RoomUnderTest, make_room
from tests.support.server import RunningServer, https_server
from tests.support.signaling_client import SignalingClient, on_server

pytestmark = pytest.mark.anyio

OFFER_SENDRECV = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
)
OFFER_RECVONLY = OFFER_SENDRECV.replace("a=sendrecv", "a=recvonly")


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    code: str = reply["error"]["code"]
    return code


# --- connecting and joining ------------------------------------------------------------------


async def test_a_connection_needs_protocol_version_1(server: RunningServer):
    for auth in ({}, {"v": 2}, {"v": "1"}, {"v": True}):
        client = SignalingClient(server)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(auth=auth)
        assert client.connect_error["message"] == "unsupported_version"
        assert client.connect_error["data"]["code"] == "unsupported_version"
        await client.close()


async def test_roles_come_from_the_room_key(clients, room: RoomUnderTest):
    host, visitor, viewer = await clients(), await clients(), await clients()
    as_host = await host.join(room.room_name, room.host_key, displayName="Hana")
    as_visitor = await visitor.join(room.room_name, displayName="Vic")
    as_viewer = await viewer.join(room.room_name, room.viewer_key, displayName="Vera")
    assert [r["self"]["role"] for r in (as_host, as_visitor, as_viewer)] == [
        "host",
        "visitor",
        "viewer",
    ]
    assert as_viewer["room"] == {"roomName": room.room_name, "mode": "normal", "locked": False}
    assert {p["displayName"] for p in as_viewer["participants"]} == {"Hana", "Vic"}
    assert as_host["iceTransportPolicy"] == "all"
    assert as_host["resumed"] is False
    assert as_host["resumeToken"] != as_visitor["resumeToken"]
    joined = await host.next("participant_joined")
    assert joined["participant"]["displayName"] == "Vic"


async def test_join_errors_name_what_is_wrong(clients, room: RoomUnderTest, services, clock):
    client = await clients()
    assert error_code(await client.join("/no-such-room")) == "not_found"
    assert error_code(await client.join(room.room_name, "forged.key.value")) == "invalid_token"
    other = make_room(services, clock)
    assert error_code(await client.join(room.room_name, other.host_key)) == "invalid_token"
    clock.advance(timedelta(hours=3, minutes=1))  # end date (2 h) + 1 h has passed
    assert error_code(await client.join(room.room_name, room.host_key)) == "room_deactivated"


async def test_ice_servers_come_from_the_stun_setting(tmp_path: Path, clock: FakeClock):
    settings = make_settings(tmp_path, stun_urls="stun:stun.example.net:3478", turn_mode="off")
    services = build_services(settings, clock)
    try:
        room = make_room(services, clock)
        with https_server(services) as running:
            client = SignalingClient(running)
            await client.connect()
            reply = await client.join(room.room_name)
            await client.close()
    finally:
        services.close()
    assert reply["iceServers"] == [{"urls": ["stun:stun.example.net:3478"]}]
    assert reply["iceTransportPolicy"] == "all"


@contextmanager
def _with_turn(
    tmp_path: Path, clock: FakeClock, *, relay_only: bool = False, **turn: str
) -> Iterator[tuple[RunningServer, RoomUnderTest]]:
    """A real server whose participants get TURN servers of an external pool (``turn`` are its
    settings, e.g. ``turn_servers``), and a room on it."""
    secret = tmp_path / "turn.secret"
    secret.write_text("s3cret-" * 6 + "\n")
    settings = make_settings(tmp_path, turn_mode="external", turn_secret_file=str(secret), **turn)
    services = build_services(settings, clock)
    try:
        room = make_room(services, clock, relay_only=relay_only)
        with https_server(services) as running:
            yield running, room
    finally:
        services.close()


async def test_turn_credentials_are_given_at_join_and_renewed_before_they_expire(
    tmp_path: Path, clock: FakeClock
):
    servers = "eu=turn.example.net:3478:5349"
    with _with_turn(tmp_path, clock, turn_servers=servers, turn_credential_ttl="600") as (
        running,
        room,
    ):
        client = SignalingClient(running)
        await client.connect()
        reply = await client.join(room.room_name)
        (turn,) = reply["iceServers"]
        assert "turn:turn.example.net:3478?transport=udp" in turn["urls"]
        assert "turns:turn.example.net:5349?transport=tcp" in turn["urls"]
        expiry, _, opaque = turn["username"].partition(":")
        assert int(expiry) == int(clock.now().timestamp()) + 600
        assert reply["iceTransportPolicy"] == "all"

        await on_server(running, running.signaling.tick())
        await client.settle()
        assert "ice_servers" not in client.names()  # nothing is due yet

        clock.advance(timedelta(seconds=500))  # past the refresh point, before expiry
        await on_server(running, running.signaling.tick())
        fresh = await client.next("ice_servers")
        (renewed,) = fresh["iceServers"]
        new_expiry, _, new_opaque = renewed["username"].partition(":")
        assert int(new_expiry) == int(clock.now().timestamp()) + 600
        assert new_opaque != opaque and renewed["credential"] != turn["credential"]
        assert fresh["iceTransportPolicy"] == "all"
        await client.close()


async def test_the_nodes_region_picks_the_turn_servers_participants_get(
    tmp_path: Path, clock: FakeClock
):
    servers = "eu=turn-eu.example.net,us=turn-us1.example.net,us=turn-us2.example.net"
    with _with_turn(
        tmp_path, clock, turn_servers=servers, turn_credential_ttl="600", turn_region="us"
    ) as (running, room):
        client = SignalingClient(running)
        await client.connect()
        reply = await client.join(room.room_name)
        clock.advance(timedelta(seconds=500))  # past the refresh point
        await on_server(running, running.signaling.tick())
        fresh = await client.next("ice_servers")
        await client.close()
    for servers_given in (reply["iceServers"], fresh["iceServers"]):
        assert [s["urls"][0] for s in servers_given] == [
            "turn:turn-us1.example.net:3478?transport=udp",
            "turn:turn-us2.example.net:3478?transport=udp",
        ]


async def test_a_relay_only_meeting_makes_every_participant_relay(tmp_path: Path, clock: FakeClock):
    with _with_turn(tmp_path, clock, relay_only=True, turn_servers="turn.example.net") as (
        running,
        room,
    ):
        client = SignalingClient(running)
        await client.connect()
        reply = await client.join(room.room_name)
        await client.close()
    assert reply["iceTransportPolicy"] == "relay"
    assert any(url.startswith("turn:") for url in reply["iceServers"][0]["urls"])


async def test_a_fifth_participant_is_refused_in_a_normal_room(clients, room: RoomUnderTest):
    for n in range(4):
        assert (await (await clients()).join(room.room_name, displayName=f"P{n}"))["ok"]
    fifth = await clients()
    assert error_code(await fifth.join(room.room_name, displayName="P5")) == "room_full"


async def test_joining_twice_on_one_connection_is_refused(clients, room: RoomUnderTest):
    client = await clients()
    assert (await client.join(room.room_name))["ok"]
    assert error_code(await client.join(room.room_name)) == "invalid_message"


# --- bad input changes nothing ---------------------------------------------------------------


async def test_bad_messages_are_refused_and_change_nothing(clients, room: RoomUnderTest):
    host, other = await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key, displayName="Hana"))["ok"]
    bad_join = await other.call(
        "join", {"roomName": room.room_name, "displayName": "", "audio": "yes", "video": False}
    )
    assert error_code(bad_join) == "invalid_message"
    assert "displayName" in bad_join["error"]["message"]
    assert "audio" in bad_join["error"]["message"]
    extra = await host.call("set_lock", {"locked": True, "everyone": True})
    assert error_code(extra) == "invalid_message"
    assert "everyone" in extra["error"]["message"]
    assert error_code(await host.call("set_lock", {"locked": "true"})) == "invalid_message"
    huge = await host.call("chat", {"messageId": "m1", "text": "x" * 70_000})
    assert error_code(huge) == "invalid_message"
    assert "payload" in huge["error"]["message"]
    assert error_code(await host.call("set_lock", [1, 2])) == "invalid_message"
    # Nothing changed: no one else came in, the room is still unlocked.
    assert (await other.join(room.room_name, displayName="Otto"))["ok"]
    assert "room_updated" not in host.names()
    joined = await host.next("participant_joined")
    assert joined["participant"]["displayName"] == "Otto"


async def test_unknown_events_and_missing_acks_get_an_error_event(clients):
    client = await clients()
    reply = await client.call("make_coffee", {})
    assert error_code(reply) == "unknown_event"
    assert (await client.next("error")) == {
        "code": "unknown_event",
        "message": reply["error"]["message"],
        "event": "make_coffee",
    }
    await client.sio.emit("leave", {})  # no acknowledgement callback
    error = await client.next("error")
    assert error["code"] == "invalid_message"
    assert error["event"] == "leave"


async def test_events_before_joining_are_not_in_room(clients):
    client = await clients()
    for event, payload in [
        ("leave", {}),
        ("set_lock", {"locked": True}),
        ("signal", {"to": "abc", "candidate": {"candidate": ""}}),
        ("cancel_knock", {}),
    ]:
        assert error_code(await client.call(event, payload)) == "not_in_room"


async def test_a_flood_is_rate_limited_then_disconnected(clients, clock: FakeClock):
    client = await clients()
    answers = [await client.call("leave", {}) for _ in range(100)]
    assert {a["error"]["code"] for a in answers} == {"not_in_room"}
    assert error_code(await client.call("leave", {})) == "rate_limited"
    clock.advance(timedelta(seconds=1))  # 50 tokens back
    refilled = [await client.call("leave", {}) for _ in range(50)]
    assert {a["error"]["code"] for a in refilled} == {"not_in_room"}
    # Now keep flooding without waiting for answers: refused ones pile up, then the door shuts.
    for _ in range(MAX_REFUSED_IN_A_ROW + 10):
        if not client.sio.connected:
            break
        await client.sio.emit("leave", {})
    await client.disconnected.wait()
    assert not client.sio.connected


# --- knocking ----------------------------------------------------------------------------


async def test_knock_admit_gives_a_working_granted_visitor_key(services, clock, clients):
    room = make_room(services, clock, locked=True)
    host, guest = await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key, displayName="Hana"))["ok"]
    assert error_code(await guest.join(room.room_name, displayName="Gus")) == "room_locked"
    knock = await guest.call("knock", {"roomName": room.room_name, "displayName": "Gus"})
    assert knock["ok"]
    card = await host.next("knock_received")
    assert card == {"knockId": knock["knockId"], "displayName": "Gus"}
    held = await host.call("hold", {"knockId": knock["knockId"], "message": "One minute"})
    assert held["ok"]
    assert (await guest.next("knock_held")) == {"message": "One minute"}
    assert (await host.call("admit", {"knockId": knock["knockId"]}))["ok"]
    key = (await guest.next("knock_accepted"))["roomKey"]
    grant = services.room_keys.verify(key, room.room_name)
    assert grant.role.value == "granted_visitor"
    joined = await guest.join(room.room_name, key, displayName="Gus")
    assert joined["ok"], joined
    assert joined["self"]["role"] == "granted_visitor"


async def test_knock_reject_tells_the_knocker_and_closes(services, clock, clients):
    room = make_room(services, clock, locked=True)
    host, guest = await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key))["ok"]
    knock = await guest.call("knock", {"roomName": room.room_name, "displayName": "Gus"})
    assert (await host.call("reject", {"knockId": knock["knockId"], "message": "Sorry"}))["ok"]
    assert (await guest.next("knock_rejected")) == {"message": "Sorry"}
    await guest.disconnected.wait()
    assert (await host.next("knock_cancelled")) == {"knockId": knock["knockId"]}


async def test_a_visitor_cannot_answer_knocks(services, clock, clients):
    room = make_room(services, clock, locked=True)
    host, visitor, guest = await clients(), await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key))["ok"]
    assert (await host.call("set_lock", {"locked": False}))["ok"]
    assert (await visitor.join(room.room_name))["ok"]
    assert (await host.call("set_lock", {"locked": True}))["ok"]
    knock = await guest.call("knock", {"roomName": room.room_name, "displayName": "Gus"})
    assert error_code(await visitor.call("admit", {"knockId": knock["knockId"]})) == "forbidden"
    assert "knock_received" not in visitor.names()


# --- host controls ---------------------------------------------------------------------------


async def test_host_locks_removes_and_ends_the_meeting(clients, room: RoomUnderTest):
    host, bob, cat = await clients(), await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key, displayName="Hana"))["ok"]
    bob_id = (await bob.join(room.room_name, displayName="Bob"))["self"]["id"]
    assert (await cat.join(room.room_name, displayName="Cat"))["ok"]

    assert (await host.call("set_lock", {"locked": True}))["ok"]
    assert (await bob.next("room_updated")) == {"locked": True}
    late = await clients()
    assert error_code(await late.join(room.room_name, displayName="Late")) == "room_locked"

    assert (await host.call("request_mute", {"participantId": bob_id, "kind": "audio"}))["ok"]
    assert (await bob.next("mute_requested")) == {"kind": "audio"}

    assert (await host.call("remove", {"participantId": bob_id}))["ok"]
    assert (await bob.next("removed")) == {}
    await bob.disconnected.wait()
    left = await cat.next("participant_left")
    assert left == {"participantId": bob_id, "reason": "removed"}

    assert (await host.call("end_meeting", {}))["ok"]
    assert (await cat.next("meeting_ended")) == {}
    await cat.disconnected.wait()
    await host.disconnected.wait()
    again = await clients()
    assert error_code(await again.join(room.room_name, room.host_key)) == "meeting_ended"


async def test_a_visitor_cannot_lock_remove_or_end(clients, room: RoomUnderTest):
    host, visitor = await clients(), await clients()
    host_id = (await host.join(room.room_name, room.host_key))["self"]["id"]
    assert (await visitor.join(room.room_name))["ok"]
    assert error_code(await visitor.call("set_lock", {"locked": True})) == "forbidden"
    assert error_code(await visitor.call("remove", {"participantId": host_id})) == "forbidden"
    assert error_code(await visitor.call("end_meeting", {})) == "forbidden"
    mute = {"participantId": host_id, "kind": "video"}
    assert error_code(await visitor.call("request_mute", mute)) == "forbidden"
    await host.settle()
    assert not {"room_updated", "removed", "meeting_ended", "mute_requested"} & set(host.names())
    assert host.sio.connected


# --- media and signals -----------------------------------------------------------------------


async def test_signals_are_relayed_between_two_participants(clients, room: RoomUnderTest):
    a, b = await clients(), await clients()
    a_id = (await a.join(room.room_name, displayName="Ann", audio=True, video=True))["self"]["id"]
    b_id = (await b.join(room.room_name, displayName="Ben"))["self"]["id"]
    offer = {"type": "offer", "sdp": OFFER_SENDRECV}
    assert (await a.call("signal", {"to": b_id, "description": offer}))["ok"]
    assert (await b.next("signal")) == {"from": a_id, "description": offer}
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}
    assert (await b.call("signal", {"to": a_id, "candidate": candidate}))["ok"]
    assert (await a.next("signal")) == {"from": b_id, "candidate": candidate}
    assert error_code(await a.call("signal", {"to": "nobody", "candidate": candidate})) == (
        "unknown_participant"
    )
    assert (await b.call("media_state", {"audio": True, "video": False, "screenshare": True}))["ok"]
    updated = (await a.next("participant_updated"))["participant"]
    assert (updated["id"], updated["audio"], updated["screenshare"]) == (b_id, True, True)


async def test_a_viewer_cannot_publish_even_with_a_hand_crafted_client(
    clients, room: RoomUnderTest
):
    host, viewer = await clients(), await clients()
    host_id = (await host.join(room.room_name, room.host_key))["self"]["id"]
    assert error_code(await viewer.join(room.room_name, room.viewer_key, audio=True)) == (
        "forbidden"
    )
    viewer_id = (await viewer.join(room.room_name, room.viewer_key))["self"]["id"]
    sendrecv = {"to": host_id, "description": {"type": "offer", "sdp": OFFER_SENDRECV}}
    assert error_code(await viewer.call("signal", sendrecv)) == "forbidden"
    sendonly = {
        "to": host_id,
        "description": {"type": "answer", "sdp": OFFER_SENDRECV.replace("sendrecv", "sendonly")},
    }
    assert error_code(await viewer.call("signal", sendonly)) == "forbidden"
    media = {"audio": False, "video": True, "screenshare": False}
    assert error_code(await viewer.call("media_state", media)) == "forbidden"
    await host.settle()
    assert "signal" not in host.names()
    assert "participant_updated" not in host.names()
    # Receiving is what viewers are for: a receive-only offer goes through.
    recvonly = {"to": host_id, "description": {"type": "offer", "sdp": OFFER_RECVONLY}}
    assert (await viewer.call("signal", recvonly))["ok"]
    assert (await host.next("signal"))["from"] == viewer_id


async def test_a_long_polling_client_joins_and_relays_signals(clients, room: RoomUnderTest):
    polling = await clients(transports=("polling",))
    assert polling.sio.transport() == "polling"
    ws = await clients()
    p_id = (await polling.join(room.room_name, displayName="Polly"))["self"]["id"]
    w_id = (await ws.join(room.room_name, displayName="Webb"))["self"]["id"]
    assert (await polling.next("participant_joined"))["participant"]["id"] == w_id
    offer = {"type": "offer", "sdp": OFFER_SENDRECV}
    assert (await ws.call("signal", {"to": p_id, "description": offer}))["ok"]
    assert (await polling.next("signal")) == {"from": w_id, "description": offer}
    answer = {"type": "answer", "sdp": OFFER_SENDRECV}
    assert (await polling.call("signal", {"to": w_id, "description": answer}))["ok"]
    assert (await ws.next("signal")) == {"from": p_id, "description": answer}


async def test_server_chat_relay_reaches_the_others(clients, room: RoomUnderTest):
    a, b = await clients(), await clients()
    a_id = (await a.join(room.room_name, room.host_key, displayName="Ann"))["self"]["id"]
    assert (await b.join(room.room_name, displayName="Ben"))["ok"]
    assert (await a.call("chat", {"messageId": "m-1", "text": "hello"}))["ok"]
    chat = await b.next("chat")
    assert (chat["from"], chat["text"], chat["displayName"]) == (a_id, "hello", "Ann")
    assert (await a.call("chat_delete", {"messageId": "m-1"}))["ok"]
    assert (await b.next("chat_deleted")) == {"messageId": "m-1"}
    assert error_code(await b.call("chat_delete", {"messageId": "m-1"})) == "forbidden"


# --- leaving and coming back -----------------------------------------------------------------


async def test_resume_after_a_dropped_connection_keeps_the_participant(
    server: RunningServer, clients, room: RoomUnderTest, clock: FakeClock
):
    a, b = await clients(), await clients()
    assert (await a.join(room.room_name, displayName="Ann"))["ok"]
    first = await b.join(room.room_name, displayName="Ben", video=True)
    b_id = first["self"]["id"]
    await b.drop()
    reconnecting = (await a.next("participant_updated"))["participant"]
    assert (reconnecting["id"], reconnecting["connection"]) == (b_id, "reconnecting")

    clock.advance(timedelta(seconds=20))
    await on_server(server, server.signaling.tick())
    again = await clients()
    resumed = await again.join(room.room_name, displayName="Ben", resumeToken=first["resumeToken"])
    assert resumed["ok"] and resumed["resumed"] is True
    assert resumed["self"]["id"] == b_id
    assert resumed["self"]["video"] is True
    assert [p["displayName"] for p in resumed["participants"]] == ["Ann"]
    assert resumed["resumeToken"] != first["resumeToken"]
    stable = (await a.next("participant_updated"))["participant"]
    assert (stable["id"], stable["connection"]) == (b_id, "stable")
    assert "participant_left" not in a.names()
    # The resumed connection speaks for the participant; the old token is spent.
    a_id = resumed["participants"][0]["id"]
    assert (await again.call("signal", {"to": a_id, "candidate": {"candidate": ""}}))["ok"]
    assert (await a.next("signal"))["from"] == b_id
    third = await clients()
    stale = await third.join(room.room_name, displayName="Ben", resumeToken=first["resumeToken"])
    assert stale["resumed"] is False
    assert stale["self"]["id"] != b_id


async def test_resume_replaces_a_connection_the_server_still_thinks_is_open(
    clients, room: RoomUnderTest
):
    a, b = await clients(), await clients()
    assert (await a.join(room.room_name, displayName="Ann"))["ok"]
    first = await b.join(room.room_name, displayName="Ben")
    again = await clients()
    resumed = await again.join(room.room_name, displayName="Ben", resumeToken=first["resumeToken"])
    assert resumed["resumed"] is True
    assert resumed["self"]["id"] == first["self"]["id"]
    await b.disconnected.wait()
    await a.settle()
    assert "participant_left" not in a.names()


async def test_after_the_grace_a_dropped_participant_has_left(
    server: RunningServer, clients, room: RoomUnderTest, clock: FakeClock
):
    a, b = await clients(), await clients()
    assert (await a.join(room.room_name, displayName="Ann"))["ok"]
    first = await b.join(room.room_name, displayName="Ben")
    await b.drop()
    await a.next("participant_updated")
    clock.advance(timedelta(seconds=31))
    await on_server(server, server.signaling.tick())
    left = await a.next("participant_left")
    assert left == {"participantId": first["self"]["id"], "reason": "disconnected"}
    late = await clients()
    fresh = await late.join(room.room_name, displayName="Ben", resumeToken=first["resumeToken"])
    assert fresh["ok"] and fresh["resumed"] is False
    assert fresh["self"]["id"] != first["self"]["id"]


async def test_leave_tells_the_others_and_frees_the_connection(clients, room: RoomUnderTest):
    a, b = await clients(), await clients()
    assert (await a.join(room.room_name))["ok"]
    b_id = (await b.join(room.room_name))["self"]["id"]
    assert (await b.call("leave", {}))["ok"]
    assert (await a.next("participant_left")) == {"participantId": b_id, "reason": "left"}
    rejoined = await b.join(room.room_name)
    assert rejoined["ok"] and rejoined["self"]["id"] != b_id


async def test_an_idle_room_is_dropped_from_memory(
    server: RunningServer, clients, room: RoomUnderTest, clock: FakeClock
):
    a, b = await clients(), await clients()
    assert (await a.join(room.room_name))["ok"]
    assert (await b.join(room.room_name))["ok"]
    assert server.services.rooms.get(room.room_name) is not None
    assert (await a.call("leave", {}))["ok"]
    assert (await b.call("leave", {}))["ok"]
    # The session survives a dip for a minute, then ends and the room goes.
    assert server.services.rooms.get(room.room_name) is not None
    clock.advance(timedelta(seconds=61))
    await on_server(server, server.signaling.tick())
    assert server.services.rooms.get(room.room_name) is None


async def test_a_group_room_holds_more_than_four(services, clock, clients):
    room = make_room(services, clock, mode=RoomMode.GROUP)
    for n in range(6):
        reply = await (await clients()).join(room.room_name, displayName=f"P{n}")
        assert reply["ok"], reply
    assert reply["room"]["mode"] == "group"


async def test_each_sender_is_heard_in_order_while_everyone_sends_at_once(services, clock, clients):
    # Sends are started under the room's lock and awaited after it: a room's deliveries to
    # one connection must still come in the order the room decided them.
    room = make_room(services, clock, mode=RoomMode.GROUP)
    people = [await clients() for _ in range(4)]
    ids = [
        (await person.join(room.room_name, displayName=f"P{n}"))["self"]["id"]
        for n, person in enumerate(people)
    ]
    count = 30

    async def say_all(person: SignalingClient, n: int) -> list[Any]:
        calls = [
            person.call("chat", {"messageId": f"{n}-{i}", "text": f"{i}"}) for i in range(count)
        ]
        return await asyncio.gather(*calls)

    replies = await asyncio.gather(*(say_all(p, n) for n, p in enumerate(people)))
    assert all(reply["ok"] for batch in replies for reply in batch)
    for n, person in enumerate(people):
        heard: dict[str, list[int]] = {}
        for _ in range(count * (len(people) - 1)):
            chat = await person.next("chat")
            heard.setdefault(chat["from"], []).append(int(chat["text"]))
        others = {pid for m, pid in enumerate(ids) if m != n}
        assert set(heard) == others
        assert all(texts == list(range(count)) for texts in heard.values()), heard


async def test_a_knocker_joins_directly_once_the_room_is_unlocked(services, clock, clients):
    room = make_room(services, clock, locked=True)
    host, guest = await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key))["ok"]
    knock = await guest.call("knock", {"roomName": room.room_name, "displayName": "Gus"})
    assert error_code(
        await guest.call("knock", {"roomName": room.room_name, "displayName": "G"})
    ) == ("invalid_message")
    assert (await host.call("set_lock", {"locked": False}))["ok"]
    joined = await guest.join(room.room_name, displayName="Gus")
    assert joined["ok"] and joined["self"]["id"] == knock["knockId"]
    assert (await host.next("knock_cancelled")) == {"knockId": knock["knockId"]}


async def test_a_knocker_who_goes_away_withdraws_the_knock(services, clock, clients):
    room = make_room(services, clock, locked=True)
    host, guest = await clients(), await clients()
    assert (await host.join(room.room_name, room.host_key))["ok"]
    knock = await guest.call("knock", {"roomName": room.room_name, "displayName": "Gus"})
    await host.next("knock_received")
    await guest.drop()
    assert (await host.next("knock_cancelled")) == {"knockId": knock["knockId"]}


def test_browsers_connect_from_this_origin_and_from_sdk_pages(server: RunningServer):
    # Another site's page (the JS SDK) connects, then may join only where its origin is
    # allowed: tests/signaling/test_embed_origins.py.
    handshake = "/socket.io/?EIO=4&transport=polling"
    with server.client() as http:
        foreign = http.get(handshake, headers={"Origin": "https://app.customer.example"})
        same = http.get(handshake, headers={"Origin": server.base_url})
        no_origin = http.get(handshake)
    assert foreign.status_code == 200
    assert foreign.headers["access-control-allow-origin"] == "https://app.customer.example"
    assert same.status_code == 200
    assert same.headers["access-control-allow-origin"] == server.base_url
    assert no_origin.status_code == 200
