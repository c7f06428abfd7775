"""An idle consumer thread waits on its connection for up to ``runner.IDLE_WAKE_MS`` (a
second): an ack handed to it meanwhile must still go out at once, not at its next wake-up
(real RabbitMQ, own vhost).

With a prefetch of 1 the broker delivers the next message only once the ack of the one
before has reached it, so the time from ``ack`` to the next delivery is how long the ack
waited in the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoicing.workers.broker import AmqpBroker, AmqpMessage
from invoicing.workers.runner import IDLE_WAKE_MS
from invoicing.workers.settings import PipelineSettings

from tests.e2e.harness import Env, create_env, destroy_env
from tests.integration.test_reconnect_acks import QUEUE, publish, purge
from tests.support.external import needs_rabbitmq

pytestmark = [pytest.mark.integration, needs_rabbitmq]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = create_env(Path(tmp_path_factory.mktemp("idle")))
    try:
        yield e
    finally:
        destroy_env(e)


def test_an_ack_goes_out_at_once_while_the_consumer_waits_idle(env: Env) -> None:
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
