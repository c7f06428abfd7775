"""``ConfirmingPublisher`` against a real broker (queues of its own in the default vhost): a
confirmed batch is all in its queue; a message a quorum queue refuses is reported (its
``basic.nack``), an unroutable one too, and the publisher goes on afterwards.

Why publisher confirms and not AMQP transactions (which pika's ``BlockingChannel`` would batch;
it confirms only one publish at a time): on RabbitMQ 3.10 a quorum queue at its length limit
with ``reject-publish`` drops a message published in a transaction without failing the
commit (measured 2026-11-29: ``tx.commit-ok``, the message gone), while in confirm mode the
same message is nacked. A classic queue fails the commit (``partial tx completion``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pika
import pytest
from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, PublishError, Unroutable, connect

from tests.support.external import needs_rabbitmq

pytestmark = [pytest.mark.integration, needs_rabbitmq]


#: the local broker's default vhost; every queue here has a name of its own and is deleted
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@dataclass
class Broker:
    amqp_url: str
    queues: list[str] = field(default_factory=list)


@pytest.fixture
def env() -> Iterator[Broker]:
    broker = Broker(URL)
    yield broker
    conn = connect(URL)
    channel = conn.channel()
    for name in broker.queues:
        channel.queue_delete(name)
    conn.close()


def _queue(env: Broker, **arguments: object) -> str:
    name = f"t.publisher.{uuid.uuid4().hex[:8]}"
    conn = connect(env.amqp_url)
    queue_arguments = {"x-queue-type": "quorum", **arguments}
    conn.channel().queue_declare(name, durable=True, arguments=queue_arguments)
    conn.close()
    env.queues.append(name)
    return name


def _count(env: Broker, queue: str) -> int:
    conn = connect(env.amqp_url)
    n = int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    conn.close()
    return n


def _message(queue: str, n: int) -> Outgoing:
    props = pika.BasicProperties(delivery_mode=2, message_id=f"m-{n}")
    return Outgoing("", queue, f"body {n}".encode(), props)


def test_a_confirmed_batch_is_all_in_its_queue(env: Broker) -> None:
    queue = _queue(env)
    publisher = ConfirmingPublisher(env.amqp_url)
    publisher.publish_batch([_message(queue, n) for n in range(50)])
    publisher.publish(_message(queue, 50))
    assert _count(env, queue) == 51
    assert publisher.connections_opened == 1
    publisher.close()


def test_a_message_the_queue_refuses_fails_the_publish(env: Broker) -> None:
    """A quorum queue at its length limit with ``reject-publish`` nacks what comes next: the
    publish raises, never reports the message published. (The limit is checked on the
    leader's state when a message arrives, so a message or two beyond it may be taken.)"""
    queue = _queue(env, **{"x-max-length": 2, "x-overflow": "reject-publish"})
    publisher = ConfirmingPublisher(env.amqp_url)
    published = 0
    with pytest.raises(PublishError) as refused:
        for n in range(10):
            publisher.publish(_message(queue, n))
            published += 1
    assert not isinstance(refused.value, Unroutable)
    assert "1 nacked" in str(refused.value)
    assert 2 <= published < 10 and _count(env, queue) == published
    other = _queue(env)  # and the publisher goes on
    publisher.publish(_message(other, 1))
    assert _count(env, other) == 1
    publisher.close()


def test_an_unroutable_message_is_reported_and_the_rest_committed(env: Broker) -> None:
    queue = _queue(env)
    nowhere = f"t.publisher.missing.{uuid.uuid4().hex[:8]}"
    publisher = ConfirmingPublisher(env.amqp_url)
    batch = [_message(queue, 1), _message(nowhere, 2), _message(queue, 3)]
    with pytest.raises(Unroutable) as returned:
        publisher.publish_batch(batch)
    assert "0 nacked, 1 unroutable" in str(returned.value)
    assert _count(env, queue) == 2
    # the next batch on the same channel reports nothing of the earlier one
    publisher.publish(_message(queue, 4))
    assert _count(env, queue) == 3 and publisher.connections_opened == 1
    publisher.close()


def test_a_channel_the_broker_closes_fails_the_publish_and_the_next_reconnects(
    env: Broker,
) -> None:
    """A publish to an exchange that does not exist: the broker closes the channel (404); the
    publish raises with the broker's reason instead of waiting for a confirm that cannot come,
    and the next publish opens a new connection."""
    queue = _queue(env)
    publisher = ConfirmingPublisher(env.amqp_url, confirm_timeout_s=20)
    missing = Outgoing(f"t.missing.{uuid.uuid4().hex[:8]}", "x", b"{}", pika.BasicProperties())
    with pytest.raises(PublishError) as closed:
        publisher.publish(missing)
    assert "NOT_FOUND" in str(closed.value) and "no confirm" not in str(closed.value)
    assert not publisher.is_open
    publisher.publish(_message(queue, 1))
    assert _count(env, queue) == 1 and publisher.connections_opened == 2
    publisher.close()


def test_large_batches_to_several_queues_are_confirmed_together(env: Broker) -> None:
    """RabbitMQ confirms several tags at once (``multiple``) and, across queues, in any order:
    each batch waits for every one of its own."""
    first, second = _queue(env), _queue(env)
    publisher = ConfirmingPublisher(env.amqp_url)
    for round_ in range(3):
        batch = [_message(first if n % 2 else second, round_ * 1000 + n) for n in range(400)]
        publisher.publish_batch(batch)
    assert _count(env, first) == 600 and _count(env, second) == 600
    assert publisher.connections_opened == 1
    publisher.close()
    assert not publisher.is_open
    publisher.publish(_message(first, 9999))  # closed on purpose: the next publish reopens
    assert _count(env, first) == 601 and publisher.connections_opened == 2
    publisher.close()
