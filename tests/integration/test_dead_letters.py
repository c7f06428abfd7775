"""The dead-letter archive and re-drive, against real RabbitMQ and PostgreSQL (and SQLite).

A real worker dead-letters a poison message and a command whose handler fails; a real
``invoicing dead-letters archive`` process stores both with their reasons; after the "fix"
(the worker restarted without the fault) ``invoicing dead-letters redrive`` applies the command
exactly once, also when it is redriven a second time.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid
from typing import Any

import pytest
from invoicing.workers.dead_letters import DeadLetterArchive, describe, list_dead_letters
from invoicing.workers.settings import PipelineSettings
from sqlalchemy import Engine

from tests.e2e.harness import (
    BIN,
    Collector,
    Env,
    Proc,
    Publisher,
    connect,
    module_env,
    relay,
    setup_org,
    wait_for_topology,
    wait_until,
    worker,
)
from tests.support.external import needs_rabbitmq

pytestmark = [pytest.mark.integration]


env = module_env("dead-letters")


def cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, "dead-letters", *args],
        env=env.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def archived(env: Env) -> dict[str, dict[str, Any]]:
    """Archived rows by message id."""
    rows = env.sql(
        "SELECT id, message_id, queue, routing_key, reason, status, headers, body, "
        "first_seen_at, archived_at, redrive_count FROM dead_letters ORDER BY id"
    )
    names = [
        "id",
        "message_id",
        "queue",
        "routing_key",
        "reason",
        "status",
        "headers",
        "body",
        "first_seen_at",
        "archived_at",
        "redrive_count",
    ]
    return {r[1]: dict(zip(names, r, strict=True)) for r in rows}


def ready(env: Env, queue: str) -> int:
    conn = connect(env)
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


@needs_rabbitmq
def test_poison_archived_with_reason_and_fixed_command_redriven_once(env: Env) -> None:
    bug_cmd = str(uuid.uuid4())
    w = worker(
        env,
        "--threads",
        "2",
        INVOICING_FAULTS=json.dumps({"raise": [bug_cmd]}),
        INVOICING_RETRY_DELAYS_S="[1]",
        INVOICING_MAX_FAILURES="2",
    )
    r = relay(env)
    archive = Proc(env, "archive", ["dead-letters", "archive"])
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    try:
        org = setup_org(env, pub, col)
        poison_id = f"poison-{uuid.uuid4()}"
        pub.send_raw(b"this is not json {", "create_invoice", message_id=poison_id)
        invoice_id = str(uuid.uuid4())
        pub.send(org.create_invoice(invoice_id, command_id=bug_cmd))
        wait_until(lambda: {poison_id, bug_cmd} <= set(archived(env)), 60, "both archived")
        rows = archived(env)
        poison, bug = rows[poison_id], rows[bug_cmd]
        assert poison["reason"].startswith("undecodable"), poison["reason"]
        assert "injected handler fault" in bug["reason"] and "failed 2 times" in bug["reason"]
        for row in (poison, bug):
            assert row["queue"] == "invoicing.commands"
            assert row["status"] == "dead" and row["redrive_count"] == 0
            assert row["headers"]["x-invoicing-reason"] == row["reason"]
            assert row["first_seen_at"] <= row["archived_at"]
        assert bytes(poison["body"]) == b"this is not json {"
        assert bug["routing_key"] == "create_invoice"
        assert json.loads(bytes(bug["body"]))["command_id"] == bug_cmd
        # the archive acked only what it stored: nothing is left in the dead-letter queue
        wait_until(lambda: ready(env, "invoicing.dead-letters") == 0, 10, "dead letters acked")
        assert env.sql("SELECT count(*) FROM invoices WHERE id = %s", (invoice_id,))[0][0] == 0

        listed = cli(env, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        ids = {json.loads(line)["message_id"] for line in listed.stdout.splitlines()}
        assert {poison_id, bug_cmd} <= ids

        # --- the fix: the worker runs without the fault; the operator redrives the command
        w.stop()
        w = worker(env, "--threads", "2")
        done = cli(env, "redrive", str(bug["id"]))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["routing_key"] == "create_invoice"
        col.drain(
            lambda ev: any(
                e["type"] == "invoice.created" and e["subject"] == invoice_id for e in ev
            )
        )
        row = archived(env)[bug_cmd]
        assert row["status"] == "redriven" and row["redrive_count"] == 1

        # --- a second redrive is refused, and forced it is a no-op (the inbox knows the id)
        again = cli(env, "redrive", str(bug["id"]))
        assert again.returncode == 1 and "already redriven" in again.stderr
        forced = cli(env, "redrive", str(bug["id"]), "--force")
        assert forced.returncode == 0, forced.stderr
        wait_until(
            lambda: (
                '"command.duplicate"' in w.text()
                and bug_cmd in w.text().split('"command.duplicate"', 1)[1]
            ),
            30,
            "the forced redrive to be seen as a duplicate",
        )
        assert env.sql("SELECT count(*) FROM invoices WHERE id = %s", (invoice_id,))[0][0] == 1
        assert (
            env.sql("SELECT count(*) FROM processed_commands WHERE command_id = %s", (bug_cmd,))[0][
                0
            ]
            == 1
        )
        assert archived(env)[bug_cmd]["redrive_count"] == 2
        assert (
            len(
                [
                    e
                    for e in col.received
                    if e["type"] == "invoice.created" and e["subject"] == invoice_id
                ]
            )
            == 1
        )
        # a poison message redriven is dead again (a new row), never applied
        assert cli(env, "redrive", str(poison["id"])).returncode == 0
        wait_until(
            lambda: (
                len(
                    [
                        1
                        for r in env.sql(
                            "SELECT 1 FROM dead_letters WHERE message_id = %s", (poison_id,)
                        )
                    ]
                )
                == 2
            ),
            30,
            "the redriven poison message archived again",
        )
        missing = cli(env, "redrive", "999999")
        assert missing.returncode == 1 and "no dead letter" in missing.stderr
    finally:
        pub.close()
        w.stop()
        r.stop()
        archive.stop()
    assert "dead_letter.archived" in archive.text()


class _Props:
    """What pika hands a consumer: just the attributes ``describe`` reads."""

    def __init__(self, headers: dict[str, Any], message_id: str | None = None) -> None:
        self.headers = headers
        self.message_id = message_id
        self.content_type = "application/json"
        self.correlation_id = None


def test_archive_dedupes_a_redelivered_dead_letter(engine: Engine) -> None:
    """Stored twice (crash between commit and ack): one row. A later death: a second row."""
    cmd = {
        "type": "finalize_invoice",
        "command_id": str(uuid.uuid4()),
        "organization_id": str(uuid.uuid4()),
        "payload": {"invoice_id": str(uuid.uuid4())},
    }
    body = json.dumps(cmd).encode()
    died = dt.datetime(2026, 11, 20, 10, 0, 0)  # pika gives naive UTC
    headers = {
        "x-death": [
            {
                "queue": "invoicing.commands",
                "reason": "delivery_limit",
                "count": 1,
                "time": died,
                "exchange": "invoicing.commands",
                "routing-keys": [b"finalize_invoice"],
            }
        ],
        "x-first-death-queue": "invoicing.commands",
        "x-blob": b"\xff\x00",
    }
    archive = DeadLetterArchive(engine, PipelineSettings())
    row = describe(body, "invoicing.commands", _Props(headers, cmd["command_id"]))
    assert row["reason"].startswith("broker dead-lettered it from invoicing.commands")
    assert "delivery_limit" in row["reason"]
    assert row["routing_key"] == "finalize_invoice" and row["queue"] == "invoicing.commands"
    assert row["first_seen_at"] == died.replace(tzinfo=dt.UTC)
    assert row["headers"]["x-blob"] == {"base64": "/wA="}
    assert archive.store(row) is True
    again = describe(body, "invoicing.commands", _Props(headers, cmd["command_id"]))
    assert archive.store(again) is False
    later = {
        **headers,
        "x-death": [{**headers["x-death"][0], "time": died + dt.timedelta(hours=1)}],
    }
    assert archive.store(describe(body, "invoicing.commands", _Props(later, cmd["command_id"])))
    mine = [
        d for d in list_dead_letters(engine, limit=100_000) if d.command_id == cmd["command_id"]
    ]
    assert len(mine) == 2
    assert {d.headers["x-death"][0]["time"][:13] for d in mine} == {
        "2026-11-20T10",
        "2026-11-20T11",
    }
    assert mine[0].body == body and mine[0].status == "dead"


# --------------------------------------------------------------------------- any body


SHAPES: dict[str, bytes] = {
    "deep-array": b"[" * 10_000 + b"]" * 10_000,
    "deep-object": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "huge": b'{"type": "create_invoice", "payload": "' + b"x" * (8 * 1024 * 1024) + b'"}',
    "binary": bytes(range(256)) * 16,
    "not-utf8": "Rechnung für Müller".encode("latin-1"),
    "not-json": b"this is not json {",
    "empty": b"",
    "nul-and-surrogate-ids": (
        b'{"type": "create\\u0000invoice", "command_id": "\\ud800\\u0000", '
        b'"organization_id": "not-a-uuid", "payload": {}}'
    ),
    "overlong-ids": json.dumps(
        {"type": "t" * 1000, "command_id": "c" * 1000, "organization_id": str(uuid.uuid4())}
    ).encode(),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_archive_stores_any_body(engine: Engine, shape: str) -> None:
    """Whatever the body, the archive stores it as it came (and never raises)."""
    body = SHAPES[shape]
    message_id = f"{shape}-{uuid.uuid4()}"
    headers: dict[str, Any] = {
        "x-invoicing-reason": f"undecodable: {shape}",
        "x-invoicing-queue": "invoicing.commands",
        "x-nul": "a\x00b",
        "x-binary": b"\xff\xfe\x00",
        "x-nested": {"a": {"b": {"c": [1, 2, {"d": b"\x80"}]}}},
    }
    archive = DeadLetterArchive(engine, PipelineSettings())
    assert archive.archive(body, "invoicing.commands", _Props(headers, message_id)) == "stored"
    [row] = [
        d
        for d in list_dead_letters(engine, status=None, limit=100_000)
        if d.message_id == message_id
    ]
    assert bytes(row.body) == body
    assert row.reason == f"undecodable: {shape}"
    assert row.headers["x-nul"] == "a\ufffdb"
    assert row.headers["x-binary"] == {"base64": "//4A"}


def test_archive_stores_deep_header_tables_and_overlong_properties(engine: Engine) -> None:
    deep: Any = "bottom"
    for _ in range(200):
        deep = {"x": deep}
    props = _Props({"x-deep": deep}, "m" * 1000)
    archive = DeadLetterArchive(engine, PipelineSettings())
    assert archive.archive(b"{}", "invoicing.commands", props) == "stored"
    [row] = [
        d
        for d in list_dead_letters(engine, status=None, limit=100_000)
        if d.message_id == "m" * 255
    ]
    assert "nested deeper than" in json.dumps(row.headers)
    assert row.reason.startswith("unknown")


def test_archive_keeps_the_body_when_the_headers_cannot_be_described(engine: Engine) -> None:
    class Hostile:
        headers = {"x-death": [{"time": dt.datetime(2026, 1, 1), "queue": "q"}]}
        message_id = "hostile-" + str(uuid.uuid4())

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

    archive = DeadLetterArchive(engine, PipelineSettings())
    assert archive.archive(b"\x00body", "invoicing.commands", Hostile()) == "stored"
    [row] = [
        d
        for d in list_dead_letters(engine, status=None, limit=100_000)
        if d.message_id == Hostile.message_id
    ]
    assert bytes(row.body) == b"\x00body"
    assert "headers not stored" in row.headers["x-invoicing-archive-note"]
