"""VAT rates by law (src/domain/rates.py): pure, no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from invoicing.domain.errors import DomainError
from invoicing.domain.rates import RateRules, extra_periods, tax_point

D = Decimal
DE, BE = RateRules("DE"), RateRules("BE")


@pytest.mark.parametrize(
    ("rules", "day", "valid"),
    [
        (DE, dt.date(2026, 3, 1), [D(19), D(7)]),
        (DE, dt.date(2020, 6, 30), [D(19), D(7)]),
        (DE, dt.date(2020, 7, 1), [D(16), D(5)]),
        (DE, dt.date(2020, 12, 31), [D(16), D(5)]),
        (DE, dt.date(2021, 1, 1), [D(19), D(7)]),
        (BE, dt.date(2026, 3, 1), [D(21), D(12), D(6)]),
    ],
)
def test_valid_rates_by_tax_point_date(rules: RateRules, day: dt.date, valid: list[D]) -> None:
    assert sorted(rules.valid_rates(day)) == sorted(valid)
    for rate in valid:
        rules.check(rate, day, "/lines/0/tax_rate")


def test_fraction_gets_the_percent_hint() -> None:
    with pytest.raises(DomainError) as exc:
        DE.check(D("0.19"), dt.date(2026, 3, 1), "/lines/0/tax_rate")
    err = exc.value.errors[0]
    assert err.code == "invalid_tax_rate" and err.pointer == "/lines/0/tax_rate"
    assert err.hint == "rates are percentages: did you mean 19?"


def test_a_rate_outside_its_period_names_the_period() -> None:
    with pytest.raises(DomainError) as exc:
        DE.check(D(16), dt.date(2021, 1, 1), "/lines/1/tax_rate")
    assert "2020-07-01 to 2020-12-31" in exc.value.errors[0].hint
    with pytest.raises(DomainError) as exc:
        DE.check(D(19), dt.date(2020, 11, 15), "/lines/0/tax_rate")
    assert "16, 5" in exc.value.errors[0].detail


def test_a_rate_the_country_does_not_have() -> None:
    with pytest.raises(DomainError) as exc:
        DE.check(D(12), dt.date(2026, 3, 1), "/lines/0/tax_rate")
    assert "extra_tax_rates" in exc.value.errors[0].hint
    with pytest.raises(DomainError):
        BE.check(D(19), dt.date(2026, 3, 1), "/lines/0/tax_rate")


def test_an_organization_can_add_a_rate_for_a_period() -> None:
    rules = RateRules("DE", extra_periods([{"rate": "12", "valid_from": "2026-01-01"}]))
    rules.check(D(12), dt.date(2026, 3, 1), "/x")
    with pytest.raises(DomainError):
        rules.check(D(12), dt.date(2025, 12, 31), "/x")


def test_zero_and_unknown_countries_are_not_checked() -> None:
    DE.check(D(0), dt.date(2026, 3, 1), "/x")
    RateRules("FR").check(D("5.5"), dt.date(2026, 3, 1), "/x")
    RateRules(None).check(D(12), dt.date(2026, 3, 1), "/x")


def test_tax_point_is_delivery_then_period_end_then_issue_date() -> None:
    d1, d2, d3, today = (dt.date(2020, 8, i) for i in (1, 2, 3, 4))
    assert tax_point(d1, d2, d3, today) == d1
    assert tax_point(None, d2, d3, today) == d2
    assert tax_point(None, None, d3, today) == d3
    assert tax_point(None, None, None, today) == today
