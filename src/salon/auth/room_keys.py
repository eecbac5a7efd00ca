"""Room keys: signed, expiring grants that carry a role in a room.

``hostRoomUrl`` and ``viewerRoomUrl`` are the room URL with ``?roomKey=<grant>``. The grant is a
JWT (HS256) signed with the server's room-key secret; the signaling layer verifies it with
``RoomKeyVerifier``. A grant names one room and one role and expires when the room is
deactivated (end date + 1 hour). Every verification failure raises the same ``InvalidToken``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import jwt

from salon.clock import Clock
from salon.errors import ConfigError, InvalidToken

__all__ = ["RoomGrant", "RoomKeySigner", "RoomKeyVerifier", "RoomRole", "load_room_key_secret"]

_ISSUER = "salon"
_AUDIENCE = "salon-room"
_ALGORITHM = "HS256"
_MIN_SECRET_BYTES = 32


class RoomRole(StrEnum):
    HOST = "host"
    VISITOR = "visitor"
    GRANTED_VISITOR = "granted_visitor"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class RoomGrant:
    """What a room key lets its bearer do: ``role`` in ``room_name`` until ``expires_at``."""

    room_name: str
    meeting_id: str
    role: RoomRole
    issued_at: datetime
    expires_at: datetime


def load_room_key_secret(path: Path) -> bytes:
    """Reads the signing secret, creating a random one (mode 0600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    try:
        text = path.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) < _MIN_SECRET_BYTES:
        raise ConfigError(
            f"The room key secret file {path} must hold at least {_MIN_SECRET_BYTES} bytes as hex. "
            "Delete it to have a new one made (existing room keys then stop working), or point "
            "--room-key-secret-file / SALON_ROOM_KEY_SECRET_FILE at the right file."
        )
    return secret


class RoomKeySigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, grant: RoomGrant) -> str:
        claims = {
            "iss": _ISSUER,
            "aud": _AUDIENCE,
            "sub": grant.room_name,
            "mid": grant.meeting_id,
            "role": grant.role.value,
            "iat": int(grant.issued_at.timestamp()),
            "exp": int(grant.expires_at.timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)


class RoomKeyVerifier:
    def __init__(self, secret: bytes, clock: Clock, leeway: timedelta = timedelta(seconds=30)):
        self._secret = secret
        self._clock = clock
        self._leeway = leeway

    def verify(self, token: str, room_name: str) -> RoomGrant:
        """The grant in ``token`` if it is genuine, unexpired and for ``room_name``."""
        if not token or len(token) > 2048:
            raise InvalidToken()
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                # Time is checked below against Salon's clock, not the library's.
                options={
                    "require": ["exp", "iat", "sub", "aud", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            role = RoomRole(claims["role"])
            issued = datetime.fromtimestamp(int(claims["iat"]), self._clock.now().tzinfo)
            expires = datetime.fromtimestamp(int(claims["exp"]), self._clock.now().tzinfo)
            subject, meeting_id = str(claims["sub"]), str(claims["mid"])
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            raise InvalidToken() from None
        now = self._clock.now()
        if not issued - self._leeway <= now <= expires + self._leeway or subject != room_name:
            raise InvalidToken()
        return RoomGrant(subject, meeting_id, role, issued, expires)
