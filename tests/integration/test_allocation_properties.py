"""Property-based, through commands on SQLite: random customer payments across a customer's
invoices (by policy or explicit allocations), applications and refunds of the unapplied credit,
deletions of payments and applications. After every step: every invoice's paid amount is the
sum of its payments and never beyond what it owes, the status and open amount follow, and the
customer's credit is exactly the payments' unapplied rests less what was applied and refunded.
At the end, deleting every application and payment restores the exact state from before the
first payment (when nothing was refunded), and the DATEV bookings of the sequence leave the
Debitor at what the customer owes less its credit, every batch passing the checker strictly."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoicing import db
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.integration.test_allocations import _book, _query
from tests.integration.test_write_offs_datev import DATEV, unpack
from tests.support.client import Client, line
from tests.support.fakes import fake_deps

D = Decimal
ZERO = D(0)
CENT = D("0.01")
NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
EXPECTED_REJECTIONS = {"credit_used", "no_credit", "insufficient_credit", "invalid_state"}

operation = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 120_000)),
    st.tuples(st.just("pay_explicit"), st.lists(st.integers(1, 100), min_size=1, max_size=3)),
    st.tuples(st.just("apply"), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(1, 100)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("delete_application"), st.integers(0, 5)),
)


@pytest.fixture(scope="module")
def sqlite_engine(sqlite_url: str) -> Engine:
    return db.make_engine(sqlite_url)


class Model:
    """What the customer's credit must be: tracked from the events' own amounts."""

    def __init__(self) -> None:
        self.payments: dict[str, D] = {}  # customer payment id -> unapplied
        self.applications: dict[str, tuple[str, D]] = {}  # payment row -> (invoice, amount)
        self.refunded = ZERO

    @property
    def credit(self) -> D:
        applied = sum((a for _, a in self.applications.values()), ZERO)
        return sum(self.payments.values(), ZERO) - applied - self.refunded


def _check(client: Client, cust: uuid.UUID, invoices: list[str], model: Model) -> None:
    for iid in invoices:
        inv = client.state(iid)
        t = inv["totals"]
        paid = sum((D(p["amount"]) for p in inv["payments"]), ZERO)
        owed = D(t["gross_total"]) - D(t["credited_amount"]) - D(t["written_off_amount"])
        assert D(t["paid_amount"]) == paid <= owed  # never over-allocated
        assert D(t["open_amount"]) == owed - paid and D(t["credit_balance"]) == 0
        assert (inv["status"] == "paid") == (paid >= owed > 0)
        assert (inv["paid_on"] is not None) == (inv["status"] == "paid")
    credit = _query(client, "open_items", {"customer_id": [str(cust)]})["unapplied_credit"]
    assert sum((D(c["amount"]) for c in credit), ZERO) == model.credit >= 0


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prices=st.lists(st.integers(1, 50_000), min_size=1, max_size=4),
    ops=st.lists(operation, min_size=1, max_size=7),
)
def test_random_payments_across_invoices(
    sqlite_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    prices: list[int],
    ops: list[tuple[str, Any]],
) -> None:
    workdir = tmp_path_factory.mktemp("alloc")
    deps = fake_deps(clock=lambda: NOW, export_dir=workdir / "exports")
    client = Client(Pipeline(sqlite_engine, deps, LocalOperator()))
    client.setup_org()
    cust = client.customer()
    invoices = []
    for n, cents in enumerate(prices):
        iid = client.invoice(
            cust, [line(unit_price=str(D(cents) / 100))], due_date=f"2026-04-{n + 10}"
        )
        client.ok("finalize_invoice", {"invoice_id": str(iid), "issue_date": f"2026-04-0{n + 1}"})
        invoices.append(str(iid))
    before = _book(client)
    model = Model()
    for kind, arg in ops:
        out = _step(client, cust, invoices, model, kind, arg)
        if out is None:
            continue
        if out.status == "rejected":
            assert {e["code"] for e in out.errors} <= EXPECTED_REJECTIONS, out.errors
            continue
        _record(model, out.events)
        _check(client, cust, invoices, model)
    _check_datev(client, cust, invoices, model, workdir)
    for row in reversed(list(model.applications)):
        iid = model.applications.pop(row)[0]
        client.ok("delete_payment", {"invoice_id": iid, "payment_id": row})
    for pid in reversed(list(model.payments)):
        out = client.send("delete_payment", {"payment_id": pid})
        if out.status == "applied":
            del model.payments[pid]
        else:
            assert model.refunded and out.errors[0]["code"] == "credit_used"
    _check(client, cust, invoices, model)
    if not model.refunded:
        assert _book(client) == before


def _step(
    client: Client, cust: uuid.UUID, invoices: list[str], model: Model, kind: str, arg: Any
) -> Any:
    if kind == "pay":
        amount = str(D(arg) / 100)
        return client.send(
            "record_payment", {"customer_id": str(cust), "amount": amount, "date": "2026-04-20"}
        )
    if kind == "pay_explicit":
        allocations = []
        for n, share in enumerate(arg):
            iid = invoices[n % len(invoices)]
            open_ = D(client.state(iid)["totals"]["open_amount"])
            amount = (open_ * share / 100).quantize(CENT)
            if amount > 0 and iid not in {a["invoice_id"] for a in allocations}:
                allocations.append({"invoice_id": iid, "amount": str(amount)})
        if not allocations:
            return None
        total = sum((D(a["amount"]) for a in allocations), ZERO) + D("10.00")
        payload = {"allocations": allocations, "amount": str(total), "date": "2026-04-21"}
        return client.send("record_payment", payload)
    if kind == "apply":
        iid = invoices[arg % len(invoices)]
        payload = {"customer_id": str(cust), "invoice_id": iid, "date": "2026-04-22"}
        return client.send("apply_customer_credit", payload)
    if kind == "refund":
        amount = (model.credit * arg / 100).quantize(CENT)
        if amount <= 0:
            return None
        payload = {"customer_id": str(cust), "currency": "EUR", "amount": str(amount)}
        return client.send("refund_customer_credit", {**payload, "date": "2026-04-23"})
    if kind == "delete":
        if not model.payments:
            return None
        pid = list(model.payments)[arg % len(model.payments)]
        return client.send("delete_payment", {"payment_id": pid})
    if not model.applications:
        return None
    row = list(model.applications)[arg % len(model.applications)]
    return client.send(
        "delete_payment", {"invoice_id": model.applications[row][0], "payment_id": row}
    )


def _record(model: Model, events: list[dict[str, Any]]) -> None:
    for e in events:
        data = e["data"]
        if e["type"] == "customer_payment.recorded":
            model.payments[data["payment"]["id"]] = D(data["payment"]["unapplied"])
        elif e["type"] == "customer_payment.deleted":
            del model.payments[data["payment"]["id"]]
        elif e["type"] == "customer_credit.applied":
            entry = data["entry"]
            model.applications[entry["payment_id"]] = (entry["invoice_id"], D(data["amount"]))
        elif e["type"] == "customer_credit.restored":
            del model.applications[data["entry"]["payment_id"]]
        elif e["type"] == "customer_credit.refunded":
            model.refunded += D(data["amount"])


def _check_datev(
    client: Client, cust: uuid.UUID, invoices: list[str], model: Model, workdir: Path
) -> None:
    client.ok("configure_datev", DATEV)
    out = client.ok(
        "export_datev",
        {"date_from": "2026-04-01", "date_to": "2026-04-30", "include_payments": True},
    )
    rows = unpack(out.events[0], workdir, client).rows()
    debtor = rows[0][6]
    balance = ZERO
    for r in rows:
        value = D(r[0].replace(",", "."))
        if r[6] == debtor:
            balance += value if r[1] == "S" else -value
        elif r[7] == debtor:
            balance += -value if r[1] == "S" else value
    open_ = sum((D(client.state(i)["totals"]["open_amount"]) for i in invoices), ZERO)
    assert balance == open_ - model.credit
