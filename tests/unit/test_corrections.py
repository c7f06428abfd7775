"""The date of a correction of an invoice (src/domain/corrections.py): never before the invoice's
issue date; without one, today, or the invoice's issue date when that is later."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoicing.domain.corrections import check_not_before_invoice, correction_date
from invoicing.domain.errors import DomainError

ISSUED = dt.date(2026, 12, 1)
TODAY = dt.date(2026, 11, 20)


def test_an_explicit_date_before_the_invoice_is_refused_at_the_date() -> None:
    with pytest.raises(DomainError) as caught:
        correction_date(dt.date(2026, 11, 30), ISSUED, TODAY)
    (err,) = caught.value.errors
    assert (err.code, err.pointer, err.status) == ("date_before_invoice", "/issue_date", "422")
    assert "2026-11-30" in err.detail and "the invoice's issue date 2026-12-01" in err.detail
    assert err.hint.startswith("date the credit note on or after 2026-12-01")
    assert "leave issue_date out" in err.hint


def test_the_same_day_and_later_days_are_taken_as_sent() -> None:
    assert correction_date(ISSUED, ISSUED, TODAY) == ISSUED
    assert correction_date(dt.date(2027, 1, 4), ISSUED, TODAY) == dt.date(2027, 1, 4)
    check_not_before_invoice(ISSUED, ISSUED, what="write-off", field="date")


def test_without_a_date_a_future_dated_invoice_gives_its_own_issue_date() -> None:
    assert correction_date(None, ISSUED, TODAY) == ISSUED  # the invoice is dated after today
    assert correction_date(None, dt.date(2026, 11, 2), TODAY) == TODAY
    assert correction_date(None, TODAY, TODAY) == TODAY
    assert correction_date(None, None, TODAY) == TODAY  # nothing to compare with


def test_a_write_off_names_its_own_field() -> None:
    with pytest.raises(DomainError) as caught:
        check_not_before_invoice(dt.date(2026, 4, 2), ISSUED, what="write-off", field="date")
    (err,) = caught.value.errors
    assert (err.code, err.pointer) == ("date_before_invoice", "/date")
    assert err.detail.startswith("date 2026-04-02 of the write-off is before")
    assert err.hint == "date the write-off on or after 2026-12-01"


def test_an_invoice_without_an_issue_date_is_not_compared() -> None:
    check_not_before_invoice(dt.date(2000, 1, 1), None, what="write-off", field="date")


days = st.dates(dt.date(2000, 1, 1), dt.date(2031, 12, 31))


@given(day=days, issued=days, today=days)
def test_a_correction_never_precedes_its_invoice(
    day: dt.date, issued: dt.date, today: dt.date
) -> None:
    """Refused strictly before the issue date, taken from it; the implicit date is never
    before the invoice nor before today."""
    try:
        taken = correction_date(day, issued, today)
    except DomainError:
        assert day < issued
    else:
        assert taken == day >= issued
    implicit = correction_date(None, issued, today)
    assert implicit == max(issued, today)
