"""pipeline: the dead-letter archive

Revision ID: 0005_dead_letters
Revises: 0003_pipeline
Create Date: 2026-11-22

Owned by the message pipeline (src/workers/dead_letters.py): every message of the
``invoicing.dead-letters`` queue is kept here with its reason and headers until an operator
re-drives it (``invoicing dead-letters redrive ID``).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0005_dead_letters"
down_revision: str | Sequence[str] | None = "0003_pipeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
TS = invoicing.models.base.UTCDateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("routing_key", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("command_id", sa.String(length=64), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("command_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("archived_at", TS, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("redrive_count", sa.Integer(), nullable=False),
        sa.Column("redriven_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_dead_letters_dedupe_key")),
    )
    op.create_index("ix_dead_letters_status_id", "dead_letters", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dead_letters_status_id", table_name="dead_letters")
    op.drop_table("dead_letters")
