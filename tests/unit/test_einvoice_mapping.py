"""Mapping decisions of the e-invoice builders that need no rule files."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from invoicing.documents.einvoice import (
    EInvoiceFormat,
    build_einvoice,
    payment_reference,
    select_format,
    structured_communication,
)
from invoicing.documents.einvoice.formats import consumer_buyer
from invoicing.documents.einvoice.prepare import (
    Identifier,
    electronic_address,
    prepare,
    unit_code,
)
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState, Party
from stdnum.be import ogm_vcs

from tests.support import scenarios


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> scenarios.Core:
    return scenarios.Core(tmp_path_factory.mktemp("einvoice-mapping"))


def test_structured_communication_from_invoice_number() -> None:
    ogm = structured_communication("F20260001")
    assert ogm == "+++002/0260/00196+++"
    assert ogm_vcs.is_valid(ogm)
    # longer numbers: the last ten digits are the base
    long = structured_communication("INV-2026-12345678901")
    assert ogm_vcs.compact(long) == "2345678901" + ogm_vcs.calc_check_digits("2345678901")
    with pytest.raises(DomainError) as caught:
        structured_communication("ABC")
    assert caught.value.errors[0].code == "payment_reference_impossible"


def test_payment_reference_per_seller_country(core: scenarios.Core) -> None:
    be = scenarios.belgian_domestic(core)
    de = scenarios.german_domestic(core)
    assert payment_reference(be) == structured_communication(be.number or "")
    assert payment_reference(de) == de.number


@pytest.mark.parametrize(
    ("unit", "code"),
    [
        ("hours", "HUR"),
        ("HUR", "HUR"),
        ("Stück", "H87"),
        ("day", "DAY"),
        ("flat", "LS"),
        ("widgets", "C62"),
        ("minutes", "MIN"),
    ],
)
def test_unit_codes(unit: str, code: str) -> None:
    assert unit_code(unit) == code


def test_electronic_address_precedence() -> None:
    party = Party(name="X", vat_id="BE0776057012", email="a@b.example")
    assert electronic_address(party, seller=True) == Identifier("0776057012", "0208")
    with_id = party.model_copy(update={"peppol_id": "9925:BE0776057012"})
    assert electronic_address(with_id, seller=False) == Identifier("BE0776057012", "9925")
    german = Party(name="Y", vat_id="DE 136 695 976")
    assert electronic_address(german, seller=True) == Identifier("DE136695976", "9930")
    mail_only = Party(name="Z", email="z@z.example")
    assert electronic_address(mail_only, seller=False) == Identifier("z@z.example", "EM")
    assert electronic_address(Party(name="nothing"), seller=False) is None


def test_gross_entry_net_prices_reproduce_line_nets(core: scenarios.Core) -> None:
    state = scenarios.gross_entry_odd_cents(core)
    doc = prepare(state)
    for line in doc.lines:
        assert line.allowance == 0
        assert (line.quantity * line.price).quantize(Decimal("0.01")) == line.net
    # 7 minutes at 1.99 gross: net 11.71 needs a three-decimal net price
    minutes = next(ln for ln in doc.lines if ln.unit_code == "MIN")
    assert minutes.price == Decimal("1.673")


def test_net_entry_keeps_price_and_line_discount(core: scenarios.Core) -> None:
    state = scenarios.german_domestic(core)
    doc = prepare(state)
    discounted = next(ln for ln in doc.lines if ln.allowance)
    assert discounted.price == Decimal("480.00") and discounted.allowance == Decimal("48.00")
    assert discounted.net == Decimal("432.00")


def _state_with_format(state: InvoiceState, fmt: str | None) -> InvoiceState:
    assert state.buyer is not None
    buyer = state.buyer.model_copy(update={"einvoice_format": fmt})
    return state.model_copy(update={"buyer": buyer})


def test_select_format(core: scenarios.Core) -> None:
    state = scenarios.german_domestic(core)
    assert select_format(_state_with_format(state, None)) is None
    assert select_format(_state_with_format(state, None), "zugferd") is EInvoiceFormat.ZUGFERD
    assert select_format(_state_with_format(state, "none"), "zugferd") is None
    assert select_format(_state_with_format(state, "peppol"), "zugferd") is EInvoiceFormat.PEPPOL
    with pytest.raises(DomainError) as caught:
        select_format(_state_with_format(state, "edifact"))
    assert caught.value.errors[0].code == "unknown_einvoice_format"


@pytest.mark.parametrize(
    ("fields", "consumer"),
    [
        ({}, True),
        ({"company": "Dupont SRL"}, False),
        ({"vat_id": "BE0403019261"}, False),
        ({"peppol_id": "0208:0403019261"}, False),
        ({"buyer_reference": "991-01234-56"}, False),
        ({"registration": "HRB 12345"}, False),
        ({"customer_type": "consumer", "company": "Dupont SRL"}, True),
        ({"customer_type": "business"}, False),
    ],
)
def test_consumer_buyer(fields: dict[str, str], consumer: bool) -> None:
    """The organization's default e-invoice is for businesses: a buyer stated to be a consumer,
    or one with nothing of a business (company, VAT id, Peppol id, Leitweg-ID, register entry),
    is a consumer; a public buyer's Leitweg-ID alone makes it a business (XRechnung goes out)."""
    assert consumer_buyer(Party(name="Marie Dupont", **fields)) is consumer


def test_customer_format_comes_from_the_core(core: scenarios.Core) -> None:
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **{**scenarios.DE_BUYER, "einvoice_format": "xrechnung_ubl"})
    state = core.invoice(org, customer, [{"description": "A", "quantity": "1", "unit_price": "1"}])
    assert select_format(state) is EInvoiceFormat.XRECHNUNG_UBL


def test_quotes_and_drafts_are_not_e_invoices(core: scenarios.Core) -> None:
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    lines = [{"description": "A", "quantity": "1", "unit_price": "1"}]
    draft = core.state(
        core.run(
            org,
            "create_invoice",
            {"id": str(uuid.uuid4()), "customer_id": str(customer), "lines": lines},
        )
    )
    with pytest.raises(DomainError) as caught:
        build_einvoice(draft, "xrechnung_cii")
    assert "einvoice_needs_final" in {e.code for e in caught.value.errors}
    quote = core.state(
        core.run(
            org,
            "create_invoice",
            {
                "id": str(uuid.uuid4()),
                "customer_id": str(customer),
                "lines": lines,
                "is_quote": True,
            },
        )
    )
    with pytest.raises(DomainError) as caught:
        build_einvoice(quote, "peppol")
    assert "einvoice_not_for_quotes" in {e.code for e in caught.value.errors}


def test_customer_text_is_escaped(core: scenarios.Core) -> None:
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **{**scenarios.DE_BUYER, "company": 'Evil & Co <x/>]]> "quoted"'})
    state = core.invoice(
        org, customer, [{"description": "<b>bold</b> & more", "quantity": "1", "unit_price": "1"}]
    )
    for fmt in EInvoiceFormat:
        xml = build_einvoice(state, fmt).xml
        assert b"<b>" not in xml and b"<x/>" not in xml
        assert b"&lt;b&gt;bold&lt;/b&gt; &amp; more" in xml


@pytest.mark.parametrize(
    ("lang", "terms"),
    [
        ("de", "Zahlbar ohne Abzug bis 04.12.2026."),
        ("en", "Payable without deduction by 4 Dec 2026."),
        ("fr", "Payable sans escompte au plus tard le 4 déc. 2026."),
        ("nl", "Te betalen zonder korting uiterlijk op 4 dec 2026."),
    ],
)
def test_payment_terms_write_the_date_in_the_documents_language(
    core: scenarios.Core, lang: str, terms: str
) -> None:
    """BT-20 is text in the document's language, so its date is written as that language
    writes dates (the PDF's "bis zum 04.12.2026"), not as ISO 2026-12-04: before, a German
    XRechnung said "Zahlbar ohne Abzug bis 2026-12-04." """
    from invoicing.documents.pdf.view import Formatter
    from lxml import etree

    org = core.organization(**scenarios.DE_SELLER)
    email = f"{uuid.uuid4().hex[:10]}@buyer.example"
    customer = core.customer(org, **{**scenarios.DE_BUYER, "locale": lang, "email": email})
    state = core.invoice(
        org, customer, [{"description": "Beratung", "quantity": "1", "unit_price": "100"}]
    )
    assert state.due_date is not None and state.due_date.isoformat() == "2026-12-04"
    assert Formatter(lang, "EUR").date(state.due_date) in terms.replace("\u00a0", " ")
    cii = etree.fromstring(build_einvoice(state, "xrechnung_cii").xml)
    ubl = etree.fromstring(build_einvoice(state, "xrechnung_ubl").xml)
    (cii_terms,) = cii.xpath(
        "//*[local-name()='SpecifiedTradePaymentTerms']/*[local-name()='Description']/text()"
    )
    (ubl_terms,) = ubl.xpath("//*[local-name()='PaymentTerms']/*[local-name()='Note']/text()")
    assert cii_terms == ubl_terms == terms
