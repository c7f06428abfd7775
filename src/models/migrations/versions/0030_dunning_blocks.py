"""dunning blocks (Mahnsperre)

Revision ID: 0030_dunning_blocks
Revises: 0029_number_key
Create Date: 2026-12-02

Owned by the dunning handlers (src/handlers/dunning.py). ``block_dunning`` stops the dunning of
one invoice or of every invoice of one customer, up to and including ``until`` (none: until
``lift_dunning_block``); ``send_dunning_notices`` leaves blocked invoices out and a delivery
step does not send a notice whose invoice was blocked after it was scheduled (docs/dunning.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_dunning_blocks"
down_revision: str | Sequence[str] | None = "0029_number_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dunning_blocks",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "subject IN ('invoice', 'customer')", name=op.f("ck_dunning_blocks_subject")
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "subject", "subject_id", name=op.f("pk_dunning_blocks")
        ),
    )


def downgrade() -> None:
    op.drop_table("dunning_blocks")
