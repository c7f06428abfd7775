"""dramatiq on RabbitMQ for plain-JSON commands on quorum queues, through dramatiq's public API.

* ``AmqpBroker`` is a ``dramatiq.Broker``: the topology of ``invoicing.workers.topology``
  (quorum queues with a delivery limit, a dead-letter exchange, TTL delay queues) is declared
  once per process when the first consumer connects, and again after a queue went missing.
* ``JsonConsumer`` is a ``dramatiq.broker.Consumer`` over pika: it takes the documented wire
  format -- one JSON command as the body, no dramatiq envelope -- and hands each delivery to the
  actor of its queue as a ``Delivery`` (body + transport), wrapped in ``AmqpMessage`` (a
  ``dramatiq.MessageProxy``). ``ack`` is ``basic.ack``; ``nack`` is ``basic.nack`` *with
  requeue*: dead-lettering is always an explicit, confirmed publish with its reason.
* The policies are dramatiq middleware (src/workers/middleware.py), one per policy; none of
  dramatiq's default middleware is used (its ``Retries`` would hold delayed messages unacked in
  memory and could ack a message whose retry was never published).
* Actors are thin: one per workload queue running ``CommandProcessor`` (the one call into the
  pipeline), and one for ``invoicing.queries`` running ``QueryProcessor``. dramatiq acks after
  the actor and the middleware are done, i.e. after the commit or a confirmed copy.

Extra middleware (``INVOICING_WORKER_MIDDLEWARE``: ``module:factory`` names, comma-separated)
is appended after the policies; the tests add their fault injection this way.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import dramatiq
import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import structlog
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.middleware import Middleware
from invoicing.workers.amqp import connect
from invoicing.workers.delivery import Delivery, Kind, Outbound
from invoicing.workers.middleware import (
    AttemptCounter,
    CrashLoopGuard,
    DeadLettering,
    DelayedRetry,
    LogContext,
    Metrics,
    TransientRetry,
)
from invoicing.workers.scheduled import RetryStore
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import COMMANDS_EXCHANGE, QUERIES_QUEUE, WORKLOADS, declare
from sqlalchemy import Engine

log = structlog.get_logger("invoicing.worker")

#: queue name -> actor name
ACTORS: dict[str, str] = {queue: f"handle_{workload}" for workload, queue in WORKLOADS.items()}
ACTORS[QUERIES_QUEUE] = "handle_queries"

_CONNECTION_ERRORS = (
    AssertionError,  # pika asserts on a half-closed connection
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
)


def closed(exc: BaseException) -> dramatiq.ConnectionClosed:
    """dramatiq's signal to restart a consumer (its ``__init__`` is untyped)."""
    error: dramatiq.ConnectionClosed = dramatiq.ConnectionClosed(exc)  # type: ignore[no-untyped-call]
    return error


class AmqpMessage(MessageProxy):
    """A delivery as dramatiq's worker handles it; prints as its id, never its body."""

    def __init__(
        self, message: dramatiq.Message[Any], consumer: JsonConsumer, tag: int, redelivered: bool
    ) -> None:
        super().__init__(message)
        self.consumer = consumer
        self.tag = tag
        self.redelivered = redelivered

    def __str__(self) -> str:
        return f"{self.queue_name}/{str(self.message_id)[:80]}"

    def __repr__(self) -> str:
        return f"<AmqpMessage {self}>"


class JsonConsumer(Consumer):
    """One pika connection and channel consuming one queue."""

    def __init__(self, broker: AmqpBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.kind: Kind = "query" if queue_name == QUERIES_QUEUE else "command"
        self.actor_name = ACTORS[queue_name]
        self.known_tags: set[int] = set()
        #: acks and nacks of the worker threads, sent by the connection's thread in one go
        self._settles: list[Callable[[], Any]] = []
        self._settles_lock = threading.Lock()
        self._flush_scheduled = False
        try:
            self.connection = connect(broker.settings.amqp_url)
            self.channel = self.connection.channel()
            broker.ensure_topology(self.channel)
            self.channel.basic_qos(prefetch_count=prefetch)
            self.iterator = self.channel.consume(queue_name, inactivity_timeout=timeout / 1000)
        except _CONNECTION_ERRORS as exc:
            raise closed(exc) from None

    def __next__(self) -> AmqpMessage | None:
        try:
            method, properties, body = next(self.iterator)
        except _CONNECTION_ERRORS as exc:
            if getattr(exc, "reply_code", None) == 404:  # the queue went missing: re-declare
                self.broker.topology_lost()
            raise closed(exc) from None
        if method is None:
            return None
        transport = {
            "queue": self.queue_name,
            "exchange": method.exchange,
            "routing_key": method.routing_key,
            "redelivered": bool(method.redelivered),
            "message_id": properties.message_id,
            "correlation_id": properties.correlation_id,
            "reply_to": properties.reply_to,
            "user_id": properties.user_id,
            "app_id": properties.app_id,
            "content_type": properties.content_type,
            "headers": dict(properties.headers or {}),
            "received_at": time.time(),
        }
        if method.exchange == COMMANDS_EXCHANGE:
            # the routing table routes by routing key, the pipeline runs the body's type: they
            # must agree (the pipeline rejects a mismatch with a pointer to /type)
            transport["expected_type"] = method.routing_key
        stamp = properties.timestamp or time.time()
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=self.queue_name,
            actor_name=self.actor_name,
            args=(Delivery.of(bytes(body), transport, self.kind),),
            kwargs={},
            options={},
            message_id=str(properties.message_id or uuid.uuid4())[:255],
            message_timestamp=int(stamp * 1000) if stamp < 10**11 else int(stamp),
        )
        self.known_tags.add(method.delivery_tag)
        return AmqpMessage(message, self, method.delivery_tag, bool(method.redelivered))

    def _settle(self, message: MessageProxy, action: Callable[[int], Any], what: str) -> None:
        tag = message.tag if isinstance(message, AmqpMessage) else None
        if tag is None or message.consumer is not self or tag not in self.known_tags:
            # its channel is gone: RabbitMQ has requeued the delivery already
            log.warning("delivery.stale", action=what, message=str(message))
            return
        self.known_tags.discard(tag)
        # the threads of a group commit finish together: their acks share one wake-up of the
        # connection's thread (one callback sends every ack queued by then, in order)
        with self._settles_lock:
            self._settles.append(partial(action, tag))
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            self.connection.add_callback_threadsafe(self._flush_settles)
        except (*_CONNECTION_ERRORS, pika.exceptions.ConnectionWrongStateError) as exc:
            with self._settles_lock:  # the channel is gone: RabbitMQ requeues what is queued
                self._settles.clear()
                self._flush_scheduled = False
            log.warning("delivery.unsettled", action=what, message=str(message), error=str(exc))

    def _flush_settles(self) -> None:
        """On the connection's thread: send the acks and nacks queued so far."""
        with self._settles_lock:
            settles, self._settles = self._settles, []
            self._flush_scheduled = False
        for settle in settles:
            settle()

    def ack(self, message: MessageProxy) -> None:
        self._settle(message, self.channel.basic_ack, "ack")

    def nack(self, message: MessageProxy) -> None:
        # back to its queue (counted by the quorum queue's delivery limit)
        self._settle(message, self._requeue_one, "nack")

    def _requeue_one(self, tag: int) -> None:
        self.channel.basic_nack(tag, requeue=True)

    def requeue(self, messages: Any) -> None:
        """Closing the channel returns every unacked delivery to its queue."""

    def close(self) -> None:
        try:
            done = threading.Event()
            self.connection.add_callback_threadsafe(done.set)
            while not done.is_set():
                self.connection.sleep(0)
        except Exception:  # already closed or closing: nothing left to flush
            log.debug("consumer.close_without_flush", queue=self.queue_name)
        try:
            if self.channel.is_open:
                self.channel.close()
            if self.connection.is_open:
                self.connection.close()
        except _CONNECTION_ERRORS as exc:
            raise closed(exc) from None


class AmqpBroker(dramatiq.Broker):
    """The consuming side only: commands arrive as plain JSON from any AMQP client, and
    everything the worker publishes (events via the relay, retry copies, dead letters,
    replies) goes through confirmed pika publishers, not ``enqueue``."""

    def __init__(self, settings: PipelineSettings, middleware: list[Middleware]) -> None:
        super().__init__(middleware=middleware)
        self.settings = settings
        self.queues: dict[str, None] = {}
        self._topology = threading.Lock()
        self._declared = False

    def ensure_topology(self, channel: Any) -> None:
        with self._topology:
            if not self._declared:
                declare(channel, self.settings)
                self._declared = True

    def topology_lost(self) -> None:
        with self._topology:
            self._declared = False

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> JsonConsumer:
        return JsonConsumer(self, queue_name, prefetch, timeout)

    def declare_queue(self, queue_name: str) -> None:
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues[queue_name] = None
            self.emit_after("declare_queue", queue_name)

    def enqueue(
        self, message: dramatiq.Message[Any], *, delay: int | None = None
    ) -> dramatiq.Message[Any]:
        # dramatiq's envelope is never sent: this broker only consumes the documented wire format
        raise TypeError(
            "commands are published as plain JSON to invoicing.commands (docs/pipeline.md)"
        )


def extra_middleware(names: str) -> list[Middleware]:
    """``module:factory`` names (comma-separated) -> middleware instances."""
    out: list[Middleware] = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        module, _, attr = name.partition(":")
        if not attr:
            raise ValueError(f"worker middleware {name!r}: expected module:factory")
        made = getattr(importlib.import_module(module), attr)()
        if not isinstance(made, Middleware):
            raise TypeError(f"worker middleware {name!r} made {type(made).__name__}")
        out.append(made)
    return out


def policies(
    settings: PipelineSettings, engine: Engine, outbound: Outbound, stopping: threading.Event
) -> list[Middleware]:
    """The middleware chain, outermost first (docs/pipeline.md, "Middleware chain")."""
    transient = TransientRetry(settings, stopping)
    return [
        LogContext(),
        Metrics(),
        DeadLettering(outbound),
        DelayedRetry(
            settings, outbound, RetryStore(engine) if settings.retry_store == "database" else None
        ),
        CrashLoopGuard(settings, AttemptCounter(engine), transient),
        transient,
        *extra_middleware(settings.worker_middleware),
    ]


def make_broker(
    settings: PipelineSettings,
    engine: Engine,
    commands: Callable[[Delivery], Any],
    workloads: list[str],
    queries: Callable[[Delivery], Any] | None = None,
    *,
    outbound: Outbound,
    stopping: threading.Event,
) -> AmqpBroker:
    broker = AmqpBroker(settings, policies(settings, engine, outbound, stopping))

    def handle(delivery: Delivery) -> None:
        delivery.run(commands)

    for workload in workloads:
        queue = WORKLOADS[workload]
        dramatiq.actor(actor_name=ACTORS[queue], queue_name=queue, broker=broker)(handle)
    if queries is not None:
        answer_step = queries

        def answer(delivery: Delivery) -> None:
            delivery.run(answer_step)

        dramatiq.actor(actor_name=ACTORS[QUERIES_QUEUE], queue_name=QUERIES_QUEUE, broker=broker)(
            answer
        )
    return broker
