"""Exact figures on paper: unit prices and quantities print as entered, every printed line
multiplies out, and the PDF and its embedded XML show the same figures.

Before: 0.335 EUR printed as 0,34 € ("1 × 0,34 € = 0,34 €" hid that the price was 0.335, and
3 × 0,34 € = 1,01 € did not multiply out); 12.3455 KWD printed as 12,346 KWD while the
factur-x.xml said 12.3455. A KWD document gets no e-invoice any more (EN 16931 carries at most
two decimals: tests/unit/test_einvoice_currencies.py), so the PDF/XML comparison is in EUR.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pypdf
import pytest
from invoicing.documents.einvoice import build_einvoice, documents_for_sending
from invoicing.documents.einvoice.facturx import extract_facturx
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.view import build_view
from invoicing.domain.money import round_money
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.scenarios import Core

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Core:
    return Core(tmp_path_factory.mktemp("figurescore"))


def _invoice(core: Core, currency: str, lines: list[tuple[str, str]]) -> InvoiceState:
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    extra = {} if currency == "EUR" else {"currency": currency, "exchange_rate": "3.0"}
    return core.invoice(
        org,
        customer,
        [
            {"description": f"Posten {i}", "quantity": qty, "unit": "piece", "unit_price": price}
            for i, (qty, price) in enumerate(lines, start=1)
        ],
        **extra,
    )


def _number(printed: str) -> Decimal:
    """A de_DE figure (``1.234,5678 €``) back to a Decimal."""
    digits = re.sub(r"[^\d,.-]", "", printed).replace(".", "").replace(",", ".")
    return Decimal(digits)


def _pdf_text(pdf: bytes) -> str:
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\u00a0", " ")


CASES = {
    "EUR": [("1", "0.335"), ("3", "0.335"), ("2.5", "1.2345"), ("1", "12.30")],
    "KWD": [("1", "12.3455"), ("3", "12.3455"), ("0.25", "4.1")],
}


@pytest.mark.parametrize("currency", sorted(CASES))
def test_every_printed_line_multiplies_out(core: Core, currency: str) -> None:
    state = _invoice(core, currency, CASES[currency])
    view = build_view(state)
    for printed, line in zip(view["lines"], state.lines, strict=True):
        quantity, price = _number(printed["quantity"]), _number(printed["unit_price"])
        assert quantity == line.quantity and price == line.unit_price, printed
        assert round_money(quantity * price, currency) == _number(printed["amount"]), printed
    text = _pdf_text(render_pdf(state))
    if currency == "EUR":
        assert "0,335 €" in text and "1,2345 €" in text and "12,30 €" in text
        assert "0,34 €" in text  # the amount of 1 x 0.335, rounded once, half up
    else:
        assert "12,3455 KWD" in text and "4,10 KWD" not in text and "4,100 KWD" in text


def test_pdf_and_xml_show_the_same_figures(core: Core) -> None:
    currency = "EUR"
    state = _invoice(core, currency, CASES[currency])
    view = build_view(state)
    xml = etree.fromstring(build_einvoice(state, "zugferd").xml)
    prices = [Decimal(e.text) for e in xml.iter(f"{{{RAM}}}ChargeAmount") if e.text]
    quantities = [Decimal(e.text) for e in xml.iter(f"{{{RAM}}}BilledQuantity") if e.text]
    assert [_number(v["unit_price"]) for v in view["lines"]] == prices
    assert [_number(v["quantity"]) for v in view["lines"]] == quantities
    # the hybrid PDF: printed and embedded figures agree
    require_rules()
    pdf = documents_for_sending(state, "zugferd", render_pdf(state)).pdf
    embedded = etree.fromstring(extract_facturx(pdf))
    text = _pdf_text(pdf)
    for e in embedded.iter(f"{{{RAM}}}ChargeAmount"):
        assert e.text is not None
        assert f"{e.text.replace('.', ',')} €" in text
