"""Default interest on what was open each day (docs/dunning.md, "Interest"), without a database.

Every day from the day after the due date to the notice's day accrues simple act/365 interest on
what was open at its end; the sum is rounded half-up to the currency's minor unit once. The
property test compares the rule with a plain day-by-day loop over the calendar.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing.domain.dunning import BalanceChange, interest_on_balances

DUE = dt.date(2026, 3, 31)


def test_interest_is_exact_and_half_up() -> None:
    # 1000 * 9 % * 30 / 365 = 7.397... -> 7.40
    as_of = DUE + dt.timedelta(days=30)
    assert interest_on_balances(Decimal("1000.00"), [], DUE, as_of, Decimal(9), "EUR") == Decimal(
        "7.40"
    )
    assert interest_on_balances(Decimal("1000"), [], DUE, as_of, Decimal(9), "JPY") == Decimal(7)
    assert interest_on_balances(Decimal("1000"), [], DUE, as_of, Decimal(9), "KWD") == Decimal(
        "7.397"
    )
    assert interest_on_balances(Decimal("1000.00"), [], DUE, as_of, None, "EUR") == Decimal("0.00")
    assert interest_on_balances(Decimal("1000.00"), [], DUE, DUE, Decimal(9), "EUR") == Decimal(
        "0.00"
    )


def test_a_partial_payment_lowers_the_interest_from_its_own_day_on() -> None:
    """1,000.00 due 31 March, 400.00 paid on 10 April (day 10 of default), notice on 30 April:
    9 days on 1,000.00 and 21 days on 600.00 (the payment's day on what was left), not 30 days
    on 600.00 (what the rule before session 35 gave: 4.44)."""
    paid = [BalanceChange(dt.date(2026, 4, 10), Decimal("-400.00"))]
    got = interest_on_balances(
        Decimal("1000.00"), paid, DUE, dt.date(2026, 4, 30), Decimal(9), "EUR"
    )
    # (1000 * 9 + 600 * 21) * 0.09 / 365 = 21600 * 0.09 / 365 = 5.326... -> 5.33
    assert got == Decimal("5.33")


def test_changes_before_default_and_after_the_notice() -> None:
    """A payment on or before the first day of default counts for every day; one after the
    notice's day for none; a reversed write-off raises what is open again; an overpayment
    leaves nothing to accrue."""
    as_of = DUE + dt.timedelta(days=10)
    early = [BalanceChange(DUE - dt.timedelta(days=3), Decimal("-250.00"))]
    assert interest_on_balances(
        Decimal("1000.00"), early, DUE, as_of, Decimal(10), "EUR"
    ) == Decimal("2.05")  # 750 * 10 % * 10 / 365 = 2.054...
    late = [BalanceChange(as_of + dt.timedelta(days=1), Decimal("-1000.00"))]
    assert interest_on_balances(
        Decimal("1000.00"), late, DUE, as_of, Decimal(10), "EUR"
    ) == Decimal("2.74")  # 1000 * 10 % * 10 / 365 = 2.739...
    back = [
        BalanceChange(DUE + dt.timedelta(days=2), Decimal("-1000.00")),  # written off
        BalanceChange(DUE + dt.timedelta(days=6), Decimal("1000.00")),  # and reversed
    ]
    # days 1 and 6..10 on 1,000.00: 6 days -> 1.643... -> 1.64
    assert interest_on_balances(
        Decimal("1000.00"), back, DUE, as_of, Decimal(10), "EUR"
    ) == Decimal("1.64")
    over = [BalanceChange(DUE + dt.timedelta(days=5), Decimal("-1500.00"))]
    # days 1..4 on 1,000.00; from day 5 nothing open (not -500)
    assert interest_on_balances(
        Decimal("1000.00"), over, DUE, as_of, Decimal(10), "EUR"
    ) == Decimal("1.10")  # 1000 * 10 % * 4 / 365 = 1.095...


MINOR = {"EUR": Decimal("0.01"), "JPY": Decimal(1), "KWD": Decimal("0.001")}

changes = st.lists(
    st.tuples(
        st.integers(min_value=-40, max_value=400),
        st.decimals(min_value=-2000, max_value=800, places=2, allow_nan=False),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    owed=st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False),
    moves=changes,
    days=st.integers(min_value=-5, max_value=400),
    rate=st.sampled_from([None, Decimal(0), Decimal("4.12"), Decimal(9), Decimal("11.27")]),
    currency=st.sampled_from(sorted(MINOR)),
)
def test_the_rule_is_a_day_by_day_sum(
    owed: Decimal,
    moves: list[tuple[int, Decimal]],
    days: int,
    rate: Decimal | None,
    currency: str,
) -> None:
    as_of = DUE + dt.timedelta(days=days)
    given_changes = [BalanceChange(DUE + dt.timedelta(days=d), amount) for d, amount in moves]
    total = Decimal(0)
    day = DUE + dt.timedelta(days=1)
    while day <= as_of:  # what was open at the end of each day of default
        open_ = owed + sum((c.amount for c in given_changes if c.day <= day), Decimal(0))
        total += max(open_, Decimal(0)) * (rate or 0) / 100 / 365
        day += dt.timedelta(days=1)
    want = total.quantize(MINOR[currency], rounding=ROUND_HALF_UP)
    got = interest_on_balances(owed, given_changes, DUE, as_of, rate, currency)
    assert got == want
