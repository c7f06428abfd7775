"""dramatiq on RabbitMQ, adapted to plain-JSON commands on quorum queues.

* ``PipelineBroker`` is a ``RabbitmqBroker`` with publisher confirms on. It declares the whole
  topology of ``invoicing.workers.topology`` (quorum queues with a delivery limit and a
  dead-letter exchange) instead of dramatiq's classic ``.DQ``/``.XQ`` queues, and has no delay
  queues: retries are re-published with confirms by the processor, never held in memory.
* ``RawJsonConsumer`` accepts the documented wire format -- a plain JSON command as the body --
  and hands it, with the AMQP properties, to the actor of its queue. External publishers never
  build dramatiq's envelope.
* A failed delivery is nacked *with requeue* (``Requeue``); dead-lettering is always explicit.
* The actors are thin: one per workload queue, each calls ``CommandProcessor.process``; dramatiq
  acks after the actor returned, i.e. after the commit. The ``invoicing.queries`` actor calls
  ``QueryProcessor.process`` (acked after the reply was confirmed).
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any

import dramatiq
import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import structlog
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer, _RabbitmqMessage
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import Middleware
from invoicing.workers.processor import CommandProcessor
from invoicing.workers.queries import QueryProcessor
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import QUERIES_QUEUE, WORKLOADS, declare

log = structlog.get_logger("invoicing.worker")

#: queue name -> actor name
ACTORS: dict[str, str] = {queue: f"handle_{workload}" for workload, queue in WORKLOADS.items()}
ACTORS[QUERIES_QUEUE] = "handle_queries"


class RawJsonConsumer(_RabbitmqConsumer):
    """Turns a plain JSON delivery into a dramatiq message for the queue's actor."""

    def __next__(self) -> Any:
        try:
            method, properties, body = next(self.iterator)
            if method is None:
                return None
        except (
            AssertionError,
            pika.exceptions.AMQPConnectionError,
            pika.exceptions.AMQPChannelError,
        ) as e:
            raise ConnectionClosed(e) from None  # type: ignore[no-untyped-call]
        headers = dict(properties.headers or {})
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
            "headers": headers,
            "received_at": time.time(),
        }
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=self.queue_name,
            actor_name=ACTORS[self.queue_name],
            args=(bytes(body), transport),
            kwargs={},
            options={},
            message_id=str(properties.message_id or uuid.uuid4()),
            message_timestamp=int((properties.timestamp or time.time()) * 1000)
            if (properties.timestamp or 0) < 10**11
            else int(properties.timestamp),
        )
        self.known_tags.add(method.delivery_tag)
        return _RabbitmqMessage(  # type: ignore[no-untyped-call]
            method.redelivered, method.delivery_tag, message
        )

    def _nack(self, tag: int) -> None:
        # back to the queue (counted by the quorum queue's delivery limit); dead-lettering is
        # always an explicit, confirmed publish by the processor, with the reason
        self.connection.add_callback_threadsafe(
            partial(self.channel.basic_nack, tag, requeue=True),
        )


class PipelineBroker(RabbitmqBroker):
    def __init__(self, settings: PipelineSettings, **kwargs: Any) -> None:
        super().__init__(url=settings.amqp_url, confirm_delivery=True, middleware=[], **kwargs)
        self.settings = settings
        self._declared = False

    @property
    def consumer_class(self) -> type[RawJsonConsumer]:
        return RawJsonConsumer

    def declare_queue(self, queue_name: str, *, ensure: bool = False) -> None:
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.queues_pending.add(queue_name)
            self.emit_after("declare_queue", queue_name)  # no delay queue: see module doc
        if ensure:
            self._ensure_queue(queue_name)  # type: ignore[no-untyped-call]

    def _declare_queue(self, queue_name: str) -> None:
        declare(self.channel, self.settings)

    def _declare_dq_queue(self, queue_name: str) -> None:
        return None

    def _declare_xq_queue(self, queue_name: str) -> None:
        return None


class RequeueOnFailure(Middleware):
    """An exception escaping an actor never acks: the delivery goes back to its queue."""

    def after_process_message(
        self,
        broker: Any,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None:
            log.warning(
                "delivery.requeued", reason=f"{type(exception).__name__}: {exception}"[:500]
            )
            message.fail()


def make_broker(
    settings: PipelineSettings,
    processor: CommandProcessor,
    workloads: list[str],
    queries: QueryProcessor | None = None,
) -> PipelineBroker:
    broker = PipelineBroker(settings)
    broker.add_middleware(RequeueOnFailure())

    def handle(body: bytes, transport: dict[str, Any]) -> None:
        processor.process(body, transport)

    for workload in workloads:
        queue = WORKLOADS[workload]
        dramatiq.actor(actor_name=ACTORS[queue], queue_name=queue, broker=broker)(handle)
    if queries is not None:

        def answer(body: bytes, transport: dict[str, Any]) -> None:
            queries.process(body, transport)

        dramatiq.actor(actor_name=ACTORS[QUERIES_QUEUE], queue_name=QUERIES_QUEUE, broker=broker)(
            answer
        )
    return broker
