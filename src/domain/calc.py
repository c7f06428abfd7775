"""The totals engine: EN 16931 arithmetic that holds by construction.

Policy (see docs/arithmetic.md):

Net entry (``calculate_from_net``):
  line base      = round(quantity x unit price)
  line discount  = round(base-before-rounding x percent) or the given amount
  line net       = line base - line discount                               (BT-131)
  group base     = sum of line nets per (category, rate)
  doc allowance  = round(group base x percent) per group, or the amount split pro rata
  taxable        = group base - allowance                                  (BT-116)
  tax            = round(taxable x rate / 100), once per group             (BT-117)
Gross entry: the same on gross amounts; each group's gross after allowances is split into
taxable + tax that add up to it to the cent, choosing the split for which tax equals
round(taxable x rate) whenever one exists; group nets are spread over the lines pro rata.
Totals are sums of rounded parts: BR-CO-10/13/14/15/16 and BR-S-08 hold exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from invoicing.domain.errors import DomainError
from invoicing.domain.money import (
    HUNDRED,
    ZERO,
    allocate,
    fits_minor_units,
    minor_units,
    quantum,
    round_money,
)
from invoicing.domain.tax import TaxCategory


class DiscountKind(StrEnum):
    PERCENTAGE = "percentage"
    AMOUNT = "amount"


@dataclass(frozen=True)
class Discount:
    kind: DiscountKind
    value: Decimal


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    tax_category: TaxCategory
    tax_rate: Decimal
    discount: Discount | None = None


@dataclass(frozen=True)
class LineResult:
    base_amount: Decimal  # quantity x unit price, rounded (net or gross, as entered)
    discount_amount: Decimal  # as entered side (net or gross)
    amount: Decimal  # base - discount, as entered side
    net_amount: Decimal  # BT-131


@dataclass(frozen=True)
class TaxGroup:
    category: TaxCategory
    rate: Decimal
    lines_net: Decimal  # sum of BT-131 in the group
    allowance: Decimal  # BT-92 share of the document discount, net
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117


@dataclass(frozen=True)
class Totals:
    currency: str
    lines: list[LineResult]
    groups: list[TaxGroup]
    line_net_total: Decimal  # BT-106
    allowance_total: Decimal  # BT-107
    tax_exclusive: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    gross_total: Decimal  # BT-112


def check_discount_units(discount: Discount | None, currency: str, pointer: str) -> None:
    """An amount discount is money: it has no more decimals than ``currency`` allows (a
    percentage may have any). Checked where a discount or the currency is set, so that
    :func:`compute` never meets one that does not fit (a document's amount discount is
    spread over its groups in minor units)."""
    if discount is None or discount.kind is not DiscountKind.AMOUNT:
        return
    if fits_minor_units(discount.value, currency):
        return
    digits = minor_units(currency)
    raise DomainError(
        "invalid_attribute",
        f"the amount discount {discount.value} has more decimals than {currency} allows",
        pointer=pointer,
        hint=f"{currency} amounts have at most {digits} decimals"
        if digits
        else f"{currency} has no minor unit: give the discount in whole amounts",
    )


#: every amount of a document, and every payment, stays below 10^14 (a hundred trillion):
#: within what a command can carry (15 integer digits, ``schemas.common``), so that each can
#: be paid, credited or written off; rounded within ``decimal``'s 28 digits (a line of
#: 10^14 x 10^12 raised InvalidOperation at its rounding, an internal error instead of a
#: rejection); and exact in SQLite's money keys, 64-bit integers of 10^-4 units that hold
#: amounts up to 9.2 x 10^14 only (``queries.common.money_key``: beyond, SQLite's arithmetic
#: went through floats, and a void invoice of 999,000,000,000,000.00 credited all but 1.01
#: and paid 1.01 was open on SQLite and settled on PostgreSQL)
AMOUNT_LIMIT = Decimal(10) ** 14


def check_amount(amount: Decimal, what: str, pointer: str) -> None:
    """Refuse (``amount_too_large``) an amount at or beyond ``AMOUNT_LIMIT``."""
    if abs(amount) >= AMOUNT_LIMIT:
        raise DomainError(
            "amount_too_large",
            f"{what} ({amount:.2E}) is not below 10^14",
            pointer=pointer,
            hint="every amount of a document and every payment stays below "
            "100,000,000,000,000: lower quantities or prices, or split the document",
        )


def group_key(category: TaxCategory, rate: Decimal) -> tuple[str, Decimal]:
    return (category.value, rate.normalize())


def _line_amounts(line: LineInput, currency: str, index: int) -> tuple[Decimal, Decimal]:
    exact = line.quantity * line.unit_price
    check_amount(exact, f"line {index + 1}'s quantity x unit price", f"/lines/{index}")
    base = round_money(exact, currency)
    discount = round_money(ZERO, currency)
    if line.discount is not None:
        if line.discount.kind is DiscountKind.PERCENTAGE:
            discount = round_money(exact * line.discount.value / HUNDRED, currency)
        else:
            discount = line.discount.value
        if discount > base:
            raise DomainError(
                "discount_too_large",
                f"the line discount {discount} exceeds the line amount {base}",
                pointer=f"/lines/{index}/discount",
                hint="lower the discount or raise quantity or unit price",
            )
    return base, discount


def split_gross(gross: Decimal, rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Split a gross amount into (taxable, tax) with taxable + tax == gross exactly.

    Prefers the split where tax == round(taxable x rate) (EN 16931 BR-S-09 without tolerance);
    where no such split exists the tax extracted from the gross is used, which is within one
    minor unit of it (the tolerance the official rules allow).
    """
    if rate == 0:
        return gross, round_money(ZERO, currency)  # 0.00, as every other amount, not 0
    q = quantum(currency)
    t0 = round_money(gross * rate / (HUNDRED + rate), currency)
    for tax in (t0, t0 - q, t0 + q):
        taxable = gross - tax
        if round_money(taxable * rate / HUNDRED, currency) == tax:
            return taxable, tax
    return gross - t0, t0


def compute(
    currency: str,
    lines: Sequence[LineInput],
    *,
    calculate_from_net: bool = True,
    document_discount: Discount | None = None,
    fixed_taxes: Mapping[tuple[str, Decimal], Decimal] | None = None,
) -> Totals:
    """Compute every amount of a document; raises DomainError for impossible discounts.

    ``fixed_taxes`` fixes the VAT of some groups (a credit note taking or splitting what
    remains of an invoice's group, see ``domain.ledger``): with gross entry the group's gross
    stays as entered, its net is the gross less that VAT and the lines' nets follow; with net
    entry the net stays and the gross follows (``with_group_taxes``)."""
    amounts = [_line_amounts(line, currency, i) for i, line in enumerate(lines)]
    keys: list[tuple[str, Decimal]] = []
    members: dict[tuple[str, Decimal], list[int]] = {}
    for i, line in enumerate(lines):
        key = group_key(line.tax_category, line.tax_rate)
        if key not in members:
            keys.append(key)
            members[key] = []
        members[key].append(i)
    line_amounts = [base - disc for base, disc in amounts]
    group_amounts = [sum((line_amounts[i] for i in members[k]), ZERO) for k in keys]
    subtotal = sum(group_amounts, ZERO)

    allowances = [round_money(ZERO, currency)] * len(keys)
    if document_discount is not None and keys:
        if document_discount.kind is DiscountKind.PERCENTAGE:
            allowances = [
                round_money(g * document_discount.value / HUNDRED, currency) for g in group_amounts
            ]
        else:
            if document_discount.value > subtotal:
                raise DomainError(
                    "discount_too_large",
                    f"the document discount {document_discount.value} exceeds the "
                    f"subtotal {subtotal}",
                    pointer="/discount",
                    hint="lower the document discount",
                )
            allowances = allocate(document_discount.value, group_amounts, currency)

    net_amounts = list(line_amounts)
    groups: list[TaxGroup] = []
    for gi, key in enumerate(keys):
        first = lines[members[key][0]]
        category, rate = first.tax_category, first.tax_rate
        if calculate_from_net:
            taxable = group_amounts[gi] - allowances[gi]
            tax = round_money(taxable * rate / HUNDRED, currency)
            lines_net, allowance_net = group_amounts[gi], allowances[gi]
        else:
            taxable, tax = split_gross(group_amounts[gi] - allowances[gi], rate, currency)
            lines_net, _ = split_gross(group_amounts[gi], rate, currency)
            if fixed_taxes and key in fixed_taxes:
                moved = tax - fixed_taxes[key]  # net gained where the VAT is fixed lower
                taxable, tax, lines_net = taxable + moved, tax - moved, lines_net + moved
            allowance_net = lines_net - taxable
            idx = members[key]
            for i, share in zip(
                idx, allocate(lines_net, [line_amounts[i] for i in idx], currency), strict=True
            ):
                net_amounts[i] = share
        groups.append(TaxGroup(category, rate, lines_net, allowance_net, taxable, tax))

    results = [
        LineResult(base, disc, base - disc, net_amounts[i])
        for i, (base, disc) in enumerate(amounts)
    ]
    line_net_total = sum((r.net_amount for r in results), ZERO)
    allowance_total = sum((g.allowance for g in groups), ZERO)
    tax_exclusive = line_net_total - allowance_total
    tax_total = sum((g.tax_amount for g in groups), ZERO)
    check_amount(line_net_total, "the lines' net total", "/lines")
    check_amount(tax_exclusive + tax_total, "the gross total", "/lines")
    totals = Totals(
        currency=currency,
        lines=results,
        groups=groups,
        line_net_total=line_net_total,
        allowance_total=allowance_total,
        tax_exclusive=tax_exclusive,
        tax_total=tax_total,
        gross_total=tax_exclusive + tax_total,
    )
    if fixed_taxes and calculate_from_net:
        return with_group_taxes(totals, fixed_taxes)
    return totals


def check_converted(totals: Totals, rate: Decimal) -> None:
    """A foreign-currency document's amounts converted at ``rate`` stay below the limit too
    (every group's net and VAT, and what they add up to, are converted)."""
    largest = sum((abs(g.taxable_amount) + abs(g.tax_amount) for g in totals.groups), ZERO)
    check_amount(largest * rate, "the document converted at its exchange rate", "/exchange_rate")


def with_group_taxes(totals: Totals, taxes: Mapping[tuple[str, Decimal], Decimal]) -> Totals:
    """The same document with the VAT of some groups fixed (the ledger's remainder).

    Used for credit notes that take exactly what remains of a group: that VAT is the invoice's
    VAT less what earlier credits took, which can differ by rounding (a cent per earlier
    credit) from round(taxable x rate); EN 16931 BR-S-09 tolerates that. Totals stay sums of
    the parts, so BR-CO-14/15 still hold exactly.
    """
    groups = [
        replace(g, tax_amount=taxes.get(group_key(g.category, g.rate), g.tax_amount))
        for g in totals.groups
    ]
    tax_total = sum((g.tax_amount for g in groups), ZERO)
    return replace(
        totals, groups=groups, tax_total=tax_total, gross_total=totals.tax_exclusive + tax_total
    )
