"""The database schema. Every column is classified in ``salon.storage.inventory``.

Columns that end in ``_enc`` hold AES-256-GCM ciphertext sealed with the owning organization's
data key; columns that end in ``_bidx`` hold the matching blind index. No column holds an IP
address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from salon.clock import utc

__all__ = [
    "ApiKey",
    "Base",
    "Meeting",
    "Organization",
    "RoomSession",
    "SessionParticipant",
    "SfuNodeState",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored and returned in UTC, whatever the engine does with zones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone-aware value")
        return utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wrapped_data_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16))
    contact_email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact_email_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), index=True)
    # Privacy setting: every participant of every room relays through TURN.
    relay_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The sites that may embed the org's rooms: a JSON list of origin patterns
    # (salon.services.embed_domains); "[]" lets any site embed them.
    embed_domains: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    room_name: Mapped[str] = mapped_column(String(80), unique=True)
    room_mode: Mapped[str] = mapped_column(String(8))
    is_locked: Mapped[bool]
    template_type: Mapped[str | None] = mapped_column(String(16))
    start_date: Mapped[datetime] = mapped_column(UTCDateTime())
    end_date: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recording_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    live_transcription_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    streaming_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Salon's own: this meeting relays through TURN even if its organization does not.
    relay_only: Mapped[bool] = mapped_column(default=False, server_default=false())


class RoomSession(Base):
    """One session of a room: from the moment two people are in it until it empties.

    ``meeting_id`` links the session to its room while the room exists and is set to NULL when
    the sweeper purges the room, so usage history (what insights report) outlives the room; the
    room's name is kept beside it for ``/insights/room-sessions?roomName=``. Insights for a live
    room join on ``meeting_id``, never on the name, because a purged room's name can be reused.
    """

    __tablename__ = "room_sessions"
    __table_args__ = (Index("ix_room_sessions_org_id_room_name", "org_id", "room_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    meeting_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    room_name: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SessionParticipant(Base):
    """One connection of one participant to a session: role, join and leave times.

    ``minutes`` is the connection's length rounded up to whole minutes, written when it ends.
    The display name and external id are sealed with the organization's key; the external id
    also has a blind index so ``/insights/participants?externalId=`` finds it without decrypting.
    """

    __tablename__ = "session_participants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("room_sessions.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    minutes: Mapped[int | None] = mapped_column(Integer)
    display_name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    external_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    external_id_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16), index=True)


class SfuNodeState(Base):
    """One SFU (Janus) node: what the operator asked for it, and what a server last saw of it.

    ``salon sfu drain`` writes ``draining``, ``moves_requested`` and ``changed_at``; every
    running ``salon serve`` applies them to its pool every few seconds and writes the rest
    (``salon.services.sfu_nodes``), which ``salon sfu nodes`` prints. ``node_id`` is the pool's
    name for the node: ``HOST:PORT`` of an external node's API, ``local`` for the embedded one.
    The report columns are NULL until a server has reported the node.
    """

    __tablename__ = "sfu_nodes"

    node_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    draining: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Bumped by each ``salon sfu drain --move``: servers move the node's rooms away once per bump.
    moves_requested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    region: Mapped[str | None] = mapped_column(String(32))
    up: Mapped[bool | None]
    draining_applied: Mapped[bool | None]
    rooms: Mapped[int | None] = mapped_column(Integer)
    participants: Mapped[int | None] = mapped_column(Integer)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
