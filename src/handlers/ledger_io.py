"""The invoice row <-> the domain ledger (domain/ledger.py): load it, store what follows, and
take a payment off it (``take_off``: what the exports booked of it is kept)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from invoicing.domain.ledger import GroupAmount, Ledger
from invoicing.domain.tax import TaxCategory
from invoicing.models import DeletedPayment, Invoice, Payment
from invoicing.models.records import InvoiceRecord

if TYPE_CHECKING:
    from invoicing.handlers.unit_of_work import UnitOfWork


def ledger_of(inv: InvoiceRecord) -> Ledger:
    """The invoice's ledger: its frozen VAT breakdown, its movements and its payments."""
    return Ledger.of(inv.currency, inv.tax_breakdown or [], inv.ledger or [], inv.paid_amount)


def store(inv: Invoice, ledger: Ledger) -> None:
    """Write the movements and the totals that derive from them (the columns queries use)."""
    inv.ledger = ledger.movements_json()
    inv.credited_amount = ledger.credited_gross
    inv.credited_net = ledger.credited_net
    inv.written_off_amount = ledger.written_off_gross


def take_off(
    uow: UnitOfWork, inv: Invoice, payment: Payment, now: dt.datetime, day: dt.date
) -> None:
    """Delete ``payment`` of ``inv``, keeping what it was in ``deleted_payments``: an export
    that booked it reverses it on ``day``, the organization's calendar day it was deleted
    (exports/datev_db.py; UTC's before session 33, which put a deletion at 00:30 in Cologne on
    1 January into the closed year before). An application of a customer's credit was never
    booked and leaves no record."""
    if payment.credit_entry_id is None:
        uow.session.add(
            DeletedPayment(
                organization_id=payment.organization_id,
                id=payment.id,
                invoice_id=payment.invoice_id,
                amount=payment.amount,
                date=payment.date,
                method=payment.method,
                reference=payment.reference,
                exchange_rate=payment.exchange_rate,
                customer_payment_id=payment.customer_payment_id,
                deleted_on=day,
                deleted_at=now,
            )
        )
    inv.payments.remove(payment)
    inv.paid_amount = inv.paid_amount - payment.amount


def document_groups(doc: InvoiceRecord) -> list[GroupAmount]:
    """A document's VAT breakdown as ledger amounts (BT-116 net, BT-117 VAT per group)."""
    return [
        GroupAmount(
            TaxCategory(g["category"]),
            Decimal(str(g["rate"])),
            Decimal(str(g["taxable_amount"])),
            Decimal(str(g["tax_amount"])),
        )
        for g in doc.tax_breakdown or []
    ]
