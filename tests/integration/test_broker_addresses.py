"""Several broker addresses and idle connections, against the machine's RabbitMQ (own vhost).

* A list whose first address answers nothing still connects (the publisher, the worker's
  consumer, the relay): pika tries the addresses in turn.
* A connection with ``heartbeat=2`` left idle for 10 s: the relay answers heartbeats while it
  waits on PostgreSQL, so its connection is still the first one and the next publish goes out
  on it; a publisher nobody keeps alive is dropped by the broker, and its next publish notices
  that before publishing and reconnects instead of failing.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pika
import psycopg
import pytest
from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, connect
from invoicing.workers.broker import AmqpBroker
from invoicing.workers.relay import Relay
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import WORKLOADS

from tests.e2e.harness import Collector, Env, module_env, wait_until
from tests.integration.test_relay import _insert
from tests.support.external import needs_rabbitmq

pytestmark = [
    pytest.mark.integration,
    needs_rabbitmq,
]


env = module_env("addresses")


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live(env: Env, heartbeat: int = 10) -> str:
    return f"amqp://guest:guest@127.0.0.1:5672/{env.vhost}?heartbeat={heartbeat}"


def addresses(env: Env, heartbeat: int = 10) -> str:
    dead = f"amqp://guest:guest@127.0.0.1:{closed_port()}/{env.vhost}?heartbeat={heartbeat}"
    return f"{dead}, {live(env, heartbeat)}"


def scratch_queue(env: Env) -> str:
    name = f"addr.{uuid.uuid4().hex[:8]}"
    conn = connect(live(env))
    conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
    conn.close()
    return name


def count(env: Env, queue: str) -> int:
    conn = connect(live(env))
    n = int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    conn.close()
    return n


def message(queue: str) -> Outgoing:
    return Outgoing("", queue, b"{}", pika.BasicProperties(message_id=str(uuid.uuid4())))


def test_a_publisher_skips_an_address_that_does_not_answer(env: Env) -> None:
    queue = scratch_queue(env)
    for _ in range(8):  # every start of the rotation: the dead address first or second
        pub = ConfirmingPublisher(addresses(env))
        pub.publish(message(queue))
        pub.close()
    wait_until(lambda: count(env, queue) == 8, 10, "eight confirmed messages")


def test_the_worker_consumer_skips_an_address_that_does_not_answer(env: Env) -> None:
    settings = PipelineSettings(amqp_url=addresses(env), retry_delays_s=[1, 2])
    broker = AmqpBroker(settings, [])
    for _ in range(4):
        consumer = broker.consume(WORKLOADS["commands"], prefetch=1, timeout=200)
        assert consumer.connection.is_open
        consumer.close()


def _relay(env: Env, url: str, poll_s: float) -> tuple[Relay, threading.Thread]:
    settings = PipelineSettings(amqp_url=url, relay_poll_interval_s=poll_s, relay_batch_size=50)
    relay = Relay(env.dsn, settings)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    return relay, thread


def test_an_idle_relay_keeps_its_connection_through_heartbeats(env: Env) -> None:
    col = Collector(env, binding="invoice.updated")
    # heartbeat 2 s, and a poll interval longer than two heartbeats: only the keepalive
    # slices answer the broker while the relay waits for PostgreSQL
    relay, thread = _relay(env, addresses(env, heartbeat=2), poll_s=6.0)
    try:
        with psycopg.connect(env.dsn, autocommit=True) as conn:
            first = _insert(conn, "hb", 1)
            col.drain(lambda ev: any(e["id"] == first for e in ev), 20)
            assert relay.publisher.connections_opened == 1
            time.sleep(10)  # idle: no rows, no publishes
            second = _insert(conn, "hb", 2)
            col.drain(lambda ev: any(e["id"] == second for e in ev), 20)
        # the second event went out on the first connection: the broker never dropped it
        assert relay.publisher.connections_opened == 1
        assert relay.backoff.attempt == 0
    finally:
        relay.stop.set()
        thread.join(10)


def test_a_publisher_left_idle_reconnects_before_its_next_publish(env: Env) -> None:
    queue = scratch_queue(env)
    pub = ConfirmingPublisher(live(env, heartbeat=2))
    pub.publish(message(queue))
    time.sleep(10)  # nobody answers heartbeats: the broker closes the connection
    pub.publish(message(queue))  # noticed before publishing: no error, a fresh connection
    assert pub.connections_opened == 2
    kept = ConfirmingPublisher(live(env, heartbeat=2))
    kept.publish(message(queue))
    for _ in range(10):
        time.sleep(1)
        kept.keepalive()
    assert kept.is_open
    kept.publish(message(queue))
    assert kept.connections_opened == 1
    pub.close()
    kept.close()
    wait_until(lambda: count(env, queue) == 4, 10, "four confirmed messages")
