"""The Belgian structured communication is assigned at finalize and unique per organization
(docs/einvoice.md, "Payment reference"), on SQLite and PostgreSQL with real SMTP.

Before, every renderer derived it from the number's last ten digits, so an invoice of the
organization's series (F20260001) and one of a subsidiary's own series (L20260001), or one
with a manual number of the same digits, asked their payers for the same communication, and a
bank reconciliation matching on it could not tell them apart."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pypdf
import pytest
from invoicing.documents.einvoice import validate
from invoicing.domain import payment_reference as rules
from invoicing.pipeline import Outcome, Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.integration import test_send_invoice as _send
from tests.integration.test_group_commit import run_batch
from tests.integration.test_send_invoice import Sink, World, make_world, pdf_attachments
from tests.support import scenarios
from tests.support.client import Client
from tests.support.client import line as client_line
from tests.support.external import require_rules
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

smtp = _send.smtp

LIEGE: dict[str, Any] = {
    "id": "liege",
    "name": "Atelier Dupont Liège SRL",
    "address": {
        "street_address": "Place Saint-Lambert 1",
        "zip_code": "4000",
        "city": "Liège",
        "country_code": "BE",
    },
    "vat_id": "BE0403170701",
    "iban": "BE68539007547034",
    "email": "liege@dupont.example",
    "number_series": {"invoice": {"pattern": "L{YYYY}{SEQ:4}"}},
}
LINES = [{"description": "Conception graphique", "quantity": "2", "unit_price": "85.00"}]


def _world(db_url: str, smtp: tuple[Sink, int], tmp_path: Path) -> tuple[World, uuid.UUID]:
    w = make_world(db_url, smtp, tmp_path)
    assert w.run("configure_organization", scenarios.BE_SELLER).status == "applied"
    assert w.run("configure_subsidiary", LIEGE).status == "applied"
    customer = uuid.uuid4()
    buyer = {"id": str(customer), **scenarios.BE_BUYER, "einvoice_format": "peppol"}
    assert w.run("create_customer", buyer).status == "applied"
    return w, customer


def _finalized(w: World, customer: uuid.UUID, **fields: Any) -> dict[str, Any]:
    inv = uuid.uuid4()
    draft = {"id": str(inv), "customer_id": str(customer), "lines": LINES, **fields}
    assert w.run("create_invoice", draft).status == "applied"
    out = w.run("finalize_invoice", {"invoice_id": str(inv), "issue_date": "2026-01-05"})
    assert out.status == "applied", out.errors
    return out.events[-1]["data"]["invoice"]  # type: ignore[no-any-return]


def _listed(w: World, reference: str) -> list[str]:
    reply = w.bus.query_document(
        {
            "type": "list_invoices",
            "organization_id": str(w.org),
            "payload": {"filter": {"payment_reference": reference}},
        }
    )
    assert reply["status"] == "ok", reply
    return [item["id"] for item in reply["result"]["items"]]


def test_documents_with_the_same_digits_get_different_communications(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w, customer = _world(db_url, smtp, tmp_path)
    own = _finalized(w, customer)
    assert own["number"] == "F20260001"
    # the first keeps the communication derived from its number, as customers know it
    assert own["payment_reference"] == rules.derive("F20260001") == "+++002/0260/00196+++"
    credited = w.run("issue_credit_note", {"invoice_id": own["id"]})
    assert credited.status == "applied", credited.errors
    (note,) = [e["data"]["invoice"] for e in credited.events if e["type"] == "credit_note.issued"]
    # a credit note gets no structured communication (the rule kept from before): its number
    assert note["number"] == "NC20260001" and note["payment_reference"] is None
    theirs = _finalized(w, customer, subsidiary_id="liege")
    manual = _finalized(w, customer, number="X-2026-0001")
    assert theirs["number"] == "L20260001"
    assert theirs["payment_reference"] == rules.candidates("F20260001")[1]
    assert manual["payment_reference"] == rules.candidates("F20260001")[2]
    references = {own["payment_reference"], theirs["payment_reference"]}
    assert len(references | {manual["payment_reference"]}) == 3
    # an invoice in another currency: none, its number stays its reference
    usd = _finalized(w, customer, currency="USD", exchange_rate="0.9")
    assert usd["payment_reference"] is None
    # the bank reconciliation finds each by the communication as the bank writes it
    assert _listed(w, "+++002/0260/00196+++") == [own["id"]]
    assert _listed(w, "002026000196") == [own["id"]]
    digits = "".join(ch for ch in theirs["payment_reference"] if ch.isdigit())
    assert _listed(w, f"{digits[:3]}/{digits[3:7]}/{digits[7:]}") == [theirs["id"]]
    refused = w.bus.query_document(
        {
            "type": "list_invoices",
            "organization_id": str(w.org),
            "payload": {"filter": {"payment_reference": "+++002/0260/00197+++"}},
        }
    )
    assert refused["status"] == "error"
    assert refused["errors"][0]["source"]["pointer"] == "/payload/filter/payment_reference"


def _pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def _sent(w: World, invoice_id: str) -> tuple[bytes, str, str]:
    """Send the invoice: its Peppol XML (valid under the official rules), the text of its PDF
    and its email's plain body."""
    out = w.run("send_invoice", {"invoice_id": invoice_id})
    assert out.status == "applied", out.errors
    message = w.sink.messages[-1].message
    (xml,) = [
        part.get_content()
        for part in message.iter_attachments()
        if str(part.get_filename()).endswith(".peppol.xml")
    ]
    report = validate(xml, "peppol_ubl")
    assert report.valid, [f"{f.rule}: {f.text}" for f in report.errors]
    (pdf,) = pdf_attachments(message)
    body = message.get_body(("plain",))
    assert body is not None
    return xml, _pdf_text(pdf), body.get_content()


def _payment_id(xml: bytes) -> str:
    return xml.split(b"<cbc:PaymentID>", 1)[1].split(b"<", 1)[0].decode()


def test_pdf_xml_and_email_carry_the_stored_communication(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """The organization's F20260001 and the subsidiary's L20260001 are sent: their e-invoices
    (BT-83, valid Peppol BIS) ask for different communications (before: both
    +++002/0260/00196+++), and the subsidiary's PDF, email and EPC QR code (the payload it is
    drawn from, the same ``payment_reference`` as BT-83) name its stored one."""
    require_rules()
    w, customer = _world(db_url, smtp, tmp_path)
    own = _finalized(w, customer)
    theirs = _finalized(w, customer, subsidiary_id="liege")
    own_xml, own_pdf, own_body = _sent(w, own["id"])
    xml, text, body = _sent(w, theirs["id"])
    assert _payment_id(own_xml) == rules.derive(own["number"]) == "+++002/0260/00196+++"
    assert _payment_id(xml) != _payment_id(own_xml)
    stored = theirs["payment_reference"]
    assert _payment_id(xml) == stored == rules.candidates(theirs["number"])[1]
    assert rules.derive(theirs["number"]) not in text
    assert stored in text and stored in body
    assert _payment_id(own_xml) in own_pdf and _payment_id(own_xml) in own_body


def test_finalizes_of_one_batch_get_different_communications(engine: Engine) -> None:
    """In a batch the finalizes' UPDATEs wait for its end, so a later finalize's look-up does
    not see an earlier one's communication: the transaction remembers what it gave. The
    organization's and the subsidiary's first invoices of 2026, finalized in one batch, get
    the derived value and the next one, without the batch having to run again."""
    bus = Pipeline(engine, fake_deps(), LocalOperator())
    client = Client(bus)
    client.setup_org(scenarios.BE_SELLER)
    client.ok("configure_subsidiary", LIEGE)
    bus.enable_batching(16)
    group = bus.group
    assert group is not None
    customer = client.customer(locale="fr")

    def finalize(**fields: Any) -> dict[str, Any]:
        iid = client.invoice(customer, [client_line()], **fields)
        return client.doc("finalize_invoice", {"invoice_id": str(iid), "issue_date": "2026-03-02"})

    leader = finalize(number="LEAD-1")
    docs = [finalize(), finalize(subsidiary_id="liege")]
    before = group.fallbacks, group.numbers_in_place
    lead, outs = run_batch(client, leader, docs)
    assert isinstance(lead, Outcome) and lead.status == "applied"
    states = []
    for out in outs:
        assert isinstance(out, Outcome) and out.status == "applied", out
        states.append(client.state(out.events[-1]["data"]["invoice"]["id"]))
    assert [s["number"] for s in states] == ["F20260001", "L20260001"]
    assert [s["payment_reference"] for s in states] == rules.candidates("F20260001", 0, 2)
    assert (group.fallbacks, group.numbers_in_place) == before
