"""The worker's failure policies: one dramatiq middleware each.

The chain, in the broker's order (``before_*`` hooks run top to bottom, ``after_*`` hooks
bottom to top)::

    LogContext       binds the delivery's identity (never its body) to every log line
    Metrics          counts every outcome and times every delivery
    DeadLettering    dead-letters, explicitly and confirmed, with ``x-invoicing-reason``
    DelayedRetry     confirmed copies to the delay queues (not there yet, service down, bug)
    CrashLoopGuard   counts redelivered starts; isolates, then dead-letters a crash loop
    TransientRetry   retries transient infrastructure errors in place, shared backoff

The actor records its result or its exception on the ``Delivery`` (it never raises into
dramatiq); every ``after_*`` hook settles that state for its own class of outcome, and the
message is acked unless a policy asked for a requeue (``message.fail()``: nack with requeue).
dramatiq swallows exceptions escaping a middleware hook (and would then ack), so each hook
here turns its own failure into a requeue: nothing is acked unless its outcome is committed
or a confirmed copy exists.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
import time
import traceback
from typing import Any

import structlog
from dramatiq import Broker, MessageProxy, Middleware
from dramatiq.middleware import SkipMessage
from invoicing import db
from invoicing.domain.errors import ServiceUnavailable
from invoicing.pipeline import Outcome, RetryLater
from invoicing.workers import metrics
from invoicing.workers.backoff import Backoff
from invoicing.workers.delivery import (
    H_FAILURES,
    H_FIRST_SEEN,
    H_RETRIES,
    Delivery,
    Outbound,
    Poison,
    Requeue,
    error_text,
    is_transient,
    is_undecodable,
)
from invoicing.workers.scheduled import RetryStore
from invoicing.workers.settings import PipelineSettings
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("invoicing.worker")


def delivery_of(message: MessageProxy) -> Delivery | None:
    args = message.args
    return args[0] if args and isinstance(args[0], Delivery) else None


def requeue(message: MessageProxy, delivery: Delivery, why: str) -> None:
    """Nack with requeue: the delivery goes back to its queue."""
    log.warning("delivery.requeued", reason=why[:300])
    delivery.requeue = why
    message.fail()


class Policy(Middleware):
    """A middleware whose own failures requeue the delivery instead of acking it."""

    def before(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        """May raise ``SkipMessage`` (the actor does not run; ``settle`` still does)."""

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        """Act on the delivery's state after the actor ran (or was skipped)."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        delivery = delivery_of(message)
        if delivery is None:
            return
        try:
            self.before(broker, message, delivery)
        except SkipMessage:
            raise
        except Exception as exc:
            log.error("worker.policy_failed", policy=type(self).__name__, error=error_text(exc))
            requeue(message, delivery, f"{type(self).__name__} failed")
            raise SkipMessage() from exc

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._settle(broker, message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._settle(broker, message)

    def _settle(self, broker: Broker, message: MessageProxy) -> None:
        delivery = delivery_of(message)
        if delivery is None:
            return
        try:
            self.settle(broker, message, delivery)
        except Exception as exc:
            log.error("worker.policy_failed", policy=type(self).__name__, error=error_text(exc))
            requeue(message, delivery, f"{type(self).__name__} failed")


# --------------------------------------------------------------------------- log context


class LogContext(Policy):
    """Every log line written while a delivery is handled (by the pipeline, the handlers and
    the policies) carries its identity: command id, organization, invoice, type, queue and
    message id -- never its body."""

    def before(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**delivery.log_context())

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        structlog.contextvars.clear_contextvars()


# --------------------------------------------------------------------------- metrics


class Metrics(Policy):
    """Metrics hook: ``invoicing_commands_total``, ``invoicing_command_duration_seconds`` and
    ``invoicing_dead_letters_total`` (src/workers/metrics.py), once per delivery."""

    def before(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        delivery.started = time.perf_counter()

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        label = metrics.type_label(delivery.type)
        outcome = self.outcome(delivery)
        metrics.COMMANDS.labels(label, outcome).inc()
        metrics.COMMAND_DURATION.labels(label).observe(time.perf_counter() - delivery.started)
        if outcome == "dead" and delivery.dead is not None:
            metrics.DEAD_LETTERS.labels(delivery.dead[0]).inc()

    @staticmethod
    def outcome(delivery: Delivery) -> str:
        """requeued | dead | retry (a policy's decision), else what the actor returned:
        applied | duplicate | rejected (commands), answered | unanswered (queries)."""
        if delivery.requeue is not None:
            return "requeued"
        if delivery.outcome is not None:
            return delivery.outcome
        if isinstance(delivery.result, Outcome):
            return delivery.result.status
        if isinstance(delivery.result, str):
            return delivery.result
        return "unknown"


# --------------------------------------------------------------------------- dead-lettering


class DeadLettering(Policy):
    """Dead-letters what cannot succeed, the first time: an undecodable body (not JSON, not
    an object, no command identity, nested too deep), a ``Poison`` error, and whatever another
    policy gave up on (crash loop, handler failing ``MAX_FAILURES`` times, a service down for
    ``RETRY_UNAVAILABLE_S``). Published to ``invoicing.dlx`` with ``x-invoicing-reason``,
    confirmed, then acked; a copy that is not confirmed requeues the delivery."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        if delivery.requeue is not None:
            return
        if delivery.dead is None:
            delivery.dead = self.poison(delivery)
        if delivery.dead is None:
            return
        kind, reason = delivery.dead
        try:
            self.outbound.dead_letter(delivery, reason)
        except Requeue as exc:
            requeue(message, delivery, str(exc))
            return
        log.error("command.dead_lettered", kind=kind, reason=reason[:2000])
        delivery.outcome = "dead"

    @staticmethod
    def poison(delivery: Delivery) -> tuple[Any, str] | None:
        """Why this delivery can never succeed (kind, reason), or None."""
        exc = delivery.error
        if isinstance(exc, Poison):
            return exc.kind, exc.reason
        if exc is not None and is_undecodable(exc):
            return "undecodable", f"undecodable: {error_text(exc, 300)}"
        result = delivery.result
        if isinstance(result, Outcome) and result.dead_letter_reason is not None:
            # rejected with nothing committed: no organization to address an event to
            return "undecodable", result.dead_letter_reason[:4000]
        return None


# --------------------------------------------------------------------------- delayed retry


#: the largest retry or failure count read back from a copy's headers (far above any setting)
MAX_HEADER_COUNT = 1_000_000
#: how far another worker's clock may run ahead of this one's: a first-seen time up to this
#: far in the future is taken as written (the copy came from that worker), beyond it as absent
CLOCK_SKEW_MS = 5 * 60 * 1000


class DelayedRetry(Policy):
    """Re-publishes a confirmed copy to the delay queues (``invoicing.retry.{N}s``: TTL, then
    dead-lettered back to the delivery's own queue) and acks the original -- nothing is held
    unacked for a delay. The copy keeps the first attempt's time (``x-invoicing-first-seen``)
    and counts its retries and failures in headers:

    * ``RetryLater`` (the command names something that does not exist yet): next delay queue,
      until ``RETRY_MISSING_S`` after the first attempt; then the pipeline rejects it.
    * ``ServiceUnavailable`` (the mail server down): the same, until ``RETRY_UNAVAILABLE_S``;
      then dead-lettered (an operator redrives it once the service is back).
    * a transient error that outlasted ``TRANSIENT_HOLD_S`` in place: the longest delay queue.
    * any other exception (a handler bug): the next delay queue, dead-lettered at
      ``MAX_FAILURES``.
    """

    def __init__(
        self, settings: PipelineSettings, outbound: Outbound, store: RetryStore | None = None
    ) -> None:
        self.settings = settings
        self.outbound = outbound
        #: ``INVOICING_RETRY_STORE=database``: copies wait in ``scheduled_commands`` instead of
        #: the delay queues (src/workers/scheduled.py; they survive a broker node loss)
        self.store = store
        self.delays = sorted(set(settings.retry_delays_s))

    def before(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        now_ms = int(time.time() * 1000)
        try:
            first_seen = int(delivery.headers.get(H_FIRST_SEEN) or now_ms)
        except (TypeError, ValueError, OverflowError):
            first_seen = now_ms
        if not 0 < first_seen <= now_ms + CLOCK_SKEW_MS:  # a publisher's own value, not when
            first_seen = now_ms  # it was first seen: one to come would retry it forever
        delivery.first_seen_ms = first_seen
        delivery.retry_missing = (now_ms - first_seen) / 1000 < self.settings.retry_missing_s

    def _count(self, delivery: Delivery, header: str) -> int:
        """A count this policy wrote into an earlier copy; anything else (a publisher's own
        value: a string, a number beyond what a header carries back) counts as none."""
        try:
            count = int(delivery.headers.get(header) or 0)
        except (TypeError, ValueError, OverflowError):
            return 0
        return count if 0 <= count <= MAX_HEADER_COUNT else 0

    def _copy(self, delivery: Delivery, delay_s: int, headers: dict[str, Any]) -> None:
        headers = {**headers, H_FIRST_SEEN: delivery.first_seen_ms}
        if self.store is None:
            self.outbound.delayed_copy(delivery, delay_s, headers)
        else:
            try:
                self.store.schedule(delivery, delay_s, headers)
            except SQLAlchemyError as exc:  # not stored: the original goes back unacked
                raise Requeue(f"could not store the delayed retry: {error_text(exc, 200)}") from exc
        delivery.outcome = "retry"

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        if delivery.requeue is not None or delivery.dead is not None:
            return
        exc = delivery.error
        try:
            if delivery.delay_after_hold:
                self._copy(delivery, self.delays[-1], {})
                log.warning("command.transient_delayed", delay_s=self.delays[-1])
            elif exc is None or isinstance(exc, Poison | Requeue) or is_undecodable(exc):
                return  # not ours
            elif isinstance(exc, RetryLater):
                delay = self._next_delay(delivery)
                log.info("command.retry_later", reason=str(exc)[:500], delay_s=delay)
            elif isinstance(exc, ServiceUnavailable):
                waited = time.time() - delivery.first_seen_ms / 1000
                if waited >= self.settings.retry_unavailable_s:
                    delivery.dead = (
                        "service_unavailable",
                        f"an outside service stayed unavailable for {waited:.0f} s: "
                        f"{str(exc)[:500]}",
                    )
                    return
                delay = self._next_delay(delivery)
                log.warning("command.service_unavailable", reason=str(exc)[:500], delay_s=delay)
            else:  # a bug in a handler: bounded delayed retries, then dead
                self._failed(delivery, exc)
        except Requeue as err:
            requeue(message, delivery, str(err))

    def _next_delay(self, delivery: Delivery) -> int:
        """Copy to the next delay queue by the copy's retry count; returns the delay."""
        retries = self._count(delivery, H_RETRIES)
        delay = self.delays[min(retries, len(self.delays) - 1)]
        self._copy(delivery, delay, {H_RETRIES: retries + 1})
        return delay

    def _failed(self, delivery: Delivery, exc: BaseException) -> None:
        failures = self._count(delivery, H_FAILURES) + 1
        reason = error_text(exc)
        stack = "".join(traceback.format_tb(exc.__traceback__))[-4000:]
        if failures >= self.settings.max_failures:
            log.error("command.failed", failures=failures, reason=reason, stack=stack)
            delivery.dead = ("handler_failed", f"handler failed {failures} times: {reason}")
            return
        delay = self.delays[min(failures - 1, len(self.delays) - 1)]
        log.warning("command.failed_retry", failures=failures, reason=reason, stack=stack)
        self._copy(delivery, delay, {H_FAILURES: failures})


# --------------------------------------------------------------------------- crash loops


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

    def count(self, key: str) -> int:
        """The starts counted so far (0: none, or done)."""
        with db.reading(self.engine) as conn:  # COMMIT: the pool keeps its prepared statements
            value = conn.execute(
                text("SELECT attempts FROM delivery_attempts WHERE message_key = :k"), {"k": key}
            ).scalar()
        return int(value or 0)

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

    @property
    def exclusive(self) -> bool:
        """A message runs alone in this process now."""
        with self._cond:
            return self._exclusive

    @property
    def waiting(self) -> int:
        """Messages waiting for their turn to run alone."""
        with self._cond:
            return self._waiting

    def acquire_shared(self) -> None:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._active += 1

    def release_shared(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def acquire_exclusive(self) -> None:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._active:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True

    def release_exclusive(self) -> None:
        with self._cond:
            self._exclusive = False
            self._cond.notify_all()


class CrashLoopGuard(Policy):
    """A message that kills or stalls its worker is counted and, in the end, dead-lettered.

    Each start of a *redelivered* command with an identity is counted in ``delivery_attempts``
    (its own transaction, committed before the business transaction) once the message holds
    its place in the ``IsolationGate``. After ``MAX_CRASH_ATTEMPTS`` counted starts the message
    runs alone in its worker process; if it dies there (its start alone counted, never
    settled) it is dead-lettered at its next start ("crash loop"). A message still waiting at
    the gate when its process dies (behind one running alone) is not counted: it did not run;
    a message that finished has its count deleted before it gives up its place in the gate.
    Undecodable messages (which cannot crash a worker) and queries (the queue's
    ``x-delivery-limit`` bounds them) are not counted.
    """

    def __init__(
        self, settings: PipelineSettings, counter: AttemptCounter, transient: TransientRetry
    ) -> None:
        self.settings = settings
        self.counter = counter
        self.transient = transient
        self.gate = IsolationGate()
        self._local = threading.local()

    def before(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        self._local.hold = None
        self._local.key = None
        ident = delivery.ident
        headers = delivery.headers
        redelivered = bool(delivery.transport.get("redelivered"))
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            redelivered = redelivered or int(headers.get("x-delivery-count") or 0) > 0
        counted = (
            delivery.kind == "command"
            and bool(ident.get("command_id") and ident.get("organization_id"))
            and redelivered
        )
        if not counted:
            self.gate.acquire_shared()
            self._local.hold = self.gate.release_shared
            return
        key = hashlib.sha256(delivery.body).hexdigest()
        limit = self.settings.max_crash_attempts
        started = self.transient.call(lambda: self.counter.count(key), message, delivery)
        if started is None:  # requeued or delayed by the transient policy
            raise SkipMessage()
        if started > limit:  # its last start ran alone in its process, which died
            self._local.key = key
            delivery.dead = (
                "crash_loop",
                f"redelivered and restarted {started + 1} times, the last time alone in its "
                "worker process: it crashes or stalls its worker (crash loop)",
            )
            raise SkipMessage()
        if started == limit:
            log.warning("command.isolated", starts=started + 1)
            self.gate.acquire_exclusive()
            self._local.hold = self.gate.release_exclusive
        else:
            self.gate.acquire_shared()
            self._local.hold = self.gate.release_shared
        # a start counts only now that the message holds its place: one that waited at the gate
        # (behind a message running alone) when its process died never ran, and was no suspect
        if self.transient.call(lambda: self.counter.bump(key), message, delivery) is None:
            raise SkipMessage()  # requeued or delayed; ``settle`` releases the gate
        self._local.key = key

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        release, self._local.hold = getattr(self._local, "hold", None), None
        key, self._local.key = getattr(self._local, "key", None), None
        try:
            # forgotten while the message still holds its place: released first, the next
            # message to run alone could kill the process before this one's starts were
            # forgotten, and it would be taken for the culprit at its redelivery
            if key is not None:
                self.counter.forget(key)
        except Exception as exc:  # only matters for redeliveries; a leftover is harmless
            log.warning("attempts.forget_failed", error=error_text(exc, 300))
        finally:
            if release is not None:
                release()


# --------------------------------------------------------------------------- transient


class TransientRetry(Policy):
    """Transient infrastructure errors (database unreachable, deadlock, serialization failure,
    lock or statement timeout) are retried in place, waiting ``backoff_s`` (the shared
    backoff) between attempts; after ``TRANSIENT_HOLD_S`` the delivery goes to the longest
    delay queue (``DelayedRetry``), on SIGTERM back to its queue. Never a rejection, never a
    dead letter. A ``Requeue`` error (a reply or copy that was never confirmed) requeues."""

    def __init__(self, settings: PipelineSettings, stopping: threading.Event) -> None:
        self.settings = settings
        self.stopping = stopping

    def backoff(self) -> Backoff:
        settings = self.settings
        return Backoff(settings.transient_backoff_base_s, settings.transient_backoff_max_s)

    def call(self, fn: Any, message: MessageProxy, delivery: Delivery) -> Any:
        """``fn()`` with the same policy, for other policies' own database work; None when the
        delivery was requeued or is to be delayed instead."""
        started = time.monotonic()
        backoff = Backoff(
            self.settings.transient_backoff_base_s, self.settings.transient_backoff_max_s
        )
        while True:
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if not self._wait(message, delivery, exc, backoff, started):
                    return None

    def _wait(
        self,
        message: MessageProxy,
        delivery: Delivery,
        exc: BaseException,
        backoff: Backoff,
        started: float,
    ) -> bool:
        """Wait before the next attempt; False when the delivery leaves instead."""
        held = time.monotonic() - started
        if self.stopping.is_set():
            log.warning("command.transient_requeue_on_shutdown", error=error_text(exc, 300))
            requeue(message, delivery, "shutting down during a transient failure")
            return False
        if held >= self.settings.transient_hold_s:
            delivery.delay_after_hold = True
            return False
        pause = backoff.next_s()
        delivery.transient_retries += 1
        metrics.TRANSIENT_RETRIES.labels(metrics.type_label(delivery.type)).inc()
        log.warning(
            "command.transient_error",
            attempt=backoff.attempt,
            retry_in_s=round(pause, 2),
            error=error_text(exc, 300),
        )
        if self.stopping.wait(pause):
            log.warning("command.transient_requeue_on_shutdown", error=error_text(exc, 300))
            requeue(message, delivery, "shutting down during a transient failure")
            return False
        return True

    def settle(self, broker: Broker, message: MessageProxy, delivery: Delivery) -> None:
        if delivery.requeue is not None or delivery.dead is not None:
            return
        if isinstance(delivery.error, Requeue):
            requeue(message, delivery, str(delivery.error))
            return
        if delivery.error is None or not is_transient(delivery.error):
            return
        started = time.monotonic()
        backoff = Backoff(
            self.settings.transient_backoff_base_s, self.settings.transient_backoff_max_s
        )
        actor = broker.get_actor(message.actor_name)
        while delivery.error is not None and is_transient(delivery.error):
            if not self._wait(message, delivery, delivery.error, backoff, started):
                return
            actor(*message.args, **message.kwargs)  # records on the delivery again
        if isinstance(delivery.error, Requeue):
            requeue(message, delivery, str(delivery.error))
