"""Every process's RabbitMQ user (deploy/rabbitmq/users.json) can do what its process does and
is refused what it must not do, on a node of our own booted with the shipped configuration.

The node (own name, port 5867, cookie and directories: tests/support/rabbitnodes.py) imports
definitions.json and users.json at boot as compose does; users log in with the local stack's
passwords (deploy/compose.yaml; tests/unit/test_deploy_users.py checks they match the hashes).
Each test runs the service's own code as the user -- the worker's consumer start-up (topology
declaration, consume), its confirmed publishes, the relay's declaration and publish, the
archive process, the scheduler's publish, a publisher's command and query round trip -- and
then the refusals (403 ACCESS_REFUSED from the broker). The processes that declare run on an
empty vhost too, with the same permissions, as on Kubernetes where no definitions are imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dramatiq
import pika
import pika.exceptions
import pytest
from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, PublishError, Unroutable
from invoicing.workers.broker import AmqpBroker
from invoicing.workers.dead_letters import DeadLetterArchive, list_dead_letters, redrive
from invoicing.workers.delivery import Delivery, Outbound
from invoicing.workers.relay import Relay, properties_for
from invoicing.workers.scheduler import publish_via_broker
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import (
    COMMANDS_EXCHANGE,
    DEAD_LETTER_QUEUE,
    DLX,
    EVENTS_EXCHANGE,
    QUERIES_QUEUE,
    REQUEUE_EXCHANGE,
    WORKLOADS,
    declare,
    queues,
)
from sqlalchemy import Engine

from tests.support.external import needs
from tests.support.rabbitnodes import DEPLOY_RABBITMQ, Node, rabbit_sbin, shipped_config

pytestmark = [
    pytest.mark.integration,
    needs(rabbit_sbin() is not None, "needs RabbitMQ installed (its sbin scripts)"),
]

WORKER, RELAY, ARCHIVE = "invoicing-worker", "invoicing-relay", "invoicing-archive"
SCHEDULER, PUBLISHER = "invoicing-scheduler", "invoicing-publisher"
SECRET = "s" * 40
REPLY_TO = "amq.rabbitmq.reply-to"


def shipped_permissions() -> dict[str, dict[str, str]]:
    doc = json.loads((DEPLOY_RABBITMQ / "users.json").read_text())
    return {p["user"]: p for p in doc["permissions"] if p["vhost"] == "/"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    base = tmp_path_factory.mktemp("rabbit-users")
    # a node of its own per pytest-xdist process (name and ports by the process's number):
    # scripts/test.sh runs two, which may share this module's tests, and two nodes of one name
    # clash (pytest-xdist's --dist loadgroup would keep them together, but does not group on
    # pytest 9.2: pytest-dev/pytest-xdist#1386)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    n = Node(1, Path(base), prefix=f"invusr{worker}x", port_base=5866 + 100 * worker)
    n.write_config(shipped_config(Path(base)))
    n.start()
    try:
        n.await_startup(timeout=180)
        yield n
    finally:
        n.kill9()


@pytest.fixture
def vhost(node: Node) -> Iterator[str]:
    """An empty vhost where every shipped user has its shipped permissions."""
    name = f"users-{uuid.uuid4().hex[:8]}"
    node.ctl("add_vhost", name)
    for user, grant in shipped_permissions().items():
        node.ctl(
            "set_permissions", "-p", name, user, grant["configure"], grant["write"], grant["read"]
        )
    try:
        yield name
    finally:
        node.ctl("delete_vhost", name)


def url(node: Node, user: str, vhost: str = "/") -> str:
    # the local stack's password of each user is its name (deploy/compose.yaml)
    return f"amqp://{user}:{user}@127.0.0.1:{node.port}/{quote(vhost, safe='')}?heartbeat=30"


def settings(node: Node, user: str, vhost: str = "/") -> PipelineSettings:
    return PipelineSettings(
        amqp_url=url(node, user, vhost), jwt_secret=SECRET, transient_backoff_max_s=0.5
    )


def refused(action: Callable[[], Any]) -> None:
    """The broker closes the channel with 403 ACCESS_REFUSED."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        action()
    assert info.value.reply_code == 403, info.value


def channel_of(node: Node, user: str, vhost: str = "/") -> Any:
    connection = pika.BlockingConnection(pika.URLParameters(url(node, user, vhost)))
    channel = connection.channel()
    channel.confirm_delivery()
    return channel


def publish(node: Node, user: str, exchange: str, key: str, vhost: str = "/") -> None:
    channel = channel_of(node, user, vhost)
    try:
        channel.basic_publish(exchange, key, b"{}", pika.BasicProperties(delivery_mode=2))
    finally:
        if channel.connection.is_open:
            channel.connection.close()


def consume(node: Node, user: str, queue: str, vhost: str = "/") -> None:
    channel = channel_of(node, user, vhost)
    try:
        channel.basic_consume(queue, lambda *_: None)
    finally:
        if channel.connection.is_open:
            channel.connection.close()


def declare_queue(node: Node, user: str, queue: str, vhost: str = "/") -> None:
    channel = channel_of(node, user, vhost)
    try:
        channel.queue_declare(queue, exclusive=True)
    finally:
        if channel.connection.is_open:
            channel.connection.close()


def take(
    node: Node, queue: str, vhost: str, user: str = WORKER, timeout: float = 10
) -> tuple[Any, bytes]:
    """One message from ``queue``, as the worker (it reads the workload queues) by default."""
    channel = channel_of(node, user, vhost)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                return props, bytes(body)
            time.sleep(0.1)
        raise AssertionError(f"nothing arrived in {queue} within {timeout} s")
    finally:
        channel.connection.close()


def queue_names(node: Node, vhost: str) -> set[str]:
    rows = json.loads(node.ctl("list_queues", "-p", vhost, "name", "--formatter", "json"))
    return {r["name"] for r in rows}


def start_worker_consumers(s: PipelineSettings) -> None:
    """What a worker process does at start: one consumer per queue, each declaring the topology
    (once per broker) and consuming; then they close as on shutdown."""
    broker = AmqpBroker(s, middleware=[])
    try:
        for queue in [*WORKLOADS.values(), QUERIES_QUEUE]:
            consumer = broker.consume(queue, prefetch=1, timeout=100)
            assert next(consumer) is None  # consuming, nothing there yet
            consumer.close()
    finally:
        broker.close()


def command(kind: str = "finalize_invoice") -> dict[str, Any]:
    return {
        "type": kind,
        "command_id": str(uuid.uuid4()),
        "organization_id": str(uuid.uuid4()),
        "payload": {"invoice_id": str(uuid.uuid4())},
    }


# --------------------------------------------------------------------------- worker


def test_worker_declares_the_topology_and_consumes_its_queues(node: Node, vhost: str) -> None:
    start_worker_consumers(settings(node, WORKER, vhost))  # empty vhost: creates everything
    wanted = {q.name for q in queues(settings(node, WORKER, vhost))}
    assert wanted <= queue_names(node, vhost)
    start_worker_consumers(settings(node, WORKER))  # "/": the definitions imported at boot


def test_worker_publishes_retries_dead_letters_and_replies(node: Node, vhost: str) -> None:
    s = settings(node, WORKER, vhost)
    declare(channel_of(node, WORKER, vhost), s)
    outbound = Outbound(s, stopping=threading.Event())
    body = json.dumps(command()).encode()
    delivery = Delivery.of(body, {"queue": "invoicing.commands", "headers": {}})
    outbound.delayed_copy(delivery, 1, {})  # broker store: the delay exchange
    outbound.dead_letter(delivery, "handler_failed: a test")  # to the dead-letter exchange
    props = Outbound.properties(delivery.transport, {})
    # database store: the republisher's copy goes to invoicing.requeue
    outbound.publish(Outgoing(REQUEUE_EXCHANGE, "invoicing.commands", body, props))
    assert take(node, "invoicing.commands", vhost)[1] == body  # back from requeue (or delay)
    assert take(node, DEAD_LETTER_QUEUE, vhost, ARCHIVE)[1] == body
    outbound.publisher.close()


def test_worker_is_refused_events_and_dead_letters(node: Node, vhost: str) -> None:
    declare(channel_of(node, WORKER, vhost), settings(node, WORKER, vhost))
    refused(lambda: publish(node, WORKER, EVENTS_EXCHANGE, "invoice.created", vhost))
    refused(lambda: consume(node, WORKER, DEAD_LETTER_QUEUE, vhost))
    refused(lambda: declare_queue(node, WORKER, "other.queue", vhost))


# --------------------------------------------------------------------------- publisher


def test_publisher_sends_commands_and_queries_with_direct_reply_to(node: Node) -> None:
    """On "/" as imported at boot: a command through the command exchange, a query to
    invoicing.queries answered on amq.rabbitmq.reply-to by the worker's user."""
    start_worker_consumers(settings(node, WORKER))
    publisher = ConfirmingPublisher(url(node, PUBLISHER))
    cmd = command("create_customer")
    body = json.dumps(cmd).encode()
    publisher.publish(
        Outgoing(COMMANDS_EXCHANGE, cmd["type"], body, pika.BasicProperties(delivery_mode=2))
    )
    publisher.close()
    assert take(node, "invoicing.commands", "/")[1] == body

    requester = channel_of(node, PUBLISHER)
    replies: list[bytes] = []
    requester.basic_consume(REPLY_TO, lambda _c, _m, _p, b: replies.append(b), auto_ack=True)
    query = json.dumps({"type": "get_invoice", "query_id": str(uuid.uuid4())}).encode()
    correlation = str(uuid.uuid4())
    requester.basic_publish(
        "",
        QUERIES_QUEUE,
        query,
        pika.BasicProperties(reply_to=REPLY_TO, correlation_id=correlation),
    )
    props, got = take(node, QUERIES_QUEUE, "/")
    assert got == query and props.reply_to.startswith(REPLY_TO)
    # the worker answers as QueryProcessor does: the default exchange, the requester's reply_to
    outbound = Outbound(settings(node, WORKER), stopping=threading.Event())
    answer = b'{"status": "ok"}'
    reply = Outgoing("", props.reply_to, answer, pika.BasicProperties(correlation_id=correlation))
    # RabbitMQ 3.10 returns a mandatory publish to an amq.rabbitmq.reply-to address as
    # unroutable although it delivers it: QueryProcessor then counts the reply as unanswered
    with contextlib.suppress(Unroutable):
        outbound.publish(reply, give_up_on=(Unroutable,))
    outbound.publisher.close()
    deadline = time.monotonic() + 10
    while not replies and time.monotonic() < deadline:
        requester.connection.process_data_events(time_limit=0.2)
    requester.connection.close()
    assert replies == [answer]


def test_publisher_may_not_consume_declare_or_publish_elsewhere(node: Node) -> None:
    refused(lambda: consume(node, PUBLISHER, "invoicing.commands"))
    refused(lambda: consume(node, PUBLISHER, QUERIES_QUEUE))
    refused(lambda: declare_queue(node, PUBLISHER, ""))  # no queues of its own (amq.gen-*)
    refused(lambda: publish(node, PUBLISHER, EVENTS_EXCHANGE, "invoice.created"))
    refused(lambda: publish(node, PUBLISHER, DLX, "invoicing.commands"))
    refused(lambda: publish(node, PUBLISHER, REQUEUE_EXCHANGE, "invoicing.commands"))


# --------------------------------------------------------------------------- relay


def test_relay_declares_its_exchange_and_publishes_events(node: Node, vhost: str) -> None:
    for where in (vhost, "/"):  # empty vhost (Kubernetes) and the definitions imported at boot
        relay = Relay("postgresql://unused@127.0.0.1/unused", settings(node, RELAY, where))
        relay._declare()
        event = {"id": str(uuid.uuid4()), "type": "invoice.created", "subject": "x"}
        relay.publisher.publish_batch(
            [
                Outgoing(
                    EVENTS_EXCHANGE,
                    event["type"],
                    json.dumps(event).encode(),
                    properties_for(event),
                )
            ]
        )  # confirmed and routed (to invoicing.events.unrouted: nobody subscribed)
        relay.publisher.close()


def test_relay_may_not_touch_commands(node: Node) -> None:
    refused(lambda: publish(node, RELAY, COMMANDS_EXCHANGE, "finalize_invoice"))
    refused(lambda: publish(node, RELAY, "", "invoicing.commands"))
    refused(lambda: consume(node, RELAY, "invoicing.commands"))
    refused(lambda: declare_queue(node, RELAY, "subscriber"))


# --------------------------------------------------------------------------- archive


def test_archive_stores_dead_letters_and_redrive_needs_the_publisher(
    node: Node, vhost: str, engine: Engine
) -> None:
    stop = threading.Event()
    archive = DeadLetterArchive(engine, settings(node, ARCHIVE, vhost), stop=stop)
    thread = threading.Thread(target=archive.run, daemon=True)
    thread.start()  # declares only the dead-letter exchange and queue, on an empty vhost
    try:
        deadline = time.monotonic() + 30
        while DEAD_LETTER_QUEUE not in queue_names(node, vhost):
            assert time.monotonic() < deadline, "the archive did not declare its queue"
            time.sleep(0.2)
        declare(channel_of(node, WORKER, vhost), settings(node, WORKER, vhost))
        cmd = command()
        delivery = Delivery.of(json.dumps(cmd).encode(), {"queue": "invoicing.commands"})
        outbound = Outbound(settings(node, WORKER, vhost), stopping=threading.Event())
        outbound.dead_letter(delivery, "handler_failed: a test")
        outbound.publisher.close()
        deadline = time.monotonic() + 30
        while archive.stored < 1:
            assert time.monotonic() < deadline, "the dead letter was not archived"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(30)
    (row,) = [
        r
        for r in list_dead_letters(engine, status="dead", limit=100000)
        if r.command_id == cmd["command_id"]
    ]
    with pytest.raises(PublishError):  # the archive's user may not publish commands
        redrive(engine, settings(node, ARCHIVE, vhost), row.id)
    done = redrive(engine, settings(node, PUBLISHER, vhost), row.id)
    assert done.redrive_count == 1
    assert json.loads(take(node, "invoicing.commands", vhost)[1])["command_id"] == cmd["command_id"]


def test_archive_may_not_publish_or_consume_commands(node: Node) -> None:
    refused(lambda: publish(node, ARCHIVE, COMMANDS_EXCHANGE, "finalize_invoice"))
    refused(lambda: publish(node, ARCHIVE, DLX, "invoicing.commands"))
    refused(lambda: consume(node, ARCHIVE, "invoicing.commands"))
    refused(lambda: declare(channel_of(node, ARCHIVE), PipelineSettings()))  # not the topology


# --------------------------------------------------------------------------- scheduler


def test_scheduler_publishes_commands_only(node: Node, vhost: str) -> None:
    declare(channel_of(node, WORKER, vhost), settings(node, WORKER, vhost))
    doc = {
        "type": "check_overdue",
        "command_id": str(uuid.uuid4()),
        "organization_id": str(uuid.uuid4()),
        "payload": {},
    }
    publish_via_broker([doc], url(node, SCHEDULER, vhost), SECRET)
    assert json.loads(take(node, "invoicing.commands", vhost)[1])["command_id"] == doc["command_id"]
    refused(lambda: consume(node, SCHEDULER, "invoicing.commands", vhost))
    refused(lambda: publish(node, SCHEDULER, "", "invoicing.commands", vhost))
    refused(lambda: publish(node, SCHEDULER, EVENTS_EXCHANGE, "invoice.created", vhost))
    refused(lambda: declare_queue(node, SCHEDULER, "", vhost))


def test_a_dramatiq_connection_closed_is_what_a_refused_consumer_raises(node: Node) -> None:
    """A worker started with another process's user stops at its first queue (dramatiq then
    restarts the consumer with backoff, the log says why)."""
    broker = AmqpBroker(settings(node, RELAY), middleware=[])
    with pytest.raises(dramatiq.ConnectionClosed):
        consumer = broker.consume("invoicing.commands", prefetch=1, timeout=100)
        next(consumer)
    broker.close()
