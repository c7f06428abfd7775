"""exports: DATEV settings, debtor accounts, export runs and marks

Revision ID: 0004_exports
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0004_exports"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("exports",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
TS = invoicing.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datev_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_datev_settings")),
    )
    op.create_table(
        "datev_debtor_accounts",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_key", sa.String(length=80), nullable=False),
        sa.Column("account", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "customer_key", name=op.f("pk_datev_debtor_accounts")
        ),
        sa.UniqueConstraint(
            "organization_id", "account", name=op.f("uq_datev_debtor_accounts_organization_id")
        ),
    )
    op.create_table(
        "export_runs",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("options", JSON, nullable=False),
        sa.Column("location", sa.String(length=1000), nullable=False),
        sa.Column("checksum", sa.String(length=71), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("files", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_export_runs")),
    )
    op.create_index("ix_export_runs_org_created", "export_runs", ["organization_id", "created_at"])
    op.create_table(
        "export_marks",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=12), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("marked_at", TS, nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "target", "item_id", name=op.f("pk_export_marks")
        ),
    )
    op.create_index("ix_export_marks_export", "export_marks", ["organization_id", "export_id"])


def downgrade() -> None:
    op.drop_index("ix_export_marks_export", table_name="export_marks")
    op.drop_table("export_marks")
    op.drop_index("ix_export_runs_org_created", table_name="export_runs")
    op.drop_table("export_runs")
    op.drop_table("datev_debtor_accounts")
    op.drop_table("datev_settings")
