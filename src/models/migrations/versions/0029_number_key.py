"""number key: the numbering's order for ``number`` and ``-number``

Revision ID: 0029_number_key
Revises: 0028_write_off_ids
Create Date: 2026-12-03

Owned by the read side (src/queries/filters.py, docs/reads.md, docs/seed-mapping.md "Sorts of
the invoice list"). ``number`` sorted the number as text, so ``RE-2026-10000`` came before
``RE-2026-9999`` and ``10/2026`` before ``9/2026``.

* ``invoices.number_key``: ``domain.numbering.number_key(number)`` (digit runs by their value,
  the rest by code point; NULL for a document without a number), set by the service wherever
  it sets a number. On PostgreSQL the column's collation is ``C`` (bytes, so code points), so
  it orders as SQLite's ``BINARY`` does whatever the database's default collation is.
* The existing rows are filled here, in batches of ``BATCH`` in key order, by the same Python
  function the service uses (the key cannot be written in SQL alike on both backends: SQLite
  has no regular expressions). The frozen-content guards of 0001 do not cover the column: it
  is derived from the number, not content, and a later change of the key would fill it again.
* ``ix_invoices_org_number_key`` (organization_id, number_key, issue_date) serves ``number``
  (before: the unique index on the number), ``ix_invoices_org_number_key_desc``
  (organization_id, number_key DESC NULLS LAST, issue_date; PostgreSQL only) serves
  ``-number`` and replaces 0022's ``ix_invoices_org_number_desc``; both check a date range in
  their entries (docs/reads.md). The downgrade restores 0022's index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from invoicing.domain.numbering import NUMBER_KEY_LENGTH, number_key

revision: str = "0029_number_key"
down_revision: str | Sequence[str] | None = "0028_write_off_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
KEY_TYPE = sa.String(NUMBER_KEY_LENGTH).with_variant(
    sa.String(NUMBER_KEY_LENGTH, collation="C"), "postgresql"
)


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.add_column("invoices", sa.Column("number_key", KEY_TYPE, nullable=True))
    _fill(bind)
    op.create_index(
        "ix_invoices_org_number_key", "invoices", ["organization_id", "number_key", "issue_date"]
    )
    if postgresql:
        op.drop_index("ix_invoices_org_number_desc", table_name="invoices")
        op.create_index(
            "ix_invoices_org_number_key_desc",
            "invoices",
            ["organization_id", sa.text("number_key DESC NULLS LAST"), "issue_date"],
        )


def _fill(bind: sa.Connection) -> None:
    """Every numbered invoice's key, ``BATCH`` rows a statement, walked by primary key."""
    invoices = sa.table(
        "invoices",
        sa.column("organization_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("number", sa.String()),
        sa.column("number_key", sa.String()),
    )
    c = invoices.c
    fill = (
        sa.update(invoices)
        .where(c.organization_id == sa.bindparam("org"), c.id == sa.bindparam("iid"))
        .values(number_key=sa.bindparam("key"))
    )
    after: tuple[Any, Any] | None = None
    while True:
        page = sa.select(c.organization_id, c.id, c.number).where(c.number.is_not(None))
        if after is not None:
            page = page.where(sa.tuple_(c.organization_id, c.id) > sa.tuple_(*after))
        rows = bind.execute(page.order_by(c.organization_id, c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(fill, [{"org": o, "iid": i, "key": number_key(n)} for o, i, n in rows])
        after = (rows[-1][0], rows[-1][1])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_invoices_org_number_key_desc", table_name="invoices")
        op.create_index(
            "ix_invoices_org_number_desc",
            "invoices",
            ["organization_id", sa.text("number DESC NULLS LAST"), "issue_date"],
        )
    op.drop_index("ix_invoices_org_number_key", table_name="invoices")
    op.drop_column("invoices", "number_key")  # SQLite 3.35+: ALTER TABLE ... DROP COLUMN
