"""Group commit (src/pipeline/batch.py): commands of concurrent threads share a transaction,
first without savepoints, then a savepoint each when one of them has to be undone; one
command's rejection or failure never affects another.

The batches are made deterministic by holding the first command (the leader) on a real lock
of the database until the others are waiting behind it: they then run as ONE batch. Commands
that may take a number (finalize, credit notes) have a lane of their own, one transaction at a
time per process: they batch with each other, never with ordinary commands.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from invoicing import db
from invoicing.domain.numbering import Series
from invoicing.handlers.numbering import NumberClaim, allocate
from invoicing.handlers.repository import organization_row
from invoicing.models import Invoice, NumberSeries
from invoicing.pipeline import Outcome, Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.workers.delivery import is_transient
from sqlalchemy import Engine, select, text

from tests.support.client import DE_ORG, Client, customer_payload, line
from tests.support.fakes import fake_deps
from tests.support.sql import on_statement


@pytest.fixture
def batching(engine: Engine) -> Client:
    bus = Pipeline(engine, fake_deps(), LocalOperator())
    client = Client(bus)
    client.setup_org()
    bus.enable_batching(16)
    return client


@contextmanager
def held(engine: Engine, invoice_id: str) -> Iterator[None]:
    """Another transaction holds what the leader needs: the row of the invoice it finalizes
    (PostgreSQL) or the database's write lock (SQLite)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(select(Invoice.id).where(Invoice.id == invoice_id).with_for_update())
        else:
            conn.execute(text("UPDATE number_series SET series = series WHERE 1 = 0"))
        yield
        conn.rollback()


def run_batch(
    client: Client, leader: dict[str, Any], docs: list[dict[str, Any]]
) -> tuple[Outcome | BaseException, list[Outcome | BaseException]]:
    """``leader`` starts a transaction and waits on the held lock; ``docs`` are submitted
    from one thread each, one after the other, and queue behind it; then the lock is freed.
    Returns the outcomes (or exceptions) of the leader and of ``docs`` in order."""
    group = client.bus.group
    assert group is not None
    results: dict[int, Outcome | BaseException] = {}

    def submit(i: int, doc: dict[str, Any]) -> Callable[[], None]:
        def go() -> None:
            try:
                results[i] = client.bus.handle_document(doc)
            except BaseException as exc:
                results[i] = exc

        return go

    threads = []
    engine = client.bus.engine
    with held(engine, leader["payload"]["invoice_id"]):
        first = threading.Thread(target=submit(-1, leader))
        first.start()
        threads.append(first)
        _until(lambda: group.waiting == 0 and group.leading > 0)
        time.sleep(0.3)  # the leader is inside its transaction, waiting for the lock
        for i, doc in enumerate(docs):
            t = threading.Thread(target=submit(i, doc))
            t.start()
            threads.append(t)
            _until(lambda i=i: group.waiting == i + 1)
    for t in threads:
        t.join(60)
    assert group.sizes[-2:] == [1, len(docs)], group.sizes
    return results[-1], [results[i] for i in range(len(docs))]


def _submit(
    results: dict[str, Outcome | BaseException], key: str, bus: Pipeline, doc: dict[str, Any]
) -> threading.Thread:
    """Handle ``doc`` in a thread of its own; its outcome (or exception) lands in ``results``."""

    def go() -> None:
        try:
            results[key] = bus.handle_document(doc)
        except BaseException as exc:
            results[key] = exc

    t = threading.Thread(target=go)
    t.start()
    return t


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile (on any connection of ``engine``)."""
    seen: list[str] = []

    def record(_cursor: Any, statement: str) -> None:
        seen.append(statement.lstrip())

    with on_statement(engine, record):
        yield seen


def _until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@contextmanager
def behind_a_held_finalize(
    client: Client, queued: list[tuple[str, Client, dict[str, Any]]]
) -> Iterator[dict[str, Outcome | BaseException]]:
    """A finalize (result ``leader``) leads a transaction of the numbering lane and waits for
    its invoice's row, held by another transaction; ``queued`` (key, client, document) are
    submitted one after the other and wait behind it. The row is freed on leaving the block,
    and every thread joined; the results are filled in by key."""
    group = client.bus.group
    assert group is not None
    results: dict[str, Outcome | BaseException] = {}
    held_id = client.invoice(client.customer(), [line()])
    threads = []
    with held(client.bus.engine, str(held_id)):
        leader = client.doc("finalize_invoice", {"invoice_id": str(held_id)})
        threads.append(_submit(results, "leader", client.bus, leader))
        _until(lambda: group.waiting == 0 and group.leading > 0)
        time.sleep(0.3)  # the leader is inside its transaction, waiting for the row
        for i, (key, who, doc) in enumerate(queued):
            threads.append(_submit(results, key, who.bus, doc))
            _until(lambda i=i: group.waiting == i + 1)
        yield results
    for t in threads:
        t.join(60)


def _leader(client: Client, customer: uuid.UUID) -> dict[str, Any]:
    """An ordinary command that waits for its held invoice row (PostgreSQL) or the database's
    write lock (SQLite): a line added to a draft."""
    iid = client.invoice(customer, [line()])
    return client.doc("add_line", {"invoice_id": str(iid), "line": line()})


def test_one_rejection_in_a_batch_leaves_the_others_applied(batching: Client) -> None:
    client = batching
    customer = client.customer()
    x, y = uuid.uuid4(), uuid.uuid4()
    reused = uuid.uuid4()
    client.ok("create_invoice", {"id": str(uuid.uuid4()), "lines": [line()]}, command_id=reused)
    drafts = [client.invoice(customer, [line()]) for _ in range(2)]
    docs = [
        client.doc(
            "create_invoice", {"id": str(x), "customer_id": str(customer), "lines": [line()]}
        ),
        # unknown customer: a business rejection in the middle of the batch
        client.doc(
            "create_invoice", {"id": str(y), "customer_id": str(uuid.uuid4()), "lines": [line()]}
        ),
        client.doc("add_line", {"invoice_id": str(drafts[0]), "line": line()}),
        # an idempotency conflict: the id was used with another payload
        client.doc("create_invoice", {"id": str(uuid.uuid4()), "lines": []}, command_id=reused),
        # a draft takes no payment: rejected
        client.doc(
            "record_payment",
            {"invoice_id": str(drafts[1]), "amount": "1.00", "date": "2026-04-20"},
        ),
    ]
    lead, outs = run_batch(client, _leader(client, customer), docs)
    assert isinstance(lead, Outcome) and lead.status == "applied"
    statuses = [o.status if isinstance(o, Outcome) else repr(o) for o in outs]
    assert statuses == ["applied", "rejected", "applied", "rejected", "rejected"]
    assert isinstance(outs[1], Outcome) and outs[1].errors[0]["code"] == "customer_not_found"
    assert isinstance(outs[3], Outcome) and outs[3].errors[0]["code"] == "idempotency_conflict"
    added = outs[2]
    assert isinstance(added, Outcome) and [e["type"] for e in added.events] == ["invoice.updated"]
    updated = added.events[0]["data"]["invoice"]
    assert updated["id"] == str(drafts[0]) and len(updated["lines"]) == 2
    assert isinstance(outs[4], Outcome) and outs[4].errors[0]["code"] == "invalid_state"
    assert client.count_invoices() == 5  # the leader's, 2 drafts, x, the reused id's: not y
    # the first attempt, without savepoints, met the rejection and was rolled back unrecorded;
    # the batch ran again with a savepoint per command
    group = client.bus.group
    assert group is not None and group.fallbacks == 1
    # the rejection was recorded in the batch: a redelivery is a duplicate, no second event
    again = client.bus.handle_document(docs[1])
    assert again.status == "duplicate" and again.events == []
    assert client.bus.handle_document(docs[0]).status == "duplicate"


def test_a_batch_writes_its_events_in_one_statement_in_command_order(
    batching: Client, engine: Engine
) -> None:
    """The events of a batch's applied commands reach the outbox in one INSERT right before
    the commit, in the order of the commands; a rejected command's ``command.rejected`` is
    written in its own savepoint, and the rejected command leaves no other event."""
    client = batching
    customer = client.customer()
    draft = client.invoice(customer, [line()])
    x, y, z = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    docs = [
        client.doc(
            "create_invoice", {"id": str(x), "customer_id": str(customer), "lines": [line()]}
        ),
        client.doc(  # unknown customer: rejected
            "create_invoice", {"id": str(y), "customer_id": str(uuid.uuid4()), "lines": [line()]}
        ),
        client.doc("add_line", {"invoice_id": str(draft), "line": line()}),
        client.doc(
            "create_invoice", {"id": str(z), "customer_id": str(customer), "lines": [line()]}
        ),
    ]
    leader = _leader(client, customer)
    with engine.connect() as conn:
        start = conn.execute(text("SELECT coalesce(max(id), 0) FROM outbox")).scalar_one()
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, docs)
    inserts = [s for s in statements if s.upper().startswith("INSERT INTO OUTBOX")]
    assert isinstance(lead, Outcome) and lead.status == "applied"
    assert [o.status if isinstance(o, Outcome) else repr(o) for o in outs] == [
        "applied",
        "rejected",
        "applied",
        "applied",
    ]
    # the leader alone (its own transaction), the rejection, then the batch's three commands
    # in one statement
    assert len(inserts) == 3, inserts
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT type, subject FROM outbox WHERE id > :start ORDER BY id"),
            {"start": start},
        ).all()
    assert [tuple(r) for r in rows] == [
        ("invoice.updated", leader["payload"]["invoice_id"]),
        ("command.rejected", docs[1]["command_id"]),
        ("invoice.created", str(x)),
        ("invoice.updated", str(draft)),
        ("invoice.created", str(z)),
    ]


def test_a_batch_without_failures_commits_without_savepoints(
    batching: Client, engine: Engine
) -> None:
    """The first attempt of a batch runs its commands without savepoints; when none has to be
    undone it commits so: no SAVEPOINT, one outbox INSERT, every command applied once."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    ids = [uuid.uuid4() for _ in range(3)]
    docs = [
        client.doc(
            "create_invoice", {"id": str(i), "customer_id": str(customer), "lines": [line()]}
        )
        for i in ids
    ]
    leader = _leader(client, customer)
    before = (group.optimistic_commits, group.fallbacks)
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, docs)
    verbs = {s.split(None, 1)[0].upper() for s in statements}
    assert isinstance(lead, Outcome) and lead.status == "applied"
    assert all(isinstance(o, Outcome) and o.status == "applied" for o in outs), outs
    assert (group.optimistic_commits, group.fallbacks) == (before[0] + 1, before[1])
    assert "SAVEPOINT" not in verbs and "RELEASE" not in verbs
    # the leader's claim, then the batch's three ids in one statement
    claims = [s for s in statements if s.startswith("INSERT INTO processed_commands")]
    assert len(claims) == 2, claims
    if engine.dialect.name == "postgresql":  # the ids as arrays, one text for every batch
        assert "FROM unnest(" in claims[1], claims[1]
    else:
        assert claims[1].count("), (") == 2, claims[1]  # VALUES (..), (..), (..)
    assert all(client.state(i)["status"] == "draft" for i in ids)
    again = [client.bus.handle_document(d).status for d in docs]
    assert again == ["duplicate"] * 3


def test_a_batch_with_an_id_seen_before_claims_them_one_by_one(
    batching: Client, engine: Engine
) -> None:
    """The batch's claim in one statement finds an id taken (a redelivery of an applied
    command): nothing of that attempt stays, the batch runs again with savepoints, each id
    claimed alone, and each command gets what it would alone."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    applied = client.doc(
        "create_invoice", {"id": str(uuid.uuid4()), "customer_id": str(customer), "lines": [line()]}
    )
    assert client.bus.handle_document(applied).status == "applied"
    new_id = uuid.uuid4()
    fresh = client.doc(
        "create_invoice", {"id": str(new_id), "customer_id": str(customer), "lines": [line()]}
    )
    leader = _leader(client, customer)
    before = (group.optimistic_commits, group.fallbacks)
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, [applied, fresh])
    assert (group.optimistic_commits, group.fallbacks) == (before[0], before[1] + 1)
    assert isinstance(lead, Outcome) and lead.status == "applied"
    statuses = [o.status if isinstance(o, Outcome) else repr(o) for o in outs]
    assert statuses == ["duplicate", "applied"]
    claims = [s for s in statements if s.startswith("INSERT INTO processed_commands")]
    # the leader's, the batch's one statement, then one per command with savepoints
    assert len(claims) == 1 + 1 + 2, claims
    assert client.state(new_id)["status"] == "draft"
    assert [e["type"] for e in outs[1].events] == ["invoice.created"]  # type: ignore[union-attr]


def on_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _finalize(client: Client, customer: uuid.UUID, issue_date: str) -> dict[str, Any]:
    iid = client.invoice(customer, [line()])
    return client.doc("finalize_invoice", {"invoice_id": str(iid), "issue_date": issue_date})


def test_a_batch_takes_its_numbers_after_all_its_commands(batching: Client, engine: Engine) -> None:
    """A batch run without savepoints takes the numbers of its finalizes at its end: the
    series row is locked from the batch's first allocation to its commit, and nothing runs in
    between but the allocation (one statement for the batch's numbers of that series row),
    the invoices' UPDATEs that write the numbers and the events' INSERT. The events carry the
    numbers, gapless, in the order of the issue dates."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    leader = _finalize(client, customer, "2026-06-01")
    docs = [_finalize(client, customer, day) for day in ("2026-06-03", "2026-06-02", "2026-06-03")]
    before = group.optimistic_commits
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, docs)
    assert isinstance(lead, Outcome) and lead.status == "applied"
    assert all(isinstance(o, Outcome) and o.status == "applied" for o in outs), outs
    assert group.optimistic_commits == before + 1
    claims = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO processed_commands")]
    batch = statements[claims[1] :]  # the leader ran alone, before
    first_lock = next(i for i, s in enumerate(batch) if s.startswith("UPDATE number_series"))
    # after the commands' own statements: the batch's claim, the organization (read once: a
    # batch of finalizes changes none, UnitOfWork.organization_rows), the drafts: on
    # PostgreSQL read ahead for the whole batch (registry.PREFETCH), their row locks in one
    # statement and then the drafts in one (docs/design.md, "Locks"), on SQLite each
    # command's own
    drafts = [["SELECT", "invoices.organization_id,"]] * (1 if on_postgresql(engine) else 3)
    expected = [["INSERT", "INTO"], ["SELECT", "organizations.id,"], *drafts]
    if on_postgresql(engine):
        locks = [["SELECT", "invoices.id"]]
        expected = [["INSERT", "INTO"], *locks, *drafts, ["SELECT", "organizations.id,"]]
    assert [s.split(None, 2)[:2] for s in batch[:first_lock]] == expected, batch[:first_lock]
    # the three numbers in one statement (numbering.reserve), then the invoices' UPDATEs (one
    # round trip on PostgreSQL: finish's write_at_end), then the events
    tail = [s.split(None, 2)[:2] for s in batch[first_lock:]]
    assert tail == [["UPDATE", "number_series"]] + [["UPDATE", "invoices"]] * 3 + [
        ["INSERT", "INTO"]
    ], tail
    assert batch[-1].startswith("INSERT INTO outbox")

    def number(outcome: Outcome | BaseException) -> str:
        assert isinstance(outcome, Outcome)
        [event] = outcome.events
        assert event["type"] == "invoice.finalized" and event["sequence"] == 2
        invoice = event["data"]["invoice"]
        assert client.state(invoice["id"])["number"] == invoice["number"]
        return str(invoice["number"])

    numbers = [number(lead), *(number(o) for o in outs)]
    tails = [int(n.rsplit("-", 1)[-1]) for n in numbers]
    # the 2 June one first (dates in order on the series), then the two of 3 June in turn
    assert tails == [tails[0], tails[0] + 2, tails[0] + 1, tails[0] + 3], numbers


def test_a_batch_takes_the_numbers_of_each_counter_row_in_one_statement(
    batching: Client, engine: Engine
) -> None:
    """Finalizes of one batch in two years (the default series resets yearly: a counter row
    per year) take their numbers with one statement per row (``numbering.reserve``), each row
    gapless in the order of its issue dates."""
    client = batching
    customer = client.customer()
    before_2027 = client.ok(
        "finalize_invoice", _finalize(client, customer, "2027-01-01")["payload"]
    )
    leader = _finalize(client, customer, "2026-12-29")
    days = ("2027-01-03", "2026-12-31", "2027-01-02", "2026-12-30")
    docs = [_finalize(client, customer, day) for day in days]
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, docs)
    assert all(isinstance(o, Outcome) and o.status == "applied" for o in (lead, *outs))
    claims = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO processed_commands")]
    series = [s for s in statements[claims[1] :] if s.startswith("UPDATE number_series")]
    assert len(series) == 2, series  # one per year's row, not one per number

    def sequence(outcome: Outcome | BaseException) -> tuple[str, int]:
        assert isinstance(outcome, Outcome)
        _, year, seq = outcome.events[0]["data"]["invoice"]["number"].split("-")
        return year, int(seq)

    first_2027 = int(before_2027.events[0]["data"]["invoice"]["number"].rsplit("-", 1)[-1])
    first_2026 = sequence(lead)[1]
    assert [sequence(o) for o in outs] == [
        ("2027", first_2027 + 2),
        ("2026", first_2026 + 2),
        ("2027", first_2027 + 1),
        ("2026", first_2026 + 1),
    ]


def test_a_draft_locked_elsewhere_fails_its_own_finalize_alone(pg_url: str) -> None:
    """(PostgreSQL, which reads ahead.) A batch of finalizes reads its drafts ahead, locked,
    in one statement; when one of them is locked by another transaction past the lock
    timeout, the batch runs again with a savepoint per command, each reading its own draft:
    that finalize fails alone (its thread retries it), the others commit, gapless."""
    engine = db.make_engine(pg_url, lock_timeout_ms=1000)  # 300 ms failed once under load
    try:
        bus = Pipeline(engine, fake_deps(), LocalOperator())
        client = Client(bus)
        client.setup_org()
        bus.enable_batching(16)
        group = bus.group
        assert group is not None
        customer = client.customer()
        leader = _finalize(client, customer, "2026-09-01")
        docs = [_finalize(client, customer, "2026-09-02") for _ in range(3)]
        before = group.fallbacks
        with held(engine, docs[1]["payload"]["invoice_id"]):
            lead, outs = run_batch(client, leader, docs)
        assert group.fallbacks == before + 1
        assert isinstance(lead, Outcome) and lead.status == "applied"
        assert isinstance(outs[1], BaseException) and is_transient(outs[1]), outs[1]
        done = [o for o in (lead, outs[0], outs[2]) if isinstance(o, Outcome)]
        assert [o.status for o in done] == ["applied"] * 3
        tails = [int(o.events[0]["data"]["invoice"]["number"].rsplit("-", 1)[-1]) for o in done]
        assert tails == [tails[0], tails[0] + 1, tails[0] + 2]
        assert client.state(docs[1]["payload"]["invoice_id"])["status"] == "draft"
        assert client.bus.handle_document(docs[1]).status == "applied"  # its retry
    finally:
        engine.dispose()


def test_a_number_reserved_and_not_taken_fails_the_transaction(batching: Client) -> None:
    """``UnitOfWork.finish`` reserves the numbers its steps claim; a claim that no step takes
    would skip numbers at the commit, so ``finish`` fails instead and nothing is written."""
    client = batching
    customer = client.customer()
    client.finalized(customer, [line()], issue_date=dt.date(2026, 8, 3))  # the row exists

    def next_value() -> int:
        with client.bus.uow_factory() as uow:
            return int(
                uow.session.execute(
                    select(NumberSeries.next_value).where(
                        NumberSeries.organization_id == client.org, NumberSeries.period == "2026"
                    )
                ).scalar_one()
            )

    before = next_value()
    with client.bus.uow_factory() as uow:
        org, _ = organization_row(uow, client.org)
        claim = NumberClaim(org, Series.INVOICE, dt.date(2026, 8, 4))
        taken: list[tuple[str, int]] = []
        uow.at_end(
            ("1",),
            lambda: taken.append(allocate(uow, org, Series.INVOICE, claim.issue_date)),
            claim,
        )
        uow.at_end(("2",), lambda: None, claim)  # claims a number and takes none
        with pytest.raises(RuntimeError, match="numbers reserved and not taken"):
            uow.finish()
        assert [seq for _number, seq in taken] == [before]  # the first of the two reserved
    assert next_value() == before  # rolled back: nothing reserved stays taken


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # holds an invoice row
def test_a_number_refused_at_the_end_of_a_batch_runs_it_again_with_savepoints(
    batching: Client, engine: Engine
) -> None:
    """A finalize whose issue date is before the series' last one fails at the batch's end,
    where no command can be undone alone: the batch runs again with a savepoint per command,
    fails there again at the end, and its commands run a third time one transaction each,
    their numbers taken in place. That finalize is rejected, the others applied; no number is
    lost."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    client.ok(
        "finalize_invoice",
        {"invoice_id": str(client.invoice(customer, [line()])), "issue_date": "2026-06-10"},
    )
    leader = _finalize(client, customer, "2026-06-10")
    docs = [_finalize(client, customer, day) for day in ("2026-06-10", "2026-06-01", "2026-06-11")]
    before = group.fallbacks, group.numbers_in_place
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, docs)
    # refused at the end without savepoints, then with them: the third run takes the numbers
    # in place, one transaction per command (no savepoint)
    assert (group.fallbacks, group.numbers_in_place) == (before[0] + 1, before[1] + 1)
    claims = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO processed_commands")]
    # the leader, three runs of the batch (the first without savepoints: its ids claimed in
    # one statement), and the rejection's own record in the third
    assert len(claims) == 1 + 1 + 2 * len(docs) + 1, claims
    third = statements[claims[1 + 1 + len(docs)] :]
    assert not [s for s in third if s.startswith("SAVEPOINT")], third
    statuses = [o.status if isinstance(o, Outcome) else repr(o) for o in (lead, *outs)]
    assert statuses == ["applied", "applied", "rejected", "applied"]
    assert isinstance(outs[1], Outcome)
    assert outs[1].errors[0]["code"] == "issue_date_out_of_order"
    assert client.state(docs[1]["payload"]["invoice_id"])["status"] == "draft"
    numbers = [o.events[0]["data"]["invoice"]["number"] for o in (lead, outs[0], outs[2])]  # type: ignore[union-attr]
    tails = [int(n.rsplit("-", 1)[-1]) for n in numbers]
    assert tails == [tails[0], tails[0] + 1, tails[0] + 2], numbers


def test_a_number_a_manual_number_took_is_refused_at_the_end_of_a_batch_too(
    batching: Client, engine: Engine
) -> None:
    """The invoices' UPDATEs at a batch's end go in one round trip (``write_at_end``); the one
    whose number a manual number took fails there: the batch runs again with savepoints, then
    one command per transaction, where each finalize that would take that number is refused
    ``number_taken`` and its allocation rolled back, as alone (nothing burned)."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    client.finalized(customer, [line()], issue_date=dt.date(2026, 4, 10), number="X-2026-0002")
    profile = {**DE_ORG, "number_series": {"invoice": {"pattern": "X-{YYYY}-{SEQ:4}"}}}
    client.ok("configure_organization", profile)
    leader = _finalize(client, customer, "2026-04-11")  # takes X-2026-0001, alone
    docs = [_finalize(client, customer, "2026-04-12") for _ in range(2)]
    before = group.fallbacks, group.numbers_in_place
    lead, outs = run_batch(client, leader, docs)
    assert (group.fallbacks, group.numbers_in_place) == (before[0] + 1, before[1] + 1)
    assert isinstance(lead, Outcome) and lead.status == "applied"
    codes = [o.errors[0]["code"] if isinstance(o, Outcome) else repr(o) for o in outs]
    assert codes == ["number_taken", "number_taken"]
    assert all(client.state(d["payload"]["invoice_id"])["status"] == "draft" for d in docs)
    with client.bus.uow_factory() as uow:
        next_value = uow.session.execute(
            select(NumberSeries.next_value).where(NumberSeries.organization_id == client.org)
        ).scalar_one()
    assert next_value == 2  # X-2026-0001 taken; 0002 given back by both refusals


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # holds an invoice row
def test_a_batch_with_savepoints_takes_its_numbers_at_its_end_too(
    batching: Client, engine: Engine
) -> None:
    """A batch that runs with savepoints (here because a finalize of an unknown invoice is
    rejected) still takes its numbers after all its commands: nothing but the allocation,
    the invoices' UPDATEs and the events' INSERT after it."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    leader = _finalize(client, customer, "2026-07-01")
    unknown = client.doc("finalize_invoice", {"invoice_id": str(uuid.uuid4())})
    docs = [
        _finalize(client, customer, "2026-07-02"),
        unknown,
        _finalize(client, customer, "2026-07-02"),
    ]
    before = group.fallbacks, group.numbers_in_place
    with statements_of(engine) as statements:
        lead, outs = run_batch(client, leader, docs)
    statuses = [o.status if isinstance(o, Outcome) else repr(o) for o in (lead, *outs)]
    assert statuses == ["applied", "applied", "rejected", "applied"]
    assert (group.fallbacks, group.numbers_in_place) == (before[0] + 1, before[1])
    last_savepoint = max(i for i, s in enumerate(statements) if s.startswith("RELEASE SAVEPOINT"))
    tail = statements[last_savepoint + 1 :]
    # the two numbers in one statement: the rejected command's claim went with its savepoint
    assert [s.split(None, 2)[:2] for s in tail] == [
        ["UPDATE", "number_series"],
        ["UPDATE", "invoices"],
        ["UPDATE", "invoices"],
        ["INSERT", "INTO"],
    ], tail
    numbers = [o.events[0]["data"]["invoice"]["number"] for o in (lead, outs[0], outs[2])]  # type: ignore[union-attr]
    tails = [int(n.rsplit("-", 1)[-1]) for n in numbers]
    assert tails == [tails[0], tails[0] + 1, tails[0] + 2], numbers


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLSTATE 40001 from a trigger
def test_a_transient_failure_of_a_number_at_the_end_fails_that_command_alone(
    batching: Client, engine: Engine
) -> None:
    """A lock wait or deadlock given up on (here a serialization failure raised when one
    invoice's number is written) at the end of a batch: its commands run again one transaction
    each, numbers in place, where it fails that command alone (its thread gets the transient
    error to retry), and the others commit without a gap."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    leader = _finalize(client, customer, "2026-08-01")
    docs = [_finalize(client, customer, "2026-08-02") for _ in range(3)]
    doomed = docs[1]["payload"]["invoice_id"]
    trigger = f"fail_{uuid.UUID(doomed).hex}"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.id = '{doomed}' AND NEW.number IS NOT NULL THEN "
                "RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER {trigger} BEFORE UPDATE ON invoices FOR EACH ROW "
                f"EXECUTE FUNCTION {trigger}()"
            )
        )
    try:
        before = group.fallbacks, group.numbers_in_place
        lead, outs = run_batch(client, leader, docs)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {trigger} ON invoices"))
            conn.execute(text(f"DROP FUNCTION {trigger}()"))
    # straight from the first run to numbers in place
    assert (group.fallbacks, group.numbers_in_place) == (before[0], before[1] + 1)
    assert isinstance(lead, Outcome) and lead.status == "applied"
    failed = outs[1]
    assert isinstance(failed, Exception) and is_transient(failed), failed
    assert client.state(doomed)["status"] == "draft"
    applied = [lead, outs[0], outs[2]]
    numbers = [o.events[0]["data"]["invoice"]["number"] for o in applied]  # type: ignore[union-attr]
    tails = [int(n.rsplit("-", 1)[-1]) for n in numbers]
    assert tails == [tails[0], tails[0] + 1, tails[0] + 2], numbers


@pytest.mark.events_unchecked  # hand-made events
def test_a_savepoint_rolled_back_takes_its_held_back_events_with_it(engine: Engine) -> None:
    """``outbox.write(defer=True)`` rows belong to the command's savepoint: undone with it,
    kept when it is released, inserted by the commit."""
    from invoicing.handlers.registry import Event
    from invoicing.handlers.unit_of_work import UnitOfWork
    from invoicing.pipeline import outbox
    from invoicing.pipeline.batch import Scope

    subjects = [str(uuid.uuid4()) for _ in range(3)]

    def write(uow: UnitOfWork, subject: str) -> None:
        outbox.write(
            uow,
            [Event("invoice.updated", subject, {"n": 1}, 1)],
            org_id=uuid.uuid4(),
            command_id=uuid.uuid4(),
            correlation_id=None,
            now=fake_deps().now(),
            defer=True,
        )

    with UnitOfWork.for_engine(engine) as uow:
        kept = Scope(uow, nested=True)
        write(uow, subjects[0])
        kept.done()
        undone = Scope(uow, nested=True)
        write(uow, subjects[1])
        undone.undo()
        last = Scope(uow, nested=True)
        write(uow, subjects[2])
        last.done()
        assert [r["subject"] for r in uow.outbox_rows] == [subjects[0], subjects[2]]
        uow.commit()
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT subject FROM outbox WHERE subject IN (:a, :b, :c) ORDER BY id"),
            dict(zip("abc", subjects, strict=True)),
        ).scalars()
        assert list(found) == [subjects[0], subjects[2]]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLSTATE 40001 from a trigger
def test_a_transient_failure_in_a_batch_fails_that_command_alone(
    batching: Client, engine: Engine
) -> None:
    """A serialization failure raised by the database for one command's statement: that
    command's savepoint rolls back, its thread gets the (transient) error to retry, the
    others commit."""
    client = batching
    customer = client.customer()
    doomed, fine = uuid.uuid4(), uuid.uuid4()
    trigger = f"fail_{doomed.hex}"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.id = '{doomed}' THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; "
                "END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON invoices FOR EACH ROW "
                f"EXECUTE FUNCTION {trigger}()"
            )
        )
    try:
        docs = [
            client.doc(
                "create_invoice",
                {"id": str(doomed), "customer_id": str(customer), "lines": [line()]},
            ),
            client.doc(
                "create_invoice",
                {"id": str(fine), "customer_id": str(customer), "lines": [line()]},
            ),
        ]
        lead, outs = run_batch(client, _leader(client, customer), docs)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {trigger} ON invoices"))
            conn.execute(text(f"DROP FUNCTION {trigger}()"))
    assert isinstance(lead, Outcome) and lead.status == "applied"
    assert isinstance(outs[0], BaseException) and is_transient(outs[0]), outs[0]
    assert isinstance(outs[1], Outcome) and outs[1].status == "applied"
    # nothing of the failed command was kept, not even its inbox claim: the retry applies it
    retry = client.bus.handle_document(docs[0])
    assert retry.status == "applied"
    assert [e["type"] for e in retry.events] == ["invoice.created"]


@pytest.mark.parametrize("leaders", [1, 4])
def test_threads_share_transactions_under_load(batching: Client, leaders: int) -> None:
    """16 threads, 10 create+finalize pairs each: every command applied once, numbers
    1..160 without a gap, transactions held more than one command, and no more than
    ``leaders`` transactions of creates and one of finalizes ran at once."""
    client = batching
    client.bus.enable_batching(16, leaders)
    customer = client.customer()
    failures: list[BaseException] = []

    def pairs() -> None:
        try:
            for _ in range(10):
                iid = uuid.uuid4()
                payload = {"id": str(iid), "customer_id": str(customer), "lines": [line()]}
                assert client.bus.handle_document(client.doc("create_invoice", payload)).status == (
                    "applied"
                )
                fin = client.bus.handle_document(
                    client.doc("finalize_invoice", {"invoice_id": str(iid)})
                )
                assert fin.status == "applied", fin.errors
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=pairs) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    with client.bus.uow_factory() as uow:
        numbers = uow.session.execute(
            select(Invoice.number).where(Invoice.organization_id == client.org)
        ).scalars()
        seqs = sorted(int(str(n).rsplit("-", 1)[-1]) for n in numbers)
    assert seqs == list(range(1, 161))
    group = client.bus.group
    assert group is not None and max(group.sizes) > 1
    assert 1 <= group.most_at_once <= leaders + 1


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite locks the database
def test_commands_that_take_numbers_have_a_lane_of_their_own(batching: Client) -> None:
    """While a finalize waits for a lock, further finalizes of two organizations queue behind
    it and then run as ONE batch, ordered by organization (every batch locks series rows in
    the same order), while an ordinary command does not wait for them."""
    client = batching
    group = client.bus.group
    assert group is not None
    other = Client(client.bus)
    other.setup_org()
    customer, other_customer = client.customer(), other.customer()
    drafts = [(client, client.invoice(customer, [line()])) for _ in range(3)]
    drafts += [(other, other.invoice(other_customer, [line()])) for _ in range(3)]
    drafts.sort(key=lambda d: str(d[0].org), reverse=True)  # submitted in the wrong order
    queued = [
        (f"fin{i}", who, who.doc("finalize_invoice", {"invoice_id": str(iid)}))
        for i, (who, iid) in enumerate(drafts)
    ]
    with behind_a_held_finalize(client, queued) as results:
        # an ordinary command runs at once in a transaction of its own
        create = client.doc(
            "create_invoice",
            {"id": str(uuid.uuid4()), "customer_id": str(customer), "lines": [line()]},
        )
        plain = client.bus.handle_document(create)
        assert plain.status == "applied" and group.waiting == len(drafts)
    assert all(isinstance(o, Outcome) and o.status == "applied" for o in results.values()), results
    assert group.sizes[-2:] == [1, len(drafts)], group.sizes
    order = [e for i in range(len(drafts)) for e in results[f"fin{i}"].events]  # type: ignore[union-attr]
    finalized = sorted(order, key=lambda e: e["time"])
    orgs = [e["organizationid"] for e in finalized]
    assert orgs == sorted(orgs)  # taken in organization order, whatever the arrival
    for org in set(orgs):  # three numbers each, none twice
        numbers = {e["data"]["invoice"]["number"] for e in finalized if e["organizationid"] == org}
        assert len(numbers) == 3


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite locks the database
def test_a_command_that_takes_its_number_in_place_runs_alone(batching: Client) -> None:
    """In the numbering lane only finalizes (numbers at the end) share a transaction: a mark as
    sent of a draft, which takes its number in place, runs in a transaction of its own, so
    the series row it locks is never held across other commands. The finalizes queued
    behind it still run together."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    marked = client.invoice(customer, [line()])
    drafts = [client.invoice(customer, [line()]) for _ in range(2)]
    queued = [
        ("mark", client, client.doc("mark_sent", {"invoice_id": str(marked)})),
        *(
            (f"fin{i}", client, client.doc("finalize_invoice", {"invoice_id": str(d)}))
            for i, d in enumerate(drafts)
        ),
    ]
    with behind_a_held_finalize(client, queued) as results:
        pass
    assert all(isinstance(o, Outcome) and o.status == "applied" for o in results.values()), results
    assert group.sizes[-3:] == [1, 1, 2], group.sizes  # the leader, the mark alone, the two
    mark = results["mark"]
    assert isinstance(mark, Outcome)
    assert [e["type"] for e in mark.events] == ["invoice.finalized", "invoice.sent"]
    numbers = [
        r.events[0]["data"]["invoice"]["number"]  # type: ignore[union-attr]
        for r in (results["leader"], mark, results["fin0"], results["fin1"])
    ]
    tails = [int(n.rsplit("-", 1)[-1]) for n in numbers]
    assert tails == [tails[0] + k for k in range(4)], numbers


def test_a_command_that_locks_a_customer_runs_alone(batching: Client) -> None:
    """Commands that lock a customer's row before its invoices (a payment across invoices,
    customer credit, deleting a payment, updating the customer: ``locks_customer``) run in a
    transaction of their own: behind earlier commands of the same transaction, an invoice
    would be locked before the customer, the opposite of their order, and two such
    transactions deadlock (session 28's concurrent walks saw it on PostgreSQL). The ordinary
    commands queued around them still share a transaction."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    leader = _leader(client, customer)
    issued = [client.finalized(customer, [line()])["id"] for _ in range(2)]
    pay = [
        client.doc("record_payment", {"invoice_id": i, "amount": "10.00", "date": "2026-01-10"})
        for i in issued
    ]
    across = client.doc(
        "record_payment", {"customer_id": str(customer), "amount": "5.00", "date": "2026-01-10"}
    )
    rename = client.doc(
        "update_customer", customer_payload(customer, company="Acme Neu GmbH", locale="de")
    )
    results: dict[str, Outcome | BaseException] = {}
    threads = []
    with held(client.bus.engine, leader["payload"]["invoice_id"]):
        threads.append(_submit(results, "leader", client.bus, leader))
        _until(lambda: group.waiting == 0 and group.leading > 0)
        time.sleep(0.3)  # the leader is inside its transaction, waiting for the row
        queued = [("pay0", pay[0]), ("across", across), ("rename", rename), ("pay1", pay[1])]
        for i, (key, doc) in enumerate(queued):
            threads.append(_submit(results, key, client.bus, doc))
            _until(lambda i=i: group.waiting == i + 1)
    for t in threads:
        t.join(60)
    assert all(isinstance(o, Outcome) and o.status == "applied" for o in results.values()), results
    # the leader; the two payments of one invoice each together; then each customer command
    assert group.sizes[-4:] == [1, 2, 1, 1], group.sizes


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite locks the database
def test_a_command_waits_for_the_earlier_commands_of_its_invoice(
    batching: Client, engine: Engine
) -> None:
    """A create that waits (here on its command id, held by another transaction) and the
    finalize of the same invoice submitted after it: the finalize runs only after the create
    committed, although the two lanes run side by side. Without that it would find no
    invoice and be rejected."""
    client = batching
    group = client.bus.group
    assert group is not None
    customer = client.customer()
    iid = uuid.uuid4()
    create = client.doc(
        "create_invoice", {"id": str(iid), "customer_id": str(customer), "lines": [line()]}
    )
    finalize = client.doc("finalize_invoice", {"invoice_id": str(iid)})
    results: dict[str, Outcome | BaseException] = {}

    with engine.connect() as holder:
        holder.execute(
            text(
                "INSERT INTO processed_commands (organization_id, command_id, command_type, "
                "payload_hash, outcome, processed_at) VALUES (:org, :cid, 'create_invoice', "
                "'held', 'applied', now())"
            ),
            {"org": client.org, "cid": create["command_id"]},
        )
        first = _submit(results, "create", client.bus, create)
        _until(lambda: group.leading > 0)
        time.sleep(0.3)  # the create waits on its command id
        second = _submit(results, "finalize", client.bus, finalize)
        time.sleep(0.5)
        assert results == {}  # the finalize waits for the create, not on the database
        holder.rollback()  # the create claims its id now
    first.join(60)
    second.join(60)
    assert isinstance(results["create"], Outcome) and results["create"].status == "applied"
    done = results["finalize"]
    assert isinstance(done, Outcome) and done.status == "applied", done
    assert [e["type"] for e in done.events] == ["invoice.finalized"]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite locks the database
def test_finalizes_of_other_organizations_do_not_wait_for_a_held_series(
    batching: Client, engine: Engine
) -> None:
    """With two leaders the organizations are split over two numbering lanes: while a
    finalize of one organization waits for its series row, a finalize of an organization of
    the other lane runs in a transaction of its own and commits."""
    client = batching
    client.bus.enable_batching(16, 2)
    group = client.bus.group
    assert group is not None
    while client.org.int % 2 == 0:  # this organization in lane 1, the other in lane 0
        client.org = uuid.uuid4()
    client.setup_org()
    other = Client(client.bus, org=uuid.UUID(int=client.org.int - 1))
    other.setup_org()
    mine = client.invoice(client.customer(), [line()])
    client.ok("finalize_invoice", {"invoice_id": str(client.invoice(client.customer(), [line()]))})
    theirs = other.invoice(other.customer(), [line()])
    results: dict[str, Outcome | BaseException] = {}
    with engine.connect() as holder:
        holder.execute(
            text("UPDATE number_series SET next_value = next_value WHERE organization_id = :o"),
            {"o": client.org},
        )
        doc = client.doc("finalize_invoice", {"invoice_id": str(mine)})
        waiting = _submit(results, "mine", client.bus, doc)
        _until(lambda: group.leading > 0)
        time.sleep(0.3)  # it waits for the series row
        done = other.bus.handle_document(other.doc("finalize_invoice", {"invoice_id": str(theirs)}))
        assert done.status == "applied" and "mine" not in results
        holder.rollback()
    waiting.join(60)
    assert isinstance(results["mine"], Outcome) and results["mine"].status == "applied"
