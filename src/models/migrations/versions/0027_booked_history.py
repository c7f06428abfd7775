"""what the exports booked stays booked: deleted payments and the euro values of movements

Revision ID: 0027_booked_history
Revises: 0026_customer_search
Create Date: 2026-12-02

Owned by the payment handlers (src/handlers/payments.py, src/handlers/allocations.py) and the
DATEV export (src/exports/datev_db.py). A payment DATEV already has and that is deleted
afterwards is reversed in the export of the day it was deleted; before, it stayed booked on the
Debitor account while the invoice was open again. The same for the unapplied credit of a
payment across invoices (``deleted_credit_entries``). Payments deleted before this migration
are not known (nothing to reverse for them).

``datev_fx_values`` keeps the euro value an export booked for each movement that settles a
foreign-currency document (src/exports/datev_fx.py): later exports keep it, so a payment
recorded with an earlier date than one already exported no longer moves that one's value by a
cent. Movements exported before this migration are computed as before until their next export.
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0027_booked_history"
down_revision: str | Sequence[str] | None = "0026_customer_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEC = invoicing.models.base.ExactDecimal()
TS = invoicing.models.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "deleted_payments",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("amount", DEC, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=True),
        sa.Column("exchange_rate", DEC, nullable=True),
        sa.Column("customer_payment_id", sa.Uuid(), nullable=True),
        sa.Column("deleted_on", sa.Date(), nullable=False),
        sa.Column("deleted_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_deleted_payments")),
    )
    op.create_index(
        "ix_deleted_payments_day",
        "deleted_payments",
        ["organization_id", "deleted_on"],
        unique=False,
    )
    op.create_table(
        "deleted_credit_entries",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", DEC, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=True),
        sa.Column("deleted_on", sa.Date(), nullable=False),
        sa.Column("deleted_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_deleted_credit_entries")),
    )
    op.create_index(
        "ix_deleted_credit_entries_day",
        "deleted_credit_entries",
        ["organization_id", "deleted_on"],
        unique=False,
    )
    op.create_table(
        "datev_fx_values",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("value", DEC, nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("booked_at", TS, nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "document_id", "item_id", name=op.f("pk_datev_fx_values")
        ),
    )


def downgrade() -> None:
    op.drop_table("datev_fx_values")
    op.drop_index("ix_deleted_credit_entries_day", table_name="deleted_credit_entries")
    op.drop_table("deleted_credit_entries")
    op.drop_index("ix_deleted_payments_day", table_name="deleted_payments")
    op.drop_table("deleted_payments")
