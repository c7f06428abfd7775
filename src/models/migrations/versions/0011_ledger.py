"""ledger per tax group: movements (credits, write-offs), credited net, written off, paid_on

Revision ID: 0011_ledger
Revises: 0008_locks
Create Date: 2026-11-28

Owned by ledger (src/domain/ledger.py). Existing credited invoices get their ledger rebuilt from
the VAT breakdowns of their credit notes; paid invoices get ``paid_on`` from their payments.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0011_ledger"
down_revision: str | Sequence[str] | None = "0008_locks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = invoicing.models.base.JSONType
DEC = invoicing.models.base.ExactDecimal()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    # plain ALTER TABLE (SQLite >= 3.35 too): a batch copy of ``invoices`` would trip over the
    # immutability triggers of 0001 that name the table
    op.add_column("invoices", sa.Column("ledger", JSON, nullable=False, server_default="[]"))
    op.add_column("invoices", sa.Column("credited_net", DEC, nullable=False, server_default="0"))
    op.add_column(
        "invoices", sa.Column("written_off_amount", DEC, nullable=False, server_default="0")
    )
    op.add_column("invoices", sa.Column("paid_on", sa.Date(), nullable=True))
    op.add_column("invoices", sa.Column("exchange_rate_date", sa.Date(), nullable=True))

    bind = op.get_bind()
    inv = sa.table(
        "invoices",
        sa.column("organization_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("number", sa.String()),
        sa.column("issue_date", sa.Date()),
        sa.column("credited_invoice_id", sa.Uuid()),
        sa.column("credit_reason", sa.Text()),
        sa.column("tax_breakdown", JSON),
        sa.column("ledger", JSON),
        sa.column("credited_net", DEC),
        sa.column("paid_on", sa.Date()),
    )
    pay = sa.table(
        "payments",
        sa.column("organization_id", sa.Uuid()),
        sa.column("invoice_id", sa.Uuid()),
        sa.column("date", sa.Date()),
    )
    notes = bind.execute(
        sa.select(
            inv.c.organization_id,
            inv.c.id,
            inv.c.number,
            inv.c.issue_date,
            inv.c.credited_invoice_id,
            inv.c.credit_reason,
            inv.c.tax_breakdown,
        )
        .where(
            inv.c.kind == "credit_note",
            inv.c.credited_invoice_id.is_not(None),
            inv.c.status != "draft",
        )
        .order_by(inv.c.issue_date, inv.c.number)
    ).all()
    ledgers: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for org_id, cn_id, number, issued, invoice_id, reason, breakdown in notes:
        ledgers.setdefault((org_id, invoice_id), []).append(
            {
                "kind": "credit",
                "date": issued.isoformat(),
                "document_id": str(cn_id),
                "number": number,
                "reason": reason,
                "groups": [
                    {
                        "category": g["category"],
                        "rate": f"{Decimal(str(g['rate'])).normalize():f}",
                        "net": str(g["taxable_amount"]),
                        "tax": str(g["tax_amount"]),
                    }
                    for g in _json(breakdown) or []
                ],
            }
        )
    for (org_id, invoice_id), movements in ledgers.items():
        net = sum((Decimal(g["net"]) for m in movements for g in m["groups"]), Decimal(0))
        bind.execute(
            inv.update()
            .where(inv.c.organization_id == org_id, inv.c.id == invoice_id)
            .values(ledger=movements, credited_net=net)
        )
    paid = bind.execute(
        sa.select(inv.c.organization_id, inv.c.id, sa.func.max(pay.c.date))
        .join(
            pay,
            sa.and_(pay.c.organization_id == inv.c.organization_id, pay.c.invoice_id == inv.c.id),
        )
        .where(inv.c.status == "paid")
        .group_by(inv.c.organization_id, inv.c.id)
    ).all()
    for org_id, invoice_id, last in paid:
        bind.execute(
            inv.update()
            .where(inv.c.organization_id == org_id, inv.c.id == invoice_id)
            .values(paid_on=last)
        )


def downgrade() -> None:
    for name in ("exchange_rate_date", "paid_on", "written_off_amount", "credited_net", "ledger"):
        op.drop_column("invoices", name)
