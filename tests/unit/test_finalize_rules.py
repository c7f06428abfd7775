"""Finalize preconditions (invoicing.domain.finalize) without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from invoicing.domain import finalize as rules
from invoicing.domain.errors import DomainError
from invoicing.domain.rates import RateRules

SELLER = {"vat_id": "DE136695976"}
BUYER = {"address": {"country_code": "DE"}, "vat_id": None}
DOC = rules.Document(kind="invoice", currency="EUR", line_count=1, has_customer=True)


def codes(errors: list[rules.ErrorDetail]) -> list[tuple[str, str]]:
    return [(e.code, e.pointer) for e in errors]


def test_a_complete_document_passes() -> None:
    assert rules.completeness(DOC, SELLER) == []
    assert rules.completeness(DOC, {"tax_number": "21/815/08150"}) == []
    rules.check_complete(DOC, SELLER, BUYER, ["standard"])


def test_everything_missing_is_reported_at_once() -> None:
    doc = rules.Document(
        kind="invoice",
        currency="USD",
        line_count=0,
        has_customer=False,
        normalized_currency="EUR",
        exchange_rate=None,
    )
    errors = rules.completeness(doc, {})
    assert codes(errors) == [
        ("no_lines", "/invoice_id"),
        ("invalid_attribute", "/invoice_id"),
        ("seller_tax_id_missing", "/organization_id"),
        ("invalid_attribute", "/invoice_id"),
    ]
    assert errors[1].detail == "customer can't be blank"
    assert (
        errors[3].detail == "exchange_rate can't be blank for a USD invoice of a EUR organization"
    )
    assert all(e.hint for e in errors)
    with pytest.raises(DomainError) as exc:
        rules.check_complete(doc, {}, None, [])
    assert len(exc.value.errors) == 4


def test_a_foreign_currency_with_its_rate_passes() -> None:
    doc = rules.Document("invoice", "USD", 1, True, "EUR", Decimal("1.0850"))
    assert rules.completeness(doc, SELLER) == []


@pytest.mark.parametrize(
    ("categories", "buyer", "expected"),
    [
        (["standard"], BUYER, []),
        (["standard"], {"address": None}, ["buyer_address_missing"]),
        (["reverse_charge"], BUYER, ["buyer_vat_id_missing"]),
        (["standard", "intra_eu"], {}, ["buyer_address_missing", "buyer_vat_id_missing"]),
        (["reverse_charge"], {**BUYER, "vat_id": "BE0403170701"}, []),
        (["zero", "exempt", "export"], BUYER, []),
    ],
)
def test_buyer_checks(categories: list[str], buyer: dict[str, object], expected: list[str]) -> None:
    errors = rules.buyer_checks(buyer, categories)
    assert [e.code for e in errors] == expected


def test_buyer_vat_id_names_the_first_category_that_needs_it() -> None:
    (error,) = rules.buyer_checks(BUYER, ["standard", "intra_eu", "reverse_charge"])
    assert error.detail == "tax category intra_eu requires the customer's VAT id"


def test_buyer_checks_are_skipped_without_a_customer() -> None:
    with pytest.raises(DomainError) as exc:
        rules.check_complete(
            rules.Document("invoice", "EUR", 1, False), SELLER, None, ["reverse_charge"]
        )
    assert [e.code for e in exc.value.errors] == ["invalid_attribute"]


DAY = dt.date(2026, 3, 10)


def schedule(**kw: object) -> rules.Dates:
    args: dict[str, object] = {
        "requested": None,
        "issue_date": None,
        "today": DAY,
        "payment_terms_days": None,
        "default_terms_days": 14,
        "due_date": None,
        "delivery_date": None,
        "has_service_period": False,
    }
    args.update(kw)
    return rules.dates(**args)  # type: ignore[arg-type]


def test_dates_default_to_today_and_the_organizations_terms() -> None:
    assert schedule() == rules.Dates(
        DAY, 14, dt.date(2026, 3, 24), DAY, delivery_date_defaulted=True
    )


def test_the_commands_issue_date_wins_over_the_drafts() -> None:
    got = schedule(requested=dt.date(2026, 3, 1), issue_date=dt.date(2026, 2, 1))
    assert got.issue_date == dt.date(2026, 3, 1)
    assert schedule(issue_date=dt.date(2026, 2, 1)).issue_date == dt.date(2026, 2, 1)


def test_the_drafts_terms_due_and_delivery_dates_are_kept() -> None:
    got = schedule(
        payment_terms_days=0, due_date=dt.date(2026, 4, 1), delivery_date=dt.date(2026, 1, 5)
    )
    assert got == rules.Dates(DAY, 0, dt.date(2026, 4, 1), dt.date(2026, 1, 5))
    assert schedule(payment_terms_days=30).due_date == dt.date(2026, 4, 9)


def test_a_service_period_leaves_the_delivery_date_empty() -> None:
    assert schedule(has_service_period=True).delivery_date is None


def test_a_quote_states_no_delivery_date_unless_given() -> None:
    """A quote offers a supply still to come: its own date is no Leistungsdatum."""
    assert schedule(is_quote=True).delivery_date is None
    given = dt.date(2026, 4, 20)
    assert schedule(is_quote=True, delivery_date=given).delivery_date == given


def test_only_a_delivery_date_finalize_fills_in_is_marked_so() -> None:
    assert schedule().delivery_date_defaulted
    assert not schedule(delivery_date=DAY).delivery_date_defaulted  # the user's, on that day
    assert not schedule(has_service_period=True).delivery_date_defaulted
    assert not schedule(is_quote=True).delivery_date_defaulted


def test_a_duplicate_carries_only_the_users_delivery_date() -> None:
    """duplicate_invoice is a new supply: the date finalize filled in is not carried; the
    replacement of change_recipient bills the same supply and keeps it (still marked)."""
    given = dt.date(2026, 2, 1)
    assert rules.copied_delivery_date(given, True, same_supply=False) == (None, False)
    assert rules.copied_delivery_date(given, False, same_supply=False) == (given, False)
    assert rules.copied_delivery_date(given, True, same_supply=True) == (given, True)
    assert rules.copied_delivery_date(None, False, same_supply=False) == (None, False)


def test_a_due_date_before_the_issue_date_is_refused() -> None:
    with pytest.raises(DomainError) as exc:
        schedule(due_date=dt.date(2026, 3, 9))
    assert codes(exc.value.errors) == [("invalid_attribute", "/due_date")]
    assert schedule(due_date=DAY).due_date == DAY


def test_rates_name_the_line_by_its_position_among_all_lines() -> None:
    de = RateRules("DE", ())
    lines = [("exempt", Decimal(0)), ("standard", Decimal(19)), ("standard", Decimal(16))]
    rules.check_rates_on(de, lines[:2], DAY)
    with pytest.raises(DomainError) as exc:
        rules.check_rates_on(de, lines, DAY)
    (error,) = exc.value.errors
    assert error.pointer == "/invoice_id"
    assert error.detail.startswith("line 3: ")
    assert error.hint.endswith("; update_invoice with the line's tax_rate or delivery_date")
    # 16 % was the German standard rate in the second half of 2020, 19 % was not
    rules.check_rates_on(de, [("standard", Decimal(16))], dt.date(2020, 8, 1))
    with pytest.raises(DomainError):
        rules.check_rates_on(de, [("standard", Decimal(19))], dt.date(2020, 8, 1))


@pytest.mark.parametrize(
    ("kind", "total", "allow", "refused"),
    [
        ("invoice", "-0.01", False, True),
        ("invoice", "-0.01", True, False),
        ("invoice", "0", False, False),
        ("credit_note", "-5", False, False),
        ("quote", "-5", False, False),
    ],
)
def test_negative_totals(kind: str, total: str, allow: bool, refused: bool) -> None:
    if not refused:
        rules.check_total(kind, Decimal(total), "EUR", allow_negative=allow)
        return
    with pytest.raises(DomainError) as exc:
        rules.check_total(kind, Decimal(total), "EUR", allow_negative=allow)
    assert exc.value.errors[0].code == "negative_total"
    assert exc.value.errors[0].detail == (
        "the invoice totals -0.01 EUR; an invoice cannot be negative"
    )


DE_TAX_NUMBER_ONLY = {"tax_number": "214/5710/0411", "address": {"country_code": "DE"}}
FR_BUYER = {"address": {"country_code": "FR"}, "vat_id": "FR40303265045"}
DE_BUYER = {"address": {"country_code": "DE"}, "vat_id": "DE811569869"}


@pytest.mark.parametrize(
    ("categories", "buyer", "refused"),
    [
        (["intra_eu"], FR_BUYER, True),  # § 14a Abs. 3 UStG
        (["standard", "reverse_charge"], FR_BUYER, True),  # § 14a Abs. 1 UStG
        (["reverse_charge"], DE_BUYER, False),  # § 13b Abs. 2: the Steuernummer does
        (["standard", "export"], {"address": {"country_code": "CH"}}, False),
        (["reverse_charge"], {"address": {"country_code": "CH"}, "vat_id": "x"}, False),
        (["standard"], FR_BUYER, False),
    ],
)
def test_a_supply_to_another_member_state_needs_the_sellers_vat_id(
    categories: list[str], buyer: dict[str, object], refused: bool
) -> None:
    """A seller with only a Steuernummer cannot number an intra-Community supply or a
    cross-border reverse-charge service: the invoice must carry the seller's USt-IdNr. (before
    it was numbered, and its e-invoice then failed BR-IC-02)."""
    errors = rules.seller_vat_checks(DE_TAX_NUMBER_ONLY, buyer, categories)
    assert [e.code for e in errors] == (["seller_vat_id_missing"] if refused else [])
    if refused:
        assert errors[0].pointer == "/organization_id" and errors[0].hint
        with pytest.raises(DomainError) as exc:
            rules.check_complete(DOC, DE_TAX_NUMBER_ONLY, buyer, categories)
        assert [e.code for e in exc.value.errors] == ["seller_vat_id_missing"]
    with_vat = {**DE_TAX_NUMBER_ONLY, "vat_id": "DE136695976"}
    assert rules.seller_vat_checks(with_vat, buyer, categories) == []


def test_a_standalone_credit_note_is_pointed_at_its_own_fields() -> None:
    doc = rules.Document("credit_note", "USD", 1, True, "EUR", None, standalone=True)
    (error,) = rules.completeness(doc, SELLER)
    assert (error.pointer, error.hint) == ("/exchange_rate", "send exchange_rate: EUR per 1 USD")
    assert "USD credit note of a EUR organization" in error.detail
    with pytest.raises(DomainError) as exc:
        rules.check_complete(doc, SELLER, {"address": None}, ["standard"])
    assert [(e.code, e.pointer) for e in exc.value.errors] == [
        ("invalid_attribute", "/exchange_rate"),
        ("buyer_address_missing", "/customer_id"),
    ]
