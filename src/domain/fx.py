"""Amounts in the organization's currency (normalized) for a foreign-currency document.

The exchange rate (organization-currency units per document-currency unit) and its date are
frozen at finalize. Each VAT group's net and VAT is converted and rounded on its own, and the
totals are sums of the converted parts, so the VAT total in the seller's currency (EN 16931
BT-111, with BT-6 naming the currency; Directive 2006/112/EC art. 230) equals the sum of the
groups' VAT in that currency. Credited, written-off and paid amounts are converted at the same
frozen rate as one cumulative sum (``settled_value``): settling the whole gross is worth the
converted gross, which can be a cent away from gross x rate, so a settled document's open
amount is zero in both currencies, and DATEV's debtor account closes with it
(``movement_values``). open = gross - credited - written off - paid in the organization
currency, never below zero, so the parts add up there too. A payment in the invoice currency
received at another rate (``exchange_difference``) settles the receivable at the frozen rate;
the rest of what it was worth is a realised exchange gain or loss. Pure code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.domain.calc import check_amount
from invoicing.domain.errors import DomainError
from invoicing.domain.ledger import GroupAmount, Key, key_of
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
    gross = sum((g.net + g.tax for g in groups), ZERO)

    def settled(amount: Decimal) -> Decimal:
        return settled_value(amount, gross, net + tax, rate, currency)

    # the parts are steps of one cumulative conversion, so they add up to what it settles
    credited_n = settled(credited)
    written_n = settled(credited + written_off) - credited_n
    paid_n = settled(credited + written_off + paid) - credited_n - written_n
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


def settled_value(
    settled: Decimal, gross: Decimal, gross_converted: Decimal, rate: Decimal, currency: str
) -> Decimal:
    """What ``settled`` of a document's ``gross`` (document currency, signed alike: paid,
    credited and written off so far) is worth in ``currency`` at the frozen ``rate``.

    Short of the gross it is ``settled`` x rate, rounded. Settling the whole gross is worth
    ``gross_converted`` (the sum of the converted groups, which can be a cent away from
    gross x rate), and what goes beyond it is converted on its own. So the document's open
    amount in ``currency`` is zero exactly when it is zero in the document's currency."""
    beyond = settled - gross
    if gross == 0 or (beyond != 0 and (beyond > 0) != (gross > 0)):
        return round_money(settled * rate, currency)
    return gross_converted + round_money(beyond * rate, currency)


def movement_values(
    gross: Decimal,
    gross_converted: Decimal,
    rate: Decimal,
    currency: str,
    movements: Sequence[Decimal],
) -> list[Decimal]:
    """The value in ``currency`` of each movement that settles a document (positive: a
    payment, credit or write-off; negative: a refund or a reversal), in the order they
    happened: each is what was settled after it less what was settled before it
    (``settled_value``), so the values add up to the converted sum, and the movement that
    settles the document takes up the cent its groups' rounding left."""
    values: list[Decimal] = []
    done = ZERO
    before = ZERO
    for amount in movements:
        done += amount
        after = settled_value(done, gross, gross_converted, rate, currency)
        values.append(after - before)
        before = after
    return values


#: the order of one day's movements: credit notes, payments, write-offs, their reversals
CREDIT, PAYMENT, WRITE_OFF, REVERSAL = 0, 2, 3, 4


@dataclass(frozen=True)
class Settling:
    """One movement that settles a document: ``amount`` in the document's currency, positive
    when it settles (a payment, credit note or write-off), negative when it undoes that (a
    refund on a credit note, a write-off's reversal); ``sign`` is that of the movement's own
    amount against ``amount`` (-1 for a reversal, whose own amount is positive)."""

    day: dt.date
    order: int
    item: str
    amount: Decimal
    sign: int = 1


def settling_values(
    groups: Sequence[GroupAmount],
    rate: Decimal,
    currency: str,
    moves: Iterable[Settling],
    booked: Mapping[str, Decimal] | None = None,
) -> dict[str, Decimal]:
    """Each movement's value in ``currency`` of a document of ``groups`` (``movement_values``
    in the order they happened: day, then credit notes, payments, write-offs, reversals, then
    id), in the sign of its own amount.

    ``booked``: values already handed on (a DATEV export booked them) by movement; they stay
    what they were, and the other movements follow them, in their order, each what was settled
    after it less what was settled before it counting the booked ones as settled first. So a
    movement dated before one already booked (a payment recorded late) does not move a booked
    value, and the values still add up to what the movements settle together."""
    gross = sum((g.gross for g in groups), ZERO)
    converted = normalize(currency, rate, groups).gross_total
    ordered = sorted(moves, key=lambda m: (m.day, m.order, m.item))
    kept = booked or {}
    fixed = [m for m in ordered if m.item in kept]
    rest = [m for m in ordered if m.item not in kept]
    out = {m.item: kept[m.item] for m in fixed}
    done = sum((m.amount for m in fixed), ZERO)
    # what the booked values settled, in the sign of the cumulative sum (``Settling.sign``)
    before = sum((m.sign * kept[m.item] for m in fixed), ZERO)
    for m in rest:
        done += m.amount
        after = settled_value(done, gross, converted, rate, currency)
        out[m.item] = m.sign * (after - before)
        before = after
    return out


def reversal_id(write_off_id: uuid.UUID) -> uuid.UUID:
    """The id of a write-off's reversal (its DATEV export item)."""
    return uuid.uuid5(write_off_id, "reversal")


def deletion_id(payment_id: uuid.UUID) -> uuid.UUID:
    """The id of the reversal of a deleted payment (its DATEV export item)."""
    return uuid.uuid5(payment_id, "deleted")


def _ledger_item(index: int, m: Mapping[str, Any]) -> str:
    """The id of a ledger movement as an export item: the credit note's or the write-off's id,
    a reversal's derived from its write-off's (``reversal_id``)."""
    kind = m["kind"]
    item = str(m.get("document_id") or f"{kind}-{index}")
    if kind == "write_off_reversal" and m.get("document_id"):
        item = str(reversal_id(uuid.UUID(item)))
    return item


def ledger_settlings(ledger: Iterable[Mapping[str, Any]]) -> list[Settling]:
    """The credit notes, write-offs and reversals of an invoice's ledger (its JSON form)."""
    out: list[Settling] = []
    for index, m in enumerate(ledger):
        kind = m["kind"]
        amount = sum((Decimal(str(g["net"])) + Decimal(str(g["tax"])) for g in m["groups"]), ZERO)
        item = _ledger_item(index, m)
        day = dt.date.fromisoformat(str(m["date"]))
        if kind == "credit":
            out.append(Settling(day, CREDIT, item, amount))
        elif kind == "write_off":
            out.append(Settling(day, WRITE_OFF, item, amount))
        elif kind == "write_off_reversal":
            out.append(Settling(day, REVERSAL, item, -amount, -1))
    return out


def ledger_vat_values(
    ledger: Iterable[Mapping[str, Any]], rate: Decimal, currency: str
) -> dict[str, dict[Key, Decimal]]:
    """The VAT in ``currency`` of each credit note, write-off and reversal of an invoice's
    ledger, per tax group, in the sign of the movement's own amounts: each group's VAT taken
    so far is converted as one cumulative sum, in the order the ledger recorded the movements,
    and a movement's VAT is what that conversion moved. So the movements of a group add up to
    its converted VAT (the invoice's own, ``normalize``) once they take all of it, and a
    movement recorded later never changes an earlier one's value (docs/datev.md, "VAT to the
    cent")."""
    taken: dict[Key, Decimal] = {}
    out: dict[str, dict[Key, Decimal]] = {}
    for index, m in enumerate(ledger):
        sign = -1 if m["kind"] == "write_off_reversal" else 1
        values: dict[Key, Decimal] = {}
        for g in m["groups"]:
            key = key_of(str(g["category"]), Decimal(str(g["rate"])))
            before = taken.get(key, ZERO)
            after = taken[key] = before + sign * Decimal(str(g["tax"]))
            moved = round_money(after * rate, currency) - round_money(before * rate, currency)
            values[key] = values.get(key, ZERO) + sign * moved
        out[_ledger_item(index, m)] = values
    return out


def ledger_vat_in_order(
    ledger: Sequence[Mapping[str, Any]], rate: Decimal, currency: str
) -> list[dict[Key, Decimal]]:
    """``ledger_vat_values`` as a list in the ledger's order: the VAT in ``currency`` of each
    movement per tax group, as DATEV books it and as the events state it (``LedgerEntry`` and
    ``WriteOffData`` ``normalized``). A movement's values never change once it is recorded:
    later movements only append to the cumulative sums."""
    values = ledger_vat_values(ledger, rate, currency)
    return [values[_ledger_item(index, m)] for index, m in enumerate(ledger)]


def fit(parts: Sequence[Decimal], total: Decimal) -> list[Decimal]:
    """``parts`` (each converted on its own) made to add up to ``total`` (converted as a
    whole): the difference, a cent or two, goes to the largest part (the first of equals)."""
    out = list(parts)
    if out:
        largest = max(range(len(out)), key=lambda i: (abs(out[i]), -i))
        out[largest] += total - sum(out, ZERO)
    return out


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
    currency: str,
    amount: Decimal,
    invoice_rate: Decimal,
    payment_rate: Decimal,
    booked: Decimal | None = None,
) -> ExchangeDifference:
    """``amount`` (invoice currency) at both rates, each rounded to ``currency``'s minor units;
    ``booked``: what the payment settles when that is not just its amount at the invoice's rate
    (the payment that settles the invoice takes up its groups' rounding, ``settling_values``)."""
    return ExchangeDifference(
        currency,
        amount,
        invoice_rate,
        payment_rate,
        round_money(amount * invoice_rate, currency) if booked is None else booked,
        round_money(amount * payment_rate, currency),
    )


def check_payment_value(
    amount: Decimal, invoice_rate: Decimal | None, payment_rate: Decimal | None
) -> None:
    """A payment, and what it is worth in the organization's currency at the invoice's frozen
    rate and at its own, stays below ``calc.AMOUNT_LIMIT`` (an overpayment kept as credit at
    a rate of 10^14 raised InvalidOperation where its exchange difference was rounded)."""
    check_amount(amount, "the payment", "/amount")
    for rate, pointer in ((invoice_rate, "/amount"), (payment_rate, "/exchange_rate")):
        if rate is not None:
            check_amount(amount * rate, "the payment in the organization's currency", pointer)


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
