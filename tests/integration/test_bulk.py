"""Bulk (src/pipeline/bulk.py): the commands of one thread -- ``invoicing process`` over a
file -- several to a transaction, with the outcomes a transaction per command would give.
On both backends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from invoicing.handlers.registry import PREFETCH
from invoicing.models import OutboxEvent
from invoicing.pipeline import Outcome
from invoicing.pipeline.bulk import Bulk
from invoicing.schemas.commands import FinalizeInvoice
from sqlalchemy import Engine, event, select, text
from structlog.testing import capture_logs

from tests.support.client import DE_ORG, Client, line
from tests.support.sql import on_statement


def _bodies(docs: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(d).encode() for d in docs]


def _statuses(results: list[Outcome | Exception]) -> list[str]:
    return [r.status if isinstance(r, Outcome) else repr(r) for r in results]


def _pair(client: Client, customer: uuid.UUID, **finalize: Any) -> tuple[uuid.UUID, list[Any]]:
    iid = uuid.uuid4()
    return iid, [
        client.doc(
            "create_invoice", {"id": str(iid), "customer_id": str(customer), "lines": [line()]}
        ),
        client.doc("finalize_invoice", {"invoice_id": str(iid), **finalize}),
    ]


def _pairs(client: Client, n: int) -> list[dict[str, Any]]:
    """``n`` create+finalize pairs of one new customer, in that order."""
    customer = client.customer()
    docs: list[dict[str, Any]] = []
    for _ in range(n):
        docs += _pair(client, customer)[1]
    return docs


def _number(outcome: Outcome | Exception) -> int:
    assert isinstance(outcome, Outcome), outcome
    [finalized] = [e for e in outcome.events if e["type"] == "invoice.finalized"]
    return int(finalized["data"]["invoice"]["number"].rsplit("-", 1)[-1])


def test_pairs_share_transactions_and_are_numbered_in_the_order_of_the_file(
    client: Client,
) -> None:
    docs = _pairs(client, 10)
    bulk = Bulk(client.bus, 8)
    results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied"] * 20
    assert bulk.group.sizes == [8, 8, 4]  # a create and its finalize may share a batch
    assert bulk.group.optimistic_commits == 3 and bulk.group.fallbacks == 0
    numbers = [_number(r) for r in results[1::2]]
    assert numbers == list(range(numbers[0], numbers[0] + 10))
    for outcome in results[1::2]:  # the events carry what was committed
        assert isinstance(outcome, Outcome)
        invoice = outcome.events[0]["data"]["invoice"]
        assert client.state(invoice["id"])["number"] == invoice["number"]
    # run again: every command is a duplicate, nothing is applied twice
    again = Bulk(client.bus, 8).run(_bodies(docs))
    assert _statuses(again) == ["duplicate"] * 20
    assert client.count_invoices() == 10


def test_rejections_keep_their_place_and_the_outbox_the_order_of_the_file(
    client: Client,
) -> None:
    customer = client.customer()
    a, pair_a = _pair(client, customer)
    undecodable_id = uuid.uuid4()
    undecodable = (
        f'{{"type": "create_invoice", "command_id": "{undecodable_id}", '
        f'"organization_id": "{client.org}", "payload": {{'
    ).encode()
    unknown_customer = client.doc(
        "create_invoice",
        {"id": str(uuid.uuid4()), "customer_id": str(uuid.uuid4()), "lines": [line()]},
    )
    c, pair_c = _pair(client, customer)
    bodies = [
        *_bodies(pair_a[:1]),
        undecodable,  # refused before it runs: recorded after the create before it
        *_bodies([unknown_customer, pair_a[1], *pair_c]),
    ]
    results = Bulk(client.bus, 50).run(bodies)
    assert _statuses(results) == [
        "applied",
        "rejected",
        "rejected",
        "applied",
        "applied",
        "applied",
    ]
    assert isinstance(results[2], Outcome) and results[2].errors[0]["code"] == "customer_not_found"
    with client.bus.uow_factory() as uow:
        order = uow.session.execute(
            select(OutboxEvent.payload)
            .where(OutboxEvent.organization_id == client.org)
            .order_by(OutboxEvent.id)
        ).scalars()
        seen = list(dict.fromkeys(str(x["commandid"]) for x in order))
    expected = [
        pair_a[0]["command_id"],
        str(undecodable_id),
        unknown_customer["command_id"],
        pair_a[1]["command_id"],
        *(d["command_id"] for d in pair_c),
    ]
    assert seen[-6:] == expected
    assert client.state(a)["status"] == client.state(c)["status"] == "finalized"


def test_a_command_after_a_finalize_sees_the_invoice_finalized(client: Client) -> None:
    """A finalize's number and new state are written at the end of its batch: a later
    command of the same invoice, or one naming no invoice, starts the next batch."""
    customer = client.customer()
    a, pair_a = _pair(client, customer)
    b, pair_b = _pair(client, customer)
    docs = [
        *pair_a,
        client.doc(
            "record_payment", {"invoice_id": str(a), "amount": "119.00", "date": "2026-04-20"}
        ),
        client.doc("finalize_invoice", {"invoice_id": str(a)}),  # twice: refused, as alone
        *pair_b,
        client.doc("check_overdue", {"as_of": "2026-11-01"}),  # names no invoice
    ]
    bulk = Bulk(client.bus, 50)
    results = bulk.run(_bodies(docs))
    assert _statuses(results) == [
        "applied",
        "applied",
        "applied",
        "rejected",
        "applied",
        "applied",
        "applied",
    ], [getattr(r, "errors", r) for r in results]
    assert isinstance(results[3], Outcome) and results[3].errors[0]["code"] == "already_finalized"
    assert client.state(a)["status"] == "paid"
    assert bulk.group.sizes == [2, 4, 1]
    assert client.state(b)["status"] == "finalized"


def test_a_command_that_takes_its_number_in_place_runs_alone(client: Client) -> None:
    customer = client.customer()
    marked = client.invoice(customer, [line()])
    _, pair = _pair(client, customer)
    docs = [
        pair[0],
        client.doc("mark_sent", {"invoice_id": str(marked)}),  # a draft: numbered in place
        pair[1],
    ]
    bulk = Bulk(client.bus, 50)
    results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied"] * 3
    assert bulk.group.sizes == [1, 1, 1]
    assert _number(results[2]) == _number(results[1]) + 1


def test_a_command_that_locks_a_customer_runs_alone(client: Client) -> None:
    """As in the workers' group commit (docs/pipeline.md, "Commands that lock a customer run
    alone"): a payment across a customer's invoices has a transaction of its own, so a file
    processed beside running workers never locks an invoice before that customer."""
    customer = client.customer()
    _, pair = _pair(client, customer)
    docs = [
        pair[0],
        client.doc(
            "record_payment",
            {"customer_id": str(customer), "amount": "10.00", "date": "2026-01-10"},
        ),
        pair[1],
    ]
    bulk = Bulk(client.bus, 50)
    results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied"] * 3
    assert bulk.group.sizes == [1, 1, 1]


def test_a_command_twice_in_one_batch_is_a_duplicate(client: Client) -> None:
    customer = client.customer()
    _, pair = _pair(client, customer)
    bulk = Bulk(client.bus, 50)
    results = bulk.run(_bodies([pair[0], pair[0], pair[1]]))
    assert _statuses(results) == ["applied", "duplicate", "applied"]
    assert bulk.group.fallbacks == 1  # the one-statement claim saw it: savepoints told which


def test_finalizes_of_one_batch_are_numbered_in_the_order_of_their_dates(
    client: Client,
) -> None:
    """The one difference to a transaction per command (src/pipeline/bulk.py): finalizes
    sharing a batch take their numbers in date order, so a later date first is no refusal."""
    customer = client.customer()
    _, later = _pair(client, customer, issue_date="2026-06-03")
    _, earlier = _pair(client, customer, issue_date="2026-06-02")
    results = Bulk(client.bus, 50).run(_bodies([*later, *earlier]))
    assert _statuses(results) == ["applied"] * 4
    assert _number(results[3]) + 1 == _number(results[1])


def _draft_reads(engine: Engine, bulk: Bulk, docs: list[dict[str, Any]]) -> tuple[Any, int]:
    """The outcomes of ``docs`` in one batch, and how many statements read drafts."""
    seen: list[str] = []
    with on_statement(engine, lambda _cursor, sql: seen.append(sql.lstrip())):
        results = bulk.run(_bodies(docs))
    return results, sum(s.startswith("SELECT invoices.organization_id,") for s in seen)


def test_finalizes_read_their_drafts_ahead_unless_the_batch_touched_them(
    client: Client, engine: Engine
) -> None:
    """On PostgreSQL the finalizes of a batch read their drafts in one statement before its
    commands run (``registry.PREFETCH``), except one whose invoice an earlier command of the
    batch names (here created by it), which reads its own after that command."""
    customer = client.customer()
    created, pair = _pair(client, customer)
    drafts = [client.invoice(customer, [line()]) for _ in range(2)]
    finalizes = [client.doc("finalize_invoice", {"invoice_id": str(d)}) for d in drafts]
    results, reads = _draft_reads(engine, Bulk(client.bus, 50), [*pair, *finalizes])
    assert _statuses(results) == ["applied"] * 4
    assert reads == (2 if engine.dialect.name == "postgresql" else 3)
    numbers = [_number(r) for r in results[1:]]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    assert all(client.state(str(i))["status"] != "draft" for i in (created, *drafts))


def test_finalizes_after_another_command_read_what_it_wrote(client: Client, engine: Engine) -> None:
    """A command before the finalizes of a batch that is neither a finalize nor a create (it
    may change what they read: here the organization each draft's seller comes from) stops
    the reading ahead: the finalizes see its change. (A change of the customer each buyer
    comes from runs alone since session 28, so it ends the batch instead.)"""
    customer = client.customer()
    drafts = [client.invoice(customer, [line()]) for _ in range(2)]
    renamed = client.doc("configure_organization", {**DE_ORG, "name": "Renamed GmbH"})
    finalizes = [client.doc("finalize_invoice", {"invoice_id": str(d)}) for d in drafts]
    results, reads = _draft_reads(engine, Bulk(client.bus, 50), [renamed, *finalizes])
    assert _statuses(results) == ["applied"] * 3
    assert reads == 2  # each its own, after the organization's change
    for outcome in results[1:]:
        assert isinstance(outcome, Outcome)
        assert outcome.events[0]["data"]["invoice"]["seller"]["name"] == "Renamed GmbH"


def _create(client: Client, customer: uuid.UUID, iid: uuid.UUID | None = None) -> dict[str, Any]:
    payload = {"id": str(iid or uuid.uuid4()), "customer_id": str(customer), "lines": [line()]}
    return client.doc("create_invoice", payload)


def test_creates_read_their_organization_and_customers_ahead(
    client: Client, engine: Engine
) -> None:
    """On PostgreSQL the creates of a batch read their organization, their customers and
    whether their ids are new in one statement before its commands run; a create whose id
    an earlier create of the batch took reads its own after it, and is refused."""
    customers = [client.customer(), client.customer()]
    twice = uuid.uuid4()
    docs = [
        _create(client, customers[0], twice),
        _create(client, customers[1]),
        _create(client, customers[0], twice),
        _create(client, customers[1]),
    ]
    seen: list[str] = []
    with on_statement(engine, lambda _cursor, sql: seen.append(sql.lstrip())):
        results = Bulk(client.bus, 50).run(_bodies(docs))
    assert _statuses(results) == ["applied", "applied", "rejected", "applied"]
    assert isinstance(results[2], Outcome)
    assert results[2].errors[0]["code"] == "invoice_exists"
    own_reads = sum(s.startswith("SELECT organizations.id,") for s in seen)
    # the first run (without savepoints) holds its new invoices back to its end, where the
    # third one's id is refused (taken by the first); then every create runs again with
    # savepoints, reading its own. In the first run PostgreSQL read all of them ahead but
    # the third, which read its own after the first; SQLite reads each its own
    first_run = 1 if engine.dialect.name == "postgresql" else len(docs)
    assert own_reads == first_run + len(docs)
    for i in (0, 1, 3):
        state = client.state(docs[i]["payload"]["id"])
        assert state["customer_id"] == docs[i]["payload"]["customer_id"]


def test_a_create_naming_another_organizations_customer_is_refused_in_a_batch(
    client: Client,
) -> None:
    """Read ahead or alone, a create finds only its own organization's customers."""
    other = Client(client.bus)
    other.setup_org()
    docs = [_create(client, client.customer()), _create(client, other.customer())]
    results = Bulk(client.bus, 50).run(_bodies(docs))
    assert _statuses(results) == ["applied", "rejected"]
    assert isinstance(results[1], Outcome)
    assert results[1].errors[0]["code"] == "customer_not_found"
    assert client.count_invoices() == 1


def test_a_failure_to_read_ahead_runs_the_batch_with_savepoints(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading ahead only saves statements: when it fails (a bug, here), the batch runs again
    with savepoints, each command reading its own, and the failure is logged."""
    customer = client.customer()
    drafts = [client.invoice(customer, [line()]) for _ in range(2)]
    docs = [client.doc("finalize_invoice", {"invoice_id": str(d)}) for d in drafts]

    def broken(_uow: Any, _commands: list[Any]) -> None:
        raise RuntimeError("a bug while reading ahead")

    monkeypatch.setitem(PREFETCH, FinalizeInvoice, broken)
    bulk = Bulk(client.bus, 50)
    with capture_logs() as logs:
        results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied", "applied"]
    assert bulk.group.fallbacks == 1 and bulk.group.optimistic_commits == 0
    [failed] = [e for e in logs if e["event"] == "batch.read_ahead_failed"]
    assert failed["log_level"] == "error" and "a bug while reading ahead" in failed["reason"]


@pytest.fixture
def commit_fails_once(engine: Engine) -> Iterator[list[str]]:
    """Once armed (``append("armed")``), the next COMMIT fails, as when the connection is
    lost there."""
    state: list[str] = []

    def fail(_conn: Any) -> None:
        if state == ["armed"]:
            state.append("failed")
            raise ConnectionError("the database went away at the commit")

    event.listen(engine, "commit", fail)
    try:
        yield state
    finally:
        event.remove(engine, "commit", fail)


def test_a_batch_lost_as_a_whole_runs_again_one_command_per_transaction(
    client: Client, commit_fails_once: list[str]
) -> None:
    docs = _pairs(client, 3)
    bulk = Bulk(client.bus, 50)
    commit_fails_once.append("armed")
    results = bulk.run(_bodies(docs))
    assert commit_fails_once == ["armed", "failed"]
    assert _statuses(results) == ["applied"] * 6
    assert bulk.group.sizes == [6]  # then each in a transaction of its own
    numbers = [_number(r) for r in results[1::2]]
    assert numbers == list(range(numbers[0], numbers[0] + 3))  # nothing of the lost batch stayed


def _invoice_inserts(seen: list[str]) -> list[str]:
    return [
        s.split(" (")[0]
        for s in seen
        if s.startswith(
            ("INSERT INTO invoices ", "INSERT INTO invoice_lines ", "INSERT INTO outbox")
        )
    ]


def test_a_batchs_new_invoices_are_written_together_at_its_end(
    client: Client, engine: Engine
) -> None:
    """A batch run without savepoints holds its new invoices back and writes them in one
    round trip before its commit: every line in one executemany, then every invoice (whose
    search document, on PostgreSQL, the INSERT trigger builds from the lines already there),
    then the events."""
    customer = client.customer()
    ids = [uuid.uuid4() for _ in range(3)]
    docs = [
        client.doc(
            "create_invoice",
            {"id": str(i), "customer_id": str(customer), "lines": [line(f"Posten {n}")] * 2},
        )
        for n, i in enumerate(ids)
    ]
    seen: list[str] = []
    bulk = Bulk(client.bus, 50)
    with on_statement(engine, lambda _cursor, sql: seen.append(sql.lstrip())):
        results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied"] * 3
    assert bulk.group.optimistic_commits == 1 and bulk.group.fallbacks == 0
    assert _invoice_inserts(seen) == [
        "INSERT INTO invoice_lines",
        "INSERT INTO invoices",
        "INSERT INTO outbox",
    ]
    for n, iid in enumerate(ids):
        assert [x["description"] for x in client.state(iid)["lines"]] == [f"Posten {n}"] * 2
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            texts = conn.execute(
                text("SELECT id, search_text FROM invoices WHERE id = ANY(:ids)"), {"ids": ids}
            ).all()
        assert {row.id: row.search_text for row in texts}.keys() == set(ids)
        for row in texts:  # the lines were there when the invoice's INSERT trigger ran
            assert f"posten {ids.index(row.id)}" in row.search_text


def test_a_command_after_a_create_in_its_batch_reads_the_new_invoice(
    client: Client, engine: Engine
) -> None:
    """The new invoices held back are written before the batch's next command that is not a
    create: what it reads may be one of them (here a line added to the invoice just
    created, in the same transaction)."""
    customer = client.customer()
    first, second = uuid.uuid4(), uuid.uuid4()
    docs = [
        client.doc(
            "create_invoice", {"id": str(first), "customer_id": str(customer), "lines": [line()]}
        ),
        client.doc("add_line", {"invoice_id": str(first), "line": line("Reisekosten")}),
        client.doc(
            "create_invoice", {"id": str(second), "customer_id": str(customer), "lines": [line()]}
        ),
    ]
    seen: list[str] = []
    bulk = Bulk(client.bus, 50)
    with on_statement(engine, lambda _cursor, sql: seen.append(sql.lstrip())):
        results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied"] * 3
    assert bulk.group.sizes == [3] and bulk.group.fallbacks == 0
    inserts = _invoice_inserts(seen)
    assert inserts.count("INSERT INTO invoices") == 2  # the first before add_line, then the second
    assert [x["description"] for x in client.state(first)["lines"]] == ["Beratung", "Reisekosten"]
    assert len(client.state(second)["lines"]) == 1


def test_a_number_taken_twice_in_a_batch_is_refused_as_alone(client: Client) -> None:
    """Two creates of one batch with the same manual number: neither saw the other's (held
    back) when it checked, the batch's write refuses the second, and the batch runs again
    with savepoints, where the second is rejected at /payload/number as it would be alone."""
    customer = client.customer()
    a, b = uuid.uuid4(), uuid.uuid4()
    docs = [
        client.doc(
            "create_invoice",
            {"id": str(i), "customer_id": str(customer), "number": "MAN-7", "lines": [line()]},
        )
        for i in (a, b)
    ]
    bulk = Bulk(client.bus, 50)
    results = bulk.run(_bodies(docs))
    assert _statuses(results) == ["applied", "rejected"]
    assert bulk.group.fallbacks == 1
    assert isinstance(results[1], Outcome)
    assert results[1].errors[0]["code"] == "number_taken"
    assert results[1].errors[0]["source"]["pointer"] == "/payload/number"
    assert client.state(a)["number"] == "MAN-7"
    assert client.count_invoices() == 1


def test_creates_billing_entries_in_a_batch_write_the_invoices_before_the_entries(
    client: Client, engine: Engine
) -> None:
    """A create that bills time entries changes them through the session; those changes
    name the new invoice, so the invoices held back are written before the session's own
    changes are flushed (``UnitOfWork.flush``), and a second create of the batch finds the
    entries billed by the first."""
    customer = client.customer()
    for eid in ("bte_1", "bte_2"):
        client.ok(
            "record_billable_entry",
            {
                "id": eid,
                "date": "2026-03-01",
                "description": eid,
                "quantity": "1",
                "unit_price": "100",
            },
        )
    first, second = uuid.uuid4(), uuid.uuid4()
    docs = [
        client.doc(
            "create_invoice",
            {"id": str(first), "customer_id": str(customer), "time_entry_ids": ["bte_1"]},
        ),
        client.doc(
            "create_invoice",
            {"id": str(second), "customer_id": str(customer), "time_entry_ids": ["bte_2"]},
        ),
        client.doc(
            "create_invoice",
            {"id": str(uuid.uuid4()), "customer_id": str(customer), "time_entry_ids": ["bte_1"]},
        ),
    ]
    seen: list[str] = []
    bulk = Bulk(client.bus, 50)
    with on_statement(engine, lambda _cursor, sql: seen.append(sql.lstrip())):
        results = bulk.run(_bodies(docs))
    assert _statuses(results)[:2] == ["applied", "applied"]
    assert isinstance(results[2], Outcome) and results[2].status == "rejected"
    assert results[2].errors[0]["code"] == "entry_billed"  # by the first
    assert [ln["billable_entry_ids"] for ln in client.state(first)["lines"]] == [["bte_1"]]
    assert [ln["billable_entry_ids"] for ln in client.state(second)["lines"]] == [["bte_2"]]
    assert client.count_invoices() == 2
    first_insert = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO invoices "))
    first_update = next(i for i, s in enumerate(seen) if s.startswith("UPDATE billable_entries "))
    assert first_insert < first_update
