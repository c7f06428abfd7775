"""Reliability scenarios of reference A4.8 that need no process kill, in process (no mocks).

The worker is the production stack -- ``make_broker`` with its policy middleware, the
``CommandProcessor``, the pipeline with group commit, the ``Republisher`` of delayed retries --
run by a ``dramatiq.Worker`` in this process on a real RabbitMQ vhost and a real PostgreSQL
database; commands are published with plain pika. Outages are made with ``TcpProxy``
(tests/support/tcp_proxy.py) between one process and its server, so the shared servers keep
running for everyone else:

* #5  the relay's broker is down for seconds: the outbox grows, the relay backs off, then
  drains in order per invoice, nothing lost;
* #6  the worker's database is down for seconds while commands arrive: every command applied
  once after it is back, none rejected, dead-lettered or delayed (retried in place);
* #7  ``pg_terminate_backend`` of the worker's connection while its handler waits inside the
  transaction: rolled back, retried in place, applied once, no number used up, the pool serves
  the next command;
* #13 out-of-order commands: a ``finalize_invoice`` before its ``create_invoice`` waits for it
  (delayed retries) and is then applied; a ``record_payment`` on a draft is refused
  (``invalid_state``) and changes nothing;
* #15 a handler held far longer than the lock timeout: the database cuts each wait, the
  command is retried in place (never redelivered, never dead-lettered) and applied once;
* #17 the active relay dies (its session, and with it the advisory lock that is its lease):
  the standby takes over, each event published once, in order per invoice.

The scenarios with killed processes are in tests/e2e (test_reliability.py and others).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import dramatiq
import psycopg
import pytest
from invoicing import db
from invoicing.pipeline import Pipeline
from invoicing.workers.broker import make_broker
from invoicing.workers.delivery import Outbound
from invoicing.workers.processor import CommandProcessor
from invoicing.workers.relay import Relay
from invoicing.workers.runner import authenticator_for
from invoicing.workers.scheduled import Republisher
from invoicing.workers.settings import PipelineSettings
from prometheus_client import REGISTRY

from tests.e2e.harness import (
    SECRET,
    Collector,
    Env,
    Org,
    Publisher,
    connect,
    module_env,
    wait_for_topology,
    wait_until,
)
from tests.support.external import needs_rabbitmq
from tests.support.fakes import fake_deps
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, needs_rabbitmq]


env = module_env("scenarios")


class InProcessWorker:
    """``invoicing worker`` (one process) without the subprocess: the same broker, policies,
    processor, group commit and republisher (src/workers/runner.py)."""

    def __init__(self, env: Env, *, database_url: str | None = None, **overrides: Any) -> None:
        settings: dict[str, Any] = {
            "amqp_url": env.amqp_url,
            "jwt_secret": SECRET,
            "worker_threads": 4,
            "retry_delays_s": [1],
            "retry_poll_interval_s": 0.2,
            "transient_backoff_base_s": 0.05,
            "transient_backoff_max_s": 0.5,
        }
        lock_timeout_ms = overrides.pop("lock_timeout_ms", 5000)
        settings.update(overrides)
        self.settings = PipelineSettings(**settings)
        self.stop = threading.Event()
        self.engine = db.make_engine(database_url or env.dsn, lock_timeout_ms=lock_timeout_ms)
        pipeline = Pipeline(self.engine, fake_deps(), authenticator_for(self.settings))
        pipeline.enable_batching(self.settings.worker_batch, self.settings.worker_batch_leaders)
        self.broker = make_broker(
            self.settings,
            self.engine,
            CommandProcessor(pipeline),
            ["commands"],
            outbound=Outbound(self.settings, stopping=self.stop),
            stopping=self.stop,
        )
        self.republisher = Republisher(self.engine, self.settings, self.stop)
        self.worker = dramatiq.Worker(self.broker, worker_threads=4, worker_timeout=100)

    def __enter__(self) -> InProcessWorker:
        self.republisher.start()
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.worker.stop(timeout=20_000)
        self.broker.close()
        self.republisher.join(10)
        self.engine.dispose()


def outcome_of(env: Env, command_id: str) -> str | None:
    rows = env.sql("SELECT outcome FROM processed_commands WHERE command_id = %s", (command_id,))
    return str(rows[0][0]) if rows else None


def send_and_wait(env: Env, pub: Publisher, doc: dict[str, Any], timeout: float = 30) -> str:
    pub.send(doc)
    wait_until(lambda: outcome_of(env, doc["command_id"]) is not None, timeout, doc["type"])
    return str(outcome_of(env, doc["command_id"]))


def new_org(env: Env, pub: Publisher) -> Org:
    org = Org()
    assert send_and_wait(env, pub, org.configure()) == "applied"
    assert send_and_wait(env, pub, org.create_customer()) == "applied"
    return org


def events_of(env: Env, subject: str) -> list[tuple[str, int | None]]:
    rows = env.sql("SELECT type, sequence FROM outbox WHERE subject = %s ORDER BY id", (subject,))
    return [(str(t), s) for t, s in rows]


def number_of(env: Env, invoice_id: str) -> int | None:
    rows = env.sql("SELECT sequence_number FROM invoices WHERE id = %s", (invoice_id,))
    return rows[0][0] if rows else None


def transient_retries(ctype: str) -> float:
    return REGISTRY.get_sample_value("invoicing_transient_retries_total", {"type": ctype}) or 0.0


def dead_lettered(env: Env) -> int:
    conn = connect(env)
    try:
        ok = conn.channel().queue_declare("invoicing.dead-letters", passive=True)
        return int(ok.method.message_count)
    finally:
        conn.close()


def parked(env: Env, command_id: str) -> int:
    """Delayed retries of the command waiting in ``scheduled_commands``."""
    return int(
        env.sql("SELECT count(*) FROM scheduled_commands WHERE message_id = %s", (command_id,))[0][
            0
        ]
    )


def waiting_backend(env: Env) -> int | None:
    """The worker's connection that waits on a lock inside its transaction."""
    rows = env.sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'invoicing' "
        "AND wait_event_type = 'Lock'",
        (env.db_name,),
    )
    return int(rows[0][0]) if rows else None


# --------------------------------------------------------------------------- #7 and #15


def test_7_connection_terminated_mid_handler_rolls_back_and_is_retried_in_place(
    env: Env,
) -> None:
    with InProcessWorker(env, lock_timeout_ms=60_000):
        wait_for_topology(env, consumed=True)
        pub = Publisher(env)
        org = new_org(env, pub)
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        for iid in (first, second):
            assert send_and_wait(env, pub, org.create_invoice(iid)) == "applied"
        retries = transient_retries("finalize_invoice")
        fin = org.finalize(first)
        with psycopg.connect(env.dsn) as locker:
            locker.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (first,))
            pub.send(fin)
            wait_until(lambda: waiting_backend(env) is not None, 30, "the handler waiting")
            victim = waiting_backend(env)
            env.sql("SELECT pg_terminate_backend(%s)", (victim,))
            # the retry takes a new connection and waits on the same row again
            wait_until(lambda: waiting_backend(env) not in (None, victim), 30, "the retry waiting")
            assert outcome_of(env, fin["command_id"]) is None  # nothing of it committed
            assert number_of(env, first) is None
            locker.rollback()
        wait_until(lambda: outcome_of(env, fin["command_id"]) == "applied", 30, "the finalize")
        assert transient_retries("finalize_invoice") >= retries + 1  # in place, not a copy
        assert parked(env, fin["command_id"]) == 0
        # the pool serves the next command, and the killed attempt used up no number
        assert send_and_wait(env, pub, org.finalize(second)) == "applied"
        pub.close()
    assert (number_of(env, first), number_of(env, second)) == (1, 2)
    assert [t for t, _ in events_of(env, first)] == ["invoice.created", "invoice.finalized"]
    assert dead_lettered(env) == 0


def test_15_a_handler_held_past_the_lock_timeout_is_retried_in_place_not_redelivered(
    env: Env,
) -> None:
    with InProcessWorker(env, lock_timeout_ms=300):
        wait_for_topology(env, consumed=True)
        pub = Publisher(env)
        org = new_org(env, pub)
        iid = str(uuid.uuid4())
        assert send_and_wait(env, pub, org.create_invoice(iid)) == "applied"
        retries = transient_retries("finalize_invoice")
        fin = org.finalize(iid)
        with psycopg.connect(env.dsn) as locker:
            locker.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (iid,))
            pub.send(fin)
            held = time.monotonic()
            # ten times the lock timeout: each wait is cut by the database, never by the broker
            wait_until(
                lambda: transient_retries("finalize_invoice") >= retries + 3,
                30,
                "the lock timeout cutting the handler's waits",
            )
            time.sleep(max(0.0, 3.0 - (time.monotonic() - held)))
            assert outcome_of(env, fin["command_id"]) is None
            locker.rollback()
        wait_until(lambda: outcome_of(env, fin["command_id"]) == "applied", 30, "the finalize")
        pub.close()
    # retried in place: no delayed copy, no requeue, no redelivery, no dead letter
    assert parked(env, fin["command_id"]) == 0
    assert dead_lettered(env) == 0
    assert number_of(env, iid) == 1
    assert [t for t, _ in events_of(env, iid)] == ["invoice.created", "invoice.finalized"]


# --------------------------------------------------------------------------- #13


def test_13_out_of_order_commands_wait_for_their_invoice_or_are_refused(env: Env) -> None:
    with InProcessWorker(env, retry_missing_s=60):
        wait_for_topology(env, consumed=True)
        pub = Publisher(env)
        org = new_org(env, pub)
        # finalize before create: put off (a delayed retry in the database) until it exists
        early = str(uuid.uuid4())
        fin = org.finalize(early)
        pub.send(fin)
        wait_until(lambda: parked(env, fin["command_id"]) == 1, 30, "the finalize put off")
        assert outcome_of(env, fin["command_id"]) is None
        assert send_and_wait(env, pub, org.create_invoice(early)) == "applied"
        wait_until(lambda: outcome_of(env, fin["command_id"]) == "applied", 30, "the finalize")
        assert events_of(env, early) == [("invoice.created", 1), ("invoice.finalized", 2)]
        assert number_of(env, early) == 1

        # a payment on a draft (before its finalize): refused, nothing recorded of it
        draft = str(uuid.uuid4())
        assert send_and_wait(env, pub, org.create_invoice(draft)) == "applied"
        pay = org.cmd(
            "record_payment", {"invoice_id": draft, "amount": "10.00", "date": "2026-11-21"}
        )
        assert send_and_wait(env, pub, pay) == "rejected"
        [(errors,)] = env.sql(
            "SELECT payload->'data'->'errors' FROM outbox WHERE type = 'command.rejected' "
            "AND subject = %s",
            (pay["command_id"],),
        )
        assert [e["code"] for e in errors] == ["invalid_state"]
        assert env.sql("SELECT count(*) FROM payments WHERE invoice_id = %s", (draft,)) == [(0,)]
        assert events_of(env, draft) == [("invoice.created", 1)]
        # in order, the same payment (a new command id: the refused one stays refused) applies
        assert send_and_wait(env, pub, org.finalize(draft)) == "applied"
        again = org.cmd(
            "record_payment", {"invoice_id": draft, "amount": "10.00", "date": "2026-11-21"}
        )
        assert send_and_wait(env, pub, again) == "applied"
        pub.close()
    assert [t for t, _ in events_of(env, draft)][-1] == "payment.recorded"
    assert number_of(env, draft) == 2
    assert dead_lettered(env) == 0


# --------------------------------------------------------------------------- #6


def test_6_database_down_for_seconds_while_commands_arrive(env: Env) -> None:
    proxy = TcpProxy(5432)
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{env.db_name}"
    try:
        with InProcessWorker(env, database_url=url):
            wait_for_topology(env, consumed=True)
            pub = Publisher(env)
            org = new_org(env, pub)
            retries = transient_retries("create_invoice")
            invoices = [str(uuid.uuid4()) for _ in range(30)]
            docs = [org.create_invoice(iid) for iid in invoices]
            for doc in docs[:10]:
                pub.send(doc)
            proxy.down()  # the database is gone for this worker: refused, connections cut
            for doc in docs[10:]:
                pub.send(doc)
            time.sleep(4.0)
            proxy.up()
            wait_until(
                lambda: all(outcome_of(env, d["command_id"]) == "applied" for d in docs),
                60,
                "every command applied after the outage",
            )
            pub.close()
    finally:
        proxy.close()
    assert transient_retries("create_invoice") > retries  # the outage was met, and waited out
    rows = env.sql(
        "SELECT subject, count(*) FROM outbox WHERE organization_id = %s "
        "AND type = 'invoice.created' GROUP BY subject",
        (org.id,),
    )
    assert dict(rows) == dict.fromkeys(invoices, 1)  # each once: lost 0, duplicated 0
    assert env.sql(
        "SELECT count(*) FROM outbox WHERE organization_id = %s AND type = 'command.rejected'",
        (org.id,),
    ) == [(0,)]
    assert all(parked(env, d["command_id"]) == 0 for d in docs)  # no delayed copy
    assert dead_lettered(env) == 0


# --------------------------------------------------------------------------- #5


class CountingRelay(Relay):
    """The relay, counting how often it (re)connects to the broker."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connects: list[float] = []

    def _declare(self) -> None:
        self.connects.append(time.monotonic())
        super()._declare()


def _insert(env: Env, subject: str, seq: int) -> str:
    event_id = str(uuid.uuid4())
    doc = (
        '{"specversion": "1.0", "id": "%s", "type": "invoice.updated", "subject": "%s", '
        '"source": "urn:test", "sequence": %d, "data": {}}'
    ) % (event_id, subject, seq)
    env.sql(
        "INSERT INTO outbox (event_id, type, subject, sequence, payload, created_at) "
        "VALUES (%s, 'invoice.updated', %s, %s, %s, now())",
        (event_id, subject, seq, doc),
    )
    return event_id


def test_5_broker_down_for_seconds_the_outbox_grows_then_drains_in_order(env: Env) -> None:
    proxy = TcpProxy(5672)
    settings = PipelineSettings(
        # one connection attempt per try: the waits between tries are the relay's backoff
        amqp_url=env.amqp_url.replace(":5672/", f":{proxy.port}/").replace(
            "connection_attempts=3", "connection_attempts=1"
        ),
        relay_poll_interval_s=0.2,
        relay_batch_size=20,
        relay_confirm_timeout_s=5,
        transient_backoff_base_s=0.2,
        transient_backoff_max_s=1.0,
    )
    tag = uuid.uuid4().hex[:8]
    col = Collector(env, binding="invoice.updated")
    relay = CountingRelay(env.dsn, settings)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        before = _insert(env, f"{tag}-before", 1)
        col.drain(lambda ev: any(e["id"] == before for e in ev), 30)
        proxy.down()
        outage = time.monotonic()
        subjects = [f"{tag}-{i}" for i in range(5)]
        written: list[str] = []
        for seq in range(1, 11):  # the outbox grows while the broker is away
            for s in subjects:
                written.append(_insert(env, s, seq))
            time.sleep(0.4)
        unpublished = env.sql(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND subject LIKE %s",
            (f"{tag}-%",),
        )[0][0]
        assert unpublished == len(written) == 50
        attempts = [t for t in relay.connects if t >= outage]
        backed_off = relay.backoff.attempt  # failed tries in a row, each waited longer
        assert thread.is_alive()
        proxy.up()
        col.drain(lambda ev: set(written) <= {e["id"] for e in ev}, 60)
        time.sleep(0.5)
        col.drain(lambda ev: True, 5)
    finally:
        relay.stop.set()
        thread.join(15)
        proxy.close()
    # backed off: a few tries during the ~4 s outage (base 0.2 s, doubling to 1 s), never a
    # busy loop, never given up
    assert 2 <= len(attempts) <= 15 and backed_off >= 2, (attempts, backed_off)
    mine = [e for e in col.received if e["subject"].startswith(f"{tag}-")]
    first_seen: dict[str, dict[str, Any]] = {}
    for e in mine:
        first_seen.setdefault(e["id"], e)
    assert set(first_seen) == {before, *written}  # lost 0, unexpected 0
    redelivered = sum(c - 1 for c in Counter(e["id"] for e in mine).values())
    order: dict[str, list[int]] = {}
    for e in first_seen.values():
        order.setdefault(e["subject"], []).append(e["sequence"])
    assert all(seqs == sorted(seqs) for seqs in order.values()), order
    assert env.sql(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND subject LIKE %s",
        (f"{tag}-%",),
    ) == [(0,)]
    print(
        f"\nJEPSEN relay.broker-outage: lost=0 duplicated=0 unexpected=0 "
        f"recovered={len(written)} redelivered_same_event_id={redelivered} "
        f"reconnect_attempts={len(attempts)} backoff_attempt={backed_off}"
    )


# --------------------------------------------------------------------------- #17


def test_17_a_standby_relay_takes_over_when_the_active_ones_session_dies(env: Env) -> None:
    """The relay claims no rows: its lease is the session-level advisory lock, which
    PostgreSQL releases when the session of a dead relay ends. Seeded the Kill Bill way --
    the active relay's process is gone (it will not reconnect) and its backend is
    terminated -- the standby takes the lock and publishes everything, each event once."""
    settings = PipelineSettings(
        amqp_url=env.amqp_url,
        relay_poll_interval_s=0.2,
        relay_batch_size=20,
        transient_backoff_base_s=0.1,
        transient_backoff_max_s=0.5,
    )
    tag = uuid.uuid4().hex[:8]
    col = Collector(env, binding="invoice.updated")
    relays = [Relay(env.dsn, settings) for _ in range(2)]
    threads = [threading.Thread(target=r.run, daemon=True) for r in relays]
    try:
        threads[0].start()
        first = _insert(env, f"{tag}-first", 1)
        col.drain(lambda ev: any(e["id"] == first for e in ev), 30)
        threads[1].start()  # the standby: the lock is taken
        time.sleep(0.5)
        active, standby = relays
        assert standby.published == 0
        [(pid,)] = env.sql(
            "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s "
            "AND a.application_name = 'invoicing-relay'",
            (env.db_name,),
        )
        active.stop.set()  # its process is gone: it never comes back
        env.sql("SELECT pg_terminate_backend(%s)", (pid,))
        written = [_insert(env, f"{tag}-{i % 4}", 1 + i // 4) for i in range(20)]
        col.drain(lambda ev: set(written) <= {e["id"] for e in ev}, 30)
        time.sleep(0.5)
        col.drain(lambda ev: True, 5)
    finally:
        for r in relays:
            r.stop.set()
        for t in threads:
            if t.is_alive():
                t.join(15)
    assert standby.published >= len(written)
    mine = [e for e in col.received if e["subject"].startswith(f"{tag}-")]
    assert Counter(e["id"] for e in mine) == Counter({first: 1, **dict.fromkeys(written, 1)})
    order: dict[str, list[int]] = {}
    for e in mine:
        order.setdefault(e["subject"], []).append(e["sequence"])
    assert all(seqs == sorted(seqs) for seqs in order.values()), order
