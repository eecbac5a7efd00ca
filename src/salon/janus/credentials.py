"""The three secrets Salon drives Janus with, loaded from settings.

- ``api_secret``: Janus's core ``api_secret``; every request carries it.
- ``admin_key``: the VideoRoom's ``admin_key``; creating rooms and RTP forwarders needs it.
- ``room_key``: Salon's own, never given to Janus; each room's secret, pin and monitor token
  are derived from it (``salon.janus.backend``). It is derived in turn from the room-key
  secret every Salon node already shares, so any node recomputes the same pins and no other
  file has to be kept in sync.

The first two live in files (``SALON_JANUS_API_SECRET_FILE``, ``SALON_JANUS_ADMIN_KEY_FILE``):
the embedded mode makes them (mode 0600) on first start; with an external pool the operator
gives Salon the values the nodes were configured with.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from salon.config import JanusSettings, Secret
from salon.errors import ConfigError

__all__ = ["JanusCredentials", "load_janus_credentials", "load_secret_file"]

# What a secret may hold: it goes between double quotes in Janus's config and in JSON.
_SECRET = re.compile(r"[A-Za-z0-9+/=_.-]{16,256}")


@dataclass(frozen=True, slots=True)
class JanusCredentials:
    api_secret: Secret
    admin_key: Secret
    room_key: Secret


def load_secret_file(path: Path, *, create: bool, setting: str) -> Secret:
    """The one-line secret in ``path``; with ``create``, a random one (0600) if it is missing."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        value = ""
    if not _SECRET.fullmatch(value):
        raise ConfigError(
            f"The Janus secret file {path} must hold one line of 16-256 characters (letters, "
            f"digits, + / = _ . -). Fix the file or point {setting} at the right one."
        )
    return Secret(value)


def _room_key(room_key_secret: bytes) -> Secret:
    digest = hmac.new(room_key_secret, b"salon/janus/room-credentials", hashlib.sha256)
    return Secret(digest.hexdigest())


def load_janus_credentials(settings: JanusSettings, room_key_secret: bytes) -> JanusCredentials:
    """The secrets for ``settings``; the embedded mode creates missing files."""
    create = settings.embedded
    return JanusCredentials(
        api_secret=load_secret_file(
            settings.api_secret_file, create=create, setting="SALON_JANUS_API_SECRET_FILE"
        ),
        admin_key=load_secret_file(
            settings.admin_key_file, create=create, setting="SALON_JANUS_ADMIN_KEY_FILE"
        ),
        room_key=_room_key(room_key_secret),
    )
