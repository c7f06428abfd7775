"""``invoicing retention`` on SQLite and PostgreSQL: what goes, what stays, in bounded batches.

Each backend gets a database of its own (retention deletes across organizations, so it must not
run against the session's shared database). Commands are applied through the real bus with a
clock set in the past, so the inbox and outbox rows are the ones production writes.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from invoicing import db, retention
from invoicing.models import OutboxEvent, ProcessedCommand
from invoicing.models.dead_letters import DeadLetter
from invoicing.models.pipeline import DeliveryAttempt
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.workers.settings import PipelineSettings
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from tests.support.client import Client, customer_payload
from tests.support.databases import migrated_url
from tests.support.fakes import fake_deps

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
OLD = NOW - dt.timedelta(days=40)  # past every default window
RECENT = NOW - dt.timedelta(days=3)  # inside every default window


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Engine]]:
    folder = tmp_path_factory.mktemp("retention")
    with migrated_url(request.param, folder, "invoicing_t_retention") as url:
        engine = db.make_engine(url)
        yield url, engine
        engine.dispose()


@pytest.fixture
def engine(database: tuple[str, Engine]) -> Engine:
    return database[1]


def client_at(engine: Engine, when: dt.datetime, org: uuid.UUID | None = None) -> Client:
    bus = Pipeline(engine, fake_deps(clock=lambda: when), LocalOperator())
    return Client(bus, org=org) if org is not None else Client(bus)


def run(engine: Engine, **settings: Any) -> retention.Report:
    return retention.run(
        engine,
        retention.RetentionSettings.model_validate(settings),
        PipelineSettings(),
        now=NOW,
    )


def inbox_ids(engine: Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(select(ProcessedCommand.command_id)).scalars())


def outbox_ids(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(OutboxEvent.id)).scalars())


def publish(engine: Engine, ids: set[int], at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=at))


def archive_dead_letter(engine: Engine, command_id: str, status: str = "dead") -> None:
    with Session(engine) as session, session.begin():
        session.add(
            DeadLetter(
                dedupe_key=uuid.uuid4().hex,
                queue="invoicing.commands.customers",
                routing_key="create_customer",
                reason="test",
                command_id=command_id,
                body=b"{}",
                headers={},
                properties={},
                first_seen_at=OLD,
                archived_at=OLD,
                status=status,
                redriven_at=OLD + dt.timedelta(days=1) if status == "redriven" else None,
            )
        )


def test_the_inbox_keeps_recent_rows_and_every_command_in_the_dead_letter_archive(
    engine: Engine,
) -> None:
    old = client_at(engine, OLD)
    old.setup_org()
    forgotten = uuid.uuid4()
    dead = uuid.uuid4()
    redriven = uuid.uuid4()
    for command_id in (forgotten, dead, redriven):
        old.ok("create_customer", _customer(), command_id=command_id)
    # the archive keeps the body's text: upper case, no dashes, whatever the sender wrote
    archive_dead_letter(engine, str(dead).upper())
    archive_dead_letter(engine, redriven.hex, status="redriven")
    recent = client_at(engine, RECENT, org=old.org)
    young = uuid.uuid4()
    recent.ok("create_customer", _customer(), command_id=young)

    report = run(engine)

    remaining = inbox_ids(engine)
    assert forgotten not in remaining
    assert {dead, redriven, young} <= remaining
    assert report.kept_for_dead_letters >= 2
    # a redrive or a late redelivery of a kept command is still a duplicate, not a second apply
    now = client_at(engine, NOW, org=old.org)
    for command_id in (dead, redriven, young):
        doc = next(d for d in old.sent + recent.sent if d["command_id"] == str(command_id))
        assert now.bus.handle_document(doc).status == "duplicate"


def test_only_published_outbox_rows_past_the_window_go(engine: Engine) -> None:
    old = client_at(engine, OLD)
    old.setup_org()
    for _ in range(3):
        old.ok("create_customer", _customer())
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                select(OutboxEvent.id).where(OutboxEvent.organization_id == old.org)
            ).scalars()
        )
    assert len(rows) == 4
    published_long_ago, published_lately, unpublished = {rows[0], rows[1]}, {rows[2]}, {rows[3]}
    publish(engine, published_long_ago, OLD)
    publish(engine, published_lately, RECENT)

    report = run(engine)

    remaining = outbox_ids(engine)
    assert not published_long_ago & remaining
    assert published_lately | unpublished <= remaining  # an old row not yet published stays
    assert report.deleted["outbox"] >= 2


def test_delivery_attempts_past_the_window_go(engine: Engine) -> None:
    keys = {"old": uuid.uuid4().hex, "recent": uuid.uuid4().hex}
    with Session(engine) as session, session.begin():
        session.add(
            DeliveryAttempt(
                message_key=keys["old"], attempts=3, first_seen_at=OLD, last_seen_at=OLD
            )
        )
        session.add(
            DeliveryAttempt(
                message_key=keys["recent"], attempts=1, first_seen_at=OLD, last_seen_at=RECENT
            )
        )
    run(engine)
    with engine.connect() as conn:
        left = set(conn.execute(select(DeliveryAttempt.message_key)).scalars())
    assert keys["recent"] in left and keys["old"] not in left


def test_batches_are_bounded_and_a_dry_run_deletes_nothing(engine: Engine) -> None:
    old = client_at(engine, OLD)
    old.setup_org()
    for _ in range(6):
        old.ok("create_customer", _customer())
    with engine.connect() as conn:
        ids = set(
            conn.execute(
                select(OutboxEvent.id).where(OutboxEvent.organization_id == old.org)
            ).scalars()
        )
    publish(engine, ids, OLD)
    before = (len(outbox_ids(engine)), len(inbox_ids(engine)))

    dry = retention.run(
        engine,
        retention.RetentionSettings(batch_size=2),
        PipelineSettings(),
        now=NOW,
        dry_run=True,
    )
    assert (len(outbox_ids(engine)), len(inbox_ids(engine))) == before
    assert dry.deleted["outbox"] >= 7 and dry.deleted["processed_commands"] >= 7

    deletes: list[int] = []

    def count_deletes(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", count_deletes)
    try:
        report = retention.run(
            engine, retention.RetentionSettings(batch_size=2), PipelineSettings(), now=NOW
        )
    finally:
        event.remove(engine, "after_cursor_execute", count_deletes)
    assert report.deleted == dry.deleted  # the dry run counted exactly what went
    assert max(deletes) == 2 and len(deletes) == report.batches
    assert report.batches >= 8  # at least 4 for 7 outbox rows, 4 for 7 inbox rows
    again = run(engine)
    assert again.deleted == {
        "outbox": 0,
        "processed_commands": 0,
        "delivery_attempts": 0,
        "delivery_jobs": 0,
    }


def test_the_command_line_reports_and_refuses_a_window_below_the_minimum(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, _engine = database
    env = {
        **os.environ,
        "INVOICING_DATABASE_URL": url,
        "INVOICING_DATA_DIR": str(tmp_path),
        "INVOICING_LOG_FORMAT": "json",
    }
    code = "from invoicing.cli import app; app()"
    ok = subprocess.run(
        [sys.executable, "-c", code, "retention", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        "outbox",
        "processed_commands",
        "delivery_attempts",
    ]
    assert all(" would delete " in line for line in lines[:3])

    refused = subprocess.run(
        [sys.executable, "-c", code, "retention"],
        env={**env, "INVOICING_RETENTION_INBOX_DAYS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "INVOICING_RETENTION_INBOX_DAYS=1 is below the minimum of 7 days" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("resume", [False, True], ids=["first", "next"])
def test_each_batch_query_reads_its_index(engine: Engine, resume: bool) -> None:
    """The batch query of each table is a range scan of its age index (no full scan of a large
    table); on PostgreSQL with sequential scans discouraged, since these test tables are tiny."""
    indexes = {
        "outbox": "ix_outbox_published",
        "processed_commands": "ix_processed_commands_processed_at",
        "delivery_attempts": "ix_delivery_attempts_last_seen_at",
        "delivery_jobs": "ix_delivery_jobs_finished",
    }
    with engine.connect() as conn:
        for spec in retention.TABLES:
            # a batch after the first adds the keyset condition on (age, keys)
            last_keys = {
                "outbox": [7],
                "processed_commands": [uuid.uuid4(), uuid.uuid4()],
                "delivery_attempts": ["0" * 64],
                "delivery_jobs": [uuid.uuid4()],
            }[spec.name]
            after = (OLD - dt.timedelta(days=1), *last_keys) if resume else None
            statement = retention._next_batch(spec, OLD, after, 10)
            sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
                conn.exec_driver_sql("RESET enable_seqscan")
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
                plan = "\n".join(str(r[-1]) for r in rows)
            assert indexes[spec.name] in plan, plan


def _customer() -> dict[str, Any]:
    return customer_payload(uuid.uuid4())


def test_an_unmigrated_database_is_one_line_with_the_fix(tmp_path: Path) -> None:
    env = {**os.environ, "INVOICING_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    result = subprocess.run(
        [sys.executable, "-c", "from invoicing.cli import app; app()", "retention"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "invoicing migrate" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INVOICING_RETENTION_OUTBOX_DAYS", "a week", "INVOICING_RETENTION_OUTBOX_DAYS: Input"),
        ("INVOICING_RETENTION_BATCH_SIZE", "0", "INVOICING_RETENTION_BATCH_SIZE: Input"),
        ("INVOICING_RETRY_UNAVAILABLE_S", "40 days", "INVOICING_RETRY_UNAVAILABLE_S: Input"),
    ],
)
def test_an_invalid_setting_is_named_before_anything_is_deleted(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    env = {
        **os.environ,
        "INVOICING_DATABASE_URL": f"sqlite:///{tmp_path / 'never.sqlite3'}",
        variable: value,
    }
    result = subprocess.run(
        [sys.executable, "-c", "from invoicing.cli import app; app()", "retention"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"retention: {message}"), result.stderr
    assert not (tmp_path / "never.sqlite3").exists()
