"""Dates and states: paid_on is the settling payment's date, sent_on and each credit's date are
kept, and drafts, quotes and credit notes are never receivables (state, CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import invoicing.handlers.exports  # noqa: F401  (registers the export handlers)
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.support.client import Client, line
from tests.support.documents import export_file
from tests.support.fakes import fake_deps


def test_paid_on_is_the_date_of_the_settling_payment(client: Client) -> None:
    inv = client.finalized(client.customer(), [line(unit_price="100.00")])
    iid = inv["id"]
    client.ok("record_payment", {"invoice_id": iid, "amount": "19.00", "date": "2026-03-10"})
    out = client.ok(
        "record_payment",
        {"invoice_id": iid, "amount": "100.00", "date": "2026-03-05", "payment_id": inv["id"]},
    )
    paid = out.events[-1]["data"]["invoice"]
    assert out.events[-1]["type"] == "invoice.paid"
    # in date order 100.00 (03-05) leaves 19.00 open; the 19.00 of 03-10 settles it
    assert paid["paid_on"] == "2026-03-10"
    assert paid["paid_at"].startswith("2026-03-10T11:00:00")  # noon in Cologne
    out = client.ok("delete_payment", {"invoice_id": iid, "payment_id": inv["id"]})
    reopened = out.events[0]["data"]["invoice"]
    assert reopened["paid_on"] is None and reopened["paid_at"] is None


def test_paid_on_when_a_credit_note_settles_what_was_paid(client: Client) -> None:
    # issued before the payment and the credit note (a credit cannot precede its invoice)
    issued = dt.date(2026, 3, 1)
    inv = client.finalized(client.customer(), [line(unit_price="100.00")], issue_date=issued)
    iid = inv["id"]
    client.ok("record_payment", {"invoice_id": iid, "amount": "95.20", "date": "2026-03-02"})
    out = client.ok(
        "issue_credit_note",
        {"invoice_id": iid, "issue_date": "2026-03-20", "lines": [line("Rabatt", "1", "20.00")]},
    )
    state = out.events[-1]["data"]["invoice"]
    assert state["status"] == "paid" and state["paid_on"] == "2026-03-02"
    (entry,) = state["ledger_entries"]
    assert entry["kind"] == "credit" and entry["date"] == "2026-03-20"
    assert entry["number"] == out.events[0]["data"]["invoice"]["number"]
    assert (entry["net"], entry["tax"], entry["gross"]) == ("20.00", "3.80", "23.80")


def test_sent_on_is_kept(client: Client) -> None:
    inv = client.finalized(client.customer(), [line()])
    out = client.ok("mark_sent", {"invoice_id": inv["id"], "sent_on": "2026-03-03"})
    assert out.events[0]["data"]["invoice"]["sent_on"] == "2026-03-03"


def test_drafts_quotes_and_credit_notes_are_never_receivables(
    engine: Engine, tmp_path: Path
) -> None:
    deps = fake_deps(clock=lambda: dt.datetime(2026, 3, 1, tzinfo=dt.UTC), export_dir=tmp_path)
    c = Client(Pipeline(engine, deps, LocalOperator()))
    c.setup_org()
    cust = c.customer()
    draft = c.invoice(cust, [line(unit_price="500.00")])
    assert c.state(draft)["totals"]["open_amount"] == "0.00"
    quote = c.invoice(cust, [line(unit_price="300.00")], is_quote=True)
    c.ok("finalize_invoice", {"invoice_id": str(quote)})
    assert c.state(quote)["totals"]["open_amount"] == "0.00"
    inv = c.finalized(cust, [line(unit_price="100.00")])
    out = c.ok("issue_credit_note", {"invoice_id": inv["id"], "lines": [line("x", "1", "10")]})
    cn = out.events[0]["data"]["invoice"]
    assert cn["totals"]["open_amount"] == "0.00"
    out = c.ok("export_csv", {})
    text = export_file(c.bus, c.org, out.events[0]).decode("utf-8-sig")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    assert rows[str(draft)]["open_amount"] == "0.00"
    assert rows[str(quote)]["open_amount"] == "0.00"
    assert rows[cn["id"]]["open_amount"] == "0.00"
    assert rows[inv["id"]]["open_amount"] == "107.10"  # 119.00 - 11.90 credited
