"""Realised exchange differences and the payment rate's checks (src/domain/fx.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoicing.domain.errors import DomainError
from invoicing.domain.fx import (
    PAYMENT,
    Settling,
    check_payment_rate,
    exchange_difference,
    fit,
    movement_values,
    normalize,
    settled_value,
    settling_values,
)
from invoicing.domain.ledger import GroupAmount
from invoicing.domain.money import round_money
from invoicing.domain.tax import TaxCategory

D = Decimal


def test_gain_and_loss() -> None:
    gain = exchange_difference("EUR", D("1190.00"), D("0.9"), D("0.92"))
    assert (gain.booked, gain.received, gain.difference, gain.kind) == (
        D("1071.00"),
        D("1094.80"),
        D("23.80"),
        "gain",
    )
    loss = exchange_difference("EUR", D("500.00"), D("0.9"), D("0.88"))
    assert (loss.difference, loss.kind) == (D("-10.00"), "loss")
    # into a currency without minor units
    yen = exchange_difference("JPY", D("99.99"), D("160.123"), D("158.5"))
    assert (yen.booked, yen.received, yen.difference) == (D("16011"), D("15848"), D("-163"))


@given(
    amount=st.integers(1, 10**9).map(lambda c: D(c) / 100),
    r1=st.integers(1, 10**6).map(lambda x: D(x) / 10**4),
    r2=st.integers(1, 10**6).map(lambda x: D(x) / 10**4),
)
def test_booked_plus_difference_is_what_came_in(amount: Decimal, r1: Decimal, r2: Decimal) -> None:
    d = exchange_difference("EUR", amount, r1, r2)
    assert d.booked + d.difference == d.received == round_money(amount * r2, "EUR")
    assert d.booked == round_money(amount * r1, "EUR")
    assert (d.difference == 0) == (d.booked == d.received)


def test_payment_rate_only_for_foreign_currency_invoices() -> None:
    check_payment_rate(None, "EUR", None, None)
    check_payment_rate(D("0.9"), "USD", "EUR", D("0.91"))
    for args in (("EUR", None, None), ("USD", "USD", None), ("USD", "EUR", None)):
        with pytest.raises(DomainError) as exc:
            check_payment_rate(D("1.1"), *args)
        assert exc.value.errors[0].pointer == "/exchange_rate"
    with pytest.raises(DomainError) as exc:
        check_payment_rate(D("0.9"), "USD", "EUR", D("0.91"), kind="credit_note")
    assert "credit note" in exc.value.errors[0].detail


def test_normalized_parts_add_up_and_credited_net() -> None:
    groups = [
        GroupAmount(TaxCategory.STANDARD, D(19), D("999.99"), D("190.00")),
        GroupAmount(TaxCategory.STANDARD, D(7), D("19.99"), D("1.40")),
    ]
    n = normalize(
        "EUR", D("0.9137"), groups, paid=D("500"), credited=D("119"), credited_net=D("100")
    )
    assert n.tax_total == sum(g.tax for g in n.groups) == D("174.88")
    assert n.gross_total == n.net_total + n.tax_total
    assert (n.credited, n.credited_net) == (D("108.73"), D("91.37"))
    assert n.open == n.gross_total - n.credited - n.paid


# 324.97 USD at 0.9234: the groups convert to 252.16 + 47.92 = 300.08 EUR
HALVES = [GroupAmount(TaxCategory.STANDARD, D(19), D("273.08"), D("51.89"))]


def test_a_document_paid_in_halves_is_settled_to_the_cent() -> None:
    # each half converted on its own would be 150.03 + 150.04 = 300.07: a cent left open
    halves = [D("162.48"), D("162.49")]
    assert movement_values(D("324.97"), D("300.08"), D("0.9234"), "EUR", halves) == [
        D("150.03"),
        D("150.05"),
    ]
    n = normalize("EUR", D("0.9234"), HALVES, paid=D("324.97"))
    assert (n.gross_total, n.paid, n.open) == (D("300.08"), D("300.08"), D("0.00"))


def test_settled_value_converts_what_lies_beyond_the_gross_on_its_own() -> None:
    def value(settled: str) -> Decimal:
        return settled_value(D(settled), D("70.81"), D("65.38"), D("0.9234"), "EUR")

    assert value("70.81") == D("65.38")  # 70.81 x 0.9234 = 65.39 would leave a cent
    assert value("35.00") == D("32.32")  # short of the gross: at the frozen rate
    assert value("75.81") == D("65.38") + D("4.62")  # an overpayment of 5.00 USD
    assert value("-5.00") == D("-4.62")  # a refund beyond what was settled
    # a credit note's own amounts run negative on the same rules
    assert settled_value(D("-70.81"), D("-70.81"), D("-65.38"), D("0.9234"), "EUR") == D("-65.38")


@given(
    groups=st.lists(
        st.tuples(st.integers(-(10**6), 10**7), st.integers(0, 10**6)), min_size=1, max_size=4
    ),
    rate=st.integers(1, 10**6).map(lambda x: D(x) / 10**4),
    cuts=st.lists(st.integers(0, 10**4), max_size=6),
    currency=st.sampled_from(["EUR", "JPY"]),
)
def test_movements_that_settle_a_document_add_up_to_its_converted_gross(
    groups: list[tuple[int, int]], rate: Decimal, cuts: list[int], currency: str
) -> None:
    unit = D(1) if currency == "JPY" else D("0.01")
    amounts = [
        GroupAmount(TaxCategory.STANDARD, D(19), D(n) * unit, D(t) * unit) for n, t in groups
    ]
    gross = sum((g.gross for g in amounts), D(0))
    n = normalize(currency, rate, amounts)
    # any split of the gross into movements (some partial, one reversed and redone)
    parts = [gross * c / 10**4 for c in cuts]
    parts = [round_money(p, "JPY" if currency == "JPY" else "EUR") for p in parts]
    movements = [*parts, gross - sum(parts, D(0))]
    if movements[0]:
        movements += [-movements[0], movements[0]]
    values = movement_values(gross, n.gross_total, rate, currency, movements)
    assert sum(values, D(0)) == n.gross_total
    for amount, value in zip(movements, values, strict=True):
        # each within the rounding of the groups (net and VAT, half a cent each) of its rate
        assert abs(value - amount * rate) <= unit * (len(groups) + 1)
    # the ledger agrees: whatever mix settled it, the document is open for nothing
    settled = normalize(
        currency,
        rate,
        amounts,
        paid=(parts and parts[0]) or D(0),
        credited=gross - ((parts and parts[0]) or D(0)),
    )
    assert settled.open == 0 and settled.paid + settled.credited == n.gross_total


def test_fit_puts_the_difference_on_the_largest_part() -> None:
    assert fit([D("10.00"), D("-50.00"), D("50.00")], D("10.01")) == [
        D("10.00"),
        D("-49.99"),
        D("50.00"),
    ]
    assert fit([], D("0.01")) == []


def test_booked_values_stay_and_the_others_follow_them() -> None:
    # 100.07 USD net + 19.01 VAT at 0.9234: the groups convert to 109.95 EUR (not 109.96)
    groups = [GroupAmount(TaxCategory.STANDARD, Decimal("19"), Decimal("100.07"), Decimal("19.01"))]
    rate = Decimal("0.9234")
    late = Settling(dt.date(2025, 1, 20), PAYMENT, "late", Decimal("59.54"))
    early = Settling(dt.date(2025, 1, 21), PAYMENT, "booked", Decimal("59.54"))
    # by date alone the one of the 20th comes first and the other takes up the cent
    assert settling_values(groups, rate, "EUR", [late, early]) == {
        "late": Decimal("54.98"),
        "booked": Decimal("54.97"),
    }
    # the one of the 21st was booked first (54.98): it stays, the other books what is left
    kept = settling_values(groups, rate, "EUR", [late, early], {"booked": Decimal("54.98")})
    assert kept == {"booked": Decimal("54.98"), "late": Decimal("54.97")}
    # a booked value of a movement no longer there is ignored
    assert settling_values(groups, rate, "EUR", [late], {"gone": Decimal("1")}) == {
        "late": Decimal("54.98")
    }


@given(
    amounts=st.lists(st.integers(min_value=1, max_value=5_000_00), min_size=1, max_size=6),
    booked_mask=st.lists(st.booleans(), min_size=6, max_size=6),
    rate=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("2"), places=4),
)
def test_with_booked_values_the_movements_still_add_up(
    amounts: list[int], booked_mask: list[bool], rate: Decimal
) -> None:
    # whatever was booked before (values taken from an earlier, shorter history), the values
    # add up to what the movements settle together, and the booked ones are as booked
    net = Decimal(sum(amounts)) / 100
    tax = (net * Decimal("0.19")).quantize(Decimal("0.01"))
    groups = [GroupAmount(TaxCategory.STANDARD, Decimal("19"), net, tax)]
    gross = net + tax
    moves = [
        Settling(dt.date(2025, 1, 1 + i), PAYMENT, f"p{i}", Decimal(a) / 100)
        for i, a in enumerate(amounts)
    ]
    earlier = [m for m, b in zip(moves, booked_mask, strict=False) if b]
    booked = settling_values(groups, rate, "EUR", earlier)
    values = settling_values(groups, rate, "EUR", moves, booked)
    assert all(values[item] == value for item, value in booked.items())
    settled = sum((m.amount for m in moves), Decimal(0))
    converted = normalize("EUR", rate, groups).gross_total
    assert sum(values.values(), Decimal(0)) == settled_value(settled, gross, converted, rate, "EUR")
