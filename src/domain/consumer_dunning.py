"""What a dunning notice may claim from a consumer, in Germany and in Belgium (pure; no clock).

Germany, § 286 BGB. A consumer is in default (Verzug) only

* upon a reminder (Mahnung) after the due date (Abs. 1): from the day after it reached the
  consumer. The service sends its notices by email and takes a notice to reach the consumer
  the day after the day it went out (§ 130 BGB: when the consumer can be expected to read
  it; an email sent at night is read the next day), so default begins the second day after
  the first notice that was sent; or
* 30 days after the due date and receipt of the invoice (Abs. 3 Satz 1), for a consumer only
  if the invoice pointed this out in particular. The service prints that note on the invoices
  it issues to consumers under German law and records it (``invoices.default_note``); the
  invoice is taken to be received on the third day after it was sent (it may have gone by
  post: ``mark_sent`` does not say how), and default begins on the 31st day after the later of
  the due date and that day.

An invoice's "payable by" date does not put a consumer in default by itself: a calendar date
under Abs. 2 Nr. 1 must be agreed (by contract), which the service cannot know; it never
assumes one (the lower claim). Interest (statutory or a fixed rate) runs only while the debtor
is in default, and a notice sent before default begins claims no fee either: the costs of
the reminder that causes the default are not damages of a default (§ 280 Abs. 2, § 286).

Belgium, Code de droit économique / Wetboek van economisch recht, Book XIX "Dettes du
consommateur" (law of 4 May 2023, in force 1 September 2023; from 1 December 2023 also for
contracts concluded before):

* art. XIX.2: the first reminder is free of charge, and the consumer has at least 14 calendar
  days, from the day after an electronic reminder was sent (the third business day after a
  paper one), before any damages, costs or interest may be claimed;
* art. XIX.4: beside the balance, only interest at most at the rate of art. 5, paragraph 2 of
  the law of 2 August 2002 (the ECB rate + 8 points, rounded up to the half point), and a flat
  damages amount only if the contract provides it, at most 20 euros for a balance up to
  150 euros, 30 euros + 10 % of the part above 150 up to 500, 65 euros + 5 % of the part above
  500 beyond, never more than 2,000 euros.

The organization tells the service what its consumer contracts provide
(``configure_dunning``'s ``belgian_consumers``: ``damages_clause``, ``interest_clause``; both
off by default): without a damages clause a Belgian consumer is charged no fee at all, without
an interest clause no interest (the legal rate in civil matters, owed without a clause, is
not known to this release and never guessed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from invoicing.domain import calendar
from invoicing.domain.money import ZERO
from invoicing.domain.reference_rates import Debtor

DAY = dt.timedelta(days=1)

#: § 286 Abs. 3 Satz 1 BGB
INVOICE_DAYS = 30
#: art. XIX.2 WER: calendar days after the first reminder before anything may be claimed
WAIT_DAYS = 14
#: a notice (email) is taken to reach the consumer the day after it went out
NOTICE_RECEIPT_DAYS = 1
#: an invoice (email or post) is taken to reach the consumer the third day after it was sent
INVOICE_RECEIPT_DAYS = 3


@dataclass(frozen=True)
class History:
    """What the invoice's past says about its debtor's default.

    ``first_sent``: the day the first notice that went out (delivery ``sent``; an
    ``uncertain`` one may never have reached the debtor) was sent, on the seller's calendar;
    ``invoice_sent``: the day the invoice was sent (``sent_on``), if it was;
    ``default_note``: the invoice carried the § 286 Abs. 3 BGB note."""

    first_sent: dt.date | None = None
    invoice_sent: dt.date | None = None
    default_note: bool = False


@dataclass(frozen=True)
class BelgianClauses:
    """What the organization's contracts with Belgian consumers provide (art. XIX.4 WER)."""

    damages: bool = False
    interest: bool = False


@dataclass(frozen=True)
class Window:
    """What a notice may claim given whom it duns and when.

    ``interest_from``: the first day interest may accrue (None: no interest on this notice);
    ``interest_waived``: why none where the level configures some (``not_in_default``,
    ``first_reminder``, ``waiting_period``, ``no_clause``); ``fee_waived``: why the level's
    fee is not claimed (the same reasons); ``costs_cap``: the most the notice's costs (earlier
    notices' and its own) may come to (a consumer: nothing before default or during a Belgian
    consumer's free period, then the Belgian scale), None: no cap; ``rate_cap``: the
    interest rate may not exceed the rate of art. 5 al. 2 of the law of 2 August 2002 (Belgian
    consumer); ``first_reminder``: the notice is a Belgian consumer's first reminder, which
    must say until when the consumer may pay without costs (``wait_end``)."""

    interest_from: dt.date | None
    interest_waived: str | None = None
    fee_waived: str | None = None
    costs_cap: Decimal | None = None
    rate_cap: bool = False
    first_reminder: bool = False
    wait_end: dt.date | None = None


def _day(at: dt.datetime, zone: str) -> dt.date:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return calendar.local_day(aware, zone)


def history_of(
    seller: Mapping[str, Any] | None,
    invoice_sent_at: dt.datetime | None,
    default_note: bool,
    first: tuple[dt.date, dt.datetime] | None,
) -> History:
    """The :class:`History` of an invoice from what is stored: when it was sent, whether it
    carried the note, and the first notice that was sent (its ``as_of`` and ``sent_at``). Days
    are the seller's (``calendar.zone_of`` of its snapshot); a notice went out no earlier than
    its date (a run dated back does not date its email back)."""
    zone = calendar.zone_of(seller or {})
    first_sent = None if first is None else max(first[0], _day(first[1], zone))
    invoice_sent = None if invoice_sent_at is None else _day(invoice_sent_at, zone)
    return History(first_sent, invoice_sent, default_note)


def sending_day(as_of: dt.date, now: dt.datetime, seller: Mapping[str, Any] | None) -> dt.date:
    """The day a notice composed at ``now`` goes out, on the seller's calendar (not before its
    date)."""
    return max(as_of, _day(now, calendar.zone_of(seller or {})))


def carries_default_note(kind: str, seller_law: str, debtor: Debtor) -> bool:
    """Whether an invoice gets the § 286 Abs. 3 BGB note: an invoice (not a credit note or a
    quote) under German law to a consumer."""
    return kind == "invoice" and seller_law == "DE" and debtor == "consumer"


def german_default_start(due_date: dt.date, history: History) -> dt.date | None:
    """The first day a German consumer is in default (§ 286 BGB), or None when nothing has put
    them in default yet (no reminder went out, and no invoice with the note was sent)."""
    starts: list[dt.date] = []
    if history.first_sent is not None:
        received = history.first_sent + NOTICE_RECEIPT_DAYS * DAY
        starts.append(max(received + DAY, due_date + DAY))
    if history.default_note and history.invoice_sent is not None:
        received = history.invoice_sent + INVOICE_RECEIPT_DAYS * DAY
        starts.append(max(due_date, received) + (INVOICE_DAYS + 1) * DAY)
    return min(starts, default=None)


def belgian_wait_end(reminder_sent: dt.date) -> dt.date:
    """The last of the 14 calendar days a Belgian consumer has after an electronic reminder
    (art. XIX.2 WER: the period starts the day after it was sent)."""
    return reminder_sent + WAIT_DAYS * DAY


_CENT = Decimal("0.01")


def belgian_damages_cap(balance: Decimal) -> Decimal:
    """The most a flat damages clause may ask of a Belgian consumer for ``balance`` still owed
    (art. XIX.4 WER), rounded down to the cent (never more than the scale):

    * up to 150.00: 20 euros;
    * 150.01 to 500.00: 30 euros + 10 % of the part above 150;
    * above 500.00: 65 euros + 5 % of the part above 500, at most 2,000 euros."""
    if balance <= 0:
        return ZERO.quantize(_CENT)
    if balance <= 150:
        cap = Decimal(20)
    elif balance <= 500:
        cap = Decimal(30) + (balance - 150) * Decimal("0.10")
    else:
        cap = min(Decimal(65) + (balance - 500) * Decimal("0.05"), Decimal(2000))
    return cap.quantize(_CENT, ROUND_FLOOR)


def claim_window(
    country: str,
    debtor: Debtor,
    due_date: dt.date,
    as_of: dt.date,
    history: History,
    sending_day: dt.date,
    clauses: BelgianClauses,
    balance: Decimal = ZERO,
) -> Window:
    """What the notice dated ``as_of`` may claim. A business debtor, and a consumer of a
    seller outside Germany and Belgium, is taken to be in default from the day after the due
    date, as before. ``sending_day``: the day this notice goes out (a first reminder's period
    runs from it); ``balance``: what is still owed (the Belgian damages scale's base)."""
    if debtor == "business" or country not in ("DE", "BE"):
        return Window(due_date + DAY)
    if country == "DE":
        start = german_default_start(due_date, history)
        if start is None or as_of < start:
            return Window(None, "not_in_default", "not_in_default", costs_cap=ZERO)
        return Window(start)
    if history.first_sent is None:
        end = belgian_wait_end(sending_day)
        return Window(
            None, "first_reminder", "first_reminder", ZERO, first_reminder=True, wait_end=end
        )
    claims_from = belgian_wait_end(history.first_sent) + DAY
    if as_of < claims_from:
        return Window(None, "waiting_period", "waiting_period", costs_cap=ZERO)
    return Window(
        claims_from if clauses.interest else None,
        None if clauses.interest else "no_clause",
        None if clauses.damages else "no_clause",
        costs_cap=belgian_damages_cap(balance) if clauses.damages else ZERO,
        rate_cap=True,
    )


@dataclass(frozen=True)
class Capped:
    """The costs a notice claims after a cap: what is carried of the earlier notices' costs,
    this notice's fee, and what the cap cut off (``cut``, reported)."""

    earlier: Decimal
    fee: Decimal
    cut: Decimal


def cap_costs(earlier: Decimal, fee: Decimal, cap: Decimal | None) -> Capped:
    """Earlier notices' costs and this fee within ``cap`` (None: none): the fee is cut first,
    then what is carried (a partial payment lowers the balance, and so the cap, after an
    earlier notice claimed its fee)."""
    if cap is None or earlier + fee <= cap:
        return Capped(earlier, fee, ZERO)
    kept_fee = max(min(fee, cap - earlier), ZERO)
    kept_earlier = min(earlier, cap)
    return Capped(kept_earlier, kept_fee, earlier + fee - kept_earlier - kept_fee)


__all__ = [
    "BelgianClauses",
    "Capped",
    "History",
    "Window",
    "belgian_damages_cap",
    "belgian_wait_end",
    "cap_costs",
    "carries_default_note",
    "claim_window",
    "german_default_start",
    "history_of",
    "sending_day",
]
