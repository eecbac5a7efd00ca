"""API keys: shown once at creation, stored only as a SHA-256 hash.

A key is ``salon_`` followed by 43 URL-safe characters (256 random bits), so a hash of it is
as good as a salted password hash: there is nothing to guess. The first characters after the
prefix are kept in clear to tell keys apart in listings.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["KEY_PREFIX", "NewApiKey", "generate_api_key", "hash_api_key", "hashes_match"]

KEY_PREFIX = "salon_"
_MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True, repr=False)
class NewApiKey:
    plaintext: str
    key_hash: bytes
    display_prefix: str

    def __repr__(self) -> str:
        return f"NewApiKey(display_prefix={self.display_prefix!r})"


def hash_api_key(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")[:_MAX_KEY_LENGTH]).digest()


def hashes_match(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def generate_api_key() -> NewApiKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(plaintext, hash_api_key(plaintext), plaintext[: len(KEY_PREFIX) + 6])
