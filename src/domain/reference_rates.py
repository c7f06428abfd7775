"""Reference rates of statutory default interest, as data, by half-year (pure; no clock).

* Germany, § 288 BGB: the Basiszinssatz (§ 247 BGB, set by the Bundesbank on 1 January and
  1 July) plus 9 percentage points when the debtor is not a consumer (Abs. 2), plus 5 when it
  is one (Abs. 1). The rate changes *within* an interest period: each day takes the rate of
  its half-year.
* Belgium, law of 2 August 2002 on late payment in commercial transactions, art. 5: the ECB's
  main refinancing rate on the first calendar day of the half-year plus 8 points, rounded up
  to the next half point, for the whole half-year. Only between businesses: the law does not
  apply to consumers, for whom this service claims no statutory rate (configure a fixed rate).

The tables end with the last half-year this release knows (``KNOWN_UNTIL``); a day after it
or before the first has no rate, and no notice is sent with a guessed one. An organization
supplies further half-years itself (``configure_dunning``'s ``reference_rates``), which extend
or override the shipped table for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Literal

Debtor = Literal["business", "consumer"]


def half_year(day: dt.date) -> dt.date:
    """The first day of ``day``'s half-year (1 January or 1 July)."""
    return dt.date(day.year, 1 if day.month <= 6 else 7, 1)


def next_half_year(start: dt.date) -> dt.date:
    return dt.date(start.year, 7, 1) if start.month == 1 else dt.date(start.year + 1, 1, 1)


def is_half_year_start(day: dt.date) -> bool:
    return day.day == 1 and day.month in (1, 7)


def _table(first: dt.date, last: dt.date, changes: Mapping[dt.date, str]) -> dict[dt.date, Decimal]:
    """Every half-year from ``first`` to ``last`` (starts), each with the rate of the latest
    change at or before it."""
    table: dict[dt.date, Decimal] = {}
    rate: Decimal | None = None
    start = first
    while start <= last:
        if start in changes:
            rate = Decimal(changes[start])
        assert rate is not None, start
        table[start] = rate
        start = next_half_year(start)
    return table


#: the last half-year (its first day) the shipped tables know
KNOWN_UNTIL = dt.date(2026, 1, 1)
FIRST_KNOWN = dt.date(2016, 7, 1)

#: Basiszinssatz, § 247 BGB (Deutsche Bundesbank), percent, by half-year
GERMAN_BASE_RATE: Mapping[dt.date, Decimal] = _table(
    FIRST_KNOWN,
    KNOWN_UNTIL,
    {
        dt.date(2016, 7, 1): "-0.88",  # unchanged through 2022-07-01
        dt.date(2023, 1, 1): "1.62",
        dt.date(2023, 7, 1): "3.12",
        dt.date(2024, 1, 1): "3.62",
        dt.date(2024, 7, 1): "3.37",
        dt.date(2025, 1, 1): "2.27",
        dt.date(2025, 7, 1): "1.27",
        dt.date(2026, 1, 1): "1.27",
    },
)

#: ECB main refinancing operations rate on the first calendar day of the half-year, percent
ECB_MAIN_REFINANCING_RATE: Mapping[dt.date, Decimal] = _table(
    FIRST_KNOWN,
    KNOWN_UNTIL,
    {
        dt.date(2016, 7, 1): "0.00",  # unchanged through 2022-07-01
        dt.date(2023, 1, 1): "2.50",
        dt.date(2023, 7, 1): "4.00",
        dt.date(2024, 1, 1): "4.50",
        dt.date(2024, 7, 1): "4.25",
        dt.date(2025, 1, 1): "3.15",
        dt.date(2025, 7, 1): "2.15",
        dt.date(2026, 1, 1): "2.15",
    },
)

#: the reference rate of statutory interest by the seller's country
REFERENCE_RATES: Mapping[str, Mapping[dt.date, Decimal]] = {
    "DE": GERMAN_BASE_RATE,
    "BE": ECB_MAIN_REFINANCING_RATE,
}

_HALF = Decimal("0.5")


def belgian_rate(ecb_rate: Decimal) -> Decimal:
    """Law of 2 August 2002, art. 5: the ECB rate plus 8 points, rounded up to the next half
    point (10.15 -> 10.5; 10.5 stays 10.5)."""
    return ((ecb_rate + 8) / _HALF).to_integral_value(ROUND_CEILING) * _HALF


def statutory_rate(country: str, debtor: Debtor, reference: Decimal) -> Decimal:
    """The statutory rate per year for a half-year whose reference rate is ``reference``."""
    if country == "DE":
        return reference + (9 if debtor == "business" else 5)
    if country == "BE" and debtor == "business":
        return belgian_rate(reference)
    raise ValueError(f"no statutory rate for a {debtor} debtor of a seller in {country}")


def statutory_problem(country: str, debtor: Debtor) -> str | None:
    """Why statutory interest cannot be claimed here, or None."""
    if country not in REFERENCE_RATES:
        return (
            f"statutory interest is known for sellers in DE and BE only, not {country or '?'}: "
            "configure interest_rate_per_year instead"
        )
    if country == "BE" and debtor == "consumer":
        return (
            "the Belgian law of 2 August 2002 sets no rate for a consumer debtor (the legal "
            "rate in civil matters is not known to this release): configure "
            "interest_rate_per_year (a fixed rate, capped at that law's rate) on a level for "
            "consumers with belgian_consumers.interest_clause if the contracts provide interest, "
            "or set the customer's customer_type to business if it is one"
        )
    return None


@dataclass(frozen=True)
class RateSpan:
    """One rate per year (percent) on every day from ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date
    rate: Decimal


class MissingRate(Exception):
    """A half-year of the interest period has no reference rate (not known to this release,
    and not supplied by the organization)."""

    def __init__(self, half_year: dt.date) -> None:
        super().__init__(half_year)
        self.half_year = half_year


def reference_table(
    country: str, own: Iterable[tuple[dt.date, Decimal]] = ()
) -> dict[dt.date, Decimal]:
    """The shipped table of ``country`` with the organization's own half-years over it."""
    table = dict(REFERENCE_RATES.get(country, {}))
    table.update(own)
    return table


def statutory_spans(
    country: str,
    debtor: Debtor,
    first: dt.date,
    last: dt.date,
    table: Mapping[dt.date, Decimal],
) -> list[RateSpan]:
    """The statutory rate of every day from ``first`` to ``last``, as one span per half-year.

    Raises :class:`MissingRate` for the first half-year that has no reference rate."""
    spans: list[RateSpan] = []
    start = half_year(first)
    while start <= last:
        if start not in table:
            raise MissingRate(start)
        end = next_half_year(start) - dt.timedelta(days=1)
        rate = statutory_rate(country, debtor, table[start])
        spans.append(RateSpan(max(start, first), min(end, last), rate))
        start = next_half_year(start)
    return spans


__all__ = [
    "ECB_MAIN_REFINANCING_RATE",
    "GERMAN_BASE_RATE",
    "KNOWN_UNTIL",
    "REFERENCE_RATES",
    "MissingRate",
    "RateSpan",
    "belgian_rate",
    "half_year",
    "is_half_year_start",
    "reference_table",
    "statutory_problem",
    "statutory_rate",
    "statutory_spans",
]
