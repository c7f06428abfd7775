"""A command that waited for a document's row lock reads what the writer it waited for left:
the document *and its lines* (PostgreSQL, READ COMMITTED).

One statement that joins the lines to the row it locks (``SELECT ... FOR UPDATE OF invoices``)
does not: having waited, PostgreSQL returns the locked row as the writer left it, but the
lines as they were when the statement began. A finalize that waited for an ``add_line`` of the
same draft then computed its totals without that line, and the line stayed on the finalized
invoice outside its totals (session 31: the concurrent walks with more seeds, 6 of 30 runs).
Here the writer is held open on purpose: it locks the draft, adds a line and touches the
draft's row, a command of the pipeline queues for the lock, then the writer commits."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from invoicing import db
from invoicing.models import Invoice, InvoiceLine, WriteOffId
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, func, insert, select, update

from tests.support.client import Client, line
from tests.support.databases import until_waiting_for_locks
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

LINES = InvoiceLine.__table__


def _add_line_while_holding_the_lock(
    engine: Engine, client: Client, draft: uuid.UUID, command: dict[str, Any]
) -> Any:
    """Lock the draft, add a line (a copy of its first, at 40.00) and touch its row; run
    ``command`` meanwhile (it queues for the lock); commit; the command's outcome."""
    key = (Invoice.organization_id == client.org, Invoice.id == draft)
    with engine.connect() as holder:
        holder.execute(select(Invoice.id).where(*key).with_for_update())
        first = holder.execute(
            select(LINES).where(LINES.c.organization_id == client.org, LINES.c.invoice_id == draft)
        ).one()
        copy = {**first._asdict(), "id": uuid.uuid4(), "position": 2, "description": "Nachtrag"}
        copy.update(unit_price=Decimal("40.00"), base_amount=Decimal("40.00"))
        copy.update(amount=Decimal("40.00"), net_amount=Decimal("40.00"))
        holder.execute(insert(LINES).values(copy))
        holder.execute(update(Invoice).where(*key).values(updated_at=func.now()))
        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(client.bus.handle_document, command)
            until_waiting_for_locks(engine, 1, "the command (for the draft's lock)")
            holder.commit()
            return running.result(timeout=60)


@pytest.fixture
def pg(pg_url: str) -> Any:
    engine = db.make_engine(pg_url)
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org()
    yield engine, client
    engine.dispose()


def test_a_finalize_that_waited_counts_the_line_added_meanwhile(pg: Any) -> None:
    engine, client = pg
    draft = client.invoice(client.customer(), [line("Beratung", "1", "100.00")])
    command = client.doc("finalize_invoice", {"invoice_id": str(draft)})
    outcome = _add_line_while_holding_the_lock(engine, client, draft, command)
    assert outcome.status == "applied", outcome.errors
    issued = outcome.events[-1]["data"]["invoice"]
    assert [x["description"] for x in issued["lines"]] == ["Beratung", "Nachtrag"]
    assert issued["totals"]["net_total"] == "140.00"
    assert issued["totals"]["gross_total"] == "166.60"
    assert client.state(draft) == issued


def test_an_added_line_after_a_wait_takes_the_next_position_and_counts_every_line(
    pg: Any,
) -> None:
    engine, client = pg
    draft = client.invoice(client.customer(), [line("Beratung", "1", "100.00")])
    command = client.doc(
        "add_line", {"invoice_id": str(draft), "line": line("Reise", "1", "10.00")}
    )
    outcome = _add_line_while_holding_the_lock(engine, client, draft, command)
    assert outcome.status == "applied", outcome.errors
    state = outcome.events[-1]["data"]["invoice"]
    assert [(x["position"], x["description"]) for x in state["lines"]] == [
        (1, "Beratung"),
        (2, "Nachtrag"),
        (3, "Reise"),
    ]
    assert state["totals"]["net_total"] == "150.00"


def test_a_write_off_id_taken_meanwhile_is_refused_not_a_crash(pg: Any) -> None:
    """Another transaction holds the write-off id uncommitted (as a concurrent write-off of
    another invoice under the same id would); the write-off waits for it, then is refused
    (``write_off_exists``). With a look-up then an ORM insert it read nothing, queued on the
    key and failed with an IntegrityError after the other's commit."""
    engine, client = pg
    invoice = client.finalized(client.customer(), [line("Beratung", "1", "100.00")])
    other, wid = uuid.uuid4(), uuid.uuid4()
    payload = {"invoice_id": invoice["id"], "write_off_id": str(wid), "reason": "uncollectible"}
    command = client.doc("write_off_invoice", {**payload, "date": invoice["issue_date"]})
    with engine.connect() as holder:
        row = {"organization_id": client.org, "id": wid, "invoice_id": other}
        holder.execute(insert(WriteOffId).values(row))
        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(client.bus.handle_document, command)
            until_waiting_for_locks(engine, 1, "the write-off (for the id's key)")
            holder.commit()
            outcome = running.result(timeout=60)
    assert outcome.status == "rejected", outcome
    assert [(e["code"], e["source"]["pointer"]) for e in outcome.errors] == [
        ("write_off_exists", "/payload/write_off_id")
    ]
    assert str(other) in outcome.errors[0]["detail"]
