"""CLI commands of the message pipeline, registered on the ``invoicing`` Typer app."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command()(worker)
    app.command()(relay)
    app.command()(publish)
    app.command()(health)
    app.command()(scheduler)
    app.command()(token)
    app.command(name="rabbitmq-definitions")(rabbitmq_definitions)
    app.add_typer(dead_letters_app, name="dead-letters")


dead_letters_app = typer.Typer(
    no_args_is_help=True,
    help="The dead-letter archive: archive (a process), list, show, redrive.",
)


def _settings() -> tuple[Any, Any]:
    from invoicing import logs
    from invoicing.config import get_settings
    from invoicing.workers.settings import get_pipeline_settings

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    return settings, get_pipeline_settings()


def worker(
    processes: Annotated[int | None, typer.Option(help="worker processes")] = None,
    threads: Annotated[int | None, typer.Option(help="threads per process")] = None,
    batch: Annotated[
        int | None, typer.Option(help="commands per transaction at most (1: no batching)")
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option(help="workloads: commands,documents,exports,billing and queries"),
    ] = None,
) -> None:
    """Consume commands from RabbitMQ and run them (ack after commit). Stops cleanly on SIGTERM."""
    from invoicing.workers.runner import run_workers

    settings, pipeline = _settings()
    update: dict[str, Any] = {}
    if processes is not None:
        update["worker_processes"] = processes
    if threads is not None:
        update["worker_threads"] = threads
    if queues is not None:
        update["worker_queues"] = queues
    if batch is not None:
        update["worker_batch"] = batch
    raise typer.Exit(run_workers(settings, pipeline.model_copy(update=update)))


def token(
    org: Annotated[list[str], typer.Option(help="organization id (repeatable), or *")],
    scopes: Annotated[str, typer.Option(help="comma-separated scopes")] = (
        "invoices:read,invoices:write"
    ),
    subject: Annotated[str, typer.Option(help="who the token is for (sub)")] = "operator",
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 3600,
) -> None:
    """Print a signed command token (HS256 with INVOICING_JWT_SECRET) for publishers."""
    from invoicing.pipeline.authenticate import issue_token

    _, pipeline = _settings()
    if not pipeline.jwt_secret:
        typer.echo("INVOICING_JWT_SECRET is not set", err=True)
        raise typer.Exit(2)
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    typer.echo(issue_token(pipeline.jwt_secret, subject, dict.fromkeys(org, wanted), ttl_s=ttl))


def scheduler(
    once: Annotated[bool, typer.Option(help="one tick, then exit (cron style)")] = False,
    in_process: Annotated[
        bool, typer.Option(help="run the commands through the bus here instead of RabbitMQ")
    ] = False,
    interval: Annotated[float, typer.Option(help="seconds between ticks")] = 3600.0,
    types: Annotated[
        str, typer.Option(help="comma-separated scheduled command types")
    ] = "check_overdue,send_dunning_notices",
) -> None:
    """Publish time-driven commands (check_overdue ...) per organization, once a day each."""
    from invoicing import bootstrap
    from invoicing.workers.scheduler import publish_via_broker, run

    settings, pipeline = _settings()
    if not once:
        from invoicing.workers.observe import start_process_observability

        start_process_observability("scheduler")  # /metrics and heartbeat
    app = bootstrap.local(settings, configure_logging=False)
    wanted = [t.strip() for t in types.split(",") if t.strip()]

    def submit(docs: list[dict[str, Any]]) -> None:
        if in_process:
            for doc in docs:
                out = app.pipeline.handle_document(doc)
                if (
                    out.status != "rejected"
                    and app.deliverer.may_schedule(out.command_type)
                    and out.command_id
                    and out.organization_id
                ):
                    app.deliverer.run_for_command(  # the notices, each its own step
                        uuid.UUID(out.organization_id), uuid.UUID(out.command_id)
                    )
        else:
            publish_via_broker(docs, pipeline.amqp_url, pipeline.jwt_secret)

    count = run(app.engine, submit, types=wanted, interval_s=interval, once=once)
    typer.echo(f"scheduled={count}", err=True)


def relay() -> None:
    """Publish outbox rows to the `invoicing.events` exchange (one active relay per database)."""
    from invoicing.observability.outbox import register_outbox_collector
    from invoicing.workers.observe import start_process_observability
    from invoicing.workers.relay import run_relay

    settings, pipeline = _settings()
    start_process_observability("relay")  # /metrics (INVOICING_METRICS_PORT) and heartbeat
    register_outbox_collector(_engine(settings, pool_size=1))  # backlog gauges at scrape time
    raise typer.Exit(run_relay(settings.effective_database_url(), pipeline))


def publish(
    file: Annotated[str, typer.Argument(help="JSONL file of commands, - for stdin")],
    token: Annotated[
        str | None, typer.Option(help="credentials.token for commands that carry none")
    ] = None,
    declare: Annotated[bool, typer.Option(help="declare the topology first")] = True,
    wait: Annotated[
        bool,
        typer.Option(
            help="publish one command at a time and wait for its first event (needs a relay): "
            "a script whose commands depend on each other then runs in order"
        ),
    ] = False,
    wait_timeout: Annotated[float, typer.Option(help="seconds to wait per command")] = 30.0,
) -> None:
    """Publish commands (one JSON object per line) to `invoicing.commands`, with confirms.

    Workers run commands concurrently, so commands of one invoice published together may run
    in any order (a payment before its finalize is rejected). ``--wait`` keeps a script's order.
    """
    import pika  # type: ignore[import-untyped]
    from invoicing.workers.amqp import ConfirmingPublisher, Outgoing, connect, declaring_channel
    from invoicing.workers.topology import COMMANDS_EXCHANGE, EVENTS_EXCHANGE
    from invoicing.workers.topology import declare as declare_topology

    _, pipeline = _settings()
    publisher = ConfirmingPublisher(pipeline.amqp_url)
    if declare:
        with declaring_channel(pipeline.amqp_url) as channel:
            declare_topology(channel, pipeline)
    listener = None
    if wait:
        listener = connect(pipeline.amqp_url).channel()
        # exclusive (gone with the connection), not auto-delete: we cancel and consume again
        events_queue = listener.queue_declare("", exclusive=True).method.queue
        listener.queue_bind(events_queue, EVENTS_EXCHANGE, "#")

    def await_outcome(command_id: str) -> None:
        assert listener is not None
        deadline = time.monotonic() + wait_timeout
        for _method, _props, body in listener.consume(
            events_queue, auto_ack=True, inactivity_timeout=0.5
        ):
            if body is not None and json.loads(body).get("commandid") == command_id:
                break
            if time.monotonic() > deadline:
                typer.echo(
                    f"{command_id}: no event within {wait_timeout} s "
                    "(a repeated command emits none); going on",
                    err=True,
                )
                break
        listener.cancel()

    from invoicing.observability.progress import count_lines, progress_bar

    stream = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
    sent = 0
    batch: list[Outgoing] = []
    with stream, progress_bar("published", count_lines(file), unit="commands") as advance:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            advance(1)
            try:
                doc = json.loads(line)
            except ValueError as exc:
                typer.echo(f"line {n}: not JSON ({exc}); skipped", err=True)
                continue
            if token and isinstance(doc, dict) and not doc.get("credentials"):
                doc["credentials"] = {"token": token}
            body = json.dumps(doc, ensure_ascii=False).encode()
            ctype = str(doc.get("type", "")) if isinstance(doc, dict) else ""
            props = pika.BasicProperties(
                delivery_mode=2,
                content_type="application/json",
                message_id=str(doc.get("command_id")) if isinstance(doc, dict) else None,
                correlation_id=doc.get("correlation_id") if isinstance(doc, dict) else None,
                timestamp=int(time.time()),
                app_id="invoicing-cli",
            )
            batch.append(Outgoing(COMMANDS_EXCHANGE, ctype, body, props))
            if wait:
                publisher.publish_batch(batch)
                sent += len(batch)
                batch = []
                if isinstance(doc, dict):
                    await_outcome(str(doc.get("command_id")))
            if len(batch) >= 100:
                publisher.publish_batch(batch)
                sent += len(batch)
                batch = []
        publisher.publish_batch(batch)
        sent += len(batch)
    publisher.close()
    typer.echo(f"published={sent}", err=True)


def health(
    db: Annotated[bool, typer.Option(help="check the database")] = True,
    broker: Annotated[bool, typer.Option(help="check RabbitMQ")] = True,
    liveness: Annotated[
        bool,
        typer.Option(
            "--liveness",
            help="check this container's process heartbeats instead (INVOICING_HEARTBEAT_DIR)",
        ),
    ] = False,
    role: Annotated[
        str | None, typer.Option(help="with --liveness: only worker, relay, archive, ...")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead")] = False,
) -> None:
    """Readiness: one line per dependency (database, broker), exit 0 when all answer.

    With --liveness: exit 0 when every live process of this container beat recently (a stuck
    worker stops beating; a broker outage does not stop the beat).
    """
    from invoicing.config import get_settings
    from invoicing.workers.health import Check, check_broker, check_database
    from invoicing.workers.settings import get_pipeline_settings

    checks: list[Check] = []
    if liveness:
        from invoicing.observability.heartbeat import liveness as beats

        alive, lines = beats(role=role)
        checks = [Check("heartbeat", alive, "; ".join(lines))]
        for line in lines:
            if not as_json:
                typer.echo(line)
    else:
        settings = get_settings()
        if db:
            checks.append(check_database(settings.effective_database_url()))
        if broker:
            checks.append(check_broker(get_pipeline_settings().amqp_url))
        if not as_json:
            for check in checks:
                typer.echo(check.line())
    healthy = all(c.ok for c in checks)
    if as_json:
        report = {c.name: "ok" if c.ok else c.line().split(": ", 1)[1] for c in checks}
        typer.echo(json.dumps({"healthy": healthy, **report}))
    raise typer.Exit(0 if healthy else 1)


def rabbitmq_definitions() -> None:
    """Print the RabbitMQ definitions (queues, exchanges, bindings) for `import_definitions`."""
    from invoicing.workers.topology import render_definitions

    _, pipeline = _settings()
    sys.stdout.write(render_definitions(pipeline))


def _engine(settings: Any, pool_size: int = 5) -> Any:
    from invoicing import db

    return db.make_engine(settings.effective_database_url(), pool_size=pool_size)


@dead_letters_app.command("archive")
def dead_letters_archive() -> None:
    """Consume `invoicing.dead-letters` into the `dead_letters` table (ack after commit)."""
    import signal
    import threading

    from invoicing.workers.dead_letters import DeadLetterArchive
    from invoicing.workers.observe import start_process_observability

    settings, pipeline = _settings()
    start_process_observability("archive")  # /metrics (INVOICING_METRICS_PORT) and heartbeat
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    engine = _engine(settings)
    DeadLetterArchive(engine, pipeline, stop=stop).run()
    engine.dispose()


@dead_letters_app.command("list")
def dead_letters_list(
    all_: Annotated[bool, typer.Option("--all", help="include redriven ones")] = False,
    limit: Annotated[int, typer.Option(help="at most this many rows")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Archived dead letters (not yet redriven, unless --all), oldest first."""
    from invoicing.workers.dead_letters import list_dead_letters, rows_as_dicts

    settings, _ = _settings()
    engine = _engine(settings)
    rows = list(
        rows_as_dicts(list_dead_letters(engine, status=None if all_ else "dead", limit=limit))
    )
    engine.dispose()
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
        else:
            reason = " ".join(str(row["reason"]).split())
            typer.echo(
                f"{row['id']:>6}  {row['status']:<8}  {row['archived_at'][:19]}  "
                f"{row['queue']:<20}  {row['routing_key']:<24}  "
                f"{row['command_id'] or row['message_id'] or '-'}  "
                f"{reason[:100]}"
            )
    if not as_json:
        typer.echo(f"{len(rows)} dead letter(s)", err=True)


@dead_letters_app.command("show")
def dead_letters_show(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID")],
) -> None:
    """One archived dead letter with its headers and body, as JSON."""
    from invoicing.workers.dead_letters import get_dead_letter, rows_as_dicts

    settings, _ = _settings()
    engine = _engine(settings)
    row = get_dead_letter(engine, dead_letter_id)
    engine.dispose()
    if row is None:
        typer.echo(f"no dead letter {dead_letter_id}", err=True)
        raise typer.Exit(1)
    doc = next(rows_as_dicts([row]))
    doc.update(headers=row.headers, properties=row.properties)
    doc["body"] = row.body.decode(errors="replace")
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@dead_letters_app.command("redrive")
def dead_letters_redrive(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID")],
    force: Annotated[bool, typer.Option(help="send again although already redriven")] = False,
    routing_key: Annotated[
        str | None, typer.Option(help="override the routing key (default: the command type)")
    ] = None,
) -> None:
    """Re-publish the original body to `invoicing.commands` (confirmed), mark it redriven."""
    from invoicing.workers.amqp import PublishError
    from invoicing.workers.dead_letters import RedriveError, redrive

    settings, pipeline = _settings()
    engine = _engine(settings)
    try:
        done = redrive(engine, pipeline, dead_letter_id, force=force, routing_key=routing_key)
    except (RedriveError, PublishError) as exc:
        typer.echo(f"not redriven: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(
        json.dumps(
            {
                "redriven": done.id,
                "routing_key": done.routing_key,
                "message_id": done.message_id,
                "redrive_count": done.redrive_count,
            }
        )
    )
