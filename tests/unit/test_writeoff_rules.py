"""Whether a write-off may correct the VAT, by the seller's law (src/domain/writeoff_rules.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoicing.domain.errors import DomainError
from invoicing.domain.writeoff_rules import one_year_after, write_off_vat

DUE = dt.date(2024, 3, 15)


def test_german_sellers_correct_per_section_17() -> None:
    assert write_off_vat("DE", "uncollectible", None, DUE, DUE).code == "de_uncollectible"
    assert write_off_vat("de", "cash_discount", None, DUE, DUE).law == "§ 17 Abs. 1 UStG"
    assert write_off_vat("DE", "small_difference", None, None, DUE).code == "de_price_reduction"


def test_other_sellers_are_not_checked() -> None:
    assert write_off_vat("FR", "uncollectible", None, DUE, DUE).code == "not_checked"
    assert write_off_vat(None, "uncollectible", None, DUE, DUE).code == "not_checked"


@pytest.mark.parametrize("reason", ["small_difference", "cash_discount"])
def test_belgian_price_reductions_are_refunded_at_once(reason: str) -> None:
    assert write_off_vat("BE", reason, None, DUE, DUE).code == "be_price_reduction"


@pytest.mark.parametrize(
    ("ground", "code"),
    [("insolvency", "be_insolvency"), ("definitive_loss", "be_definitive_loss")],
)
def test_belgian_established_losses_are_refunded_whenever(ground: str, code: str) -> None:
    assert write_off_vat("BE", "uncollectible", ground, DUE, DUE).code == code  # type: ignore[arg-type]


def test_belgian_unpaid_receivable_waits_a_year_after_its_due_date() -> None:
    with pytest.raises(DomainError) as exc:
        write_off_vat("BE", "uncollectible", None, DUE, dt.date(2025, 3, 14))
    (err,) = exc.value.errors
    assert (err.code, err.pointer, err.status) == ("vat_not_recoverable", "/reason", "422")
    assert "from 2025-03-15" in err.hint and "insolvency" in err.hint
    decision = write_off_vat("BE", "uncollectible", None, DUE, dt.date(2025, 3, 15))
    assert decision.code == "be_unpaid_one_year"
    assert "77 § 1, 7°" in decision.law


def test_the_one_year_rule_applies_from_2023() -> None:
    # due in 2021: a year later is 2022, but the rule exists from 2023-01-01 only
    with pytest.raises(DomainError):
        write_off_vat("BE", "uncollectible", None, dt.date(2021, 6, 1), dt.date(2022, 12, 31))
    assert (
        write_off_vat("BE", "uncollectible", None, dt.date(2021, 6, 1), dt.date(2023, 1, 1)).code
        == "be_unpaid_one_year"
    )


def test_without_a_due_date_only_an_established_loss_counts() -> None:
    with pytest.raises(DomainError) as exc:
        write_off_vat("BE", "uncollectible", None, None, dt.date(2030, 1, 1))
    assert "once the loss is established" in exc.value.errors[0].hint


def test_leap_day() -> None:
    assert one_year_after(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)


@given(
    due=st.dates(dt.date(2015, 1, 1), dt.date(2035, 12, 31)),
    days=st.integers(-800, 800),
)
def test_belgian_decision_is_monotone_in_time(due: dt.date, days: int) -> None:
    """Refused strictly before max(due + 1 year, 2023-01-01), granted on and after it."""
    day = due + dt.timedelta(days=days)
    threshold = max(one_year_after(due), dt.date(2023, 1, 1))
    try:
        decision = write_off_vat("BE", "uncollectible", None, due, day)
    except DomainError:
        assert day < threshold
    else:
        assert day >= threshold and decision.code == "be_unpaid_one_year"
