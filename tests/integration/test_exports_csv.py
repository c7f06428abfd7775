"""Invoice CSV export through the real bus, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import invoicing.handlers.exports  # noqa: F401  (registers the export handlers)
import pytest
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.support.client import Client, line
from tests.support.documents import export_file
from tests.support.fakes import fake_deps


@pytest.fixture
def cc(engine: Engine, tmp_path: Path) -> Client:
    deps = fake_deps(clock=lambda: dt.datetime(2025, 3, 1, tzinfo=dt.UTC), export_dir=tmp_path)
    c = Client(Pipeline(engine, deps, LocalOperator()))
    c.setup_org()
    return c


def read(
    cc: Client, event: dict[str, Any], delimiter: str = ","
) -> tuple[bytes, list[dict[str, str]]]:
    raw = export_file(cc.bus, cc.org, event)
    text = raw.decode("utf-8-sig")
    return raw, list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_csv_filters_bom_delimiter_and_formula_injection(cc: Client) -> None:
    evil = cc.customer(company='=HYPERLINK("http://evil.example","klick")')
    good = cc.customer(company='Müller; Söhne "KG"')
    a = cc.finalized(evil, [line("Beratung", "1", "100.00")], issue_date=dt.date(2025, 1, 10))
    b = cc.finalized(good, [line("Beratung", "2", "100.00")], issue_date=dt.date(2025, 2, 10))
    cc.invoice(good, [line()])  # a draft
    cc.ok("record_payment", {"invoice_id": b["id"], "amount": "100.00", "date": "2025-02-11"})

    out = cc.ok("export_csv", {"delimiter": ";", "bom": True})
    (event,) = out.events
    assert event["type"] == "export.completed" and event["data"]["counts"] == {"invoices": 3}
    raw, rows = read(cc, event["data"], ";")
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    by_number = {r["number"]: r for r in rows}
    first = by_number[a["number"]]
    assert first["customer_name"] == '\'=HYPERLINK("http://evil.example","klick")'
    second = by_number[b["number"]]
    assert second["customer_name"] == 'Müller; Söhne "KG"'
    assert (second["gross_total"], second["paid_amount"], second["open_amount"]) == (
        "238.00",
        "100.00",
        "138.00",
    )
    assert second["status"] == "partially_paid" and second["export_status"] == "unexported"

    out = cc.ok("export_csv", {"filters": {"status": ["partially_paid"]}})
    raw, rows = read(cc, out.events[0]["data"])
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert [r["number"] for r in rows] == [b["number"]]

    out = cc.ok(
        "export_csv",
        {
            "filters": {
                "issue_date_from": "2025-01-01",
                "issue_date_to": "2025-01-31",
                "search": "hyperlink",
            }
        },
    )
    assert [r["number"] for r in read(cc, out.events[0]["data"])[1]] == [a["number"]]
    out = cc.ok(
        "export_csv",
        {
            "filters": {
                "kind": ["invoice"],
                "customer_id": [str(good)],
                "export_status": "unexported",
            },
            "delimiter": "\t",
        },
    )
    # the finalized one: a draft is never exported, so it is not "unexported" either
    assert len(read(cc, out.events[0]["data"], "\t")[1]) == 1


def test_an_overpaid_invoice_shows_its_credit_balance(cc: Client) -> None:
    """What the customer paid beyond what the invoice owes, kept as credit: the state's
    totals.credit_balance, also after a credit note took part of what was owed."""
    cust = cc.customer()
    over = cc.finalized(cust, [line("Beratung", "1", "100.00")], issue_date=dt.date(2025, 1, 10))
    even = cc.finalized(cust, [line("Beratung", "1", "50.00")], issue_date=dt.date(2025, 1, 11))
    pay = {"invoice_id": over["id"], "amount": "150.00", "date": "2025-01-20"}
    cc.ok("record_payment", {**pay, "keep_overpayment_as_credit": True})
    credit = {"invoice_id": over["id"], "issue_date": "2025-01-25", "reason": "Kulanz"}
    cc.ok("issue_credit_note", {**credit, "lines": [line("Nachlass", "1", "10.00")]})
    cc.ok("record_payment", {"invoice_id": even["id"], "amount": "59.50", "date": "2025-01-20"})
    (event,) = cc.ok("export_csv", {}).events
    rows = {r["number"]: r for r in read(cc, event["data"])[1]}
    state = cc.state(over["id"])["totals"]
    # 150.00 paid on 119.00 less 11.90 credited: 42.90 beyond
    assert rows[over["number"]]["credit_balance"] == state["credit_balance"] == "42.90"
    assert rows[over["number"]]["open_amount"] == "0.00"
    assert rows[even["number"]]["credit_balance"] == "0.00"
    assert list(rows[even["number"]])[-1] == "credit_balance"  # the last column
