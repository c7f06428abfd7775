"""A reconnecting worker never acknowledges a message it has not processed, the reconnect
paths log neither bodies nor credentials, and an idle consumer sends an ack at once (real
RabbitMQ, own vhost).

Delivery tags are numbers per channel: after a reconnect the new channel counts from 1 again,
and dramatiq's consumer thread settles messages of the old connection through the *new*
consumer (``ConsumerThread.consumer`` is replaced on restart). ``JsonConsumer`` settles only
tags it delivered itself, so the old message's ack is dropped (RabbitMQ has requeued it when
the old channel closed) instead of acknowledging whatever the new channel numbered the same.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import dramatiq
import pika
import pytest
import structlog
from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, PublishError, connect
from invoicing.workers.broker import AmqpBroker, AmqpMessage
from invoicing.workers.relay import Relay
from invoicing.workers.runner import IDLE_WAKE_MS
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import WORKLOADS

from tests.e2e.harness import Env, module_env, wait_until
from tests.integration.test_broker_addresses import closed_port
from tests.support.external import needs_rabbitmq

pytestmark = [
    pytest.mark.integration,
    needs_rabbitmq,
]

QUEUE = WORKLOADS["commands"]
SECRET_BODY = "body-marker-7f3a"


env = module_env("reconnect")


def publish(env: Env, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    pub = ConfirmingPublisher(env.amqp_url)
    for mid in ids:
        body = json.dumps({"type": "create_invoice", "command_id": mid, "note": SECRET_BODY})
        props = pika.BasicProperties(delivery_mode=2, message_id=mid)
        pub.publish(Outgoing("", QUEUE, body.encode(), props))
    pub.close()
    return ids


def queued(env: Env) -> int:
    conn = connect(env.amqp_url)
    n = int(conn.channel().queue_declare(QUEUE, passive=True).method.message_count)
    conn.close()
    return n


def purge(env: Env) -> None:
    conn = connect(env.amqp_url)
    conn.channel().queue_purge(QUEUE)
    conn.close()


def test_an_ack_from_before_a_reconnect_never_reaches_the_new_channel(env: Env) -> None:
    settings = PipelineSettings(amqp_url=env.amqp_url)
    broker = AmqpBroker(settings, [])
    old = broker.consume(QUEUE, prefetch=1, timeout=500)  # declares the topology
    purge(env)
    first, second = publish(env, 2)
    in_flight = next(m for m in old if m is not None)  # being processed when the link drops
    assert isinstance(in_flight, AmqpMessage) and in_flight.message_id == first
    assert in_flight.tag == 1
    old.connection.close()  # the connection is lost: RabbitMQ requeues the unacked delivery

    new = broker.consume(QUEUE, prefetch=2, timeout=500)  # dramatiq's restarted consumer
    got = [new.__next__() for _ in range(4)]
    fresh = [m for m in got if m is not None]
    assert sorted(m.message_id for m in fresh) == sorted([first, second])
    assert 1 in {m.tag for m in fresh}  # the new channel numbers from 1 again
    with structlog.testing.capture_logs() as logs:
        # the worker thread finishes the old delivery: dramatiq acks it via the NEW consumer
        new.ack(in_flight)
        old.ack(in_flight)  # or via the old one, already closed
    # dropped by the new consumer (not its tag); the old one cannot send it (closed)
    assert [e["event"] for e in logs] == ["delivery.stale", "delivery.unsettled"]
    assert all(SECRET_BODY not in repr(e) for e in logs)
    new.close()  # neither fresh delivery was processed: both must be back in the queue
    wait_until(lambda: queued(env) == 2, 10, "both unprocessed deliveries requeued")

    # and a delivery of the new channel is acked normally
    again = broker.consume(QUEUE, prefetch=2, timeout=500)
    fresh = [m for m in (again.__next__() for _ in range(4)) if m is not None]
    for m in fresh:
        again.ack(m)
    again.close()
    wait_until(lambda: queued(env) == 0, 10, "both acked")


def test_a_message_prints_as_its_queue_and_id_never_its_body(env: Env) -> None:
    broker = AmqpBroker(PipelineSettings(amqp_url=env.amqp_url), [])
    consumer = broker.consume(QUEUE, prefetch=1, timeout=500)
    purge(env)
    (mid,) = publish(env, 1)
    message = next(m for m in consumer if m is not None)
    # dramatiq's own lines ("Failed to post_process_message(%s)", "Acknowledging %r") use these
    assert str(message) == f"{QUEUE}/{mid}" and SECRET_BODY not in repr(message)
    consumer.nack(message)
    consumer.close()


def test_reconnect_paths_log_no_credentials(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    password = "s3cret-pw-91c2"
    dead = f"amqp://svc:{password}@127.0.0.1:{closed_port()}/{env.vhost}"
    caplog.set_level(logging.DEBUG)  # pika's and dramatiq's own lines included
    message = Outgoing("", QUEUE, SECRET_BODY.encode(), pika.BasicProperties())
    with structlog.testing.capture_logs() as logs:
        # a publisher, the worker's consumer and the relay failing to reach any broker
        with pytest.raises(PublishError) as publish_error:
            ConfirmingPublisher(dead).publish(message)
        broker = AmqpBroker(PipelineSettings(amqp_url=f"{dead}, {dead}"), [])
        with pytest.raises(dramatiq.ConnectionClosed) as consume_error:
            broker.consume(QUEUE, prefetch=1, timeout=500)
        relay = Relay(env.dsn, PipelineSettings(amqp_url=dead, relay_poll_interval_s=0.1))
        thread = threading.Thread(target=relay.run, daemon=True)
        thread.start()
        wait_until(lambda: relay.backoff.attempt >= 2, 30, "the relay retrying")
        relay.stop.set()
        thread.join(10)
    texts = [str(publish_error.value), str(consume_error.value), *map(repr, logs)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("relay.retry" in t for t in texts)
    assert any("127.0.0.1" in t for t in texts)  # the failures do say where
    leaked = [t for t in texts if password in t or SECRET_BODY in t]
    assert leaked == []


def test_an_ack_goes_out_at_once_while_the_consumer_waits_idle(env: Env) -> None:
    """An idle consumer thread waits on its connection for up to ``runner.IDLE_WAKE_MS`` (a
    second): an ack handed to it meanwhile must still go out at once, not at its next
    wake-up. With a prefetch of 1 the broker delivers the next message only once the ack of
    the one before has reached it, so the time from ``ack`` to the next delivery is how long
    the ack waited in the process."""
    assert IDLE_WAKE_MS >= 1000  # what this test is about: a long idle wait
    broker = AmqpBroker(PipelineSettings(amqp_url=env.amqp_url), [])
    consumer = broker.consume(QUEUE, prefetch=1, timeout=IDLE_WAKE_MS)  # declares the topology
    purge(env)
    first_id, second_id = publish(env, 2)
    first = next(m for m in consumer if m is not None)
    assert isinstance(first, AmqpMessage) and first.message_id == first_id
    got: list[tuple[float, AmqpMessage]] = []

    def consumer_thread() -> None:  # as dramatiq's: waits for the next message, idle
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = consumer.__next__()
            if message is not None:
                got.append((time.monotonic(), message))
                return

    waiting = threading.Thread(target=consumer_thread)
    waiting.start()
    time.sleep(0.2)  # the consumer thread is inside its wait on the connection
    acked_at = time.monotonic()
    consumer.ack(first)  # from a worker thread
    waiting.join(15)
    [(arrived, second)] = got
    assert second.message_id == second_id
    # the ack reached the broker at once: the next delivery did not wait for a wake-up
    assert arrived - acked_at < 0.3 * IDLE_WAKE_MS / 1000, arrived - acked_at
    consumer.ack(second)
    consumer.close()
