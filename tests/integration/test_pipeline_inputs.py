"""Hostile bodies and far dates through the real pipeline: rejected the first time, with a
reason, a pointer and a hint; nothing changes; processing goes on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from invoicing.pipeline import Pipeline
from invoicing.pipeline.decode import Decoded, Limits
from invoicing.pipeline.validate import DateWindow

from tests.support.client import Client, line


def _body(client: Client, payload_json: str, *, cid: str | None = None, org: str = "") -> bytes:
    return (
        f'{{"type": "create_invoice", "command_id": "{cid or uuid.uuid4()}", '
        f'"organization_id": "{org or client.org}", "payload": {payload_json}}}'
    ).encode()


def _pointers(errors: list[dict[str, Any]]) -> list[str]:
    return [e["source"]["pointer"] for e in errors]


def test_a_body_nested_10000_deep_is_rejected_to_its_organization(client: Client) -> None:
    before = client.snapshot()
    cid = str(uuid.uuid4())
    body = _body(client, "[" * 10_000 + "]" * 10_000, cid=cid)
    out = client.bus.handle_raw(body)
    assert out.status == "rejected" and out.dead_letter_reason is None
    assert out.command_id == cid and out.organization_id == str(client.org)
    [event] = out.events
    assert event["type"] == "command.rejected" and event["organizationid"] == str(client.org)
    assert event["data"]["errors"][0]["code"] == "too_deep"
    assert event["data"]["errors"][0]["meta"]["hint"]
    # the same body again (a redelivery) yields no second event
    again = client.bus.handle_raw(body)
    assert again.status == "duplicate" and again.events == []
    assert client.snapshot() == before
    # nothing was recorded for the command id: the sender can send it again, correctly
    client.ok("create_invoice", {"id": str(uuid.uuid4()), "lines": [line()]}, command_id=cid)


def test_a_deep_body_without_identity_is_unaddressable(client: Client) -> None:
    out = client.bus.handle_raw(b'{"payload": ' + b"{" * 5000)
    assert out.status == "rejected" and out.organization_id is None
    assert out.dead_letter_reason is not None and "32" in out.dead_letter_reason
    assert out.events[0]["organizationid"] is None
    out = client.bus.handle_document({"a": [[[[[[]]]]]]} | {"b": _nested(100)})
    assert out.dead_letter_reason is not None and out.errors[0]["code"] == "too_deep"
    client.customer()  # processing goes on


def _nested(n: int) -> Any:
    value: Any = {}
    for _ in range(n):
        value = {"x": value}
    return value


def test_too_large_and_broken_bodies_are_rejected_with_a_reason(client: Client) -> None:
    small = Pipeline(
        client.bus.engine,
        client.bus.deps,
        client.bus.authenticator,
        limits=Limits(max_bytes=4096, max_depth=32),
    )
    lines = json.dumps([line(description=f"Position {i}") for i in range(100)])
    out = small.handle_raw(_body(client, f'{{"id": "{uuid.uuid4()}", "lines": {lines}}}'))
    assert out.status == "rejected" and out.organization_id == str(client.org)
    assert out.errors[0]["code"] == "body_too_large" and out.errors[0]["status"] == "413"
    # a body the transport decoded already is held to the pipeline's limits all the same
    body = _body(client, f'{{"id": "{uuid.uuid4()}", "lines": {lines}}}')
    out = small.handle_raw(body, decoded=Decoded(body, json.loads(body)))
    assert out.status == "rejected" and out.errors[0]["code"] == "body_too_large"
    deep = _body(client, "[" * 40 + "]" * 40)
    out = client.bus.handle_raw(deep, decoded=Decoded(deep, json.loads(deep)))
    assert out.status == "rejected" and out.errors[0]["code"] == "too_deep"
    # cut off in the middle: the identity is still readable
    broken = _body(client, '{"id": "x", "lines": [{"desc')
    out = client.bus.handle_raw(broken)
    assert out.status == "rejected" and out.organization_id == str(client.org)
    assert out.errors[0]["code"] == "invalid_json" and out.dead_letter_reason is None
    # not JSON at all: unaddressable, for the dead-letter queue
    out = client.bus.handle_raw(b"\xff\xfe garbage")
    assert out.dead_letter_reason is not None and out.dead_letter_reason.startswith("undecodable")
    client.customer()


def test_an_issue_date_of_9999_12_31_is_rejected_not_an_overflow(client: Client) -> None:
    """It used to raise OverflowError in finalize (due date = issue date + terms) and was
    dead-lettered without a command.rejected."""
    cust = client.customer()
    iid = client.invoice(cust, [line()])
    before = client.snapshot()
    errors = client.rejected(
        "finalize_invoice", {"invoice_id": str(iid), "issue_date": "9999-12-31"}
    )
    assert _pointers(errors) == ["/payload/issue_date"]
    assert errors[0]["code"] == "date_out_of_range" and errors[0]["status"] == "422"
    assert "9999-12-31" in errors[0]["detail"] and errors[0]["meta"]["hint"]
    errors = client.rejected(
        "create_invoice",
        {"id": str(uuid.uuid4()), "customer_id": str(cust), "issue_date": "9999-12-31"},
    )
    assert _pointers(errors) == ["/payload/issue_date"]
    assert client.snapshot() == before
    assert client.finalized(cust, [line()])["number"] == "RE-2026-001"  # no number was used


@pytest.mark.parametrize(
    ("ctype", "payload", "pointers"),
    [
        (
            "create_invoice",
            {
                "due_date": "2100-01-01",
                "delivery_date": "1970-01-01",
                "service_period": {"start": "1999-12-31", "end": "2026-01-31"},
                "lines": [{"description": "x", "quantity": 1, "unit_price": 1}],
            },
            ["/payload/delivery_date", "/payload/due_date", "/payload/service_period/start"],
        ),
        (
            "record_payment",
            {"invoice_id": str(uuid.uuid4()), "amount": "1", "date": "0001-01-01"},
            ["/payload/date"],
        ),
        (
            "record_billable_entry",
            {
                "id": "tte-far",
                "date": "3000-01-01",
                "description": "x",
                "quantity": 1,
                "unit_price": 10,
            },
            ["/payload/date"],
        ),
    ],
)
def test_dates_anywhere_in_a_command_are_checked(
    client: Client, ctype: str, payload: dict[str, Any], pointers: list[str]
) -> None:
    if ctype == "create_invoice":
        payload = {"id": str(uuid.uuid4()), **payload}
    errors = client.rejected(ctype, payload)
    assert _pointers(errors) == pointers, errors
    assert all(e["code"] == "date_out_of_range" and e["meta"]["hint"] for e in errors)


def test_the_date_window_is_configurable(client: Client) -> None:
    wide = Pipeline(
        client.bus.engine,
        client.bus.deps,
        client.bus.authenticator,
        window=DateWindow(min_year=1990, years_ahead=30),
    )
    narrow = Client(wide, org=client.org)
    narrow.ok(
        "create_invoice",
        {"id": str(uuid.uuid4()), "delivery_date": "1995-05-05", "due_date": "2050-01-01"},
    )


def test_query_bodies_get_the_same_decoding_and_hints(client: Client) -> None:
    org = str(client.org)
    deep = (f'{{"type": "list_invoices", "organization_id": "{org}", "payload": ').encode()
    reply = client.bus.query_raw(deep + b"[" * 10_000)
    assert reply["status"] == "error" and reply["errors"][0]["code"] == "too_deep"
    assert reply["organization_id"] == org and reply["type"] == "list_invoices"
    reply = client.bus.query_raw(b"nope")
    assert reply["errors"][0]["code"] == "invalid_json"
    reply = client.bus.query_document(
        {"type": "list_invoices", "organization_id": org, "payload": {"page": 0}}
    )
    assert reply["status"] == "error"
    assert reply["errors"][0]["source"]["pointer"] == "/payload/page"
    assert reply["errors"][0]["meta"]["hint"] == "send a value at least 1"


def test_every_rejection_says_what_to_do(client: Client) -> None:
    """Domain errors without a hint of their own get one by their status."""
    cust = client.customer()
    draft = client.invoice(cust, [line()])
    unknown_line = client.rejected(
        "remove_line", {"invoice_id": str(draft), "line_id": str(uuid.uuid4())}
    )
    inv = client.finalized(cust, [line()])
    client.ok("void_invoice", {"invoice_id": inv["id"]})
    void_again = client.rejected("void_invoice", {"invoice_id": inv["id"]})
    assert unknown_line[0]["code"] == "line_not_found" and unknown_line[0]["status"] == "404"
    assert void_again[0]["code"] == "already_void" and void_again[0]["status"] == "409"
    for errors in (unknown_line, void_again):
        assert all(e["meta"]["hint"] for e in errors), errors
