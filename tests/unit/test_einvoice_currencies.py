"""EN 16931 amounts have at most two decimals (BR-DEC-*): a document in a currency whose ISO 4217
minor unit has more (KWD, BHD: 3; CLF: 4) gets no e-invoice, with an error that says why and
what to do, instead of an XML the official rules reject. Currencies with 0 or 2 decimals (JPY,
HUF, EUR) pass the rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from invoicing.documents.einvoice import (
    EInvoiceFormat,
    build_einvoice,
    check_currencies,
    currency_errors,
    einvoice_errors,
    validate,
)
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.scenarios import Core


def _invoice(directory: Path, currency: str) -> InvoiceState:
    core = Core(directory)
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    return core.invoice(
        org,
        customer,
        [{"description": "Posten", "quantity": "3", "unit_price": "12.3455"}],
        currency=currency,
        exchange_rate="0.5",
    )


@pytest.mark.parametrize("currency", ["KWD", "BHD", "CLF"])
@pytest.mark.parametrize("fmt", [f.value for f in EInvoiceFormat])
def test_more_than_two_decimals_is_refused_with_a_reason(
    tmp_path: Path, currency: str, fmt: str
) -> None:
    state = _invoice(tmp_path, currency)
    # the totals engine keeps the currency's own minor units: 3 x 12.3455 = 37.0365
    assert state.totals.net_total.as_tuple().exponent == -{"CLF": 4}.get(currency, 3)
    with pytest.raises(DomainError) as caught:
        build_einvoice(state, fmt)
    (error,) = caught.value.errors
    assert error.code == "einvoice_currency_decimals"
    assert error.pointer == "/currency"
    assert currency in error.detail and "BR-DEC" in error.detail
    assert "attach_xml" in error.hint and "EUR" in error.hint


def test_the_check_alone_names_the_same_error(tmp_path: Path) -> None:
    state = _invoice(tmp_path, "KWD")
    assert [e.code for e in currency_errors(state)] == ["einvoice_currency_decimals"]
    with pytest.raises(DomainError):
        check_currencies(state)


@pytest.mark.parametrize("currency", ["EUR", "JPY", "HUF", "USD"])
def test_zero_or_two_decimals_pass_the_rules(tmp_path: Path, currency: str) -> None:
    state = _invoice(tmp_path, currency)
    assert currency_errors(state) == []
    check_currencies(state)
    xml = build_einvoice(state, "xrechnung_cii").xml
    require_rules()
    report = validate(xml, EInvoiceFormat.XRECHNUNG_CII.profile)
    assert report.valid, report.errors
    assert not [f for f in report.findings if f.rule.startswith("BR-DEC")]


def test_no_xml_is_built_for_the_hosted_page_in_such_a_currency(tmp_path: Path) -> None:
    """The share job of publish_invoice (what the hosted page serves) builds the e-invoice with
    the same builder as a send: a KWD invoice gets none, so the page offers the PDF alone
    (tests/integration/test_web.py runs the job)."""
    core = Core(tmp_path)
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **{**scenarios.DE_BUYER, "einvoice_format": "xrechnung_cii"})
    lines = [{"description": "Posten", "quantity": "1", "unit_price": "12.345"}]
    kwd = core.invoice(org, customer, lines, currency="KWD", exchange_rate="3")
    eur = core.invoice(org, customer, lines)
    assert [e.pointer for e in currency_errors(kwd)] == ["/currency"]
    with pytest.raises(DomainError) as refused:
        build_einvoice(kwd, "xrechnung_cii")
    assert refused.value.errors[0].code == "einvoice_currency_decimals"
    assert currency_errors(eur) == [] and build_einvoice(eur, "xrechnung_cii").xml


def _credit_of_a_negative_line(directory: Path) -> InvoiceState:
    """A credit note of an invoice's negative line at a JPY-like rate: its VAT, -0.70 CHF, is
    -0.00427 EUR, stated as 0.00 EUR (found by the e-invoice sweep with more seeds, session 31:
    XRechnung's rules refused the XML)."""
    core = Core(directory)
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    lines = [
        {"description": "Nachlass", "quantity": "2", "unit_price": "-10.00", "tax_rate": "7"},
        {
            "description": "Bauleistung",
            "quantity": "1",
            "unit_price": "1000.00",
            "tax_category": "reverse_charge",
            "tax_rate": "0",
        },
    ]
    invoice = core.invoice(org, customer, lines, currency="CHF", exchange_rate="0.0061")
    return core.credit_note(org, invoice, lines=[{**lines[0], "quantity": "1"}], reason="Fehler")


@pytest.mark.parametrize("fmt", [f.value for f in EInvoiceFormat])
def test_a_vat_total_below_zero_worth_nothing_in_the_accounting_currency(
    tmp_path: Path, fmt: str
) -> None:
    """PEPPOL-EN16931-R055 (XRechnung, Peppol BIS) wants BT-110 and BT-111 of one sign: such a
    document is refused in those formats with the reason, and built and valid as ZUGFeRD,
    whose rules do not ask for it."""
    require_rules()
    state = _credit_of_a_negative_line(tmp_path)
    assert state.normalized is not None
    assert (state.totals.tax_total, state.normalized.tax_total) == (Decimal("-0.70"), 0)
    if fmt == "zugferd":
        einvoice = build_einvoice(state, fmt)
        assert validate(einvoice.xml, einvoice.profile).valid
        return
    with pytest.raises(DomainError) as caught:
        build_einvoice(state, fmt)
    (error,) = caught.value.errors
    assert (error.code, error.pointer) == ("einvoice_tax_currency_sign", "/normalized/tax_total")
    assert "R055" in error.detail and "ZUGFeRD" in error.hint
    assert [e.code for e in einvoice_errors(state, fmt)] == ["einvoice_tax_currency_sign"]
