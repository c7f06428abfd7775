"""payments across invoices: customer payments, their allocations, the customers' unapplied credit

Revision ID: 0020_alloc
Revises: 0013_reads
Create Date: 2026-11-28

Owned by allocation (src/domain/allocation.py, src/handlers/allocations.py). ``payments`` rows
become the allocations of a customer payment (``customer_payment_id``) or applications of a
customer's credit (``credit_entry_id``); existing rows keep both NULL (a payment of one invoice).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0020_alloc"
down_revision: str | Sequence[str] | None = "0013_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEC = invoicing.models.base.ExactDecimal()
TS = invoicing.models.base.UTCDateTime()


def upgrade() -> None:
    op.add_column("payments", sa.Column("customer_payment_id", sa.Uuid(), nullable=True))
    op.add_column("payments", sa.Column("credit_entry_id", sa.Uuid(), nullable=True))
    op.create_table(
        "customer_payments",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", DEC, nullable=False),
        sa.Column("unapplied", DEC, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=True),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_customer_payments")),
    )
    op.create_index(
        "ix_customer_payments_customer",
        "customer_payments",
        ["organization_id", "customer_id"],
        unique=False,
    )
    op.create_table(
        "customer_credit_entries",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", DEC, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("customer_payment_id", sa.Uuid(), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("method", sa.String(length=30), nullable=True),
        sa.Column("reference", sa.String(length=140), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_customer_credit_entries")),
    )
    op.create_index(
        "ix_customer_credit_customer",
        "customer_credit_entries",
        ["organization_id", "customer_id", "currency"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_customer_credit_customer", table_name="customer_credit_entries")
    op.drop_table("customer_credit_entries")
    op.drop_index("ix_customer_payments_customer", table_name="customer_payments")
    op.drop_table("customer_payments")
    op.drop_column("payments", "credit_entry_id")
    op.drop_column("payments", "customer_payment_id")
