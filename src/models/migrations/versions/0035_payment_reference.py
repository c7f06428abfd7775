"""the invoice's stored payment reference (BT-83, Belgian structured communication)

Revision ID: 0035_payment_reference
Revises: 0034_default_note
Create Date: 2026-12-06

``invoices.payment_reference``: the structured communication (OGM/VCS) an invoice of a
Belgian seller in EUR asks its payer to quote, assigned at finalize and unique per
organization (``uq_invoices_org_payment_reference``, partial: where not NULL), so that two
documents whose numbers share their digits (an organization's and a subsidiary's series, a
changed pattern) no longer carry the same communication (docs/einvoice.md).

Documents finalized before keep NULL and the readers derive their communication from the
number as before: that is what they were sent with, and filling it in here could not be made
unique (two such documents may already share one value, which the index would refuse).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_payment_reference"
down_revision: str | Sequence[str] | None = "0034_default_note"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("payment_reference", sa.String(20), nullable=True))
    op.create_index(
        "uq_invoices_org_payment_reference",
        "invoices",
        ["organization_id", "payment_reference"],
        unique=True,
        postgresql_where=sa.text("payment_reference IS NOT NULL"),
        sqlite_where=sa.text("payment_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_invoices_org_payment_reference", table_name="invoices")
    op.drop_column("invoices", "payment_reference")
