"""One AMQP delivery as the worker's middleware sees it, and the confirmed re-publishes.

A ``Delivery`` is the single argument of every actor. It carries the body and the transport
(exchange, routing key, properties) and collects what the policies decide: the actor records
its result or its exception on it (it never raises into dramatiq, whose own log lines print a
message's arguments), and each policy middleware reads and settles that state. Its ``repr``
names the delivery, never its body.

``Outbound`` publishes the copies the policies make -- a retry copy to a delay queue, a dead
letter with its reason -- with publisher confirms, one channel per thread, retried with the
shared backoff; the delivery is acked only after the copy was confirmed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
import structlog
from invoicing.pipeline.decode import (
    Decoded,
    Limits,
    Undecodable,
    decode,
    identity_of,
    peek_identity,
)
from invoicing.schemas.common import storable
from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, PublishError
from invoicing.workers.backoff import Backoff
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import DELAY_EXCHANGE, DELAY_HEADER, DLX
from sqlalchemy import exc as sa_exc

log = structlog.get_logger("invoicing.worker")

H_FIRST_SEEN = "x-invoicing-first-seen"
H_RETRIES = "x-invoicing-retries"
H_FAILURES = "x-invoicing-failures"
H_REASON = "x-invoicing-reason"
H_QUEUE = "x-invoicing-queue"
H_DEAD_AT = "x-invoicing-dead-lettered-at"  # epoch ms: tells two dead-letterings apart

#: identity values longer than this are cut (they end up in log lines and metric labels)
PEEK_MAX_CHARS = 200
_PEEKED = ("command_id", "organization_id", "type", "query_id", "invoice_id")

Kind = Literal["command", "query"]
DeadKind = Literal[
    "undecodable", "crash_loop", "handler_failed", "service_unavailable", "no_reply_to"
]


class Requeue(Exception):
    """Give the delivery back to RabbitMQ unacked (nack with requeue)."""


class Poison(Exception):
    """Dead-letter this delivery at once, with the reason: retrying cannot help."""

    def __init__(self, kind: DeadKind, reason: str) -> None:
        super().__init__(reason)
        self.kind: DeadKind = kind
        self.reason = reason


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble that a later attempt can get past."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.TimeoutError
        | psycopg.OperationalError
        | psycopg.InterfaceError,
    ):
        return True
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError)


def is_undecodable(exc: BaseException) -> bool:
    """The body itself cannot be taken apart (nested too deep for the decoder, or too big to
    hold): the same on every attempt, so it is dead-lettered the first time."""
    return isinstance(exc, RecursionError | MemoryError)


def error_text(exc: BaseException, limit: int = 500) -> str:
    """``Type: first line of the message``, cut: database errors carry the statement's
    parameters (and so payloads) on later lines, which never reach a log line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:limit]


def peek(body: bytes) -> dict[str, str]:
    """Identity of a command or query for logs, headers and labels. Never raises and never
    recurses: any body, deep, huge, binary or not JSON, gives at worst ``{}``
    (``peek_identity`` checks size and depth before it decodes, and reads the ids of a body it
    cannot decode from its first MiB without decoding it)."""
    try:
        found = peek_identity(body, max_bytes=1024 * 1024)
    except Exception:  # this function's own guarantee, whatever the reader does
        return {}
    return {k: v[:PEEK_MAX_CHARS] for k, v in found.items() if k in _PEEKED}


#: what a body may be for its identity to be read by decoding it whole
_PEEK_LIMITS = Limits(max_bytes=1024 * 1024)


def read(body: bytes) -> tuple[dict[str, str], Decoded | None]:
    """``peek(body)``, and the decoded body when it could be decoded (the pipeline takes it
    instead of decoding the body again). Never raises."""
    try:
        doc = decode(body, _PEEK_LIMITS)
        found = identity_of(doc)
    except Undecodable:
        return peek(body), None
    except Exception:  # peek's guarantee, whatever the decoder does
        return {}, None
    ident = {k: v[:PEEK_MAX_CHARS] for k, v in found.items() if k in _PEEKED}
    return ident, Decoded(body, doc)


@dataclass(eq=False, repr=False)
class Delivery:
    """One delivery and the policies' state; the only argument of an actor."""

    body: bytes
    transport: dict[str, Any]
    kind: Kind = "command"
    #: ``peek(body)``, read on first use (in a worker thread, not in the consumer thread that
    #: keeps the connection's heartbeats)
    _ident: dict[str, str] | None = None
    #: the decoded body, read with the identity (None: not read yet, or not decodable)
    _decoded: Decoded | None = None
    #: set by the delayed-retry policy before the actor runs
    retry_missing: bool = True
    first_seen_ms: int = 0
    #: what the actor did last (a re-run by the transient policy replaces it)
    result: Any = None
    error: BaseException | None = None
    #: decisions of the policies
    dead: tuple[DeadKind, str] | None = None
    delay_after_hold: bool = False
    requeue: str | None = None
    outcome: str | None = None
    transient_retries: int = 0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def of(cls, body: bytes, transport: dict[str, Any], kind: Kind = "command") -> Delivery:
        return cls(body=body, transport=transport, kind=kind)

    @property
    def ident(self) -> dict[str, str]:
        if self._ident is None:
            self._ident, self._decoded = read(self.body)
        return self._ident

    def decoded(self) -> Decoded | None:
        """The body decoded (once, with its identity); None when it cannot be decoded."""
        if self._ident is None:
            self._ident, self._decoded = read(self.body)
        return self._decoded

    @property
    def headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = self.transport.get("headers") or {}
        return headers

    @property
    def queue(self) -> str:
        return str(self.transport.get("queue"))

    @property
    def type(self) -> str | None:
        return self.ident.get("type")

    def run(self, step: Callable[[Delivery], Any]) -> None:
        """Run the actor's step, recording its result or its exception (never raising)."""
        self.result, self.error = None, None
        try:
            self.result = step(self)
        except Exception as exc:
            self.error = exc

    def record(self, *, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error

    def log_context(self) -> dict[str, Any]:
        if self.kind == "query":
            return {
                "query_type": self.ident.get("type"),
                "organization_id": self.ident.get("organization_id"),
                "query_id": self.ident.get("query_id"),
                "correlation_id": self.transport.get("correlation_id"),
                "queue": self.transport.get("queue"),
                "message_id": self.transport.get("message_id"),
            }
        return {
            "command_id": self.ident.get("command_id"),
            "organization_id": self.ident.get("organization_id"),
            "invoice_id": self.ident.get("invoice_id"),
            "command_type": self.ident.get("type"),
            "queue": self.transport.get("queue"),
            "message_id": self.transport.get("message_id"),
        }

    def __repr__(self) -> str:
        return (
            f"<Delivery {self.kind} queue={self.transport.get('queue')!s} "
            f"message_id={str(self.transport.get('message_id'))[:80]} {len(self.body)} bytes>"
        )

    __str__ = __repr__


class Outbound:
    """Confirmed publishes of retry copies and dead letters (one channel per thread)."""

    def __init__(
        self,
        settings: PipelineSettings,
        *,
        stopping: threading.Event,
        publisher_factory: Callable[[], ConfirmingPublisher] | None = None,
        attempts: int = 5,
    ) -> None:
        self.settings = settings
        self.stopping = stopping
        self.attempts = attempts
        self._local = threading.local()
        self._factory = publisher_factory or (
            lambda: ConfirmingPublisher(
                settings.amqp_url, confirm_timeout_s=settings.relay_confirm_timeout_s
            )
        )

    @property
    def publisher(self) -> ConfirmingPublisher:
        pub: ConfirmingPublisher | None = getattr(self._local, "publisher", None)
        if pub is None:
            pub = self._local.publisher = self._factory()
        return pub

    def backoff(self) -> Backoff:
        return Backoff(
            self.settings.transient_backoff_base_s, self.settings.transient_backoff_max_s
        )

    def publish(self, msg: Outgoing, *, give_up_on: tuple[type[Exception], ...] = ()) -> None:
        """Publish with confirms, retried with the shared backoff; ``Requeue`` when it was
        never confirmed. Errors in ``give_up_on`` propagate at once (e.g. ``Unroutable``)."""
        backoff = self.backoff()
        for attempt in range(1, self.attempts + 1):
            try:
                self.publisher.publish(msg)
                return
            except PublishError as exc:
                if isinstance(exc, give_up_on):
                    raise
                log.warning("publish.retry", attempt=attempt, error=error_text(exc, 300))
                if attempt == self.attempts or backoff.wait(self.stopping):
                    break
        raise Requeue(f"could not publish to {msg.exchange or 'the default exchange'}")

    @staticmethod
    def properties(transport: dict[str, Any], headers: dict[str, Any]) -> Any:
        import pika  # type: ignore[import-untyped]

        merged = dict(transport.get("headers") or {})
        merged.pop("x-delivery-count", None)
        merged.pop("x-death", None)
        merged.update(headers)
        return pika.BasicProperties(
            delivery_mode=2,
            content_type=transport.get("content_type") or "application/json",
            message_id=transport.get("message_id"),
            correlation_id=transport.get("correlation_id"),
            reply_to=transport.get("reply_to"),
            app_id=transport.get("app_id"),
            headers=merged,
        )

    def delayed_copy(self, delivery: Delivery, delay_s: int, headers: dict[str, Any]) -> None:
        """A copy to the delay queue of ``delay_s``; TTL-dead-lettered back to its queue."""
        headers = {**headers, DELAY_HEADER: delay_s}
        self.publish(
            Outgoing(
                DELAY_EXCHANGE,
                delivery.queue,
                delivery.body,
                self.properties(delivery.transport, headers),
            )
        )

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        props = self.dead_letter_properties(delivery, reason)
        self.publish(Outgoing(DLX, delivery.queue, delivery.body, props))

    @classmethod
    def dead_letter_properties(cls, delivery: Delivery, reason: str) -> Any:
        """The dead letter's properties: its reason written storably (``storable``), since a
        reason may quote an exception's text, which may quote the input, and a lone surrogate
        cannot be encoded for the broker (nor a NUL stored by the archive)."""
        headers = {H_REASON: storable(reason)[:4000], H_QUEUE: delivery.queue}
        return cls.properties(delivery.transport, {**headers, H_DEAD_AT: int(time.time() * 1000)})
