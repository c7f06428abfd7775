"""Delayed retries kept in the database: ``RetryStore`` and ``Republisher``.

A command put off for N seconds (``RetryLater``, ``ServiceUnavailable``, a handler bug, a
transient error that outlasted its hold) is stored in ``scheduled_commands`` with its due time,
body and AMQP properties, in a transaction of its own; the original delivery is acked only after
that commit. Each worker process runs one ``Republisher`` thread: it takes due rows (``FOR
UPDATE SKIP LOCKED``, so processes never publish the same row twice in normal operation),
publishes them to ``invoicing.requeue`` with their queue as routing key (mandatory, publisher
confirms) and deletes them in the same transaction. A crash between the confirm and the commit
publishes the row again: a duplicate the inbox absorbs, never a loss.

Why not broker delay queues: a quorum queue dead-letters at least once through a process on its
leader node; after that node dies, the copies waiting there were parked for 180-360 s (the
broker's dead-letter confirm timeout) before they reached their queue again. Here a delayed
retry is late by at most the republisher's poll interval plus the time it takes to reach any
broker node.

Stuck retries are visible: every round counts rows more than ``RETRY_OVERDUE_S`` past due
(gauges ``invoicing_retry_overdue`` and ``invoicing_retry_overdue_seconds``) and logs
``retry.overdue`` (at most every 30 s) while there are any.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pika  # type: ignore[import-untyped]
import structlog
from invoicing import db
from invoicing.models.base import utcnow
from invoicing.models.pipeline import ScheduledCommand
from invoicing.workers.amqp import AMQP_ERRORS, ConfirmingPublisher, Outgoing, PublishError
from invoicing.workers.backoff import Backoff
from invoicing.workers.delivery import Delivery, Outbound, error_text
from invoicing.workers.metrics import RETRY_OVERDUE, RETRY_OVERDUE_SECONDS
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import DELAY_HEADER, REQUEUE_EXCHANGE
from sqlalchemy import Engine, Table, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("invoicing.worker")

TABLE: Table = ScheduledCommand.__table__  # type: ignore[assignment]
RETRYABLE: tuple[type[BaseException], ...] = (SQLAlchemyError, PublishError, *AMQP_ERRORS)
#: the least time between two ``retry.overdue`` log lines of one process
OVERDUE_LOG_EVERY_S = 30.0
#: the longest a process goes without counting overdue retries while none were due
OVERDUE_CHECK_EVERY_S = 5.0


def encode_properties(properties: Any) -> bytes:
    """pika's wire encoding of basic properties: every AMQP field type survives the database."""
    return b"".join(properties.encode())


def decode_properties(data: bytes) -> Any:
    properties = pika.BasicProperties()
    properties.decode(data)
    return properties


class RetryStore:
    """Stores a delayed copy of a delivery (``DelayedRetry`` calls ``schedule``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def schedule(self, delivery: Delivery, delay_s: int, headers: dict[str, Any]) -> None:
        """Commit a copy due in ``delay_s`` seconds (raises when the database refuses it: the
        caller then leaves the original unacked, as for a copy the broker never confirmed)."""
        now = utcnow()
        props = Outbound.properties(delivery.transport, {**headers, DELAY_HEADER: delay_s})
        with self.engine.begin() as conn:
            conn.execute(
                insert(TABLE).values(
                    due_at=now + dt.timedelta(seconds=delay_s),
                    queue=delivery.queue,
                    body=delivery.body,
                    properties=encode_properties(props),
                    message_id=str(props.message_id)[:255] if props.message_id else None,
                    created_at=now,
                )
            )


class Republisher:
    """Publishes due rows of ``scheduled_commands`` back to their queues (one per process)."""

    def __init__(
        self,
        engine: Engine,
        settings: PipelineSettings,
        stop: threading.Event,
        *,
        publisher_factory: Callable[[], ConfirmingPublisher] | None = None,
        batch_size: int = 100,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.stop = stop
        self.batch_size = batch_size
        factory = publisher_factory or (
            lambda: ConfirmingPublisher(
                settings.amqp_url, confirm_timeout_s=settings.relay_confirm_timeout_s
            )
        )
        self.publisher = factory()
        self.republished = 0
        self.overdue = 0
        self._last_overdue_log = 0.0
        self._next_overdue_check = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="retry-republisher", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        settings = self.settings
        backoff = Backoff(settings.transient_backoff_base_s, settings.transient_backoff_max_s)
        while not self.stop.is_set():
            try:
                done = self.republish_due()
                if self._overdue_check_due(done):
                    self.check_overdue()
                backoff.reset()
            except RETRYABLE as exc:
                self.publisher.close()
                log.warning("retry.republish_failed", error=error_text(exc, 300))
                self._count_overdue_quietly()
                if backoff.wait(self.stop):
                    break
                continue
            if done < self.batch_size:
                self.stop.wait(self.settings.retry_poll_interval_s)
                self.publisher.keepalive()
        self.publisher.close()

    def republish_due(self) -> int:
        """Publish one batch of due rows (confirmed) and delete them; return how many."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(TABLE.c.id, TABLE.c.queue, TABLE.c.body, TABLE.c.properties, TABLE.c.due_at)
                .where(TABLE.c.due_at <= utcnow())
                .order_by(TABLE.c.due_at)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            copies = [
                Outgoing(REQUEUE_EXCHANGE, r.queue, bytes(r.body), decode_properties(r.properties))
                for r in rows
            ]
            # raises unless every copy was confirmed: then the rows stay (rolled back)
            self.publisher.publish_batch(copies)
            conn.execute(delete(TABLE).where(TABLE.c.id.in_([r.id for r in rows])))
        self.republished += len(rows)
        oldest = min(r.due_at for r in rows)
        due = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
        late_s = round((utcnow() - due).total_seconds(), 2)
        # a round normally comes within the poll interval of the due time: say when it did not
        level = log.info if late_s > 1 + self.settings.retry_poll_interval_s else log.debug
        level("retry.republished", count=len(rows), late_s=late_s)
        return len(rows)

    def _overdue_check_due(self, republished: int) -> bool:
        """Count overdue retries after a round that found due rows, while some were overdue at
        the last count, and otherwise every ``OVERDUE_CHECK_EVERY_S`` (or ``retry_overdue_s``,
        if shorter). A round that found no due row leaves nothing overdue but rows another
        process holds (and publishes); an idle worker so runs one statement per poll, not two
        transactions."""
        now = time.monotonic()
        if republished or self.overdue or now >= self._next_overdue_check:
            self._next_overdue_check = now + min(
                OVERDUE_CHECK_EVERY_S, self.settings.retry_overdue_s
            )
            return True
        return False

    def check_overdue(self) -> int:
        """Count the retries more than ``retry_overdue_s`` past due; log them (rate-limited)."""
        cutoff = utcnow() - dt.timedelta(seconds=self.settings.retry_overdue_s)
        with db.reading(self.engine) as conn:  # COMMIT: the pool keeps its prepared statements
            count, oldest = conn.execute(
                select(func.count(), func.min(TABLE.c.due_at)).where(TABLE.c.due_at < cutoff)
            ).one()
        self.overdue = int(count or 0)
        late_s = 0.0
        if oldest is not None:
            due = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
            late_s = max(0.0, (utcnow() - due).total_seconds())
        RETRY_OVERDUE.set(self.overdue)
        RETRY_OVERDUE_SECONDS.set(late_s)
        now = time.monotonic()
        if self.overdue and now - self._last_overdue_log >= OVERDUE_LOG_EVERY_S:
            self._last_overdue_log = now
            log.warning(
                "retry.overdue",
                count=self.overdue,
                oldest_overdue_s=round(late_s, 1),
                hint="delayed retries are not being republished: check the broker connection "
                "and the worker's retry.republish_failed lines",
            )
        return self.overdue

    def _count_overdue_quietly(self) -> None:
        try:
            self.check_overdue()
        except SQLAlchemyError as exc:
            log.debug("retry.overdue_unknown", error=error_text(exc, 200))
