"""Invoice pages as plain rows: SQLAlchemy Core instead of ORM entities for list reads.

A page of 50 invoices loaded as ORM objects (identity map, instrumented attributes, selectin
collections) costs more Python time than its SQL. The list queries instead select the
columns below (the page's invoice rows in order, then the lines and the payments of those
invoices in one statement each) into named tuples that have the ``InvoiceRecord`` shape, so
``invoice_state`` maps them exactly as it maps an ORM ``Invoice``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from invoicing.models import Invoice, InvoiceLine, Payment
from sqlalchemy import Column, Connection, Row, bindparam, select


class LineRow(NamedTuple):
    id: uuid.UUID
    invoice_id: uuid.UUID
    position: int
    description: str
    subtitle: str | None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    tax_category: str
    tax_rate: Decimal
    discount: dict[str, Any] | None
    base_amount: Decimal
    discount_amount: Decimal
    amount: Decimal
    net_amount: Decimal
    billable_entry_ids: list[Any]
    budget_id: str | None
    service_id: str | None


class PaymentRow(NamedTuple):
    id: uuid.UUID
    invoice_id: uuid.UUID
    amount: Decimal
    date: dt.date
    method: str
    reference: str | None
    recorded_at: dt.datetime
    customer_payment_id: uuid.UUID | None
    credit_entry_id: uuid.UUID | None
    exchange_rate: Decimal | None


class InvoiceRow(NamedTuple):
    organization_id: uuid.UUID
    id: uuid.UUID
    kind: str
    status: str
    number: str | None
    issue_date: dt.date | None
    due_date: dt.date | None
    payment_terms_days: int | None
    delivery_date: dt.date | None
    service_period_start: dt.date | None
    service_period_end: dt.date | None
    currency: str
    calculate_from_net: bool
    locale: str
    customer_id: uuid.UUID | None
    buyer: dict[str, Any] | None
    seller: dict[str, Any] | None
    case_id: str | None
    project_reference: str | None
    purchase_order_number: str | None
    creator_id: str | None
    issuer_id: str | None
    responsible_id: str | None
    subscriber_ids: list[Any]
    deal_id: str | None
    subsidiary_id: str | None
    subject: str | None
    recipient_text: str | None
    invoicing_party_text: str | None
    vat_number: str | None
    bank_account_id: str | None
    invoicing_method: str | None
    notes: str | None
    footer: str | None
    tags: list[Any]
    custom_fields: dict[str, Any]
    discount: dict[str, Any] | None
    tax_breakdown: list[Any]
    legal_notes: list[Any]
    line_net_total: Decimal
    allowance_total: Decimal
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    paid_amount: Decimal
    credited_amount: Decimal
    credited_net: Decimal
    written_off_amount: Decimal
    ledger: list[Any]
    exchange_rate: Decimal | None
    exchange_rate_date: dt.date | None
    credited_invoice_id: uuid.UUID | None
    credited_invoice_number: str | None
    credited_invoice_issue_date: dt.date | None
    credit_note_ids: list[Any]
    normalized_currency: str | None
    credit_reason: str | None
    replaced_by_invoice_id: uuid.UUID | None
    replaces_invoice_id: uuid.UUID | None
    overdue: bool
    exported_at: dt.datetime | None
    integration_exports: dict[str, Any]
    finalized_at: dt.datetime | None
    sent_at: dt.datetime | None
    paid_at: dt.datetime | None
    paid_on: dt.date | None
    voided_at: dt.datetime | None
    deleted_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    event_sequence: int
    lines: list[LineRow]
    payments: list[PaymentRow]


def _columns(table: Any, names: Sequence[str]) -> list[Column[Any]]:
    return [table.c[name] for name in names]


#: the invoice columns a page selects, in ``InvoiceRow`` order (without lines and payments)
INVOICE_COLUMNS = _columns(Invoice.__table__, InvoiceRow._fields[:-2])
_LINE_COLUMNS = _columns(InvoiceLine.__table__, LineRow._fields)
_PAYMENT_COLUMNS = _columns(Payment.__table__, PaymentRow._fields)

#: the page's invoice columns, built once (statements are immutable; a query adds its terms)
INVOICES = select(*INVOICE_COLUMNS)
#: the lines and the payments of a page's invoices: whole statements, built once, executed
#: with the organization and the invoice ids as parameters (no expressions to build and
#: coerce per page, one per id before)
_LINES = (
    select(*_LINE_COLUMNS)
    .where(
        InvoiceLine.organization_id == bindparam("org_id"),
        InvoiceLine.invoice_id.in_(bindparam("invoice_ids", expanding=True)),
    )
    .order_by(InvoiceLine.position, InvoiceLine.id)
)
_PAYMENTS = (
    select(*_PAYMENT_COLUMNS)
    .where(
        Payment.organization_id == bindparam("org_id"),
        Payment.invoice_id.in_(bindparam("invoice_ids", expanding=True)),
    )
    .order_by(Payment.recorded_at, Payment.id)
)


def with_children(
    conn: Connection, org_id: uuid.UUID, rows: Sequence[Row[Any]]
) -> list[InvoiceRow]:
    """The page's invoice rows (``INVOICE_COLUMNS``, in page order) with their lines and
    payments, each loaded in one statement for the whole page and ordered as the ORM
    relationships order them (by position, by recording time; then by id)."""
    invoices = [InvoiceRow._make((*row, [], [])) for row in rows]
    if not invoices:
        return invoices
    by_id = {inv.id: inv for inv in invoices}
    params = {"org_id": org_id, "invoice_ids": list(by_id)}
    for row in conn.execute(_LINES, params):
        line = LineRow._make(row)
        by_id[line.invoice_id].lines.append(line)
    for row in conn.execute(_PAYMENTS, params):
        payment = PaymentRow._make(row)
        by_id[payment.invoice_id].payments.append(payment)
    return invoices
