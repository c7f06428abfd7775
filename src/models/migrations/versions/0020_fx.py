"""foreign currency: the exchange rate a payment was received at

Revision ID: 0020_fx
Revises: 0020_alloc
Create Date: 2026-11-28

Owned by fx (src/domain/fx.py). ``payments.exchange_rate`` (organization-currency units per
invoice-currency unit on the payment's date) is set when a foreign-currency invoice's payment
came in at another rate than the invoice's frozen one; the realised exchange difference follows
from the two rates. Existing payments keep NULL (booked at the invoice's rate, no difference).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0020_fx"
down_revision: str | Sequence[str] | None = "0020_alloc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column("exchange_rate", invoicing.models.base.ExactDecimal(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("exchange_rate")
