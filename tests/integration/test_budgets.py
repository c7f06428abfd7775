"""Budgets through the pipeline on SQLite and PostgreSQL: create/update/close_budget, seed 002's
preview (preview_invoice) by every method, and invoice_billable_entries billing exactly what
was previewed; what is invoiced against a budget (get_budget, list_budgets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from invoicing.domain.billing import content_hash
from invoicing.models import BillableEntry
from invoicing.pipeline import Pipeline

from tests.support.client import DE_ORG, Client, line

pytestmark = pytest.mark.integration


def query(c: Client, qtype: str, payload: dict[str, Any]) -> dict[str, Any]:
    return c.bus.query_document({"type": qtype, "organization_id": str(c.org), "payload": payload})


def ok(c: Client, qtype: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = query(c, qtype, payload)
    assert reply["status"] == "ok", reply["errors"]
    return reply["result"]  # type: ignore[no-any-return]


def _budget(c: Client, bid: str = "bud-1", **over: Any) -> dict[str, Any]:
    payload = {
        "id": bid,
        "name": "Mandat Acme 2026",
        "case_id": "AZ 12/26",
        "amount": "1000.00",
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
        "services": [
            {"id": "svc-a", "name": "Beratung", "amount": "600.00"},
            {"id": "svc-b", "name": "Bücher", "amount": "400.00", "tax_rate": 7},
        ],
        **over,
    }
    out = c.ok("create_budget", payload)
    assert out.events[0]["type"] == "budget.created"
    return out.events[0]["data"]["budget"]  # type: ignore[no-any-return]


def _entry(c: Client, eid: str, **over: Any) -> None:
    payload = {
        "id": eid,
        "date": "2026-03-02",
        "description": f"Arbeit {eid}",
        "quantity": "1.5",
        "unit": "hours",
        "unit_price": "200.00",
        "budget_id": "bud-1",
        "service_id": "svc-a",
        **over,
    }
    c.ok("record_billable_entry", payload)


def _draft(c: Client, **fields: Any) -> uuid.UUID:
    return c.invoice(c.customer(), [], **fields)


def _lines(preview: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            p["line"]["description"],
            p["line"]["quantity"],
            p["line"]["unit_price"],
            p["line"]["tax_rate"],
            p["line"]["amount"],
            p["budget_id"],
            p["service_id"],
            tuple(p["entry_ids"]),
        )
        for group in preview["previews"]
        for p in group["lines"]
    ]


def _billed(state: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            ln["description"],
            ln["quantity"],
            ln["unit_price"],
            ln["tax_rate"],
            ln["amount"],
            ln["budget_id"],
            ln["service_id"],
            tuple(ln["billable_entry_ids"]),
        )
        for ln in state["lines"]
    ]


def _bill(c: Client, invoice_id: uuid.UUID, selection: dict[str, Any]) -> dict[str, Any]:
    out = c.ok("invoice_billable_entries", {"invoice_id": str(invoice_id), "budget": selection})
    return out.events[0]["data"]["invoice"]  # type: ignore[no-any-return]


def test_actuals_by_service_preview_is_what_gets_billed(client: Client) -> None:
    c = client
    _budget(c)
    _entry(c, "t1")
    _entry(c, "t2", date="2026-03-09")
    _entry(c, "t3", service_id="svc-b", unit_price="150.00", tax_rate=7)
    _entry(c, "x1", kind="expense", description="Gerichtskosten", unit="piece", quantity=1)
    _entry(c, "other", budget_id=None, service_id=None)  # not on the budget
    selection = {
        "budget_ids": ["bud-1"],
        "invoicing_method": "uninvoiced_time_and_expenses",
        "invoicing_by": "service",
        "display_format": "{service} ({date_from} – {date_to})",
        "expense_display_format": "Auslage {expense}",
        "locale": "de_DE",
    }
    draft = _draft(c)
    preview = ok(c, "preview_invoice", {**selection, "invoice_id": str(draft)})
    assert preview["invoicing_method_id"] == 1
    assert _lines(preview) == [
        ("Beratung (02.03.2026 – 09.03.2026)", "3.0", "200.00", "19", "600.00", "bud-1", "svc-a",
         ("t1", "t2")),
        ("Bücher (02.03.2026 – 02.03.2026)", "1.5", "150.00", "7", "225.00", "bud-1", "svc-b",
         ("t3",)),
        ("Auslage Gerichtskosten", "1", "200.00", "19", "200.00", "bud-1", "svc-a", ("x1",)),
    ]  # fmt: skip
    group = preview["previews"][0]
    assert group["totals"]["net_total"] == "1025.00"
    assert preview["attributions"] == [
        {
            "budget_id": "bud-1",
            "currency": "EUR",
            "amount": "1025.00",
            "date_from": "2026-03-02",
            "date_to": "2026-03-09",
        }
    ]
    state = _bill(c, draft, selection)
    assert _billed(state) == _lines(preview)
    assert state["totals"] == group["totals"]
    budget = ok(c, "get_budget", {"budget_id": "bud-1"})["budget"]
    assert (budget["invoiced"], budget["remaining"], budget["uninvoiced_entries"]) == (
        "1025.00",
        "-25.00",
        0,
    )
    assert [(s["id"], s["invoiced"]) for s in budget["services"]] == [
        ("svc-a", "800.00"),
        ("svc-b", "225.00"),
    ]
    # the entries are billed now: the same preview has nothing left
    again = query(c, "preview_invoice", selection)
    assert again["errors"][0]["code"] == "nothing_to_invoice"


def test_percentage_and_uninvoiced_amount_then_void_gives_the_budget_back(client: Client) -> None:
    c = client
    _budget(c, tax_rate=19)
    half = {
        "budget_ids": ["bud-1"],
        "invoicing_method": "percentage",
        "invoicing_by": "budget",
        "percentage": 40,
        "display_format": "{percentage} % of {budget}",
        "locale": "en_US",
    }
    preview = ok(c, "preview_invoice", half)
    assert _lines(preview) == [
        ("40 % of Mandat Acme 2026", "0.4", "1000.00", "19", "400.00", "bud-1", None, ())
    ]
    first = _draft(c)
    assert _billed(_bill(c, first, half)) == _lines(preview)
    too_much = {**half, "percentage": 70}
    errors = query(c, "preview_invoice", too_much)["errors"]
    assert [(e["code"], e["source"]["pointer"], e["meta"]["hint"]) for e in errors] == [
        ("exceeds_budget", "/payload/percentage", "at most 60.0000 % remains")
    ]
    second = _draft(c)
    rejected = c.rejected(
        "invoice_billable_entries", {"invoice_id": str(second), "budget": too_much}
    )
    # the command's percentage lies in its budget selection (before: /payload/percentage, a
    # field invoice_billable_entries does not have)
    assert rejected[0]["source"]["pointer"] == "/payload/budget/percentage"
    rest = {"budget_ids": ["bud-1"], "invoicing_method": "uninvoiced_amount"}
    # 400.00 was invoiced by budget, on no service: the services' rests would exceed the budget
    by_service = query(c, "preview_invoice", {**rest, "invoicing_by": "service"})
    assert by_service["errors"][0]["code"] == "exceeds_budget"
    rest = {**rest, "invoicing_by": "budget"}
    assert ok(c, "preview_invoice", rest)["invoicing_method_id"] == 2
    state = _bill(c, second, rest)
    assert [ln["amount"] for ln in state["lines"]] == ["600.00"]
    assert ok(c, "get_budget", {"budget_id": "bud-1"})["budget"]["remaining"] == "0.00"
    # finalize and void the first invoice: its 400.00 is not invoiced any more
    c.ok("finalize_invoice", {"invoice_id": str(first)})
    c.ok("void_invoice", {"invoice_id": str(first)})
    assert ok(c, "get_budget", {"budget_id": "bud-1"})["budget"]["remaining"] == "400.00"
    # a trashed draft gives its share back too
    c.ok("delete_invoice", {"invoice_id": str(second)})
    assert ok(c, "get_budget", {"budget_id": "bud-1"})["budget"]["remaining"] == "1000.00"


def test_preview_errors_have_pointers_like_the_seed(client: Client) -> None:
    c = client
    _budget(c)
    missing = query(
        c,
        "preview_invoice",
        {"budget_ids": ["bud-1"], "invoicing_method": "percentage", "invoicing_by": "budget"},
    )
    assert [(e["detail"], e["source"]["pointer"]) for e in missing["errors"]] == [
        ("can't be blank", "/payload/percentage")
    ]
    unknown = query(c, "preview_invoice", {"budget_ids": ["nope"], "invoicing_method": "percentage",
                                           "invoicing_by": "budget", "percentage": 1})  # fmt: skip
    assert [(e["code"], e["source"]["pointer"]) for e in unknown["errors"]] == [
        ("budget_not_found", "/payload/budget_ids/0")
    ]
    placeholder = query(
        c,
        "preview_invoice",
        {"budget_ids": ["bud-1"], "invoicing_method": "uninvoiced_amount",
         "invoicing_by": "budget", "display_format": "{client}", "locale": "zz"},
    )  # fmt: skip
    assert [(e["code"], e["source"]["pointer"]) for e in placeholder["errors"]] == [
        ("unknown_placeholder", "/payload/display_format"),
        ("invalid_locale", "/payload/locale"),
    ]


def test_amounts_too_large_to_bill_are_refused_at_their_field(client: Client) -> None:
    """An entry of 10^15 hours at 10^15 was recorded and then crashed preview_invoice and
    invoice_billable_entries (InvalidOperation rounding its 30 digits); entries whose group
    passes 10^14 were refused at /lines/0, a field neither message has."""
    c = client
    _budget(c)
    huge = c.rejected(
        "record_billable_entry",
        {"id": "h", "date": "2026-03-02", "description": "x", "quantity": "999999999999999",
         "unit_price": "999999999999999.99", "budget_id": "bud-1"},
    )  # fmt: skip
    assert [(e["code"], e["source"]["pointer"]) for e in huge] == [
        ("amount_too_large", "/payload/quantity")
    ]
    for i in range(3):
        _entry(c, f"g{i}", quantity="9999999999", unit_price="9999.99")
    selection = {"budget_ids": ["bud-1"], "invoicing_method": "uninvoiced_time_and_expenses",
                 "invoicing_by": "budget"}  # fmt: skip
    errors = query(c, "preview_invoice", selection)["errors"]
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("amount_too_large", "/payload/budget_ids/0")
    ]
    draft = _draft(c)
    errors = c.rejected("invoice_billable_entries", {"invoice_id": str(draft), "budget": selection})
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("amount_too_large", "/payload/budget/budget_ids/0")
    ]
    assert "split" in errors[0]["meta"]["hint"]


def test_budget_commands_guard_their_rules(client: Client) -> None:
    c = client
    created = _budget(c)
    assert created["currency"] == "EUR" and created["status"] == "open"
    assert c.rejected("create_budget", {"id": "bud-1", "name": "x", "amount": 1})[0]["code"] == (
        "budget_exists"
    )
    bad = c.rejected("update_budget", {"id": "bud-1", "amount": "900.00"})
    assert [(e["code"], e["source"]["pointer"]) for e in bad] == [
        ("services_do_not_add_up", "/payload/services")
    ]
    cents = c.rejected("create_budget", {"id": "bud-2", "name": "x", "amount": "1.005"})
    assert cents[0]["source"]["pointer"] == "/payload/amount"
    draft = _draft(c)
    _bill(c, draft, {"budget_ids": ["bud-1"], "invoicing_method": "percentage",
                     "invoicing_by": "service", "percentage": 50})  # fmt: skip
    below = c.rejected("update_budget", {"id": "bud-1", "amount": "100.00", "services": []})
    assert below[0]["code"] == "budget_below_invoiced"
    services = [{"id": "svc-a", "name": "A", "amount": "100.00"},
                {"id": "svc-b", "name": "B", "amount": "900.00"}]  # fmt: skip
    lowered = c.rejected("update_budget", {"id": "bud-1", "services": services})
    assert [(e["code"], e["source"]["pointer"]) for e in lowered] == [
        ("budget_below_invoiced", "/payload/services/0/amount")  # 300.00 invoiced
    ]
    updated = c.ok("update_budget", {"id": "bud-1", "name": "Mandat Acme (neu)"})
    assert updated.events[0]["data"]["budget"]["name"] == "Mandat Acme (neu)"
    closed = c.ok("close_budget", {"id": "bud-1"}).events[0]["data"]["budget"]
    assert closed["status"] == "closed"
    assert c.rejected("close_budget", {"id": "bud-1"})[0]["code"] == "budget_closed"
    manual = c.rejected("add_line", {"invoice_id": str(draft), "line": line(budget_id="bud-1")})
    assert [(e["code"], e["source"]["pointer"]) for e in manual] == [
        ("budget_closed", "/payload/line/budget_id")
    ]
    listed = ok(c, "list_budgets", {"case_id": "AZ 12/26", "status": "closed"})
    assert [b["id"] for b in listed["items"]] == ["bud-1"]
    assert listed["items"][0]["invoiced"] == "500.00"


def test_budget_in_another_currency_and_gross_drafts_are_refused(client: Client) -> None:
    c = client
    _budget(c, currency="USD", services=[])
    selection = {"budget_ids": ["bud-1"], "invoicing_method": "uninvoiced_amount",
                 "invoicing_by": "budget"}  # fmt: skip
    eur = _draft(c)
    errors = c.rejected("invoice_billable_entries", {"invoice_id": str(eur), "budget": selection})
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("currency_mismatch", "/payload/budget/budget_ids/0")
    ]
    gross = _draft(c, currency="USD", calculate_from_net=False)
    errors = c.rejected("invoice_billable_entries", {"invoice_id": str(gross), "budget": selection})
    assert errors[0]["code"] == "gross_entry"
    both = c.rejected(
        "invoice_billable_entries",
        {"invoice_id": str(eur), "entry_ids": ["x"], "budget": selection},
    )
    assert both[0]["detail"] == "give either entry_ids or budget"


def test_budgets_of_another_organization_are_invisible(bus: Pipeline) -> None:
    a, b = Client(bus), Client(bus)
    a.setup_org()
    b.setup_org()
    _budget(a)
    assert query(b, "get_budget", {"budget_id": "bud-1"})["errors"][0]["code"] == "budget_not_found"
    assert ok(b, "list_budgets", {})["items"] == []


def test_the_cli_previews_and_lists_budgets(client: Client) -> None:
    c = client
    _budget(c)
    url = c.bus.engine.url.render_as_string(hide_password=False)

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "invoicing.cli", "query", *args, "--org", str(c.org), "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": url},
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    preview = cli("invoice-preview", "--budget", "bud-1", "--method", "percentage", "--by",
                  "service", "--percentage", "25", "--display-format", "{service}")  # fmt: skip
    assert [
        (p["line"]["description"], p["line"]["amount"]) for p in preview["previews"][0]["lines"]
    ] == [
        ("Beratung", "150.00"),
        ("Bücher", "100.00"),
    ]
    listed = cli("budgets", "--case", "AZ 12/26")
    assert [(b["id"], b["remaining"]) for b in listed["items"]] == [("bud-1", "1000.00")]


def test_invoices_filter_by_the_method_that_billed_them(client: Client) -> None:
    c = client
    _budget(c)
    _entry(c, "t1")
    by_entries, by_budget, manual = _draft(c), _draft(c), _draft(c)
    c.ok("invoice_billable_entries", {"invoice_id": str(by_entries), "entry_ids": ["t1"]})
    _bill(c, by_budget, {"budget_ids": ["bud-1"], "invoicing_method": "percentage",
                         "invoicing_by": "budget", "percentage": 10})  # fmt: skip

    def listed(method: Any) -> set[str]:
        result = ok(c, "list_invoices", {"filter": {"invoicing_method": method}})
        return {item["id"] for item in result["items"]}

    assert listed(1) == listed("uninvoiced_time_and_expenses") == {str(by_entries)}
    assert listed([3, 2]) == {str(by_budget)}
    assert str(manual) not in listed([1, 2, 3])
    assert c.state(by_budget)["invoicing_method"] == "percentage"


def test_entries_without_a_budget_hash_as_before_budgets_existed(client: Client) -> None:
    """A source resending an entry stored before budgets existed must find it unchanged: the
    unset budget fields stay out of the content hash."""
    c = client
    payload = {"id": "old-1", "date": "2026-03-02", "description": "Telefonat", "quantity": "1",
               "unit_price": "200.00"}  # fmt: skip
    c.ok("record_billable_entry", payload)
    old_dump = {
        "id": "old-1",
        "kind": "time",
        "customer_id": None,
        "case_id": None,
        "project_reference": None,
        "date": "2026-03-02",
        "description": "Telefonat",
        "quantity": "1",
        "unit": "hours",
        "unit_price": "200.00",
        "currency": None,
        "tax_rate": None,
        "tax_category": "standard",
    }
    with c.bus.uow_factory() as uow:
        stored = uow.session.get(BillableEntry, (c.org, "old-1"))
        assert stored is not None and stored.payload_hash == content_hash(old_dump)
    assert c.ok("record_billable_entry", payload).events == []
    moved = c.ok("record_billable_entry", {**payload, "budget_id": "bud-9"}).events
    assert moved[0]["data"]["entry"]["budget_id"] == "bud-9"


def test_a_change_of_recipient_moves_the_billing_to_the_replacement(client: Client) -> None:
    """change_recipient voids the original and makes a draft of the same lines for the new
    customer: the work it bills and the budget it counts against move with them. Before, the
    replacement's lines billed no entry and were attributed to no budget: the void released
    the entries (billable again, so the same hours were charged twice) and gave the budget its
    share back (375.00 invoiced became 0 with the replacement billing it)."""
    c = client
    _budget(c)
    _entry(c, "e1")
    _entry(c, "e2", service_id="svc-b", unit_price="50.00")
    original = _draft(c)
    _bill(c, original, {"budget_ids": ["bud-1"], "invoicing_method":
                        "uninvoiced_time_and_expenses", "invoicing_by": "service"})  # fmt: skip
    c.ok("finalize_invoice", {"invoice_id": str(original)})
    c.ok("close_budget", {"id": "bud-1"})  # a closed budget keeps its invoices' attribution
    replacement = uuid.uuid4()
    out = c.ok(
        "change_recipient",
        {"invoice_id": str(original), "customer_id": str(c.customer()),
         "new_invoice_id": str(replacement)},
    )  # fmt: skip
    billed = [e["data"]["entry"] for e in out.events if e["type"] == "billable_entry.billed"]
    assert [(e["id"], e["invoice_id"]) for e in billed] == [
        ("e1", str(replacement)),
        ("e2", str(replacement)),
    ]
    new = c.state(replacement)
    assert [
        (ln["billable_entry_ids"], ln["budget_id"], ln["service_id"]) for ln in new["lines"]
    ] == [
        (["e1"], "bud-1", "svc-a"),
        (["e2"], "bud-1", "svc-b"),
    ]
    assert new["invoicing_method"] == "uninvoiced_time_and_expenses"
    budget = ok(c, "get_budget", {"budget_id": "bud-1"})["budget"]
    assert (budget["invoiced"], budget["uninvoiced_entries"]) == ("375.00", 0)
    again = c.rejected(
        "invoice_billable_entries", {"invoice_id": str(_draft(c)), "entry_ids": ["e1"]}
    )
    assert again[0]["code"] == "entry_billed"


def test_refusals_of_planned_lines_and_restores_point_at_the_command_s_fields(
    client: Client,
) -> None:
    """A rule that fails on a line the command did not send points at what the command did
    send: the budget (its index in budget_ids) or the restored draft. Before: the billing
    pointed at /payload/budget/lines/0/tax_rate, the preview at /payload/budget_ids/bud-2 (an
    id, not an index), a restore at /payload/lines/0/billable_entry_ids/0, with the hint of a
    document's state instead of where the entry is billed."""
    c = client
    _budget(c)
    _budget(c, "bud-2", tax_rate=16, services=[])  # 16 %: Germany's rate of 2020 only
    selection = {"budget_ids": ["bud-1", "bud-2"], "invoicing_method": "uninvoiced_amount",
                 "invoicing_by": "budget"}  # fmt: skip
    errors = c.rejected(
        "invoice_billable_entries", {"invoice_id": str(_draft(c)), "budget": selection}
    )
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("invalid_tax_rate", "/payload/budget/budget_ids/1")
    ]
    # the preview refuses what the billing refuses (it showed a 16 % line before)
    reply = query(c, "preview_invoice", selection)
    assert [(e["code"], e["source"]["pointer"]) for e in reply["errors"]] == [
        ("invalid_tax_rate", "/payload/budget_ids/1")
    ]
    _entry(c, "e1")
    trashed = c.invoice(c.customer(), [], time_entry_ids=["e1"])
    c.ok("delete_invoice", {"invoice_id": str(trashed)})
    other = c.invoice(c.customer(), [], time_entry_ids=["e1"])
    (error,) = c.rejected("restore_invoice", {"invoice_id": str(trashed)})
    assert (error["code"], error["source"]["pointer"]) == ("entry_billed", "/payload/invoice_id")
    assert str(other) in error["meta"]["hint"]
    c.ok("configure_organization", {**DE_ORG, "small_business": True})
    reply = query(c, "preview_invoice", {**selection, "budget_ids": ["bud-2", "bud-1"]})
    assert [(e["code"], e["source"]["pointer"]) for e in reply["errors"]] == [
        ("small_business", "/payload/budget_ids/0")
    ]
