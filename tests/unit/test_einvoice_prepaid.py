"""A partly paid invoice's e-invoice says what is paid and what is due, as its PDF does.

The PDF of an invoice with payments prints them and the open amount ("Bereits bezahlt",
"Offener Betrag"); the e-invoice built from the same state said BT-115 (amount due) = BT-112
(the gross) without BT-113 (paid amount). A ZUGFeRD PDF first rendered after a payment (an
advance payment recorded before the invoice is sent) thus printed an open amount of
1,079.01 EUR while the XML inside it asked for 1,579.01; XRechnung and Peppol documents sent
beside such a PDF likewise. Found by tests/unit/test_document_figures.py.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pypdf
from invoicing.documents.einvoice import (
    build_einvoice,
    documents_for_sending,
    extract_facturx,
    validate,
)
from invoicing.documents.pdf import render_pdf
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support import scenarios
from tests.support.external import require_rules
from tests.unit.test_einvoice_documents import NS

SUMMATION = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation"
CII = {
    "BT-112": f"{SUMMATION}/ram:GrandTotalAmount/text()",
    "BT-113": f"{SUMMATION}/ram:TotalPrepaidAmount/text()",
    "BT-115": f"{SUMMATION}/ram:DuePayableAmount/text()",
}
UBL = {
    "BT-112": "/*/cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount/text()",
    "BT-113": "/*/cac:LegalMonetaryTotal/cbc:PrepaidAmount/text()",
    "BT-115": "/*/cac:LegalMonetaryTotal/cbc:PayableAmount/text()",
}


def _pay(core: scenarios.Core, invoice: InvoiceState, amount: str) -> InvoiceState:
    outcome = core.run(
        invoice.organization_id,
        "record_payment",
        {"invoice_id": str(invoice.id), "amount": amount, "date": "2026-11-21"},
    )
    return core.state(outcome)


def _terms(xml: bytes, paths: dict[str, str]) -> dict[str, list[str]]:
    root = etree.fromstring(xml)
    return {term: root.xpath(path, namespaces=NS) for term, path in paths.items()}


def test_a_partly_paid_zugferd_invoice_asks_for_what_its_pdf_says_is_open(
    tmp_path: Path,
) -> None:
    require_rules()
    core = scenarios.Core(tmp_path)
    invoice = scenarios.german_domestic(core)
    assert invoice.totals.gross_total == Decimal("1579.01")
    paid = _pay(core, invoice, "500.00")
    assert paid.totals.open_amount == Decimal("1079.01")
    pdf = documents_for_sending(paid, "zugferd", render_pdf(paid)).pdf
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "1.079,01\u00a0€" in text  # the open amount the PDF prints
    xml = extract_facturx(pdf)
    assert _terms(xml, CII) == {
        "BT-112": ["1579.01"],
        "BT-113": ["500.00"],
        "BT-115": ["1079.01"],
    }
    for fmt, paths in (("xrechnung_cii", CII), ("xrechnung_ubl", UBL)):
        einvoice = build_einvoice(paid, fmt)
        assert _terms(einvoice.xml, paths) == {
            "BT-112": ["1579.01"],
            "BT-113": ["500.00"],
            "BT-115": ["1079.01"],
        }, fmt
        report = validate(einvoice.xml, einvoice.profile)
        assert report.valid, (fmt, [f"{f.rule}: {f.text}" for f in report.errors])
    # unpaid: no BT-113, the whole gross is due (as before)
    for fmt, paths in (("zugferd", CII), ("xrechnung_ubl", UBL)):
        assert _terms(build_einvoice(invoice, fmt).xml, paths) == {
            "BT-112": ["1579.01"],
            "BT-113": [],
            "BT-115": ["1579.01"],
        }


def test_a_partly_paid_peppol_invoice_says_what_is_paid_and_due(tmp_path: Path) -> None:
    require_rules()
    core = scenarios.Core(tmp_path)
    invoice = scenarios.belgian_domestic(core)
    paid = _pay(core, invoice, "0.01")
    einvoice = build_einvoice(paid, "peppol")
    gross = invoice.totals.gross_total
    assert _terms(einvoice.xml, UBL) == {
        "BT-112": [str(gross)],
        "BT-113": ["0.01"],
        "BT-115": [str(gross - Decimal("0.01"))],
    }
    report = validate(einvoice.xml, einvoice.profile)
    assert report.valid, [f"{f.rule}: {f.text}" for f in report.errors]
    # its credit note credits the invoice, it is not paid: no BT-113
    credit = core.credit_note(invoice.organization_id, invoice, reason="Annulation")
    assert _terms(build_einvoice(credit, "peppol").xml, UBL)["BT-113"] == []
