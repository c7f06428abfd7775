"""Amounts in the organization's currency (normalized) for a foreign-currency document.

The exchange rate (organization-currency units per document-currency unit) and its date are
frozen at finalize. Each VAT group's net and VAT is converted and rounded on its own, and the
totals are sums of the converted parts, so the VAT total in the seller's currency (EN 16931
BT-111, with BT-6 naming the currency; Directive 2006/112/EC art. 230) equals the sum of the
groups' VAT in that currency. Paid, credited and written-off amounts are converted each at the
same frozen rate; open = gross - credited - written off - paid in the organization currency,
never below zero, so the parts add up there too. A payment in the invoice currency received at
another rate (``exchange_difference``) settles the receivable at the frozen rate; the rest of
what it was worth is a realised exchange gain or loss. Pure code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from invoicing.domain.errors import DomainError
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
    credited_net: Decimal = ZERO


def normalize(
    currency: str,
    rate: Decimal,
    groups: Sequence[GroupAmount],
    *,
    paid: Decimal = ZERO,
    credited: Decimal = ZERO,
    written_off: Decimal = ZERO,
    receivable: bool = True,
    credited_net: Decimal = ZERO,
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
        currency,
        converted,
        net,
        tax,
        net + tax,
        paid_n,
        credited_n,
        written_n,
        open_n,
        conv(credited_net),
    )


@dataclass(frozen=True)
class ExchangeDifference:
    """What a payment in the invoice currency was worth in the organization currency at the
    invoice's frozen rate (``booked``: what it settles of the receivable) and at the rate the
    money came in at (``received``); ``difference`` = received - booked, a realised gain when
    positive, a loss when negative (HGB § 252 Abs. 1 Nr. 4, § 277 Abs. 5 HGB)."""

    currency: str
    amount: Decimal  # in the invoice currency
    invoice_rate: Decimal
    payment_rate: Decimal
    booked: Decimal
    received: Decimal

    @property
    def difference(self) -> Decimal:
        return self.received - self.booked

    @property
    def kind(self) -> str:
        return "gain" if self.difference > 0 else "loss"

    def to_json(self) -> dict[str, str]:
        return {
            "currency": self.currency,
            "amount": str(self.amount),
            "invoice_rate": str(self.invoice_rate),
            "payment_rate": str(self.payment_rate),
            "booked": str(self.booked),
            "received": str(self.received),
            "difference": str(self.difference),
            "kind": self.kind,
        }


def exchange_difference(
    currency: str, amount: Decimal, invoice_rate: Decimal, payment_rate: Decimal
) -> ExchangeDifference:
    """``amount`` (invoice currency) at both rates, each rounded to ``currency``'s minor units."""
    return ExchangeDifference(
        currency,
        amount,
        invoice_rate,
        payment_rate,
        round_money(amount * invoice_rate, currency),
        round_money(amount * payment_rate, currency),
    )


def check_payment_rate(
    rate: Decimal | None,
    currency: str,
    org_currency: str | None,
    invoice_rate: Decimal | None,
    *,
    kind: str = "invoice",
) -> None:
    """A payment's ``exchange_rate`` belongs to an invoice (not a credit note's refund) in
    another currency than the organization's, with its rate frozen at finalize."""
    if rate is None:
        return
    if kind != "invoice":
        raise DomainError(
            "invalid_attribute",
            f"a {kind.replace('_', ' ')} records no exchange difference",
            pointer="/exchange_rate",
            hint="leave exchange_rate out; it is for payments of foreign-currency invoices",
        )
    if not org_currency or org_currency == currency or invoice_rate is None:
        raise DomainError(
            "invalid_attribute",
            f"the invoice is in {currency}, the organization's own currency: a payment of it "
            "has no exchange rate",
            pointer="/exchange_rate",
            hint="leave exchange_rate out; it is for payments of foreign-currency invoices",
        )
