"""Room names: ``/<prefix>-<random>``, where random is a UUID or six distinguishable characters."""

from __future__ import annotations

import re
import secrets
import uuid
from enum import StrEnum

__all__ = ["RESERVED", "RoomNamePattern", "generate_room_name", "normalise_prefix"]

# No 0/o, 1/l/i: the six characters of a human-short name can be read aloud and typed.
_HUMAN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_PREFIX = re.compile(r"^[a-z0-9-]{0,39}$")
MAX_PREFIX = 39
# Top-level paths the server itself uses; a room may never shadow one.
RESERVED = frozenset({"v1", "healthz", "static", "docs", "favicon.ico", "robots.txt", "socket.io"})


class RoomNamePattern(StrEnum):
    UUID = "uuid"
    HUMAN_SHORT = "human-short"


def normalise_prefix(raw: str) -> str:
    """The prefix as Salon uses it: lower-cased, spaces and one leading '/' removed.

    Raises ``ValueError`` with the reason when it cannot be a prefix.
    """
    value = raw.replace(" ", "").lower().removeprefix("/")
    if len(value) > MAX_PREFIX:
        raise ValueError(f"must be at most {MAX_PREFIX} characters after removing spaces")
    if not _PREFIX.fullmatch(value):
        raise ValueError("may contain only lower-case letters a-z, digits 0-9 and '-'")
    return value


def generate_room_name(prefix: str, pattern: RoomNamePattern) -> str:
    if pattern is RoomNamePattern.HUMAN_SHORT:
        suffix = "".join(secrets.choice(_HUMAN_ALPHABET) for _ in range(6))
    else:
        suffix = str(uuid.uuid4())
    if not prefix:
        return "/" + suffix
    separator = "" if prefix.endswith("-") else "-"
    return f"/{prefix}{separator}{suffix}"
