"""Standalone credit notes (issue_standalone_credit_note): in the credit-note series with their
own reason, and in every output: PDF, e-invoice type 381, DATEV, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from pathlib import Path

import pypdf
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.documents.pdf import render_pdf
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.schemas.events import InvoiceState
from lxml import etree
from sqlalchemy import Engine

from tests.integration.test_write_offs_datev import DATEV, _export
from tests.support.client import DE_ORG, Client, line
from tests.support.documents import export_file
from tests.support.external import require_rules
from tests.support.fakes import fake_deps

NOW = dt.datetime(2025, 2, 10, 9, 30, tzinfo=dt.UTC)


def _client(engine: Engine, tmp_path: Path) -> Client:
    deps = fake_deps(clock=lambda: NOW, export_dir=tmp_path / "exports")
    c = Client(Pipeline(engine, deps, LocalOperator()))
    c.setup_org({**DE_ORG, "email": "buchhaltung@kanzlei.example", "phone": "+49 221 1"})
    return c


def _issue(c: Client, **over: object) -> dict:  # type: ignore[type-arg]
    payload = {
        "credit_note_id": str(uuid.uuid4()),
        "customer_id": str(c.customer()),
        "reason": "Jahresbonus 2024",
        "issue_date": "2025-01-20",
        "lines": [line("Bonus Beratung", "1", "100.00"), line("Bonus Buch", "1", "10", tax_rate=7)],
        **over,
    }
    out = c.ok("issue_standalone_credit_note", payload)
    assert out.events[0]["type"] == "credit_note.issued"
    assert out.events[0]["data"]["standalone"] is True
    return out.events[0]["data"]["invoice"]  # type: ignore[no-any-return]


def test_numbered_in_the_credit_note_series_with_its_reason(engine: Engine, tmp_path: Path) -> None:
    c = _client(engine, tmp_path)
    cn = _issue(c)
    assert cn["kind"] == "credit_note" and cn["status"] == "finalized"
    assert cn["number"] == "GS-2025-0001" and cn["credited_invoice_id"] is None
    assert cn["credit_reason"] == "Jahresbonus 2024"
    assert cn["totals"]["gross_total"] == "129.70" and cn["totals"]["open_amount"] == "0.00"
    assert cn["due_date"] == cn["issue_date"] == "2025-01-20"
    errors = c.rejected(
        "issue_standalone_credit_note",
        {
            "credit_note_id": str(uuid.uuid4()),
            "customer_id": str(c.customer()),
            "reason": "x",
            "lines": [line("x", tax_rate="0.19")],
        },
    )
    assert errors[0]["source"]["pointer"] == "/payload/lines/0/tax_rate"
    assert errors[0]["meta"]["hint"] == "rates are percentages: did you mean 19?"


def test_pdf_and_einvoice_381(engine: Engine, tmp_path: Path) -> None:
    c = _client(engine, tmp_path)
    state = InvoiceState.model_validate(_issue(c))
    text = "".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(render_pdf(state))).pages
    )
    assert "GS-2025-0001" in text
    for fmt in ("xrechnung_cii", "xrechnung_ubl", "zugferd"):
        einvoice = build_einvoice(state, fmt)
        root = etree.fromstring(einvoice.xml)
        codes = [
            el.text
            for el in root.iter()
            if etree.QName(el).localname in ("TypeCode", "CreditNoteTypeCode")
            and etree.QName(el.getparent()).localname in ("ExchangedDocument", "CreditNote")
        ]
        assert codes == ["381"], fmt
        require_rules()
        report = validate(einvoice.xml, einvoice.profile)
        assert report.valid, "\n".join(f"{f.rule}: {f.text}" for f in report.errors)


def test_datev_and_csv(engine: Engine, tmp_path: Path) -> None:
    c = _client(engine, tmp_path)
    c.ok("configure_datev", DATEV)
    cn = _issue(c)
    rows = _export(c, tmp_path).rows()
    got = [(r[0], r[1], r[7], r[10]) for r in rows]
    assert got == [("119,00", "H", "8400", cn["number"]), ("10,70", "H", "8300", cn["number"])]
    out = c.ok("export_csv", {})
    text = export_file(c.bus, c.org, out.events[0]).decode("utf-8-sig")
    (row,) = [r for r in csv.DictReader(io.StringIO(text, newline="")) if r["id"] == cn["id"]]
    assert (row["kind"], row["gross_total"], row["open_amount"]) == (
        "credit_note",
        "129.70",
        "0.00",
    )


def test_its_errors_point_at_its_own_fields(engine: Engine, tmp_path: Path) -> None:
    """A credit note of no invoice is issued in one command: a dollar one without a rate, or
    one to a customer without an address, is told which field of that command to send, not
    to update a draft it never had (``/payload/invoice_id``, ``update_invoice``)."""
    c = _client(engine, tmp_path)
    base = {
        "credit_note_id": str(uuid.uuid4()),
        "customer_id": str(c.customer()),
        "reason": "Jahresbonus 2024",
        "issue_date": "2025-01-20",
        "lines": [line("Bonus Beratung", "1", "100.00")],
    }
    (error,) = c.rejected("issue_standalone_credit_note", {**base, "currency": "USD"})
    assert error["source"]["pointer"] == "/payload/exchange_rate"
    assert error["detail"] == (
        "exchange_rate can't be blank for a USD credit note of a EUR organization"
    )
    assert error["meta"]["hint"] == "send exchange_rate: EUR per 1 USD"
    # with the rate it is issued, as before
    cn = _issue(c, currency="USD", exchange_rate="0.9234")
    assert cn["normalized"]["exchange_rate"] == "0.9234"

    nowhere = c.customer(address=None)
    payload = {**base, "credit_note_id": str(uuid.uuid4()), "customer_id": str(nowhere)}
    errors = c.rejected("issue_standalone_credit_note", payload)
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("buyer_address_missing", "/payload/customer_id")
    ]
