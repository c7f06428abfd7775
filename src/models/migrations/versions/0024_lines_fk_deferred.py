"""lines' foreign key deferred: a new invoice's search document is built once

Revision ID: 0024_lines_fk_deferred
Revises: 0023_write_path
Create Date: 2026-11-29

Owned by the command side (docs/design.md, "Fewer round trips").

``create_invoice`` wrote the invoice and then its lines. On PostgreSQL the invoice's
``BEFORE INSERT`` trigger (0021_search) built its search document without the lines, and the
lines' statement trigger then set it to NULL, which made the row trigger build it again: a
second version of the new invoice row, with an entry in every one of its 18 indexes (the
trigram index of the document included). Measured in the pipeline benchmark, switching the
lines' trigger off took PostgreSQL's CPU from 5.6-5.7 to 4.8 ms per command.

With the foreign key of ``invoice_lines`` to ``invoices`` checked at commit
(``DEFERRABLE INITIALLY DEFERRED``), ``handlers.aggregates.insert`` writes the lines first:
their trigger finds no invoice to mark, and the invoice's trigger finds its lines and builds
the whole document in the one row version the INSERT writes. The key is still checked, at
the end of the transaction: a line whose invoice does not exist then fails the commit.
``ON DELETE CASCADE`` is an action, not a check, and still runs at once (PostgreSQL and SQLite
defer only the check). A command rolled back to its savepoint takes its pending checks with it.

SQLite cannot alter a constraint: the table is rebuilt (a batch of Alembic's), and the three
freeze triggers of 0001_core_tables, which go with the old table, are created again.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024_lines_fk_deferred"
down_revision: str | Sequence[str] | None = "0023_write_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_invoice_lines_organization_id_invoices"

#: SQLite's freeze triggers of invoice_lines, as 0001_core_tables created them
SQLITE_FROZEN = """
    CREATE TRIGGER invoice_lines_frozen_{verb_lower} BEFORE {verb} ON invoice_lines
    WHEN (SELECT finalized_at FROM invoices WHERE organization_id = {row}.organization_id
          AND id = {row}.invoice_id) IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'lines of a finalized invoice cannot change'); END"""


def _set(deferred: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        mode = "DEFERRABLE INITIALLY DEFERRED" if deferred else "NOT DEFERRABLE"
        op.execute(f"ALTER TABLE invoice_lines ALTER CONSTRAINT {FK} {mode}")
        return
    with op.batch_alter_table("invoice_lines", recreate="always") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.create_foreign_key(
            FK,
            "invoices",
            ["organization_id", "invoice_id"],
            ["organization_id", "id"],
            ondelete="CASCADE",
            deferrable=True if deferred else None,
            initially="DEFERRED" if deferred else None,
        )
    for verb, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        op.execute(f"DROP TRIGGER IF EXISTS invoice_lines_frozen_{verb.lower()}")
        op.execute(SQLITE_FROZEN.format(verb_lower=verb.lower(), verb=verb, row=row))


def upgrade() -> None:
    _set(deferred=True)


def downgrade() -> None:
    _set(deferred=False)
