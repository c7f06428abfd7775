"""reads: people and CRM references and per-invoice overrides on invoices, indexes for the list
filters and sorts

Revision ID: 0013_reads
Revises: 0016_cluster
Create Date: 2026-11-28

Owned by the read side (src/queries/). Adds the publisher-set references (creator, issuer,
responsible, subscribers, deal, subsidiary) and the indexes that keep list_invoices, open_items
and full_query fast on large organizations. On PostgreSQL ``full_query`` uses trigram indexes
(extension pg_trgm, shipped with PostgreSQL's contrib; creating it needs the CREATE privilege
on the database, which the migrating role has when it owns the database).
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0013_reads"
down_revision: str | Sequence[str] | None = "0016_cluster"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = invoicing.models.base.JSONType
REFS = ("creator_id", "issuer_id", "responsible_id", "deal_id", "subsidiary_id")
#: per-invoice overrides: (name, type)
OVERRIDES = (
    ("subject", sa.String(length=200)),
    ("recipient_text", sa.Text()),
    ("invoicing_party_text", sa.Text()),
    ("vat_number", sa.String(length=20)),
    ("bank_account_id", sa.String(length=200)),
)

#: (name, columns) of plain b-tree indexes, every one led by the organization
INDEXES = (
    ("ix_invoices_org_created", ("organization_id", "created_at")),
    ("ix_invoices_org_updated", ("organization_id", "updated_at")),
    ("ix_invoices_org_due_date", ("organization_id", "due_date")),
    ("ix_invoices_org_credited_invoice", ("organization_id", "credited_invoice_id")),
    ("ix_invoices_org_creator", ("organization_id", "creator_id")),
    ("ix_invoices_org_responsible", ("organization_id", "responsible_id")),
    ("ix_invoices_org_deal", ("organization_id", "deal_id")),
    ("ix_invoices_org_gross", ("organization_id", "gross_total")),
)
#: DESC NULLS LAST orders of nullable sort keys (ASC NULLS LAST is the plain index forwards)
DESC_INDEXES = (
    ("ix_invoices_org_issue_date_desc", "issue_date"),
    ("ix_invoices_org_due_date_desc", "due_date"),
)
#: trigram indexes for full_query and ``contains`` (PostgreSQL only)
TRGM = (
    (
        "ix_invoices_trgm_text",
        "invoices",
        "lower(coalesce(number, '') || ' ' || coalesce(purchase_order_number, '') || ' ' || "
        "coalesce(buyer ->> 'name', '') || ' ' || coalesce(buyer ->> 'email', '') || ' ' || "
        "coalesce(tags::text, ''))",
    ),
    (
        "ix_invoice_lines_trgm_text",
        "invoice_lines",
        "lower(coalesce(description, '') || ' ' || coalesce(subtitle, ''))",
    ),
)


def upgrade() -> None:
    # plain ADD COLUMN on both backends (no table rebuild: SQLite keeps the freeze triggers)
    for name in REFS:
        op.add_column("invoices", sa.Column(name, sa.String(length=200), nullable=True))
    op.add_column(
        "invoices",
        sa.Column("subscriber_ids", JSON, nullable=False, server_default="[]"),
    )
    for name, type_ in OVERRIDES:
        op.add_column("invoices", sa.Column(name, type_, nullable=True))
    for name, columns in INDEXES:
        op.create_index(name, "invoices", list(columns))
    if op.get_bind().dialect.name == "postgresql":
        for name, column in DESC_INDEXES:
            order = sa.text(f"{column} DESC NULLS LAST")
            op.create_index(name, "invoices", ["organization_id", order])
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, expression in TRGM:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _expression in TRGM:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        for name, _column in DESC_INDEXES:
            op.drop_index(name, table_name="invoices")
    for name, _columns in INDEXES:
        op.drop_index(name, table_name="invoices")
    # plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would trip the freeze triggers
    for name in ("subscriber_ids", *REFS, *(name for name, _type in OVERRIDES)):
        op.execute(f"ALTER TABLE invoices DROP COLUMN {name}")
