"""deliveries: durable delivery jobs, done after the command's commit

Revision ID: 0009_deliveries
Revises: 0011_ledger
Create Date: 2026-11-28

Owned by deliveries (src/handlers/deliveries.py, src/workers/deliveries.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0009_deliveries"
down_revision: str | Sequence[str] | None = "0011_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = invoicing.models.base.UTCDateTime(timezone=True)
JSON = invoicing.models.base.JSONType


def upgrade() -> None:
    op.create_table(
        "delivery_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_jobs")),
    )
    with op.batch_alter_table("delivery_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_jobs_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_delivery_jobs_finished",
            ["finished_at"],
            unique=False,
            postgresql_where=sa.text("finished_at IS NOT NULL"),
            sqlite_where=sa.text("finished_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_delivery_jobs_command", ["organization_id", "command_id"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_jobs_invoice", ["organization_id", "invoice_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_jobs_invoice")
        batch_op.drop_index("ix_delivery_jobs_command")
        batch_op.drop_index("ix_delivery_jobs_finished")
        batch_op.drop_index("ix_delivery_jobs_due")
    op.drop_table("delivery_jobs")
