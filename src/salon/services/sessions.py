"""Room sessions and who attended them: the small writes the signaling shell makes, and reads.

A session is recorded from the moment two people are in a room until it empties (the room
engine decides; see ``salon.rooms.participants``). Each participant's connection to a session is
one row with role, join and leave times; the display name and external id are sealed with the
organization's key, and the external id also gets a blind index for lookups. No IP address,
user agent, chat or media is ever written. Every write is one short transaction; the shell runs
them in a worker thread so the event loop never waits for the database.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from salon.auth.room_keys import RoomRole
from salon.errors import NotFound
from salon.services.keyring import Keyring
from salon.storage.db import Database
from salon.storage.models import Meeting, Organization, RoomSession, SessionParticipant

__all__ = [
    "DISPLAY_NAME_COLUMN",
    "EXTERNAL_ID_COLUMN",
    "RoomFacts",
    "SessionService",
    "connection_minutes",
]

DISPLAY_NAME_COLUMN = "session_participants.display_name"
EXTERNAL_ID_COLUMN = "session_participants.external_id"


def connection_minutes(joined_at: datetime, left_at: datetime) -> int:
    """A connection's length in whole minutes, rounded up (a 10-second visit counts 1)."""
    seconds = max(0.0, (left_at - joined_at).total_seconds())
    return max(1, math.ceil(seconds / 60))


@dataclass(frozen=True, slots=True)
class RoomFacts:
    """What the signaling shell needs to open a live room for a meeting."""

    meeting_id: str
    org_id: str
    room_name: str
    is_locked: bool
    end_date: datetime
    # Every participant's media goes through a TURN relay (the meeting's or the organization's
    # privacy setting): no participant learns another's address.
    relay_only: bool = False


class SessionService:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    # reads for the shell ---------------------------------------------------------------------

    def room_facts(self, meeting_id: str) -> RoomFacts:
        with self._db.transaction() as session:
            found = session.execute(
                select(Meeting, Organization.relay_only)
                .join(Organization, Organization.id == Meeting.org_id)
                .where(Meeting.id == meeting_id)
            ).one_or_none()
            if found is None:
                raise NotFound("There is no room at this address. Check the link you were given.")
            row, org_relay_only = found
            return RoomFacts(
                row.id,
                row.org_id,
                row.room_name,
                row.is_locked,
                row.end_date,
                relay_only=row.relay_only or org_relay_only,
            )

    # writes ----------------------------------------------------------------------------------

    def start(
        self, session_id: str, org_id: str, meeting_id: str, room_name: str, at: datetime
    ) -> None:
        with self._db.transaction() as session:
            session.execute(
                insert(RoomSession),
                [
                    {
                        "id": session_id,
                        "org_id": org_id,
                        "meeting_id": meeting_id,
                        "room_name": room_name,
                        "started_at": at,
                        "ended_at": None,
                    }
                ],
            )

    def end(self, session_id: str, at: datetime) -> None:
        """Ends the session, and closes any attendance still open at ``at``."""
        with self._db.transaction() as session:
            open_rows = session.execute(
                select(SessionParticipant.id, SessionParticipant.joined_at).where(
                    SessionParticipant.session_id == session_id,
                    SessionParticipant.left_at.is_(None),
                )
            ).all()
            for row_id, joined_at in open_rows:
                session.execute(
                    update(SessionParticipant)
                    .where(SessionParticipant.id == row_id)
                    .values(left_at=at, minutes=connection_minutes(joined_at, at))
                )
            session.execute(
                update(RoomSession)
                .where(RoomSession.id == session_id, RoomSession.ended_at.is_(None))
                .values(ended_at=at)
            )

    def participant_joined(
        self,
        session_id: str,
        org_id: str,
        participant_id: str,
        role: RoomRole,
        display_name: str,
        external_id: str | None,
        at: datetime,
    ) -> None:
        with self._db.transaction() as session:
            cipher = self._keyring.cipher(session, org_id)
            session.execute(
                insert(SessionParticipant),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "session_id": session_id,
                        "participant_id": participant_id,
                        "role": role.value,
                        "joined_at": at,
                        "left_at": None,
                        "minutes": None,
                        "display_name_enc": cipher.seal_text(DISPLAY_NAME_COLUMN, display_name),
                        "external_id_enc": (
                            None
                            if external_id is None
                            else cipher.seal_text(EXTERNAL_ID_COLUMN, external_id)
                        ),
                        "external_id_bidx": (
                            None
                            if external_id is None
                            else cipher.blind_index(EXTERNAL_ID_COLUMN, external_id)
                        ),
                    }
                ],
            )

    def participant_left(self, session_id: str, participant_id: str, at: datetime) -> None:
        with self._db.transaction() as session:
            rows = session.execute(
                select(SessionParticipant.id, SessionParticipant.joined_at).where(
                    SessionParticipant.session_id == session_id,
                    SessionParticipant.participant_id == participant_id,
                    SessionParticipant.left_at.is_(None),
                )
            ).all()
            for row_id, joined_at in rows:
                session.execute(
                    update(SessionParticipant)
                    .where(SessionParticipant.id == row_id)
                    .values(left_at=at, minutes=connection_minutes(joined_at, at))
                )
