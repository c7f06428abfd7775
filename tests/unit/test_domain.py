"""Money, numbering patterns, tax ids: pure rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from invoicing.domain.calc import (
    Discount,
    DiscountKind,
    LineInput,
    check_discount_units,
    compute,
)
from invoicing.domain.errors import DomainError
from invoicing.domain.money import allocate, is_currency, minor_units, round_money
from invoicing.domain.numbering import NumberPattern, PatternError
from invoicing.domain.tax import LegalContext, TaxCategory, validate_vat_id

D = Decimal


def test_minor_units_and_half_up() -> None:
    assert (minor_units("EUR"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)
    assert round_money(D("2.345"), "EUR") == D("2.35")
    assert round_money(D("-2.345"), "EUR") == D("-2.35")
    assert round_money(D("0.5"), "JPY") == D("1")
    assert round_money(D("1.0005"), "KWD") == D("1.001")


def test_currencies_in_use_only() -> None:
    assert is_currency("EUR") and is_currency("CHF")
    assert not is_currency("DEM") and not is_currency("XXX") and not is_currency("ABC")


def test_allocate_sums_exactly() -> None:
    assert allocate(D("10.00"), [D(1), D(1), D(1)], "EUR") == [D("3.34"), D("3.33"), D("3.33")]
    assert sum(allocate(D("0.05"), [D("7"), D("3"), D("0")], "EUR")) == D("0.05")


@pytest.mark.parametrize(
    ("pattern", "seq", "day", "expected"),
    [
        ("RE-{YYYY}-{SEQ:3}", 42, dt.date(2026, 5, 15), "RE-2026-042"),
        ("INV-{YYYY}-{SEQ:4}", 1, dt.date(2026, 1, 15), "INV-2026-0001"),
        ("{SEQ}/{YYYY}", 7, dt.date(2026, 1, 1), "7/2026"),
        ("R{YY}{MM}-{SEQ:2}", 3, dt.date(2026, 11, 2), "R2611-03"),
        ("RE-{YYYY}-{SEQ:3}", 1234, dt.date(2026, 1, 1), "RE-2026-1234"),
    ],
)
def test_patterns(pattern: str, seq: int, day: dt.date, expected: str) -> None:
    p = NumberPattern(pattern)
    assert p.format(seq, day) == expected
    assert p.could_produce(expected)


def test_bad_patterns() -> None:
    with pytest.raises(PatternError, match="exactly one"):
        NumberPattern("RE-{YYYY}")
    with pytest.raises(PatternError, match="unknown placeholder"):
        NumberPattern("RE-{DD}-{SEQ}")
    with pytest.raises(PatternError, match="restarts yearly"):
        NumberPattern("RE-{SEQ}", yearly_reset=True)
    assert NumberPattern("RE-{SEQ}", yearly_reset=False).period(dt.date(2026, 1, 1)) == ""


def test_vat_ids() -> None:
    assert validate_vat_id("DE 136 695 976") == "DE136695976"
    assert validate_vat_id("be 0403.019.261") == "BE0403019261"
    with pytest.raises(ValueError, match="not a valid VAT id"):
        validate_vat_id("DE136695977")
    with pytest.raises(ValueError, match="country code"):
        validate_vat_id("136695976")


def test_country_codes_are_the_en16931_list_and_stored_ones_stay_readable() -> None:
    from invoicing.domain.countries import is_country
    from invoicing.schemas.common import Address
    from invoicing.schemas.events import AddressState
    from pydantic import ValidationError

    assert all(is_country(c) for c in ("DE", "BE", "AT", "FR", "NL", "US", "CH", "GB", "XI"))
    assert not any(is_country(c) for c in ("ZZ", "XX", "QQ", "EU", "UK", "de"))
    address = {"street_address": "a", "zip_code": "1", "city": "c", "country_code": "zz"}
    with pytest.raises(ValidationError, match="ISO 3166-1"):
        Address.model_validate(address)
    # an address a release before the check stored: read, so that its invoice stays usable
    assert AddressState.model_validate(address).country_code == "ZZ"


def test_line_discount_larger_than_line_is_rejected() -> None:
    with pytest.raises(DomainError) as exc:
        compute(
            "EUR",
            [
                LineInput(
                    D(1),
                    D(10),
                    TaxCategory.STANDARD,
                    D(19),
                    Discount(DiscountKind.AMOUNT, D("10.01")),
                )
            ],
        )
    assert exc.value.errors[0].pointer == "/lines/0/discount"


@pytest.mark.parametrize(
    ("kind", "value", "currency", "fits"),
    [
        (DiscountKind.AMOUNT, "2.03", "EUR", True),
        (DiscountKind.AMOUNT, "2.035", "EUR", False),
        (DiscountKind.AMOUNT, "2.030", "EUR", True),  # the same amount, written longer
        (DiscountKind.AMOUNT, "99", "JPY", True),
        (DiscountKind.AMOUNT, "2.03", "JPY", False),
        (DiscountKind.AMOUNT, "1.125", "KWD", True),
        (DiscountKind.PERCENTAGE, "12.3456", "JPY", True),  # a percentage is no amount
    ],
)
def test_an_amount_discount_has_the_currencys_minor_units(
    kind: DiscountKind, value: str, currency: str, fits: bool
) -> None:
    discount = Discount(kind, D(value))
    if fits:
        check_discount_units(discount, currency, "/discount/value")
        return
    with pytest.raises(DomainError) as exc:
        check_discount_units(discount, currency, "/discount/value")
    assert (exc.value.errors[0].code, exc.value.errors[0].pointer) == (
        "invalid_attribute",
        "/discount/value",
    )


def test_known_invoice() -> None:
    t = compute(
        "EUR",
        [
            LineInput(D(3), D("250"), TaxCategory.STANDARD, D(19)),
            LineInput(D(2), D("24.95"), TaxCategory.STANDARD, D(7)),
        ],
        document_discount=Discount(DiscountKind.PERCENTAGE, D(10)),
    )
    assert (t.line_net_total, t.allowance_total, t.tax_exclusive, t.tax_total, t.gross_total) == (
        D("799.90"),
        D("79.99"),
        D("719.91"),
        D("131.39"),
        D("851.30"),
    )


def test_errors_are_repointed_at_or_under_a_prefix_only() -> None:
    from invoicing.domain.errors import DomainError, ErrorDetail

    exc = DomainError.many(
        [
            ErrorDetail("a", "x", "/lines/3", "422", "Invalid Attribute"),
            ErrorDetail("b", "y", "/lines", "422", "Invalid Attribute"),
            ErrorDetail("c", "z", "/linesmore", "422", "Invalid Attribute"),
            ErrorDetail("d", "w", "/discount", "422", "Invalid Attribute"),
        ]
    )
    moved = exc.repointed("/lines", "/line")
    assert [e.pointer for e in moved.errors] == ["/line", "/line", "/linesmore", "/discount"]
    assert [e.code for e in moved.errors] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("seller", "buyer", "key"),
    [
        ("DE", "DE", "legal.DE.reverse_charge"),  # § 13b Abs. 2 UStG
        ("DE", "FR", "legal.DE.reverse_charge_eu"),  # § 13b Abs. 1 UStG, art. 196
        ("BE", "NL", "legal.BE.reverse_charge_eu"),  # art. 21, § 2 Code TVA, art. 196
        ("BE", "BE", "legal.BE.reverse_charge"),  # art. 51, § 2 Code TVA
        ("DE", "CH", "legal.DE.reverse_charge"),  # no Member State: art. 196 does not apply
        ("BE", "US", "legal.BE.reverse_charge"),
        ("DE", None, "legal.DE.reverse_charge"),
    ],
)
def test_the_cross_border_reverse_charge_note_is_for_buyers_in_another_member_state(
    seller: str, buyer: str | None, key: str
) -> None:
    assert LegalContext(seller_country=seller).note_key(TaxCategory.REVERSE_CHARGE, buyer) == key
