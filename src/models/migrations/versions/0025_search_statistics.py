"""a larger statistics sample for the search document, so a search's plan stays put

Revision ID: 0025_search_statistics
Revises: 0024_lines_fk_deferred
Create Date: 2026-11-29

Owned by the read side (docs/reads.md, "The plan of a search").

A ``full_query`` is an AND of one condition per word (the trigram index of
``invoices.search_text``, or the customers matching the word). PostgreSQL estimates a
``LIKE '%word%'`` from the column's statistics sample; with the default target (100: a sample
of 30,000 rows) that estimate moved by several times from one ``ANALYZE`` to the next on the
benchmark's million invoices, and with it the plan of a selective search newest first: about
one ``ANALYZE`` in three made the planner expect some 600 matches where there were 56 and walk
the whole ``created_at`` index for them (280-310 ms) instead of a bitmap of the matches and a
sort (10-12 ms). With a target of 1,000 for this column (a sample of 300,000 rows), twelve
``ANALYZE`` runs (and six with 400) gave the right plan every time, for the selective search
and for a broad one (which walks the index, 8-9 ms). ``ANALYZE invoices`` then takes about 9 s on a
million rows instead of 0.8 s; autovacuum runs it in the background.

SQLite has no such setting: nothing to do there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0025_search_statistics"
down_revision: str | Sequence[str] | None = "0024_lines_fk_deferred"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGET = 1000


def _set(target: int) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE invoices ALTER COLUMN search_text SET STATISTICS {target}")


def upgrade() -> None:
    _set(TARGET)


def downgrade() -> None:
    _set(-1)  # the default target
