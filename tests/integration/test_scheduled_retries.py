"""Delayed retries kept in the database (``scheduled_commands``), republished with confirms.

Real PostgreSQL (the migrated database of an e2e environment) and the machine's RabbitMQ (its
own vhost): a copy comes back to its queue after its delay with its properties and headers;
two republishers (two worker processes) publish each row once; while no broker answers, the
rows stay, count as overdue (gauge and a ``retry.overdue`` log line) and go out once a broker
answers again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from invoicing.workers.amqp import connect
from invoicing.workers.delivery import H_FIRST_SEEN, H_RETRIES, Delivery
from invoicing.workers.scheduled import TABLE, Republisher, RetryStore
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import WORKLOADS, declare
from prometheus_client import REGISTRY
from sqlalchemy import Engine, create_engine, func, select

from tests.e2e.harness import Env, create_env, destroy_env, wait_until
from tests.integration.test_broker_addresses import closed_port
from tests.support.external import needs_rabbitmq

pytestmark = [
    pytest.mark.integration,
    needs_rabbitmq,
]

QUEUE = WORKLOADS["commands"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = create_env(Path(tmp_path_factory.mktemp("scheduled")))
    try:
        conn = connect(e.amqp_url)
        declare(conn.channel(), PipelineSettings(amqp_url=e.amqp_url))
        conn.close()
        yield e
    finally:
        destroy_env(e)


@pytest.fixture
def engine(env: Env) -> Iterator[Engine]:
    eng = create_engine(env.dsn.replace("postgresql://", "postgresql+psycopg://"))
    with eng.begin() as conn:
        conn.execute(TABLE.delete())
    yield eng
    eng.dispose()


def settings(url: str, **extra: Any) -> PipelineSettings:
    return PipelineSettings(
        amqp_url=url,
        retry_poll_interval_s=0.2,
        transient_backoff_base_s=0.05,
        transient_backoff_max_s=0.2,
        **extra,
    )


def delivery(message_id: str, headers: dict[str, Any]) -> Delivery:
    body = f'{{"type":"create_invoice","command_id":"{message_id}"}}'.encode()
    return Delivery.of(
        body,
        {
            "queue": QUEUE,
            "message_id": message_id,
            "correlation_id": "corr-1",
            "content_type": "application/json",
            "headers": headers,
        },
    )


def drain(env: Env, wanted: set[str], timeout: float) -> dict[str, tuple[float, Any, bytes]]:
    """Consume ``invoicing.commands`` until every wanted message id arrived (or the timeout)."""
    got: dict[str, tuple[float, Any, bytes]] = {}
    seen: Counter[str] = Counter()
    conn = connect(env.amqp_url)
    ch = conn.channel()
    deadline = time.monotonic() + timeout
    for method, props, body in ch.consume(QUEUE, inactivity_timeout=0.1):
        if method is not None:
            ch.basic_ack(method.delivery_tag)
            seen[props.message_id] += 1
            got.setdefault(props.message_id, (time.time(), props, body))
        if wanted <= set(got) or time.monotonic() > deadline:
            break
    ch.cancel()
    # anything published twice would be in the queue now
    time.sleep(0.5)
    while True:
        method, props, _body = ch.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        seen[props.message_id] += 1
    conn.close()
    assert all(seen[m] == 1 for m in wanted), f"published more than once: {seen}"
    return got


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TABLE)).scalar_one())


def test_a_delayed_retry_comes_back_after_its_delay_with_its_headers(
    env: Env, engine: Engine
) -> None:
    stop = threading.Event()
    republisher = Republisher(engine, settings(env.amqp_url), stop)
    republisher.start()
    mid = str(uuid.uuid4())
    headers = {"x-custom": {"nested": [1, "two"]}, "amount": Decimal("12.50"), "raw": b"\x00\x01"}
    original = delivery(mid, {**headers, "x-death": [{"count": 1}], "x-delivery-count": 3})
    stored_at = time.time()
    RetryStore(engine).schedule(original, 2, {H_RETRIES: 1, H_FIRST_SEEN: 1234})
    try:
        got = drain(env, {mid}, 15)
    finally:
        stop.set()
        republisher.join(10)
    arrived, props, body = got[mid]
    assert 2.0 <= arrived - stored_at <= 2.0 + 0.2 + 2.0  # its delay, the poll, some slack
    assert body == original.body
    assert props.correlation_id == "corr-1" and props.content_type == "application/json"
    assert props.delivery_mode == 2
    assert props.headers[H_RETRIES] == 1 and props.headers[H_FIRST_SEEN] == 1234
    assert props.headers["x-custom"] == {"nested": [1, "two"]}
    assert props.headers["amount"] == Decimal("12.50") and props.headers["raw"] == b"\x00\x01"
    assert "x-death" not in props.headers and "x-delivery-count" not in props.headers
    assert rows(engine) == 0  # deleted in the transaction that saw the confirm


def test_two_republishers_publish_each_due_row_once(env: Env, engine: Engine) -> None:
    store = RetryStore(engine)
    ids = {str(uuid.uuid4()) for _ in range(60)}
    for mid in ids:
        store.schedule(delivery(mid, {}), 1, {})
    stop = threading.Event()
    pubs = [Republisher(engine, settings(env.amqp_url), stop, batch_size=7) for _ in range(2)]
    for p in pubs:
        p.start()
    try:
        drain(env, ids, 30)  # asserts each arrived exactly once
    finally:
        stop.set()
        for p in pubs:
            p.join(10)
    assert sum(p.republished for p in pubs) == len(ids)
    assert rows(engine) == 0


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_stuck_retries_are_counted_and_logged_then_sent_when_a_broker_answers(
    env: Env, engine: Engine
) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{closed_port()}/{env.vhost}"
    mid = str(uuid.uuid4())
    RetryStore(engine).schedule(delivery(mid, {}), 0, {})
    stop = threading.Event()
    stuck = Republisher(engine, settings(dead, retry_overdue_s=1.0), stop)
    with structlog.testing.capture_logs() as logs:
        stuck.start()
        wait_until(lambda: stuck.overdue == 1, 20, "the overdue retry counted")
        stop.set()
        stuck.join(10)
    assert gauge("invoicing_retry_overdue") == 1
    assert gauge("invoicing_retry_overdue_seconds") >= 1.0
    events = [e["event"] for e in logs]
    assert "retry.republish_failed" in events and "retry.overdue" in events
    overdue = next(e for e in logs if e["event"] == "retry.overdue")
    assert overdue["count"] == 1 and "guest" not in repr(overdue)
    assert rows(engine) == 1  # never published, never dropped

    stop = threading.Event()
    back = Republisher(engine, settings(f"{dead}, {env.amqp_url}", retry_overdue_s=1.0), stop)
    back.start()
    try:
        drain(env, {mid}, 15)
        wait_until(lambda: back.overdue == 0, 10, "nothing overdue any more")
    finally:
        stop.set()
        back.join(10)
    assert gauge("invoicing_retry_overdue") == 0
    assert rows(engine) == 0
