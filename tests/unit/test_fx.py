"""Realised exchange differences and the payment rate's checks (src/domain/fx.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoicing.domain.errors import DomainError
from invoicing.domain.fx import check_payment_rate, exchange_difference, normalize
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
