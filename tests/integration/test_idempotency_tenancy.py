"""Idempotency by command_id, tenancy for every command, immutability in the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing.models import Invoice, InvoiceLine
from invoicing.pipeline import Pipeline
from invoicing.schemas.commands import COMMAND_TYPES
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from tests.support.client import Client, customer_payload, line


def test_repeat_is_a_no_op_and_other_payload_is_rejected(client: Client) -> None:
    cust = client.customer()
    iid = str(client.invoice(cust, [line()]))
    cid = uuid.uuid4()
    first = client.send("finalize_invoice", {"invoice_id": iid}, command_id=cid)
    assert first.status == "applied" and len(first.events) == 1
    again = client.send("finalize_invoice", {"invoice_id": iid}, command_id=cid)
    assert again.status == "duplicate" and again.events == []
    other = client.send("finalize_invoice", {"invoice_id": str(uuid.uuid4())}, command_id=cid)
    assert other.status == "rejected" and other.errors[0]["code"] == "idempotency_conflict"
    # a second finalize of the same invoice consumed no number
    nxt = client.finalized(cust, [line()])
    assert nxt["number"] == "RE-2026-002"


@pytest.mark.parametrize("batching", [False, True], ids=["alone", "group-commit"])
def test_a_reused_command_id_of_another_type_is_a_conflict_not_a_duplicate(
    client: Client, batching: bool
) -> None:
    """Stripe semantics: a key reused for another endpoint is an error. The inbox compared only
    the payload's hash, so a ``void_invoice`` sent with a ``finalize_invoice``'s id and the
    same payload was acked as a duplicate -- reported done, never applied."""
    if batching:
        client.bus.enable_batching(16)
    cust = client.customer()
    iid = str(client.invoice(cust, [line()]))
    cid = uuid.uuid4()
    assert client.send("finalize_invoice", {"invoice_id": iid}, command_id=cid).status == "applied"
    other = client.send("void_invoice", {"invoice_id": iid}, command_id=cid)
    assert other.status == "rejected", other
    assert other.errors[0]["code"] == "idempotency_conflict"
    assert client.state(iid)["status"] == "finalized"  # not voided, and nobody told otherwise
    # the same for an id whose first command was rejected (its rejection is recorded)
    rid = uuid.uuid4()
    missing = {"invoice_id": str(uuid.uuid4())}
    assert client.send("finalize_invoice", missing, command_id=rid).status == "rejected"
    again = client.send("delete_invoice", missing, command_id=rid)
    assert again.status == "rejected" and again.errors[0]["code"] == "idempotency_conflict"
    # the first command itself, repeated, is still a duplicate
    assert client.send("finalize_invoice", {"invoice_id": iid}, command_id=cid).status == (
        "duplicate"
    )
    assert client.send("finalize_invoice", missing, command_id=rid).status == "duplicate"


def test_rejected_command_repeated_is_a_no_op(client: Client) -> None:
    cid = uuid.uuid4()
    payload = {"invoice_id": str(uuid.uuid4())}
    assert client.send("finalize_invoice", payload, command_id=cid).status == "rejected"
    again = client.send("finalize_invoice", payload, command_id=cid)
    assert again.status == "duplicate" and again.events == []


def test_command_ids_are_per_organization(client: Client) -> None:
    other = Client(client.bus)
    other.setup_org()
    cid = uuid.uuid4()
    assert (
        client.send("create_customer", customer_payload(uuid.uuid4()), command_id=cid).status
        == "applied"
    )
    assert (
        other.send("create_customer", customer_payload(uuid.uuid4()), command_id=cid).status
        == "applied"
    )


def _world(a: Client) -> dict[str, Any]:
    cust = a.customer()
    draft = a.invoice(cust, [line(billable_entry_ids=[])])
    a.ok(
        "record_billable_entry",
        {"id": "tte_a", "date": "2026-01-01", "description": "x", "quantity": 1, "unit_price": 10},
    )
    a.ok("create_budget", {"id": "bud-a", "name": "A's budget", "amount": "100.00"})
    a.ok(
        "configure_subsidiary",
        {"id": "sub-a", "name": "A Tochter", "address": {"country_code": "DE"}},
    )
    fin = a.finalized(cust, [line()])
    pid = str(uuid.uuid4())
    a.ok(
        "record_payment",
        {"invoice_id": fin["id"], "amount": 1, "date": "2026-01-02", "payment_id": pid},
    )
    # unapplied credit (no USD invoice to allocate to) that another organization might refund
    a.ok(
        "record_payment",
        {"customer_id": str(cust), "currency": "USD", "amount": 5, "date": "2026-01-02"},
    )
    trashed = a.invoice(cust, [line()])
    a.ok("delete_invoice", {"invoice_id": str(trashed)})
    a.ok("block_dunning", {"customer_id": str(cust), "reason": "A's dispute"})
    return {
        "customer": str(cust),
        "draft": str(draft),
        "final": fin["id"],
        "payment": pid,
        "line": fin["lines"][0]["id"],
        "trashed": str(trashed),
    }


def _payloads(w: dict[str, Any]) -> dict[str, dict[str, Any]]:
    new = str(uuid.uuid4())
    return {
        "configure_organization": {"name": "B", "address": {"country_code": "DE"}},
        "create_customer": customer_payload(uuid.UUID(w["customer"])),
        "update_customer": customer_payload(uuid.UUID(w["customer"]), company="Hijacked"),
        "create_invoice": {"id": w["draft"], "customer_id": w["customer"], "lines": [line()]},
        "update_invoice": {"id": w["draft"], "notes": "hijacked"},
        "add_line": {"invoice_id": w["draft"], "line": line()},
        "remove_line": {"invoice_id": w["final"], "line_id": w["line"]},
        "delete_invoice": {"invoice_id": w["draft"]},
        "restore_invoice": {"invoice_id": w["trashed"]},
        "purge_invoice": {"invoice_id": w["trashed"]},
        "finalize_invoice": {"invoice_id": w["draft"]},
        "mark_sent": {"invoice_id": w["final"]},
        "record_payment": {"invoice_id": w["final"], "amount": 1, "date": "2026-01-03"},
        "delete_payment": {"invoice_id": w["final"], "payment_id": w["payment"]},
        "mark_paid": {"invoice_id": w["final"]},
        "apply_customer_credit": {"customer_id": w["customer"], "invoice_id": w["final"]},
        "refund_customer_credit": {
            "customer_id": w["customer"],
            "currency": "USD",
            "date": "2026-01-05",
        },
        "void_invoice": {"invoice_id": w["final"]},
        "issue_standalone_credit_note": {
            "credit_note_id": w["final"],
            "customer_id": w["customer"],
            "reason": "hijack",
            "lines": [line()],
        },
        "write_off_invoice": {
            "invoice_id": w["final"],
            "date": "2026-01-04",
            "reason": "uncollectible",
        },
        "reverse_write_off": {
            "invoice_id": w["final"],
            "write_off_id": w["payment"],
            "date": "2026-01-05",
        },
        "issue_credit_note": {"invoice_id": w["final"]},
        "change_recipient": {
            "invoice_id": w["final"],
            "customer_id": w["customer"],
            "new_invoice_id": new,
        },
        "duplicate_invoice": {"invoice_id": w["final"], "new_invoice_id": new},
        "batch": {"action": "void", "invoice_ids": [w["final"], w["draft"]]},
        "check_overdue": {"as_of": "2099-01-01"},
        "record_billable_entry": {
            "id": "tte_a",
            "date": "2026-01-01",
            "description": "hijack",
            "quantity": 9,
            "unit_price": 99,
        },
        "invoice_billable_entries": {"invoice_id": w["draft"], "entry_ids": ["tte_a"]},
        "create_budget": {"id": "bud-a", "name": "hijack", "amount": 1},
        "update_budget": {"id": "bud-a", "name": "hijacked"},
        "close_budget": {"id": "bud-a"},
        "configure_subsidiary": {
            "id": "sub-a",
            "name": "Hijacked",
            "address": {"country_code": "DE"},
        },
        "send_invoice": {"invoice_id": w["final"], "to": ["attacker@evil.example"]},
        "configure_datev": {
            "consultant_number": 29098,
            "client_number": 55003,
            "chart": "SKR03",
            "account_length": 4,
            "debtor_accounts": {w["customer"]: 10001},
        },
        "export_datev": {"date_from": "2020-01-01", "date_to": "2099-12-31"},
        "export_csv": {},
        "configure_dunning": {"levels": [{"days_after_due": 1, "fee": "5.00"}]},
        "send_dunning_notices": {"as_of": "2099-01-01"},
        "publish_invoice": {"invoice_id": w["final"]},
        "unpublish_invoice": {"invoice_id": w["final"]},
        "block_dunning": {"invoice_id": w["final"], "reason": "Hijacked"},
        "lift_dunning_block": {"customer_id": w["customer"]},
        "export_invoice": {"invoice_id": w["final"], "integration": "xero", "external_id": "X-1"},
        "export_update": {"invoice_id": w["final"], "changes": ["other"]},
    }


def test_every_command_type_is_covered_by_the_tenancy_test() -> None:
    missing = set(COMMAND_TYPES) - set(
        _payloads(
            {
                k: str(uuid.uuid4())
                for k in ("customer", "draft", "final", "payment", "line", "trashed")
            }
        )
    )
    assert not missing, f"add a cross-tenant payload for {sorted(missing)} to _payloads()"


@pytest.mark.parametrize(
    "ctype",
    sorted(
        _payloads(
            {
                k: str(uuid.uuid4())
                for k in ("customer", "draft", "final", "payment", "line", "trashed")
            }
        )
    ),
)
def test_another_organization_can_never_touch_data(bus: Pipeline, ctype: str) -> None:
    a = Client(bus)
    a.setup_org()
    world = _world(a)
    before = a.snapshot()
    b = Client(bus)
    b.setup_org()
    outcome = b.send(ctype, _payloads(world)[ctype])
    assert a.snapshot() == before, f"{ctype} of organization B changed organization A"
    for event in outcome.events:
        assert event["organizationid"] == str(b.org)
        assert "Hijacked" not in str(event["data"]) or event["organizationid"] == str(b.org)
    own_scope = (
        "configure_organization",
        "create_customer",
        "create_invoice",
        "check_overdue",
        "record_billable_entry",
        "create_budget",
        "configure_subsidiary",
        "configure_datev",
        "export_datev",
        "export_csv",
        "configure_dunning",
        "send_dunning_notices",
    )
    if ctype == "batch":  # each id is rejected on its own
        errors = outcome.events[-1]["data"]["errors"]
        assert [e["status"] for e in errors] == ["404", "404"]
    elif ctype not in own_scope:
        assert outcome.status == "rejected", (ctype, outcome.events)
        assert outcome.errors[0]["status"] == "404"


def test_database_refuses_to_change_a_finalized_invoice(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line()])
    iid = uuid.UUID(inv["id"])
    attempts = [
        update(Invoice)
        .where(Invoice.organization_id == client.org, Invoice.id == iid)
        .values(gross_total=1),
        update(Invoice)
        .where(Invoice.organization_id == client.org, Invoice.id == iid)
        .values(number="RE-FAKE"),
        update(InvoiceLine)
        .where(InvoiceLine.organization_id == client.org, InvoiceLine.invoice_id == iid)
        .values(unit_price=1),
    ]
    for stmt in attempts:
        with client.bus.uow_factory() as uow, pytest.raises(DBAPIError):
            uow.session.execute(stmt)
            uow.session.flush()
    with client.bus.uow_factory() as uow, pytest.raises(DBAPIError):
        uow.session.execute(text("DELETE FROM invoices WHERE number = :n"), {"n": inv["number"]})
    # bookkeeping columns still change
    with client.bus.uow_factory() as uow:
        uow.session.execute(
            update(Invoice)
            .where(Invoice.organization_id == client.org, Invoice.id == iid)
            .values(status="sent")
        )
        uow.commit()
