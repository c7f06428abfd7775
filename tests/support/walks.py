"""Random walks through an organization's invoice lifecycle (tests/integration/
test_lifecycle_walks.py runs one walk at a time, test_concurrent_walks.py several at once on
the same invoices): commands chosen at random among 20 kinds -- creating, editing,
finalizing, paying and unpaying, crediting, writing off and back, voiding, duplicating,
deleting and restoring, customer credit, standalone credit notes, overdue checks -- mostly on
invoices that exist and are finalized. Seeded, so a failure names its walk."""

from __future__ import annotations

import collections
import datetime as dt
import random
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from invoicing.domain.numbering import number_key_of
from invoicing.models import Invoice
from invoicing.pipeline import Outcome, Pipeline
from invoicing.workers.delivery import is_transient
from sqlalchemy import select

from tests.support.client import Client, line

KINDS = [
    "finalize",
    "finalize",
    "pay",
    "pay",
    "create",
    "create",
    "add_line",
    "delete_payment",
    "credit",
    "write_off",
    "reverse_write_off",
    "void",
    "mark_paid",
    "duplicate",
    "apply_credit",
    "refund_credit",
    "delete",
    "restore",
    "mark_sent",
    "check_overdue",
    "standalone",
]
#: the kinds that act on an issued invoice: mostly aimed at a finalized one
ON_ISSUED = {"pay", "delete_payment", "credit", "write_off", "reverse_write_off", "void"}
ON_ISSUED |= {"mark_paid", "apply_credit", "mark_sent"}
#: how often a walk sends a command that failed transiently, as the worker's retry policy does
TRANSIENT_ATTEMPTS = 5


@dataclass
class Pool:
    """The documents the walks know of: shared by the walks of one organization (appending
    to a list is atomic in CPython, and a walk only ever appends)."""

    invoices: list[str] = field(default_factory=list)
    finalized: list[str] = field(default_factory=list)
    write_offs: dict[str, list[str]] = field(default_factory=dict)


class Walk:
    def __init__(
        self,
        bus: Pipeline,
        seed: int,
        *,
        client: Client | None = None,
        customer: str | None = None,
        pool: Pool | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        if client is None:
            client = Client(bus)
            client.setup_org()
        self.client = client
        self.customer = customer or str(client.customer())
        self.pool = pool or Pool()
        self.day = bus.deps.today()  # numbers follow issue dates: none before the clock's
        self.transient_retries = 0

    @property
    def invoices(self) -> list[str]:
        return self.pool.invoices

    @property
    def finalized(self) -> list[str]:
        return self.pool.finalized

    def amount(self) -> str:
        cents = self.rng.choice([1, 100, 9999, 11900, self.rng.randint(1, 50_000)])
        return str(Decimal(cents) / 100)

    def open_amount(self, invoice_id: str) -> Decimal:
        return Decimal(self.client.state(invoice_id)["totals"]["open_amount"])

    def lines(self) -> list[dict[str, Any]]:
        return [
            line("x", self.rng.choice(["1", "2", "0.5"]), self.amount(), tax_rate=rate)
            for rate in self.rng.choices(["19", "7"], k=self.rng.randint(1, 3))
        ]

    def command(self, kind: str) -> tuple[str, dict[str, Any], str | None] | None:
        """The command's type and payload, and the id of an invoice it creates."""
        rng, today = self.rng, self.day.isoformat()
        if kind == "create":
            new = str(uuid.uuid4())
            return (
                "create_invoice",
                {"id": new, "customer_id": self.customer, "lines": self.lines()},
                new,
            )
        if kind == "standalone":
            new = str(uuid.uuid4())
            payload = {"credit_note_id": new, "customer_id": self.customer, "reason": "Bonus"}
            return "issue_standalone_credit_note", {**payload, "lines": self.lines()[:1]}, new
        if kind == "check_overdue":
            return "check_overdue", {"as_of": today}, None
        if kind == "refund_credit":
            payload = {"customer_id": self.customer, "currency": "EUR", "amount": self.amount()}
            return "refund_customer_credit", {**payload, "date": today, "reference": "r"}, None
        if not self.invoices:
            return None
        drafts = [inv for inv in self.invoices if inv not in self.finalized]
        pool = self.finalized if kind in ON_ISSUED and self.finalized else self.invoices
        pool = drafts if kind == "finalize" and drafts else pool
        inv = rng.choice(pool if rng.random() < 0.85 else self.invoices)
        if kind == "pay":
            open_ = self.open_amount(inv)
            amount = rng.choice([open_, open_, (open_ / 2).quantize(Decimal("0.01")), open_ + 5])
            amount = amount if amount > 0 else Decimal("1.00")
            return "record_payment", {"invoice_id": inv, "amount": str(amount), "date": today}, None
        if kind == "delete_payment":
            payments = self.client.state(inv).get("payments") or []
            if not payments:
                return None
            payment = rng.choice(payments)["id"]
            return "delete_payment", {"invoice_id": inv, "payment_id": payment}, None
        if kind == "write_off":
            wid = str(uuid.uuid4())
            self.pool.write_offs.setdefault(inv, []).append(wid)
            payload = {"invoice_id": inv, "write_off_id": wid, "reason": "uncollectible"}
            return "write_off_invoice", {**payload, "date": today}, None
        if kind == "reverse_write_off":
            if not self.pool.write_offs.get(inv):
                return None
            wid = rng.choice(self.pool.write_offs[inv])
            return (
                "reverse_write_off",
                {"invoice_id": inv, "write_off_id": wid, "date": today},
                None,
            )
        if kind == "duplicate":
            new = str(uuid.uuid4())
            return "duplicate_invoice", {"invoice_id": inv, "new_invoice_id": new}, new
        simple: dict[str, tuple[str, dict[str, Any]]] = {
            "add_line": ("add_line", {"line": line("y", "1", self.amount())}),
            "finalize": ("finalize_invoice", {"issue_date": today}),
            "credit": ("issue_credit_note", {"reason": "Kulanz", "lines": self.lines()[:1]}),
            "void": ("void_invoice", {"reason": "Doppelt"}),
            "mark_paid": ("mark_paid", {"date": today}),
            "apply_credit": (
                "apply_customer_credit",
                {"customer_id": self.customer, "amount": self.amount(), "date": today},
            ),
            "delete": ("delete_invoice", {}),
            "restore": ("restore_invoice", {}),
            "mark_sent": ("mark_sent", {"sent_on": today}),
        }
        ctype, payload = simple[kind]
        return ctype, {"invoice_id": inv, **payload}, None

    def step(self, kinds: list[str], where: str) -> Outcome | None:
        """One command of a kind drawn from ``kinds``: sent, checked (applied or rejected with
        a reason, never an ``internal_error``) and remembered; None if the kind had nothing
        to act on."""
        made = self.command(self.rng.choice(kinds))
        if made is None:
            return None
        ctype, payload, new = made
        where = f"{where}: {ctype}"
        outcome = self.send(ctype, payload)
        assert outcome.status in ("applied", "rejected"), where
        assert all(e["code"] != "internal_error" for e in outcome.errors), (where, outcome)
        if outcome.status == "applied":
            if new is not None:
                self.invoices.append(new)
            if ctype == "finalize_invoice":
                self.finalized.append(payload["invoice_id"])
            if ctype == "issue_standalone_credit_note":  # issued at once
                self.finalized.append(payload["credit_note_id"])
        return outcome

    def send(self, ctype: str, payload: dict[str, Any]) -> Outcome:
        """Handle one command as a worker does: a transient failure (PostgreSQL's deadlock
        detector choosing this transaction, when commands of one customer lock its row and
        its invoices in two transactions in opposite orders) is retried with the same
        document, so the command is applied or rejected exactly once."""
        doc = self.client.doc(ctype, payload)
        for attempt in range(TRANSIENT_ATTEMPTS):
            try:
                return self.client.bus.handle_document(doc)
            except Exception as exc:
                if not is_transient(exc) or attempt == TRANSIENT_ATTEMPTS - 1:
                    raise
                self.transient_retries += 1
        raise AssertionError("unreachable")

    def check_amounts(self, where: str) -> None:
        """Every finalized invoice's open amount is its gross total less what was paid,
        credited and written off (none below zero; a ``paid`` invoice has nothing open),
        unless the overpayment went to the customer's credit balance."""
        for inv in self.finalized:
            check_open_amount(self.client.state(inv), (where, inv))

    def run(self, steps: int) -> None:
        """``steps`` commands one after the other, the calendar moving on a day per command,
        the amounts checked after each."""
        for step in range(steps):
            self.day += dt.timedelta(days=1)
            self.step(KINDS, f"step {step}")
            self.check_amounts(f"step {step}")


def check_open_amount(state: dict[str, Any], where: Any) -> None:
    totals = state["totals"]
    if state["kind"] != "invoice":  # a credit note's open amount is credit to use
        return
    if state["status"] == "void" or Decimal(totals["credit_balance"]) != 0:
        return
    gross, open_ = Decimal(totals["gross_total"]), Decimal(totals["open_amount"])
    settled = sum(
        Decimal(totals[k]) for k in ("paid_amount", "credited_amount", "written_off_amount")
    )
    assert open_ == max(gross - settled, Decimal(0)), (where, totals)
    assert open_ >= 0 and (state["status"] != "paid" or open_ == 0), (where, totals)


def assert_gapless_numbers(client: Client) -> int:
    """Every number of the organization (credit notes' included) runs from 1 without a gap
    in its series, and is stored with its sort key (``number_key``; every document without a
    number has none); returns how many numbers there are."""
    with client.bus.uow_factory() as uow:
        rows = uow.session.execute(
            select(Invoice.number, Invoice.number_key).where(Invoice.organization_id == client.org)
        ).all()
    assert [k for _, k in rows] == [number_key_of(n) for n, _ in rows], rows
    numbers = [number for number, _ in rows if number is not None]
    series: dict[str, list[int]] = collections.defaultdict(list)
    for number in numbers:
        found = re.fullmatch(r"(.*?)(\d+)", str(number))
        assert found is not None, number
        series[found.group(1)].append(int(found.group(2)))
    for prefix, sequence in series.items():
        assert sorted(sequence) == list(range(1, len(sequence) + 1)), (prefix, sorted(sequence))
    return len(numbers)
