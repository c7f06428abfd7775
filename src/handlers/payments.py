"""record_payment, delete_payment, mark_paid."""

from __future__ import annotations

from uuid import UUID

from invoicing.domain.errors import InvalidState, NotFound
from invoicing.domain.fx import check_payment_rate, check_payment_value
from invoicing.domain.ledger import check_payment
from invoicing.domain.states import check_payable, check_payment_deletable
from invoicing.handlers import allocations
from invoicing.handlers.invoices import derived_id
from invoicing.handlers.ledger_io import take_off
from invoicing.handlers.lifecycle import settled_events
from invoicing.handlers.registry import Deps, Event, handles, invoice_event
from invoicing.handlers.repository import calendar_day, get_invoice
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import open_amount, payment_difference
from invoicing.models import Invoice, Payment
from invoicing.schemas.commands import DeletePayment, MarkPaid, RecordPayment


def _payable(inv: Invoice) -> None:
    if inv.status == "paid" and inv.written_off_amount:
        raise InvalidState(
            "invalid_state",
            "invoice not in SENT status: it is paid (settled with a write-off)",
            pointer="/invoice_id",
            hint="reverse_write_off first if written-off money arrived",
        )
    check_payable(inv.kind, inv.status)


def _checked(inv: Invoice, p: RecordPayment.Payload, uow: UnitOfWork, payment_id: UUID) -> None:
    _payable(inv)
    check_payment(
        p.amount,
        inv.currency,
        open_amount(inv),
        keep_excess=p.keep_overpayment_as_credit,
        written_off=inv.written_off_amount > 0,
    )
    check_payment_rate(
        p.exchange_rate, inv.currency, inv.normalized_currency, inv.exchange_rate, kind=inv.kind
    )
    check_payment_value(p.amount, inv.exchange_rate, p.exchange_rate)
    allocations.payment_id_free(uow, inv.organization_id, payment_id)


@handles(RecordPayment, locks_customer=lambda c: c.payload.invoice_id is None)  # across
def record_payment(cmd: RecordPayment, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    if p.invoice_id is None:  # across a customer's invoices
        return allocations.record_across(cmd, uow, deps)
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    payment_id = p.payment_id or derived_id(cmd.command_id, "payment")
    _checked(inv, p, uow, payment_id)
    payment = Payment(
        organization_id=inv.organization_id,
        id=payment_id,
        invoice_id=inv.id,
        amount=p.amount,
        date=p.date,
        method=p.method,
        reference=p.reference,
        recorded_at=deps.now(),
        exchange_rate=p.exchange_rate,
    )
    inv.payments.append(payment)
    inv.paid_amount = inv.paid_amount + p.amount
    data = allocations.payment_data(payment)
    events = settled_events("payment.recorded", inv, deps, payment=data)
    diff = payment_difference(inv, payment)
    if diff is not None and diff.difference:
        events.append(
            invoice_event(
                "payment.exchange_difference",
                inv,
                deps.now(),
                payment=data,
                exchange_difference=diff.to_json(),
            )
        )
    return events


@handles(DeletePayment, locks_customer=True)  # a customer payment, applied credit
def delete_payment(cmd: DeletePayment, uow: UnitOfWork, deps: Deps) -> list[Event]:
    across = allocations.delete_across(cmd, uow, deps)
    if across is not None:
        return across
    inv = get_invoice(uow, cmd.organization_id, _invoice_of(cmd))
    payment = next((x for x in inv.payments if x.id == cmd.payload.payment_id), None)
    if payment is None:
        raise NotFound(
            "payment_not_found",
            f"payment {cmd.payload.payment_id} is not on this invoice",
            pointer="/payment_id",
        )
    check_payment_deletable(inv.status)
    check_single(payment)
    data = allocations.payment_data(payment)
    credit = allocations.undo_credit_application(uow, payment)
    take_off(uow, inv, payment, deps.now(), calendar_day(uow, inv.organization_id, deps))
    events = settled_events("payment.deleted", inv, deps, payment=data)
    return events if credit is None else [*events, credit]


def _invoice_of(cmd: DeletePayment) -> UUID:
    if cmd.payload.invoice_id is None:
        raise NotFound(
            "payment_not_found",
            f"payment {cmd.payload.payment_id} is not a customer payment",
            pointer="/payment_id",
            hint="give invoice_id for a payment of one invoice",
        )
    return cmd.payload.invoice_id


def check_single(payment: Payment) -> None:
    """One allocation of a customer payment is deleted only with the whole payment."""
    if payment.customer_payment_id is not None:
        raise InvalidState(
            "payment_is_allocation",
            f"payment {payment.id} is one allocation of customer payment "
            f"{payment.customer_payment_id}",
            pointer="/payment_id",
            hint=f"delete_payment with payment_id {payment.customer_payment_id} (without "
            "invoice_id) undoes the whole payment; then record it again as it should be",
        )


@handles(MarkPaid)
def mark_paid(cmd: MarkPaid, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    _payable(inv)
    due = open_amount(inv)
    payment = Payment(
        organization_id=inv.organization_id,
        id=derived_id(cmd.command_id, "payment"),
        invoice_id=inv.id,
        amount=due,
        date=p.date or calendar_day(uow, inv.organization_id, deps),
        method=p.method,
        reference=p.reference,
        recorded_at=deps.now(),
    )
    inv.payments.append(payment)
    inv.paid_amount = inv.paid_amount + due
    events = settled_events(
        "payment.recorded",
        inv,
        deps,
        payment=allocations.payment_data(payment),
        send_notification=p.send_notification,
    )
    if p.send_notification:
        events[0].data["notification"] = deps.payment_notifier(cmd, uow, deps, inv)
    return events
