"""Per-organization ciphers from wrapped data keys, and master-key rotation.

The keyring holds the master key in memory and a small cache of unwrapped organization keys.
Rotation writes the new master key beside the old one (``<file>.next``), re-wraps every
organization's data key in one transaction, then moves the new key into place; a start-up that
finds a ``.next`` file whose key the database already uses finishes the move.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from salon.errors import DecryptionError, NotFound
from salon.storage.db import Database
from salon.storage.envelope import (
    MasterKey,
    OrgCipher,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from salon.storage.models import Organization

__all__ = ["Keyring", "NewOrgKey"]


@dataclass(frozen=True, slots=True, repr=False)
class NewOrgKey:
    wrapped: bytes
    master_key_id: str
    cipher: OrgCipher


class Keyring:
    def __init__(self, path: Path, db: Database) -> None:
        self._path = path
        self._db = db
        self._lock = threading.Lock()
        self._ciphers: dict[str, OrgCipher] = {}
        self._master = self._load()
        self._stamp = self._file_stamp()

    @property
    def master_key_id(self) -> str:
        return self._master.key_id

    def _next_path(self) -> Path:
        return self._path.with_name(self._path.name + ".next")

    def _load(self) -> MasterKey:
        pending = self._next_path()
        if pending.exists():
            candidate = MasterKey.load(pending)
            with self._db.transaction() as session:
                in_use = session.scalar(
                    select(Organization.id)
                    .where(Organization.master_key_id == candidate.key_id)
                    .limit(1)
                )
            if in_use is not None:
                os.replace(pending, self._path)
            else:
                pending.unlink()
        return MasterKey.load_or_create(self._path)

    def _file_stamp(self) -> tuple[int, int]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_ino)

    def _current_master(self) -> MasterKey:
        """The master key, re-read if another process (``rotate-master``) replaced the file."""
        stamp = self._file_stamp()
        if stamp != self._stamp:
            with self._lock:
                self._master = self._load()
                self._stamp = self._file_stamp()
        return self._master

    def new_org_key(self, org_id: str) -> NewOrgKey:
        data_key = new_data_key()
        master = self._current_master()
        cipher = OrgCipher(org_id, data_key)
        with self._lock:
            self._ciphers[org_id] = cipher
        return NewOrgKey(wrap_data_key(master, org_id, data_key), master.key_id, cipher)

    def cipher_for(self, org: Organization) -> OrgCipher:
        cached = self._ciphers.get(org.id)
        if cached is not None:
            return cached
        master = self._current_master()
        if org.master_key_id != master.key_id:
            raise DecryptionError()
        cipher = OrgCipher(org.id, unwrap_data_key(master, org.id, org.wrapped_data_key))
        with self._lock:
            self._ciphers[org.id] = cipher
        return cipher

    def cached(self, org_id: str) -> OrgCipher | None:
        """The organization's cipher if it is in memory already; never touches the database."""
        return self._ciphers.get(org_id)

    def cipher(self, session: Session, org_id: str) -> OrgCipher:
        cached = self._ciphers.get(org_id)
        if cached is not None:
            return cached
        org = session.get(Organization, org_id)
        if org is None:
            raise NotFound("No such organization.")
        return self.cipher_for(org)

    def forget(self, org_id: str) -> None:
        with self._lock:
            self._ciphers.pop(org_id, None)

    def rotate_master(self) -> int:
        """Re-wraps every organization's data key under a new master key; returns how many."""
        with self._lock:
            old = self._master
            new = MasterKey.generate()
            pending = self._next_path()
            new.save(pending)
            with self._db.transaction() as session:
                orgs = session.scalars(select(Organization)).all()
                for org in orgs:
                    if org.master_key_id != old.key_id:
                        raise DecryptionError()
                    data_key = unwrap_data_key(old, org.id, org.wrapped_data_key)
                    org.wrapped_data_key = wrap_data_key(new, org.id, data_key)
                    org.master_key_id = new.key_id
                count = len(orgs)
            os.replace(pending, self._path)
            self._master = new
            self._stamp = self._file_stamp()
            return count
