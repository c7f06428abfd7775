"""The outbox relay against real PostgreSQL and RabbitMQ (in-process, no mocks)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import Counter, defaultdict

import psycopg
import pytest
from invoicing.db import make_engine
from invoicing.handlers.registry import Event
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.pipeline import outbox
from invoicing.workers.relay import Relay
from invoicing.workers.settings import PipelineSettings
from sqlalchemy.orm import sessionmaker

from tests.e2e.harness import Collector, Env, module_env
from tests.support.external import needs_rabbitmq

pytestmark = [
    pytest.mark.integration,
    needs_rabbitmq,
]


env = module_env("relay")


def _settings(env: Env) -> PipelineSettings:
    return PipelineSettings(amqp_url=env.amqp_url, relay_poll_interval_s=0.1, relay_batch_size=50)


def _insert(conn: psycopg.Connection, subject: str, seq: int) -> str:
    event_id = str(uuid.uuid4())
    ce = {
        "specversion": "1.0",
        "id": event_id,
        "type": "invoice.updated",
        "subject": subject,
        "source": "urn:test",
        "sequence": seq,
        "organizationid": None,
        "data": {},
    }
    conn.execute(
        "INSERT INTO outbox (event_id, type, subject, sequence, payload, created_at) "
        "VALUES (%s, 'invoice.updated', %s, %s, %s, now())",
        (event_id, subject, seq, json.dumps(ce)),
    )
    return event_id


def _start(relay: Relay) -> threading.Thread:
    t = threading.Thread(target=relay.run, daemon=True)
    t.start()
    return t


def test_rows_committed_out_of_id_order_are_not_skipped(env: Env) -> None:
    col = Collector(env, binding="invoice.updated")
    relay = Relay(env.dsn, _settings(env))
    thread = _start(relay)
    slow = psycopg.connect(env.dsn)
    fast = psycopg.connect(env.dsn)
    early = _insert(slow, "slow", 1)  # lower id, not committed yet
    late = _insert(fast, "fast", 1)  # higher id, committed first
    fast.commit()
    col.drain(lambda ev: any(e["id"] == late for e in ev), 20)
    assert not any(e["id"] == early for e in col.received)
    slow.commit()  # the lower id commits after the relay has gone past it
    col.drain(lambda ev: any(e["id"] == early for e in ev), 20)
    relay.stop.set()
    thread.join(10)
    ids = Counter(e["id"] for e in col.received)
    assert ids[early] == 1 and ids[late] == 1
    props = col.props[0]
    assert props.delivery_mode == 2 and props.content_type == "application/cloudevents+json"
    assert props.message_id == col.received[0]["id"]


def test_the_body_is_the_stored_event_and_the_properties_carry_its_attributes(
    env: Env,
) -> None:
    """The relay publishes the outbox row's document as the database writes it out, without
    decoding it: the body decodes to exactly the stored event (exact decimals, non-ASCII text,
    nesting, nulls), and the AMQP properties and ce_* headers are its attributes."""
    col = Collector(env, binding="invoice.relayed")
    event_id, command_id = str(uuid.uuid4()), str(uuid.uuid4())
    ce = {
        "specversion": "1.0",
        "id": event_id,
        "type": "invoice.relayed",
        "subject": "inv-ü",
        "source": "urn:test",
        "sequence": 7,
        "organizationid": "7c0e4b0e-8a55-4d53-9e43-0c9f5b1f0a11",
        "commandid": command_id,
        "correlationid": None,
        "data": {"amount": "1190.10", "rate": 19.00, "lines": [{"n": "Straße €"}], "x": None},
    }
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute(  # the columns from the same event, as pipeline.outbox.write fills them
            "INSERT INTO outbox (event_id, organization_id, type, subject, sequence, payload, "
            "created_at) VALUES (%s, %s, 'invoice.relayed', 'inv-ü', 7, %s, now())",
            (event_id, ce["organizationid"], json.dumps(ce)),
        )
    relay = Relay(env.dsn, _settings(env))
    thread = _start(relay)
    col.drain(lambda ev: any(e["id"] == event_id for e in ev), 20)
    relay.stop.set()
    thread.join(10)
    (body,) = [e for e in col.received if e["id"] == event_id]
    assert body == ce
    props = col.props[col.received.index(body)]
    assert props.message_id == event_id and props.type == "invoice.relayed"
    assert props.correlation_id == command_id  # no correlation id: the command's
    assert {k: v for k, v in props.headers.items() if not k.startswith("x-")} == {
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_type": "invoice.relayed",
        "ce_subject": "inv-ü",
        "ce_sequence": 7,
        "organization_id": "7c0e4b0e-8a55-4d53-9e43-0c9f5b1f0a11",
    }


@pytest.mark.events_unchecked  # hand-made events
def test_rows_of_the_outbox_writer_publish_with_their_own_attributes(env: Env) -> None:
    """The relay takes a message's properties from the outbox row's columns where it has one
    (id, type, subject, sequence, organization): for rows written by ``outbox.write`` -- the
    outbox's one writer -- they are the published document's own attributes, with and without
    an organization, a subject, a sequence and a correlation id."""
    col = Collector(env, binding="writer.#")
    engine = make_engine(env.dsn)
    command_id = uuid.uuid4()
    org = uuid.UUID("0f5c6d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f")
    events = [
        Event("writer.one", "inv-ß", {"amount": "10.00"}, sequence=3),
        Event("writer.two", None, {}, sequence=None),
    ]
    with UnitOfWork(sessionmaker(engine)) as uow:
        docs = outbox.write(
            uow,
            events,
            org_id=org,
            command_id=command_id,
            correlation_id="corr-1",
            now=dt.datetime.now(dt.UTC),
        )
        docs += outbox.write(
            uow,
            [Event("writer.three", "inv-x", {}, sequence=1)],
            org_id=None,
            command_id=None,
            correlation_id=None,
            now=dt.datetime.now(dt.UTC),
        )
        uow.commit()
    engine.dispose()
    relay = Relay(env.dsn, _settings(env))
    thread = _start(relay)
    wanted = {d["id"] for d in docs}
    col.drain(lambda ev: wanted <= {e["id"] for e in ev}, 20)
    relay.stop.set()
    thread.join(10)
    for doc in docs:
        (body,) = [e for e in col.received if e["id"] == doc["id"]]
        assert body == doc
        props = col.props[col.received.index(body)]
        assert props.message_id == doc["id"] and props.type == doc["type"]
        assert props.correlation_id == (doc["correlationid"] or doc["commandid"])
        assert {k: v for k, v in props.headers.items() if not k.startswith("x-")} == {
            "ce_specversion": "1.0",
            "ce_id": doc["id"],
            "ce_type": doc["type"],
            "ce_subject": doc["subject"],
            "ce_sequence": doc["sequence"],
            "organization_id": doc["organizationid"],
        }


def test_two_relays_publish_each_event_once_in_order(env: Env) -> None:
    col = Collector(env, binding="invoice.updated")
    relays = [Relay(env.dsn, _settings(env)) for _ in range(2)]
    threads = [_start(r) for r in relays]
    subjects = [f"inv-{i}" for i in range(10)]
    written: list[str] = []
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        for seq in range(1, 31):
            for s in subjects:
                written.append(_insert(conn, s, seq))
            time.sleep(0.01)
    col.drain(lambda ev: set(written) <= {e["id"] for e in ev}, 60)
    time.sleep(1.0)  # anything published twice would show up now
    col.drain(lambda ev: True, 5)
    for r in relays:
        r.stop.set()
    for t in threads:
        t.join(10)
    mine = [e for e in col.received if e["id"] in set(written)]
    dup = sum(c - 1 for c in Counter(e["id"] for e in mine).values())
    order: dict[str, list[int]] = defaultdict(list)
    for e in mine:
        order[e["subject"]].append(e["sequence"])
    assert dup == 0
    assert all(seqs == sorted(seqs) for seqs in order.values())
    assert sum(r.published for r in relays) >= len(written)
    assert min(r.published for r in relays) == 0  # one active relay, the other on standby
    print(
        f"JEPSEN relay.two-relays: lost=0 duplicated={dup} unexpected=0 recovered=0 "
        f"published_by={[r.published for r in relays]}"
    )


def test_a_round_of_fewer_rows_than_a_batch_waits_for_the_next_notification(env: Env) -> None:
    """After a partial batch the relay waits instead of selecting again at once; a row
    committed while it was publishing still goes out at once (its notification waits in the
    connection), long before the polling interval."""
    col = Collector(env, binding="invoice.updated")
    settings = PipelineSettings(
        amqp_url=env.amqp_url, relay_poll_interval_s=30.0, relay_batch_size=50
    )
    rounds: list[int] = []
    during: list[str] = []

    class Counting(Relay):
        def drain(self, conn: psycopg.Connection) -> int:  # type: ignore[type-arg]
            n = super().drain(conn)
            rounds.append(n)
            if n and not during:  # a row commits after this round's select
                with psycopg.connect(env.dsn, autocommit=True) as other:
                    during.append(_insert(other, "during", 1))
            return n

    relay = Counting(env.dsn, settings)
    thread = _start(relay)
    try:
        time.sleep(0.5)  # the first round found nothing left over, or the earlier tests' rows
        rounds.clear()
        with psycopg.connect(env.dsn, autocommit=True) as conn:
            first = _insert(conn, "first", 1)
        started = time.monotonic()
        col.drain(lambda ev: bool(during) and {first, *during} <= {e["id"] for e in ev}, 20)
        assert during and time.monotonic() - started < 10  # not the 30 s poll
        time.sleep(0.5)
        # one round per notification, each with its row: no empty select in between
        assert rounds == [1, 1], rounds
    finally:
        relay.stop.set()
        thread.join(10)
