"""Envelope encryption of personal data at rest.

Each organization has its own 256-bit data key. Values are sealed with AES-256-GCM under that
key, with associated data naming the organization and the column, so a ciphertext copied to
another organization or another column does not open. The data key is stored only wrapped
(AES-256-GCM again) by the master key, which lives in a 0600 file outside the database.
Destroying an organization's wrapped key makes every value it sealed unreadable, backups
included (crypto-shredding).

Lookups on sealed values use a blind index: a keyed HMAC of the normalised value under a key
derived from the organization's data key, so equal values can be found without decrypting and
the index dies with the key.

Every failure to unwrap or open raises the same opaque ``DecryptionError``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from salon.errors import ConfigError, DecryptionError

__all__ = ["MasterKey", "OrgCipher", "new_data_key", "unwrap_data_key", "wrap_data_key"]

_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_FILE_HEADER = "salon-master-key-v1:"


def _aad(*parts: str) -> bytes:
    return b"salon/v1\x00" + b"\x00".join(p.encode() for p in parts)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
        raise DecryptionError()
    nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionError() from None


@dataclass(frozen=True, slots=True, repr=False)
class MasterKey:
    """The key that wraps every org's data key; ``key_id`` names it without revealing it."""

    key: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"salon-master-key-id\x00" + self.key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(_KEY_BYTES))

    def dump(self) -> str:
        return _FILE_HEADER + base64.b64encode(self.key).decode() + "\n"

    @classmethod
    def parse(cls, text: str, *, source: str) -> MasterKey:
        text = text.strip()
        try:
            if not text.startswith(_FILE_HEADER):
                raise ValueError
            key = base64.b64decode(text.removeprefix(_FILE_HEADER), validate=True)
        except ValueError:
            key = b""
        if len(key) != _KEY_BYTES:
            raise ConfigError(
                f"The master key file {source} is not a Salon master key. Restore the right file "
                "(without it, stored personal data cannot be read) or point "
                "--master-key-file / SALON_MASTER_KEY_FILE at it."
            )
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        try:
            return cls.parse(path.read_text(encoding="ascii"), source=str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"The master key file {path} cannot be read: {exc}.") from None

    def save(self, path: Path) -> None:
        """Writes the key to ``path`` (mode 0600) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(self.dump())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        key.save(path)
        return key


def new_data_key() -> bytes:
    return secrets.token_bytes(_KEY_BYTES)


def wrap_data_key(master: MasterKey, org_id: str, data_key: bytes) -> bytes:
    return _seal(master.key, data_key, _aad("org-data-key", org_id))


def unwrap_data_key(master: MasterKey, org_id: str, wrapped: bytes) -> bytes:
    key = _open(master.key, wrapped, _aad("org-data-key", org_id))
    if len(key) != _KEY_BYTES:
        raise DecryptionError()
    return key


class OrgCipher:
    """Seals, opens and blind-indexes values for one organization."""

    __slots__ = ("_index_key", "_key", "org_id")

    def __init__(self, org_id: str, data_key: bytes) -> None:
        self.org_id = org_id
        self._key = data_key
        self._index_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"salon/blind-index/v1"
        ).derive(data_key)

    def __repr__(self) -> str:
        return f"OrgCipher(org_id={self.org_id!r})"

    def seal(self, column: str, plaintext: bytes) -> bytes:
        return _seal(self._key, plaintext, _aad("column", self.org_id, column))

    def open(self, column: str, blob: bytes) -> bytes:
        return _open(self._key, blob, _aad("column", self.org_id, column))

    def seal_text(self, column: str, text: str) -> bytes:
        return self.seal(column, text.encode())

    def open_text(self, column: str, blob: bytes) -> str:
        try:
            return self.open(column, blob).decode()
        except UnicodeDecodeError:
            raise DecryptionError() from None

    def blind_index(self, column: str, value: str) -> bytes:
        """A 128-bit keyed digest of the normalised value, for equality lookups."""
        normalised = value.strip().casefold().encode()
        digest = hmac.new(self._index_key, column.encode() + b"\x00" + normalised, "sha256")
        return digest.digest()[:16]
