"""search: a per-invoice search document for full_query, kept by PostgreSQL

Revision ID: 0021_search
Revises: 0020_docstore
Create Date: 2026-11-28

Owned by the read side (src/queries/filters.py, ``_full_query``). On PostgreSQL
``invoices.search_text`` holds, lower-cased and joined by spaces, the invoice's own texts
(number, purchase order, buyer name and email, tags as JSON text: the expression of
``ix_invoices_trgm_text``) followed by every line's description and subtitle (the expression of
``ix_invoice_lines_trgm_text``). One trigram GIN index over it answers every word of a query,
the words combined by a bitmap AND.

Triggers keep it current inside PostgreSQL (no extra statement from the service):

* ``invoices_search_text`` BEFORE INSERT OR UPDATE, row level, fires on insert and when one of
  the own texts changes or ``search_text`` is set to NULL; it rebuilds ``NEW.search_text`` from
  the row and its lines. It sorts after ``invoices_frozen`` (triggers fire by name) and
  ``search_text`` is no frozen column: tags may change on a finalized invoice.
* ``invoice_lines_search_{insert,update,delete}`` AFTER ..., statement level with transition
  tables, set ``search_text = NULL`` on the invoices whose lines changed text (or moved), which
  makes the trigger above rebuild it. Lines of finalized invoices cannot change
  (``invoice_lines_frozen``), so these updates never touch a frozen invoice; lines deleted by
  the cascade of their invoice's delete find no invoice left to update.

On SQLite the column exists (the models are one schema) and stays NULL: full_query there
keeps the union of the own, line and customer matches.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_search"
down_revision: str | Sequence[str] | None = "0020_docstore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: spelled as ix_invoices_trgm_text / ix_invoice_lines_trgm_text of 0013_reads, with ``inv.``
#: and ``l.`` for the tables
OWN = (
    "lower(coalesce({t}number, '') || ' ' || coalesce({t}purchase_order_number, '') || ' ' || "
    "coalesce({t}buyer ->> 'name', '') || ' ' || coalesce({t}buyer ->> 'email', '') || ' ' || "
    "coalesce({t}tags::text, ''))"
)
LINES = (
    "coalesce((SELECT string_agg(lower(coalesce(l.description, '') || ' ' || "
    "coalesce(l.subtitle, '')), ' ' ORDER BY l.position, l.id) FROM invoice_lines l "
    "WHERE l.organization_id = {t}organization_id AND l.invoice_id = {t}id), '')"
)
#: the document of one invoice row (``inv.`` for a table, ``NEW.`` in the trigger)
DOCUMENT = f"{OWN} || ' ' || {LINES}"
#: the own columns whose change rebuilds the document
OWN_COLUMNS = ("number", "purchase_order_number", "buyer", "tags")

#: the invoices whose lines' texts changed in a statement, by trigger
STALE = {
    "insert": "SELECT organization_id, invoice_id FROM new_lines",
    "delete": "SELECT organization_id, invoice_id FROM old_lines",
    "update": (
        "SELECT n.organization_id, n.invoice_id FROM new_lines n "
        "JOIN old_lines o ON o.organization_id = n.organization_id AND o.id = n.id "
        "WHERE n.description IS DISTINCT FROM o.description "
        "OR n.subtitle IS DISTINCT FROM o.subtitle OR n.invoice_id IS DISTINCT FROM o.invoice_id "
        "UNION SELECT o.organization_id, o.invoice_id FROM old_lines o "
        "JOIN new_lines n ON n.organization_id = o.organization_id AND n.id = o.id "
        "WHERE n.invoice_id IS DISTINCT FROM o.invoice_id"
    ),
}
REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_lines",
    "delete": "REFERENCING OLD TABLE AS old_lines",
    "update": "REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines",
}


def upgrade() -> None:
    op.add_column("invoices", sa.Column("search_text", sa.Text(), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"UPDATE invoices inv SET search_text = {DOCUMENT.format(t='inv.')}")
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in OWN_COLUMNS)
    op.execute(f"""
        CREATE FUNCTION invoices_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW.search_text := {DOCUMENT.format(t="NEW.")};
          RETURN NEW;
        END $$""")
    op.execute("""
        CREATE TRIGGER invoices_search_text_insert BEFORE INSERT ON invoices
        FOR EACH ROW EXECUTE FUNCTION invoices_search_text()""")
    op.execute(f"""
        CREATE TRIGGER invoices_search_text_update BEFORE UPDATE ON invoices
        FOR EACH ROW WHEN (NEW.search_text IS NULL OR {changed})
        EXECUTE FUNCTION invoices_search_text()""")
    for verb, stale in STALE.items():
        op.execute(f"""
            CREATE FUNCTION invoice_lines_search_{verb}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE invoices SET search_text = NULL
               WHERE (organization_id, id) IN ({stale});
              RETURN NULL;
            END $$""")
        op.execute(f"""
            CREATE TRIGGER invoice_lines_search_{verb} AFTER {verb.upper()} ON invoice_lines
            {REFERENCING[verb]} FOR EACH STATEMENT
            EXECUTE FUNCTION invoice_lines_search_{verb}()""")
    op.execute(
        "CREATE INDEX ix_invoices_search_text ON invoices USING gin (search_text gin_trgm_ops)"
    )
    # statistics of the new column at once: without them a selective word counts as 1 % of the
    # rows and the planner walks a sort index instead of the trigram index
    op.execute("ANALYZE invoices")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_invoices_search_text")
        for verb in STALE:
            op.execute(f"DROP TRIGGER IF EXISTS invoice_lines_search_{verb} ON invoice_lines")
            op.execute(f"DROP FUNCTION IF EXISTS invoice_lines_search_{verb}()")
        op.execute("DROP TRIGGER IF EXISTS invoices_search_text_update ON invoices")
        op.execute("DROP TRIGGER IF EXISTS invoices_search_text_insert ON invoices")
        op.execute("DROP FUNCTION IF EXISTS invoices_search_text()")
    # plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would trip the freeze triggers
    op.execute("ALTER TABLE invoices DROP COLUMN search_text")
