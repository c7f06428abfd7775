"""A quote, a dunning notice and a standalone credit note are finished documents: every block
and mention they need, in each language, for German and Belgian sellers (PDF text), and the
credit notes' and invoices' XML passes the official rules."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.dunning import DunningFigures, level_title, render_dunning_notice
from invoicing.schemas.events import InvoiceState
from invoicing.texts import section, text
from invoicing.texts.formatting import money

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.qr import printed_qr
from tests.support.scenarios import Core

LANGS = ("de", "en", "fr", "nl")
COUNTRIES = ("DE", "BE")


def _text(pdf: bytes) -> str:
    raw = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(raw.replace("\u00a0", " ").replace("\u202f", " ").split())


def _plain(value: str) -> str:
    return " ".join(value.replace("\u00a0", " ").replace("\u202f", " ").split())


class States:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.invoices: dict[str, InvoiceState] = {}
        self.credits: dict[str, InvoiceState] = {}

    def invoice(self, country: str) -> InvoiceState:
        if country not in self.invoices:
            make = scenarios.german_domestic if country == "DE" else scenarios.belgian_domestic
            self.invoices[country] = make(self.core)
        return self.invoices[country]

    def credit(self, country: str) -> InvoiceState:
        if country not in self.credits:
            invoice = self.invoice(country)
            self.credits[country] = self.core.credit_note(
                invoice.organization_id, invoice, reason="Treuebonus"
            )
        return self.credits[country]


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> States:
    return States(Core(tmp_path_factory.mktemp("kindscore")))


def _in(lang: str, state: InvoiceState) -> InvoiceState:
    return state.model_copy(update={"locale": lang})


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
def test_quote(states: States, country: str, lang: str) -> None:
    state = _in(lang, states.invoice(country)).model_copy(update={"kind": "quote"})
    t = section("pdf", lang)
    got = _text(render_pdf(state))
    for key in ("quote", "quote_date", "valid_until", "quote_intro", "quote_note"):
        assert _plain(t[key]) in got, key
    for key in ("quote_acceptance", "place_date", "signature", "tax_breakdown", "gross_total"):
        assert _plain(t[key]) in got, key
    # no payment block: a quote asks for no payment
    assert _plain(t["account_holder"]) not in got and _plain(t["qr_caption"]) not in got


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
def test_dunning_notice(states: States, country: str, lang: str, tmp_path: Path) -> None:
    invoice = _in(lang, states.invoice(country))
    figures = DunningFigures(
        level=2,
        as_of=dt.date(2026, 12, 20),
        days_overdue=16,
        open_amount=invoice.totals.open_amount,
        fee=Decimal("5.00"),
        interest=Decimal("4.12"),
        interest_rate=Decimal("9.27"),
        pay_by=dt.date(2026, 12, 30),
    )
    pdf = render_dunning_notice(invoice, figures)
    got = _text(pdf)
    t = section("pdf", lang)
    assert level_title(2, lang) in got
    assert invoice.number is not None and invoice.number in got
    assert invoice.seller is not None and invoice.seller.name in got
    assert invoice.buyer is not None and invoice.buyer.name in got
    for key in ("open_amount", "dunning_fee", "total_due", "days_overdue", "invoice_amount"):
        assert _plain(t[key]) in got, key
    assert _plain(text("dunning.already_paid", lang)) in got
    assert _plain(t["dunning_no_vat"]) in got
    assert t["tax_breakdown"] not in got  # a notice is no invoice: no VAT breakdown
    total = figures.total_due
    assert _plain(money(total, invoice.currency, lang)) in got
    if shutil.which("pdftoppm"):  # the QR code asks for the total due
        (code,) = printed_qr(pdf, tmp_path)
        assert f"EUR{total}" in code


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
def test_standalone_credit_note(states: States, country: str, lang: str) -> None:
    """A credit note that corrects no particular invoice (the domain's standalone credit
    notes are being added; rendered here from a credit note state without the reference)."""
    credit = _in(lang, states.credit(country))
    state = credit.model_copy(
        update={
            "credited_invoice_number": None,
            "credited_invoice_issue_date": None,
            "credited_invoice_id": None,
        }
    )
    t = section("pdf", lang)
    got = _text(render_pdf(state))
    assert state.number is not None and f"{t['standalone_credit_note']} {state.number}" in got
    assert _plain(t["standalone_credit"]) in got and "Treuebonus" in got
    assert t["credited_invoice"] + ":" not in got
    assert _plain(t["tax_breakdown"]) in got and _plain(t["refund_note"]) in got
    if country == "BE":
        assert "terug te storten" in got or "reverser" in got


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
def test_invoice_and_credit_note_xml_is_valid(states: States, country: str, lang: str) -> None:
    require_rules()
    fmts = ("peppol",) if country == "BE" else ("xrechnung_cii", "xrechnung_ubl", "zugferd")
    for state in (states.invoice(country), states.credit(country)):
        for fmt in fmts:
            einvoice = build_einvoice(_in(lang, state), fmt)
            report = validate(einvoice.xml, einvoice.profile)
            assert report.valid, (fmt, [f"{f.rule}: {f.text}" for f in report.errors])
