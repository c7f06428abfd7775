"""the invoice's dunning level

Revision ID: 0031_dunning_level
Revises: 0030_dunning_blocks
Create Date: 2026-12-03

Owned by the dunning delivery step (src/handlers/dunning.py). ``invoices.dunning_level`` is the
highest dunning level sent for the invoice (0: never dunned) and ``invoices.dunned_on`` that
notice's day (its ``as_of``): ``InvoiceState.dunning_level`` / ``dunned_on``, the list filter and
sort key ``dunning_level`` (docs/dunning.md). Filled here from the notices already sent.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_dunning_level"
down_revision: str | Sequence[str] | None = "0030_dunning_blocks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OF_INVOICE = (
    "FROM dunning_notices n WHERE n.organization_id = invoices.organization_id "
    "AND n.invoice_id = invoices.id"
)


def upgrade() -> None:
    op.add_column(
        "invoices", sa.Column("dunning_level", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("invoices", sa.Column("dunned_on", sa.Date(), nullable=True))
    # a level is sent once and after the one below it: the highest is the last
    op.execute(
        f"UPDATE invoices SET dunning_level = (SELECT max(n.level) {_OF_INVOICE}), "
        f"dunned_on = (SELECT max(n.as_of) {_OF_INVOICE}) "
        f"WHERE EXISTS (SELECT 1 {_OF_INVOICE})"
    )


def downgrade() -> None:
    op.drop_column("invoices", "dunned_on")
    op.drop_column("invoices", "dunning_level")
