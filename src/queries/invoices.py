"""Invoice reads: one document, lists with filters/sort/pages, open items, trash, payments,
next number. Every statement is confined to the query's organization."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from invoicing.domain.errors import NotFound
from invoicing.domain.money import ZERO, round_money
from invoicing.domain.numbering import Series
from invoicing.handlers import numbering
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state, open_amount
from invoicing.models import Customer, Invoice, Organization, Payment
from invoicing.queries.common import (
    contains,
    dialect_of,
    greatest,
    money_bound,
    money_key,
    money_zero,
    order_terms,
    paginate,
)
from invoicing.schemas.queries import (
    CurrencyAmount,
    GetInvoice,
    InvoiceFilter,
    InvoiceList,
    InvoiceResult,
    ListInvoices,
    ListPayments,
    ListTrash,
    NextNumber,
    NextNumberResult,
    OpenItem,
    OpenItemList,
    OpenItems,
    PaymentItem,
    PaymentList,
)
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, sessionmaker

RECEIVABLE = ("finalized", "sent", "partially_paid")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _customer_join() -> ColumnElement[bool]:
    return and_(
        Customer.organization_id == Invoice.organization_id, Customer.id == Invoice.customer_id
    )


def _base(org_id: uuid.UUID) -> Select[Any]:
    return (
        select(Invoice)
        .outerjoin(Customer, _customer_join())
        .where(Invoice.organization_id == org_id)
    )


def customer_name() -> ColumnElement[Any]:
    """The buyer snapshot's name, else the customer's company, person name or email."""
    person = func.trim(
        func.coalesce(Customer.data["given_name"].as_string(), "")
        .concat(" ")
        .concat(func.coalesce(Customer.data["family_name"].as_string(), ""))
    )
    return func.lower(
        func.coalesce(
            func.nullif(Invoice.buyer["name"].as_string(), ""),
            func.nullif(Customer.data["company"].as_string(), ""),
            func.nullif(person, ""),
            Customer.email,
        )
    )


def open_amount_key(dialect: str) -> ColumnElement[Any]:
    """gross - credited - written off - paid, never below zero; zero for drafts, credit notes
    and quotes (never receivables; handlers.views.open_amount is the same rule)."""
    diff = (
        money_key(Invoice.gross_total, dialect)
        - money_key(Invoice.paid_amount, dialect)
        - money_key(Invoice.credited_amount, dialect)
        - money_key(Invoice.written_off_amount, dialect)
    )
    receivable = and_(Invoice.kind == "invoice", Invoice.status.not_in(("draft", "void")))
    return case(
        (receivable, greatest(diff, money_zero(dialect), dialect)),
        else_=literal(money_zero(dialect)),
    )


def _has_tags(tags: list[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(Invoice.tags, JSONB).contains(tags)
    conditions = []
    for tag in tags:
        each = func.json_each(Invoice.tags).table_valued("value")
        conditions.append(exists(select(literal(1)).select_from(each).where(each.c.value == tag)))
    return and_(*conditions)


def _status_condition(status: str, dialect: str) -> ColumnElement[bool]:
    if status == "overdue":
        return and_(Invoice.overdue.is_(True), Invoice.status.in_(RECEIVABLE))
    if status == "open":
        return and_(
            Invoice.kind == "invoice",
            Invoice.status.in_(RECEIVABLE),
            open_amount_key(dialect) > money_zero(dialect),
        )
    return Invoice.status == status


def _range(
    column: ColumnElement[Any], low: Decimal | None, high: Decimal | None, dialect: str
) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if low is not None:
        out.append(column >= money_bound(low, dialect, lower=True))
    if high is not None:
        out.append(column <= money_bound(high, dialect, lower=False))
    return out


def invoice_conditions(f: InvoiceFilter, dialect: str) -> list[ColumnElement[bool]]:
    """WHERE terms for the list filters (the organization is added by the caller)."""
    c: list[ColumnElement[bool]] = []
    if f.deleted == "exclude":
        c.append(Invoice.deleted_at.is_(None))
    elif f.deleted == "only":
        c.append(Invoice.deleted_at.is_not(None))
    if f.status:
        c.append(or_(*(_status_condition(s, dialect) for s in f.status)))
    if f.kind:
        c.append(Invoice.kind.in_(f.kind))
    if f.customer_id:
        c.append(Invoice.customer_id.in_(f.customer_id))
    if f.issue_date_from:
        c.append(Invoice.issue_date >= f.issue_date_from)
    if f.issue_date_to:
        c.append(Invoice.issue_date <= f.issue_date_to)
    if f.due_date_from:
        c.append(Invoice.due_date >= f.due_date_from)
    if f.due_date_to:
        c.append(Invoice.due_date <= f.due_date_to)
    if f.number:
        c.append(Invoice.number == f.number)
    if f.search:
        c.append(
            or_(
                contains(func.coalesce(Invoice.number, ""), f.search),
                contains(func.coalesce(customer_name(), ""), f.search),
                contains(func.coalesce(Customer.data["company"].as_string(), ""), f.search),
                contains(
                    func.coalesce(Customer.data["given_name"].as_string(), "")
                    .concat(" ")
                    .concat(func.coalesce(Customer.data["family_name"].as_string(), "")),
                    f.search,
                ),
            )
        )
    if f.currency:
        c.append(Invoice.currency.in_(f.currency))
    if f.tags:
        c.append(_has_tags(list(f.tags), dialect))
    if f.case_id:
        c.append(Invoice.case_id == f.case_id)
    if f.project_reference:
        c.append(Invoice.project_reference == f.project_reference)
    if f.payment_status == "paid":
        c.append(Invoice.status == "paid")
    elif f.payment_status == "partially_paid":
        c.append(Invoice.status == "partially_paid")
    elif f.payment_status == "unpaid":
        c.append(and_(Invoice.kind == "invoice", Invoice.status.in_(("finalized", "sent"))))
    if f.export_status == "exported":
        c.append(Invoice.exported_at.is_not(None))
    elif f.export_status == "unexported":
        c.append(Invoice.exported_at.is_(None))
    if f.sent_status == "sent":
        c.append(Invoice.sent_at.is_not(None))
    elif f.sent_status == "unsent":
        c.append(Invoice.sent_at.is_(None))
    c += _range(
        money_key(Invoice.gross_total, dialect), f.gross_total_min, f.gross_total_max, dialect
    )
    c += _range(money_key(Invoice.net_total, dialect), f.net_total_min, f.net_total_max, dialect)
    c += _range(open_amount_key(dialect), f.open_amount_min, f.open_amount_max, dialect)
    return c


def invoice_sort_columns(dialect: str) -> dict[str, Any]:
    return {
        "number": Invoice.number,
        "issue_date": Invoice.issue_date,
        "due_date": Invoice.due_date,
        "gross_total": money_key(Invoice.gross_total, dialect),
        "net_total": money_key(Invoice.net_total, dialect),
        "open_amount": open_amount_key(dialect),
        "created_at": Invoice.created_at,
        "updated_at": Invoice.updated_at,
        "customer_name": customer_name(),
        "status": Invoice.status,
        "deleted_at": Invoice.deleted_at,
    }


def _invoice_page(
    session: Session,
    org_id: uuid.UUID,
    conditions: list[ColumnElement[bool]],
    sort: list[str],
    page: int,
    page_size: int,
) -> tuple[list[Invoice], Any]:
    dialect = dialect_of(session)
    stmt = _base(org_id).where(*conditions)
    stmt = stmt.order_by(*order_terms(sort, invoice_sort_columns(dialect), Invoice.id.asc()))
    rows, info = paginate(session, stmt, page, page_size)
    return [row[0] for row in rows], info


# ----------------------------------------------------------------------------- queries


def get_invoice(query: GetInvoice, session: Session) -> InvoiceResult:
    p = query.payload
    stmt = select(Invoice).where(Invoice.organization_id == query.organization_id)
    if p.invoice_id is not None:
        stmt = stmt.where(Invoice.id == p.invoice_id)
        pointer, what = "/invoice_id", str(p.invoice_id)
    else:
        stmt = stmt.where(Invoice.number == p.number)
        pointer, what = "/number", f"number {p.number}"
    inv = session.execute(stmt).scalar_one_or_none()
    if inv is None or (inv.deleted_at is not None and not p.include_deleted):
        raise NotFound(
            "invoice_not_found",
            f"invoice {what} does not exist",
            pointer=pointer,
            hint="check the id; documents in the trash need include_deleted",
        )
    return InvoiceResult(invoice=invoice_state(inv))


def list_invoices(query: ListInvoices, session: Session) -> InvoiceList:
    p = query.payload
    conditions = invoice_conditions(p.filter, dialect_of(session))
    items, info = _invoice_page(
        session, query.organization_id, conditions, list(p.sort), p.page, p.page_size
    )
    return InvoiceList(items=[invoice_state(inv) for inv in items], page=info)


def list_trash(query: ListTrash, session: Session) -> InvoiceList:
    p = query.payload
    items, info = _invoice_page(
        session,
        query.organization_id,
        [Invoice.deleted_at.is_not(None)],
        list(p.sort),
        p.page,
        p.page_size,
    )
    return InvoiceList(items=[invoice_state(inv) for inv in items], page=info)


def _aging(days: int) -> Any:
    if days <= 0:
        return "not_due"
    if days <= 15:
        return "1-15"
    if days <= 45:
        return "16-45"
    return "46+"


def _currency_totals(pairs: list[tuple[str, Decimal]]) -> list[CurrencyAmount]:
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[str, int] = defaultdict(int)
    for currency, amount in pairs:
        sums[currency] += amount
        counts[currency] += 1
    return [
        CurrencyAmount(currency=cur, amount=round_money(sums[cur], cur), count=counts[cur])
        for cur in sorted(sums)
    ]


def open_items(query: OpenItems, session: Session) -> OpenItemList:
    p = query.payload
    dialect = dialect_of(session)
    as_of = p.as_of or _today()
    c: list[ColumnElement[bool]] = [
        Invoice.deleted_at.is_(None),
        Invoice.kind == "invoice",
        Invoice.status.in_(RECEIVABLE),
        open_amount_key(dialect) > money_zero(dialect),
    ]
    if p.customer_id:
        c.append(Invoice.customer_id.in_(p.customer_id))
    if p.case_id:
        c.append(Invoice.case_id == p.case_id)
    if p.project_reference:
        c.append(Invoice.project_reference == p.project_reference)
    if p.currency:
        c.append(Invoice.currency.in_(p.currency))
    if p.overdue_only:
        c.append(and_(Invoice.due_date.is_not(None), Invoice.due_date < as_of))
    # the totals over every page, summed exactly in Decimal
    every = session.execute(
        select(
            Invoice.currency,
            Invoice.gross_total,
            Invoice.paid_amount,
            Invoice.credited_amount,
            Invoice.written_off_amount,
        )
        .outerjoin(Customer, _customer_join())
        .where(Invoice.organization_id == query.organization_id, *c)
    ).all()
    totals = _currency_totals(
        [(cur, max(gross - paid - cred - off, ZERO)) for cur, gross, paid, cred, off in every]
    )
    invoices, info = _invoice_page(
        session, query.organization_id, c, list(p.sort), p.page, p.page_size
    )
    items = []
    for inv in invoices:
        days = (as_of - inv.due_date).days if inv.due_date and as_of > inv.due_date else 0
        items.append(
            OpenItem(
                invoice=invoice_state(inv),
                open_amount=round_money(open_amount(inv), inv.currency),
                days_overdue=days,
                aging=_aging(days),
            )
        )
    return OpenItemList(as_of=as_of, items=items, totals=totals, page=info)


def next_number(query: NextNumber, session: Session) -> NextNumberResult:
    org = session.get(Organization, query.organization_id)
    if org is None:
        raise NotFound(
            "organization_not_configured",
            f"organization {query.organization_id} is not configured",
            pointer="/organization_id",
            hint="send configure_organization first",
        )
    series = Series(query.payload.series)
    on = query.payload.date or _today()
    uow = UnitOfWork(sessionmaker())
    uow.session = session
    pattern = numbering.pattern_for(org, series)
    return NextNumberResult(
        series=series.value,
        date=on,
        number=numbering.peek(uow, org, series, on),
        pattern=pattern.pattern,
        yearly_reset=pattern.yearly_reset,
    )


def list_payments(query: ListPayments, session: Session) -> PaymentList:
    p = query.payload
    org_id = query.organization_id
    dialect = dialect_of(session)
    if p.invoice_id is not None:
        found = session.execute(
            select(Invoice.id).where(Invoice.organization_id == org_id, Invoice.id == p.invoice_id)
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(
                "invoice_not_found",
                f"invoice {p.invoice_id} does not exist",
                pointer="/invoice_id",
            )
    c: list[ColumnElement[bool]] = [Payment.organization_id == org_id]
    if p.invoice_id is not None:
        c.append(Payment.invoice_id == p.invoice_id)
    if p.date_from:
        c.append(Payment.date >= p.date_from)
    if p.date_to:
        c.append(Payment.date <= p.date_to)
    if p.method:
        c.append(Payment.method.in_(p.method))
    stmt = (
        select(Payment, Invoice.number, Invoice.currency, Invoice.customer_id)
        .join(
            Invoice,
            and_(
                Invoice.organization_id == Payment.organization_id,
                Invoice.id == Payment.invoice_id,
            ),
        )
        .where(Invoice.organization_id == org_id, *c)
    )
    every = session.execute(
        stmt.with_only_columns(Invoice.currency, Payment.amount, maintain_column_froms=True)
    ).all()
    columns: dict[str, Any] = {
        "date": Payment.date,
        "amount": money_key(Payment.amount, dialect),
        "recorded_at": Payment.recorded_at,
    }
    stmt = stmt.order_by(*order_terms(list(p.sort), columns, Payment.id.asc()))
    rows, info = paginate(session, stmt, p.page, p.page_size)
    items = [
        PaymentItem(
            id=pay.id,
            invoice_id=pay.invoice_id,
            invoice_number=number,
            customer_id=customer_id,
            currency=currency,
            amount=round_money(pay.amount, currency),
            date=pay.date,
            method=pay.method,
            reference=pay.reference,
            recorded_at=pay.recorded_at,
        )
        for pay, number, currency, customer_id in rows
    ]
    return PaymentList(
        items=items,
        totals=_currency_totals([(cur, amount) for cur, amount in every]),
        page=info,
    )


__all__ = [
    "get_invoice",
    "list_invoices",
    "list_payments",
    "list_trash",
    "next_number",
    "open_items",
]
