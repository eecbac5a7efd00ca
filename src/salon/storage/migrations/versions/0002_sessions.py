"""room sessions and their participants, for insights

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import salon.storage.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=True),
        sa.Column("room_name", sa.String(length=80), nullable=False),
        sa.Column("started_at", salon.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", salon.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_room_sessions_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_room_sessions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_sessions")),
    )
    with op.batch_alter_table("room_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_room_sessions_meeting_id"), ["meeting_id"], unique=False
        )
        batch_op.create_index(
            "ix_room_sessions_org_id_room_name", ["org_id", "room_name"], unique=False
        )

    op.create_table(
        "session_participants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", salon.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", salon.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("display_name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("external_id_enc", sa.LargeBinary(), nullable=True),
        sa.Column("external_id_bidx", sa.LargeBinary(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["room_sessions.id"],
            name=op.f("fk_session_participants_session_id_room_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_participants")),
    )
    with op.batch_alter_table("session_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_participants_external_id_bidx"),
            ["external_id_bidx"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_session_participants_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("session_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_participants_session_id"))
        batch_op.drop_index(batch_op.f("ix_session_participants_external_id_bidx"))

    op.drop_table("session_participants")
    with op.batch_alter_table("room_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_room_sessions_org_id_room_name")
        batch_op.drop_index(batch_op.f("ix_room_sessions_meeting_id"))

    op.drop_table("room_sessions")
