"""the invoice's § 286 Abs. 3 BGB note to a consumer

Revision ID: 0034_default_note
Revises: 0033_datev_clients
Create Date: 2026-12-05

``invoices.default_note``: the invoice carried the note of § 286 Abs. 3 BGB (a consumer is in
default 30 days after due date and receipt of the invoice only if the invoice points this out).
Set at finalize on invoices under German law to a consumer (``domain.consumer_dunning``), read
by the dunning of consumers (docs/dunning.md). Invoices issued before carried no such note:
false.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_default_note"
down_revision: str | Sequence[str] | None = "0033_datev_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "invoices",
        sa.Column("default_note", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("invoices", "default_note")
