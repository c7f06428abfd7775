"""Rounding money never gives a negative zero: ``quantize`` keeps the sign of what rounds to
zero, and a zero rate's tax on a negative base is ``-5.00 * 0 = -0.00``, which events, PDFs
and e-invoices would print as ``-0.00`` (EN 16931 BR-E-09 refuses it as an exempt group's
tax amount)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from invoicing.domain.calc import LineInput, compute
from invoicing.domain.money import round_money, rounder
from invoicing.domain.tax import TaxCategory

CURRENCIES = ["EUR", "JPY", "KWD", "CLF"]


def _negative_zero(value: Decimal) -> bool:
    return value == 0 and value.is_signed()


@given(
    st.decimals(min_value=-1, max_value=1, places=6, allow_nan=False, allow_infinity=False),
    st.sampled_from(CURRENCIES),
)
def test_rounding_never_gives_a_negative_zero(value: Decimal, currency: str) -> None:
    for rounded in (round_money(value, currency), rounder(currency)(value)):
        assert not _negative_zero(rounded), (value, currency, rounded)
        assert rounded == round_money(value, currency)  # the same value either way
        assert (
            abs(rounded - value)
            <= Decimal("0.5")
            * Decimal(10)
            ** -{
                "EUR": 2,
                "JPY": 0,
                "KWD": 3,
                "CLF": 4,
            }[currency]
        )


def test_what_rounds_to_zero_from_below_is_a_plain_zero() -> None:
    assert str(round_money(Decimal("-0.004"), "EUR")) == "0.00"
    assert str(rounder("EUR")(Decimal("-0.00"))) == "0.00"
    assert str(round_money(Decimal("-0.005"), "EUR")) == "-0.01"  # half away from zero
    assert str(round_money(Decimal("-0.00"), "JPY")) == "0"


def test_an_exempt_group_of_negative_lines_owes_a_plain_zero_of_tax() -> None:
    totals = compute(
        "EUR",
        [
            LineInput(Decimal("0.5"), Decimal("-10.00"), TaxCategory.EXEMPT, Decimal(0)),
            LineInput(Decimal("2"), Decimal("100.00"), TaxCategory.STANDARD, Decimal(19)),
        ],
    )
    exempt = totals.groups[0]
    assert exempt.taxable_amount == Decimal("-5.00")
    assert str(exempt.tax_amount) == "0.00"
    for from_net in (True, False):
        again = compute(
            "EUR",
            [LineInput(Decimal("1"), Decimal("-3.00"), TaxCategory.REVERSE_CHARGE, Decimal(0))],
            calculate_from_net=from_net,
        )
        assert [str(g.tax_amount) for g in again.groups] == ["0.00"], from_net
        assert not _negative_zero(again.tax_total)
