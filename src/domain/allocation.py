"""One payment across several invoices of a customer, and the customer's unapplied credit.

A customer's payment settles open items (finalized invoices with an open amount) by explicit
allocations (invoice + amount) or, without them, by the order of § 366 Abs. 2 BGB; within an
item, § 367 Abs. 1 BGB takes costs first, then interest, then the principal. What is left over
is the customer's **unapplied credit**, a balance per customer and currency, which a later
command applies to an invoice or refunds. See docs/arithmetic.md, "Payments across invoices".

§ 366 Abs. 2 BGB names, absent a choice by the debtor, the debt that is due first; among those
due, the one that offers the creditor less security, then the more burdensome one, then the
older one, else all pro rata. The service knows neither security nor burden, so its order is
documented and deterministic: **oldest due date first** (an item without one counts as due on
its issue date), **then the oldest issue date, then the number**. An explicit allocation is
the debtor's choice (§ 366 Abs. 1 BGB) and always wins.

Pure code: no database, no clock. Amounts are ``Decimal`` in the currency's minor units
(JPY 0 decimals, KWD 3); nothing here rounds: an amount with more decimals than its currency
allows is rejected, so sums add up exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from invoicing.domain.errors import DomainError, ErrorDetail, InvalidState
from invoicing.domain.money import ZERO, fits_minor_units, minor_units
from invoicing.domain.numbering import number_key

PAYABLE_STATES = ("finalized", "sent", "partially_paid")


class Policy(StrEnum):
    EXPLICIT = "explicit"
    OLDEST_DUE_FIRST = "oldest_due_first"


@dataclass(frozen=True)
class OpenItem:
    """An invoice as a payment sees it: what is open of its costs, interest and principal.

    ``costs`` and ``interest`` are the dunning costs and default interest owed *on this
    invoice* as receivables; the service states dunning fees and interest in its notices but
    does not book them as receivables (docs/dunning.md), so for its invoices both are 0 and
    § 367 takes everything for the principal.
    """

    invoice_id: str
    number: str
    currency: str
    issue_date: dt.date
    due_date: dt.date | None
    principal: Decimal
    costs: Decimal = ZERO
    interest: Decimal = ZERO
    customer_id: str | None = None
    kind: str = "invoice"
    status: str = "sent"

    @property
    def open(self) -> Decimal:
        return self.costs + self.interest + self.principal

    @property
    def payable(self) -> bool:
        return self.kind == "invoice" and self.status in PAYABLE_STATES


@dataclass(frozen=True)
class Allocation:
    """The part of a payment that one item receives, split by § 367 Abs. 1 BGB."""

    invoice_id: str
    costs: Decimal
    interest: Decimal
    principal: Decimal

    @property
    def amount(self) -> Decimal:
        return self.costs + self.interest + self.principal


@dataclass(frozen=True)
class Requested:
    """An explicit allocation as the command asked for it (``index`` into its list)."""

    invoice_id: str
    amount: Decimal
    index: int


@dataclass(frozen=True)
class Plan:
    """What a payment settles: the allocations in order and what is left over."""

    amount: Decimal
    currency: str
    policy: Policy
    allocations: tuple[Allocation, ...]
    unapplied: Decimal

    @property
    def allocated(self) -> Decimal:
        return sum((a.amount for a in self.allocations), ZERO)


def settlement_order(items: Iterable[OpenItem]) -> list[OpenItem]:
    """§ 366 Abs. 2 BGB as the service applies it: oldest due date first (no due date: the
    issue date), then the oldest issue date, then the number in the numbering's order
    (``numbering.number_key``: ``RE-2026-9999`` before ``RE-2026-10000``), then the id."""
    return sorted(
        items,
        key=lambda i: (
            i.due_date or i.issue_date,
            i.issue_date,
            number_key(i.number),
            i.invoice_id,
        ),
    )


def split_by_367(item: OpenItem, amount: Decimal) -> Allocation:
    """``amount`` (at most what is open) on costs first, then interest, then principal."""
    if amount > item.open:
        raise ValueError("an allocation never exceeds the item's open amount")
    costs = min(amount, item.costs)
    interest = min(amount - costs, item.interest)
    return Allocation(item.invoice_id, costs, interest, amount - costs - interest)


def _minor(amount: Decimal, currency: str, pointer: str) -> ErrorDetail | None:
    if fits_minor_units(amount, currency):
        return None
    digits = minor_units(currency)
    return ErrorDetail(
        "invalid_attribute",
        f"{amount} has more decimals than {currency} allows",
        pointer,
        hint=f"{currency} amounts have at most {digits} decimals"
        if digits
        else f"{currency} has no minor unit: use whole amounts",
    )


def plan_payment(
    amount: Decimal,
    currency: str,
    items: Sequence[OpenItem],
    requested: Sequence[Requested] | None = None,
    *,
    customer_id: str | None = None,
) -> Plan:
    """Allocate ``amount`` to ``items``: as ``requested`` (checked), else oldest due first.

    With a policy only payable items in the payment's currency take part; an explicit
    allocation to an item of another customer or currency, one that is not payable, twice the
    same item, more than its open amount, or more than the payment in all is rejected with a
    pointer into ``/allocations`` and a hint.
    """
    bad = _minor(amount, currency, "/amount")
    if bad is not None:
        raise DomainError.many([bad])
    if requested is None:
        return _by_policy(amount, currency, items)
    return _explicit(amount, currency, {i.invoice_id: i for i in items}, requested, customer_id)


def _by_policy(amount: Decimal, currency: str, items: Sequence[OpenItem]) -> Plan:
    left = amount
    out: list[Allocation] = []
    for item in settlement_order(i for i in items if i.currency == currency and i.payable):
        if left <= 0:
            break
        take = min(left, item.open)
        if take > 0:
            out.append(split_by_367(item, take))
            left -= take
    return Plan(amount, currency, Policy.OLDEST_DUE_FIRST, tuple(out), left)


def _explicit(
    amount: Decimal,
    currency: str,
    items: dict[str, OpenItem],
    requested: Sequence[Requested],
    customer_id: str | None,
) -> Plan:
    errors: list[ErrorDetail] = []
    seen: set[str] = set()
    out: list[Allocation] = []
    for r in requested:
        at = f"/allocations/{r.index}"
        item = items.get(r.invoice_id)
        problem = _explicit_problem(r, item, currency, customer_id, seen, at)
        seen.add(r.invoice_id)
        if problem is not None:
            errors.append(problem)
            continue
        assert item is not None
        out.append(split_by_367(item, r.amount))
    total = sum((r.amount for r in requested), ZERO)
    if not errors and total > amount:
        errors.append(
            ErrorDetail(
                "overallocated",
                f"the allocations add up to {total}, more than the payment of {amount} {currency}",
                "/allocations",
                hint="allocate at most the payment's amount; what is not allocated becomes "
                "the customer's unapplied credit",
            )
        )
    if errors:
        raise DomainError.many(errors)
    return Plan(amount, currency, Policy.EXPLICIT, tuple(out), amount - total)


def _explicit_problem(
    r: Requested,
    item: OpenItem | None,
    currency: str,
    customer_id: str | None,
    seen: set[str],
    at: str,
) -> ErrorDetail | None:
    ref = f"{at}/invoice_id"
    if item is None:
        return ErrorDetail(
            "invoice_not_found",
            f"invoice {r.invoice_id} does not exist",
            ref,
            "404",
            "Not Found",
            "check the id; only finalized invoices of the payment's customer can be allocated",
        )
    label = f"invoice {item.number}"
    if r.invoice_id in seen:
        return ErrorDetail(
            "duplicate_allocation",
            f"{label} is allocated twice",
            ref,
            hint="allocate each invoice once, with the sum of the amounts",
        )
    if customer_id is not None and item.customer_id != customer_id:
        return ErrorDetail(
            "other_customer",
            f"{label} belongs to another customer",
            ref,
            hint="one payment settles invoices of one customer: record a separate payment",
        )
    if not item.payable:
        return ErrorDetail(
            "invalid_state",
            f"{label} cannot receive payments: it is a {item.status} {item.kind}",
            ref,
            "409",
            "Invalid State",
            "allocate only finalized invoices that are not paid or void",
        )
    if item.currency != currency:
        return ErrorDetail(
            "currency_mismatch",
            f"{label} is in {item.currency}, the payment in {currency}",
            ref,
            hint=f"allocate only {currency} invoices; record the {item.currency} money as a "
            f"payment in {item.currency}",
        )
    return _amount_problem(r, item, currency, at)


def _amount_problem(r: Requested, item: OpenItem, currency: str, at: str) -> ErrorDetail | None:
    minor = _minor(r.amount, currency, f"{at}/amount")
    if minor is not None:
        return minor
    if r.amount > item.open:
        return ErrorDetail(
            "overallocated",
            f"{r.amount} exceeds the open amount of invoice {item.number}: {item.open} {currency}",
            f"{at}/amount",
            hint=f"allocate at most {item.open}; the rest becomes the customer's unapplied credit",
        )
    return None


def applied(items: Sequence[OpenItem], plan: Plan) -> list[OpenItem]:
    """The items after the plan: each allocation taken from its item's parts."""
    return _shifted(items, plan, -1)


def undone(items: Sequence[OpenItem], plan: Plan) -> list[OpenItem]:
    """The items with the plan's allocations given back (deleting the payment)."""
    return _shifted(items, plan, 1)


def _shifted(items: Sequence[OpenItem], plan: Plan, sign: int) -> list[OpenItem]:
    by_id = {a.invoice_id: a for a in plan.allocations}
    out = []
    for i in items:
        a = by_id.get(i.invoice_id)
        out.append(
            i
            if a is None
            else replace(
                i,
                costs=i.costs + sign * a.costs,
                interest=i.interest + sign * a.interest,
                principal=i.principal + sign * a.principal,
            )
        )
    return out


# ----------------------------------------------------------------------------- unapplied credit


def check_credit_use(
    amount: Decimal, currency: str, balance: Decimal, *, what: str, pointer: str = "/amount"
) -> None:
    """Applying or refunding ``amount`` of a credit balance: in minor units, at most the
    balance."""
    bad = _minor(amount, currency, pointer)
    if bad is not None:
        raise DomainError.many([bad])
    if balance <= 0:
        raise InvalidState(
            "no_credit",
            f"the customer has no unapplied credit in {currency}",
            pointer=pointer,
            hint="record_payment with customer_id keeps what is not allocated as credit",
        )
    if amount > balance:
        raise InvalidState(
            "insufficient_credit",
            f"cannot {what} {amount} {currency}: the customer's unapplied credit is {balance}",
            pointer=pointer,
            hint=f"{what} at most {balance}",
        )


def check_application(item: OpenItem, customer_id: str) -> None:
    """Credit goes only to a payable invoice of the same customer (its currency is the
    credit's: the balance is kept per currency)."""
    if item.customer_id != customer_id:
        raise InvalidState(
            "other_customer",
            f"invoice {item.number} belongs to another customer",
            pointer="/invoice_id",
            hint="a customer's credit settles only that customer's invoices",
        )
    if not item.payable:
        raise InvalidState(
            "invalid_state",
            f"invoice {item.number} cannot receive payments: it is a {item.status} {item.kind}",
            pointer="/invoice_id",
            hint="apply credit only to finalized invoices that are not paid or void",
        )


def credit_to_apply(requested: Decimal | None, balance: Decimal, open_amount: Decimal) -> Decimal:
    """The amount an application takes: as requested, else as much as both allow."""
    return min(balance, open_amount) if requested is None else requested


def check_apply(amount: Decimal, open_amount: Decimal, currency: str, number: str) -> None:
    if amount <= 0 or amount > open_amount:
        raise InvalidState(
            "overallocated" if amount > 0 else "nothing_open",
            f"invoice {number} has {open_amount} {currency} open; cannot apply {amount}",
            pointer="/amount",
            hint=f"apply at most {open_amount}",
        )


def check_undo(created: Decimal, balance: Decimal, currency: str, payment: str) -> None:
    """Deleting a payment takes back the credit it created; refused if that credit is no
    longer there (applied to an invoice or refunded since): the balance would go negative."""
    if created > balance:
        raise InvalidState(
            "credit_used",
            f"payment {payment} left {created} {currency} unapplied, but only {balance} "
            f"{currency} of the customer's credit is left: it was applied or refunded since",
            pointer="/payment_id",
            hint="delete_payment the credit applications first (their payment ids are in "
            "customer_credit.applied); a refund cannot be undone",
        )
