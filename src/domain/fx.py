"""Amounts in the organization's currency (normalized) for a foreign-currency document.

The exchange rate (organization-currency units per document-currency unit) and its date are
frozen at finalize. Each VAT group's net and VAT is converted and rounded on its own, and the
totals are sums of the converted parts, so the VAT total in the seller's currency (EN 16931
BT-111, with BT-6 naming the currency; Directive 2006/112/EC art. 230) equals the sum of the
groups' VAT in that currency. Paid, credited and written-off amounts are converted each at the
same frozen rate; open = gross - credited - written off - paid in the organization currency,
never below zero, so the parts add up there too. Pure code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from invoicing.domain.ledger import GroupAmount
from invoicing.domain.money import ZERO, round_money


@dataclass(frozen=True)
class NormalizedAmounts:
    currency: str
    groups: tuple[GroupAmount, ...]
    net_total: Decimal
    tax_total: Decimal  # BT-111
    gross_total: Decimal
    paid: Decimal
    credited: Decimal
    written_off: Decimal
    open: Decimal


def normalize(
    currency: str,
    rate: Decimal,
    groups: Sequence[GroupAmount],
    *,
    paid: Decimal = ZERO,
    credited: Decimal = ZERO,
    written_off: Decimal = ZERO,
    receivable: bool = True,
) -> NormalizedAmounts:
    """Convert a document's groups and balances into ``currency`` at ``rate``."""

    def conv(amount: Decimal) -> Decimal:
        return round_money(amount * rate, currency)

    converted = tuple(GroupAmount(g.category, g.rate, conv(g.net), conv(g.tax)) for g in groups)
    net = sum((g.net for g in converted), ZERO)
    tax = sum((g.tax for g in converted), ZERO)
    paid_n, credited_n, written_n = conv(paid), conv(credited), conv(written_off)
    owed = net + tax - credited_n - written_n - paid_n
    open_n = round_money(max(owed, ZERO) if receivable else ZERO, currency)
    return NormalizedAmounts(
        currency, converted, net, tax, net + tax, paid_n, credited_n, written_n, open_n
    )
