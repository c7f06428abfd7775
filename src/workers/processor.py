"""One delivery of one command: the failure classes, independent of dramatiq.

``CommandProcessor.process`` returns normally when the delivery may be acked -- the outcome is
committed (applied, duplicate, rejected), or a copy was re-published with confirms (retry), or
the message was dead-lettered with confirms. It raises ``Requeue`` when the delivery must go
back to its queue unacked (shutdown in the middle of a retry, or the broker refused a copy).

Failure classes:

* transient infrastructure (database unreachable, deadlock, serialization failure, lock or
  statement timeout): retried in place with capped exponential backoff and jitter; after
  ``transient_hold_s`` a copy goes to the longest delay queue. Never a rejection, never dead.
* validation and business errors: the bus commits a ``command.rejected`` event; ack.
* undecodable (not JSON, not an object, no valid command/organization id): dead-lettered with
  the reason; nothing to address an event to.
* a command naming something that does not exist yet (``RetryLater``): re-published to the
  delay queues (capped backoff) until ``retry_missing_s`` after its first attempt, then rejected.
* an outside service that cannot be reached (``ServiceUnavailable``: the mail server down or
  answering 4xx): re-published to the delay queues (capped backoff) until
  ``retry_unavailable_s`` after its first attempt, then dead-lettered (an operator redrives it
  once the service is back). Never a rejection: the command itself is fine.
* crash loop: a redelivered message is counted in ``delivery_attempts`` (own transaction,
  committed before the business transaction); above ``max_crash_attempts`` starts it is
  dead-lettered. RabbitMQ's quorum ``x-delivery-limit`` is the backstop.
* unexpected handler exceptions (bugs): delayed retries, dead-lettered after ``max_failures``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Literal

import psycopg
import structlog
from invoicing.domain.errors import ServiceUnavailable
from invoicing.pipeline import Outcome, Pipeline, RetryLater
from invoicing.pipeline.decode import peek_identity
from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, PublishError
from invoicing.workers.faults import Faults
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import DELAY_EXCHANGE, DELAY_HEADER, DLX
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

log = structlog.get_logger("invoicing.worker")

Disposition = Literal["applied", "duplicate", "rejected", "retry", "dead"]

H_FIRST_SEEN = "x-invoicing-first-seen"
H_RETRIES = "x-invoicing-retries"
H_FAILURES = "x-invoicing-failures"
H_REASON = "x-invoicing-reason"
H_QUEUE = "x-invoicing-queue"
H_DEAD_AT = "x-invoicing-dead-lettered-at"  # epoch ms: tells two dead-letterings apart


class Requeue(Exception):
    """Give the delivery back to RabbitMQ unacked (nack with requeue)."""


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


def peek(body: bytes) -> dict[str, Any]:
    """Identity of a command for logs and headers; never raises, never recurses (any body,
    however deep, large or broken: ``invoicing.pipeline.decode.peek_identity``)."""
    return dict(peek_identity(body))


class AttemptCounter:
    """``delivery_attempts``: starts of redelivered messages, committed on their own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def bump(self, key: str) -> int:
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            if self.postgres:  # losing an increment in a database crash is harmless
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            value = conn.execute(
                text(
                    "INSERT INTO delivery_attempts (message_key, attempts, first_seen_at, "
                    "last_seen_at) VALUES (:k, 1, :now, :now) ON CONFLICT (message_key) DO "
                    "UPDATE SET attempts = delivery_attempts.attempts + 1, last_seen_at = :now "
                    "RETURNING attempts"
                ),
                {"k": key, "now": now},
            ).scalar_one()
        return int(value)

    def forget(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM delivery_attempts WHERE message_key = :k"), {"k": key})


class IsolationGate:
    """Crash attribution for a process that runs several messages at once.

    Ordinary messages run side by side (``shared``). A message whose redelivered starts passed
    the crash-loop limit runs alone in its process (``exclusive``): if the process dies then,
    that message is the cause for certain, and only then is it dead-lettered. Without this, a
    message that merely shared a worker with a crashing one (in flight when the process was
    killed) could be taken for the culprit.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._active:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class CommandProcessor:
    def __init__(
        self,
        bus: Pipeline,
        settings: PipelineSettings,
        *,
        publisher_factory: Callable[[], ConfirmingPublisher] | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.attempts = AttemptCounter(bus.engine)
        self.faults = Faults.parse(settings.faults)
        self.stopping = stopping or threading.Event()
        self._local = threading.local()
        self._gate = IsolationGate()
        self._publisher_factory = publisher_factory or (
            lambda: ConfirmingPublisher(
                settings.amqp_url, confirm_timeout_s=settings.relay_confirm_timeout_s
            )
        )
        self.delays = sorted(set(settings.retry_delays_s))

    # ------------------------------------------------------------------ entry

    def process(self, body: bytes, transport: dict[str, Any]) -> Disposition:
        ident = peek(body)
        structlog.contextvars.bind_contextvars(
            command_id=ident.get("command_id"),
            organization_id=ident.get("organization_id"),
            invoice_id=ident.get("invoice_id"),
            command_type=ident.get("type"),
            queue=transport.get("queue"),
            message_id=transport.get("message_id"),
        )
        try:
            return self._process(body, transport, ident)
        finally:
            structlog.contextvars.clear_contextvars()

    def _process(
        self, body: bytes, transport: dict[str, Any], ident: dict[str, Any]
    ) -> Disposition:
        try:
            return self._attempt(body, transport, ident)
        except _Delayed:
            return "retry"

    def _attempt(
        self, body: bytes, transport: dict[str, Any], ident: dict[str, Any]
    ) -> Disposition:
        headers: dict[str, Any] = transport.get("headers") or {}
        key = hashlib.sha256(body).hexdigest()
        counted = isolate = False
        # A message without command identity is dead-lettered as undecodable below; decoding
        # cannot crash a worker, so it takes no part in crash-loop accounting (it may have been
        # redelivered only because it sat in the prefetch of a worker another message killed).
        decodable = bool(ident.get("command_id") and ident.get("organization_id"))
        redelivered = transport.get("redelivered") or int(headers.get("x-delivery-count") or 0) > 0
        if decodable and redelivered:
            starts = self._with_transient_retry(
                lambda: self.attempts.bump(key), body=body, transport=transport
            )
            counted = True
            isolate = starts > self.settings.max_crash_attempts
            if starts > self.settings.max_crash_attempts + 1:  # it died running alone
                self._dead_letter(
                    body,
                    transport,
                    f"redelivered and restarted {starts} times, the last time alone in its "
                    "worker process: it crashes or stalls its worker (crash loop)",
                )
                self._forget(key)
                return "dead"
            if isolate:
                log.warning("command.isolated", starts=starts)
        with self._gate.exclusive() if counted and isolate else self._gate.shared():
            return self._run(body, transport, ident, headers, key, counted)

    def _run(
        self,
        body: bytes,
        transport: dict[str, Any],
        ident: dict[str, Any],
        headers: dict[str, Any],
        key: str,
        counted: bool,
    ) -> Disposition:
        command_id = ident.get("command_id")
        first_seen = int(headers.get(H_FIRST_SEEN) or time.time() * 1000)  # epoch ms
        retry_missing = time.time() - first_seen / 1000 < self.settings.retry_missing_s
        try:
            self.faults.before(command_id)
            outcome: Outcome = self._with_transient_retry(
                lambda: self.bus.handle_raw(body, transport, retry_missing=retry_missing),
                body=body,
                transport=transport,
            )
        except RetryLater as exc:
            delay = self._retry_later(body, transport, headers, first_seen)
            log.info("command.retry_later", reason=str(exc), delay_s=delay)
            if counted:
                self._forget(key)
            return "retry"
        except (Requeue, _Delayed):
            raise
        except ServiceUnavailable as exc:
            if counted:
                self._forget(key)
            waited = time.time() - first_seen / 1000
            if waited >= self.settings.retry_unavailable_s:
                self._dead_letter(
                    body,
                    transport,
                    f"an outside service stayed unavailable for {waited:.0f} s: {exc}",
                )
                return "dead"
            delay = self._retry_later(body, transport, headers, first_seen)
            log.warning("command.service_unavailable", reason=str(exc)[:500], delay_s=delay)
            return "retry"
        except Exception as exc:  # a bug in a handler: bounded delayed retries, then dead
            failures = int(headers.get(H_FAILURES) or 0) + 1
            reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            if counted:
                self._forget(key)
            if failures >= self.settings.max_failures:
                log.error("command.failed", failures=failures, exc_info=True)
                self._dead_letter(body, transport, f"handler failed {failures} times: {reason}")
                return "dead"
            log.warning("command.failed_retry", failures=failures, reason=reason, exc_info=True)
            delay = self.delays[min(failures - 1, len(self.delays) - 1)]
            self._republish(
                body, transport, delay, {H_FAILURES: failures, H_FIRST_SEEN: first_seen}
            )
            return "retry"
        if counted:
            self._forget(key)
        if outcome.dead_letter_reason is not None:
            self._dead_letter(body, transport, outcome.dead_letter_reason)
            return "dead"
        self.faults.after_commit(command_id)
        return outcome.status

    # ------------------------------------------------------------------ helpers

    def _retry_later(
        self, body: bytes, transport: dict[str, Any], headers: dict[str, Any], first_seen: int
    ) -> int:
        """A confirmed copy to the next delay queue (capped backoff by the copy's retry count,
        the first attempt's time kept); returns the delay in seconds."""
        retries = int(headers.get(H_RETRIES) or 0)
        delay = self.delays[min(retries, len(self.delays) - 1)]
        self._republish(body, transport, delay, {H_RETRIES: retries + 1, H_FIRST_SEEN: first_seen})
        return delay

    def _forget(self, key: str) -> None:
        try:
            self.attempts.forget(key)
        except Exception:  # the row only matters for redeliveries; a leftover is harmless
            log.warning("attempts.forget_failed", exc_info=True)

    def _with_transient_retry(
        self,
        fn: Callable[[], Any],
        *,
        body: bytes | None = None,
        transport: dict[str, Any] | None = None,
    ) -> Any:
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                held = time.monotonic() - started
                if self.stopping.is_set():
                    log.warning("command.transient_requeue_on_shutdown", error=str(exc)[:300])
                    raise Requeue("shutting down during a transient failure") from exc
                if held >= self.settings.transient_hold_s and body is not None and transport:
                    delay = self.delays[-1]
                    log.warning("command.transient_delayed", held_s=round(held, 1), delay_s=delay)
                    self._republish(body, transport, delay, {})
                    raise _Delayed() from exc
                pause = min(
                    self.settings.transient_backoff_max_s,
                    self.settings.transient_backoff_base_s * 2 ** min(attempt - 1, 20),
                ) * random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not cryptography)
                log.warning(
                    "command.transient_error",
                    attempt=attempt,
                    retry_in_s=round(pause, 2),
                    error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                )
                if self.stopping.wait(pause):
                    raise Requeue("shutting down during a transient failure") from exc

    @property
    def publisher(self) -> ConfirmingPublisher:
        pub: ConfirmingPublisher | None = getattr(self._local, "publisher", None)
        if pub is None:
            pub = self._local.publisher = self._publisher_factory()
        return pub

    def _publish(self, msg: Outgoing) -> None:
        for attempt in range(5):
            try:
                self.publisher.publish(msg)
                return
            except PublishError as exc:
                log.warning("publish.retry", attempt=attempt + 1, error=str(exc))
                if self.stopping.wait(min(0.5 * 2**attempt, 5.0)):
                    break
        raise Requeue(f"could not publish to {msg.exchange}")

    def _properties(self, transport: dict[str, Any], headers: dict[str, Any]) -> Any:
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

    def _republish(
        self, body: bytes, transport: dict[str, Any], delay_s: int, headers: dict[str, Any]
    ) -> None:
        headers = {**headers, DELAY_HEADER: delay_s}
        queue = str(transport.get("queue"))
        self._publish(Outgoing(DELAY_EXCHANGE, queue, body, self._properties(transport, headers)))

    def _dead_letter(self, body: bytes, transport: dict[str, Any], reason: str) -> None:
        log.error("command.dead_lettered", reason=reason[:2000])
        queue = str(transport.get("queue"))
        props = self._properties(
            transport,
            {H_REASON: reason[:4000], H_QUEUE: queue, H_DEAD_AT: int(time.time() * 1000)},
        )
        self._publish(Outgoing(DLX, queue, body, props))


class _Delayed(Exception):
    """Internal: the transient hold ran out and a delayed copy was published."""
