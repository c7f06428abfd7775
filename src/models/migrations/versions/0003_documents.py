"""documents: stored document files (SHA-256) and email deliveries

Revision ID: 0003_documents
Revises: 0001
Create Date: 2026-11-21

Owned by documents and sending (src/documents, src/mail, src/handlers/sending.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0003_documents"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("documents",)
depends_on: str | Sequence[str] | None = None

TS = invoicing.models.base.UTCDateTime(timezone=True)
JSON = invoicing.models.base.JSONType


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "invoice_id", "kind", name=op.f("pk_documents")),
    )
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("message_id", sa.String(length=250), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_deliveries_message_id")),
        sa.UniqueConstraint(
            "organization_id",
            "command_id",
            "purpose",
            name=op.f("uq_email_deliveries_organization_id"),
        ),
    )
    op.create_index(
        "ix_email_deliveries_invoice",
        "email_deliveries",
        ["organization_id", "invoice_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_email_deliveries_invoice", table_name="email_deliveries")
    op.drop_table("email_deliveries")
    op.drop_table("documents")
