"""Request/reply queries on ``invoicing.queries``: a thin consumer around the pipeline.

A requester publishes a query document (src/schemas/queries.py) to the default exchange with
routing key ``invoicing.queries`` and the AMQP properties ``reply_to`` and ``correlation_id``.
``QueryProcessor.process`` hands the body to ``Pipeline.query_raw`` (which decodes,
authenticates with scope ``invoices:read``, validates and runs the read in one read-only
transaction), publishes the ``QueryReply`` to ``reply_to`` on the default exchange with the
same ``correlation_id`` (confirmed, mandatory), and returns so the delivery is acked.

* Queries never write: the engine used here is switched to read-only transactions on
  PostgreSQL (``postgresql_readonly``; the pipeline also opens each read ``READ ONLY``), and
  the crash-loop counter of commands (a write) is not used -- the queue's quorum
  ``x-delivery-limit`` bounds a query that kills its worker.
* Transient database errors are retried like commands (in place with capped backoff, then a
  delayed copy through the delay queues; requeued on shutdown).
* A query without ``reply_to`` has nobody to answer: it is dead-lettered with the reason.
* A reply nobody can receive any more (the requester's reply queue is gone: the publish is
  returned as unroutable) is logged and dropped; the query is acked.
* An unexpected exception (a bug) answers ``status: error`` with code ``internal_error``.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from typing import Any, Literal

import structlog
from invoicing.pipeline import Pipeline
from invoicing.pipeline.decode import peek_identity
from invoicing.schemas.queries import QueryReply
from invoicing.workers.amqp import Outgoing, PublishError, Unroutable
from invoicing.workers.processor import CommandProcessor, Requeue, _Delayed

log = structlog.get_logger("invoicing.worker")

QueryDisposition = Literal["answered", "unanswered", "dead", "retry"]

REPLY_CONTENT_TYPE = "application/json"


def internal_error_reply(ident: dict[str, str], detail: str) -> dict[str, Any]:
    return QueryReply.model_validate(
        {
            "type": ident.get("type", ""),
            "status": "error",
            "query_id": ident.get("query_id"),
            "correlation_id": ident.get("correlation_id"),
            "organization_id": ident.get("organization_id"),
            "errors": [
                {
                    "status": "500",
                    "code": "internal_error",
                    "title": "Internal Error",
                    "detail": detail,
                    "source": {"pointer": "/type"},
                }
            ],
        }
    ).model_dump(mode="json")


class QueryProcessor:
    def __init__(
        self,
        commands: CommandProcessor,
        pipeline: Pipeline,
        *,
        publish_attempts: int = 5,
    ) -> None:
        # the command processor lends its confirmed publisher (one per thread), its transient
        # retry policy and its dead-lettering; the bus and its write paths are never used
        self.commands = commands
        self.pipeline = pipeline
        self.publish_attempts = publish_attempts

    def process(self, body: bytes, transport: dict[str, Any]) -> QueryDisposition:
        ident = peek_identity(body)
        structlog.contextvars.bind_contextvars(
            query_type=ident.get("type"),
            organization_id=ident.get("organization_id"),
            query_id=ident.get("query_id"),
            correlation_id=transport.get("correlation_id"),
            queue=transport.get("queue"),
            message_id=transport.get("message_id"),
        )
        try:
            return self._process(ident, body, transport)
        finally:
            structlog.contextvars.clear_contextvars()

    def _process(
        self, ident: dict[str, str], body: bytes, transport: dict[str, Any]
    ) -> QueryDisposition:
        reply_to = transport.get("reply_to")
        if not reply_to:
            self.commands._dead_letter(
                body, transport, "query without reply_to: there is nobody to send the answer to"
            )
            return "dead"
        started = time.perf_counter()
        try:
            reply: dict[str, Any] = self.commands._with_transient_retry(
                lambda: self.pipeline.query_raw(body, transport),
                body=body,
                transport=transport,
            )
        except _Delayed:
            return "retry"
        except Requeue:
            raise
        except Exception as exc:  # a bug: answer it, the requester should not wait for nothing
            reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            log.error("query.failed", reason=reason[:500], exc_info=True)
            reply = internal_error_reply(ident, "the query failed inside the service")
        answered = self._reply(str(reply_to), transport, reply)
        log.info(
            "query.answered" if answered else "query.reply_unroutable",
            status=reply.get("status"),
            reply_to=reply_to,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return "answered" if answered else "unanswered"

    def _reply(self, reply_to: str, transport: dict[str, Any], reply: dict[str, Any]) -> bool:
        import pika  # type: ignore[import-untyped]

        message = Outgoing(
            "",  # the default exchange: routing key = the reply queue
            reply_to,
            json.dumps(reply, ensure_ascii=False).encode(),
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
        for attempt in range(self.publish_attempts):
            try:
                self.commands.publisher.publish(message)
                return True
            except Unroutable:
                return False  # the reply queue is gone: the requester stopped waiting
            except PublishError as exc:
                log.warning("query.reply_retry", attempt=attempt + 1, error=str(exc))
                if self.commands.stopping.wait(min(0.5 * 2**attempt, 5.0)):
                    break
        raise Requeue(f"could not publish the reply to {reply_to}")
