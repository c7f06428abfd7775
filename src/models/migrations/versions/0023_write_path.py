"""write path: drop the two trigram indexes that no query uses since 0021_search

Revision ID: 0023_write_path
Revises: 0022_read_counts
Create Date: 2026-11-29

Owned by the command side (docs/design.md, "Fewer round trips").

Since 0021_search, ``full_query`` on PostgreSQL reads the one search document
``invoices.search_text`` and its trigram index; the expression indexes of 0013_reads
(``ix_invoices_trgm_text`` over the invoice's own texts, ``ix_invoice_lines_trgm_text`` over a
line's texts) are used only by the union form of SQLite, where they do not exist. They were
kept up on every write nevertheless: a trigram GIN entry per new invoice row version and per
line. Measured with pg_stat_statements during the pipeline benchmark, the line insert was the
costliest statement of a create after the series lock (3.3 ms against 0.1 ms for the inbox
insert), and every non-HOT update of an invoice row wrote both trigram indexes.

Downgrade builds them again (as 0013_reads did).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023_write_path"
down_revision: str | Sequence[str] | None = "0022_read_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: as 0013_reads created them
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
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _expression in TRGM:
            op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, expression in TRGM:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}) gin_trgm_ops)")
