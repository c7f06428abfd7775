"""budgets and subsidiaries: budgets per case/project, budget attributions of entries and lines,
subsidiaries as billing entities with their own number series

Revision ID: 0020_budgets
Revises: 0020_fx
Create Date: 2026-11-28

- ``budgets``: amount, currency, period, services; fed by create/update/close_budget.
- ``billable_entries.budget_id``/``service_id``: the budget (and its service) an entry is work on.
- ``invoices.invoicing_method``: how invoice_billable_entries billed it last (seed 002 filter).
- ``invoice_lines.budget_id``/``service_id``: the budget a line is attributed to (the invoiced
  amount of a budget is the sum of its lines, domain/budgets.py).
- ``subsidiaries``: billing entities of an organization (seller data, bank accounts, series).
- ``number_series.scope``: '' for the organization's own counters, the subsidiary id for a
  subsidiary's own series; part of the primary key (one gapless counter per scope).

Columns are added with plain ADD COLUMN (SQLite keeps the freeze triggers of invoice_lines);
only ``number_series`` (no triggers) is rebuilt on SQLite to change its primary key.
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0020_budgets"
down_revision: str | Sequence[str] | None = "0020_fx"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = invoicing.models.base.JSONType
DEC = invoicing.models.base.ExactDecimal()
TS = invoicing.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=185), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.String(length=200), nullable=True),
        sa.Column("project_reference", sa.String(length=200), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", DEC, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("tax_rate", DEC, nullable=True),
        sa.Column("tax_category", sa.String(length=20), nullable=False),
        sa.Column("services", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_budgets")),
    )
    op.create_index("ix_budgets_org_case", "budgets", ["organization_id", "case_id"])
    op.create_index("ix_budgets_org_project", "budgets", ["organization_id", "project_reference"])
    op.create_table(
        "subsidiaries",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("profile", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_subsidiaries")),
    )
    op.add_column("invoices", sa.Column("invoicing_method", sa.String(length=40), nullable=True))
    for table in ("billable_entries", "invoice_lines"):
        op.add_column(table, sa.Column("budget_id", sa.String(length=200), nullable=True))
        op.add_column(table, sa.Column("service_id", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_billable_entries_budget", "billable_entries", ["organization_id", "budget_id"]
    )
    op.create_index("ix_invoice_lines_budget", "invoice_lines", ["organization_id", "budget_id"])
    with op.batch_alter_table("number_series", recreate="auto") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=200), nullable=False, server_default="")
        )
        batch.drop_constraint("pk_number_series", type_="primary")
        batch.create_primary_key(
            "pk_number_series", ["organization_id", "series", "scope", "period"]
        )


def downgrade() -> None:
    with op.batch_alter_table("number_series", recreate="auto") as batch:
        batch.drop_constraint("pk_number_series", type_="primary")
        batch.drop_column("scope")
        batch.create_primary_key("pk_number_series", ["organization_id", "series", "period"])
    op.drop_index("ix_invoice_lines_budget", table_name="invoice_lines")
    op.drop_index("ix_billable_entries_budget", table_name="billable_entries")
    # plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would trip the freeze triggers
    for table in ("billable_entries", "invoice_lines"):
        for name in ("service_id", "budget_id"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
    op.execute("ALTER TABLE invoices DROP COLUMN invoicing_method")
    op.drop_table("subsidiaries")
    op.drop_index("ix_budgets_org_project", table_name="budgets")
    op.drop_index("ix_budgets_org_case", table_name="budgets")
    op.drop_table("budgets")
