"""The ``invoicing`` command line (Typer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from invoicing.config import get_settings

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

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    db.migrate(settings.effective_database_url())
    typer.echo(f"migrated {settings.effective_database_url().split('@')[-1]}", err=True)


@app.command()
def process(
    file: Annotated[str, typer.Argument(help="JSONL file of commands, - for stdin")] = "-",
) -> None:
    """Run commands in-process (no broker) and print the resulting events as JSON lines.

    Uses the same handlers as the workers. With no configuration the embedded SQLite database
    is used and migrated; DATABASE_URL selects PostgreSQL (run `invoicing migrate` first).
    Exit status 0 even when commands are rejected (they are events); 75 (EX_TEMPFAIL) when
    some lines could not be done because an outside service (the mail server) was unavailable:
    nothing of those was applied, running the same file again does them; 1 on other
    infrastructure errors.
    """
    from invoicing import bootstrap
    from invoicing.domain.errors import ServiceUnavailable

    application = bootstrap.local()
    stream = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
    counts = {"applied": 0, "duplicate": 0, "rejected": 0, "unavailable": 0}
    with stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                outcome = application.pipeline.handle_raw(raw)
            except ServiceUnavailable as exc:
                # nothing was committed: the same line can be processed again later
                counts["unavailable"] += 1
                typer.echo(
                    f"line {number}: not done, an outside service is unavailable ({exc}); "
                    "the command was not applied; process the line again later",
                    err=True,
                )
                continue
            counts[outcome.status] += 1
            for event in outcome.events:
                sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
            sys.stdout.flush()
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()), err=True)
    if counts["unavailable"]:
        raise typer.Exit(code=75)  # EX_TEMPFAIL: try again later


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


if __name__ == "__main__":  # pragma: no cover
    app()
