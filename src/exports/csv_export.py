"""CSV export of invoices with the list filters, safe against spreadsheet formula injection.

UTF-8 (optionally with BOM for Excel), configurable delimiter, RFC 4180 quoting, CRLF. A text
cell that begins with ``=``, ``+``, ``-``, ``@``, TAB or CR is prefixed with ``'`` so that a
spreadsheet shows it as text instead of evaluating it (OWASP "CSV injection"). Amounts and
dates are written by us in a fixed plain format (``1234.50``, ``2026-01-31``) and are never
user text. Rows are streamed from a server-side cursor.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoicing.domain.calendar import Calendar
from invoicing.domain.money import ZERO, round_money
from invoicing.models.core import Invoice
from invoicing.observability.progress import ProgressLog
from invoicing.queries.filters import invoice_conditions
from invoicing.schemas.filters import InvoiceFilter
from sqlalchemy import Connection, Select, select

COLUMNS = (
    "id",
    "number",
    "kind",
    "status",
    "overdue",
    "issue_date",
    "due_date",
    "delivery_date",
    "customer_id",
    "customer_name",
    "customer_vat_id",
    "customer_country",
    "case_id",
    "project_reference",
    "purchase_order_number",
    "currency",
    "net_total",
    "tax_total",
    "gross_total",
    "paid_amount",
    "credited_amount",
    "written_off_amount",
    "open_amount",
    "exchange_rate",
    "credited_invoice_id",
    "export_status",
    "exported_at",
    "finalized_at",
    "sent_at",
    "paid_at",
    "voided_at",
    "deleted_at",
    "tags",
    # since session 36, after the others so that a reader by position reads on
    "dunning_level",
    "dunned_on",
    # since session 38: what the customer paid beyond what the invoice owes, kept as credit
    # (the state's totals.credit_balance)
    "credit_balance",
)

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate as a formula with ``'``."""
    if value and value.startswith(_DANGEROUS):
        return "'" + value
    return value


def apply_filters(
    stmt: Select[Any], org: uuid.UUID, f: InvoiceFilter, cal: Calendar, dialect: str
) -> Select[Any]:
    """The invoice list filter, implemented once in ``invoicing.queries.filters``."""
    conditions = invoice_conditions(f, dialect, org, cal)
    return stmt.where(Invoice.organization_id == org, *conditions)


def _money(value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    try:
        return str(round_money(value, currency))
    except ValueError:
        return str(value)


def _stamp(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


def write_invoice_csv(
    conn: Connection,
    org: uuid.UUID,
    filters: InvoiceFilter,
    path: Path,
    *,
    delimiter: str = ",",
    bom: bool = False,
    cal: Calendar | None = None,
) -> int:
    """Stream the matching invoices into ``path``; returns the number of data rows. ``cal``:
    the organization's calendar (fuzzy dates, aging, timestamps' days); UTC's by default."""
    inv = Invoice
    stmt = select(
        inv.id,
        inv.number,
        inv.kind,
        inv.status,
        inv.overdue,
        inv.issue_date,
        inv.due_date,
        inv.delivery_date,
        inv.customer_id,
        inv.buyer["name"].as_string(),
        inv.buyer["vat_id"].as_string(),
        inv.buyer[("address", "country_code")].as_string(),
        inv.case_id,
        inv.project_reference,
        inv.purchase_order_number,
        inv.currency,
        inv.net_total,
        inv.tax_total,
        inv.gross_total,
        inv.paid_amount,
        inv.credited_amount,
        inv.written_off_amount,
        inv.exchange_rate,
        inv.credited_invoice_id,
        inv.exported_at,
        inv.finalized_at,
        inv.sent_at,
        inv.paid_at,
        inv.voided_at,
        inv.deleted_at,
        inv.tags,
        inv.dunning_level,
        inv.dunned_on,
    )
    cal = cal or Calendar.fixed("UTC")
    # by date, then in the numbering's order (domain.numbering.number_key), a missing number
    # last on both backends
    query = apply_filters(stmt, org, filters, cal, conn.dialect.name).order_by(
        inv.issue_date.is_(None), inv.issue_date, inv.number_key.asc().nulls_last(), inv.id
    )
    count = 0
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(
            fh, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL
        )
        writer.writerow(COLUMNS)
        result = conn.execute(query, execution_options={"stream_results": True, "yield_per": 1000})
        progress = ProgressLog("export.csv.progress", file=path.name)
        for r in result:
            progress.tick()
            cur = r.currency
            gross, paid, credited = r.gross_total, r.paid_amount, r.credited_amount
            # only finalized invoices are receivables (handlers.views.open_amount)
            receivable = r.kind == "invoice" and r.status not in ("draft", "void")
            owed = gross - paid - credited - r.written_off_amount
            open_amount = max(owed, ZERO) if receivable else ZERO
            # handlers.views.credit_balance: any finalized invoice, a void one included
            overpaid = -owed if r.kind == "invoice" and r.status != "draft" and owed < 0 else ZERO
            text_cells = (
                r.number or "",
                r[9] or "",
                r[10] or "",
                r[11] or "",
                r.case_id or "",
                r.project_reference or "",
                r.purchase_order_number or "",
            )
            t = [neutralize(str(c)) for c in text_cells]
            tags = ", ".join(str(x) for x in (r.tags or []))
            writer.writerow(
                (
                    str(r.id),
                    t[0],
                    r.kind,
                    r.status,
                    "true" if r.overdue else "false",
                    r.issue_date.isoformat() if r.issue_date else "",
                    r.due_date.isoformat() if r.due_date else "",
                    r.delivery_date.isoformat() if r.delivery_date else "",
                    str(r.customer_id) if r.customer_id else "",
                    t[1],
                    t[2],
                    t[3],
                    t[4],
                    t[5],
                    t[6],
                    cur,
                    _money(r.net_total, cur),
                    _money(r.tax_total, cur),
                    _money(gross, cur),
                    _money(paid, cur),
                    _money(credited, cur),
                    _money(r.written_off_amount, cur),
                    _money(open_amount, cur),
                    str(r.exchange_rate) if r.exchange_rate is not None else "",
                    str(r.credited_invoice_id) if r.credited_invoice_id else "",
                    "exported" if r.exported_at else "unexported",
                    _stamp(r.exported_at),
                    _stamp(r.finalized_at),
                    _stamp(r.sent_at),
                    _stamp(r.paid_at),
                    _stamp(r.voided_at),
                    _stamp(r.deleted_at),
                    neutralize(tags),
                    str(r.dunning_level),
                    r.dunned_on.isoformat() if r.dunned_on else "",
                    _money(overpaid, cur),
                )
            )
            count += 1
    return count
