"""VAT rates by law: which positive rates a seller may charge, by country and tax point date.

The table covers the countries the service is built for (DE, BE); the tax point date is the
delivery date (BT-72), else the end of the service period, else the issue date (§ 13 UStG,
art. 17 Code TVA: the tax arises with the supply). Categories that carry no tax (zero, exempt,
reverse charge, intra-EU, export, outside scope) always have rate 0 and are checked elsewhere
(drafting.make_line). Sources: § 12 UStG (19 % / 7 %), § 28 Abs. 1 and 2 UStG as amended by the
Zweites Corona-Steuerhilfegesetz (16 % / 5 % from 2020-07-01 to 2020-12-31); Belgian Code TVA
art. 37 and KB nr. 20 (21 / 12 / 6 %). An organization may add a rate explicitly
(``configure_organization.extra_tax_rates``), e.g. for a rate the table does not know yet.
Sellers in other countries are not checked (no table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.domain.errors import DomainError


@dataclass(frozen=True)
class RatePeriod:
    """A rate and the tax point dates it is valid for (both ends inclusive, None = open)."""

    rate: Decimal
    kind: str  # standard | reduced | added (by the organization)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def describe(self) -> str:
        start = self.valid_from.isoformat() if self.valid_from else ""
        end = self.valid_to.isoformat() if self.valid_to else ""
        span = f" ({start} to {end})" if start or end else ""
        return f"{self.rate:f} % {self.kind}{span}"


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


_CUT_START, _CUT_END = _d("2020-07-01"), _d("2020-12-31")

RATE_TABLE: dict[str, tuple[RatePeriod, ...]] = {
    "DE": (
        RatePeriod(Decimal(19), "standard", _d("2007-01-01"), _d("2020-06-30")),
        RatePeriod(Decimal(16), "standard", _CUT_START, _CUT_END),
        RatePeriod(Decimal(19), "standard", _d("2021-01-01"), None),
        RatePeriod(Decimal(7), "reduced", _d("1983-07-01"), _d("2020-06-30")),
        RatePeriod(Decimal(5), "reduced", _CUT_START, _CUT_END),
        RatePeriod(Decimal(7), "reduced", _d("2021-01-01"), None),
    ),
    "BE": (
        RatePeriod(Decimal(21), "standard", _d("1996-01-01"), None),
        RatePeriod(Decimal(12), "reduced", _d("1992-04-01"), None),
        RatePeriod(Decimal(6), "reduced", _d("1971-01-01"), None),
    ),
}


def extra_periods(data: Iterable[Mapping[str, Any]]) -> tuple[RatePeriod, ...]:
    """An organization's explicitly added rates (``extra_tax_rates`` of its profile)."""
    return tuple(
        RatePeriod(
            Decimal(str(item["rate"])),
            "added",
            _d(item["valid_from"]) if item.get("valid_from") else None,
            _d(item["valid_to"]) if item.get("valid_to") else None,
        )
        for item in data
    )


@dataclass(frozen=True)
class RateRules:
    """The rates a seller may charge: the table of its country plus its own additions."""

    country: str | None
    extra: tuple[RatePeriod, ...] = ()

    @property
    def periods(self) -> tuple[RatePeriod, ...]:
        return RATE_TABLE.get(self.country or "", ()) + self.extra

    @property
    def checked(self) -> bool:
        return (self.country or "") in RATE_TABLE

    def valid_rates(self, day: dt.date) -> list[Decimal]:
        rates: list[Decimal] = []
        for p in self.periods:
            if p.valid_on(day) and p.rate.normalize() not in rates:
                rates.append(p.rate.normalize())
        return rates

    def check(self, rate: Decimal, day: dt.date, pointer: str) -> None:
        """Reject a positive rate the seller's law does not have on ``day``."""
        if not self.checked or rate == 0:
            return
        valid = self.valid_rates(day)
        if rate.normalize() in valid:
            return
        listed = ", ".join(f"{r:f}" for r in valid)
        other = [p for p in self.periods if p.rate == rate]
        if rate < 1 and (rate * 100).normalize() in valid:
            hint = f"rates are percentages: did you mean {(rate * 100).normalize():f}?"
        elif other:
            hint = (
                f"{rate:f} % is valid only {', '.join(p.describe() for p in other)}; on "
                f"{day.isoformat()} the rates are {listed}; check the delivery date"
            )
        else:
            hint = (
                f"use one of {listed} (valid in {self.country} on {day.isoformat()}), or add the "
                "rate with configure_organization extra_tax_rates if the law allows it"
            )
        raise DomainError(
            "invalid_tax_rate",
            f"{rate:f} % is not a VAT rate of {self.country} on {day.isoformat()} "
            f"(valid: {listed})",
            pointer=pointer,
            hint=hint,
        )


def tax_point(
    delivery_date: dt.date | None,
    service_period_end: dt.date | None,
    issue_date: dt.date | None,
    today: dt.date,
) -> dt.date:
    """The date that chooses the rate: delivery, else end of service period, else issue date."""
    return delivery_date or service_period_end or issue_date or today


def check_rates(
    rules: RateRules, rates: Sequence[tuple[Decimal, str]], day: dt.date
) -> list[DomainError]:
    """Check many (rate, pointer) pairs; every failure, not just the first."""
    failures: list[DomainError] = []
    for rate, pointer in rates:
        try:
            rules.check(rate, day, pointer)
        except DomainError as exc:
            failures.append(exc)
    return failures
