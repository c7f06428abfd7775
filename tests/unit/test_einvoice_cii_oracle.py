"""The lxml CII builder writes exactly what the previous drafthorse builder wrote.

The drafthorse builder is kept as the test oracle in tests/support/cii_drafthorse.py. Every
scenario of tests/support/scenarios.py (credit notes included), a 30-line invoice (as
``many_lines`` in benchmarks/documents.py) and an invoice with awkward text and the branches
the scenarios do not reach are built with both, in both guidelines (XRechnung CII and
Factur-X EN 16931), and must be byte for byte the same.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pytest
from invoicing.documents.einvoice import cii
from invoicing.documents.einvoice.prepare import prepare
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support import cii_drafthorse, scenarios

GUIDELINES = {
    "xrechnung": cii.XRECHNUNG_GUIDELINE,
    "facturx": cii.FACTURX_EN16931_GUIDELINE,
}


AWKWARD = "Müller & Söhne <GmbH> ]]> \"quoted\" 'single'"


def awkward_text(core: scenarios.Core) -> InvoiceState:
    """Markup characters, CR LF, CR and tabs in customer text; a seller without IBAN and
    managing directors; a person as buyer with phone, an additional address line and a
    Peppol id; zero-rated, export and out-of-scope lines; a delivery date."""
    seller = {
        **scenarios.DE_SELLER,
        "name": AWKWARD,
        "iban": None,
        "managing_directors": None,
        "registration": "HRB 1 <Köln> & Co",
    }
    org = core.organization(**seller)
    buyer = {
        **scenarios.DE_BUYER,
        "company": None,
        "given_name": "Eva & <Max>",
        "family_name": "Schulz\tMeier",
        "phone": "+49 30 1234",
        "buyer_reference": None,
        "peppol_id": "0204:991-1234512345-06",
        "address": {
            "street_address": "Weg 3 <Hinterhaus>",
            "additional_line": "c/o A & B",
            "zip_code": "10115",
            "city": "Berlin",
            "country_code": "DE",
        },
    }
    customer = core.customer(org, **buyer)
    lines = [
        {
            "description": "Zeile <1> & ]]>",
            "subtitle": "erste Zeile\r\nzweite Zeile\rdritte\tZeile\n",
            "quantity": "2",
            "unit": "hours",
            "unit_price": "100.00",
        },
        {
            "description": "Nullsatz",
            "quantity": "1",
            "unit": "piece",
            "unit_price": "10.00",
            "tax_category": "zero",
            "tax_rate": "0",
        },
        {
            "description": "Ausfuhr",
            "quantity": "3",
            "unit": "Kiste",
            "unit_price": "7.25",
            "tax_category": "export",
            "tax_rate": "0",
        },
        {
            "description": "Auslagen (steuerfrei)",
            "quantity": "1",
            "unit": "flat",
            "unit_price": "12.50",
            "tax_category": "exempt",
            "tax_rate": "0",
        },
    ]
    return core.invoice(
        org,
        customer,
        lines,
        notes='Hinweis:\r\n<bitte> & "danke"\r\nZeile 3',
        delivery_date="2026-11-15",
        case_id="Akte 12/26 & <b>",
    )


def awkward_credit_note(core: scenarios.Core) -> InvoiceState:
    invoice = awkward_text(core)
    return core.credit_note(invoice.organization_id, invoice, reason="Storno\r\n<voll> & ganz")


def paid_in_part(core: scenarios.Core) -> InvoiceState:
    """BT-113 beside BT-115 (an invoice with an advance payment recorded)."""
    invoice = scenarios.german_domestic(core)
    outcome = core.run(
        invoice.organization_id,
        "record_payment",
        {"invoice_id": str(invoice.id), "amount": "500.00", "date": "2026-11-21"},
    )
    return core.state(outcome)


SCENARIOS: dict[str, Callable[[scenarios.Core], InvoiceState]] = {
    **scenarios.ALL,
    "many_lines_30": scenarios.many_lines,
    "awkward_text": awkward_text,
    "awkward_credit_note": awkward_credit_note,
    "paid_in_part": paid_in_part,
}


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> scenarios.Core:
    return scenarios.Core(tmp_path_factory.mktemp("einvoice-cii-oracle"))


def _c14n(xml: bytes) -> bytes:
    return bytes(etree.tostring(etree.fromstring(xml), method="c14n"))


@pytest.mark.parametrize("guideline", GUIDELINES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_document_as_drafthorse(core: scenarios.Core, scenario: str, guideline: str) -> None:
    state = SCENARIOS[scenario](core)
    doc = prepare(state)
    expected = cii_drafthorse.build_cii(doc, GUIDELINES[guideline])
    actual = cii.build_cii(doc, GUIDELINES[guideline])
    assert _c14n(actual) == _c14n(expected), "\n".join(
        difflib.unified_diff(
            expected.decode().splitlines(), actual.decode().splitlines(), "drafthorse", "lxml"
        )
    )
    assert actual == expected  # also the same bytes (declaration, whitespace, empty elements)


def test_awkward_text_is_escaped_and_line_ends_are_lf(core: scenarios.Core) -> None:
    state = awkward_text(core)
    xml = cii.build_cii(prepare(state), cii.XRECHNUNG_GUIDELINE)
    assert b"\r" not in xml and b"&#13;" not in xml
    assert b"<GmbH>" not in xml and b"<Max>" not in xml and b"<1>" not in xml
    assert "Müller &amp; Söhne &lt;GmbH&gt; ]]&gt; \"quoted\" 'single'".encode() in xml
    root = etree.fromstring(xml)
    ns = {"ram": cii.NS_RAM}
    [subtitle] = root.xpath("//ram:SpecifiedTradeProduct/ram:Description/text()", namespaces=ns)
    assert subtitle == "erste Zeile\nzweite Zeile\ndritte\tZeile\n"
    [seller_name] = root.xpath("//ram:SellerTradeParty/ram:Name/text()", namespaces=ns)
    assert seller_name == AWKWARD
