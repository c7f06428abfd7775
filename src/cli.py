"""The ``invoicing`` command line (Typer)."""

from __future__ import annotations

import json
import os
import select
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from invoicing.config import get_settings

if TYPE_CHECKING:
    from invoicing.bootstrap import App
    from invoicing.pipeline import Outcome

# no local variables in tracebacks: they would print message bodies and credentials
app = typer.Typer(
    no_args_is_help=True,
    help="Message-driven invoicing service.",
    pretty_exceptions_show_locals=False,
)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic, every branch to its head)."""
    from invoicing import db, logs
    from sqlalchemy.exc import OperationalError

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    url = settings.effective_database_url()
    try:
        db.migrate(url)
    except OperationalError as exc:
        # cannot connect (no server, no such database, refused login): one line, not a traceback
        from invoicing.workers.health import describe_database

        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
        typer.echo(
            f"invoicing migrate: {describe_database(url)}: {reason}; start the database, create "
            "it (createdb -h HOST -U USER NAME) or set DATABASE_URL",
            err=True,
        )
        raise typer.Exit(code=1) from None
    typer.echo(f"migrated {url.split('@')[-1]}", err=True)


def ready_lines(fd: int, most: int) -> Iterator[list[tuple[int, bytes]]]:
    """The non-empty lines of ``fd`` with their line numbers, in groups of up to ``most`` of
    those that have arrived: a file gives full groups; a pipe or a terminal what is there,
    so that a command piped in slowly is never held back waiting for more."""
    buffer, number, ended = bytearray(), 0, False
    pending: list[tuple[int, bytes]] = []
    while pending or not ended:
        while not ended and len(pending) < most and (not pending or _waiting(fd)):
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                ended, lines = True, [bytes(buffer)] if buffer else []
            elif b"\n" in chunk:
                buffer += chunk
                *lines, rest = bytes(buffer).split(b"\n")
                buffer = bytearray(rest)
            else:
                buffer += chunk
                continue
            for line in lines:
                number += 1
                if line.strip():
                    pending.append((number, line))
        group, pending = pending[:most], pending[most:]
        if group:
            yield group


def _waiting(fd: int) -> bool:
    """More input can be read from ``fd`` without waiting (always, for a regular file)."""
    return bool(select.select([fd], [], [], 0)[0])


@app.command()
def process(
    file: Annotated[str, typer.Argument(help="JSONL file of commands, - for stdin")] = "-",
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            min=1,
            help="commands that may share one transaction (1: a transaction per command)",
        ),
    ] = 100,
) -> None:
    """Run commands in-process (no broker) and print the resulting events as JSON lines.

    Uses the same handlers as the workers. With no configuration the embedded SQLite database
    is used and migrated; DATABASE_URL selects PostgreSQL (run `invoicing migrate` first).
    Up to --batch commands share a transaction, each atomic on its own (a savepoint each
    when one of them has to be undone); a pipe's commands are not held back waiting for more
    (docs/pipeline.md, "invoicing process"). After each transaction, the deliveries its
    commands recorded (emails) run here, each as its own step, and their events are printed
    too, in the order of the lines.
    Exit status 0 even when commands are rejected (they are events); 75 (EX_TEMPFAIL) when
    some deliveries wait for an outside service (the mail server): their commands are applied
    and the emails stay queued; running the same file again (or `invoicing deliver`) sends
    them; 1 when a line failed otherwise (an infrastructure error): that line is reported and
    not applied, and the lines after it are still processed.
    """
    from invoicing import bootstrap
    from invoicing.observability.progress import count_lines, progress_bar
    from invoicing.pipeline.bulk import Bulk
    from invoicing.workers import gc_pauses

    if file != "-" and not Path(file).is_file():
        typer.echo(
            f"invoicing process: {file}: no such file; give a JSONL file of commands "
            "(e.g. examples/lifecycle.jsonl) or - for stdin",
            err=True,
        )
        raise typer.Exit(code=2)
    settings = get_settings()
    url = settings.effective_database_url()
    if not url.startswith("sqlite"):  # the embedded SQLite database migrates itself
        from invoicing.workers.health import check_database

        check = check_database(url)
        if not check.ok:
            typer.echo(f"invoicing process: {check.detail}; {check.fix}", err=True)
            raise typer.Exit(code=1)
    application = bootstrap.local()
    # as the workers do: what start-up built is moved out of the collector's reach, so a full
    # collection during a long file no longer visits it (about 130 ms each, twice in 2,000
    # commands: 0.13 ms a command; docs/pipeline.md, "Collector pauses")
    gc_pauses.settle()
    bulk = Bulk(application.pipeline, batch)
    fd = sys.stdin.fileno() if file == "-" else os.open(file, os.O_RDONLY)
    counts = {"applied": 0, "duplicate": 0, "rejected": 0, "unavailable": 0, "failed": 0}
    try:
        with progress_bar("commands", count_lines(file), unit="commands") as advance:
            for group in ready_lines(fd, batch):
                outcomes = bulk.run([body for _, body in group])
                for (number, _), outcome in zip(group, outcomes, strict=True):
                    advance(1)
                    _report(application, number, outcome, counts)
    finally:
        if file != "-":
            os.close(fd)
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()), err=True)
    if counts["duplicate"]:
        where = url.split("@")[-1]
        typer.echo(
            f"{counts['duplicate']} command(s) were applied before (same command_id in {where}) "
            "and print no events again; to start afresh use an empty database: "
            "INVOICING_DATA_DIR=$(mktemp -d) (or delete the embedded database file)",
            err=True,
        )
    if counts["failed"]:
        raise typer.Exit(code=1)
    if counts["unavailable"]:
        raise typer.Exit(code=75)  # EX_TEMPFAIL: try again later


def _report(
    application: App, number: int, outcome: Outcome | Exception, counts: dict[str, int]
) -> None:
    """One line's outcome: its events (and those of the deliveries it recorded, run now, after
    its commit) on stdout; a failure or a delivery left waiting on stderr."""
    if isinstance(outcome, Exception):  # one line's failure must not leave the later ones undone
        counts["failed"] += 1
        typer.echo(
            f"line {number}: failed ({type(outcome).__name__}: {outcome}); the command was not "
            "applied",
            err=True,
        )
        return
    counts[outcome.status] += 1
    events = list(outcome.events)
    waiting = []
    if (
        outcome.status != "rejected"
        and application.deliverer.may_schedule(outcome.command_type)
        and outcome.command_id
        and outcome.organization_id
    ):
        for step in application.deliverer.run_for_command(
            uuid.UUID(outcome.organization_id), uuid.UUID(outcome.command_id)
        ):
            events += step.events
            if step.unavailable:
                waiting.append(step.error or "unavailable")
    for event in events:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if waiting:
        counts["unavailable"] += 1
        typer.echo(
            f"line {number}: {len(waiting)} delivery(ies) wait for an outside service "
            f"({waiting[0][:300]}); the command is applied and the email queued; "
            "process the line again later (or run `invoicing deliver`)",
            err=True,
        )


@app.command()
def retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be deleted, delete nothing")
    ] = False,
) -> None:
    """Delete published outbox rows, processed commands, delivery attempts and finished
    delivery jobs past retention.

    Windows from INVOICING_RETENTION_OUTBOX_DAYS (7), _INBOX_DAYS (30), _DELIVERY_ATTEMPTS_DAYS
    (7) and _DELIVERY_JOBS_DAYS (90); never below what a redelivery could still need
    (docs/pipeline.md, "Retention"): a setting below the minimum is refused (exit 2).
    Unpublished outbox rows, pending delivery jobs and inbox rows of commands in the
    dead-letter archive are never deleted. Deletes in batches of
    INVOICING_RETENTION_BATCH_SIZE rows, one transaction each; safe to stop and to run again.
    """
    from invoicing import db, logs, retention
    from invoicing.workers.settings import PipelineSettings
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    try:
        retention_settings = retention.RetentionSettings()
        pipeline = PipelineSettings()
        windows = retention.windows(retention_settings, pipeline)
    except ValidationError as exc:
        prefix = "INVOICING_RETENTION_" if exc.title == "RetentionSettings" else "INVOICING_"
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"retention: {prefix}{field}: {error['msg']}", err=True)
        raise typer.Exit(code=2) from None
    except retention.RetentionConfigError as exc:
        typer.echo(f"retention: {exc}", err=True)
        raise typer.Exit(code=2) from None
    for note in windows.notes:
        typer.echo(f"retention: {note}", err=True)
    engine = db.make_engine(
        settings.effective_database_url(),
        lock_timeout_ms=settings.lock_timeout_ms,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    try:
        report = retention.run(engine, retention_settings, pipeline, dry_run=dry_run)
    except SQLAlchemyError as exc:
        # every finished batch is committed: running it again goes on where this one stopped
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
        typer.echo(
            f"retention: stopped by a database error ({reason}); the batches before it are "
            "done, run it again (is the schema migrated? `invoicing migrate`)",
            err=True,
        )
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    for table, count in report.deleted.items():
        cutoff = report.cutoffs[table].isoformat(timespec="seconds")
        typer.echo(f"{table}: {verb} {count} rows older than {cutoff}")
    if report.kept_for_dead_letters:
        typer.echo(
            f"processed_commands: kept {report.kept_for_dead_letters} older rows whose command "
            "is in the dead-letter archive (a redrive must find them)"
        )


@app.command()
def deliver(
    all_pending: Annotated[
        bool, typer.Option("--all", help="also the jobs whose next attempt is not due yet")
    ] = False,
) -> None:
    """Run the queued deliveries (emails) once, each as its own step, and print their events.

    Workers do this continuously; this is for the embedded database (`invoicing process`) or
    an operator who does not want to wait for the next retry. Exit status 75 when some still
    wait for the mail server."""
    from invoicing import bootstrap

    application = bootstrap.local()
    steps = application.deliverer.run_pending(due_only=not all_pending)
    for step in steps:
        for event in step.events:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    typer.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing due", err=True)
    if any(step.unavailable for step in steps):
        raise typer.Exit(code=75)


@app.command("documents-import")
def documents_import(
    batch: Annotated[int, typer.Option(help="documents per transaction")] = 100,
) -> None:
    """Move the bytes of documents stored as files (before migration 0020, or with
    INVOICING_DOCUMENTS_BACKEND=directory) into the database, each verified against its
    SHA-256 first; one transaction per batch, safe to stop and to run again. The files stay:
    remove INVOICING_DOCUMENTS_DIR once it reports 0 left."""
    from invoicing import bootstrap
    from invoicing.documents.store import DocumentSettings
    from sqlalchemy.orm import Session

    application = bootstrap.local()
    store = DocumentSettings().store(application.settings.data_dir)
    moved = 0
    try:
        while True:
            with Session(application.engine) as session, session.begin():
                count = store.import_files(session, batch)
            moved += count
            if count < batch:
                break
    finally:
        application.engine.dispose()
    typer.echo(f"moved {moved} documents into the database, 0 left", err=True)


def main() -> None:  # pragma: no cover
    app()


# the message pipeline: worker, relay, publish, health, rabbitmq-definitions (src/workers/cli.py)
from invoicing.workers.cli import register as _register_pipeline  # noqa: E402

_register_pipeline(app)

# reads for people: invoicing query invoices|invoice|open-items|... (src/queries/cli.py)
from invoicing.queries.cli import query_app as _query_app  # noqa: E402

app.add_typer(_query_app, name="query")

# the public contract as AsyncAPI 3.0: invoicing asyncapi --output docs/asyncapi.yaml
from invoicing.asyncapi import register as _register_asyncapi  # noqa: E402

_register_asyncapi(app)

# the hosted invoice page: invoicing web (src/web/)
from invoicing.web.cli import register as _register_web  # noqa: E402

_register_web(app)


if __name__ == "__main__":  # pragma: no cover
    app()
