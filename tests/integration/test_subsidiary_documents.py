"""What a subsidiary's invoice says wherever it goes: the email of the invoice and of its
dunning notice answers to the subsidiary (Reply-To), and a credit note of an invoice with
per-invoice texts is addressed and headed as the invoice was. Real SMTP, both databases."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from invoicing.documents.pdf import render_pdf
from invoicing.schemas.events import InvoiceState

from tests.integration import test_send_invoice as _send
from tests.integration.test_send_invoice import Sink, World, make_world
from tests.support.client import Client, line
from tests.unit.test_pdf_overrides import text_of

pytestmark = pytest.mark.integration

smtp = _send.smtp

BERLIN: dict[str, Any] = {
    "id": "berlin",
    "name": "Müller Berlin GmbH",
    "address": {
        "street_address": "Unter den Linden 5",
        "zip_code": "10117",
        "city": "Berlin",
        "country_code": "DE",
    },
    "vat_id": "DE811907980",
    "tax_number": "27/123/45678",
    "iban": "DE02120300000000202051",
    "email": "rechnungen@berlin.example",
    "phone": "+49 30 1234567",
    "number_series": {"invoice": {"pattern": "B-{YYYY}-{SEQ:3}"}},
}


IBAN = "DE02500105170137075030"


def _finalized(w: World, **fields: Any) -> dict[str, Any]:
    inv = uuid.uuid4()
    line = {"description": "Beratung", "quantity": "1", "unit_price": "100.00"}
    payload = {"id": str(inv), "customer_id": str(w.customer), "lines": [line], **fields}
    assert w.run("create_invoice", payload).status == "applied"
    out = w.run("finalize_invoice", {"invoice_id": str(inv), "issue_date": "2026-01-05"})
    assert out.status == "applied", out.errors
    return out.events[-1]["data"]["invoice"]  # type: ignore[no-any-return]


def test_replies_to_a_subsidiarys_mail_reach_the_subsidiary(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Before: Reply-To was the organization's address on the invoice email and the dunning
    notice of a subsidiary's invoice, whose PDF names the subsidiary's address."""
    w = make_world(db_url, smtp, tmp_path)
    assert w.run("configure_subsidiary", BERLIN).status == "applied"
    own = _finalized(w)
    theirs = _finalized(w, subsidiary_id="berlin")
    for inv in (own, theirs):
        assert w.run("send_invoice", {"invoice_id": inv["id"]}).status == "applied"
    assert w.run("configure_dunning", {"levels": [{"days_after_due": 7}]}).status == "applied"
    assert w.run("send_dunning_notices", {"as_of": "2026-02-20"}).status == "applied"
    by_number = {m.message["X-Invoice-Number"]: m.message for m in w.sink.messages[:2]}
    assert by_number[own["number"]]["Reply-To"] == "rechnung@kanzlei-mueller.de"
    assert by_number[theirs["number"]]["Reply-To"] == "rechnungen@berlin.example"
    notices = {m.message["X-Invoice-Number"]: m.message for m in w.sink.messages[2:]}
    assert notices[own["number"]]["Reply-To"] == "rechnung@kanzlei-mueller.de"
    assert notices[theirs["number"]]["Reply-To"] == "rechnungen@berlin.example"
    # a subsidiary without an address of its own: the organization's, as on its documents
    no_mail = {**BERLIN, "email": None}
    assert w.run("configure_subsidiary", no_mail).status == "applied"
    assert w.run("send_invoice", {"invoice_id": theirs["id"]}).status == "applied"
    assert w.sink.messages[-1].message["Reply-To"] == "rechnung@kanzlei-mueller.de"


def test_a_credit_note_is_addressed_and_headed_as_its_invoice(client: Client) -> None:
    """The invoice's recipient block, invoicing-party block and VAT number are the credit
    note's too (its buyer is the invoice's snapshot, its seller the same issuer). Before: the
    credit note's address window printed the customer's street address and its letterhead the
    seller's, under an invoice sent to a PO box from a branch."""
    c = client
    c.ok("configure_subsidiary", BERLIN)
    texts = {
        "recipient_text": "Acme AG\nz. Hd. Rechtsabteilung\nPostfach 10 20 30\n10115 Berlin",
        "invoicing_party_text": "Müller Berlin · Zweigstelle Potsdam · Am Markt 1",
        "vat_number": "DE811569869",
    }
    inv = c.finalized(c.customer(), [line()], subsidiary_id="berlin", **texts)
    out = c.ok("issue_credit_note", {"invoice_id": inv["id"], "reason": "Storno"})
    cn = out.events[0]["data"]["invoice"]
    assert cn["kind"] == "credit_note" and cn["subsidiary_id"] == "berlin"
    assert {k: cn[k] for k in texts} == texts
    assert cn["buyer"] == inv["buyer"] and cn["seller"]["name"] == "Müller Berlin GmbH"
    pdf = text_of(render_pdf(InvoiceState.model_validate(cn)))
    assert "Postfach 10 20 30" in pdf and "Friedrichstraße 10" not in pdf
    assert "Zweigstelle Potsdam" in pdf
    assert "DE811907980" in pdf  # the seller's legal data stays in the footer


def test_a_draft_whose_account_the_subsidiary_dropped(client: Client) -> None:
    """finalize refuses the draft and says both ways out; naming no account then takes the
    subsidiary's main account (the hint named only adding the account back before)."""
    c = client
    c.ok("configure_subsidiary", {**BERLIN, "bank_accounts": [{"id": "ing", "iban": IBAN}]})
    draft = c.invoice(c.customer(), [line()], subsidiary_id="berlin", bank_account_id="ing")
    c.ok("configure_subsidiary", BERLIN)  # the account is gone
    (error,) = c.rejected("finalize_invoice", {"invoice_id": str(draft)})
    assert (error["code"], error["source"]["pointer"]) == (
        "bank_account_not_found",
        "/payload/invoice_id",
    )
    assert "update_invoice" in error["meta"]["hint"] and "ing" in error["detail"]
    c.ok("update_invoice", {"id": str(draft), "bank_account_id": None})
    done = c.ok("finalize_invoice", {"invoice_id": str(draft)}).events[-1]["data"]["invoice"]
    assert done["seller"]["iban"] == BERLIN["iban"] and done["number"].startswith("B-")
