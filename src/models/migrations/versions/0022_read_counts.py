"""read counts: an index-only count per status, number order with the issue date

Revision ID: 0022_read_counts
Revises: 0021_search
Create Date: 2026-11-28

Owned by the read side (src/queries/, docs/reads.md, "session 5").

* ``ix_invoices_org_status_live`` (organization_id, status) of the invoices not in the trash:
  ``list_invoices`` filters ``deleted_at IS NULL`` unless asked otherwise, so counting the
  invoices of a status (``exact_total``, and the count of every page filtered by status) is an
  index-only scan of this index instead of a scan of the table (``ix_invoices_org_status``
  has no ``deleted_at``: every row had to be visited to check it).
* ``ix_invoices_org_number_desc`` (organization_id, number DESC NULLS LAST, issue_date),
  PostgreSQL only: the order of ``-number`` (a nullable key sorted descending, which the
  ascending unique index cannot give with NULLs last), with the issue date as a key column so
  that a date range on the way is checked in the index: a quarter sorted by number reads the
  index entries of the newer invoices it passes, not their rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_read_counts"
down_revision: str | Sequence[str] | None = "0021_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "deleted_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_invoices_org_status_live",
        "invoices",
        ["organization_id", "status"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_invoices_org_number_desc",
            "invoices",
            ["organization_id", sa.text("number DESC NULLS LAST"), "issue_date"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_invoices_org_number_desc", table_name="invoices")
    op.drop_index("ix_invoices_org_status_live", table_name="invoices")
