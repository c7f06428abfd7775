"""Several random walks at once on the same invoices, through group commit, on SQLite and
PostgreSQL.

Eight threads each send 60 commands drawn as in tests/support/walks.py, on one organization's
shared documents, through two pipelines with a group commit each (as two worker processes),
so that payments, credit notes, write-offs, voids and finalizes of the same invoice meet in
one transaction or race for its row across the two. Afterwards:

- no command failed (applied, or rejected with a reason; never an ``internal_error``);
- every series runs from 1 without a gap;
- every document's events are numbered 1, 2, 3, ... without a gap or a repeat, and the last
  one carries the document exactly as ``get_invoice`` reads it now: a listener that keeps a
  read model from the events has every change, in order (nothing lost, nothing stale);
- every invoice's paid amount is the sum of its payments, its credited amount the sum of its
  credit notes, and its open amount its gross total less paid, credited and written off;
- transactions did hold several commands (the test exercised the group commit).
"""

from __future__ import annotations

import collections
import threading
from decimal import Decimal
from typing import Any

import pytest
from invoicing.models import OutboxEvent
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, select

from tests.support.client import Client
from tests.support.fakes import fake_deps
from tests.support.walks import KINDS, Pool, Walk, assert_gapless_numbers, check_open_amount

pytestmark = pytest.mark.integration

THREADS = 8
STEPS = 60


def _events(client: Client) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """(sequence, payload) of each subject's events, in sequence order."""
    with client.bus.uow_factory() as uow:
        rows = uow.session.execute(
            select(OutboxEvent.subject, OutboxEvent.sequence, OutboxEvent.payload).where(
                OutboxEvent.organization_id == client.org, OutboxEvent.sequence.is_not(None)
            )
        ).all()
    by_subject: dict[str, list[tuple[int, dict[str, Any]]]] = collections.defaultdict(list)
    for subject, sequence, payload in rows:
        by_subject[str(subject)].append((int(sequence), payload))
    return {s: sorted(events, key=lambda e: e[0]) for s, events in by_subject.items()}


def _read(client: Client, invoice_id: str) -> dict[str, Any]:
    reply = client.bus.query_document(
        {
            "type": "get_invoice",
            "organization_id": str(client.org),
            "payload": {"invoice_id": invoice_id, "include_deleted": True},
        }
    )
    assert reply["status"] == "ok", (invoice_id, reply["errors"])
    return reply["result"]["invoice"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", range(2))
def test_walks_at_once_keep_amounts_numbers_and_events(engine: Engine, seed: int) -> None:
    buses = [Pipeline(engine, fake_deps(), LocalOperator()) for _ in range(2)]
    for bus in buses:
        bus.enable_batching(16, 2)
    client = Client(buses[0])
    client.setup_org()
    customer, pool = str(client.customer()), Pool()
    walks = [
        Walk(bus, seed * 1000 + k, client=Client(bus, client.org), customer=customer, pool=pool)
        for k, bus in enumerate(buses * (THREADS // 2))
    ]
    for i in range(4):  # drafts to start with, so that the walks meet on them at once
        walks[0].step(["create"], f"draft {i}")
    failures: list[BaseException] = []

    def walk(k: int) -> None:
        try:
            for step in range(STEPS):
                walks[k].step(KINDS, f"seed {seed}, walk {k}, step {step}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=walk, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not [t for t in threads if t.is_alive()], "a walk did not finish"
    assert failures == [], failures[0]
    assert len(pool.finalized) >= 3, "the walks should reach issued invoices"
    assert assert_gapless_numbers(client) >= 3

    states: dict[str, dict[str, Any]] = {}
    for subject, events in _events(client).items():
        assert [s for s, _ in events] == list(range(1, len(events) + 1)), (subject, events)
        last = events[-1][1]["data"].get("invoice")
        if last is None:  # a customer's events
            continue
        states[subject] = _read(client, subject)
        assert last == states[subject], (subject, events[-1][1]["type"])
    assert set(pool.invoices) <= set(states)

    credited: dict[str, Decimal] = collections.defaultdict(Decimal)
    for state in states.values():
        if state["kind"] == "credit_note" and state["credited_invoice_id"]:
            credited[state["credited_invoice_id"]] += Decimal(state["totals"]["gross_total"])
    for invoice_id, state in states.items():
        if state["kind"] != "invoice" or state["status"] == "draft":
            continue
        totals = state["totals"]
        paid = sum((Decimal(p["amount"]) for p in state["payments"]), Decimal(0))
        assert paid == Decimal(totals["paid_amount"]), (invoice_id, totals)
        assert credited[invoice_id] == Decimal(totals["credited_amount"]), (invoice_id, totals)
        check_open_amount(state, invoice_id)
    sizes = [size for bus in buses if bus.group is not None for size in bus.group.sizes]
    assert max(sizes) > 1, "no transaction held two commands"
