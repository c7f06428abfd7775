"""The invoice as the outside world sees it: an invoice row -> ``InvoiceState`` (event data,
queries). The row is an ORM ``Invoice`` or the plain rows of a list page (``queries.rows``):
both have the ``InvoiceRecord`` shape, and this is the one mapping of it."""

from __future__ import annotations

from decimal import Decimal

from invoicing.domain.fx import ExchangeDifference, exchange_difference, normalize
from invoicing.domain.money import ZERO, round_money
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.ledger_io import document_groups, ledger_of
from invoicing.models.records import InvoiceRecord, PaymentRecord
from invoicing.schemas.events import (
    Discount,
    IntegrationExport,
    InvoiceState,
    LedgerEntry,
    LedgerEntryGroup,
    LedgerGroup,
    LineState,
    Normalized,
    NormalizedGroup,
    Party,
    PaymentState,
    TaxBreakdown,
    Totals,
)


def owed(inv: InvoiceRecord) -> Decimal:
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


def _ledger_state(inv: InvoiceRecord) -> tuple[list[LedgerGroup], list[LedgerEntry]]:
    if inv.kind != "invoice" or inv.finalized_at is None:  # not frozen
        return [], []
    ledger = ledger_of(inv)
    cur = inv.currency
    groups = [
        LedgerGroup(
            category=b.category.value,
            rate=b.rate,
            invoiced_net=_m(b.invoiced_net, cur),
            invoiced_tax=_m(b.invoiced_tax, cur),
            credited_net=_m(b.credited_net, cur),
            credited_tax=_m(b.credited_tax, cur),
            written_off_net=_m(b.written_off_net, cur),
            written_off_tax=_m(b.written_off_tax, cur),
            open_net=_m(b.open_net, cur),
            open_tax=_m(b.open_tax, cur),
        )
        for b in ledger.groups
    ]
    entries = [
        LedgerEntry(
            kind=m.kind.value,
            date=m.date,
            document_id=m.document_id,
            number=m.number,
            reason=m.reason,
            net=_m(m.net, cur),
            tax=_m(m.tax, cur),
            gross=_m(m.gross, cur),
            groups=[
                LedgerEntryGroup(
                    category=g.category.value,
                    rate=g.rate,
                    net=_m(g.net, cur),
                    tax=_m(g.tax, cur),
                )
                for g in m.groups
            ],
        )
        for m in ledger.movements
    ]
    return groups, entries


def _m(value: Decimal, currency: str) -> Decimal:
    return round_money(value, currency)


def payment_difference(inv: InvoiceRecord, p: PaymentRecord) -> ExchangeDifference | None:
    """The realised exchange difference of a payment received at its own rate, if any."""
    if p.exchange_rate is None or inv.exchange_rate is None or not inv.normalized_currency:
        return None
    return exchange_difference(
        inv.normalized_currency, p.amount, inv.exchange_rate, p.exchange_rate
    )


def _difference(inv: InvoiceRecord, p: PaymentRecord) -> Decimal | None:
    d = payment_difference(inv, p)
    return None if d is None else d.difference


def invoice_state(inv: InvoiceRecord) -> InvoiceState:
    cur = inv.currency
    normalized = None
    org_currency = inv.normalized_currency
    if inv.exchange_rate is not None and org_currency and org_currency != cur:
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
        differences = [d for p in inv.payments if (d := payment_difference(inv, p)) is not None]
        normalized = Normalized(
            currency=org_currency,
            exchange_rate=inv.exchange_rate,
            exchange_rate_date=inv.exchange_rate_date,
            net_total=n.net_total,
            tax_total=n.tax_total,
            gross_total=n.gross_total,
            tax_breakdown=[
                NormalizedGroup(
                    category=g.category.value,
                    rate=g.rate,
                    taxable_amount=g.net,
                    tax_amount=g.tax,
                )
                for g in n.groups
            ],
            paid_amount=n.paid,
            credited_amount=n.credited,
            credited_net=n.credited_net,
            written_off_amount=n.written_off,
            open_amount=n.open,
            exchange_difference=_m(sum((d.difference for d in differences), ZERO), org_currency),
        )
    tax_ledger, ledger_entries = _ledger_state(inv)
    return InvoiceState(
        id=inv.id,
        organization_id=inv.organization_id,
        kind=inv.kind,
        status=inv.status,
        overdue=inv.overdue,
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
        seller=Party.model_validate(inv.seller) if inv.seller else None,
        buyer=Party.model_validate(inv.buyer) if inv.buyer else None,
        case_id=inv.case_id,
        project_reference=inv.project_reference,
        purchase_order_number=inv.purchase_order_number,
        creator_id=inv.creator_id,
        issuer_id=inv.issuer_id,
        responsible_id=inv.responsible_id,
        subscriber_ids=list(inv.subscriber_ids or []),
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
        tags=list(inv.tags or []),
        custom_fields=dict(inv.custom_fields or {}),
        lines=[
            LineState(
                id=line.id,
                position=line.position,
                description=line.description,
                subtitle=line.subtitle,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                tax_category=line.tax_category,
                tax_code=TaxCategory(line.tax_category).code,
                tax_rate=line.tax_rate,
                discount=Discount.model_validate(line.discount) if line.discount else None,
                base_amount=_m(line.base_amount, cur),
                discount_amount=_m(line.discount_amount, cur),
                amount=_m(line.amount, cur),
                net_amount=_m(line.net_amount, cur),
                billable_entry_ids=list(line.billable_entry_ids or []),
                budget_id=line.budget_id,
                service_id=line.service_id,
            )
            for line in inv.lines
        ],
        discount=Discount.model_validate(inv.discount) if inv.discount else None,
        tax_breakdown=[TaxBreakdown.model_validate(g) for g in inv.tax_breakdown or []],
        tax_ledger=tax_ledger,
        ledger_entries=ledger_entries,
        totals=Totals(
            line_net_total=_m(inv.line_net_total, cur),
            allowance_total=_m(inv.allowance_total, cur),
            net_total=_m(inv.net_total, cur),
            tax_total=_m(inv.tax_total, cur),
            gross_total=_m(inv.gross_total, cur),
            paid_amount=_m(inv.paid_amount, cur),
            credited_amount=_m(inv.credited_amount, cur),
            credited_net=_m(inv.credited_net, cur),
            written_off_amount=_m(inv.written_off_amount, cur),
            open_amount=_m(open_amount(inv), cur),
            credit_balance=_m(credit_balance(inv), cur),
        ),
        normalized=normalized,
        legal_notes=list(inv.legal_notes or []),
        payments=[
            PaymentState(
                id=p.id,
                amount=_m(p.amount, cur),
                date=p.date,
                method=p.method,
                reference=p.reference,
                recorded_at=p.recorded_at,
                customer_payment_id=p.customer_payment_id,
                credit_entry_id=p.credit_entry_id,
                exchange_rate=p.exchange_rate,
                exchange_difference=_difference(inv, p),
            )
            for p in inv.payments
        ],
        credit_note_ids=list(inv.credit_note_ids or []),
        credited_invoice_id=inv.credited_invoice_id,
        credited_invoice_number=inv.credited_invoice_number,
        credited_invoice_issue_date=inv.credited_invoice_issue_date,
        credit_reason=inv.credit_reason,
        replaced_by_invoice_id=inv.replaced_by_invoice_id,
        replaces_invoice_id=inv.replaces_invoice_id,
        export_status="exported" if inv.exported_at else "unexported",
        exported_at=inv.exported_at,
        integration_exports=[
            IntegrationExport.model_validate(v)
            for _, v in sorted((inv.integration_exports or {}).items())
        ],
        finalized_at=inv.finalized_at,
        sent_at=inv.sent_at,
        sent_on=inv.sent_at.date() if inv.sent_at else None,
        paid_at=inv.paid_at,
        paid_on=inv.paid_on,
        voided_at=inv.voided_at,
        deleted_at=inv.deleted_at,
        created_at=inv.created_at,
        updated_at=inv.updated_at,
        sequence=inv.event_sequence,
    )
