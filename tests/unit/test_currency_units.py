"""ISO 4217 minor units (from the iso4217 package, not CLDR) in arithmetic and on paper."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from babel.numbers import format_currency, format_decimal, get_currency_precision
from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing.documents.pdf.view import build_view
from invoicing.domain.money import is_currency, minor_units, round_money, rounder
from invoicing.texts import LANGUAGES, formatting
from invoicing.texts.formatting import babel_locale, decimal, money, pattern_text, price
from iso4217 import Currency

from tests.support import scenarios
from tests.support.scenarios import Core

#: ISO 4217 minor units; CLDR (what Babel says) differs for HUF (0)
ISO = {"HUF": 2, "JPY": 0, "KWD": 3, "CLF": 4, "EUR": 2, "IQD": 3}


@pytest.mark.parametrize(("code", "digits"), sorted(ISO.items()))
def test_minor_units_are_iso_4217(code: str, digits: int) -> None:
    assert is_currency(code) and minor_units(code) == digits


def test_iso_differs_from_cldr_where_it_should() -> None:
    assert int(get_currency_precision("HUF")) == 0 and minor_units("HUF") == 2
    assert round_money(Decimal("1234.567"), "HUF") == Decimal("1234.57")
    assert round_money(Decimal("0.00005"), "CLF") == Decimal("0.0001")
    assert not is_currency("XAU") and not is_currency("DEM") and not is_currency("XXX")


@pytest.mark.parametrize(
    ("code", "lang", "expected"),
    [
        ("HUF", "de", "1.234,50\u00a0HUF"),
        ("JPY", "de", "1.235\u00a0¥"),
        ("KWD", "de", "1.234,500\u00a0KWD"),
        ("CLF", "de", "1.234,5000\u00a0CLF"),
        ("HUF", "en", "HUF1,234.50"),
        ("KWD", "nl", "KWD\u00a01.234,500"),
        ("CLF", "fr", "1\u202f234,5000\u00a0CLF"),
    ],
)
def test_money_prints_the_iso_minor_units(code: str, lang: str, expected: str) -> None:
    assert money(Decimal("1234.5"), code, lang) == expected


def test_prices_keep_their_precision() -> None:
    assert price(Decimal("0.335"), "EUR", "de") == "0,335\u00a0€"
    assert price(Decimal("12.3455"), "KWD", "de") == "12,3455\u00a0KWD"
    assert price(Decimal("12.3"), "KWD", "de") == "12,300\u00a0KWD"
    assert price(Decimal("100"), "JPY", "de") == "100\u00a0¥"


@pytest.mark.parametrize("code", ["HUF", "JPY", "KWD", "CLF"])
def test_documents_in_each_currency(tmp_path_factory: pytest.TempPathFactory, code: str) -> None:
    core = Core(tmp_path_factory.mktemp(f"cur{code}"))
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    state = core.invoice(
        org,
        customer,
        [{"description": "Posten", "quantity": "3", "unit_price": "333.3333"}],
        currency=code,
        exchange_rate="0.5",
    )
    digits = ISO[code]
    for amount in (state.totals.net_total, state.totals.tax_total, state.totals.gross_total):
        assert amount == round_money(amount, code)
        assert -amount.as_tuple().exponent == digits  # type: ignore[operator]
    view = build_view(state)
    assert view["totals"]["gross_total"] == money(state.totals.gross_total, code, "de")
    assert view["lines"][0]["unit_price"] == price(Decimal("333.3333"), code, "de")


VALUES = [
    Decimal(v)
    for v in (
        *("0", "-0", "0.005", "-12.345", "1234567.891", "0.335", "1E+3", "0.00", "-0.004"),
        *("999.995", "1000", "-1000000", "12345678901234567.5", "0.1234567", "7E-9", "1E+20"),
        *("-98765.4321", "100.10", "2.5", "3.5", "-2.5", "0.000001", "123456789012345678901234"),
    )
]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_formatting_is_babels_for_every_currency(lang: str) -> None:
    """money()/price() give exactly what babel.numbers.format_currency gives with the same
    pattern (the formatter writes the symbol into its cached pattern), for every ISO 4217
    currency."""
    codes = sorted({c.code for c in Currency if is_currency(c.code)})
    assert len(codes) > 150
    for code in codes:
        for value in VALUES:
            digits = minor_units(code)
            expected = format_currency(
                round_money(value, code),
                code,
                format=pattern_text(lang, digits),
                locale=babel_locale(lang),
                currency_digits=False,
            )
            assert money(value, code, lang) == expected, (code, value)
            places = max(digits, -min(0, int(value.normalize().as_tuple().exponent)))
            expected_price = format_currency(
                value,
                code,
                format=pattern_text(lang, places),
                locale=babel_locale(lang),
                currency_digits=False,
            )
            assert price(value, code, lang) == expected_price, (code, value)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_decimals_are_babels(lang: str) -> None:
    """decimal() (quantities and rates on documents) gives exactly what
    babel.numbers.format_decimal gives without quantization, and so do infinite values."""
    for value in (*VALUES, Decimal("Infinity"), Decimal("-Infinity")):
        expected = format_decimal(value, locale=babel_locale(lang), decimal_quantization=False)
        assert decimal(value, lang) == expected, value


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_documents_patterns_take_the_direct_path(lang: str) -> None:
    """The comparisons above exercise the formatter's own steps (formatting._Plain), not only
    babel's: the euro pattern and the decimal pattern of every document language are plain."""
    assert formatting._plain(formatting._pattern(lang, 2, "EUR"), lang) is not None
    assert formatting._plain(formatting._decimal_pattern(lang), lang) is not None


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(
        allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12
    ),
    code=st.sampled_from(sorted(ISO)),
)
def test_the_read_path_rounder_is_round_money(amount: Decimal, code: str) -> None:
    """``rounder`` (used by ``invoice_state``) gives what ``round_money`` gives, value and
    representation (the reply prints the Decimal's digits), and both what ``quantize`` with
    the currency's minor unit and ``rounding=ROUND_HALF_UP`` given by keyword gives, but for
    the sign of a zero (tests/unit/test_money.py)."""
    expected = amount.quantize(Decimal(1).scaleb(-minor_units(code)), rounding=ROUND_HALF_UP)
    expected = expected if expected else expected.copy_abs()
    assert str(rounder(code)(amount)) == str(round_money(amount, code)) == str(expected)


@pytest.mark.parametrize("value", ["0.005", "-0.005", "2.675", "-2.665", "0", "1E+3", "12.5"])
def test_the_read_path_rounder_rounds_ties_away_from_zero(value: str) -> None:
    for code in ISO:
        assert str(rounder(code)(Decimal(value))) == str(round_money(Decimal(value), code))
    assert rounder("EUR")(Decimal("0.005")) == Decimal("0.01")
    assert rounder("EUR")(Decimal("-0.005")) == Decimal("-0.01")
