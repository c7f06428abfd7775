"""The dead-letter archive and re-drive (reliability.md A1.3 point 5).

``invoicing dead-letters archive`` is a separate process (like the relay) that consumes
``invoicing.dead-letters`` and stores every message in the ``dead_letters`` table -- body,
headers (incl. ``x-death`` and ``x-invoicing-reason``), the queue it died in, the reason and
when the pipeline first saw it -- and acks the dead letter only after the commit. A crash
between commit and ack redelivers it; ``dedupe_key`` makes that a no-op. Several archive
processes may run side by side (each dead letter goes to one of them; duplicates are ignored).
Nothing is dropped: a dead letter that cannot be stored is nacked back to the queue. The
archive declares only the dead-letter exchange and its queue, so its RabbitMQ user
(``invoicing-archive``, deploy/rabbitmq/users.json) may consume dead letters and nothing else.

``invoicing dead-letters redrive ID`` re-publishes the stored body to ``invoicing.commands``
with its routing key (the command ``type``), persistent, mandatory, with publisher confirms,
and only then marks the row ``redriven``. Our retry/failure headers are dropped so the command
starts afresh; its ``command_id`` keeps the redrive idempotent (the inbox makes a second
redrive, or a redrive of a command that was applied after all, a no-op). It publishes
commands, so it runs with a user that may (``invoicing-publisher``), not the archive's.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import structlog
from invoicing.models.dead_letters import DeadLetter
from invoicing.observability.metrics import DEAD_LETTERS_ARCHIVED, dead_letter_reason
from invoicing.workers.amqp import AMQP_ERRORS, ConfirmingPublisher, Outgoing, broker_urls, connect
from invoicing.workers.backoff import Backoff
from invoicing.workers.delivery import (
    H_DEAD_AT,
    H_FIRST_SEEN,
    H_QUEUE,
    H_REASON,
    error_text,
    is_transient,
    peek,
)
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import (
    ARCHIVE_TOPOLOGY,
    COMMANDS_EXCHANGE,
    DEAD_LETTER_QUEUE,
    QUERIES_QUEUE,
    declare,
)
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

log = structlog.get_logger("invoicing.dead_letters")

H_REDRIVEN_FROM = "x-invoicing-redriven-from"
#: headers a redrive drops: broker bookkeeping and our retry/failure state
_DROP_ON_REDRIVE = (
    "x-death",
    "x-delivery-count",
    "x-first-death-",
    "x-last-death-",
    "x-invoicing-",
)


# --------------------------------------------------------------------------- decoding

#: how deep and how wide AMQP header tables are kept (deeper levels become a note)
JSON_MAX_DEPTH = 16
JSON_MAX_ITEMS = 1000
#: longest text kept in one header value or the reason
TEXT_MAX_CHARS = 10_000


def clean_text(value: str, limit: int = TEXT_MAX_CHARS) -> str:
    """Text PostgreSQL stores: no NUL, no lone surrogates (from JSON escapes), cut."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:limit]


def json_safe(value: Any, depth: int = 0) -> Any:
    """AMQP table values as JSON: bytes as text (or base64), timestamps as ISO 8601; bounded
    in depth and width, so any header table can be stored."""
    if depth >= JSON_MAX_DEPTH:
        return f"<nested deeper than {JSON_MAX_DEPTH} levels: not stored>"
    if isinstance(value, dict):
        items = list(value.items())[:JSON_MAX_ITEMS]
        return {clean_text(str(k), 255): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value[:JSON_MAX_ITEMS]]
    if isinstance(value, bytes):
        try:
            return clean_text(value.decode())
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value[:TEXT_MAX_CHARS]).decode()}
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return clean_text(str(value))


def _ms(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _text(value: Any, limit: int = TEXT_MAX_CHARS) -> str | None:
    if value is None:
        return None
    raw = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return clean_text(raw, limit)


def describe(body: bytes, routing_key: str, properties: Any) -> dict[str, Any]:
    """The row of one dead letter (without ``archived_at``). Any body -- deep, huge, binary,
    not UTF-8, not JSON -- gives a row: the body is stored as it came, only what is read out
    of it (identity) is best effort."""
    raw_headers = getattr(properties, "headers", None)
    headers: dict[str, Any] = dict(raw_headers) if isinstance(raw_headers, dict) else {}
    deaths = [d for d in headers.get("x-death") or [] if isinstance(d, dict)]
    last = deaths[0] if deaths else {}  # x-death is most recent first
    ident = peek(body)
    queue = (
        _text(headers.get(H_QUEUE), 255)
        or _text(last.get("queue"), 255)
        or _text(headers.get("x-first-death-queue"), 255)
        or _text(routing_key, 255)
    )
    reason = _text(headers.get(H_REASON))
    if not reason and deaths:
        reason = clean_text(
            f"broker dead-lettered it from {queue}: {_text(last.get('reason'), 200)} "
            f"(count {_text(last.get('count', 1), 20)})"
        )
    routing_keys = last.get("routing-keys")
    death_routing = (
        [_text(k, 255) for k in routing_keys or [] if k] if isinstance(routing_keys, list) else []
    )
    redrive_key = (
        _text(ident.get("type"), 255)
        or next((k for k in death_routing if k), None)
        or _text(routing_key, 255)
    )
    times = [d["time"] for d in deaths if isinstance(d.get("time"), dt.datetime)]
    earliest = min(times) if times else None  # pika decodes AMQP timestamps as naive UTC
    first_seen = (
        _ms(headers.get(H_FIRST_SEEN))
        or (earliest.replace(tzinfo=earliest.tzinfo or dt.UTC) if earliest else None)
        or dt.datetime.now(dt.UTC)
    )
    props = {
        name: json_safe(getattr(properties, name, None))
        for name in (
            "content_type",
            "content_encoding",
            "delivery_mode",
            "correlation_id",
            "reply_to",
            "message_id",
            "timestamp",
            "type",
            "user_id",
            "app_id",
        )
        if getattr(properties, name, None) is not None
    }
    message_id = _text(getattr(properties, "message_id", None), 255)
    identity = json.dumps(
        {
            "message_id": message_id,
            "dead_at": json_safe(headers.get(H_DEAD_AT)),
            "reason": json_safe(headers.get(H_REASON)),
            "deaths": [
                [json_safe(d.get(k)) for k in ("queue", "reason", "count", "time")] for d in deaths
            ],
        },
        sort_keys=True,
    ).encode()
    return {
        "dedupe_key": hashlib.sha256(hashlib.sha256(body).digest() + identity).hexdigest(),
        "queue": queue or "",
        "routing_key": redrive_key or "",
        "reason": reason or "unknown (no x-invoicing-reason and no x-death header)",
        "message_id": message_id or None,
        "command_id": _text(ident.get("command_id"), 64),
        "organization_id": _uuid(ident.get("organization_id")),
        "command_type": _text(ident.get("type"), 100),
        "body": bytes(body),
        "headers": json_safe(headers),
        "properties": props,
        "first_seen_at": first_seen,
    }


def minimal_row(body: bytes, routing_key: str, properties: Any, why: str) -> dict[str, Any]:
    """The fallback when a full row cannot be made or stored: the body as it came, the
    reason header if it is readable, and why the rest is missing. Never raises."""
    try:
        reason = _text((getattr(properties, "headers", None) or {}).get(H_REASON))
    except Exception:
        reason = None
    try:
        message_id = _text(getattr(properties, "message_id", None), 255)
    except Exception:
        message_id = None
    why = clean_text(why, 1000)
    return {
        # per body and moment: a redelivery of this fallback may be stored twice, never lost
        "dedupe_key": hashlib.sha256(
            hashlib.sha256(body).digest() + str(time.time_ns()).encode()
        ).hexdigest(),
        "queue": clean_text(str(routing_key), 255),
        "routing_key": "",
        "reason": reason or f"unknown (archived without its headers: {why})",
        "message_id": message_id,
        "command_id": None,
        "organization_id": None,
        "command_type": None,
        "body": bytes(body),
        "headers": {"x-invoicing-archive-note": f"headers not stored: {why}"},
        "properties": {},
        "first_seen_at": dt.datetime.now(dt.UTC),
    }


# --------------------------------------------------------------------------- archive


Archived = Literal["stored", "duplicate", "skipped"]


class _Stopped(Exception):
    """Stopping before the row could be stored: the dead letter goes back to its queue."""


class DeadLetterArchive:
    """Consumes ``invoicing.dead-letters``; each message is stored, committed, then acked.

    Any body is stored (or, when even the minimal row cannot be stored, skipped with a logged
    reason); a dead letter never stops the archive."""

    def __init__(
        self,
        engine: Engine,
        settings: PipelineSettings,
        *,
        prefetch: int = 50,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.prefetch = prefetch
        self.stop = stop or threading.Event()
        self.stored = 0
        self.duplicates = 0
        self.skipped = 0

    def backoff(self) -> Backoff:
        return Backoff(
            self.settings.transient_backoff_base_s, self.settings.transient_backoff_max_s
        )

    def store(self, row: dict[str, Any]) -> bool:
        """Insert the row unless its dedupe_key is known; True when it was new."""
        values = {**row, "archived_at": dt.datetime.now(dt.UTC), "status": "dead"}
        values["redrive_count"] = 0
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(DeadLetter)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(DeadLetter.id)
        )
        with self.engine.begin() as conn:
            new_id = conn.execute(stmt).scalar_one_or_none()
        return new_id is not None

    def _store_retrying(self, row: dict[str, Any]) -> bool:
        """Transient errors are retried with the shared backoff (``_Stopped`` on SIGTERM);
        any other error is raised for the caller's fallback."""
        backoff = self.backoff()
        while True:
            try:
                return self.store(row)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                pause = backoff.next_s()
                log.warning(
                    "dead_letter.store_failed",
                    transient=True,
                    attempt=backoff.attempt,
                    error=error_text(exc, 300),
                    retry_in_s=round(pause, 2),
                )
                if self.stop.wait(pause):
                    raise _Stopped() from exc

    def archive(self, body: bytes, routing_key: str, properties: Any) -> Archived:
        """Store one dead letter. Never raises but ``_Stopped``."""
        try:
            row = describe(body, routing_key, properties)
        except Exception as exc:  # a header table nobody expected: keep the body anyway
            log.warning("dead_letter.describe_failed", error=error_text(exc, 300))
            row = minimal_row(body, routing_key, properties, error_text(exc, 300))
        try:
            new = self._store_retrying(row)
        except _Stopped:
            raise
        except Exception as exc:
            log.warning("dead_letter.store_failed", transient=False, error=error_text(exc, 300))
            try:
                new = self._store_retrying(
                    minimal_row(body, routing_key, properties, error_text(exc, 300))
                )
            except _Stopped:
                raise
            except Exception as again:
                log.error(
                    "dead_letter.skipped",
                    reason=f"not storable: {error_text(again, 300)}",
                    message_id=row.get("message_id"),
                    body_bytes=len(body),
                    body_sha256=hashlib.sha256(body).hexdigest(),
                )
                self.skipped += 1
                return "skipped"
        if new:
            self.stored += 1
            DEAD_LETTERS_ARCHIVED.labels(reason=dead_letter_reason(row["reason"])).inc()
            log.info(
                "dead_letter.archived",
                queue=row["queue"],
                reason=str(row["reason"])[:300],
                message_id=row["message_id"],
                command_id=row["command_id"],
                body_bytes=len(body),
            )
            return "stored"
        self.duplicates += 1
        log.info("dead_letter.duplicate", message_id=row["message_id"])
        return "duplicate"

    def handle(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        try:
            self.archive(bytes(body), str(method.routing_key), properties)
        except _Stopped:
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        channel.basic_ack(method.delivery_tag)  # after the commit (or the logged skip)

    def run(self) -> None:
        backoff = self.backoff()
        while not self.stop.is_set():
            connection = None
            try:
                connection = connect(self.settings.amqp_url)
                channel = connection.channel()
                declare(channel, self.settings, only=ARCHIVE_TOPOLOGY)
                channel.basic_qos(prefetch_count=self.prefetch)
                log.info("dead_letters.archive_started", queue=DEAD_LETTER_QUEUE)
                backoff.reset()
                for method, properties, body in channel.consume(
                    DEAD_LETTER_QUEUE, inactivity_timeout=0.5
                ):
                    if self.stop.is_set():
                        break
                    if method is None:
                        continue
                    self.handle(channel, method, properties, body)
                channel.cancel()  # unacked prefetched deliveries return to the queue
            except AMQP_ERRORS as exc:
                pause = backoff.next_s()
                log.warning(
                    "dead_letters.connection_lost", error=error_text(exc, 300), retry_in_s=pause
                )
                self.stop.wait(pause)
            finally:
                if connection is not None and connection.is_open:
                    with contextlib.suppress(*AMQP_ERRORS):
                        connection.close()
        log.info(
            "dead_letters.archive_stopped",
            stored=self.stored,
            duplicates=self.duplicates,
            skipped=self.skipped,
        )


# --------------------------------------------------------------------------- list / redrive


def list_dead_letters(
    engine: Engine, *, status: str | None = "dead", limit: int = 100
) -> list[DeadLetter]:
    with Session(engine) as session:
        stmt = select(DeadLetter).order_by(DeadLetter.id).limit(limit)
        if status:
            stmt = stmt.where(DeadLetter.status == status)
        return list(session.scalars(stmt))


def get_dead_letter(engine: Engine, dead_letter_id: int) -> DeadLetter | None:
    with Session(engine) as session:
        return session.get(DeadLetter, dead_letter_id)


class RedriveError(Exception):
    pass


@dataclass
class Redriven:
    id: int
    routing_key: str
    message_id: str | None
    redrive_count: int


def _amqp_user(url: str) -> str:
    # every address of a cluster carries the same user
    return unquote(urlsplit(broker_urls(url)[0]).username or "guest")


def _redrive_headers(headers: dict[str, Any], dead_letter_id: int) -> dict[str, Any]:
    kept = {k: v for k, v in headers.items() if not k.startswith(_DROP_ON_REDRIVE)}
    kept[H_REDRIVEN_FROM] = dead_letter_id
    return kept


def redrive(
    engine: Engine,
    settings: PipelineSettings,
    dead_letter_id: int,
    *,
    force: bool = False,
    routing_key: str | None = None,
    publisher: ConfirmingPublisher | None = None,
) -> Redriven:
    """Publish the stored body to ``invoicing.commands`` (confirmed), then mark the row."""
    import pika  # type: ignore[import-untyped]

    row = get_dead_letter(engine, dead_letter_id)
    if row is None:
        raise RedriveError(f"no dead letter {dead_letter_id}")
    if row.status == "redriven" and not force:
        raise RedriveError(
            f"dead letter {row.id} was already redriven at {row.redriven_at:%Y-%m-%d %H:%M:%S}"
            " (use --force to send it again; its command_id keeps that harmless)"
            if row.redriven_at
            else f"dead letter {row.id} was already redriven"
        )
    if row.queue == QUERIES_QUEUE:
        raise RedriveError("a dead-lettered query has nobody waiting for its answer: not redriven")
    key = routing_key or row.routing_key
    if not key:
        raise RedriveError(
            f"dead letter {row.id} has no command type to route by: give --routing-key"
        )
    props: dict[str, Any] = row.properties or {}
    user_id = props.get("user_id")
    if user_id is not None and user_id != _amqp_user(settings.amqp_url):
        log.warning(
            "dead_letter.redrive_drops_user_id",
            id=row.id,
            user_id=user_id,
            hint="RabbitMQ only accepts the connection's own user_id",
        )
        user_id = None
    message = Outgoing(
        COMMANDS_EXCHANGE,
        key,
        row.body,
        pika.BasicProperties(
            delivery_mode=2,
            content_type=props.get("content_type") or "application/json",
            message_id=row.message_id or row.command_id or f"dead-letter-{row.id}",
            correlation_id=props.get("correlation_id"),
            app_id=props.get("app_id"),
            user_id=user_id,
            timestamp=int(time.time()),
            headers=_redrive_headers(row.headers or {}, row.id),
        ),
        mandatory=True,
    )
    own = publisher is None
    pub = publisher or ConfirmingPublisher(
        settings.amqp_url, confirm_timeout_s=settings.relay_confirm_timeout_s
    )
    try:
        pub.publish(message)  # raises PublishError unless the broker confirmed and routed it
    finally:
        if own:
            pub.close()
    with engine.begin() as conn:
        count = conn.execute(
            update(DeadLetter)
            .where(DeadLetter.id == row.id)
            .values(
                status="redriven",
                redriven_at=dt.datetime.now(dt.UTC),
                redrive_count=DeadLetter.redrive_count + 1,
            )
            .returning(DeadLetter.redrive_count)
        ).scalar_one()
    log.info("dead_letter.redriven", id=row.id, routing_key=key, message_id=row.message_id)
    return Redriven(row.id, key, row.message_id, int(count))


def rows_as_dicts(rows: list[DeadLetter]) -> Iterator[dict[str, Any]]:
    for r in rows:
        yield {
            "id": r.id,
            "status": r.status,
            "queue": r.queue,
            "routing_key": r.routing_key,
            "reason": r.reason,
            "message_id": r.message_id,
            "command_id": r.command_id,
            "organization_id": str(r.organization_id) if r.organization_id else None,
            "first_seen_at": r.first_seen_at.isoformat(),
            "archived_at": r.archived_at.isoformat(),
            "redrive_count": r.redrive_count,
            "redriven_at": r.redriven_at.isoformat() if r.redriven_at else None,
        }
