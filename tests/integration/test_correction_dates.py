"""A correction of an invoice never precedes it (src/domain/corrections.py), on both backends.

An explicit date of a credit note against an invoice, of a write-off or of the reversal of a
write-off earlier than the invoice's issue date is refused (``date_before_invoice``, pointer at
the date) and nothing is written; the same day is taken. Without a date, a correction of an
invoice dated in the future takes the invoice's issue date, not today. Payments and standalone
credit notes are no corrections of an invoice and keep their dates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.support.client import Client, line
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)  # today in Cologne: 2026-11-20
ISSUED = dt.date(2026, 12, 1)  # the invoice is dated in the future
DAY_BEFORE = "2026-11-30"


def _client(engine: Engine) -> Client:
    client = Client(Pipeline(engine, fake_deps(clock=lambda: NOW), LocalOperator()))
    client.setup_org()
    return client


def _invoice(client: Client) -> dict[str, Any]:
    lines = [line("Beratung", "1", "1000.00"), line("Buch", "1", "100.00", tax_rate=7)]
    return client.finalized(client.customer(), lines, issue_date=ISSUED)


def _refused_at(client: Client, ctype: str, payload: dict[str, Any], pointer: str) -> None:
    """Refused with one command.rejected at ``pointer``, and no row of the organization
    changed: no credit note, no movement, the invoice as it was."""
    before, count = client.snapshot(), client.count_invoices()
    errors = client.rejected(ctype, payload)
    assert [(e["code"], e["source"]["pointer"], e["status"]) for e in errors] == [
        ("date_before_invoice", pointer, "422")
    ]
    assert "before the invoice's issue date 2026-12-01" in errors[0]["detail"]
    assert "on or after 2026-12-01" in errors[0]["meta"]["hint"]
    assert client.snapshot() == before and client.count_invoices() == count


@pytest.mark.parametrize(
    "extra",
    [{}, {"lines": [line("Rabatt", "1", "10.00")]}],
    ids=["full", "partial"],
)
def test_a_credit_note_dated_before_its_invoice_is_refused_and_nothing_is_written(
    engine: Engine, extra: dict[str, Any]
) -> None:
    client = _client(engine)
    iid = _invoice(client)["id"]
    cn_id = str(uuid.uuid4())
    payload = {"invoice_id": iid, "credit_note_id": cn_id, **extra}
    for early in (DAY_BEFORE, NOW.date().isoformat()):  # today is before the invoice too
        _refused_at(
            client, "issue_credit_note", {**payload, "issue_date": early}, "/payload/issue_date"
        )
    state = client.state(iid)
    assert state["status"] == "finalized" and state["ledger_entries"] == []
    # the same day is taken; the refusals took no number
    out = client.ok("issue_credit_note", {**payload, "issue_date": ISSUED.isoformat()})
    cn = next(e for e in out.events if e["type"] == "credit_note.issued")["data"]["invoice"]
    assert (cn["id"], cn["issue_date"], cn["number"]) == (cn_id, "2026-12-01", "GS-2026-0001")
    (entry,) = client.state(iid)["ledger_entries"]
    assert (entry["kind"], entry["date"]) == ("credit", "2026-12-01")


def test_a_write_off_and_its_reversal_dated_before_the_invoice_are_refused(
    engine: Engine,
) -> None:
    client = _client(engine)
    iid = _invoice(client)["id"]
    wid = str(uuid.uuid4())
    write_off = {"invoice_id": iid, "write_off_id": wid, "reason": "uncollectible"}
    _refused_at(client, "write_off_invoice", {**write_off, "date": DAY_BEFORE}, "/payload/date")
    out = client.ok("write_off_invoice", {**write_off, "date": ISSUED.isoformat()})
    assert out.events[0]["data"]["write_off"]["date"] == "2026-12-01"
    reversal = {"invoice_id": iid, "write_off_id": wid}
    _refused_at(client, "reverse_write_off", {**reversal, "date": DAY_BEFORE}, "/payload/date")
    out = client.ok("reverse_write_off", {**reversal, "date": ISSUED.isoformat()})
    assert out.events[0]["type"] == "invoice.write_off_reversed"
    assert out.events[0]["data"]["invoice"]["totals"]["written_off_amount"] == "0.00"


def _void(client: Client, iid: str) -> dict[str, Any]:
    return {"invoice_id": iid}


def _batch_void(client: Client, iid: str) -> dict[str, Any]:
    return {"action": "void", "invoice_ids": [iid]}


def _change_recipient(client: Client, iid: str) -> dict[str, Any]:
    return {
        "invoice_id": iid,
        "customer_id": str(client.customer()),
        "new_invoice_id": str(uuid.uuid4()),
    }


def _credit_note(client: Client, iid: str) -> dict[str, Any]:
    return {"invoice_id": iid}


@pytest.mark.parametrize(
    ("ctype", "payload"),
    [
        ("void_invoice", _void),
        ("batch", _batch_void),
        ("change_recipient", _change_recipient),
        ("issue_credit_note", _credit_note),
    ],
    ids=["void", "batch_void", "change_recipient", "credit_note"],
)
def test_a_correction_without_a_date_of_a_future_dated_invoice_takes_its_issue_date(
    engine: Engine, ctype: str, payload: Any
) -> None:
    """Today (2026-11-20) would precede the invoice (2026-12-01): the credit note is dated on
    the invoice's day, and so is its movement in the invoice's ledger."""
    client = _client(engine)
    iid = _invoice(client)["id"]
    out = client.ok(ctype, payload(client, iid))
    (cn,) = [e["data"]["invoice"] for e in out.events if e["type"] == "credit_note.issued"]
    assert cn["issue_date"] == cn["due_date"] == "2026-12-01"
    assert cn["credited_invoice_issue_date"] == "2026-12-01"
    (entry,) = client.state(iid)["ledger_entries"]
    assert (entry["kind"], entry["date"]) == ("credit", "2026-12-01")


def test_a_correction_without_a_date_of_an_invoice_of_the_past_takes_today(
    engine: Engine,
) -> None:
    client = _client(engine)
    iid = client.finalized(client.customer(), [line()], issue_date=dt.date(2026, 11, 2))["id"]
    out = client.ok("void_invoice", {"invoice_id": iid})
    (cn,) = [e["data"]["invoice"] for e in out.events if e["type"] == "credit_note.issued"]
    assert cn["issue_date"] == "2026-11-20"


def test_payments_and_standalone_credit_notes_keep_their_earlier_dates(engine: Engine) -> None:
    """A payment before the invoice is a prepayment; a standalone credit note corrects no
    single invoice: neither is compared with an invoice's issue date."""
    client = _client(engine)
    inv = _invoice(client)
    payment = {"invoice_id": inv["id"], "amount": "100.00", "date": "2026-11-15"}
    out = client.ok("record_payment", payment)
    assert [p["date"] for p in out.events[0]["data"]["invoice"]["payments"]] == ["2026-11-15"]
    standalone = {
        "credit_note_id": str(uuid.uuid4()),
        "customer_id": inv["customer_id"],
        "reason": "Bonus",
        "issue_date": "2026-11-15",
        "lines": [line("Bonus", "1", "10.00")],
    }
    out = client.ok("issue_standalone_credit_note", standalone)
    assert out.events[0]["data"]["invoice"]["issue_date"] == "2026-11-15"


def test_a_reversal_dated_before_its_write_off_is_refused(engine: Engine) -> None:
    """After the invoice but before the write-off it reverses: refused at the date
    (``date_before_write_off``), nothing written; on the write-off's day it is taken."""
    client = _client(engine)
    iid = _invoice(client)["id"]
    wid = str(uuid.uuid4())
    client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "write_off_id": wid, "reason": "uncollectible", "date": "2026-12-10"},
    )
    before = client.snapshot()
    errors = client.rejected(
        "reverse_write_off", {"invoice_id": iid, "write_off_id": wid, "date": "2026-12-05"}
    )
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("date_before_write_off", "/payload/date")
    ]
    assert "on or after 2026-12-10" in errors[0]["meta"]["hint"]
    assert client.snapshot() == before
    client.ok("reverse_write_off", {"invoice_id": iid, "write_off_id": wid, "date": "2026-12-10"})
