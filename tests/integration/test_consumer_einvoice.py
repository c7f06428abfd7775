"""The organization's default e-invoice format is for business customers: a Belgian seller
whose default is Peppol sends a private customer its invoice as a PDF, on SQLite and
PostgreSQL. Until session 40 that send was rejected (``peppol_buyer_endpoint_missing``: a
consumer has no Peppol participant id), so every consumer of such a seller needed
``einvoice_format: "none"`` set by hand. The Belgian mandate (and the German one) concerns
supplies between businesses; a consumer's own ``einvoice_format`` still asks for one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from invoicing.documents.einvoice import validate

from tests.integration import test_send_invoice as _send
from tests.integration.test_send_invoice import Sink, World, make_world
from tests.support import scenarios
from tests.support.external import require_rules

pytestmark = pytest.mark.integration

smtp = _send.smtp

CONSUMER: dict[str, Any] = {
    "given_name": "Marie",
    "family_name": "Dupont",
    "email": "marie@dupont.example",
    "locale": "fr",
    "address": {
        "street_address": "Avenue Louise 100",
        "zip_code": "1050",
        "city": "Ixelles",
        "country_code": "BE",
    },
}
LINES = [{"description": "Faire-part de mariage", "quantity": "150", "unit_price": "1.80"}]


def _world(db_url: str, smtp: tuple[Sink, int], tmp_path: Path) -> World:
    w = make_world(db_url, smtp, tmp_path)
    seller = {**scenarios.BE_SELLER, "einvoice_format": "peppol"}
    assert w.run("configure_organization", seller).status == "applied"
    return w


def _send_to(w: World, customer: dict[str, Any]) -> Any:
    customer_id, invoice_id = uuid.uuid4(), uuid.uuid4()
    created = w.run("create_customer", {"id": str(customer_id), **customer})
    assert created.status == "applied", created.errors
    draft = {"id": str(invoice_id), "customer_id": str(customer_id), "lines": LINES}
    assert w.run("create_invoice", draft).status == "applied"
    return w.run("send_invoice", {"invoice_id": str(invoice_id)})


def _attachments(w: World) -> list[tuple[str, bytes]]:
    message = w.sink.messages[-1].message
    return [(str(p.get_filename()), p.get_content()) for p in message.iter_attachments()]


def test_a_consumer_gets_the_pdf_where_the_default_is_peppol(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = _world(db_url, smtp, tmp_path)
    for consumer in (
        CONSUMER,
        {
            **CONSUMER,
            "email": "m2@dupont.example",
            "customer_type": "consumer",
            "company": "Marie Dupont (particulier)",
        },
    ):
        out = _send_to(w, consumer)
        assert out.status == "applied", out.errors
        assert [e["type"] for e in out.events] == ["invoice.finalized", "invoice.sent"]
        sent = out.events[-1]["data"]
        assert sent["einvoice_format"] is None
        number = sent["invoice"]["number"]
        assert [name for name, _ in _attachments(w)] == [f"{number}.pdf"]
        assert sent["invoice"]["buyer"]["customer_type"] == consumer.get("customer_type")


def test_a_business_still_gets_the_default_and_a_consumer_its_own_format(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    require_rules()
    w = _world(db_url, smtp, tmp_path)
    out = _send_to(w, scenarios.BE_BUYER)
    assert out.status == "applied", out.errors
    assert out.events[-1]["data"]["einvoice_format"] == "peppol"
    (xml,) = [body for name, body in _attachments(w) if name.endswith(".peppol.xml")]
    report = validate(xml, "peppol_ubl")
    assert report.valid, [f"{f.rule}: {f.text}" for f in report.errors]
    # a consumer who asks for Peppol itself, and a customer stated to be a business, are not
    # dropped to the PDF: without a participant id their sends are refused as before
    for customer in (
        {**CONSUMER, "email": "m3@dupont.example", "einvoice_format": "peppol"},
        {**CONSUMER, "email": "m4@dupont.example", "customer_type": "business"},
    ):
        refused = _send_to(w, customer)
        assert refused.status == "rejected"
        assert [e["code"] for e in refused.errors] == ["peppol_buyer_endpoint_missing"]
