"""``invoicing retention``: delete old pipeline bookkeeping in bounded batches.

Four tables grow with every command and are never read again after a while:

* ``outbox``: a row is needed until the relay has published it (``published_at`` set); after
  that only people look at it. Unpublished rows are never deleted.
* ``processed_commands`` (the inbox): a row turns a second delivery of the same command into a
  no-op. It must outlive every copy of its command that can still arrive: a redelivery after a
  crash (seconds), a delayed retry (up to the longest retry window after the first attempt, plus
  the longest delay queue, plus a transient hold), and a redrive of a dead letter, which an
  operator may do at any time, even twice (``--force``). Hence: rows younger than the cutoff are
  kept, and so is every row whose command id is in the dead-letter archive, whatever its age.
* ``delivery_attempts``: the crash-loop counter of a message; rows left behind belong to messages
  that were dead-lettered or whose worker died. A copy of the message can come back at most the
  redelivery window later.
* ``delivery_jobs``: the emails commands left to send (docs/sending.md). A finished job (done,
  failed or cancelled: ``finished_at`` set) is needed by nothing (a redelivered command is a
  duplicate in the inbox; the email's record stays in ``email_deliveries``); pending jobs are
  never deleted.

Each table is cleaned in batches of ``INVOICING_RETENTION_BATCH_SIZE`` rows, one short
transaction per batch, so a run never holds locks for long nor builds a huge transaction; a run
stopped halfway simply leaves rows for the next one. docs/pipeline.md explains the windows.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from invoicing.models.core import OutboxEvent, ProcessedCommand
from invoicing.models.dead_letters import DeadLetter
from invoicing.models.deliveries import DeliveryJob
from invoicing.models.pipeline import DeliveryAttempt
from invoicing.workers.settings import PipelineSettings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    ColumnElement,
    Delete,
    Engine,
    Select,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute

log = structlog.get_logger("invoicing.retention")

#: added to the redelivery window for the inbox and the crash-loop counters: clock skew between
#: hosts, a worker fleet stopped for a night, a broker that held messages through an outage
MARGIN = dt.timedelta(days=1)
#: published outbox rows are not needed by any redelivery; a day keeps recent events at hand
OUTBOX_MINIMUM = dt.timedelta(days=1)
#: finished delivery jobs are needed by no redelivery; a day keeps recent outcomes at hand
DELIVERY_JOBS_MINIMUM = dt.timedelta(days=1)
#: the inbox is also the idempotency promise to the services that publish commands, whose own
#: retries (an upstream outbox relay that was down, a replayed batch) this configuration cannot
#: bound: a floor of a week whatever the retry windows, 30 days by default
INBOX_FLOOR = dt.timedelta(days=7)

DAY_S = 86400.0


class RetentionSettings(BaseSettings):
    """How long rows are kept (environment, prefix ``INVOICING_RETENTION_``)."""

    model_config = SettingsConfigDict(env_prefix="INVOICING_RETENTION_", extra="ignore")

    outbox_days: float = Field(
        default=7.0, gt=0, description="published outbox rows, counted from publication"
    )
    inbox_days: float = Field(
        default=30.0, gt=0, description="processed_commands rows, counted from processing"
    )
    delivery_attempts_days: float = Field(
        default=7.0, gt=0, description="delivery_attempts rows, counted from the last start"
    )
    delivery_jobs_days: float = Field(
        default=90.0, gt=0, description="finished delivery_jobs rows, counted from the finish"
    )
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="rows per transaction")
    batch_pause_s: float = Field(
        default=0.0, ge=0, le=60, description="pause between batches, to leave the database room"
    )


class RetentionConfigError(ValueError):
    """A retention setting below what a redelivery may still need."""


def redelivery_window(pipeline: PipelineSettings) -> dt.timedelta:
    """The latest a copy of a command can arrive after its first attempt, by configuration.

    Delayed copies are re-published only while the command is younger than its retry window
    (``INVOICING_RETRY_MISSING_S``, ``INVOICING_RETRY_UNAVAILABLE_S``); the last copy then waits
    in the longest delay queue (``INVOICING_RETRY_DELAYS_S``) and may retry a transient error in
    place for ``INVOICING_TRANSIENT_HOLD_S`` before it is done.
    """
    longest_retry = max(pipeline.retry_missing_s, pipeline.retry_unavailable_s)
    longest_delay = max(pipeline.retry_delays_s, default=0)
    return dt.timedelta(seconds=longest_retry + longest_delay + pipeline.transient_hold_s)


@dataclass(frozen=True)
class Windows:
    """What a run keeps: rows younger than these are never deleted."""

    outbox: dt.timedelta
    inbox: dt.timedelta
    delivery_attempts: dt.timedelta
    delivery_jobs: dt.timedelta
    #: the redelivery window the minimums were computed from
    redelivery: dt.timedelta
    notes: tuple[str, ...] = ()


def windows(settings: RetentionSettings, pipeline: PipelineSettings) -> Windows:
    """The windows of a run; raises RetentionConfigError for a setting below its minimum.

    A setting left at its default is raised to the minimum when the retry windows make the
    default too short (and a note says so); an explicit setting below the minimum is refused.
    """
    redelivery = redelivery_window(pipeline)
    minimums = {
        "outbox_days": OUTBOX_MINIMUM,
        "inbox_days": max(INBOX_FLOOR, redelivery + MARGIN),
        "delivery_attempts_days": redelivery + MARGIN,
        "delivery_jobs_days": DELIVERY_JOBS_MINIMUM,
    }
    chosen: dict[str, dt.timedelta] = {}
    errors: list[str] = []
    notes: list[str] = []
    for name, minimum in minimums.items():
        value = dt.timedelta(days=getattr(settings, name))
        if value >= minimum:
            chosen[name] = value
            continue
        env = f"INVOICING_RETENTION_{name.upper()}"
        floor = _days(minimum)
        if name in settings.model_fields_set:
            why = (
                "published rows are kept at least a day"
                if name == "outbox_days"
                else "finished delivery jobs are kept at least a day"
                if name == "delivery_jobs_days"
                else f"a redelivered, delayed or retried command can still arrive up to "
                f"{redelivery.total_seconds():.0f} s after its first attempt (the longest of "
                "INVOICING_RETRY_MISSING_S and INVOICING_RETRY_UNAVAILABLE_S, plus the longest "
                "of INVOICING_RETRY_DELAYS_S, plus INVOICING_TRANSIENT_HOLD_S), and rows are "
                f"kept {MARGIN.total_seconds() / 3600:g} h longer than that"
                + (
                    f", and inbox rows at least {INBOX_FLOOR.days} days"
                    if name == "inbox_days"
                    else ""
                )
            )
            errors.append(
                f"{env}={getattr(settings, name):g} is below the minimum of {floor} days: {why}. "
                f"Set {env} to at least {floor}."
            )
        else:
            chosen[name] = minimum
            notes.append(
                f"{env}: the default {getattr(settings, name):g} days is shorter than the "
                f"redelivery window plus margin; keeping {floor} days"
            )
    if errors:
        raise RetentionConfigError("\n".join(errors))
    return Windows(
        outbox=chosen["outbox_days"],
        inbox=chosen["inbox_days"],
        delivery_attempts=chosen["delivery_attempts_days"],
        delivery_jobs=chosen["delivery_jobs_days"],
        redelivery=redelivery,
        notes=tuple(notes),
    )


def _days(span: dt.timedelta) -> str:
    """Days, rounded up to two decimals (a minimum must not be printed below itself)."""
    return f"{math.ceil(span.total_seconds() / DAY_S * 100) / 100:g}"


@dataclass
class Report:
    """Rows deleted (or, in a dry run, that would be) per table, and the cutoffs used."""

    cutoffs: dict[str, dt.datetime]
    deleted: dict[str, int] = field(
        default_factory=lambda: {
            "outbox": 0,
            "processed_commands": 0,
            "delivery_attempts": 0,
            "delivery_jobs": 0,
        }
    )
    #: inbox rows past the cutoff kept because the dead-letter archive holds their command
    kept_for_dead_letters: int = 0
    batches: int = 0


@dataclass(frozen=True)
class _Table:
    """How one table is cleaned: rows older than the cutoff on ``age``, walked in the order
    (``age``, ``keys``) through the index on ``age``, except those matching ``keep``."""

    name: str
    age: InstrumentedAttribute[Any]
    keys: tuple[InstrumentedAttribute[Any], ...]
    keep: Callable[[], ColumnElement[bool]] | None = None


def _normalized(column: Any) -> ColumnElement[str]:
    """A command id as 32 lower-case hex digits on both backends (SQLite stores UUIDs as hex,
    PostgreSQL renders them with dashes, a dead letter keeps the body's text)."""
    return func.replace(func.lower(cast(column, String)), "-", "")


def _in_dead_letter_archive() -> ColumnElement[bool]:
    """The inbox row's command id is in the dead-letter archive (any status: a redriven dead
    letter can be redriven again with --force)."""
    return exists().where(
        DeadLetter.command_id.is_not(None),
        _normalized(DeadLetter.command_id) == _normalized(ProcessedCommand.command_id),
    )


TABLES = (
    _Table("outbox", OutboxEvent.published_at, (OutboxEvent.id,)),
    _Table(
        "processed_commands",
        ProcessedCommand.processed_at,
        (ProcessedCommand.organization_id, ProcessedCommand.command_id),
        keep=_in_dead_letter_archive,
    ),
    _Table("delivery_attempts", DeliveryAttempt.last_seen_at, (DeliveryAttempt.message_key,)),
    # finished_at is NULL exactly while a job is pending: pending jobs never match the age
    _Table("delivery_jobs", DeliveryJob.finished_at, (DeliveryJob.id,)),
)


def _older(spec: _Table, cutoff: dt.datetime) -> ColumnElement[bool]:
    # ``IS NOT NULL`` spelled out: the outbox's partial index on published rows requires it
    return and_(spec.age.is_not(None), spec.age < cutoff)


def _next_batch(
    spec: _Table, cutoff: dt.datetime, after: Sequence[Any] | None, n: int
) -> Select[Any]:
    """The next ``n`` rows past ``after`` in (age, keys) order: a range scan of the age index
    that stops after ``n`` rows, however many rows are older than the cutoff."""
    query = select(spec.age, *spec.keys).where(_older(spec, cutoff))
    if after is not None:
        last_age, last_keys = after[0], list(after[1:])
        typed = [literal(value, key.type) for value, key in zip(last_keys, spec.keys, strict=True)]
        query = query.where(
            spec.age >= last_age,
            or_(spec.age > last_age, tuple_(*spec.keys) > tuple_(*typed)),
        )
    return query.order_by(spec.age, *spec.keys).limit(n)


def _delete(spec: _Table, cutoff: dt.datetime, keys: list[tuple[Any, ...]]) -> Delete:
    statement = delete(spec.age.class_).where(_older(spec, cutoff))
    if len(spec.keys) == 1:
        statement = statement.where(spec.keys[0].in_([k[0] for k in keys]))
    else:
        statement = statement.where(tuple_(*spec.keys).in_(keys))
    if spec.keep is not None:
        statement = statement.where(~spec.keep())
    return statement


def run(
    engine: Engine,
    settings: RetentionSettings,
    pipeline: PipelineSettings,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Delete what the windows allow, one batch per transaction; return the counts.

    ``now`` is the reference time (UTC); a dry run counts instead of deleting.
    """
    w = windows(settings, pipeline)
    now = now or dt.datetime.now(dt.UTC)
    report = Report(
        cutoffs={
            "outbox": now - w.outbox,
            "processed_commands": now - w.inbox,
            "delivery_attempts": now - w.delivery_attempts,
            "delivery_jobs": now - w.delivery_jobs,
        }
    )
    n = settings.batch_size
    for spec in TABLES:
        cutoff = report.cutoffs[spec.name]
        if dry_run:
            counted = select(func.count()).select_from(spec.age.class_).where(_older(spec, cutoff))
            if spec.keep is not None:
                counted = counted.where(~spec.keep())
            with engine.connect() as conn:
                report.deleted[spec.name] = int(conn.execute(counted).scalar_one())
            continue
        after: Sequence[Any] | None = None
        while True:
            with engine.begin() as conn:
                rows = conn.execute(_next_batch(spec, cutoff, after, n)).all()
                if not rows:
                    break
                keys = [tuple(row[1:]) for row in rows]
                deleted = conn.execute(_delete(spec, cutoff, keys)).rowcount
            after = rows[-1]
            report.batches += 1
            report.deleted[spec.name] += deleted
            log.debug("retention.batch", table=spec.name, selected=len(rows), deleted=deleted)
            if len(rows) < n:
                break
            if settings.batch_pause_s:
                sleep(settings.batch_pause_s)
        log.info(
            "retention.table_done",
            table=spec.name,
            deleted=report.deleted[spec.name],
            cutoff=cutoff.isoformat(),
        )
    inbox = TABLES[1]
    with engine.connect() as conn:
        older = conn.execute(
            select(func.count())
            .select_from(ProcessedCommand)
            .where(_older(inbox, report.cutoffs[inbox.name]))
        ).scalar_one()
    report.kept_for_dead_letters = int(older) - (report.deleted[inbox.name] if dry_run else 0)
    return report
