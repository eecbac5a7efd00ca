"""The live rooms of this node, their connections, and resume tokens.

One ``LiveRoom`` per room name holds the room engine, the lock that keeps that room's events in
order, and which Socket.IO connection speaks for each participant. A room is opened by the first
join or knock and dropped as soon as the engine says it is idle (nobody present or knocking, no
session open), so memory follows use. A meeting a host ended is remembered (until the room would
be deactivated anyway) so that a dropped-and-reopened room still refuses joins with
``meeting_ended``.

Resume tokens are random bearer secrets bound to one room and one participant, kept only in
memory, and stored by digest so the table holds nothing a reader could replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from salon.auth.room_keys import RoomRole
from salon.rooms.engine import Room
from salon.rooms.lifecycle import deactivates_at
from salon.services.meetings import RoomMode
from salon.services.sessions import RoomFacts

__all__ = ["LiveRoom", "Member", "RoomRegistry", "new_participant_id"]


def new_participant_id() -> str:
    """A fresh participant (or knock) id: 96 random bits, URL-safe."""
    return secrets.token_urlsafe(12)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(slots=True)
class Member:
    """What the shell knows about one participant or knocker of a live room."""

    sid: str | None
    display_name: str
    external_id: str | None
    role: RoomRole | None  # None while knocking
    resume_digest: bytes | None = None
    # When the TURN credentials this participant was given need replacing (None: nothing
    # expires).
    ice_refresh_at: datetime | None = None


@dataclass(slots=True)
class LiveRoom:
    facts: RoomFacts
    room: Room
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.facts.room_name

    def channel(self, role: RoomRole | None = None) -> str:
        """The Socket.IO room of everyone joined here, or of those with ``role``."""
        return self.name if role is None else f"{self.name}#{role.value}"

    def sid_of(self, participant_id: str) -> str | None:
        member = self.members.get(participant_id)
        return None if member is None else member.sid


@dataclass(frozen=True, slots=True)
class _ResumeGrant:
    room_name: str
    participant_id: str


class RoomRegistry:
    def __init__(self) -> None:
        self._rooms: dict[str, LiveRoom] = {}
        self._resume: dict[bytes, _ResumeGrant] = {}
        self._ended: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, room_name: str) -> LiveRoom | None:
        return self._rooms.get(room_name)

    def all(self) -> list[LiveRoom]:
        return list(self._rooms.values())

    def open(self, facts: RoomFacts, mode: RoomMode) -> LiveRoom:
        """The live room for ``facts``' meeting, created if this node has none yet."""
        live = self._rooms.get(facts.room_name)
        if live is not None and live.facts.meeting_id == facts.meeting_id:
            return live
        live = LiveRoom(facts, Room(facts.room_name, facts.meeting_id, mode, facts.is_locked))
        self._rooms[facts.room_name] = live
        return live

    def is_current(self, live: LiveRoom) -> bool:
        return self._rooms.get(live.name) is live

    def drop_if_idle(self, live: LiveRoom) -> bool:
        """Forgets the room if nobody is in it and no session is open; True if it did."""
        if live.room.ended:
            self._ended[live.facts.meeting_id] = deactivates_at(live.facts.end_date)
        if not live.room.is_idle or not self.is_current(live):
            return False
        for member in live.members.values():
            self._forget_token(member)
        del self._rooms[live.name]
        return True

    def ended(self, meeting_id: str) -> bool:
        """Whether a host ended this meeting (the engine that knew it may be gone)."""
        return meeting_id in self._ended

    def forget_ended(self, now: datetime) -> None:
        """Drops the memory of ended meetings whose rooms are deactivated by now anyway."""
        for meeting_id, until in list(self._ended.items()):
            if until <= now:
                del self._ended[meeting_id]

    # resume tokens -------------------------------------------------------------------------

    def issue_resume_token(self, live: LiveRoom, participant_id: str) -> str:
        """A fresh token for ``participant_id``; any earlier one stops working."""
        member = live.members[participant_id]
        self._forget_token(member)
        token = secrets.token_urlsafe(32)
        member.resume_digest = _digest(token)
        self._resume[member.resume_digest] = _ResumeGrant(live.name, participant_id)
        return token

    def redeem(self, token: str, room_name: str) -> str | None:
        """The participant ``token`` resumes in ``room_name``, or None."""
        grant = self._resume.get(_digest(token))
        if grant is None or grant.room_name != room_name:
            return None
        return grant.participant_id

    def forget_member(self, live: LiveRoom, participant_id: str) -> Member | None:
        member = live.members.pop(participant_id, None)
        if member is not None:
            self._forget_token(member)
        return member

    def _forget_token(self, member: Member) -> None:
        if member.resume_digest is not None:
            self._resume.pop(member.resume_digest, None)
            member.resume_digest = None
