"""The policy middleware under a real ``dramatiq.Worker`` on a real RabbitMQ vhost.

The actor's step is a test function (no database), so each policy is seen on its own: a
transient error retried in place, a ``RetryLater`` copy through the delay queue, a handler bug
retried then dead-lettered, a ``Poison`` body dead-lettered at once, and a transient hold that
ran out going to the longest delay queue.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
import pika
import psycopg
import pytest
from invoicing.domain.errors import DomainError
from invoicing.models.pipeline import ScheduledCommand
from invoicing.pipeline import Outcome, RetryLater
from invoicing.workers.broker import make_broker
from invoicing.workers.delivery import H_FIRST_SEEN, H_RETRIES, Delivery, Outbound, Poison
from invoicing.workers.scheduled import Republisher
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import declare
from prometheus_client import REGISTRY
from sqlalchemy import create_engine

from tests.e2e.harness import (
    Env,
    connect,
    dead_letters,
    module_env,
    wait_until,
)
from tests.support.external import needs_rabbitmq

pytestmark = [
    pytest.mark.integration,
    needs_rabbitmq,
]

Step = Callable[[Delivery], Any]


env = module_env("middleware")


class Running:
    def __init__(self, env: Env, step: Step, **settings: Any) -> None:
        self.settings = PipelineSettings(
            amqp_url=env.amqp_url,
            retry_delays_s=[1, 2],
            transient_backoff_base_s=0.05,
            transient_backoff_max_s=0.1,
            **settings,
        )
        self.stop = threading.Event()
        self.seen: list[Delivery] = []
        engine = create_engine(f"sqlite:///{env.log_dir / 'middleware.db'}")
        # delayed retries wait in scheduled_commands (INVOICING_RETRY_STORE=database)
        ScheduledCommand.__table__.create(engine, checkfirst=True)
        self.republisher = Republisher(engine, self.settings, self.stop)

        def recording(delivery: Delivery) -> Any:
            self.seen.append(delivery)
            return step(delivery)

        self.broker = make_broker(
            self.settings,
            engine,
            recording,
            ["commands"],
            outbound=Outbound(self.settings, stopping=self.stop),
            stopping=self.stop,
        )
        self.worker = dramatiq.Worker(self.broker, worker_threads=1, worker_timeout=100)

    def __enter__(self) -> Running:
        self.republisher.start()
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.worker.stop(timeout=10_000)
        self.republisher.join(10)


def publish(env: Env, doc: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    message_id = str(uuid.uuid4())
    conn = connect(env)
    try:
        ch = conn.channel()
        declare(ch, PipelineSettings(retry_delays_s=[1, 2]))
        ch.confirm_delivery()
        ch.basic_publish(
            "invoicing.commands",
            doc["type"],
            json.dumps(doc).encode(),
            pika.BasicProperties(delivery_mode=2, message_id=message_id, headers=headers),
            mandatory=True,
        )
    finally:
        conn.close()
    return message_id


def ready(env: Env, queue: str) -> int:
    conn = connect(env)
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def doc(ctype: str = "create_invoice") -> dict[str, Any]:
    return {"type": ctype, "command_id": str(uuid.uuid4()), "organization_id": str(uuid.uuid4())}


def test_transient_errors_are_retried_in_place(env: Env) -> None:
    calls = []

    def step(d: Delivery) -> Outcome:
        calls.append(d)
        if len(calls) < 3:
            raise psycopg.OperationalError("connection refused")
        return Outcome("applied")

    retries = sample("invoicing_transient_retries_total", type="create_invoice")
    applied = sample("invoicing_commands_total", type="create_invoice", outcome="applied")
    with Running(env, step):
        publish(env, doc())
        wait_until(lambda: len(calls) == 3, 30, "three attempts")
        wait_until(
            lambda: (
                sample("invoicing_commands_total", type="create_invoice", outcome="applied")
                == applied + 1
            ),
            10,
            "the outcome counted",
        )
    assert all(c is calls[0] for c in calls)  # the same delivery, never a copy
    assert sample("invoicing_transient_retries_total", type="create_invoice") == retries + 2
    assert ready(env, "invoicing.commands") == 0  # acked


def test_retry_later_goes_through_the_delay_queue_once(env: Env) -> None:
    def step(d: Delivery) -> Outcome:
        if not d.headers.get(H_RETRIES):
            raise RetryLater(DomainError("not_found", "no such invoice"))
        return Outcome("applied")

    with Running(env, step, retry_missing_s=60) as run:
        publish(env, doc("finalize_invoice"))
        wait_until(lambda: len(run.seen) == 2, 30, "the delayed copy")
        time.sleep(1.5)
    first, second = run.seen
    assert second.headers[H_RETRIES] == 1
    assert second.headers[H_FIRST_SEEN] == first.first_seen_ms
    assert second.transport["message_id"] == first.transport["message_id"]
    assert len(run.seen) == 2  # one copy, no amplification


def test_hostile_counting_headers_are_ignored_not_a_requeue_loop(env: Env) -> None:
    """A publisher's own values for the headers the policies count with -- a time to come,
    a negative number, a string -- are read as absent: never a
    policy failure (which would requeue the delivery again and again), never a command kept
    retrying forever because it was "first seen" in the future, and the copy the delayed
    retry publishes carries a first-seen time the broker can take."""

    def step(d: Delivery) -> Outcome:
        if not d.headers.get(H_RETRIES):
            raise RetryLater(DomainError("not_found", "no such invoice"))
        return Outcome("applied")

    hostile = {"x-delivery-count": "many", "x-invoicing-failures": -(2**62), H_RETRIES: 0}
    for first_seen in (2**62, -5, "soon"):
        with Running(env, step, retry_missing_s=60) as run:
            before = int(time.time() * 1000)
            publish(env, doc("finalize_invoice"), {**hostile, H_FIRST_SEEN: first_seen})
            wait_until(lambda: len(run.seen) == 2, 30, f"the delayed copy ({first_seen!r})")
        first, second = run.seen
        assert before - 5_000 <= first.first_seen_ms <= int(time.time() * 1000)
        assert second.headers[H_RETRIES] == 1
        assert second.headers[H_FIRST_SEEN] == first.first_seen_ms


def test_a_bug_is_retried_then_dead_lettered_and_poison_dies_at_once(env: Env) -> None:
    def step(d: Delivery) -> Outcome:
        if d.type == "void_invoice":
            raise Poison("undecodable", "undecodable: test poison")
        raise RuntimeError("handler bug\nsecret second line")

    dead = sample("invoicing_dead_letters_total", reason="handler_failed")
    with Running(env, step, max_failures=2) as run:
        bug = publish(env, doc())
        poison = publish(env, doc("void_invoice"))
        got = dead_letters(env, [bug, poison], timeout=30)
        assert got[bug]["headers"]["x-invoicing-reason"] == (
            "handler failed 2 times: RuntimeError: handler bug"
        )
        assert got[poison]["headers"]["x-invoicing-reason"] == "undecodable: test poison"
    assert [d.type for d in run.seen].count("void_invoice") == 1
    assert [d.type for d in run.seen].count("create_invoice") == 2
    assert sample("invoicing_dead_letters_total", reason="handler_failed") == dead + 1


def test_a_transient_hold_that_runs_out_goes_to_the_longest_delay_queue(env: Env) -> None:
    def step(d: Delivery) -> Outcome:
        if len(run.seen) == 1:
            raise psycopg.OperationalError("the database is down")
        return Outcome("applied")

    with Running(env, step, transient_hold_s=0) as run:
        publish(env, doc())
        wait_until(lambda: len(run.seen) == 2, 30, "the copy after the hold")
        started = time.monotonic()
    first, second = run.seen
    assert second is not first and second.transport["exchange"] == "invoicing.requeue"
    assert started - first.started >= 1.5  # it waited 2 s in scheduled_commands, not in memory
