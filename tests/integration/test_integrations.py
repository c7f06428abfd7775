"""export_invoice and export_update (seed 002 export / export_update) and the automatic export
updates, through the real pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from tests.support.client import Client, line

pytestmark = pytest.mark.integration

XERO = {
    "integration": "xero",
    "external_id": "INV-0042",
    "url": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=9b1f",
    "company_reference_id": "115",
}


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _exported(client: Client, **over: Any) -> dict[str, Any]:
    inv = client.finalized(client.customer(), [line(unit_price="100.00")])
    out = client.ok("export_invoice", {"invoice_id": inv["id"], **XERO, **over})
    (event,) = out.events
    assert event["type"] == "invoice.exported"
    return dict(event["data"])


def test_export_invoice_records_the_integration(client: Client) -> None:
    data = _exported(client)
    state = data["invoice"]
    assert state["export_status"] == "exported" and state["exported_at"] is not None
    (record,) = state["integration_exports"]
    assert {k: record[k] for k in XERO} == XERO
    assert record["updates"] == 0 and record["last_changes"] == []
    assert data["export"]["external_id"] == "INV-0042" and data["previous"] is None
    # the read side shows it, and export_status finds it
    reply = client.bus.query_document(
        {
            "type": "list_invoices",
            "organization_id": str(client.org),
            "payload": {"filter": {"export_status": "exported"}},
        }
    )
    assert [i["id"] for i in reply["result"]["items"]] == [state["id"]]


def test_the_same_export_again_changes_nothing_and_another_id_replaces(client: Client) -> None:
    data = _exported(client)
    invoice_id = data["invoice"]["id"]
    assert client.ok("export_invoice", {"invoice_id": invoice_id, **XERO}).events == []
    out = client.ok("export_invoice", {"invoice_id": invoice_id, **XERO, "external_id": "INV-43"})
    (event,) = out.events
    assert event["data"]["previous"]["external_id"] == "INV-0042"
    (record,) = event["data"]["invoice"]["integration_exports"]
    assert record["external_id"] == "INV-43"
    # a second integration is kept beside the first
    other = {"invoice_id": invoice_id, "integration": "lexoffice", "external_id": "lx-1"}
    state = client.ok("export_invoice", other).events[0]["data"]["invoice"]
    assert [r["integration"] for r in state["integration_exports"]] == ["lexoffice", "xero"]


def test_drafts_quotes_and_other_organizations_are_refused(client: Client) -> None:
    cust = client.customer()
    draft = client.invoice(cust, [line()])
    (error,) = client.rejected("export_invoice", {"invoice_id": str(draft), **XERO})
    assert (error["code"], error["source"]["pointer"]) == ("invalid_state", "/payload/invoice_id")
    assert error["meta"]["hint"] == "finalize it first"
    quote = client.invoice(cust, [line()], is_quote=True)
    client.ok("finalize_invoice", {"invoice_id": str(quote)})
    (error,) = client.rejected("export_invoice", {"invoice_id": str(quote), **XERO})
    assert error["code"] == "invalid_kind"
    (error,) = client.rejected("export_invoice", {"invoice_id": str(uuid.uuid4()), **XERO})
    assert error["code"] == "invoice_not_found"
    # another tenant cannot reach this organization's invoice by its id
    mine = _exported(client)["invoice"]["id"]
    other = Client(client.bus)
    other.setup_org()
    (error,) = other.rejected("export_invoice", {"invoice_id": mine, **XERO})
    assert error["code"] == "invoice_not_found"
    (error,) = other.rejected("export_update", {"invoice_id": mine, "changes": ["other"]})
    assert error["code"] == "invoice_not_found"
    (error,) = client.rejected(
        "export_invoice", {"invoice_id": mine, **XERO, "url": "javascript:alert(1)"}
    )
    assert error["source"]["pointer"] == "/payload/url"


def _listed(client: Client, export_status: str) -> set[str]:
    reply = client.bus.query_document(
        {
            "type": "list_invoices",
            "organization_id": str(client.org),
            "payload": {"filter": {"export_status": export_status}},
        }
    )
    return {i["id"] for i in reply["result"]["items"]}


def test_unexported_lists_what_could_be_exported_and_is_not(client: Client) -> None:
    """``export_status: unexported`` is the finalized invoices and credit notes (a void one
    too) that neither DATEV nor an integration took over: what ``export_invoice`` and the DATEV
    export accept. Drafts and quotes are never exported, so they are neither (they were listed
    as unexported)."""
    cust = client.customer()
    draft = str(client.invoice(cust, [line()]))
    quote = str(client.invoice(cust, [line()], is_quote=True))
    client.ok("finalize_invoice", {"invoice_id": quote})
    open_one = client.finalized(cust, [line()])["id"]
    voided = client.finalized(cust, [line()])["id"]
    credit_note = str(uuid.uuid4())
    client.ok("void_invoice", {"invoice_id": voided, "credit_note_id": credit_note})
    exported = _exported(client)["invoice"]["id"]
    assert _listed(client, "unexported") == {open_one, voided, credit_note}
    assert _listed(client, "exported") == {exported}
    assert not {draft, quote} & (_listed(client, "unexported") | _listed(client, "exported"))


def test_export_update_as_a_command(client: Client) -> None:
    invoice_id = _exported(client)["invoice"]["id"]
    payload = {"invoice_id": invoice_id, "changes": ["recipient", "recipient"], "detail": "x"}
    out = client.ok("export_update", payload)
    (event,) = out.events
    assert event["type"] == "invoice.export_updated"
    update = event["data"]["export_update"]
    assert update["integrations"] == ["xero"] and update["changes"] == ["recipient"]
    assert update["source"] == "command" and update["detail"] == "x"
    assert update["caused_by"]["command_type"] == "export_update"
    (record,) = event["data"]["invoice"]["integration_exports"]
    assert record["updates"] == 1 and record["last_changes"] == ["recipient"]
    (error,) = client.rejected(
        "export_update", {"invoice_id": invoice_id, "integration": "sage", "changes": ["other"]}
    )
    assert (error["code"], error["source"]["pointer"]) == ("not_exported", "/payload/integration")
    plain = client.finalized(client.customer(), [line()])
    (error,) = client.rejected("export_update", {"invoice_id": plain["id"], "changes": ["other"]})
    assert error["code"] == "not_exported" and error["meta"]["hint"] == "send export_invoice first"


def _updates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "invoice.export_updated"]


def test_payments_credits_write_offs_and_voids_emit_updates(client: Client) -> None:
    invoice_id = _exported(client)["invoice"]["id"]  # 100.00 net, 119.00 gross
    paid = client.ok(
        "record_payment", {"invoice_id": invoice_id, "amount": "19.00", "date": _today()}
    )
    (update,) = _updates(paid.events)
    assert update["subject"] == invoice_id and paid.events[-1] is update  # after the change
    assert update["data"]["export_update"]["changes"] == ["payment"]
    assert update["data"]["export_update"]["source"] == "automatic"
    assert update["data"]["export_update"]["caused_by"]["command_type"] == "record_payment"
    credit = client.ok(
        "issue_credit_note",
        {"invoice_id": invoice_id, "reason": "Kulanz", "lines": [line("Kulanz", "1", "10.00")]},
    )
    (update,) = _updates(credit.events)
    assert update["subject"] == invoice_id
    assert update["data"]["export_update"]["changes"] == ["credit_note"]
    # a customer payment allocated across invoices reaches the exported one too
    customer = client.state(invoice_id)["customer_id"]
    across = client.ok(
        "record_payment", {"customer_id": customer, "amount": "5.00", "date": _today()}
    )
    (update,) = _updates(across.events)
    assert update["subject"] == invoice_id
    assert update["data"]["export_update"]["changes"] == ["payment"]
    (record,) = update["data"]["invoice"]["integration_exports"]
    assert record["updates"] == 3
    write_off = {"invoice_id": invoice_id, "write_off_id": str(uuid.uuid4()), "date": _today()}
    written = client.ok("write_off_invoice", {**write_off, "reason": "uncollectible"})
    (update,) = _updates(written.events)
    assert update["data"]["export_update"]["changes"][0] == "write_off"
    (record,) = update["data"]["invoice"]["integration_exports"]
    assert record["updates"] == 4
    # an invoice that was never exported gets no update (and costs nothing)
    plain = client.finalized(client.customer(), [line()])
    out = client.ok("record_payment", {"invoice_id": plain["id"], "amount": "1", "date": _today()})
    assert _updates(out.events) == []
    # a void: the listener hears it once, with the sequence after the void's own event
    other = _exported(client)["invoice"]["id"]
    voided = client.ok("void_invoice", {"invoice_id": other})
    updates = _updates(voided.events)
    assert [u["subject"] for u in updates] == [other]
    assert "voided" in updates[0]["data"]["export_update"]["changes"]
    sequences = [e["sequence"] for e in voided.events if e["subject"] == other]
    assert sequences == sorted(sequences) and updates[0]["sequence"] == max(sequences)
