"""TURN REST credentials and the ICE grants built from them (pure; a fake clock)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from salon.clock import FakeClock
from salon.config import Secret, TurnMode, TurnServer, TurnSettings
from salon.errors import ConfigError
from salon.services.sessions import RoomFacts
from salon.turn.credentials import (
    ice_servers,
    issue_credential,
    load_turn_secret,
    verify_credential,
)
from salon.turn.ice import TurnIceProvider

SECRET = Secret("a" * 64)
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def facts(relay_only: bool = False) -> RoomFacts:
    return RoomFacts("m-1", "o-1", "/room", False, NOW + timedelta(hours=2), relay_only)


def test_username_is_expiry_and_an_opaque_id():
    credential = issue_credential(SECRET, NOW + timedelta(hours=1))
    expiry, _, opaque = credential.username.partition(":")
    assert int(expiry) == int((NOW + timedelta(hours=1)).timestamp())
    assert credential.expires_at == NOW + timedelta(hours=1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", opaque)


def test_opaque_id_differs_per_credential_and_names_nobody():
    usernames = {issue_credential(SECRET, NOW).username for _ in range(100)}
    assert len(usernames) == 100
    provider = TurnIceProvider(_turn(), (), SECRET)
    first = provider.grant(facts(), NOW).servers[0]["username"]
    second = provider.grant(facts(), NOW).servers[0]["username"]
    assert first != second
    for value in ("m-1", "o-1", "room"):
        assert value not in first


def test_password_is_base64_hmac_sha1_of_the_username():
    credential = issue_credential(SECRET, NOW, opaque_id="abc")
    assert credential.username == f"{int(NOW.timestamp())}:abc"
    digest = hmac.new(SECRET.reveal().encode(), credential.username.encode(), hashlib.sha1)
    assert credential.password.reveal() == base64.b64encode(digest.digest()).decode()
    assert "**" in repr(credential)  # the password never shows in a repr


def test_verification_has_one_failure_mode():
    credential = issue_credential(SECRET, NOW + timedelta(minutes=5))
    password = credential.password.reveal()
    assert verify_credential(SECRET, credential.username, password, NOW)
    assert not verify_credential(SECRET, credential.username, password, NOW + timedelta(hours=1))
    assert not verify_credential(Secret("b" * 64), credential.username, password, NOW)
    assert not verify_credential(SECRET, "alice", password, NOW)
    moved = f"{int(NOW.timestamp()) + 86400}:{credential.username.split(':')[1]}"
    assert not verify_credential(SECRET, moved, password, NOW)


def test_secret_file_is_made_once_private(tmp_path: Path):
    path = tmp_path / "data" / "turn.secret"
    first = load_turn_secret(path, create=True)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_turn_secret(path, create=True).reveal() == first.reveal()
    assert len(first.reveal()) == 64


@pytest.mark.parametrize("content", ["", "short", "has space " * 5, "x" * 300])
def test_bad_secret_file_is_refused(tmp_path: Path, content: str):
    path = tmp_path / "turn.secret"
    path.write_text(content)
    with pytest.raises(ConfigError, match="SALON_TURN_SECRET_FILE"):
        load_turn_secret(path, create=False)


def test_missing_secret_is_not_made_for_an_external_pool(tmp_path: Path):
    with pytest.raises(ConfigError, match="TURN secret file"):
        load_turn_secret(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


POOL = (
    TurnServer("turn-eu1.example.com", 3478, (5349, 443), "eu"),
    TurnServer("turn-eu2.example.com", 3478, (5349,), "eu"),
    TurnServer("2001:db8::7", 3479, (5350,), "us"),
)


def _turn(credential_ttl_seconds: int = 3600, region: str | None = None) -> TurnSettings:
    return TurnSettings(
        mode=TurnMode.EXTERNAL,
        servers=POOL,
        region=region,
        credential_ttl_seconds=credential_ttl_seconds,
    )


def test_ice_servers_carry_udp_tcp_and_tls_urls():
    credential = issue_credential(SECRET, NOW)
    servers = ice_servers(POOL, credential)
    assert servers[0] == {
        "urls": [
            "turn:turn-eu1.example.com:3478?transport=udp",
            "turn:turn-eu1.example.com:3478?transport=tcp",
            "turns:turn-eu1.example.com:5349?transport=tcp",
            "turns:turn-eu1.example.com:443?transport=tcp",
        ],
        "username": credential.username,
        "credential": credential.password.reveal(),
    }
    assert servers[2]["urls"][0] == "turn:[2001:db8::7]:3479?transport=udp"


def test_grant_for_a_normal_room():
    clock = FakeClock(NOW)
    provider = TurnIceProvider(_turn(), ("stun:stun.example.net:3478",), SECRET)
    grant = provider.grant(facts(), clock.now())
    assert grant.transport_policy == "all"
    assert grant.servers[0] == {"urls": ["stun:stun.example.net:3478"]}
    # A node without a region hands out the whole pool.
    assert [s["urls"][0] for s in grant.servers[1:]] == [
        "turn:turn-eu1.example.com:3478?transport=udp",
        "turn:turn-eu2.example.com:3478?transport=udp",
        "turn:[2001:db8::7]:3479?transport=udp",
    ]
    assert grant.expires_at == NOW + timedelta(hours=1)
    assert grant.refresh_at == NOW + timedelta(minutes=48)
    turn = grant.servers[1]
    assert verify_credential(SECRET, turn["username"], turn["credential"], clock.now())
    clock.advance(timedelta(hours=1))
    assert not verify_credential(SECRET, turn["username"], turn["credential"], clock.now())
    assert grant.rtc_configuration() == {
        "iceServers": grant.servers,
        "iceTransportPolicy": "all",
    }


def test_grant_for_a_relay_only_room_on_a_node_with_a_region():
    provider = TurnIceProvider(_turn(credential_ttl_seconds=600, region="us"), (), SECRET)
    grant = provider.grant(facts(relay_only=True), NOW)
    assert grant.transport_policy == "relay"
    assert [s["urls"][0] for s in grant.servers] == ["turn:[2001:db8::7]:3479?transport=udp"]
    assert grant.expires_at == NOW + timedelta(minutes=10)
    eu = TurnIceProvider(_turn(region="eu"), (), SECRET).grant(facts(), NOW)
    assert [s["urls"][0] for s in eu.servers] == [
        "turn:turn-eu1.example.com:3478?transport=udp",
        "turn:turn-eu2.example.com:3478?transport=udp",
    ]


def test_grants_do_not_share_mutable_state():
    provider = TurnIceProvider(_turn(), ("stun:stun.example.net",), SECRET)
    first = provider.grant(facts(), NOW)
    first.servers[0]["urls"].append("stun:evil.example")
    assert provider.grant(facts(), NOW).servers[0] == {"urls": ["stun:stun.example.net"]}


def test_without_turn_a_grant_is_stun_only_and_keeps_the_relay_policy(
    caplog: pytest.LogCaptureFixture,
):
    provider = TurnIceProvider(TurnSettings(mode=TurnMode.OFF), ("stun:s.example",), None)
    grant = provider.grant(facts(), NOW)
    assert grant.servers == [{"urls": ["stun:s.example"]}]
    assert grant.expires_at is None and grant.refresh_at is None
    relay = provider.grant(facts(relay_only=True), NOW)
    # Privacy over connectivity: relay-only stays relay-only, and the operator is told.
    assert relay.transport_policy == "relay"
    assert "TURN is off" in caplog.text
    assert TurnIceProvider(TurnSettings(), (), None).grant(facts(), NOW).servers == []


def test_turn_without_a_secret_is_a_programming_error():
    with pytest.raises(ValueError, match="secret"):
        TurnIceProvider(_turn(), (), None)


def test_opaque_ids_are_random_bytes_not_counters():
    ids = [issue_credential(SECRET, NOW).username.split(":")[1] for _ in range(50)]
    decoded = [base64.urlsafe_b64decode(i + "=" * (-len(i) % 4)) for i in ids]
    assert all(len(d) == 12 for d in decoded)
    assert len({d[:4] for d in decoded}) > 40  # no shared prefix, no sequence
