"""The per-invoice overrides (seeds 001/002) on the documents: subject, recipient block,
invoicing-party block, the buyer's VAT number and the chosen bank account appear on the PDF,
and in the e-invoice where EN 16931 has a term for them. Subsidiaries' seller data merge."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.view import build_view
from invoicing.domain import subsidiaries
from invoicing.schemas.events import InvoiceState

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.scenarios import Core


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> InvoiceState:
    core = Core(tmp_path_factory.mktemp("overrides"))
    org = core.organization(
        **scenarios.DE_SELLER,
        bank_accounts=[{"id": "usd", "iban": "DE02120300000000202051", "bank_name": "DKB"}],
    )
    customer = core.customer(org, **scenarios.DE_BUYER)
    return core.invoice(
        org,
        customer,
        [{"description": "Beratung", "quantity": "2", "unit_price": "150.00"}],
        subject="Mandat 12/26: Prüfung des Mietvertrags",
        recipient_text="Acme AG\nz. Hd. Rechtsabteilung\nPostfach 10 20 30\n10115 Berlin",
        invoicing_party_text="Kanzlei Müller · Zweigstelle Bonn · Am Hof 1 · 53113 Bonn",
        vat_number="DE 811 907 980",
        bank_account_id="usd",
    )


def text_of(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ")


def test_the_pdf_prints_every_override(state: InvoiceState) -> None:
    text = text_of(render_pdf(state))
    assert "Mandat 12/26: Prüfung des Mietvertrags" in text
    assert "z. Hd. Rechtsabteilung" in text and "Postfach 10 20 30" in text
    assert "Zweigstelle Bonn" in text and "Am Hof 1" in text
    assert "DE811907980" in text  # the invoice's VAT number, from the buyer snapshot
    assert "DE02 1203 0000 0000 2020 51" in text and "DKB" in text  # the chosen account
    assert "DE89 3704" not in text  # not the default account
    # the seller's legal data stays in the footer (§ 14 UStG): name and VAT id
    assert "DE136695976" in text


def test_the_view_falls_back_to_the_snapshots_without_overrides(state: InvoiceState) -> None:
    plain = state.model_copy(
        update={"subject": None, "recipient_text": None, "invoicing_party_text": None}
    )
    view = build_view(plain)
    assert (view["subject"], view["recipient_block"], view["invoicing_party_block"]) == ("", [], [])
    text = text_of(render_pdf(plain))
    assert "Rechtsabteilung" not in text and "Ring 2" in text  # the buyer's address again


def test_the_einvoice_carries_subject_vat_number_and_account(state: InvoiceState) -> None:
    for fmt in ("xrechnung_cii", "xrechnung_ubl"):
        einvoice = build_einvoice(state, fmt)
        xml = einvoice.xml.decode()
        assert "Mandat 12/26: Prüfung des Mietvertrags" in xml  # BT-22, first note text
        assert "DE811907980" in xml  # BT-48
        assert "DE02120300000000202051" in xml  # BT-84
        assert "Rechtsabteilung" not in xml  # free-text blocks have no EN 16931 term
        require_rules()
        report = validate(einvoice.xml, einvoice.profile)
        assert report.valid, "\n".join(f"{f.rule}: {f.text}" for f in report.errors)


def test_a_subsidiary_profile_replaces_identity_and_keeps_contact_fallbacks() -> None:
    org = {
        "name": "Mutter GmbH",
        "vat_id": "DE136695976",
        "tax_number": "215/5730/1234",
        "email": "info@mutter.example",
        "phone": "+49 1",
        "iban": "DE89370400440532013000",
        "default_currency": "EUR",
        "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:3}"}},
    }
    sub = {
        "vat_id": "BE0403019261",
        "address": {"country_code": "BE"},
        "phone": "+32 2",
        "number_series": {"credit_note": {"pattern": "BE-CN-{SEQ}", "yearly_reset": False}},
    }
    merged = subsidiaries.seller_profile(org, sub)
    assert (merged["vat_id"], merged["tax_number"], merged["iban"]) == ("BE0403019261", None, None)
    assert (merged["email"], merged["phone"]) == ("info@mutter.example", "+32 2")
    assert merged["default_currency"] == "EUR"
    assert set(merged["number_series"]) == {"invoice", "credit_note"}
    assert subsidiaries.numbering_scope("sub", sub, "credit_note") == "sub"
    assert subsidiaries.numbering_scope("sub", sub, "invoice") == ""  # the organization's
    assert subsidiaries.numbering_scope(None, sub, "credit_note") == ""


def test_series_collisions_are_found_both_ways() -> None:
    today = dt.date(2026, 11, 28)
    others = {"organization invoice": ("RE-{YYYY}-{SEQ:3}", True)}
    assert (
        subsidiaries.series_collisions({"invoice": ("BE-{YYYY}-{SEQ:4}", True)}, others, today)
        == []
    )
    wider = subsidiaries.series_collisions({"invoice": ("RE-{YYYY}-{SEQ:4}", True)}, others, today)
    assert [(e.code, e.pointer) for e in wider] == [
        ("series_collision", "/number_series/invoice/pattern")
    ]
    narrower = subsidiaries.series_collisions({"quote": ("RE-{YY}{SEQ:2}", True)}, others, today)
    assert narrower == []  # RE-26.. never has the dash after the year digits of RE-2026-
