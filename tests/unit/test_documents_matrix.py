"""Every document of every kind, seller country and language, each built through the real core
(configure_organization, create_customer, create_invoice / finalize_invoice, issue_credit_note,
create_invoice with ``is_quote``, issue_standalone_credit_note; the dunning notice from the
overdue invoice): its PDF holds the mandatory mentions of docs/legal-mentions.md, and where it
carries XML that XML passes ``../shared/einvoice/validate.py`` -- the workspace's reference
validator, run as a separate process, apart from the service's own validator (which
tests/unit/test_einvoice_*.py run).

5 kinds x 2 seller countries x 4 languages = 40 documents; the 24 invoices, credit notes and
standalone credit notes carry XML: XRechnung CII and UBL and the ZUGFeRD XML read back out of
the hybrid PDF for German sellers, Peppol BIS for Belgian ones (48 XML documents).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
from invoicing.documents.einvoice import (
    build_einvoice,
    documents_for_sending,
    extract_facturx,
    rules_available,
)
from invoicing.documents.einvoice.validation import rules_dir
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.dunning import DunningFigures, level_title, render_dunning_notice
from invoicing.documents.pdf.view import Formatter
from invoicing.domain.dunning import interest_on_balances
from invoicing.schemas.events import InvoiceState
from invoicing.texts import section, text

from tests.support import scenarios
from tests.support.external import require_external
from tests.support.scenarios import Core

LANGS = ("de", "en", "fr", "nl")
COUNTRIES = ("DE", "BE")
KINDS = ("invoice", "credit_note", "quote", "dunning_notice", "standalone_credit_note")
SELLERS = {"DE": scenarios.DE_SELLER, "BE": scenarios.BE_SELLER}
BUYERS = {"DE": scenarios.DE_BUYER, "BE": scenarios.BE_BUYER}
FORMATS = {"DE": ("xrechnung_cii", "xrechnung_ubl", "zugferd"), "BE": ("peppol",)}
#: the profile names of ../shared/einvoice/validate.py
PROFILES = {
    "xrechnung_cii": "xrechnung-cii",
    "xrechnung_ubl": "xrechnung-ubl",
    "zugferd": "facturx-en16931",
    "peppol": "peppol-ubl",
}
#: the reverse-charge note cites the SELLER's law (docs/legal-mentions.md)
CITES = {"DE": "§ 13b UStG", "BE": "51, § 2"}
OTHER = {"DE": "51, § 2", "BE": "§ 13b"}
#: the Belgian VAT repayment mention of credit notes (KB nr. 4 art. 4 § 2)
REPAYMENT = {"de": "TVA à reverser à l'État", "en": "TVA à reverser à l'État"}
REPAYMENT |= {"fr": "TVA à reverser à l'État", "nl": "Btw terug te storten aan de Staat"}
QUOTE_NOTE = {"de": "keine Rechnung", "en": "not an invoice", "fr": "pas une facture"}
QUOTE_NOTE["nl"] = "geen factuur"
LINES: list[dict[str, Any]] = [
    {"description": "Beratung", "quantity": "2", "unit": "hours", "unit_price": "100.00"},
    {
        "description": "Montage",
        "quantity": "1",
        "unit": "flat",
        "unit_price": "500.00",
        "tax_category": "reverse_charge",
        "tax_rate": "0",
    },
]


def _text(pdf: bytes) -> str:
    raw = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(raw.replace("\u00a0", " ").replace("\u202f", " ").split())


def _plain(value: str) -> str:
    return " ".join(value.replace("\u00a0", " ").replace("\u202f", " ").split())


class Matrix:
    """The documents of one seller country and language, made once per test module."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.orgs: dict[str, uuid.UUID] = {}
        self.documents: dict[tuple[str, str], dict[str, InvoiceState]] = {}

    def org(self, country: str) -> uuid.UUID:
        if country not in self.orgs:
            self.orgs[country] = self.core.organization(**SELLERS[country])
        return self.orgs[country]

    def of(self, country: str, lang: str) -> dict[str, InvoiceState]:
        key = (country, lang)
        if key not in self.documents:
            self.documents[key] = self._make(country, lang)
        return self.documents[key]

    def _make(self, country: str, lang: str) -> dict[str, InvoiceState]:
        core, org = self.core, self.org(country)
        email = f"{uuid.uuid4().hex[:10]}@buyer.example"  # unique per seller
        customer = core.customer(org, **{**BUYERS[country], "locale": lang, "email": email})
        invoice = core.invoice(org, customer, LINES, delivery_date="2026-11-18")
        credit = core.credit_note(org, invoice, reason="Storno")
        quote_id = uuid.uuid4()
        core.run(
            org,
            "create_invoice",
            {"id": str(quote_id), "customer_id": str(customer), "is_quote": True, "lines": LINES},
        )
        quote = core.state(
            core.run(org, "finalize_invoice", {"invoice_id": str(quote_id)}), "invoice.finalized"
        )
        standalone = core.state(
            core.run(
                org,
                "issue_standalone_credit_note",
                {
                    "credit_note_id": str(uuid.uuid4()),
                    "customer_id": str(customer),
                    "reason": "Jahresbonus 2026",
                    "issue_date": "2026-11-25",
                    "delivery_date": "2026-11-25",
                    "lines": LINES,
                },
            ),
            "credit_note.issued",
        )
        return {
            "invoice": invoice,
            "credit_note": credit,
            "quote": quote,
            "standalone_credit_note": standalone,
        }


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    return Matrix(Core(tmp_path_factory.mktemp("matrix")))


def _figures(invoice: InvoiceState) -> DunningFigures:
    """Level 2 of the default dunning settings, 16 days after the due date (fee, interest)."""
    assert invoice.due_date is not None
    days = 16
    owed = invoice.totals.open_amount
    return DunningFigures(
        level=2,
        as_of=invoice.due_date + dt.timedelta(days=days),
        days_overdue=days,
        open_amount=owed,
        fee=Decimal("5.00"),
        interest=interest_on_balances(
            owed,
            [],
            invoice.due_date,
            invoice.due_date + dt.timedelta(days=days),
            Decimal(9),
            invoice.currency,
        ),
        interest_rate=Decimal(9),
    )


def _common(state: InvoiceState, got: str) -> None:
    """Every document names both parties and the seller's VAT id (§ 14 Abs. 4 Nr. 1-2 UStG,
    KB nr. 1 art. 5 § 1)."""
    assert state.seller is not None and state.buyer is not None
    assert state.seller.name in got and state.buyer.name in got
    assert state.seller.vat_id and state.seller.vat_id in got


def _invoice_like(state: InvoiceState, got: str, lang: str, country: str) -> None:
    """What invoices and credit notes carry (docs/legal-mentions.md, "Every invoice and credit
    note"): number, issue and supply date, lines, the breakdown per rate, the buyer's VAT id
    (reverse charge) and the reverse-charge note under the seller's law."""
    t = section("pdf", lang)
    fmt = Formatter(lang, state.currency)
    assert state.number is not None and state.number in got
    assert state.buyer is not None and state.buyer.vat_id and state.buyer.vat_id in got
    assert _plain(fmt.date(state.issue_date)) in got
    assert state.delivery_date is not None and _plain(fmt.date(state.delivery_date)) in got
    for line in state.lines:
        assert line.description in got
    assert _plain(t["tax_breakdown"]) in got
    assert _plain(fmt.money(state.totals.gross_total)) in got
    assert CITES[country] in got and OTHER[country] not in got


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", COUNTRIES)
def test_every_document_holds_its_mandatory_mentions(
    matrix: Matrix, country: str, lang: str, kind: str
) -> None:
    documents = matrix.of(country, lang)
    t = section("pdf", lang)
    invoice = documents["invoice"]
    if kind == "dunning_notice":
        state, figures = invoice, _figures(invoice)
        got = _text(render_dunning_notice(invoice, figures))
    else:
        state = documents[kind]
        got = _text(render_pdf(state))
    assert state.locale == lang
    _common(state, got)
    fmt = Formatter(lang, state.currency)
    if kind == "invoice":
        _invoice_like(state, got, lang, country)
        assert _plain(t["invoice"]) in got
        assert state.seller is not None and state.seller.iban
        assert state.seller.iban[:4] in got.replace(" ", "")  # the bank details
        assert _plain(t["qr_caption"]) in got  # EPC QR code for the open amount
        if country == "BE":
            assert re.search(r"\+\+\+\d{3}/\d{4}/\d{5}\+\+\+", got)  # structured communication
        assert REPAYMENT[lang] not in got
    elif kind == "credit_note":
        _invoice_like(state, got, lang, country)
        assert invoice.number is not None and invoice.number in got  # the corrected invoice
        assert _plain(fmt.date(invoice.issue_date)) in got  # ... and its date
        if lang == "de":
            assert "Rechnungskorrektur" in got and "Gutschrift" not in got
        assert (REPAYMENT[lang] in got) == (country == "BE")
    elif kind == "standalone_credit_note":
        _invoice_like(state, got, lang, country)
        assert state.credited_invoice_id is None
        assert f"{_plain(t['standalone_credit_note'])} {state.number}" in got
        assert _plain(t["standalone_credit"]) in got and "Jahresbonus 2026" in got
        assert (REPAYMENT[lang] in got) == (country == "BE")
    elif kind == "quote":
        assert state.kind == "quote" and state.number is not None and state.number in got
        assert QUOTE_NOTE[lang] in got and _plain(t["valid_until"]) in got
        assert CITES[country] in got  # the tax treatment it will have
        for line in state.lines:
            assert line.description in got
        assert _plain(t["account_holder"]) not in got  # no payment block
    else:  # the dunning notice
        assert invoice.number is not None and invoice.number in got
        assert level_title(2, lang) in got
        assert _plain(fmt.money(figures.open_amount)) in got
        assert _plain(fmt.money(figures.total_due)) in got
        assert _plain(t["dunning_no_vat"]) in got and _plain(t["tax_breakdown"]) not in got
        assert _plain(text("dunning.already_paid", lang)) in got


def _shared_validator() -> Path:
    script = rules_dir() / "validate.py"
    require_external(
        rules_available() and script.is_file(),
        f"the reference validator {script} or the official rules are not installed",
    )
    return script


def test_every_xml_passes_the_reference_validator(matrix: Matrix, tmp_path: Path) -> None:
    script = _shared_validator()
    files: dict[str, list[Path]] = {}
    for country in COUNTRIES:
        for lang in LANGS:
            documents = matrix.of(country, lang)
            for kind in ("invoice", "credit_note", "standalone_credit_note"):
                state = documents[kind]
                for fmt in FORMATS[country]:
                    if fmt == "zugferd":  # the XML as it leaves: inside the hybrid PDF
                        hybrid = documents_for_sending(state, fmt, render_pdf(state)).pdf
                        xml = extract_facturx(hybrid)
                    else:
                        xml = build_einvoice(state, fmt).xml
                    # the legal notes travel in BT-22 as well
                    assert CITES[country] in xml.decode("utf-8"), (country, lang, kind, fmt)
                    path = tmp_path / f"{country}-{lang}-{kind}-{fmt}.xml"
                    path.write_bytes(xml)
                    files.setdefault(PROFILES[fmt], []).append(path)
    assert sum(len(paths) for paths in files.values()) == 48
    for profile, paths in files.items():
        run = subprocess.run(
            [sys.executable, str(script), "--profile", profile, *map(str, paths)],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        verdicts = re.findall(r"^== (\S+) \[[^\]]+\] (VALID|INVALID)", run.stdout, re.M)
        assert len(verdicts) == len(paths), run.stdout + run.stderr
        invalid = [Path(name).name for name, verdict in verdicts if verdict != "VALID"]
        assert not invalid and run.returncode == 0, run.stdout
