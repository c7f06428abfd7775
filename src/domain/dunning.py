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


def interest_for(
    amount: Decimal, rate_per_year: Decimal | None, days: int, currency: str
) -> Decimal:
    """Simple interest (act/365) on ``amount`` for ``days``, half-up to the minor unit."""
    if not rate_per_year or days <= 0:
        return round_money(ZERO, currency)
    return round_money(
        amount * rate_per_year / Decimal(100) * Decimal(days) / Decimal(365), currency
    )


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


@dataclass(frozen=True)
class Plan:
    """What one run does: the notices to schedule (invoice, level), in due-date order, and the
    invoices that are due a notice but cannot get one by email (no address)."""

    notices: list[tuple[Candidate, int]]
    without_email: list[Candidate]


def plan_notices(
    settings: DunningSettings,
    candidates: Iterable[Candidate],
    last: Mapping[uuid.UUID, tuple[int, dt.date]],
    in_flight: set[uuid.UUID],
    as_of: dt.date,
    max_notices: int,
) -> Plan:
    """Choose the notices of one run.

    ``candidates`` come oldest due date first; ``last`` maps an invoice to its highest level
    sent and that notice's date; ``in_flight`` are invoices with a notice still on its way
    (never dunned twice at once). At most ``max_notices`` notices are planned; an invoice due a
    notice but without an email address is reported, not counted.
    """
    notices: list[tuple[Candidate, int]] = []
    without_email: list[Candidate] = []
    for cand in candidates:
        if len(notices) >= max_notices:
            break
        if cand.invoice_id in in_flight:
            continue
        prev_level, prev_as_of = last.get(cand.invoice_id, (0, None))
        level = next_level(settings, cand.due_date, prev_level, prev_as_of, as_of)
        if level is None:
            continue
        if cand.has_email:
            notices.append((cand, level))
        else:
            without_email.append(cand)
    return Plan(notices, without_email)
