"""per-node SFU drain state, and what servers last saw of each node

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import salon.storage.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sfu_nodes",
        sa.Column("node_id", sa.String(length=300), nullable=False),
        sa.Column("draining", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("moves_requested", sa.Integer(), server_default="0", nullable=False),
        sa.Column("changed_at", salon.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("up", sa.Boolean(), nullable=True),
        sa.Column("draining_applied", sa.Boolean(), nullable=True),
        sa.Column("rooms", sa.Integer(), nullable=True),
        sa.Column("participants", sa.Integer(), nullable=True),
        sa.Column("reported_at", salon.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_sfu_nodes")),
    )


def downgrade() -> None:
    op.drop_table("sfu_nodes")
