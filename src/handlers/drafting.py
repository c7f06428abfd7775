"""Shared rules for building a document from lines: recalculation, notes, copies.

Used by the handlers that create or change drafts and credit notes, and by document tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from invoicing.domain.calc import (
    Discount,
    DiscountKind,
    LineInput,
    check_converted,
    check_discount_units,
    compute,
)
from invoicing.domain.errors import DomainError
from invoicing.domain.tax import LegalContext, TaxCategory
from invoicing.models import InvoiceLine
from invoicing.models.records import InvoiceDraft, InvoiceRecord, LineRecord
from invoicing.schemas.commands import DiscountIn, LineIn

#: the line class a draft is built with: ``InvoiceLine`` (ORM) or ``aggregates.LineData``
L = TypeVar("L", bound=LineRecord)


def discount_from(data: dict[str, Any] | None) -> Discount | None:
    if not data:
        return None
    return Discount(DiscountKind(data["type"]), Decimal(str(data["value"])))


def discount_json(d: DiscountIn | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"type": d.type.value, "value": str(d.value)}


def make_line(
    inv: InvoiceRecord,
    line: LineIn,
    *,
    position: int,
    line_id: uuid.UUID,
    default_rate: Decimal | None,
    pointer: str,
) -> InvoiceLine:
    """Validate one line against the invoice and the rules of its tax category."""
    return build_line(
        inv,
        line,
        position=position,
        line_id=line_id,
        default_rate=default_rate,
        pointer=pointer,
        new=InvoiceLine,
    )


def build_line(
    inv: InvoiceRecord,
    line: LineIn,
    *,
    position: int,
    line_id: uuid.UUID,
    default_rate: Decimal | None,
    pointer: str,
    new: Callable[..., L],
) -> L:
    """:func:`make_line` building ``new`` (``InvoiceLine``, or ``aggregates.LineData``)."""
    rate = line.tax_rate if line.tax_rate is not None else default_rate
    if rate is None:
        raise DomainError(
            "invalid_attribute",
            "can't be blank",
            pointer=f"{pointer}/tax_rate",
            hint="give tax_rate, or set default_tax_rate in configure_organization",
        )
    category = line.tax_category
    if category.needs_zero_rate and rate != 0:
        raise DomainError(
            "invalid_tax_rate",
            f"tax category {category.value} requires tax_rate 0, got {rate}",
            pointer=f"{pointer}/tax_rate",
            hint="use tax_category standard for a positive rate",
        )
    if category is TaxCategory.STANDARD and rate == 0:
        raise DomainError(
            "invalid_tax_rate",
            "tax category standard requires a positive tax_rate",
            pointer=f"{pointer}/tax_rate",
            hint="use tax_category zero, exempt, reverse_charge, intra_eu, export or outside_scope",
        )
    discount = line.discount
    if discount is not None:
        check_discount_units(
            Discount(discount.type, discount.value), inv.currency, f"{pointer}/discount/value"
        )
    zero = Decimal(0)
    return new(
        organization_id=inv.organization_id,
        id=line_id,
        invoice_id=inv.id,
        position=position,
        description=line.description,
        subtitle=line.subtitle,
        quantity=line.quantity,
        unit=line.unit,
        unit_price=line.unit_price,
        tax_category=category.value,
        tax_rate=rate,
        discount=discount_json(line.discount),
        base_amount=zero,
        discount_amount=zero,
        amount=zero,
        net_amount=zero,
        billable_entry_ids=list(line.billable_entry_ids),
        budget_id=line.budget_id,
        service_id=line.service_id,
    )


def recalculate(
    inv: InvoiceDraft,
    *,
    small_business_country: str | None = None,
    group_taxes: Mapping[tuple[str, Decimal], Decimal] | None = None,
    legal: LegalContext | None = None,
    buyer_country: str | None = None,
) -> None:
    """Recompute every amount of a draft from its lines and discount (the totals engine), and
    its legal notes: chosen by the seller's law (``legal``) and written in its language.

    ``group_taxes`` fixes the VAT of some groups (a credit note taking what remains of an
    invoice's group, see domain/ledger.py): with net entry the net stays, with gross entry the
    gross (the net takes the difference).

    ``buyer_country``: the customer's country while the document has no buyer snapshot yet (a
    draft: the snapshot is taken at finalize), so a draft's notes are those its finalize will
    print (a reverse charge to another Member State cites Art. 196, not § 13b).
    """
    if inv.is_frozen:
        raise AssertionError("recalculate() called on a finalized document")
    lines = sorted(inv.lines, key=lambda line: line.position)
    totals = compute(
        inv.currency,
        [
            LineInput(
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_category=TaxCategory(line.tax_category),
                tax_rate=line.tax_rate,
                discount=discount_from(line.discount),
            )
            for line in lines
        ],
        calculate_from_net=inv.calculate_from_net,
        document_discount=discount_from(inv.discount),
        fixed_taxes=group_taxes,
    )
    if inv.exchange_rate is not None:
        check_converted(totals, inv.exchange_rate)
    for line, res in zip(lines, totals.lines, strict=True):
        # set only what changed: an unchanged line stays clean, nothing for the flush to do
        # (a finalize recomputes the same amounts)
        if (line.base_amount, line.discount_amount, line.amount, line.net_amount) != (
            res.base_amount,
            res.discount_amount,
            res.amount,
            res.net_amount,
        ):
            line.base_amount = res.base_amount
            line.discount_amount = res.discount_amount
            line.amount = res.amount
            line.net_amount = res.net_amount
    if legal is None:
        legal = LegalContext(
            seller_country=small_business_country, small_business=bool(small_business_country)
        )
    buyer_country = ((inv.buyer or {}).get("address") or {}).get("country_code") or buyer_country
    notes: list[str] = []
    breakdown: list[dict[str, Any]] = []
    for g in totals.groups:
        reason = legal.note(g.category, inv.locale, buyer_country)
        if reason and reason not in notes:
            notes.append(reason)
        breakdown.append(
            {
                "category": g.category.value,
                "code": g.category.code,
                "rate": str(g.rate),
                "lines_net": str(g.lines_net),
                "allowance": str(g.allowance),
                "taxable_amount": str(g.taxable_amount),
                "tax_amount": str(g.tax_amount),
                "exemption_reason": reason,
            }
        )
    inv.tax_breakdown = breakdown
    inv.legal_notes = notes
    inv.line_net_total = totals.line_net_total
    inv.allowance_total = totals.allowance_total
    inv.net_total = totals.tax_exclusive
    inv.tax_total = totals.tax_total
    inv.gross_total = totals.gross_total
