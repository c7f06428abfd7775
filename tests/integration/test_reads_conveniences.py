"""Seed conveniences on SQLite and PostgreSQL: top-level time_entry_ids on create (seed 000),
batch restore and purge of the trash (seed 003), the dunning history read."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from invoicing.models.dunning import DunningNotice
from sqlalchemy import Engine, insert

from tests.support.client import DE_ORG, Client, line

pytestmark = pytest.mark.integration


def entry(client: Client, eid: str, **over: Any) -> None:
    payload = {
        "id": eid,
        "date": "2026-03-01",
        "description": f"Telefonat {eid}",
        "quantity": "1.5",
        "unit_price": "200",
        **over,
    }
    client.ok("record_billable_entry", payload)


def billed_on(out: Any) -> dict[str, str]:
    return {
        e["subject"]: e["data"]["entry"]["invoice_id"]
        for e in out.events
        if e["type"] == "billable_entry.billed"
    }


def test_time_entry_ids_without_lines_become_lines(client: Client) -> None:
    cust = client.customer()
    entry(client, "tte_01")
    entry(client, "tte_02", quantity="2")
    iid = str(uuid.uuid4())
    out = client.ok(
        "create_invoice",
        {"id": iid, "customer_id": str(cust), "time_entry_ids": ["tte_01", "tte_02"]},
    )
    state = out.events[0]["data"]["invoice"]
    assert [ln["billable_entry_ids"] for ln in state["lines"]] == [["tte_01"], ["tte_02"]]
    assert state["totals"]["net_total"] == "700.00"
    assert billed_on(out) == {"tte_01": iid, "tte_02": iid}


def test_time_entry_ids_with_lines_are_billed_by_the_first_line(client: Client) -> None:
    cust = client.customer()
    for eid in ("tte_01", "tte_02", "tte_03"):
        entry(client, eid)
    iid = str(uuid.uuid4())
    out = client.ok(
        "create_invoice",
        {
            "id": iid,
            "customer_id": str(cust),
            "lines": [line("Legal consultation", "3", "250.00"), line("Copies", "1", "10")],
            "time_entry_ids": ["tte_01", "tte_02", "tte_03"],
        },
    )
    state = out.events[0]["data"]["invoice"]
    assert state["lines"][0]["billable_entry_ids"] == ["tte_01", "tte_02", "tte_03"]
    assert state["lines"][1]["billable_entry_ids"] == []
    assert state["totals"]["net_total"] == "760.00"  # the lines' amounts, nothing added
    assert set(billed_on(out)) == {"tte_01", "tte_02", "tte_03"}
    # deleting the draft releases them
    out = client.ok("delete_invoice", {"invoice_id": iid})
    assert sum(e["type"] == "billable_entry.released" for e in out.events) == 3


def test_time_entry_ids_errors_point_into_the_list(client: Client) -> None:
    cust = client.customer()
    entry(client, "tte_01")
    entry(client, "tte_usd", currency="USD")
    client.invoice(cust, [], time_entry_ids=["tte_01"])
    base = {"customer_id": str(cust), "lines": [line()]}
    errors = client.rejected(
        "create_invoice", {**base, "id": str(uuid.uuid4()), "time_entry_ids": ["nope"]}
    )
    assert errors[0]["source"]["pointer"] == "/payload/time_entry_ids/0"
    assert errors[0]["code"] == "entry_not_found"
    errors = client.rejected(
        "create_invoice", {**base, "id": str(uuid.uuid4()), "time_entry_ids": ["x", "tte_01"]}
    )
    assert errors[0]["source"]["pointer"] == "/payload/time_entry_ids/0"
    errors = client.rejected(
        "create_invoice", {**base, "id": str(uuid.uuid4()), "time_entry_ids": ["tte_01"]}
    )
    assert errors[0]["code"] == "entry_billed"
    assert errors[0]["source"]["pointer"] == "/payload/time_entry_ids/0"
    errors = client.rejected(
        "create_invoice", {**base, "id": str(uuid.uuid4()), "time_entry_ids": ["tte_usd"]}
    )
    assert errors[0]["code"] == "currency_mismatch"
    errors = client.rejected(
        "create_invoice", {**base, "id": str(uuid.uuid4()), "time_entry_ids": ["a", "a"]}
    )
    assert errors[0]["source"]["pointer"] == "/payload/time_entry_ids"


def test_an_entry_line_s_error_points_at_the_entry_as_sent(client: Client) -> None:
    """Entries become lines in the order of their dates, not in the order they are named; an
    error of such a line names the entry where the publisher put it in ``entry_ids`` /
    ``time_entry_ids`` (it named the line's index in date order, so another entry, with a
    path into a line the command does not have)."""
    cust = client.customer()
    entry(client, "late", date="2026-03-05")
    entry(client, "early", date="2026-03-01", currency="USD")  # sorts first, sent second
    draft = str(client.invoice(cust, []))
    sent = {"invoice_id": draft, "entry_ids": ["late", "early"]}
    (error,) = client.rejected("invoice_billable_entries", sent)
    assert (error["code"], error["source"]["pointer"]) == (
        "currency_mismatch",
        "/payload/entry_ids/1",
    )
    new = {"id": str(uuid.uuid4()), "customer_id": str(cust), "time_entry_ids": ["late", "early"]}
    (error,) = client.rejected("create_invoice", new)
    assert (error["code"], error["source"]["pointer"]) == (
        "currency_mismatch",
        "/payload/time_entry_ids/1",
    )
    # a rate the line cannot have on the day: the line's own check, at the entry as sent
    entry(client, "old_rate", date="2026-03-02", tax_rate="16")
    (error,) = client.rejected(
        "invoice_billable_entries", {"invoice_id": draft, "entry_ids": ["late", "old_rate"]}
    )
    assert error["source"]["pointer"] == "/payload/entry_ids/1", error


def test_batch_restore_and_purge_of_the_trash(client: Client) -> None:
    cust = client.customer()
    a, b, c = (str(client.invoice(cust, [line()])) for _ in range(3))
    live = str(client.invoice(cust, [line()]))
    client.ok("batch", {"action": "delete", "invoice_ids": [a, b, c]})
    out = client.ok("batch", {"action": "restore", "invoice_ids": [a, live, b]})
    assert [e["subject"] for e in out.events if e["type"] == "invoice.restored"] == [a, b]
    rejected = [e for e in out.events if e["type"] == "command.rejected"]
    errors = rejected[0]["data"]["errors"]
    assert [(x["code"], x["source"]["pointer"]) for x in errors] == [
        ("not_in_trash", "/payload/invoice_ids/1")
    ]
    out = client.ok("batch", {"action": "purge", "invoice_ids": [c, a, str(uuid.uuid4())]})
    assert [e["subject"] for e in out.events if e["type"] == "invoice.purged"] == [c]
    errors = next(e for e in out.events if e["type"] == "command.rejected")["data"]["errors"]
    assert [x["source"]["pointer"] for x in errors] == [
        "/payload/invoice_ids/1",
        "/payload/invoice_ids/2",
    ]
    assert client.rejected("restore_invoice", {"invoice_id": c})[0]["code"] == "invoice_not_found"
    # an id named twice is refused whole (before, the second mention failed on its own as
    # not_in_trash, a partial rejection for nothing)
    errors = client.rejected("batch", {"action": "restore", "invoice_ids": [b, b]})
    assert [(x["code"], x["source"]["pointer"]) for x in errors] == [
        ("invalid_attribute", "/payload/invoice_ids")
    ]


def test_dunning_history_per_invoice_and_customer(client: Client, engine: Engine) -> None:
    first, second = client.customer(), client.customer()
    a = client.finalized(first, [line()], issue_date=dt.date(2026, 1, 5))
    b = client.finalized(second, [line()], issue_date=dt.date(2026, 1, 6))
    rows = [
        (a["id"], 1, dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC), "0.00"),
        (a["id"], 2, dt.datetime(2026, 2, 15, 9, tzinfo=dt.UTC), "5.00"),
        (b["id"], 1, dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC), "0.00"),
    ]
    with engine.begin() as conn:
        for invoice_id, level, sent_at, fee in rows:
            conn.execute(
                insert(DunningNotice).values(
                    organization_id=client.org,
                    invoice_id=uuid.UUID(invoice_id),
                    level=level,
                    command_id=uuid.uuid4(),
                    as_of=sent_at.date(),
                    sent_at=sent_at,
                    days_overdue=(sent_at.date() - dt.date(2026, 1, 19)).days,
                    currency="EUR",
                    open_amount=Decimal("119.00"),
                    fee=Decimal(fee),
                    interest=Decimal("0.1234"),
                    message_id=f"<{uuid.uuid4()}@test>",
                    delivery_status="sent",
                )
            )

    def ask(payload: dict[str, Any], org: uuid.UUID | None = None) -> dict[str, Any]:
        doc = {"type": "list_dunning_notices", "organization_id": str(org or client.org)}
        reply: dict[str, Any] = client.bus.query_document({**doc, "payload": payload})
        return reply

    every = ask({})["result"]
    assert [(n["invoice_id"], n["level"]) for n in every["items"]] == [
        (a["id"], 2),
        (b["id"], 1),
        (a["id"], 1),
    ]
    assert every["items"][0]["fee"] == "5.00" and every["items"][0]["interest"] == "0.12"
    per_invoice = ask({"invoice_id": a["id"], "sort": ["level"]})["result"]
    assert [n["level"] for n in per_invoice["items"]] == [1, 2]
    assert per_invoice["items"][0]["invoice_number"] == a["number"]
    per_customer = ask({"customer_id": [str(second)]})["result"]
    assert [n["invoice_id"] for n in per_customer["items"]] == [b["id"]]
    in_range = ask({"sent_at": {"gte": "2026-02-02", "lt": "2026-02-15"}})["result"]
    assert [n["invoice_id"] for n in in_range["items"]] == [b["id"]]
    fuzzy = ask({"sent_at": "this_month", "as_of": "2026-02-20", "level": [2]})["result"]
    assert fuzzy["page"]["total"] == 1
    assert ask({}, org=uuid.uuid4())["result"]["items"] == []
    missing = ask({"invoice_id": str(uuid.uuid4())})
    assert missing["errors"][0]["source"]["pointer"] == "/payload/invoice_id"


def test_per_invoice_overrides(client: Client) -> None:
    client.ok(
        "configure_organization",
        {
            **DE_ORG,
            "bank_accounts": [
                {"id": "usd", "iban": "DE02120300000000202051", "bank_name": "Deutsche Kreditbank"},
                {"id": "be", "iban": "BE68539007547034", "bic": "AAAABEBBXXX"},
            ],
        },
    )
    cust = client.customer()
    fields = {
        "subject": "Beratung März",
        "recipient_text": "Acme GmbH\nz. Hd. Buchhaltung\nFriedrichstraße 10\n10117 Berlin",
        "invoicing_party_text": "Kanzlei Müller & Partner\nHohenzollernring 1, 50672 Köln",
        "vat_number": "de 136695976",
        "bank_account_id": "usd",
        "purchase_order_number": "PO-77",
    }
    inv = client.finalized(cust, [line()], **fields)
    assert inv["subject"] == "Beratung März" and inv["purchase_order_number"] == "PO-77"
    assert inv["recipient_text"].startswith("Acme GmbH\nz. Hd.")
    assert inv["invoicing_party_text"].endswith("50672 Köln")
    assert inv["vat_number"] == "DE136695976" and inv["buyer"]["vat_id"] == "DE136695976"
    assert inv["bank_account_id"] == "usd"
    assert inv["seller"]["iban"] == "DE02120300000000202051"
    assert inv["seller"]["bank_name"] == "Deutsche Kreditbank"
    plain = client.finalized(cust, [line()])
    assert plain["seller"]["iban"] == DE_ORG["iban"] and plain["vat_number"] is None
    # a duplicate keeps subject and account; the recipient's own data stays with the recipient
    dup_id = str(uuid.uuid4())
    out = client.ok("duplicate_invoice", {"invoice_id": inv["id"], "new_invoice_id": dup_id})
    dup = out.events[0]["data"]["invoice"]
    assert (dup["subject"], dup["bank_account_id"], dup["vat_number"]) == (
        "Beratung März",
        "usd",
        "DE136695976",
    )
    errors = client.rejected(
        "create_invoice", {"id": str(uuid.uuid4()), "bank_account_id": "nope", "lines": []}
    )
    assert errors[0]["code"] == "bank_account_not_found"
    assert errors[0]["source"]["pointer"] == "/payload/bank_account_id"
    errors = client.rejected(
        "create_invoice", {"id": str(uuid.uuid4()), "vat_number": "DE000", "lines": []}
    )
    assert errors[0]["code"] == "invalid_vat_id"
    assert errors[0]["source"]["pointer"] == "/payload/vat_number"
    errors = client.rejected(
        "configure_organization",
        {**DE_ORG, "bank_accounts": [{"id": "a", "iban": "DE00"}, {"id": "a", "iban": "DE00"}]},
    )
    assert {e["source"]["pointer"] for e in errors} >= {
        "/payload/bank_accounts/0/iban",
        "/payload/bank_accounts/1/id",
    }
    # an account removed after the draft named it stops the finalize, with a pointer
    draft = client.invoice(cust, [line()], bank_account_id="be")
    client.ok("configure_organization", DE_ORG)
    errors = client.rejected("finalize_invoice", {"invoice_id": str(draft)})
    assert errors[0]["code"] == "bank_account_not_found"


def test_a_credit_note_names_the_account_its_invoice_named(client: Client) -> None:
    """An invoice on the organization's second account (a trust account, say): its credit
    notes name that account too, even after the account was removed from the profile (they
    named the organization's main account before session 34)."""
    trust = {"id": "trust", "iban": "DE02120300000000202051", "bic": "BYLADEM1001"}
    client.ok("configure_organization", {**DE_ORG, "bank_accounts": [trust]})
    inv = client.finalized(client.customer(), [line(), line()], bank_account_id="trust")
    assert inv["seller"]["iban"] == trust["iban"]
    part = client.ok(
        "issue_credit_note",
        {"invoice_id": inv["id"], "reason": "Teilgutschrift", "lines": [line()]},
    )
    client.ok("configure_organization", {**DE_ORG, "bank_accounts": []})
    rest = client.ok("issue_credit_note", {"invoice_id": inv["id"], "reason": "Storno"})
    for out in (part, rest):
        note = next(e for e in out.events if e["type"] == "credit_note.issued")["data"]["invoice"]
        seller = note["seller"]
        assert (seller["iban"], seller["bic"]) == (trust["iban"], trust["bic"])
        assert note["bank_account_id"] == "trust"
        assert seller["name"] == DE_ORG["name"]  # the rest is the issuer's as it is now
