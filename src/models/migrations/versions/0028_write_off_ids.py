"""write-off ids once per organization

Revision ID: 0028_write_off_ids
Revises: 0027_booked_history
Create Date: 2026-12-02

Owned by the write-off handlers (src/handlers/writeoffs.py). A write-off lives in its
invoice's ledger, where its id was unique per invoice only; the DATEV export marks and reverses
it under that id, so two invoices written off under one id made the export fail (a duplicate
mark) or count the second as exported. ``write_off_ids`` holds every write-off's id once per
organization; ``write_off_invoice`` refuses an id already taken. The ids already in the ledgers
are copied over: of an id on several invoices, the first invoice's by id. The later ones are
left as they are and named in a warning: an export of a range holding two of them still fails
on the second mark, as it did before; docs/datev.md.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_write_off_ids"
down_revision: str | Sequence[str] | None = "0027_booked_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "write_off_ids",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_write_off_ids")),
    )
    invoices = sa.table(
        "invoices",
        sa.column("organization_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("ledger", sa.Text()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(invoices.c.organization_id, invoices.c.id, sa.cast(invoices.c.ledger, sa.Text))
        .where(sa.cast(invoices.c.ledger, sa.Text).like('%"write_off"%'))
        .order_by(invoices.c.organization_id, invoices.c.id)
    )
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    found: list[dict[str, uuid.UUID]] = []
    for org, invoice_id, ledger in rows:
        for movement in json.loads(ledger or "[]"):
            if movement.get("kind") != "write_off" or not movement.get("document_id"):
                continue
            key = (org, uuid.UUID(str(movement["document_id"])))
            if key in seen:
                logging.getLogger("alembic.runtime.migration").warning(
                    "write-off %s of organization %s is on more than one invoice (also %s): "
                    "an export of its range fails on it (docs/datev.md)",
                    key[1],
                    org,
                    invoice_id,
                )
                continue
            seen.add(key)
            found.append({"organization_id": key[0], "id": key[1], "invoice_id": invoice_id})
    if found and table is not None:
        op.bulk_insert(table, found)


def downgrade() -> None:
    op.drop_table("write_off_ids")
