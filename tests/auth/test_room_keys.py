"""Room keys: a grant for one room and role, until the room deactivates; one opaque failure."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from salon.auth.room_keys import (
    RoomGrant,
    RoomKeySigner,
    RoomKeyVerifier,
    RoomRole,
    load_room_key_secret,
)
from salon.clock import FakeClock
from salon.errors import ConfigError, InvalidToken

SECRET = b"k" * 32


def _grant(clock: FakeClock, role: RoomRole = RoomRole.HOST) -> RoomGrant:
    return RoomGrant("/room-1", "meeting-1", role, clock.now(), clock.now() + timedelta(hours=2))


def test_round_trip(clock: FakeClock):
    token = RoomKeySigner(SECRET).issue(_grant(clock))
    grant = RoomKeyVerifier(SECRET, clock).verify(token, "/room-1")
    assert (grant.role, grant.meeting_id, grant.room_name) == (
        RoomRole.HOST,
        "meeting-1",
        "/room-1",
    )


def test_expires_on_the_clock(clock: FakeClock):
    token = RoomKeySigner(SECRET).issue(_grant(clock))
    verifier = RoomKeyVerifier(SECRET, clock, leeway=timedelta(seconds=30))
    clock.advance(timedelta(hours=2, seconds=29))
    verifier.verify(token, "/room-1")
    clock.advance(2)
    with pytest.raises(InvalidToken):
        verifier.verify(token, "/room-1")


def test_key_for_another_room_is_refused(clock: FakeClock):
    token = RoomKeySigner(SECRET).issue(_grant(clock))
    with pytest.raises(InvalidToken):
        RoomKeyVerifier(SECRET, clock).verify(token, "/room-2")


def test_forged_signature_is_refused(clock: FakeClock):
    token = RoomKeySigner(b"x" * 32).issue(_grant(clock))
    with pytest.raises(InvalidToken):
        RoomKeyVerifier(SECRET, clock).verify(token, "/room-1")


def test_role_cannot_be_edited(clock: FakeClock):
    token = RoomKeySigner(SECRET).issue(_grant(clock, RoomRole.VIEWER))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "host"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        RoomKeyVerifier(SECRET, clock).verify(f"{header}.{forged_payload}.{signature}", "/room-1")


@pytest.mark.parametrize("algorithm", ["none", "HS512"])
def test_other_algorithms_are_refused(clock: FakeClock, algorithm: str):
    claims = {"sub": "/room-1", "role": "host", "iat": 0, "exp": 2**40, "mid": "m"}
    claims |= {"iss": "salon", "aud": "salon-room"}
    token = jwt.encode(claims, None if algorithm == "none" else SECRET * 2, algorithm=algorithm)
    with pytest.raises(InvalidToken):
        RoomKeyVerifier(SECRET, clock).verify(token, "/room-1")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 5000])
def test_garbage_is_refused_opaquely(clock: FakeClock, token: str):
    with pytest.raises(InvalidToken) as caught:
        RoomKeyVerifier(SECRET, clock).verify(token, "/room-1")
    assert caught.value.message == "The room key is invalid or has expired."


def test_secret_file_is_made_once_and_checked(tmp_path):
    path = tmp_path / "room-key.secret"
    first = load_room_key_secret(path)
    assert load_room_key_secret(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("abcd")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_room_key_secret(path)
