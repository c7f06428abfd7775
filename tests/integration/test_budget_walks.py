"""Random walks over billable entries and budgets, on SQLite and PostgreSQL.

Each walk (seeded, so a failure names it) records time and expense entries on three budgets
(with services, without, a small one) or none, opens drafts, bills them by each seed-002
method (by service, by budget, a percentage, with date ranges and locales) or by entry ids,
attributes lines by hand, finalizes, voids, trashes and restores drafts, changes and closes
budgets. Every command is applied or refused with a reason, never an ``internal_error``, and:

- what ``preview_invoice`` / ``preview_billable_entries`` showed is exactly what billing the
  same selection put on the draft, line for line and in the same order;
- after every step, each entry is billed by at most one line of one live invoice (not void,
  not in the trash), each budget's and service's ``invoiced`` is the net of the live lines
  attributed to it, ``remaining`` the amount less that, and ``uninvoiced_entries`` the number
  of its entries no live line bills (docs/budgets.md).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest
from invoicing.pipeline import Outcome, Pipeline

from tests.support.client import Client, line

pytestmark = pytest.mark.integration

STEPS = 90
D = Decimal
BUDGETS: dict[str, list[str]] = {"B1": ["S1", "S2"], "B2": [], "B3": ["T1"]}
KINDS = ["entry"] * 4 + ["draft"] * 2 + ["bill_budget"] * 3
KINDS += ["bill_entries", "finalize", "void", "delete", "restore", "update_budget", "close"]
KINDS += ["manual_line"]


def new_lines(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines a command appended, without their ids and positions."""
    added = after["lines"][len(before["lines"]) :]
    return [{k: v for k, v in ln.items() if k not in ("id", "position")} for ln in added]


def previewed(result: dict[str, Any]) -> list[dict[str, Any]]:
    lines = [item["line"] for group in result["previews"] for item in group["lines"]]
    return [{k: v for k, v in ln.items() if k not in ("id", "position")} for ln in lines]


class BudgetWalk:
    def __init__(self, bus: Pipeline, seed: int) -> None:
        self.rng = random.Random(seed)
        self.client = Client(bus)
        self.client.setup_org()
        self.customer = str(self.client.customer())
        self.entries: dict[str, dict[str, Any]] = {}
        self.invoices: list[str] = []
        self.day = dt.date(2026, 11, 1)
        self.billings = 0  # billing commands applied
        services = [
            {"id": "S1", "name": "Beratung", "amount": "600.00"},
            {"id": "S2", "name": "Reise", "amount": "400.00", "tax_rate": 7},
        ]
        budgets: list[dict[str, Any]] = [
            {"id": "B1", "name": "Projekt Ä", "amount": "1000.00", "services": services},
            {"id": "B2", "name": "Pauschal", "amount": "500.00", "tax_rate": 19},
            {"id": "B3", "name": "Klein", "amount": "99.99"},
        ]
        budgets[2]["services"] = [{"id": "T1", "name": "Kurz", "amount": "99.99"}]
        for budget in budgets:
            self.client.ok("create_budget", {**budget, "customer_id": self.customer})

    def query(self, qtype: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.client.bus.query_document(
            {"type": qtype, "organization_id": str(self.client.org), "payload": payload}
        )

    def send(self, ctype: str, payload: dict[str, Any], where: str) -> Outcome:
        out = self.client.send(ctype, payload)
        assert out.status in ("applied", "rejected"), (where, ctype, payload, out)
        assert all(e["code"] != "internal_error" for e in out.errors), (where, out.errors)
        return out

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        reply = self.query("get_invoice", {"invoice_id": invoice_id, "include_deleted": True})
        assert reply["status"] == "ok", reply
        doc: dict[str, Any] = reply["result"]["invoice"]
        return doc

    def live_lines(self) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        for invoice_id in self.invoices:
            doc = self.invoice(invoice_id)
            if doc["status"] != "void" and not doc["deleted"]:
                out += [(invoice_id, ln) for ln in doc["lines"]]
        return out

    # ------------------------------------------------------------------ steps

    def step(self, where: str) -> None:
        rng = self.rng
        kind = rng.choice(KINDS)
        self.day += dt.timedelta(days=1)
        if kind == "entry":
            self.record_entry(where)
            return
        if kind == "draft":
            new = str(uuid.uuid4())
            payload = {"id": new, "customer_id": self.customer, "lines": []}
            if self.send("create_invoice", payload, where).status == "applied":
                self.invoices.append(new)
            return
        if not self.invoices:
            return
        live = [i for i in self.invoices if not self.invoice(i)["deleted"]]
        inv = rng.choice(live if live and rng.random() < 0.85 else self.invoices)
        if kind == "bill_budget":
            self.bill_budget(inv, where)
        elif kind == "bill_entries":
            self.bill_entries(inv, where)
        elif kind == "manual_line":
            budget = rng.choice(list(BUDGETS))
            manual = line("Manuell", "1", str(rng.choice([D("10"), D("250.55"), D("2000")])))
            manual["budget_id"] = budget
            if BUDGETS[budget] and rng.random() < 0.5:
                manual["service_id"] = rng.choice(BUDGETS[budget])
            self.send("add_line", {"invoice_id": inv, "line": manual}, where)
        elif kind == "finalize":
            self.send("finalize_invoice", {"invoice_id": inv, "issue_date": str(self.day)}, where)
        elif kind == "void":
            self.send("void_invoice", {"invoice_id": inv, "reason": "Fehler"}, where)
        elif kind == "delete":
            self.send("delete_invoice", {"invoice_id": inv}, where)
        elif kind == "restore":
            self.send("restore_invoice", {"invoice_id": inv}, where)
        elif kind == "update_budget":
            budget = rng.choice(["B2", "B3"])
            amount = str(rng.choice([D("0"), D("50"), D("99.99"), D("500"), D("800.10")]))
            payload: dict[str, Any] = {"id": budget, "amount": amount}
            if budget == "B3":
                payload["services"] = [{"id": "T1", "name": "Kurz", "amount": amount}]
            self.send("update_budget", payload, where)
        elif kind == "close" and rng.random() < 0.2:
            self.send("close_budget", {"id": "B3"}, where)

    def record_entry(self, where: str) -> None:
        rng = self.rng
        entry_id = f"e{len(self.entries)}"
        budget = rng.choice([None, "B1", "B1", "B2", "B3"])
        service = rng.choice([None, *BUDGETS[budget]]) if budget else None
        payload: dict[str, Any] = {
            "id": entry_id,
            "kind": rng.choice(["time", "time", "expense"]),
            "customer_id": self.customer,
            "date": str(self.day - dt.timedelta(days=rng.randint(0, 20))),
            "description": rng.choice(["Arbeit", "Fahrt Köln", "x"]),
            "quantity": rng.choice(["0.25", "1", "1.5", "2.333", "8"]),
            "unit_price": rng.choice(["0", "80", "95.50", "120.005", "150"]),
        }
        rate = rng.choice([19, 7, None])
        if rate is not None:
            payload["tax_rate"] = rate
        if budget:
            payload["budget_id"] = budget
        if service:
            payload["service_id"] = service
        if self.send("record_billable_entry", payload, where).status == "applied":
            self.entries[entry_id] = payload

    def bill_budget(self, inv: str, where: str) -> None:
        rng = self.rng
        method = rng.choice(["uninvoiced_time_and_expenses", "uninvoiced_amount", "percentage"])
        selection: dict[str, Any] = {
            "budget_ids": rng.sample(list(BUDGETS), rng.randint(1, 2)),
            "invoicing_method": method,
        }
        if method != "uninvoiced_time_and_expenses" or rng.random() < 0.5:
            selection["invoicing_by"] = rng.choice(["service", "budget"])
        if method == "percentage":
            selection["percentage"] = rng.choice(["1", "12.5", "33.3333", "50", "100"])
        if rng.random() < 0.3:
            selection["date_from"] = str(self.day - dt.timedelta(days=10))
        if rng.random() < 0.2:
            selection["locale"] = rng.choice(["en_US", "de_DE", "fr_BE"])
        preview = self.query("preview_invoice", {**selection, "invoice_id": inv})
        before = self.invoice(inv)
        payload = {"invoice_id": inv, "budget": selection}
        out = self.send("invoice_billable_entries", payload, where)
        if out.status == "applied":
            self.billings += 1
            assert preview["status"] == "ok", (where, selection, preview)
            got = new_lines(before, self.invoice(inv))
            assert got == previewed(preview["result"]), (where, selection)
        elif preview["status"] == "ok":  # the preview answers for drafts only
            assert before["status"] != "draft" or before["deleted"], (where, out.errors)

    def bill_entries(self, inv: str, where: str) -> None:
        billed = {e for _, ln in self.live_lines() for e in ln["billable_entry_ids"]}
        unbilled = [e for e in self.entries if e not in billed]
        if not unbilled:
            return
        chosen = self.rng.sample(unbilled, min(len(unbilled), self.rng.randint(1, 3)))
        preview = self.query("preview_billable_entries", {"entry_ids": chosen})
        before = self.invoice(inv)
        payload = {"invoice_id": inv, "entry_ids": chosen}
        if self.send("invoice_billable_entries", payload, where).status == "applied":
            self.billings += 1
            assert preview["status"] == "ok", (where, preview)
            got = new_lines(before, self.invoice(inv))
            assert got == previewed(preview["result"]), (where, chosen)

    # ------------------------------------------------------------------ invariants

    def check(self, where: str) -> None:
        lines = self.live_lines()
        billed: dict[str, list[str]] = {}
        for invoice_id, ln in lines:
            for entry_id in ln["billable_entry_ids"]:
                billed.setdefault(entry_id, []).append(invoice_id)
        twice = {e: on for e, on in billed.items() if len(on) > 1}
        assert not twice, (where, "billed by two lines", twice)
        for budget_id in BUDGETS:
            reply = self.query("get_budget", {"budget_id": budget_id})
            assert reply["status"] == "ok", reply
            budget = reply["result"]["budget"]
            mine = [ln for _, ln in lines if ln["budget_id"] == budget_id]
            invoiced = sum((D(ln["net_amount"]) for ln in mine), D(0))
            assert D(budget["invoiced"]) == invoiced, (where, budget_id, budget, invoiced)
            assert D(budget["remaining"]) == D(budget["amount"]) - invoiced, (where, budget)
            for service in budget["services"]:
                ours = [ln for ln in mine if ln["service_id"] == service["id"]]
                done = sum((D(ln["net_amount"]) for ln in ours), D(0))
                assert D(service["invoiced"]) == done, (where, budget_id, service, done)
                assert D(service["remaining"]) == D(service["amount"]) - done, (where, service)
            unbilled = [e for e, p in self.entries.items() if p.get("budget_id") == budget_id]
            unbilled = [e for e in unbilled if e not in billed]
            assert budget["uninvoiced_entries"] == len(unbilled), (where, budget_id, unbilled)


@pytest.mark.parametrize("seed", range(2))
def test_a_random_walk_keeps_budgets_entries_and_previews(bus: Pipeline, seed: int) -> None:
    walk = BudgetWalk(bus, seed)
    for step in range(STEPS):
        walk.step(f"seed {seed} step {step}")
        walk.check(f"seed {seed} step {step}")
    assert len(walk.entries) >= 10 and walk.billings >= 3, "the walk should record and bill"
