"""``InvoiceState`` of a list page's rows without validating again what the database typed.

``handlers.views.invoice_state`` builds the document through pydantic validation: every UUID,
date, timestamp and Decimal of 50 invoices of a page is checked again although SQLAlchemy's
column types already made them exactly that (about a third of the Python time of a page). Here
the same document is put together from the same values, and only what is untyped is validated:
the JSON snapshots and breakdowns (buyer, seller, discounts, VAT breakdown, integration exports)
go through their models as before.

The models are built with ``model_copy(update=...)`` (pydantic's public way to set trusted
values; ``model_construct`` walks every field in Python and is slower than validating) of a
template: the first instance of each model built in the process, which is validated. Every
field is given on every copy (checked), so nothing of the template survives in another
document.

A row holding anything that would need converting or could fail validation (an unknown kind or
status, a non-text tag, credit note ids, foreign-currency amounts, ledger movements) is built by
``invoice_state`` itself, so the result is always the validated document:
``tests/integration/test_list_rows.py`` checks that both give the same JSON and fields.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar, get_args

from invoicing.domain.money import round_money
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.ledger_io import ledger_of
from invoicing.handlers.views import credit_balance, invoice_state, open_amount
from invoicing.models.records import InvoiceRecord
from invoicing.schemas.events import (
    Discount,
    IntegrationExport,
    InvoiceState,
    LedgerGroup,
    LineState,
    Party,
    PaymentState,
    TaxBreakdown,
    Totals,
)
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

KINDS = frozenset(get_args(InvoiceState.model_fields["kind"].annotation))
STATUSES = frozenset(get_args(InvoiceState.model_fields["status"].annotation))


class Trusted(Generic[M]):
    """Instances of ``model`` from values that already have its field types."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.fields = frozenset(model.model_fields)
        self._template: M | None = None
        self._lock = threading.Lock()

    def __call__(self, values: dict[str, Any]) -> M:
        if values.keys() != self.fields:
            raise ValueError(f"{self.model.__name__}: not every field given: {sorted(values)}")
        template = self._template
        if template is None:
            with self._lock:
                if self._template is None:
                    self._template = self.model.model_validate(values)
                    return self._template.model_copy()
                template = self._template
        return template.model_copy(update=values)


_state = Trusted(InvoiceState)
_line = Trusted(LineState)
_totals = Trusted(Totals)
_payment = Trusted(PaymentState)
_group = Trusted(LedgerGroup)


def _texts(values: Iterable[Any]) -> bool:
    return all(type(v) is str for v in values)


def _plain(inv: InvoiceRecord) -> bool:
    """Every value of the row has its field's type already (or is validated below)."""
    return (
        inv.kind in KINDS
        and inv.status in STATUSES
        and not (inv.exchange_rate is not None and inv.normalized_currency)
        and not inv.credit_note_ids
        and not inv.ledger
        and _texts(inv.tags or ())
        and _texts(inv.subscriber_ids or ())
        and _texts(inv.legal_notes or ())
        and all(_texts(line.billable_entry_ids or ()) for line in inv.lines)
        and all(p.exchange_rate is None for p in inv.payments)
    )


def _validated(model: type[M], value: Mapping[str, Any] | None) -> M | None:
    return model.model_validate(value) if value else None


def _tax_ledger(inv: InvoiceRecord) -> list[LedgerGroup]:
    """``views._ledger_state``'s groups (a row without movements has no ledger entries)."""
    if inv.kind != "invoice" or inv.finalized_at is None:  # not frozen
        return []
    cur = inv.currency
    return [
        _group(
            {
                "category": b.category.value,
                "rate": b.rate,
                "invoiced_net": round_money(b.invoiced_net, cur),
                "invoiced_tax": round_money(b.invoiced_tax, cur),
                "credited_net": round_money(b.credited_net, cur),
                "credited_tax": round_money(b.credited_tax, cur),
                "written_off_net": round_money(b.written_off_net, cur),
                "written_off_tax": round_money(b.written_off_tax, cur),
                "open_net": round_money(b.open_net, cur),
                "open_tax": round_money(b.open_tax, cur),
            }
        )
        for b in ledger_of(inv).groups
    ]


def page_state(inv: InvoiceRecord) -> InvoiceState:
    """``invoice_state(inv)``, built without validating typed values again."""
    if not _plain(inv):
        return invoice_state(inv)
    cur = inv.currency
    lines = [
        _line(
            {
                "id": line.id,
                "position": line.position,
                "description": line.description,
                "subtitle": line.subtitle,
                "quantity": line.quantity,
                "unit": line.unit,
                "unit_price": line.unit_price,
                "tax_category": line.tax_category,
                "tax_code": TaxCategory(line.tax_category).code,
                "tax_rate": line.tax_rate,
                "discount": _validated(Discount, line.discount),
                "base_amount": round_money(line.base_amount, cur),
                "discount_amount": round_money(line.discount_amount, cur),
                "amount": round_money(line.amount, cur),
                "net_amount": round_money(line.net_amount, cur),
                "billable_entry_ids": list(line.billable_entry_ids or []),
                "budget_id": line.budget_id,
                "service_id": line.service_id,
            }
        )
        for line in inv.lines
    ]
    payments = [
        _payment(
            {
                "id": p.id,
                "amount": round_money(p.amount, cur),
                "date": p.date,
                "method": p.method,
                "reference": p.reference,
                "recorded_at": p.recorded_at,
                "customer_payment_id": p.customer_payment_id,
                "credit_entry_id": p.credit_entry_id,
                "exchange_rate": None,  # a rate of its own: validated path (_plain)
                "exchange_difference": None,
            }
        )
        for p in inv.payments
    ]
    totals = _totals(
        {
            "line_net_total": round_money(inv.line_net_total, cur),
            "allowance_total": round_money(inv.allowance_total, cur),
            "net_total": round_money(inv.net_total, cur),
            "tax_total": round_money(inv.tax_total, cur),
            "gross_total": round_money(inv.gross_total, cur),
            "paid_amount": round_money(inv.paid_amount, cur),
            "credited_amount": round_money(inv.credited_amount, cur),
            "credited_net": round_money(inv.credited_net, cur),
            "written_off_amount": round_money(inv.written_off_amount, cur),
            "open_amount": round_money(open_amount(inv), cur),
            "credit_balance": round_money(credit_balance(inv), cur),
        }
    )
    return _state(
        {
            "id": inv.id,
            "organization_id": inv.organization_id,
            "kind": inv.kind,
            "status": inv.status,
            "overdue": inv.overdue,
            "deleted": inv.deleted_at is not None,
            "number": inv.number,
            "issue_date": inv.issue_date,
            "due_date": inv.due_date,
            "payment_terms_days": inv.payment_terms_days,
            "delivery_date": inv.delivery_date,
            "service_period_start": inv.service_period_start,
            "service_period_end": inv.service_period_end,
            "currency": cur,
            "calculate_from_net": inv.calculate_from_net,
            "locale": inv.locale,
            "customer_id": inv.customer_id,
            "seller": _validated(Party, inv.seller),
            "buyer": _validated(Party, inv.buyer),
            "case_id": inv.case_id,
            "project_reference": inv.project_reference,
            "purchase_order_number": inv.purchase_order_number,
            "creator_id": inv.creator_id,
            "issuer_id": inv.issuer_id,
            "responsible_id": inv.responsible_id,
            "subscriber_ids": list(inv.subscriber_ids or []),
            "deal_id": inv.deal_id,
            "subsidiary_id": inv.subsidiary_id,
            "subject": inv.subject,
            "recipient_text": inv.recipient_text,
            "invoicing_party_text": inv.invoicing_party_text,
            "vat_number": inv.vat_number,
            "bank_account_id": inv.bank_account_id,
            "invoicing_method": inv.invoicing_method,
            "notes": inv.notes,
            "footer": inv.footer,
            "tags": list(inv.tags or []),
            "custom_fields": dict(inv.custom_fields or {}),
            "lines": lines,
            "discount": _validated(Discount, inv.discount),
            "tax_breakdown": [TaxBreakdown.model_validate(g) for g in inv.tax_breakdown or []],
            "tax_ledger": _tax_ledger(inv),
            "ledger_entries": [],  # movements: validated path (_plain)
            "totals": totals,
            "normalized": None,  # foreign currency: validated path (_plain)
            "legal_notes": list(inv.legal_notes or []),
            "payments": payments,
            "credit_note_ids": [],  # ids from JSON: validated path (_plain)
            "credited_invoice_id": inv.credited_invoice_id,
            "credited_invoice_number": inv.credited_invoice_number,
            "credited_invoice_issue_date": inv.credited_invoice_issue_date,
            "credit_reason": inv.credit_reason,
            "replaced_by_invoice_id": inv.replaced_by_invoice_id,
            "replaces_invoice_id": inv.replaces_invoice_id,
            "export_status": "exported" if inv.exported_at else "unexported",
            "exported_at": inv.exported_at,
            "integration_exports": [
                IntegrationExport.model_validate(v)
                for _, v in sorted((inv.integration_exports or {}).items())
            ],
            "finalized_at": inv.finalized_at,
            "sent_at": inv.sent_at,
            "sent_on": inv.sent_at.date() if inv.sent_at else None,
            "paid_at": inv.paid_at,
            "paid_on": inv.paid_on,
            "voided_at": inv.voided_at,
            "deleted_at": inv.deleted_at,
            "created_at": inv.created_at,
            "updated_at": inv.updated_at,
            "sequence": inv.event_sequence,
        }
    )
