"""``invoicing relay``: publish outbox rows to ``invoicing.events`` -- never lose, never skip.

* One active relay: a session-level ``pg_try_advisory_lock`` on the relay's own connection.
  A second relay waits as a standby and takes over when the first one's session ends, so two
  relays never publish the same rows in normal operation and per-invoice order holds.
* Every round selects ``published_at IS NULL ORDER BY id`` -- no high-water mark -- so a row
  committed after a row with a higher id is picked up on the next round, never skipped.
* Rows are published as CloudEvents 1.0 structured JSON (``application/cloudevents+json``),
  persistent, mandatory, ``message_id`` = event id, routing key = event type; the batch waits
  for RabbitMQ's publisher confirms, and only then is ``published_at`` committed. A crash in
  between republishes the same events (same ids) after restart: duplicates, never a loss.
* ``LISTEN invoicing_outbox`` (a trigger notifies on insert) wakes the relay early; it polls
  every ``relay_poll_interval_s`` anyway, so correctness never depends on notifications. After
  a round of fewer rows than a batch it waits for the next notification instead of selecting
  again (at a light load that was a second, empty select per event); a full batch is followed
  by the next round at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pika  # type: ignore[import-untyped]
import psycopg
import structlog
from invoicing.observability.metrics import RELAY_PUBLISHED
from invoicing.workers import gc_pauses
from invoicing.workers.amqp import (
    AMQP_ERRORS,
    ConfirmingPublisher,
    Outgoing,
    PublishError,
    declaring_channel,
)
from invoicing.workers.backoff import Backoff
from invoicing.workers.delivery import error_text
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import EVENTS_EXCHANGE, RELAY_TOPOLOGY, declare
from sqlalchemy.engine import make_url

log = structlog.get_logger("invoicing.relay")

#: pg_advisory_lock key of the relay: a fixed 63-bit number ("invoicing.relay")
RELAY_LOCK_KEY = 0x1A1A_2E1A_7001
CHANNEL = "invoicing_outbox"
#: the longest the relay waits without answering the broker's heartbeats (they are >= 2 s)
KEEPALIVE_S = 1.0
RETRYABLE: tuple[type[BaseException], ...] = (psycopg.Error, PublishError, *AMQP_ERRORS)


def libpq_url(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit(
            "invoicing relay needs PostgreSQL (DATABASE_URL); the embedded SQLite database "
            "is for `invoicing process`"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


#: the CloudEvent attributes the AMQP properties and headers carry (``properties_for``)
_FIELDS = ("id", "type", "subject", "sequence", "organizationid", "correlationid", "commandid")
#: one batch of unpublished rows in id order (the partial index ``ix_outbox_unpublished``):
#: the stored document as PostgreSQL writes the ``jsonb`` out, and each of :data:`_FIELDS` --
#: from the row's own columns where the outbox has one (written from the same event by
#: ``pipeline.outbox.write``, the outbox's one writer), else read out of the document by the
#: database. Each ``payload->>`` decompresses the whole document again (an invoice event is
#: about 4 KB, stored compressed): seven of them cost about 0.1 ms of the database's CPU per
#: row, the two left about half that (docs/pipeline.md, "Events and the relay").
_UNPUBLISHED = (
    "SELECT id, payload::text, event_id::text, type, subject, sequence, "
    "organization_id::text, payload->>'correlationid', payload->>'commandid' "
    "FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT %s"
)


def properties_for(event: dict[str, Any]) -> Any:
    return pika.BasicProperties(
        delivery_mode=2,
        content_type="application/cloudevents+json",
        content_encoding="utf-8",
        message_id=str(event["id"]),
        correlation_id=event.get("correlationid") or event.get("commandid"),
        type=str(event["type"]),
        app_id="invoicing",
        timestamp=int(time.time()),
        headers={
            "ce_specversion": "1.0",
            "ce_id": str(event["id"]),
            "ce_type": str(event["type"]),
            "ce_subject": event.get("subject"),
            "ce_sequence": event.get("sequence"),
            "organization_id": event.get("organizationid"),
        },
    )


class Relay:
    def __init__(self, database_url: str, settings: PipelineSettings) -> None:
        self.dsn = libpq_url(database_url)
        self.settings = settings
        self.stop = threading.Event()
        self.publisher = ConfirmingPublisher(
            settings.amqp_url, confirm_timeout_s=settings.relay_confirm_timeout_s
        )
        self.published = 0
        self.backoff = Backoff(settings.transient_backoff_base_s, settings.transient_backoff_max_s)

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._session()
            except RETRYABLE as exc:
                pause = self.backoff.next_s()
                log.warning("relay.retry", error=error_text(exc, 300), retry_in_s=round(pause, 2))
                self.publisher.close()
                self.stop.wait(pause)
        self.publisher.close()

    def _declare(self) -> None:
        """The event exchange (and its alternate) must exist before mandatory publishes."""
        with declaring_channel(self.settings.amqp_url) as channel:
            declare(channel, self.settings, only=RELAY_TOPOLOGY)

    def _session(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name="invoicing-relay") as conn:
            got = False
            while not self.stop.is_set():
                got = bool(
                    conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,)).fetchone()[0]  # type: ignore[index]
                )
                if got:
                    break
                log.debug("relay.standby")
                self.stop.wait(self.settings.relay_poll_interval_s)
            if not got:
                return
            log.info("relay.active")
            # the broker answers the declaration (the publisher connects at its first
            # publish): with the database up too, the next failure starts afresh
            self._declare()
            self.backoff.reset()
            conn.execute(f"LISTEN {CHANNEL}")
            while not self.stop.is_set():
                if self.drain(conn) < self.settings.relay_batch_size:
                    # fewer than a batch: nothing was left when the select ran, and a row
                    # committed since has notified (psycopg keeps a notification that arrives
                    # meanwhile for the next wait), so wait instead of selecting nothing
                    self._idle(conn)

    def _idle(self, conn: psycopg.Connection[Any]) -> None:
        """Wait for a notification (a hint) or the polling interval, in slices of at most
        ``KEEPALIVE_S``, answering the broker's heartbeats after each slice (pika does no I/O
        while the relay waits on PostgreSQL)."""
        deadline = time.monotonic() + self.settings.relay_poll_interval_s
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            woke = any(True for _ in conn.notifies(timeout=min(left, KEEPALIVE_S), stop_after=1))
            self.publisher.keepalive()
            if woke:
                break
        # drop any queued notifications
        for _ in conn.notifies(timeout=0):
            pass

    # ------------------------------------------------------------------ one round

    def drain(self, conn: psycopg.Connection[Any]) -> int:
        """Publish one batch of unpublished rows in id order; return how many.

        The body is the stored CloudEvent as PostgreSQL writes the ``jsonb`` out (its keys in
        the order they had before, when the relay decoded the column and encoded it again:
        that round trip cost about 55 µs of CPU for a 4 KB invoice event, and the relay's CPU
        per event fell by a fifth to a half without it). The properties' fields come from the
        row's columns and, for the two the outbox has no column for, out of the same document
        (:data:`_UNPUBLISHED`)."""
        rows = conn.execute(_UNPUBLISHED, (self.settings.relay_batch_size,)).fetchall()
        if not rows:
            return 0
        batch = []
        for _id, text, *fields in rows:
            event: dict[str, Any] = dict(zip(_FIELDS, fields, strict=True))
            batch.append(
                Outgoing(EVENTS_EXCHANGE, str(event["type"]), text.encode(), properties_for(event))
            )
        self.publisher.publish_batch(batch)  # raises unless every message was confirmed
        ids = [r[0] for r in rows]
        conn.execute(
            "UPDATE outbox SET published_at = %s WHERE id = ANY(%s) AND published_at IS NULL",
            (dt.datetime.now(dt.UTC), ids),
        )
        self.published += len(ids)
        RELAY_PUBLISHED.inc(len(ids))
        log.debug("relay.published", count=len(ids), last_id=ids[-1])
        return len(ids)


def run_relay(database_url: str, settings: PipelineSettings) -> int:
    import signal
    from types import FrameType

    relay = Relay(database_url, settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        relay.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("relay.started", gc_frozen=gc_pauses.settle())
    relay.run()
    log.info("relay.stopped", published=relay.published)
    return 0
