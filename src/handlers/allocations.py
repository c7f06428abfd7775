"""Payments across invoices and the customers' unapplied credit (docs/arithmetic.md).

``record_payment`` with ``customer_id``/``allocations`` (dispatched from handlers/payments.py)
books one customer payment: a ``payments`` row per allocated invoice, the rest as a credit
entry; ``delete_payment`` of it undoes all of that. ``apply_customer_credit`` and
``refund_customer_credit`` use the credit. The rules are in :mod:`invoicing.domain.allocation`.

Locks: the customer row first (``SELECT ... FOR UPDATE``), then the invoices in settlement
order, so two payments of one customer never deadlock and the credit balance read under the
customer's lock stays true until the commit. That order holds only in a transaction of the
command's own: the handlers are registered ``locks_customer``, and the workers' group commit
runs them alone (``registry.runs_alone``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from invoicing.domain import allocation as rules
from invoicing.domain.errors import InvalidState, NotFound
from invoicing.domain.fx import check_payment_value
from invoicing.domain.money import format_plain
from invoicing.handlers.invoices import derived_id
from invoicing.handlers.ledger_io import take_off
from invoicing.handlers.lifecycle import settled_events
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import (
    calendar_day,
    get_customer,
    get_invoice,
    get_organization,
    profile,
)
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import open_amount
from invoicing.models import (
    Customer,
    CustomerCreditEntry,
    CustomerPayment,
    DeletedCreditEntry,
    DeletedPayment,
    Invoice,
    Payment,
)
from invoicing.schemas.commands import (
    ApplyCustomerCredit,
    DeletePayment,
    RecordPayment,
    RefundCustomerCredit,
)
from sqlalchemy import delete, or_, select

# ----------------------------------------------------------------------------- loading


def lock_customer(uow: UnitOfWork, org_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    """The customer row, locked: every change of its payments and credit goes through it."""
    get_customer(uow, org_id, customer_id)
    stmt = select(Customer).where(Customer.organization_id == org_id, Customer.id == customer_id)
    return uow.session.execute(stmt.with_for_update()).scalar_one()


def credit_balance(
    uow: UnitOfWork, org_id: uuid.UUID, customer_id: uuid.UUID, currency: str
) -> Decimal:
    """The customer's unapplied credit in ``currency`` (the sum of its credit entries), exact:
    added up here in Decimal, because SQLite's SUM goes through floats (2.10 came back as
    2.0999999999999996)."""
    stmt = select(CustomerCreditEntry.amount).where(
        CustomerCreditEntry.organization_id == org_id,
        CustomerCreditEntry.customer_id == customer_id,
        CustomerCreditEntry.currency == currency,
    )
    return sum(uow.session.execute(stmt).scalars(), Decimal(0))


def _open_invoices(
    uow: UnitOfWork, org_id: uuid.UUID, customer_id: uuid.UUID, currency: str
) -> list[Invoice]:
    stmt = (
        select(Invoice)
        .where(
            Invoice.organization_id == org_id,
            Invoice.customer_id == customer_id,
            Invoice.kind == "invoice",
            Invoice.status.in_(rules.PAYABLE_STATES),
            Invoice.currency == currency,
            Invoice.deleted_at.is_(None),
        )
        .order_by(Invoice.due_date, Invoice.issue_date, Invoice.number_key, Invoice.id)
        .with_for_update(of=Invoice)
    )
    return list(uow.session.execute(stmt).scalars())


def _requested_invoices(
    uow: UnitOfWork, org_id: uuid.UUID, p: RecordPayment.Payload
) -> dict[str, Invoice]:
    """The invoices the allocations name (locked), by id; unknown ids are reported by the
    domain with their pointer."""
    ids = sorted({a.invoice_id for a in p.allocations or []})
    stmt = (
        select(Invoice)
        .where(Invoice.organization_id == org_id, Invoice.id.in_(ids), Invoice.deleted_at.is_(None))
        .order_by(Invoice.id)
        .with_for_update(of=Invoice)
    )
    return {str(i.id): i for i in uow.session.execute(stmt).scalars()}


def _customer_of_allocations(
    uow: UnitOfWork, org_id: uuid.UUID, p: RecordPayment.Payload
) -> uuid.UUID:
    """The customer of a payment given by allocations only: the first invoice's customer."""
    assert p.allocations
    first = p.allocations[0].invoice_id
    customer = uow.session.execute(
        select(Invoice.customer_id).where(
            Invoice.organization_id == org_id,
            Invoice.id == first,
            Invoice.deleted_at.is_(None),
        )
    ).first()
    if customer is None or customer[0] is None:
        raise NotFound(
            "invoice_not_found",
            f"invoice {first} does not exist or has no customer",
            pointer="/allocations/0/invoice_id",
            hint="check the id, or give customer_id",
        )
    return customer[0]


def item_of(inv: Invoice) -> rules.OpenItem:
    """An invoice as an open item. Dunning fees and interest are stated in the notices but are
    not receivables of the invoice (docs/dunning.md), so costs and interest are 0 here."""
    return rules.OpenItem(
        invoice_id=str(inv.id),
        number=inv.number or str(inv.id),
        currency=inv.currency,
        issue_date=inv.issue_date or dt.date.min,
        due_date=inv.due_date,
        principal=open_amount(inv),
        customer_id=str(inv.customer_id) if inv.customer_id else None,
        kind=inv.kind,
        status=inv.status,
    )


def payment_id_free(uow: UnitOfWork, org_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    """A payment id is used once: a payment, a payment across invoices, or one deleted (an
    export may have booked it under that id, and reverses it under that id)."""
    if (
        uow.session.get(CustomerPayment, (org_id, payment_id)) is not None
        or uow.session.get(Payment, (org_id, payment_id)) is not None
    ):
        raise InvalidState(
            "payment_exists", f"payment {payment_id} already exists", pointer="/payment_id"
        )
    deleted = select(DeletedPayment.id).where(
        DeletedPayment.organization_id == org_id,
        or_(DeletedPayment.id == payment_id, DeletedPayment.customer_payment_id == payment_id),
    )
    if uow.session.execute(deleted.limit(1)).first() is not None:
        raise InvalidState(
            "payment_exists",
            f"payment {payment_id} was deleted; its id is not used again",
            pointer="/payment_id",
            hint="give the payment a new payment_id (or leave it out)",
        )


# ----------------------------------------------------------------------------- event data


def _money(value: Decimal, currency: str) -> str:
    return format_plain(value, currency)


def payment_data(p: Payment) -> dict[str, Any]:
    """``payment`` of ``payment.recorded`` / ``.deleted`` / ``.exchange_difference``: the
    payment row on the invoice, in one shape whichever way it came (for one invoice, from a
    payment across invoices, from customer credit)."""
    return {
        "id": str(p.id),
        "invoice_id": str(p.invoice_id),
        "amount": str(p.amount),
        "date": p.date.isoformat(),
        "method": p.method,
        "reference": p.reference,
        "exchange_rate": None if p.exchange_rate is None else str(p.exchange_rate),
        "customer_payment_id": _str(p.customer_payment_id),
        "credit_entry_id": _str(p.credit_entry_id),
    }


def allocation_data(row: Payment, currency: str, part: rules.Allocation | None) -> dict[str, Any]:
    """``allocation`` of ``payment.allocated`` / ``payment.deleted``: the payment row on the
    invoice, with its § 367 split when it came from a customer payment."""
    data: dict[str, Any] = {
        "id": str(row.id),
        "invoice_id": str(row.invoice_id),
        "customer_payment_id": str(row.customer_payment_id) if row.customer_payment_id else None,
        "credit_entry_id": str(row.credit_entry_id) if row.credit_entry_id else None,
        "amount": _money(row.amount, currency),
        "date": row.date.isoformat(),
        "method": row.method,
        "reference": row.reference,
    }
    if part is not None:
        data.update(
            costs=_money(part.costs, currency),
            interest=_money(part.interest, currency),
            principal=_money(part.principal, currency),
        )
    return data


def credit_event(event_type: str, uow: UnitOfWork, entry: CustomerCreditEntry) -> Event:
    """A ``customer_credit.*`` event: the entry (``amount`` positive; the event type says the
    direction) and the customer's balance in the currency after it."""
    amount = abs(entry.amount)
    cur = entry.currency
    balance = credit_balance(uow, entry.organization_id, entry.customer_id, cur)
    data = {
        "customer_id": str(entry.customer_id),
        "currency": cur,
        "amount": _money(amount, cur),
        "balance": _money(balance, cur),
        "entry": {
            "id": str(entry.id),
            "kind": entry.kind,
            "date": entry.date.isoformat(),
            "customer_payment_id": _str(entry.customer_payment_id),
            "invoice_id": _str(entry.invoice_id),
            "payment_id": _str(entry.payment_id),
            "method": entry.method,
            "reference": entry.reference,
        },
    }
    return Event(event_type, str(entry.customer_id), data)


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def customer_payment_data(cp: CustomerPayment, rows: list[Payment]) -> dict[str, Any]:
    cur = cp.currency
    return {
        "id": str(cp.id),
        "customer_id": str(cp.customer_id),
        "currency": cur,
        "amount": _money(cp.amount, cur),
        "date": cp.date.isoformat(),
        "method": cp.method,
        "reference": cp.reference,
        "policy": cp.policy,
        "allocations": [
            {
                "payment_id": str(r.id),
                "invoice_id": str(r.invoice_id),
                "amount": _money(r.amount, cur),
            }
            for r in rows
        ],
        "allocated": _money(cp.amount - cp.unapplied, cur),
        "unapplied": _money(cp.unapplied, cur),
    }


# ----------------------------------------------------------------------------- steps


def _plan(
    uow: UnitOfWork, org_id: uuid.UUID, p: RecordPayment.Payload, default_currency: str
) -> tuple[uuid.UUID, rules.Plan, dict[str, Invoice]]:
    """Lock the customer, load its invoices, and let the domain allocate the payment."""
    customer_id = p.customer_id or _customer_of_allocations(uow, org_id, p)
    lock_customer(uow, org_id, customer_id)
    if p.allocations is None:
        currency = p.currency or default_currency
        invoices = {str(i.id): i for i in _open_invoices(uow, org_id, customer_id, currency)}
        requested = None
    else:
        invoices = _requested_invoices(uow, org_id, p)
        first = invoices.get(str(p.allocations[0].invoice_id))
        currency = p.currency or (first.currency if first else default_currency)
        requested = [
            rules.Requested(str(a.invoice_id), a.amount, n) for n, a in enumerate(p.allocations)
        ]
    items = [item_of(i) for i in invoices.values()]
    plan = rules.plan_payment(p.amount, currency, items, requested, customer_id=str(customer_id))
    return customer_id, plan, invoices


def _allocate(
    deps: Deps, cp: CustomerPayment, plan: rules.Plan, invoices: dict[str, Invoice]
) -> tuple[list[Payment], list[Event]]:
    """One ``payments`` row per allocation, each invoice settled (``payment.allocated``)."""
    rows: list[Payment] = []
    events: list[Event] = []
    for part in plan.allocations:
        inv = invoices[part.invoice_id]
        row = Payment(
            organization_id=cp.organization_id,
            id=derived_id(cp.id, f"allocation:{inv.id}"),
            invoice_id=inv.id,
            amount=part.amount,
            date=cp.date,
            method=cp.method,
            reference=cp.reference,
            recorded_at=deps.now(),
            customer_payment_id=cp.id,
        )
        inv.payments.append(row)
        inv.paid_amount = inv.paid_amount + part.amount
        rows.append(row)
        data = allocation_data(row, cp.currency, part)
        events += settled_events("payment.allocated", inv, deps, allocation=data)
    return rows, events


def _deallocate(
    uow: UnitOfWork, deps: Deps, cp: CustomerPayment, deleted_on: dt.date
) -> list[Event]:
    """Take every allocation of ``cp`` off its invoice (``payment.deleted`` each), deleted on
    ``deleted_on`` (the organization's calendar day)."""
    ids = uow.session.execute(
        select(Payment.invoice_id)
        .where(Payment.organization_id == cp.organization_id, Payment.customer_payment_id == cp.id)
        .order_by(Payment.invoice_id)
    ).scalars()
    events: list[Event] = []
    for invoice_id in list(ids):
        inv = get_invoice(uow, cp.organization_id, invoice_id, pointer="/payment_id")
        if inv.status == "void":
            raise InvalidState(
                "invalid_state",
                f"payment {cp.id} settled invoice {inv.number}, which is void since",
                pointer="/payment_id",
                hint="payments of a void invoice cannot be deleted",
            )
        row = next(r for r in inv.payments if r.customer_payment_id == cp.id)
        data = allocation_data(row, inv.currency, None)
        take_off(uow, inv, row, deps.now(), deleted_on)
        payment = payment_data(row)
        events += settled_events("payment.deleted", inv, deps, payment=payment, allocation=data)
    return events


def _unapplied_entry(cp: CustomerPayment, deps: Deps) -> CustomerCreditEntry:
    return CustomerCreditEntry(
        organization_id=cp.organization_id,
        id=derived_id(cp.id, "unapplied"),
        customer_id=cp.customer_id,
        currency=cp.currency,
        kind="added",
        amount=cp.unapplied,
        date=cp.date,
        customer_payment_id=cp.id,
        method=cp.method,
        reference=cp.reference,
        recorded_at=deps.now(),
    )


# ----------------------------------------------------------------------------- commands


def record_across(cmd: RecordPayment, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """``record_payment`` across invoices (called by the record_payment handler)."""
    p = cmd.payload
    check_payment_value(p.amount, None, None)
    org = get_organization(uow, cmd.organization_id)
    default_currency = str(profile(org).get("default_currency", "EUR"))
    customer_id, plan, invoices = _plan(uow, org.id, p, default_currency)
    payment_id = p.payment_id or derived_id(cmd.command_id, "payment")
    payment_id_free(uow, org.id, payment_id)
    cp = CustomerPayment(
        organization_id=org.id,
        id=payment_id,
        customer_id=customer_id,
        currency=plan.currency,
        amount=p.amount,
        unapplied=plan.unapplied,
        date=p.date,
        method=p.method,
        reference=p.reference,
        policy=plan.policy.value,
        recorded_at=deps.now(),
    )
    uow.session.add(cp)
    rows, events = _allocate(deps, cp, plan, invoices)
    if plan.unapplied > 0:
        entry = _unapplied_entry(cp, deps)
        uow.session.add(entry)
        uow.session.flush()
        events.append(credit_event("customer_credit.added", uow, entry))
    data = {"payment": customer_payment_data(cp, rows)}
    return [Event("customer_payment.recorded", str(cp.id), data), *events]


def delete_across(cmd: DeletePayment, uow: UnitOfWork, deps: Deps) -> list[Event] | None:
    """``delete_payment`` of a customer payment: every allocation and its unapplied credit
    undone; None when ``payment_id`` is not a customer payment."""
    org_id = cmd.organization_id
    found = uow.session.get(CustomerPayment, (org_id, cmd.payload.payment_id))
    if found is None:
        _lock_for_application(uow, org_id, cmd.payload.payment_id)
        return None
    lock_customer(uow, org_id, found.customer_id)
    # read again under the customer's lock: a delete of the same payment that held it first
    # may have removed the payment and its credit meanwhile (the row read above is stale)
    cp = uow.session.execute(
        select(CustomerPayment)
        .where(CustomerPayment.organization_id == org_id, CustomerPayment.id == found.id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if cp is None:
        raise NotFound(
            "payment_not_found",
            f"payment {found.id} was deleted meanwhile",
            pointer="/payment_id",
            hint="nothing to do: another delete_payment of it was applied first",
        )
    rows = list(
        uow.session.execute(
            select(Payment).where(
                Payment.organization_id == org_id, Payment.customer_payment_id == cp.id
            )
        ).scalars()
    )
    data = {"payment": customer_payment_data(cp, rows)}
    events: list[Event] = []
    deleted_on = calendar_day(uow, org_id, deps)
    if cp.unapplied > 0:
        balance = credit_balance(uow, org_id, cp.customer_id, cp.currency)
        rules.check_undo(cp.unapplied, balance, cp.currency, str(cp.id))
        entry = uow.session.get(CustomerCreditEntry, (org_id, derived_id(cp.id, "unapplied")))
        assert entry is not None
        uow.session.add(_deleted_credit(entry, deps.now(), deleted_on))
        uow.session.delete(entry)
        uow.session.flush()
        events.append(credit_event("customer_credit.removed", uow, entry))
    events = _deallocate(uow, deps, cp, deleted_on) + events
    uow.session.delete(cp)
    return [Event("customer_payment.deleted", str(cp.id), data), *events]


def _lock_for_application(uow: UnitOfWork, org_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    """A payment that applied credit: lock its customer before its invoice (the order
    apply_customer_credit takes), so deleting it never deadlocks with an application."""
    row = uow.session.get(Payment, (org_id, payment_id))
    if row is None or row.credit_entry_id is None:
        return
    entry = uow.session.get(CustomerCreditEntry, (org_id, row.credit_entry_id))
    if entry is not None:
        lock_customer(uow, org_id, entry.customer_id)


def _deleted_credit(
    entry: CustomerCreditEntry, now: dt.datetime, day: dt.date
) -> DeletedCreditEntry:
    """What an export that booked ``entry`` reverses (exports/datev_credit.py), on ``day``."""
    return DeletedCreditEntry(
        organization_id=entry.organization_id,
        id=entry.id,
        customer_id=entry.customer_id,
        currency=entry.currency,
        kind=entry.kind,
        amount=entry.amount,
        date=entry.date,
        reference=entry.reference,
        deleted_on=day,
        deleted_at=now,
    )


def undo_credit_application(uow: UnitOfWork, row: Payment) -> Event | None:
    """Deleting a payment that applied customer credit gives the credit back."""
    if row.credit_entry_id is None:
        return None
    entry = uow.session.get(CustomerCreditEntry, (row.organization_id, row.credit_entry_id))
    if entry is None:
        return None
    lock_customer(uow, row.organization_id, entry.customer_id)
    uow.session.execute(
        delete(CustomerCreditEntry).where(
            CustomerCreditEntry.organization_id == row.organization_id,
            CustomerCreditEntry.id == entry.id,
        )
    )
    return credit_event("customer_credit.restored", uow, entry)


def _credit_pointer(amount: object) -> str:
    """Where an error about the credit used points: the amount sent, or (none sent: the whole
    balance) the customer whose balance it is."""
    return "/customer_id" if amount is None else "/amount"


@handles(ApplyCustomerCredit, locks_customer=True)
def apply_customer_credit(cmd: ApplyCustomerCredit, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    lock_customer(uow, cmd.organization_id, p.customer_id)
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    item = item_of(inv)
    rules.check_application(item, str(p.customer_id))
    balance = credit_balance(uow, inv.organization_id, p.customer_id, inv.currency)
    amount = rules.credit_to_apply(p.amount, balance, item.open)
    rules.check_credit_use(
        amount, inv.currency, balance, what="apply", pointer=_credit_pointer(p.amount)
    )
    rules.check_apply(amount, item.open, inv.currency, item.number)
    payment_id = p.payment_id or derived_id(cmd.command_id, "payment")
    payment_id_free(uow, inv.organization_id, payment_id)
    day = p.date or calendar_day(uow, inv.organization_id, deps)
    entry = CustomerCreditEntry(
        organization_id=inv.organization_id,
        id=derived_id(cmd.command_id, "credit_entry"),
        customer_id=p.customer_id,
        currency=inv.currency,
        kind="applied",
        amount=-amount,
        date=day,
        invoice_id=inv.id,
        payment_id=payment_id,
        recorded_at=deps.now(),
    )
    row = credit_payment(entry, payment_id, amount, deps)
    uow.session.add(entry)
    inv.payments.append(row)
    inv.paid_amount = inv.paid_amount + amount
    uow.session.flush()
    data = allocation_data(row, inv.currency, rules.split_by_367(item, amount))
    events = settled_events("payment.allocated", inv, deps, allocation=data)
    return [*events, credit_event("customer_credit.applied", uow, entry)]


def credit_payment(
    entry: CustomerCreditEntry, payment_id: uuid.UUID, amount: Decimal, deps: Deps
) -> Payment:
    """The payment on the invoice that an application of credit makes."""
    assert entry.invoice_id is not None
    return Payment(
        organization_id=entry.organization_id,
        id=payment_id,
        invoice_id=entry.invoice_id,
        amount=amount,
        date=entry.date,
        method="customer_credit",
        reference=None,
        recorded_at=deps.now(),
        credit_entry_id=entry.id,
    )


@handles(RefundCustomerCredit, locks_customer=True)
def refund_customer_credit(cmd: RefundCustomerCredit, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    lock_customer(uow, cmd.organization_id, p.customer_id)
    balance = credit_balance(uow, cmd.organization_id, p.customer_id, p.currency)
    amount = balance if p.amount is None else p.amount
    rules.check_credit_use(
        amount, p.currency, balance, what="refund", pointer=_credit_pointer(p.amount)
    )
    refund_id = p.refund_id or derived_id(cmd.command_id, "refund")
    if uow.session.get(CustomerCreditEntry, (cmd.organization_id, refund_id)) is not None:
        raise InvalidState(
            "refund_exists", f"refund {refund_id} already exists", pointer="/refund_id"
        )
    entry = CustomerCreditEntry(
        organization_id=cmd.organization_id,
        id=refund_id,
        customer_id=p.customer_id,
        currency=p.currency,
        kind="refunded",
        amount=-amount,
        date=p.date,
        method=p.method,
        reference=p.reference,
        recorded_at=deps.now(),
    )
    uow.session.add(entry)
    uow.session.flush()
    return [credit_event("customer_credit.refunded", uow, entry)]
