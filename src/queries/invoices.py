"""Invoice reads: one document, lists with filters/sort/pages, open items, trash, payments,
next number. Every statement is confined to the query's organization."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from invoicing.domain import calendar
from invoicing.domain.errors import NotFound
from invoicing.domain.money import ZERO, round_money
from invoicing.domain.numbering import Series
from invoicing.handlers import numbering, subsidiaries
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_document, invoice_state, open_amount
from invoicing.models import Customer, CustomerCreditEntry, Invoice, Organization, Payment
from invoicing.queries.common import (
    dialect_of,
    money_key,
    order_terms,
    organization_calendar,
    paginate,
)
from invoicing.queries.filters import (
    full_query_customers,
    invoice_conditions,
    invoice_order,
    receivable,
)
from invoicing.queries.rows import InvoiceRow, page_statements, with_children
from invoicing.schemas.queries import (
    COUNT_LIMIT,
    SEARCH_COUNT_LIMIT,
    CurrencyAmount,
    CustomerCredit,
    GetInvoice,
    InvoiceList,
    InvoiceResult,
    ListInvoices,
    ListPayments,
    ListTrash,
    NextNumber,
    NextNumberResult,
    OpenItemList,
    OpenItems,
    PageInfo,
    PaymentItem,
    PaymentList,
)
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session, sessionmaker


def _customer_join() -> ColumnElement[bool]:
    return and_(
        Customer.organization_id == Invoice.organization_id, Customer.id == Invoice.customer_id
    )


def _base(org_id: uuid.UUID, dialect: str, *, customers: bool) -> Select[Any]:
    """The page's invoice columns (``queries.rows``): Core rows, no ORM entities.

    ``customers``: joined only for a sort by ``customer_name`` (the conditions reach customers
    through subqueries). Without the join the count of a filter that an index covers is an
    index-only scan: PostgreSQL removes an unused outer join on a unique key, but still keeps
    the joined column (``customer_id``) among those the scan must return."""
    stmt = page_statements(dialect).invoices
    if customers:
        stmt = stmt.outerjoin(Customer, _customer_join())
    return stmt.where(Invoice.organization_id == org_id)


def _invoice_page(
    session: Session,
    org_id: uuid.UUID,
    conditions: list[ColumnElement[bool]],
    sort: list[str],
    page: int,
    page_size: int,
    *,
    count_limit: int | None = None,
) -> tuple[list[InvoiceRow], Any]:
    dialect = dialect_of(session)
    by_customer = any(key.lstrip("-") == "customer_name" for key in sort)
    stmt = _base(org_id, dialect, customers=by_customer).where(*conditions)
    stmt = stmt.order_by(*invoice_order(sort, dialect))
    counted = _base(org_id, dialect, customers=False).where(*conditions) if by_customer else None
    # plain columns: run as Core on the session's connection (same transaction), no ORM set-up
    conn = session.connection()
    rows, info = paginate(conn, stmt, page, page_size, count_limit=count_limit, counted=counted)
    return with_children(conn, org_id, rows), info


def _invoice_list(items: list[InvoiceRow], info: PageInfo) -> InvoiceList:
    """The page validated in one pydantic call (``views.invoice_document``)."""
    return InvoiceList.model_validate(
        {"items": [invoice_document(inv) for inv in items], "page": info}
    )


# ----------------------------------------------------------------------------- queries


def get_invoice(query: GetInvoice, session: Session) -> InvoiceResult:
    """One invoice as the lists read theirs: Core rows of the invoice, its lines and its
    payments (``queries.rows``), no ORM entity (tests/integration/test_list_rows.py compares
    the reply with ``invoice_state`` of the ORM's ``Invoice``)."""
    p = query.payload
    org = query.organization_id
    conn = session.connection()
    s = page_statements(conn.dialect.name)
    if p.invoice_id is not None:
        rows = s.by_id.rows(conn, {"org_id": org, "invoice_id": p.invoice_id})
        pointer, what = "/invoice_id", str(p.invoice_id)
    else:  # numbers are unique per organization (uq_invoices_organization_id)
        rows = s.by_number.rows(conn, {"org_id": org, "number": p.number})
        pointer, what = "/number", f"number {p.number}"
    found = with_children(conn, org, rows)
    inv = found[0] if found else None
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
    org, dialect = query.organization_id, dialect_of(session)
    customers = None
    if p.filter.full_query and dialect == "postgresql":
        customers = full_query_customers(session, org, p.filter.full_query)
    cal = organization_calendar(session, org)
    conditions = invoice_conditions(p.filter, dialect, org, cal, customers)
    items, info = _invoice_page(
        session,
        query.organization_id,
        conditions,
        list(p.sort),
        p.page,
        p.page_size,
        count_limit=_count_limit(p),
    )
    return _invoice_list(items, info)


def _count_limit(p: ListInvoices.Payload) -> int | None:
    """Where counting stops (``paginate``): nowhere with exact_total; with a full_query at the
    end of the page (the page statement reads one row more and no count runs); else at
    COUNT_LIMIT."""
    if p.exact_total:
        return None
    return SEARCH_COUNT_LIMIT if p.filter.full_query else COUNT_LIMIT


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
    return _invoice_list(items, info)


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


def _open_totals(
    session: Session, org_id: uuid.UUID, conditions: list[ColumnElement[bool]], dialect: str
) -> list[CurrencyAmount]:
    """The open amount per currency over every page, exact: summed as NUMERIC by PostgreSQL,
    in Decimal here on SQLite (whose SUM would go through floats)."""
    where = (Invoice.organization_id == org_id, *conditions)
    if dialect == "postgresql":
        open_ = func.greatest(
            Invoice.gross_total
            - Invoice.credited_amount
            - Invoice.written_off_amount
            - Invoice.paid_amount,
            0,
        )
        totals = (
            select(Invoice.currency, func.sum(open_), func.count())
            .where(*where)
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        )
        rows = session.connection().execute(totals).all()  # plain columns: Core, no ORM set-up
        return [
            CurrencyAmount(currency=cur, amount=round_money(Decimal(amount), cur), count=count)
            for cur, amount, count in rows
        ]
    every = session.execute(select(Invoice).where(*where)).scalars()
    return _currency_totals([(inv.currency, open_amount(inv)) for inv in every])


def open_items(query: OpenItems, session: Session) -> OpenItemList:
    p = query.payload
    dialect = dialect_of(session)
    as_of = p.as_of or organization_calendar(session, query.organization_id).today()
    c: list[ColumnElement[bool]] = [Invoice.deleted_at.is_(None), receivable(dialect)]
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
    totals = _open_totals(session, query.organization_id, c, dialect)
    invoices, info = _invoice_page(
        session, query.organization_id, c, list(p.sort), p.page, p.page_size
    )
    items = []
    for inv in invoices:
        days = (as_of - inv.due_date).days if inv.due_date and as_of > inv.due_date else 0
        items.append(
            {
                "invoice": invoice_document(inv),
                "open_amount": round_money(open_amount(inv), inv.currency),
                "days_overdue": days,
                "aging": _aging(days),
            }
        )
    credit = unapplied_credit(session, query.organization_id, p.customer_id, p.currency)
    # the page validated in one pydantic call, as a list page is (``_invoice_list``)
    return OpenItemList.model_validate(
        {"as_of": as_of, "items": items, "totals": totals, "unapplied_credit": credit, "page": info}
    )


def unapplied_credit(
    session: Session, org_id: uuid.UUID, customers: list[uuid.UUID], currencies: list[str]
) -> list[CustomerCredit]:
    """The customers' unapplied credit per currency (the sums of their credit entries), exact:
    summed as NUMERIC by PostgreSQL, in Decimal here on SQLite (whose SUM goes through floats)."""
    e = CustomerCreditEntry
    where = [e.organization_id == org_id]
    if customers:
        where.append(e.customer_id.in_(customers))
    if currencies:
        where.append(e.currency.in_(currencies))
    sums: dict[tuple[uuid.UUID, str], Decimal] = defaultdict(lambda: ZERO)
    conn = session.connection()  # plain columns: Core, no ORM set-up
    if dialect_of(session) == "postgresql":
        grouped = select(e.customer_id, e.currency, func.sum(e.amount)).group_by(
            e.customer_id, e.currency
        )
        for cid, cur, amount in conn.execute(grouped.where(*where)):
            sums[cid, cur] = Decimal(amount)
    else:
        for cid, cur, amount in conn.execute(
            select(e.customer_id, e.currency, e.amount).where(*where)
        ):
            sums[cid, cur] += amount
    return [
        CustomerCredit(customer_id=cid, currency=cur, amount=round_money(total, cur))
        for (cid, cur), total in sorted(sums.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
        if total != 0
    ]


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
    uow = UnitOfWork(sessionmaker())
    uow.session = session
    issuer = subsidiaries.entity(uow, org, query.payload.subsidiary_id)
    # the day a finalize without a date takes: the issuer's calendar (handlers.lifecycle)
    on = query.payload.date or calendar.local_day(
        dt.datetime.now(dt.UTC), calendar.zone_of(issuer.org.profile or {})
    )
    pattern = numbering.pattern_for(issuer.org, series)
    return NextNumberResult(
        series=series.value,
        date=on,
        number=numbering.peek(uow, issuer.org, series, on, scope=issuer.scope(series)),
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
    stmt = stmt.order_by(*order_terms(list(p.sort), columns, Payment.id))
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
            customer_payment_id=pay.customer_payment_id,
            credit_entry_id=pay.credit_entry_id,
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
