"""the invoice's stored payment reference (BT-83, Belgian structured communication)

Revision ID: 0036_payment_reference
Revises: 0035_delivery_date_defaulted
Create Date: 2026-12-06

``invoices.payment_reference``: the structured communication (OGM/VCS) an invoice of a
Belgian seller in EUR asks its payer to quote, assigned at finalize and unique per
organization (``uq_invoices_org_payment_reference``, partial: where not NULL), so that two
documents whose numbers share their digits (an organization's and a subsidiary's series, a
changed pattern, a manual number) no longer carry the same communication (docs/einvoice.md,
"Payment reference").

The upgrade fills it for the invoices finalized before with the value they were sent with:
derived from the number as the renderers derived it (its last ten digits, left-padded, and
the mod-97 check digits; written out here so that this migration does not change with the
service's code). New finalizes then see those values as taken. Where two earlier invoices of
one organization already share a value, the first finalized keeps it stored and the others
stay NULL: the unique index allows one, and their readers still derive the same value from
the number, so nothing that was sent changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0036_payment_reference"
down_revision: str | Sequence[str] | None = "0035_delivery_date_defaulted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INVOICES = sa.table(
    "invoices",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("currency", sa.String()),
    sa.column("number", sa.String()),
    sa.column("seller", sa.JSON()),
    sa.column("finalized_at", sa.DateTime(timezone=True)),
    sa.column("payment_reference", sa.String()),
)


def derived(number: str) -> str | None:
    """The structured communication the renderers derived from ``number`` before (None: the
    number has no digits, no communication could be made)."""
    digits = "".join(ch for ch in number if ch.isdigit())[-10:]
    base = int(digits) if digits else 0
    if base == 0:
        return None
    value = f"{base:010d}{base % 97 or 97:02d}"
    return f"+++{value[:3]}/{value[3:7]}/{value[7:]}+++"


def _values(conn: sa.Connection) -> list[dict[str, Any]]:
    """(id, organization_id, reference) of the first finalized invoice of each organization's
    derived value, over the finalized EUR invoices of Belgian sellers."""
    rows = conn.execute(
        sa.select(
            _INVOICES.c.id,
            _INVOICES.c.organization_id,
            _INVOICES.c.number,
            _INVOICES.c.seller,
        )
        .where(
            _INVOICES.c.kind == "invoice",
            _INVOICES.c.currency == "EUR",
            _INVOICES.c.number.is_not(None),
        )
        .order_by(_INVOICES.c.organization_id, _INVOICES.c.finalized_at, _INVOICES.c.number)
    )
    seen: set[tuple[Any, str]] = set()
    out: list[dict[str, Any]] = []
    for invoice_id, org_id, number, seller in rows:
        country = ((seller or {}).get("address") or {}).get("country_code")
        reference = derived(number) if country == "BE" else None
        if reference is None or (org_id, reference) in seen:
            continue
        seen.add((org_id, reference))
        out.append({"invoice_id": invoice_id, "reference": reference})
    return out


def upgrade() -> None:
    op.add_column("invoices", sa.Column("payment_reference", sa.String(20), nullable=True))
    conn = op.get_bind()
    values = _values(conn)
    if values:
        conn.execute(
            _INVOICES.update()
            .where(_INVOICES.c.id == sa.bindparam("invoice_id"))
            .values(payment_reference=sa.bindparam("reference")),
            values,
        )
    op.create_index(
        "uq_invoices_org_payment_reference",
        "invoices",
        ["organization_id", "payment_reference"],
        unique=True,
        postgresql_where=sa.text("payment_reference IS NOT NULL"),
        sqlite_where=sa.text("payment_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_invoices_org_payment_reference", table_name="invoices")
    op.drop_column("invoices", "payment_reference")
