"""Request/reply queries on ``invoicing.queries``: a thin consumer around the pipeline.

A requester publishes a query document (src/schemas/queries.py) to the default exchange with
routing key ``invoicing.queries`` and the AMQP properties ``reply_to`` and ``correlation_id``.
``QueryProcessor`` (the query actor's step) hands the body to ``Pipeline.query_raw`` (which
decodes, authenticates with scope ``invoices:read``, validates and runs the read in one
read-only transaction), publishes the
``QueryReply`` to ``reply_to`` on the default exchange with the same ``correlation_id``
(confirmed, mandatory), and returns so the delivery is acked.

* Queries never write: the engine used here is switched to read-only transactions on
  PostgreSQL (``postgresql_readonly``; the pipeline also opens each read ``READ ONLY``), and
  the crash-loop counter of commands (a write) is not used -- the queue's quorum
  ``x-delivery-limit`` bounds a query that kills its worker.
* Transient database errors are retried like commands, by the same middleware (in place with
  the shared backoff, then a delayed copy through the delay queues; requeued on shutdown).
* A query without ``reply_to`` has nobody to answer: it is dead-lettered with the reason
  (``Poison``, settled by the dead-lettering middleware).
* A reply nobody can receive any more (the requester's reply queue is gone: the publish is
  returned as unroutable) is logged and dropped; the query is acked.
* An unexpected exception (a bug) answers ``status: error`` with code ``internal_error``.
"""

from __future__ import annotations

import time
import traceback
import uuid
from typing import Any, Literal

import structlog
from invoicing.pipeline import Pipeline
from invoicing.pipeline.decode import peek_identity
from invoicing.pipeline.envelope import Reply
from invoicing.pipeline.errors import error
from invoicing.workers.amqp import Outgoing, Unroutable
from invoicing.workers.delivery import Delivery, Outbound, Poison, error_text, is_transient

log = structlog.get_logger("invoicing.worker")

QueryDisposition = Literal["answered", "unanswered"]

REPLY_CONTENT_TYPE = "application/json"


def internal_error_reply(ident: dict[str, str], detail: str) -> Reply:
    return Reply.to(
        ident,
        errors=[error("500", "internal_error", "Internal Error", detail, "/type")],
    )


class QueryProcessor:
    """The query actor's step; transient retries, delayed copies and dead letters are the
    worker's middleware (src/workers/middleware.py), as for commands."""

    def __init__(self, outbound: Outbound, pipeline: Pipeline) -> None:
        self.outbound = outbound
        self.pipeline = pipeline

    def __call__(self, delivery: Delivery) -> QueryDisposition:
        transport = delivery.transport
        reply_to = transport.get("reply_to")
        if not reply_to:
            raise Poison(
                "no_reply_to", "query without reply_to: there is nobody to send the answer to"
            )
        started = time.perf_counter()
        try:
            reply = self.pipeline.answer_raw(delivery.body, transport)
        except Exception as exc:
            if is_transient(exc):
                raise  # the transient policy retries the whole query
            # a bug: answer it, the requester should not wait for nothing
            log.error(
                "query.failed",
                reason=error_text(exc),
                stack="".join(traceback.format_tb(exc.__traceback__))[-4000:],
            )
            ident = peek_identity(delivery.body)
            reply = internal_error_reply(ident, "the query failed inside the service")
        answered = self._reply(str(reply_to), transport, reply)
        log.info(
            "query.answered" if answered else "query.reply_unroutable",
            status=reply.status,
            reply_to=reply_to,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return "answered" if answered else "unanswered"

    def _reply(self, reply_to: str, transport: dict[str, Any], reply: Reply) -> bool:
        import pika  # type: ignore[import-untyped]

        message = Outgoing(
            "",  # the default exchange: routing key = the reply queue
            reply_to,
            reply.as_json(),
            pika.BasicProperties(
                content_type=REPLY_CONTENT_TYPE,
                correlation_id=transport.get("correlation_id"),
                message_id=str(uuid.uuid4()),
                delivery_mode=1,  # a reply is only worth something while its requester waits
                app_id="invoicing",
                type="query_reply",
            ),
            mandatory=True,
        )
        try:
            self.outbound.publish(message, give_up_on=(Unroutable,))  # Requeue if never confirmed
        except Unroutable:
            return False  # the reply queue is gone: the requester stopped waiting
        return True
