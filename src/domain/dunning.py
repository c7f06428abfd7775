"""Dunning rules (Mahnwesen), pure: which level is due, which invoices a run duns, interest.

The handler (:mod:`invoicing.handlers.dunning`) loads the candidates and the notices already
sent, asks :func:`plan_notices` which notices to schedule, and records one delivery job per
planned notice. Nothing here reads a database or a clock.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from invoicing.domain.consumer_dunning import (
    BelgianClauses,
    History,
    Window,
    belgian_damages_cap,
    claim_window,
)
from invoicing.domain.errors import DomainError
from invoicing.domain.money import ZERO, round_money
from invoicing.domain.reference_rates import (
    KNOWN_UNTIL,
    Debtor,
    MissingRate,
    RateSpan,
    reference_table,
    statutory_problem,
    statutory_spans,
)
from invoicing.schemas.dunning import DunningLevel, DunningSettings


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
    """Simple interest (act/365) at one rate on what was open on each day in default, half-up
    to the minor unit once, for the sum (:func:`interest_by_days` with one span).

    ``owed`` is what the invoice asked for (its gross total); ``changes`` are the payments,
    credit notes, write-offs and reversals with their days. Every day from the day after the
    due date to ``as_of`` accrues interest on what was open at its end (never below zero: an
    overpayment earns the customer nothing here), so a partial payment lowers the interest from
    its own day on, not for the days before it (§ 288 BGB: interest on the debt while it is in
    default). A change after ``as_of`` has no part in it. With no change after the due date
    this is the interest on what is open for the days since the due date."""
    if not rate_per_year or as_of <= due_date:
        return round_money(ZERO, currency)
    span = RateSpan(due_date + dt.timedelta(days=1), as_of, rate_per_year)
    return interest_by_days(owed, changes, due_date, as_of, [span], currency)[0]


@dataclass(frozen=True)
class InterestPeriod:
    """The days of one rate: ``start`` to ``end`` (both included), the rate per year, and
    their interest half-up to the minor unit (stated; the notice's interest is the exact sum
    of all days rounded once, so the periods' amounts may differ from it by a minor unit each)."""

    start: dt.date
    end: dt.date
    rate: Decimal
    amount: Decimal


def interest_by_days(
    owed: Decimal,
    changes: Iterable[BalanceChange],
    due_date: dt.date,
    as_of: dt.date,
    spans: Sequence[RateSpan],
    currency: str,
) -> tuple[Decimal, list[InterestPeriod]]:
    """Simple interest (act/365), day by day, on what was open at the end of each day from the
    day after ``due_date`` to ``as_of``, each day at the rate of the span it lies in (a rate
    that changes on 1 January or 1 July within the period, § 247 BGB): the exact sum half-up
    to the minor unit once, and each span's own part. ``spans`` cover those days in order (a
    day outside every span accrues nothing). A span whose rate is zero or negative (the
    Basiszinssatz was negative until 2022, but 9 points above it are not) accrues nothing."""
    first = due_date + dt.timedelta(days=1)
    balance = owed
    steps: dict[dt.date, Decimal] = {}
    for change in changes:
        if change.day <= first:
            balance += change.amount
        elif change.day <= as_of:
            steps[change.day] = steps.get(change.day, ZERO) + change.amount
    pending = sorted(steps.items())  # applied in order as the days pass
    total = ZERO
    periods: list[InterestPeriod] = []
    for span in spans:
        start, end = max(span.start, first), min(span.end, as_of)
        if end < start:
            continue
        day_amounts = ZERO  # Σ open × days in the span
        day = start
        while day <= end:
            # what was open at the end of ``day``: every change up to it
            while pending and pending[0][0] <= day:
                balance += pending.pop(0)[1]
            day_amounts += max(balance, ZERO)
            day += dt.timedelta(days=1)
        exact = day_amounts * max(span.rate, ZERO) / Decimal(100) / Decimal(365)
        total += exact
        periods.append(InterestPeriod(start, end, span.rate, round_money(exact, currency)))
    return round_money(total, currency), periods


#: § 288 Abs. 5 BGB; Belgium: art. 6 of the law of 2 August 2002 (EUR only)
FLAT_COMPENSATION = Decimal("40.00")


@dataclass(frozen=True)
class EarlierNotice:
    """What an earlier notice of the same invoice claimed beside the principal and interest:
    its level's fee, the flat compensation (if it claimed it) and the fees credited against
    that compensation."""

    fee: Decimal
    flat_compensation: Decimal = ZERO
    credited: Decimal = ZERO

    @property
    def costs(self) -> Decimal:
        return self.fee + self.flat_compensation - self.credited


@dataclass(frozen=True)
class Costs:
    """The costs a notice claims: what the earlier notices claimed (``earlier``), this level's
    fee, the flat compensation if this notice is the first to claim it, less the fees credited
    against the compensation (``credited``)."""

    earlier: Decimal
    fee: Decimal
    flat_compensation: Decimal
    credited: Decimal

    @property
    def total(self) -> Decimal:
        return self.earlier + self.fee + self.flat_compensation - self.credited


class Claimed(Protocol):
    """What a notice claims, whoever holds it (the handler's figures, the PDF's)."""

    @property
    def open_amount(self) -> Decimal: ...
    @property
    def earlier_costs(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def flat_compensation(self) -> Decimal: ...
    @property
    def credited(self) -> Decimal: ...
    @property
    def interest(self) -> Decimal: ...


def total_due(c: Claimed) -> Decimal:
    """What a notice asks for: the open principal, the earlier notices' costs, this level's fee
    and the flat compensation less the fees credited against it (:class:`Costs`), and the
    interest computed afresh to its day."""
    return c.open_amount + c.earlier_costs + c.fee + c.flat_compensation - c.credited + c.interest


def dunning_costs(earlier: Sequence[EarlierNotice], fee: Decimal, claim_flat: bool) -> Costs:
    """The costs of a notice given the notices sent before it.

    Fees of earlier notices are carried into the later one's total (a 2. Mahnung asks for all
    fees so far). The flat compensation is claimed once per invoice (``claim_flat`` and no
    earlier notice claimed it); once claimed, the dunning fees, being costs of recovery, are
    credited against it (§ 288 Abs. 5 Satz 3 BGB; art. 6 of the Belgian law of 2 August 2002
    grants recovery costs only beyond the 40 euros): the costs of the invoice are then the
    greater of the compensation and all fees, never both."""
    fees_before = sum((n.fee for n in earlier), ZERO)
    flat_before = any(n.flat_compensation for n in earlier)
    earlier_costs = sum((n.costs for n in earlier), ZERO)
    flat = FLAT_COMPENSATION if claim_flat and not flat_before else ZERO
    fees = fees_before + fee
    total = max(FLAT_COMPENSATION, fees) if flat_before or flat else fees
    credited = earlier_costs + fee + flat - total
    return Costs(earlier_costs, fee, flat, max(credited, ZERO))


def flat_compensation_claim(
    from_level: int | None, level: int, business: bool, currency: str
) -> tuple[bool, str | None]:
    """Whether this notice may claim the flat compensation, and why not where it may not:
    ``consumer`` (only business debtors owe it), ``currency`` (a euro amount, claimed on EUR
    invoices only). ``from_level``: the first level configured to claim it (None: none)."""
    if from_level is None or level < from_level:
        return False, None
    if not business:
        return False, "consumer"
    if currency != "EUR":
        return False, "currency"
    return True, None


def payment_deadline(as_of: dt.date, payment_days: int | None) -> dt.date | None:
    """The new deadline a notice sets: ``payment_days`` after its date (None: none)."""
    return None if payment_days is None else as_of + dt.timedelta(days=payment_days)


def debtor_of(customer_type: str | None, vat_id: str | None) -> Debtor:
    """Business or consumer: as the customer says, else a business when it has a VAT id and a
    consumer otherwise (the lower claim: charging a consumer the business rate overstates the
    claim, the other way round only leaves money unclaimed)."""
    if customer_type in ("business", "consumer"):
        return "business" if customer_type == "business" else "consumer"
    return "business" if vat_id else "consumer"


class InterestUnavailable(Exception):
    """Statutory interest cannot be claimed for this notice: the reason says what to do."""


def interest_spans(
    level: DunningLevel,
    country: str,
    debtor: Debtor,
    due_date: dt.date,
    as_of: dt.date,
    own_rates: Mapping[dt.date, Decimal] | None = None,
    start: dt.date | None = None,
    rate_cap: bool = False,
) -> tuple[list[RateSpan], str | None]:
    """The rates of a level's interest from ``start`` (the first day of default; default: the
    day after the due date) to ``as_of``, and the legal basis (``de_business``,
    ``de_consumer``, ``be_business``, ``be_consumer``: a fixed rate capped at the rate of
    art. 5 al. 2 of the Belgian law of 2 August 2002, art. XIX.4 WER, each half-year; None for
    a fixed rate without a cap).

    Raises :class:`InterestUnavailable` when the interest cannot be claimed (statutory interest
    of a Belgian consumer, a seller outside DE and BE, a half-year without a reference rate)."""
    first = due_date + dt.timedelta(days=1)
    if start is not None:
        first = max(first, start)
    if as_of < first:
        return [], None
    if level.interest != "statutory":
        rate = level.interest_rate_per_year
        if not rate:
            return [], None
        if not rate_cap:
            return [RateSpan(first, as_of, rate)], None
        caps = _statutory(country, "business", first, as_of, own_rates)
        return [RateSpan(s.start, s.end, min(rate, s.rate)) for s in caps], "be_consumer"
    problem = statutory_problem(country, debtor)
    if problem is not None:
        raise InterestUnavailable(problem)
    return _statutory(country, debtor, first, as_of, own_rates), f"{country.lower()}_{debtor}"


def _statutory(
    country: str,
    debtor: Debtor,
    first: dt.date,
    as_of: dt.date,
    own_rates: Mapping[dt.date, Decimal] | None,
) -> list[RateSpan]:
    table = reference_table(country, (own_rates or {}).items())
    try:
        return statutory_spans(country, debtor, first, as_of, table)
    except MissingRate as missing:
        raise InterestUnavailable(
            f"no reference rate for the half-year from {missing.half_year.isoformat()} "
            f"({'Basiszinssatz' if country == 'DE' else 'ECB main refinancing rate'}): this "
            "release knows them up to the half-year from "
            f"{KNOWN_UNTIL.isoformat()}; add it to configure_dunning's reference_rates "
            f'({{"half_year": "{missing.half_year.isoformat()}", "rate": "..."}}) and run again'
        ) from missing


def check_run_day(as_of: dt.date, today: dt.date) -> None:
    """A run's ``as_of`` has come: a notice cannot state a day after today on the
    organization's calendar (checked whether or not dunning is enabled)."""
    if as_of > today:
        raise DomainError(
            "invalid_attribute",
            f"as_of {as_of.isoformat()} is after today ({today.isoformat()} on the "
            "organization's calendar): a notice cannot state a day that has not come",
            pointer="/as_of",
            hint="give today or an earlier day",
        )


def check_block_end(until: dt.date, today: dt.date) -> None:
    """A block's last day is today or later: one that ended already would hold on no day."""
    if until < today:
        raise DomainError(
            "invalid_attribute",
            f"until {until.isoformat()} is in the past (today is {today.isoformat()} on the "
            "organization's calendar): the block would hold on no day",
            pointer="/until",
            hint="give today or a later day, or no until (a block until lifted)",
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
    customer_id: uuid.UUID | None = None
    country: str = ""  # the seller's, from the invoice's snapshot
    debtor: Debtor = "consumer"  # :func:`debtor_of`
    #: reminders sent, the invoice's note: when a consumer's default began
    history: History = field(default_factory=History)


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
    invoices that are due a notice but cannot get one by email (no address) or cannot get
    the one configured (``refused``, with the reason: statutory interest without a rate)."""

    notices: list[tuple[Candidate, int]]
    without_email: list[Candidate]
    blocked: list[Candidate]
    refused: list[tuple[Candidate, str]] = field(default_factory=list)


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
    ``blocked``, not counted. A notice whose statutory interest cannot be computed
    (:func:`interest_spans`: no rate for a half-year of its period, a Belgian consumer) is not
    sent with a guessed one: it is reported in ``refused`` with the reason, not counted; a
    notice that claims no interest (a consumer not in default yet, a Belgian consumer's first
    reminder or waiting period: :func:`window_of`) needs no rate.
    """
    notices: list[tuple[Candidate, int]] = []
    without_email: list[Candidate] = []
    blocked: list[Candidate] = []
    refused: list[tuple[Candidate, str]] = []
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
        if not cand.has_email:
            without_email.append(cand)
            continue
        window = window_of(settings, cand.country, cand.debtor, cand.due_date, as_of, cand.history)
        try:
            if window.interest_from is not None:
                interest_spans(
                    settings.levels[level - 1],
                    cand.country,
                    cand.debtor,
                    cand.due_date,
                    as_of,
                    settings.own_rates(cand.country),
                    window.interest_from,
                    window.rate_cap,
                )
        except InterestUnavailable as exc:
            refused.append((cand, str(exc)))
            continue
        notices.append((cand, level))
    return Plan(notices, without_email, blocked, refused)


def window_of(
    settings: DunningSettings,
    country: str,
    debtor: Debtor,
    due_date: dt.date,
    as_of: dt.date,
    history: History,
    sending_day: dt.date | None = None,
    balance: Decimal = ZERO,
) -> Window:
    """:func:`~invoicing.domain.consumer_dunning.claim_window` with the settings' clauses
    (``belgian_consumers``); ``sending_day`` defaults to ``as_of``."""
    terms = settings.belgian_consumers
    clauses = BelgianClauses(terms.damages_clause, terms.interest_clause)
    return claim_window(
        country, debtor, due_date, as_of, history, sending_day or as_of, clauses, balance
    )


def fee_of(
    fee: Decimal, currency: str, settings_currency: str, window: Window
) -> tuple[Decimal, str | None]:
    """The level's fee a notice claims, and why not where it claims none: ``currency`` (the
    fee is in the settings' currency only), or the consumer rule of ``window``."""
    if not fee:
        return ZERO, None
    if currency != settings_currency:
        return ZERO, "currency"
    if window.fee_waived is not None:
        return ZERO, window.fee_waived
    return round_money(fee, currency), None


def consumer_deadline(deadline: dt.date | None, window: Window) -> dt.date | None:
    """A Belgian consumer's first reminder sets no payment deadline before the end of its 14
    days (art. XIX.2 WER): the deadline is then at least that day."""
    if deadline is None or window.wait_end is None:
        return deadline
    return max(deadline, window.wait_end)


def announced_damages(
    settings: DunningSettings, level: int, currency: str, balance: Decimal, window: Window
) -> Decimal | None:
    """What a Belgian consumer's first reminder announces for the case the balance stays unpaid
    past its 14 days (art. XIX.2 WER: the amount of the damages clause): the later levels'
    fees within the scale of art. XIX.4 (:func:`belgian_damages_cap`); None without a damages
    clause, later fees or in another currency than the fees'."""
    if not (window.first_reminder and settings.belgian_consumers.damages_clause):
        return None
    if currency != settings.currency:
        return None
    later = sum((round_money(lv.fee, currency) for lv in settings.levels[level:]), ZERO)
    return min(later, belgian_damages_cap(balance)) if later else None


def blocked_on(
    blocks: Mapping[tuple[str, uuid.UUID], Block],
    as_of: dt.date,
    invoice_id: uuid.UUID,
    customer_id: uuid.UUID | None,
) -> bool:
    """Whether the invoice, or its customer, is blocked from dunning on ``as_of``."""
    keys = [("invoice", invoice_id)] + ([("customer", customer_id)] if customer_id else [])
    return any(key in blocks and blocks[key].holds(as_of) for key in keys)
