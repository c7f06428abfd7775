"""dunning and sharing: dunning settings, dunning notices, invoice share tokens

Revision ID: 0006_dunning_sharing
Revises: 0001
Create Date: 2026-11-22

Owned by dunning and sharing (src/handlers/dunning.py, src/handlers/sharing.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0006_dunning_sharing"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("dunning",)
depends_on: str | Sequence[str] | None = None

TS = invoicing.models.base.UTCDateTime(timezone=True)
JSON = invoicing.models.base.JSONType
DEC = invoicing.models.base.ExactDecimal()


def upgrade() -> None:
    op.create_table(
        "dunning_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_dunning_settings")),
    )
    op.create_table(
        "dunning_notices",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("sent_at", TS, nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("open_amount", DEC, nullable=False),
        sa.Column("fee", DEC, nullable=False),
        sa.Column("interest", DEC, nullable=False),
        sa.Column("message_id", sa.String(length=250), nullable=False),
        sa.Column("delivery_status", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id", "invoice_id"],
            ["invoices.organization_id", "invoices.id"],
            name=op.f("fk_dunning_notices_organization_id_invoices"),
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "invoice_id", "level", name=op.f("pk_dunning_notices")
        ),
    )
    op.create_index(
        "ix_dunning_notices_org_sent", "dunning_notices", ["organization_id", "sent_at"]
    )
    op.create_table(
        "invoice_shares",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id", "invoice_id"],
            ["invoices.organization_id", "invoices.id"],
            name=op.f("fk_invoice_shares_organization_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_invoice_shares")),
    )
    op.create_index(
        "ix_invoice_shares_invoice", "invoice_shares", ["organization_id", "invoice_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_shares_invoice", table_name="invoice_shares")
    op.drop_table("invoice_shares")
    op.drop_index("ix_dunning_notices_org_sent", table_name="dunning_notices")
    op.drop_table("dunning_notices")
    op.drop_table("dunning_settings")
