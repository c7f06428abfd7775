"""pipeline: delivery attempts (crash-loop guard) and the outbox wake-up notification

Revision ID: 0003_pipeline
Revises: 0001
Create Date: 2026-11-21

Owned by the message pipeline (src/workers). ``delivery_attempts`` counts how often a
redelivered message was *started* by a worker, committed in its own transaction before the
business transaction, so a message that kills its worker is dead-lettered after a bounded
number of starts. The trigger only wakes the relay (LISTEN invoicing_outbox); correctness
never depends on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0003_pipeline"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("pipeline",)
depends_on: str | Sequence[str] | None = None

TS = invoicing.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delivery_attempts",
        sa.Column("message_key", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION invoicing_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('invoicing_outbox', '');
              RETURN NULL;
            END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
            "FOR EACH STATEMENT EXECUTE FUNCTION invoicing_outbox_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute("DROP FUNCTION IF EXISTS invoicing_outbox_notify()")
    op.drop_table("delivery_attempts")
