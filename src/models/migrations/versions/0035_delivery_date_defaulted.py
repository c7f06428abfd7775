"""whether an invoice's delivery date is the one finalize filled in

Revision ID: 0035_delivery_date_defaulted
Revises: 0034_default_note
Create Date: 2026-12-03

``invoices.delivery_date_defaulted``: finalize gives a draft without delivery date or service
period its issue date as Leistungsdatum (``domain.finalize.dates``) and marks it; a duplicate
(``duplicate_invoice``) then does not carry it as if the user had set it
(``domain.finalize.copied_delivery_date``). Existing documents cannot tell, so a finalized
invoice or quote whose delivery date is its issue date and has no service period is taken as
filled in (the draft's date of a user who set it to the issue date is dropped from a copy,
which the copy's finalize gives its own issue date instead).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_delivery_date_defaulted"
down_revision: str | Sequence[str] | None = "0034_default_note"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "invoices",
        sa.Column(
            "delivery_date_defaulted", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.execute(
        "UPDATE invoices SET delivery_date_defaulted = true WHERE finalized_at IS NOT NULL "
        "AND kind IN ('invoice', 'quote') AND delivery_date = issue_date "
        "AND service_period_start IS NULL"
    )


def downgrade() -> None:
    op.drop_column("invoices", "delivery_date_defaulted")
