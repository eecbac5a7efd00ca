"""Organizations and their API keys."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from salon.auth.api_keys import NewApiKey, generate_api_key, hash_api_key, hashes_match
from salon.clock import Clock
from salon.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from salon.services.embed_domains import parse_domains
from salon.services.keyring import Keyring
from salon.storage.db import Database
from salon.storage.models import ApiKey, Meeting, Organization

__all__ = ["ApiKeyInfo", "OrgContext", "OrgService", "OrgSettings"]

_ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{2,63}$")
_EMAIL_COLUMN = "organizations.contact_email"


@dataclass(frozen=True, slots=True)
class OrgContext:
    """The organization an API call acts for."""

    org_id: str
    name: str


@dataclass(frozen=True, slots=True)
class OrgSettings:
    name: str
    contact_email: str | None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    org_name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _stored_domains(raw: str) -> tuple[str, ...]:
    value = json.loads(raw)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("organizations.embed_domains must hold a JSON list of strings")
    return tuple(value)


def _check_name(name: str) -> str:
    if not _ORG_NAME.fullmatch(name):
        raise InvalidInput.one(
            "name",
            "must be 1-100 characters: letters, digits, space, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


def check_email(value: str, field: str = "contactEmail") -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidInput.one(field, "must be an email address such as privacy@example.com")
    return value


class OrgService:
    # How long a running server may keep answering for a key revoked by another process
    # (``salon keys revoke``); a revocation through this service applies at once.
    AUTH_CACHE_TTL = timedelta(seconds=10)
    _AUTH_CACHE_MAX = 10_000

    def __init__(self, db: Database, keyring: Keyring, clock: Clock) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._auth_cache: dict[bytes, tuple[OrgContext, datetime]] = {}

    def create(self, name: str, contact_email: str | None = None) -> OrgContext:
        name = _check_name(name)
        email = None if contact_email is None else check_email(contact_email)
        org_id = str(uuid.uuid4())
        key = self._keyring.new_org_key(org_id)
        org = Organization(
            id=org_id,
            name=name,
            created_at=self._clock.now(),
            wrapped_data_key=key.wrapped,
            master_key_id=key.master_key_id,
        )
        if email is not None:
            org.contact_email_enc = key.cipher.seal_text(_EMAIL_COLUMN, email)
            org.contact_email_bidx = key.cipher.blind_index(_EMAIL_COLUMN, email)
        try:
            with self._db.transaction() as session:
                session.add(org)
        except IntegrityError:
            self._keyring.forget(org_id)
            raise Conflict(f"An organization named {name!r} already exists.") from None
        return OrgContext(org_id, name)

    def by_name(self, name: str) -> OrgContext:
        with self._db.transaction() as session:
            org = session.scalar(select(Organization).where(Organization.name == name))
            if org is None:
                raise NotFound(f"No organization named {name!r}. See `salon org list`.")
            return OrgContext(org.id, org.name)

    def all(self) -> list[OrgContext]:
        with self._db.transaction() as session:
            orgs = session.scalars(select(Organization).order_by(Organization.name)).all()
            return [OrgContext(o.id, o.name) for o in orgs]

    def settings(self, org_id: str) -> OrgSettings:
        with self._db.transaction() as session:
            org = session.get(Organization, org_id)
            if org is None:
                raise NotFound("No such organization.")
            email = None
            if org.contact_email_enc is not None:
                cipher = self._keyring.cipher_for(org)
                email = cipher.open_text(_EMAIL_COLUMN, org.contact_email_enc)
            return OrgSettings(org.name, email)

    def set_contact_email(self, org_id: str, email: str | None) -> OrgSettings:
        value = None if email is None else check_email(email)
        with self._db.transaction() as session:
            org = session.get(Organization, org_id)
            if org is None:
                raise NotFound("No such organization.")
            cipher = self._keyring.cipher_for(org)
            org.contact_email_enc = (
                None if value is None else cipher.seal_text(_EMAIL_COLUMN, value)
            )
            org.contact_email_bidx = (
                None if value is None else cipher.blind_index(_EMAIL_COLUMN, value)
            )
        return OrgSettings(org.name, value)

    # allowed embed domains --------------------------------------------------------------

    def embed_domains(self, org_id: str) -> tuple[str, ...]:
        """The sites allowed to embed the organization's rooms; empty: any site."""
        with self._db.transaction() as session:
            raw = session.scalar(
                select(Organization.embed_domains).where(Organization.id == org_id)
            )
        if raw is None:
            raise NotFound("No such organization.")
        return _stored_domains(raw)

    def set_embed_domains(self, org_id: str, entries: Sequence[str]) -> tuple[str, ...]:
        """Replaces the list; every entry is checked first (``InvalidInput`` names each bad
        one), so a refused list changes nothing. Returns the list as stored (normalised)."""
        domains = parse_domains(entries)
        with self._db.transaction() as session:
            result = session.execute(
                update(Organization)
                .where(Organization.id == org_id)
                .values(embed_domains=json.dumps(list(domains)))
            )
            if not getattr(result, "rowcount", 0):
                raise NotFound("No such organization.")
        return domains

    def embed_domains_of_room(self, room_name: str) -> tuple[str, ...] | None:
        """The allowed embed domains of the organization owning ``room_name`` ("/abc"), or
        None when no meeting has that room."""
        with self._db.transaction() as session:
            raw = session.scalar(
                select(Organization.embed_domains)
                .join(Meeting, Meeting.org_id == Organization.id)
                .where(Meeting.room_name == room_name)
            )
        return None if raw is None else _stored_domains(raw)

    def find_by_contact_email(self, email: str) -> list[OrgContext]:
        """Organizations whose contact email is ``email``, found through the blind index."""
        email = check_email(email, "email")
        found: list[OrgContext] = []
        with self._db.transaction() as session:
            for org in session.scalars(
                select(Organization).where(Organization.contact_email_bidx.is_not(None))
            ):
                probe = self._keyring.cipher_for(org).blind_index(_EMAIL_COLUMN, email)
                if org.contact_email_bidx is not None and hashes_match(
                    probe, org.contact_email_bidx
                ):
                    found.append(OrgContext(org.id, org.name))
        return found

    def delete(self, name: str) -> None:
        """Deletes the organization and all its rows, destroying its data key first."""
        with self._db.transaction() as session:
            org = session.scalar(select(Organization).where(Organization.name == name))
            if org is None:
                raise NotFound(f"No organization named {name!r}. See `salon org list`.")
            org_id = org.id
            # Overwrite the wrapped key before the row goes, so no page of the database file
            # keeps a copy that could still be unwrapped.
            session.execute(
                update(Organization)
                .where(Organization.id == org_id)
                .values(wrapped_data_key=b"\x00" * len(org.wrapped_data_key))
            )
            session.flush()
            session.execute(delete(Organization).where(Organization.id == org_id))
        self._keyring.forget(org_id)
        self._forget_authentications(org_id)

    # API keys ------------------------------------------------------------------------------

    def create_api_key(self, org_name: str) -> NewApiKey:
        org = self.by_name(org_name)
        new = generate_api_key()
        with self._db.transaction() as session:
            session.add(
                ApiKey(
                    id=str(uuid.uuid4()),
                    org_id=org.org_id,
                    key_hash=new.key_hash,
                    prefix=new.display_prefix,
                    created_at=self._clock.now(),
                )
            )
        return new

    def list_api_keys(self, org_name: str) -> list[ApiKeyInfo]:
        org = self.by_name(org_name)
        with self._db.transaction() as session:
            keys = session.scalars(
                select(ApiKey).where(ApiKey.org_id == org.org_id).order_by(ApiKey.created_at)
            ).all()
            return [ApiKeyInfo(k.id, org.name, k.prefix, k.created_at, k.revoked_at) for k in keys]

    def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        with self._db.transaction() as session:
            row = session.execute(
                select(ApiKey, Organization.name)
                .join(Organization, Organization.id == ApiKey.org_id)
                .where(ApiKey.id == key_id)
            ).one_or_none()
            if row is None:
                raise NotFound(f"No API key with id {key_id!r}. See `salon keys list --org NAME`.")
            key, org_name = row
            if key.revoked_at is None:
                key.revoked_at = self._clock.now()
            self._auth_cache.pop(key.key_hash, None)
            return ApiKeyInfo(key.id, org_name, key.prefix, key.created_at, key.revoked_at)

    def cached_authentication(self, presented: str) -> OrgContext | None:
        """The organization for ``presented`` if it was verified moments ago; never blocks."""
        hit = self._auth_cache.get(hash_api_key(presented))
        if hit is None or hit[1] <= self._clock.now():
            return None
        return hit[0]

    def _forget_authentications(self, org_id: str | None = None) -> None:
        for digest, (org, _) in list(self._auth_cache.items()):
            if org_id is None or org.org_id == org_id:
                self._auth_cache.pop(digest, None)

    def authenticate(self, presented: str) -> OrgContext:
        """The organization whose live API key ``presented`` is; else ``Unauthenticated``."""
        digest = hash_api_key(presented)
        with self._db.transaction() as session:
            row = session.execute(
                select(ApiKey.key_hash, ApiKey.revoked_at, Organization.id, Organization.name)
                .join(Organization, Organization.id == ApiKey.org_id)
                .where(ApiKey.key_hash == digest)
            ).one_or_none()
        if row is None or row.revoked_at is not None or not hashes_match(row.key_hash, digest):
            raise Unauthenticated("The API key is missing, invalid or revoked.")
        org = OrgContext(row.id, row.name)
        if len(self._auth_cache) >= self._AUTH_CACHE_MAX:
            self._auth_cache.clear()
        self._auth_cache[digest] = (org, self._clock.now() + self.AUTH_CACHE_TTL)
        return org
