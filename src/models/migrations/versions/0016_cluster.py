"""pipeline: delayed retries kept in the database (scheduled_commands)

Revision ID: 0016_cluster
Revises: 0009_deliveries
Create Date: 2026-11-28

A command put off for N seconds (a finalize before its create, an outside service down, a
handler bug) waits in ``scheduled_commands`` until ``due_at`` instead of in a broker delay
queue: a quorum delay queue whose node died parked its copies for minutes (at-least-once
dead-lettering waits for the dead-letter target's confirm after a leader change). The worker's
republisher publishes due rows back with confirms (src/workers/scheduled.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0016_cluster"
down_revision: str | Sequence[str] | None = "0009_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = invoicing.models.base.UTCDateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduled_commands",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("properties", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_commands")),
    )
    op.create_index(
        op.f("ix_scheduled_commands_due_at"), "scheduled_commands", ["due_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_scheduled_commands_due_at"), table_name="scheduled_commands")
    op.drop_table("scheduled_commands")
