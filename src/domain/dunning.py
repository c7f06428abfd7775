"""Dunning rules (Mahnwesen), pure: which level is due, which invoices a run duns, interest.

The handler (:mod:`invoicing.handlers.dunning`) loads the candidates and the notices already
sent, asks :func:`plan_notices` which notices to schedule, and records one delivery job per
planned notice. Nothing here reads a database or a clock.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from invoicing.domain.money import ZERO, round_money
from invoicing.schemas.dunning import DunningSettings


def next_level(
    settings: DunningSettings,
    due_date: dt.date,
    last_level: int,
    last_as_of: dt.date | None,
    as_of: dt.date,
) -> int | None:
    """The level to send on ``as_of``, or None.

    Level n is due ``days_after_due`` days after the due date and, from level 2 on, at least as
    many days after the previous notice as the two levels are apart: an invoice found 60 days
    overdue gets the first level now and the second one a full interval later, never two
    levels at once.
    """
    levels = settings.levels
    if last_level >= len(levels):
        return None
    nxt = levels[last_level]
    if as_of < due_date + dt.timedelta(days=nxt.days_after_due):
        return None
    if last_level > 0 and last_as_of is not None:
        gap = nxt.days_after_due - levels[last_level - 1].days_after_due
        if as_of < last_as_of + dt.timedelta(days=gap):
            return None
    return last_level + 1


@dataclass(frozen=True)
class BalanceChange:
    """A change of what an invoice has open, on the day it took effect: a payment, a credit
    note or a write-off lowers it (``amount`` < 0), a reversed write-off raises it."""

    day: dt.date
    amount: Decimal


def interest_on_balances(
    owed: Decimal,
    changes: Iterable[BalanceChange],
    due_date: dt.date,
    as_of: dt.date,
    rate_per_year: Decimal | None,
    currency: str,
) -> Decimal:
    """Simple interest (act/365) on what was open on each day in default, half-up to the minor
    unit once, for the sum.

    ``owed`` is what the invoice asked for (its gross total); ``changes`` are the payments,
    credit notes, write-offs and reversals with their days. Every day from the day after the
    due date to ``as_of`` accrues interest on what was open at its end (never below zero: an
    overpayment earns the customer nothing here), so a partial payment lowers the interest from
    its own day on, not for the days before it (§ 288 BGB: interest on the debt while it is in
    default). A change after ``as_of`` has no part in it. With no change after the due date
    this is the interest on what is open for the days since the due date."""
    if not rate_per_year or as_of <= due_date:
        return round_money(ZERO, currency)
    first = due_date + dt.timedelta(days=1)
    balance = owed
    steps: dict[dt.date, Decimal] = {}
    for change in changes:
        if change.day <= first:
            balance += change.amount
        elif change.day <= as_of:
            steps[change.day] = steps.get(change.day, ZERO) + change.amount
    day_amounts = ZERO  # Σ open × days
    start = first
    for day in sorted(steps):
        day_amounts += max(balance, ZERO) * (day - start).days
        balance += steps[day]
        start = day
    day_amounts += max(balance, ZERO) * ((as_of - start).days + 1)
    return round_money(day_amounts * rate_per_year / Decimal(100) / Decimal(365), currency)


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders; inserted values are never interpreted again."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class Candidate:
    """An open, overdue invoice as a dunning run sees it."""

    invoice_id: uuid.UUID
    number: str | None
    due_date: dt.date
    has_email: bool
    customer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Block:
    """A block of dunning (Mahnsperre) of an invoice or a customer: it holds on every day up to
    and including ``until``, and for good without one (until it is lifted)."""

    until: dt.date | None

    def holds(self, as_of: dt.date) -> bool:
        return self.until is None or as_of <= self.until


@dataclass(frozen=True)
class Plan:
    """What one run does: the notices to schedule (invoice, level), in due-date order, and the
    invoices that are due a notice but cannot get one by email (no address)."""

    notices: list[tuple[Candidate, int]]
    without_email: list[Candidate]
    blocked: list[Candidate]


def plan_notices(
    settings: DunningSettings,
    candidates: Iterable[Candidate],
    last: Mapping[uuid.UUID, tuple[int, dt.date]],
    in_flight: set[uuid.UUID],
    as_of: dt.date,
    max_notices: int,
    blocks: Mapping[tuple[str, uuid.UUID], Block] | None = None,
) -> Plan:
    """Choose the notices of one run.

    ``candidates`` come oldest due date first; ``last`` maps an invoice to its highest level
    sent and that notice's date; ``in_flight`` are invoices with a notice still on its way
    (never dunned twice at once). At most ``max_notices`` notices are planned; an invoice due a
    notice but without an email address is reported, not counted. ``blocks`` holds the
    blocks by subject (``("invoice", id)``, ``("customer", id)``); an invoice blocked on
    ``as_of``, itself or through its customer, gets no notice and is reported in
    ``blocked``, not counted.
    """
    notices: list[tuple[Candidate, int]] = []
    without_email: list[Candidate] = []
    blocked: list[Candidate] = []
    blocks = blocks or {}
    for cand in candidates:
        if len(notices) >= max_notices:
            break
        if cand.invoice_id in in_flight:
            continue
        if blocked_on(blocks, as_of, cand.invoice_id, cand.customer_id):
            blocked.append(cand)
            continue
        prev_level, prev_as_of = last.get(cand.invoice_id, (0, None))
        level = next_level(settings, cand.due_date, prev_level, prev_as_of, as_of)
        if level is None:
            continue
        if cand.has_email:
            notices.append((cand, level))
        else:
            without_email.append(cand)
    return Plan(notices, without_email, blocked)


def blocked_on(
    blocks: Mapping[tuple[str, uuid.UUID], Block],
    as_of: dt.date,
    invoice_id: uuid.UUID,
    customer_id: uuid.UUID | None,
) -> bool:
    """Whether the invoice, or its customer, is blocked from dunning on ``as_of``."""
    keys = [("invoice", invoice_id)] + ([("customer", customer_id)] if customer_id else [])
    return any(key in blocks and blocks[key].holds(as_of) for key in keys)
