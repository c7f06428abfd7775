"""Event schema evolution (reference A4.8 #20): a listener reading the service's events with the
published models (``invoicing.schemas.events``) keeps working when a later release adds
members (``dataschemaversion`` 2) and reads events of an earlier one that lacked optional
members. Real events, made by the pipeline on SQLite and PostgreSQL.

The snapshot's ``address`` objects and a rejection's error items were the commands' strict
models (``schemas.common.Contract``, unknown members are errors) until session 36, so a member
added there broke a reader; they are read through tolerant twins now (``AddressState``,
``ErrorItemState``).
"""

from __future__ import annotations

from typing import Any

from invoicing.schemas.events import CloudEvent, InvoiceState, RejectionData

from tests.support.client import Client, line

#: members a later release might add, at every level of the document
ADDED = {"added_in_v2": {"nested": [1, "two"]}, "zz_flag": True}
#: objects that are data, not schema: whatever they hold is read as it is
FREE = {"custom_fields", "meta"}


def _grown(doc: Any, *, into_addresses: bool = False, key: str = "") -> Any:
    if isinstance(doc, dict):
        grown = {k: _grown(v, into_addresses=into_addresses, key=k) for k, v in doc.items()}
        if key not in FREE and (into_addresses or key != "address"):
            grown.update(ADDED)
        return grown
    if isinstance(doc, list):
        return [_grown(v, into_addresses=into_addresses, key=key) for v in doc]
    return doc


def _events(client: Client) -> list[dict[str, Any]]:
    cust = client.customer()
    iid = str(client.invoice(cust, [line(), line()]))
    events = list(client.ok("finalize_invoice", {"invoice_id": iid}).events)
    pay = {"invoice_id": iid, "amount": "10.00", "date": "2026-11-21"}
    events += client.ok("record_payment", pay).events
    events += client.ok("void_invoice", {"invoice_id": iid}).events
    return events


def _read(event: dict[str, Any]) -> tuple[Any, ...]:
    """What a listener takes out of an event with the published models."""
    envelope = CloudEvent.model_validate(event)
    data = event["data"]
    invoice = InvoiceState.model_validate(data["invoice"]) if "invoice" in data else None
    return envelope.id, envelope.type, envelope.sequence, invoice


def test_events_of_a_later_release_with_added_members_read_the_same(client: Client) -> None:
    events = _events(client)
    assert {e["type"] for e in events} >= {"invoice.finalized", "payment.recorded"}
    for event in events:
        v1 = _read(event)
        later = _grown(event) | {"dataschemaversion": 2}
        v2 = _read(later)
        assert v2 == v1, event["type"]
        assert v1[3] is not None and v1[3].seller is not None  # the snapshot, its parties
    paid = next(e for e in events if e["type"] == "payment.recorded")
    assert _read(paid)[3].payments  # and the payments it carries (PaymentState)


def test_events_of_an_earlier_release_without_optional_members_are_read(client: Client) -> None:
    optional = [n for n, f in InvoiceState.model_fields.items() if not f.is_required()]
    assert len(optional) > 20
    for event in _events(client):
        if "invoice" not in event["data"]:
            continue
        earlier = {k: v for k, v in event["data"]["invoice"].items() if k not in optional}
        state = InvoiceState.model_validate(earlier)
        whole = _read(event)[3]
        assert (state.id, state.status, state.currency) == (whole.id, whole.status, whole.currency)
        envelope = {k: v for k, v in event.items() if k not in ("dataschemaversion", "sequence")}
        assert CloudEvent.model_validate(envelope).dataschemaversion == 1


def test_a_member_added_to_an_address_is_read_past(client: Client) -> None:
    finalized = next(e for e in _events(client) if e["type"] == "invoice.finalized")
    whole = InvoiceState.model_validate(finalized["data"]["invoice"])
    grown = InvoiceState.model_validate(_grown(finalized["data"]["invoice"], into_addresses=True))
    assert grown == whole and grown.seller is not None and grown.seller.address is not None


def test_a_rejection_with_members_added_to_its_errors_is_read(client: Client) -> None:
    rejected = client.send("finalize_invoice", {"invoice_id": "not-an-id"}).events
    (event,) = [e for e in rejected if e["type"] == "command.rejected"]
    read = RejectionData.model_validate(event["data"])
    grown = RejectionData.model_validate(_grown(event["data"], into_addresses=True))
    assert grown == read and read.errors[0].source.pointer == "/payload/invoice_id"
