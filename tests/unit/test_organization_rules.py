"""Organization settings and customer contact rules (invoicing.domain.organization)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from invoicing.domain import organization as rules
from invoicing.domain.errors import DomainError
from invoicing.domain.numbering import NumberPattern, Series, default_pattern, numbering_country

TODAY = dt.date(2026, 3, 10)
GOOD: dict[str, Any] = {
    "vat": "DE 136 695 976",
    "iban": "DE89 3704 0044 0532 0130 00",
    "bic": None,
    "number_series": {"invoice": ("RE-{YYYY}-{SEQ:5}", True)},
    "default_tax_rate": Decimal(19),
    "country": "DE",
    "extra_tax_rates": [],
    "today": TODAY,
}


def pointers(exc: pytest.ExceptionInfo[DomainError]) -> list[tuple[str, str]]:
    return [(e.code, e.pointer) for e in exc.value.errors]


def test_valid_settings_are_normalized() -> None:
    ids = rules.check_settings(**GOOD)
    assert ids.vat_id == "DE136695976"
    assert ids.iban == "DE89370400440532013000"
    assert ids.bic  # implied by the German bank code
    given = rules.check_settings(**{**GOOD, "bic": "COBADEFFXXX"})
    assert given.bic == "COBADEFFXXX"


def test_no_iban_means_no_bic() -> None:
    ids = rules.check_settings(**{**GOOD, "iban": None, "bic": "COBADEFFXXX", "vat": None})
    assert ids == rules.Identifiers(None, None, None)


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(DomainError) as exc:
        rules.check_settings(
            **{
                **GOOD,
                "vat": "DE136695977",
                "iban": "DE00 0000",
                "number_series": {"invoice": ("RE", True), "quote": ("AN-{SEQ}", False)},
                "default_tax_rate": Decimal(17),
            }
        )
    got = pointers(exc)
    assert got[:3] == [
        ("invalid_vat_id", "/vat_id"),
        ("invalid_iban", "/iban"),
        ("invalid_pattern", "/number_series/invoice/pattern"),
    ]
    assert [p for _, p in got[3:]] == ["/default_tax_rate"]
    assert exc.value.errors[0].hint.startswith("give the VAT id with its country prefix")


@pytest.mark.parametrize("rate", [None, Decimal(0), Decimal(19), Decimal(7)])
def test_default_rates_of_the_country_pass(rate: Decimal | None) -> None:
    assert rules.default_rate_errors(rate, "DE", [], TODAY) == []


def test_an_added_rate_is_allowed_and_unknown_countries_are_not_checked() -> None:
    assert rules.default_rate_errors(Decimal(17), "DE", [], TODAY)
    extra = [{"rate": "17", "valid_from": "2026-01-01", "valid_to": None}]
    assert rules.default_rate_errors(Decimal(17), "DE", extra, TODAY) == []
    assert rules.default_rate_errors(Decimal(17), "FR", [], TODAY) == []


def test_contact() -> None:
    assert rules.check_contact("jane@example.com", None) is None
    assert rules.check_contact("jane@example.com", "BE 0403.170.701") == "BE0403170701"
    with pytest.raises(DomainError) as exc:
        rules.check_contact("invalid mail", "DE136695977")
    assert pointers(exc) == [("invalid_attribute", "/email"), ("invalid_vat_id", "/vat_id")]
    assert exc.value.errors[0].detail == "invalid mail is not an email"
    with pytest.raises(DomainError):
        rules.check_contact("a@b.example\r\nBcc: x@y.example", None)


@pytest.mark.parametrize(
    ("country", "currency", "refused"),
    [("DE", "USD", True), ("BE", "GBP", True), ("DE", "EUR", False), ("BE", "EUR", False)],
)
def test_a_german_or_belgian_organization_states_vat_in_euros(
    country: str, currency: str, refused: bool
) -> None:
    """The organization's currency is the one a foreign-currency document states its VAT in
    (BT-6/BT-111, the PDF's "VAT in EUR"): for a German or Belgian seller it must be EUR
    (Directive 2006/112/EC art. 230). Before, default_currency USD was accepted and its USD
    invoices carried no VAT in euros at all, neither in the PDF nor in the e-invoice."""
    rate = Decimal(19) if country == "DE" else Decimal(21)
    settings = {**GOOD, "vat": None, "country": country, "default_tax_rate": rate}
    if not refused:
        rules.check_settings(**settings, default_currency=currency)
        return
    with pytest.raises(DomainError) as exc:
        rules.check_settings(**settings, default_currency=currency)
    assert pointers(exc) == [("invalid_attribute", "/default_currency")]
    assert exc.value.errors[0].hint


def test_another_countrys_organization_keeps_its_own_currency() -> None:
    settings = {**GOOD, "vat": None, "country": "CH", "default_tax_rate": None}
    rules.check_settings(**settings, default_currency="CHF")


def test_the_default_series_are_the_numbering_country_s() -> None:
    assert [default_pattern(s, "BE") for s in Series] == [
        "F-{YYYY}-{SEQ:4}",
        "CN-{YYYY}-{SEQ:4}",
        "OF-{YYYY}-{SEQ:4}",
    ]
    german = ["RE-{YYYY}-{SEQ:4}", "GS-{YYYY}-{SEQ:4}", "AN-{YYYY}-{SEQ:4}"]
    for country in ("DE", "AT", None):  # None: configured before there was a numbering country
        assert [default_pattern(s, country) for s in Series] == german
    # the Belgian series never produce one another's numbers
    day = dt.date(2026, 1, 1)
    for a in Series:
        for b in Series:
            if a != b:
                number = NumberPattern(default_pattern(a, "BE")).format(7, day)
                assert not NumberPattern(default_pattern(b, "BE")).could_produce(number)
    # the country's until the first number; then fixed (None: the German ones of before)
    assert numbering_country(None, "BE", has_numbered=False) == "BE"
    assert numbering_country("DE", "BE", has_numbered=False) == "BE"
    assert numbering_country("BE", "DE", has_numbered=True) == "BE"
    assert numbering_country(None, "BE", has_numbered=True) == "DE"
