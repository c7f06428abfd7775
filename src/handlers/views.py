"""The invoice as the outside world sees it: an invoice row -> ``InvoiceState`` (event data,
queries). The row is an ORM ``Invoice`` or the plain rows of a list page (``queries.rows``):
both have the ``InvoiceRecord`` shape, and this is the one mapping of it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from invoicing.domain import calendar
from invoicing.domain.fx import (
    PAYMENT,
    ExchangeDifference,
    Settling,
    exchange_difference,
    ledger_settlings,
    ledger_vat_in_order,
    normalize,
    settling_values,
)
from invoicing.domain.ledger import Key, key_of
from invoicing.domain.money import ZERO, rounder
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.ledger_io import document_groups, ledger_of
from invoicing.models.records import InvoiceRecord, PaymentRecord
from invoicing.schemas.events import InvoiceState

#: a document of plain values that a pydantic model validates
Doc = dict[str, Any]


class Owing(Protocol):
    """What ``owed`` reads: an invoice, its record or a row of these columns."""

    @property
    def gross_total(self) -> Decimal: ...
    @property
    def credited_amount(self) -> Decimal: ...
    @property
    def written_off_amount(self) -> Decimal: ...


def owed(inv: Owing) -> Decimal:
    """Gross less credited and written off (the ledger's remainder, kept in columns)."""
    return inv.gross_total - inv.credited_amount - inv.written_off_amount


def open_amount(inv: InvoiceRecord) -> Decimal:
    """Owed - paid, never below zero; only finalized invoices are receivables."""
    if inv.kind != "invoice" or inv.status == "draft":
        return ZERO
    return max(owed(inv) - inv.paid_amount, ZERO)


def credit_balance(inv: InvoiceRecord) -> Decimal:
    """What the customer paid beyond what was owed (kept as credit)."""
    if inv.kind != "invoice" or inv.status == "draft":
        return ZERO
    return max(inv.paid_amount - owed(inv), ZERO)


def foreign(inv: InvoiceRecord) -> str | None:
    """The organization's currency where the document is in another one (it has a frozen
    rate and ``normalized`` amounts), else None."""
    org_currency = inv.normalized_currency
    if inv.exchange_rate is None or not org_currency or org_currency == inv.currency:
        return None
    return org_currency


def movement_vat(inv: InvoiceRecord) -> list[Doc | None]:
    """Each ledger movement's VAT in the organization's currency (``NormalizedMovement``),
    in the ledger's order; None for each where the invoice is in the organization's currency."""
    org_currency, ledger = foreign(inv), inv.ledger or []
    if org_currency is None or inv.exchange_rate is None:
        return [None] * len(ledger)
    r = rounder(org_currency)
    return [
        dict(
            currency=org_currency,
            tax=r(sum(values.values(), ZERO)),
            groups=[
                dict(category=c, rate=Decimal(f"{rate:f}"), tax=tax)
                for (c, rate), tax in values.items()
            ],
        )
        for values in ledger_vat_in_order(ledger, inv.exchange_rate, org_currency)
    ]


def _normalized_ledger(inv: InvoiceRecord, invoiced: Any, moved: list[Doc | None]) -> list[Doc]:
    """Per tax group the VAT invoiced, credited, written off and remaining in the
    organization's currency (``NormalizedLedgerGroup``): the sums of ``movement_vat``."""
    if inv.kind != "invoice" or inv.finalized_at is None:
        return []
    taken: dict[Key, list[Decimal]] = {key_of(g.category, g.rate): [ZERO, ZERO] for g in invoiced}
    for entry, vat in zip(inv.ledger or [], moved, strict=True):
        column, sign = {"credit": (0, 1), "write_off": (1, 1)}.get(entry["kind"], (1, -1))
        for g in vat["groups"] if vat else []:
            taken.setdefault(key_of(g["category"], g["rate"]), [ZERO, ZERO])[column] += (
                sign * g["tax"]
            )
    r = rounder(inv.normalized_currency or inv.currency)  # 0 written 0.00
    out = []
    for g in invoiced:
        credited, written_off = taken[key_of(g.category, g.rate)]
        out.append(
            dict(
                category=g.category.value,
                rate=g.rate,
                invoiced_tax=r(g.tax),
                credited_tax=r(credited),
                written_off_tax=r(written_off),
                remaining_tax=r(g.tax - credited - written_off),
            )
        )
    return out


def _ledger_state(inv: InvoiceRecord, moved: list[Doc | None]) -> tuple[list[Doc], list[Doc]]:
    if inv.kind != "invoice" or inv.finalized_at is None:  # not frozen
        return [], []
    ledger = ledger_of(inv)
    r = rounder(inv.currency)  # round_money(·, currency)
    groups = [
        dict(
            category=b.category.value,
            rate=b.rate,
            invoiced_net=r(b.invoiced_net),
            invoiced_tax=r(b.invoiced_tax),
            credited_net=r(b.credited_net),
            credited_tax=r(b.credited_tax),
            written_off_net=r(b.written_off_net),
            written_off_tax=r(b.written_off_tax),
            open_net=r(b.open_net),
            open_tax=r(b.open_tax),
        )
        for b in ledger.groups
    ]
    entries = [
        dict(
            kind=m.kind.value,
            date=m.date,
            document_id=m.document_id,
            number=m.number,
            reason=m.reason,
            net=r(m.net),
            tax=r(m.tax),
            gross=r(m.gross),
            groups=[
                dict(
                    category=g.category.value,
                    rate=g.rate,
                    net=r(g.net),
                    tax=r(g.tax),
                )
                for g in m.groups
            ],
            normalized=vat,
        )
        for m, vat in zip(ledger.movements, moved, strict=True)
    ]
    return groups, entries


def _m(value: Decimal, currency: str) -> Decimal:
    return rounder(currency)(value)


#: the EN 16931 code of each tax category (``TaxCategory(name).code``, without the enum call)
_TAX_CODES = {category.value: category.code for category in TaxCategory}


def _tax_code(category: str) -> str:
    code = _TAX_CODES.get(category)
    return TaxCategory(category).code if code is None else code


def payment_difference(inv: InvoiceRecord, p: PaymentRecord) -> ExchangeDifference | None:
    """The realised exchange difference of a payment received at its own rate, if any."""
    return payment_differences(inv).get(p.id)


def payment_differences(inv: InvoiceRecord) -> dict[UUID, ExchangeDifference]:
    """The realised exchange difference of each payment received at its own rate: what came
    in less what it settles at the invoice's frozen rate, where the payment that settles the
    invoice takes up the cent its groups' rounding left (``settling_values``, as DATEV books
    it: exports/datev_fx.py)."""
    rate, currency = inv.exchange_rate, inv.normalized_currency
    if rate is None or not currency or all(p.exchange_rate is None for p in inv.payments):
        return {}
    moves = ledger_settlings(inv.ledger or [])
    moves += [Settling(p.date, PAYMENT, str(p.id), p.amount) for p in inv.payments]
    settles = settling_values(document_groups(inv), rate, currency, moves)
    return {
        p.id: exchange_difference(
            currency, p.amount, rate, p.exchange_rate, booked=settles[str(p.id)]
        )
        for p in inv.payments
        if p.exchange_rate is not None
    }


def _difference(differences: dict[UUID, ExchangeDifference], payment: UUID) -> Decimal | None:
    d = differences.get(payment)
    return None if d is None else d.difference


def _sent_on(inv: InvoiceRecord) -> dt.date | None:
    """The day ``sent_at`` falls on where the seller works (``calendar.zone_of`` of the seller
    snapshot: its ``timezone``, else its country's zone), the day the filters compare it by;
    UTC's before session 33 (sent at 00:30 in Cologne on 1 January, the document said 31
    December)."""
    if inv.sent_at is None:
        return None
    return calendar.local_day(inv.sent_at, calendar.zone_of(inv.seller or {}))


def invoice_state(inv: InvoiceRecord) -> InvoiceState:
    return InvoiceState.model_validate(invoice_document(inv))


def invoice_document(inv: InvoiceRecord) -> Doc:
    """``invoice_state`` before validation: the fields of ``InvoiceState`` (and of the models
    nested in it) as plain values, which pydantic validates in one call (``invoice_state``, or
    a whole list page at once): about 8 % less CPU than a constructor call per nested model in
    the workers, whose start-up objects are frozen (docs/reads.md, session 13). A dict does not
    fail on a misspelt key, so tests/unit/test_invoice_document.py checks every key. The
    record's lists and dicts are handed over as they are: validation builds the model's own
    (``test_the_state_shares_no_container_with_the_record``)."""
    cur = inv.currency
    m = rounder(cur)  # round_money(·, cur)
    normalized = None
    org_currency = foreign(inv)
    differences = payment_differences(inv)
    moved = movement_vat(inv)
    if inv.exchange_rate is not None and org_currency is not None:
        n = normalize(
            org_currency,
            inv.exchange_rate,
            document_groups(inv),
            paid=inv.paid_amount,
            credited=inv.credited_amount,
            credited_net=inv.credited_net,
            written_off=inv.written_off_amount,
            receivable=inv.kind == "invoice" and inv.status not in ("draft", "void"),
        )
        normalized = dict(
            currency=org_currency,
            exchange_rate=inv.exchange_rate,
            exchange_rate_date=inv.exchange_rate_date,
            net_total=n.net_total,
            tax_total=n.tax_total,
            gross_total=n.gross_total,
            tax_breakdown=[
                dict(
                    category=g.category.value,
                    rate=g.rate,
                    taxable_amount=g.net,
                    tax_amount=g.tax,
                )
                for g in n.groups
            ],
            tax_ledger=_normalized_ledger(inv, n.groups, moved),
            paid_amount=n.paid,
            credited_amount=n.credited,
            credited_net=n.credited_net,
            written_off_amount=n.written_off,
            open_amount=n.open,
            exchange_difference=_m(
                sum((d.difference for d in differences.values()), ZERO), org_currency
            ),
        )
    tax_ledger, ledger_entries = _ledger_state(inv, moved)
    return dict(
        id=inv.id,
        organization_id=inv.organization_id,
        kind=inv.kind,
        status=inv.status,
        overdue=inv.overdue,
        dunning_level=inv.dunning_level,
        dunned_on=inv.dunned_on,
        default_note=inv.default_note,
        payment_reference=inv.payment_reference,
        deleted=inv.deleted_at is not None,
        number=inv.number,
        issue_date=inv.issue_date,
        due_date=inv.due_date,
        payment_terms_days=inv.payment_terms_days,
        delivery_date=inv.delivery_date,
        service_period_start=inv.service_period_start,
        service_period_end=inv.service_period_end,
        currency=cur,
        calculate_from_net=inv.calculate_from_net,
        locale=inv.locale,
        customer_id=inv.customer_id,
        seller=inv.seller or None,
        buyer=inv.buyer or None,
        case_id=inv.case_id,
        project_reference=inv.project_reference,
        purchase_order_number=inv.purchase_order_number,
        creator_id=inv.creator_id,
        issuer_id=inv.issuer_id,
        responsible_id=inv.responsible_id,
        subscriber_ids=inv.subscriber_ids or [],
        deal_id=inv.deal_id,
        subsidiary_id=inv.subsidiary_id,
        subject=inv.subject,
        recipient_text=inv.recipient_text,
        invoicing_party_text=inv.invoicing_party_text,
        vat_number=inv.vat_number,
        bank_account_id=inv.bank_account_id,
        invoicing_method=inv.invoicing_method,
        notes=inv.notes,
        footer=inv.footer,
        tags=inv.tags or [],
        custom_fields=inv.custom_fields or {},
        lines=[
            dict(
                id=line.id,
                position=line.position,
                description=line.description,
                subtitle=line.subtitle,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                tax_category=line.tax_category,
                tax_code=_tax_code(line.tax_category),
                tax_rate=line.tax_rate,
                discount=line.discount or None,
                base_amount=m(line.base_amount),
                discount_amount=m(line.discount_amount),
                amount=m(line.amount),
                net_amount=m(line.net_amount),
                billable_entry_ids=line.billable_entry_ids or [],
                budget_id=line.budget_id,
                service_id=line.service_id,
            )
            for line in inv.lines
        ],
        discount=inv.discount or None,
        tax_breakdown=inv.tax_breakdown or [],
        tax_ledger=tax_ledger,
        ledger_entries=ledger_entries,
        totals=dict(
            line_net_total=m(inv.line_net_total),
            allowance_total=m(inv.allowance_total),
            net_total=m(inv.net_total),
            tax_total=m(inv.tax_total),
            gross_total=m(inv.gross_total),
            paid_amount=m(inv.paid_amount),
            credited_amount=m(inv.credited_amount),
            credited_net=m(inv.credited_net),
            written_off_amount=m(inv.written_off_amount),
            open_amount=m(open_amount(inv)),
            credit_balance=m(credit_balance(inv)),
        ),
        normalized=normalized,
        legal_notes=inv.legal_notes or [],
        payments=[
            dict(
                id=p.id,
                amount=m(p.amount),
                date=p.date,
                method=p.method,
                reference=p.reference,
                recorded_at=p.recorded_at,
                customer_payment_id=p.customer_payment_id,
                credit_entry_id=p.credit_entry_id,
                exchange_rate=p.exchange_rate,
                exchange_difference=_difference(differences, p.id),
            )
            for p in inv.payments
        ],
        credit_note_ids=inv.credit_note_ids or [],
        credited_invoice_id=inv.credited_invoice_id,
        credited_invoice_number=inv.credited_invoice_number,
        credited_invoice_issue_date=inv.credited_invoice_issue_date,
        credit_reason=inv.credit_reason,
        replaced_by_invoice_id=inv.replaced_by_invoice_id,
        replaces_invoice_id=inv.replaces_invoice_id,
        export_status="exported" if inv.exported_at else "unexported",
        exported_at=inv.exported_at,
        integration_exports=[v for _, v in sorted((inv.integration_exports or {}).items())],
        finalized_at=inv.finalized_at,
        sent_at=inv.sent_at,
        sent_on=_sent_on(inv),
        paid_at=inv.paid_at,
        paid_on=inv.paid_on,
        voided_at=inv.voided_at,
        deleted_at=inv.deleted_at,
        created_at=inv.created_at,
        updated_at=inv.updated_at,
        sequence=inv.event_sequence,
    )
