"""TURN REST credentials: short-lived, opaque, checked by coturn with a shared secret alone.

coturn's ``use-auth-secret`` mode accepts a username ``<expiry unix time>:<anything>`` whose
password is base64(HMAC-SHA1(secret, username)), and refuses it once the expiry has passed; no
database, no call from coturn to Salon. Salon puts a random id after the colon, drawn afresh for
every grant: it names no person, participant, room or organization, so what a relay logs and what
crosses the wire ties an allocation to nothing but a time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salon.config import Secret, TurnServer
from salon.errors import ConfigError

__all__ = [
    "TurnCredential",
    "credential_password",
    "ice_servers",
    "issue_credential",
    "load_turn_secret",
    "verify_credential",
]

# What a secret may hold: it goes on one line of coturn's config file, unquoted.
_SECRET = re.compile(r"[A-Za-z0-9+/=_.-]{32,256}")


@dataclass(frozen=True, slots=True)
class TurnCredential:
    """One participant's TURN username and password, valid until ``expires_at``."""

    username: str
    password: Secret
    expires_at: datetime


def credential_password(secret: Secret, username: str) -> str:
    """The password coturn expects for ``username``: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.reveal().encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def issue_credential(
    secret: Secret, expires_at: datetime, *, opaque_id: str | None = None
) -> TurnCredential:
    """A credential coturn accepts until ``expires_at`` (whole seconds, rounded down).

    ``opaque_id`` is for tests; leave it out to get a fresh random one.
    """
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expiry = int(expires_at.timestamp())
    username = f"{expiry}:{opaque_id or secrets.token_urlsafe(12)}"
    return TurnCredential(
        username=username,
        password=Secret(credential_password(secret, username)),
        expires_at=datetime.fromtimestamp(expiry, UTC),
    )


def verify_credential(secret: Secret, username: str, password: str, now: datetime) -> bool:
    """Whether coturn would accept ``username``/``password`` at ``now`` (one failure mode)."""
    expiry, sep, _ = username.partition(":")
    expected = credential_password(secret, username)
    matches = hmac.compare_digest(expected.encode(), password.encode())
    return matches and bool(sep) and expiry.isdigit() and int(expiry) > now.timestamp()


def load_turn_secret(path: Path, *, create: bool) -> Secret:
    """The shared secret in ``path``; with ``create``, a random one (mode 0600) on first start."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        value = ""
    if not _SECRET.fullmatch(value):
        raise ConfigError(
            f"The TURN secret file {path} must hold one line of 32-256 characters "
            "(letters, digits, + / = _ . -), the static-auth-secret your coturn servers use. "
            "Fix the file or point SALON_TURN_SECRET_FILE at the right one."
        )
    return Secret(value)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def ice_servers(servers: Sequence[TurnServer], credential: TurnCredential) -> list[dict[str, Any]]:
    """RTCIceServer dicts, one per server: TURN over UDP and TCP, and over TLS per TLS port."""
    out: list[dict[str, Any]] = []
    for server in servers:
        host = _url_host(server.host)
        urls = [
            f"turn:{host}:{server.port}?transport=udp",
            f"turn:{host}:{server.port}?transport=tcp",
            *(f"turns:{host}:{tls}?transport=tcp" for tls in server.tls_ports),
        ]
        out.append(
            {
                "urls": urls,
                "username": credential.username,
                "credential": credential.password.reveal(),
            }
        )
    return out
