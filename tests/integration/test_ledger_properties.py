"""Property-based, through commands on SQLite: random credits, payments, deletions of
payments, write-offs and voids against a random invoice, then its DATEV export. The handler
path keeps the ledger's promises: per group the VAT reversed never exceeds the VAT invoiced,
open amounts never go negative, every credit note keeps the EN 16931 sum rules, the credit
notes add up to what the invoice says was credited, and the DATEV bookings of the sequence
balance per account. The domain-level machine (tests/unit/test_ledger_properties.py) runs
many more sequences."""

from __future__ import annotations

import datetime as dt
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

from tests.integration.test_write_offs_datev import DATEV, unpack
from tests.support.client import Client, line
from tests.support.fakes import fake_deps

D = Decimal
ZERO = D(0)
RATES = [19, 7]
#: the invoice's issue date: on or before its payments (2026-05-01) and write-offs (2026-06-01),
#: since a correction cannot precede the invoice (src/domain/corrections.py)
ISSUED = dt.date(2026, 5, 1)
EXPECTED_REJECTIONS = {
    "already_void",
    "credit_group_unknown",
    "credit_too_large",
    "invalid_state",
    "nothing_open",
    "nothing_to_credit",
    "overpayment",
    "write_off_too_large",
}

invoice_lines = st.lists(
    st.tuples(st.sampled_from(RATES), st.integers(1, 5), st.integers(1, 200_000)),
    min_size=1,
    max_size=4,
)
operation = st.one_of(
    st.tuples(
        st.just("credit"),
        st.lists(
            st.tuples(st.sampled_from([*RATES, 21]), st.integers(1, 300_000)),
            min_size=1,
            max_size=3,
        ),
    ),
    st.tuples(st.just("rest"), st.none()),
    st.tuples(st.just("pay"), st.integers(1, 110)),
    st.tuples(st.just("delete_payment"), st.integers(0, 5)),
    st.tuples(st.just("void"), st.none()),
    st.tuples(st.just("write_off"), st.integers(1, 100)),
)


@pytest.fixture(scope="module")
def sqlite_engine(sqlite_url: str) -> Engine:
    return db.make_engine(sqlite_url)


def _check_document(doc: dict[str, Any]) -> None:
    """BR-CO-10/13/14/15 and BR-S-08 on the state as published; BR-S-09 within its bound."""
    t = doc["totals"]
    nets = [D(x["net_amount"]) for x in doc["lines"]]
    assert D(t["line_net_total"]) == sum(nets, ZERO)
    assert D(t["net_total"]) == D(t["line_net_total"]) - D(t["allowance_total"])
    assert D(t["tax_total"]) == sum((D(g["tax_amount"]) for g in doc["tax_breakdown"]), ZERO)
    assert D(t["gross_total"]) == D(t["net_total"]) + D(t["tax_total"])
    for g in doc["tax_breakdown"]:
        members = [
            D(x["net_amount"])
            for x in doc["lines"]
            if D(x["tax_rate"]) == D(g["rate"]) and x["tax_category"] == g["category"]
        ]
        assert D(g["taxable_amount"]) == sum(members, ZERO) - D(g["allowance"])
        assert abs(D(g["tax_amount"]) - D(g["taxable_amount"]) * D(g["rate"]) / 100) < 1


def _check_invoice(inv: dict[str, Any], credit_notes: list[dict[str, Any]]) -> None:
    t = inv["totals"]
    assert D(t["open_amount"]) >= 0 and D(t["credit_balance"]) >= 0
    for g in inv["tax_ledger"]:
        for side in ("net", "tax"):
            invoiced = D(g[f"invoiced_{side}"])
            reversed_ = D(g[f"credited_{side}"]) + D(g[f"written_off_{side}"])
            assert ZERO <= reversed_ <= invoiced, g
            assert D(g[f"open_{side}"]) >= 0
    open_groups = sum((D(g["open_net"]) + D(g["open_tax"]) for g in inv["tax_ledger"]), ZERO)
    assert open_groups == D(t["open_amount"])
    credited = sum((D(cn["totals"]["gross_total"]) for cn in credit_notes), ZERO)
    assert credited == D(t["credited_amount"])
    assert sum((D(cn["totals"]["net_total"]) for cn in credit_notes), ZERO) == D(t["credited_net"])
    for cn in credit_notes:
        _check_document(cn)
        for g in cn["tax_breakdown"]:
            assert any(
                (x["category"], D(x["rate"])) == (g["category"], D(g["rate"]))
                for x in inv["tax_ledger"]
            )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=invoice_lines, ops=st.lists(operation, min_size=1, max_size=6))
def test_random_corrections_through_commands(
    sqlite_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[tuple[int, int, int]],
    ops: list[tuple[str, Any]],
) -> None:
    client = Client(Pipeline(sqlite_engine, fake_deps(), LocalOperator()))
    client.setup_org()
    inv = client.finalized(
        client.customer(),
        [line(f"L{i}", str(q), str(D(c) / 100), tax_rate=r) for i, (r, q, c) in enumerate(lines)],
        issue_date=ISSUED,
    )
    iid = inv["id"]
    credit_notes: list[dict[str, Any]] = []
    payments: list[str] = []
    for kind, arg in ops:
        if kind == "credit":
            payload = {
                "invoice_id": iid,
                "lines": [line("C", "1", str(D(c) / 100), tax_rate=r) for r, c in arg],
            }
            out = client.send("issue_credit_note", payload)
        elif kind == "rest":
            out = client.send("issue_credit_note", {"invoice_id": iid})
        elif kind == "void":
            out = client.send("void_invoice", {"invoice_id": iid})
        elif kind == "write_off":
            due = D(client.state(iid)["totals"]["open_amount"])
            amount = max((due * arg / 100).quantize(D("0.01")), D("0.01"))
            out = client.send(
                "write_off_invoice",
                {
                    "invoice_id": iid,
                    "amount": str(amount),
                    "date": "2026-06-01",
                    "reason": "uncollectible",
                },
            )
        elif kind == "pay":
            due = D(client.state(iid)["totals"]["open_amount"])
            amount = (due * arg / 100).quantize(D("0.01"))
            if amount <= 0:
                continue
            out = client.send(
                "record_payment",
                {
                    "invoice_id": iid,
                    "amount": str(amount),
                    "date": "2026-05-01",
                    "keep_overpayment_as_credit": arg > 100,
                },
            )
        else:
            if not payments:
                continue
            pid = payments.pop(arg % len(payments))
            out = client.send("delete_payment", {"invoice_id": iid, "payment_id": pid})
        if out.status == "rejected":
            assert {e["code"] for e in out.errors} <= EXPECTED_REJECTIONS, out.errors
            continue
        for event in out.events:
            if event["type"] == "credit_note.issued":
                credit_notes.append(event["data"]["invoice"])
            if event["type"] == "payment.recorded":
                payments.append(event["data"]["payment"]["id"])
        state = client.state(iid)
        _check_invoice(state, credit_notes)
        if kind in ("rest", "void") and not state["payments"]:
            assert (
                all(D(g["open_net"]) == D(g["open_tax"]) == 0 for g in state["tax_ledger"])
                and state["status"] == "void"
            )
    _check_datev_balances(client, client.state(iid), tmp_path_factory.mktemp("datev"))


def _check_datev_balances(client: Client, state: dict[str, Any], workdir: Path) -> None:
    """The DATEV bookings of the whole sequence balance: the Debitor ends at what the customer
    owes (open - credit balance), each revenue account at the gross its groups keep after the
    credit notes, each write-off account at what was written off there (gross, as DATEV books
    automatic accounts). Every Buchungsstapel passes the checker in strict mode."""
    client.ok("configure_datev", DATEV)
    # the invoice, payments and write-offs are dated 2026; credit notes without a date are
    # today's (the fake clock is the real one): export every year that has bookings
    years = {dt.date.today().year, 2026}
    rows: list[list[str]] = []
    for year in sorted(years):
        out = client.ok(
            "export_datev",
            {"date_from": f"{year}-01-01", "date_to": f"{year}-12-31", "include_payments": True},
        )
        rows += unpack(out.events[0], workdir, client).rows()
    debtor = next(r[6] for r in rows if len(r[6]) == 5)  # the personal account (Debitor)
    balance: dict[str, Decimal] = {}
    for r in rows:
        amount = D(r[0].replace(",", "."))
        signed = amount if r[1] == "S" else -amount
        balance[r[6]] = balance.get(r[6], ZERO) + signed
        balance[r[7]] = balance.get(r[7], ZERO) - signed
    t = state["totals"]
    assert balance[debtor] == D(t["open_amount"]) - D(t["credit_balance"])
    assert sum(balance.values(), ZERO) == 0
    revenue = {"19": "8400", "7": "8300"}
    losses = {"19": "2406", "7": "2401"}
    for g in state["tax_ledger"]:
        rate = str(D(g["rate"]).normalize())
        invoiced = D(g["invoiced_net"]) + D(g["invoiced_tax"])
        credited = D(g["credited_net"]) + D(g["credited_tax"])
        assert -balance.get(revenue[rate], ZERO) == invoiced - credited
        written = D(g["written_off_net"]) + D(g["written_off_tax"])
        assert balance.get(losses[rate], ZERO) == written
