"""The relay-only privacy setting of an organization: read and change it.

A meeting's own setting is stored with the meeting (``MeetingService``); what a room gets is
the organization's OR the meeting's (``RoomFacts.relay_only``): a meeting can make its room
relay-only, never make an organization's rooms direct again.
"""

from __future__ import annotations

from sqlalchemy import select, update

from salon.errors import NotFound
from salon.storage.db import Database
from salon.storage.models import Organization

__all__ = ["RelayPolicy"]


class RelayPolicy:
    def __init__(self, db: Database) -> None:
        self._db = db

    def org_relay_only(self, org_id: str) -> bool:
        with self._db.transaction() as session:
            value = session.scalar(select(Organization.relay_only).where(Organization.id == org_id))
        if value is None:
            raise NotFound("No such organization.")
        return value

    def set_org_relay_only(self, org_id: str, relay_only: bool) -> None:
        """Applies to every join from now on; participants already in a call keep their
        connections until they next receive ICE servers."""
        with self._db.transaction() as session:
            result = session.execute(
                update(Organization).where(Organization.id == org_id).values(relay_only=relay_only)
            )
            if not getattr(result, "rowcount", 0):
                raise NotFound("No such organization.")
