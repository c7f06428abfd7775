"""No log line carries credentials or whole message bodies, on every logging path of the
pipeline and the worker: rejections, unauthorized senders, undecodable bodies, crashes with
tracebacks, the standard library's loggers (dramatiq, pika) and the CLI's own traceback."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import structlog
from invoicing import logs
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import TokenOrUserAuthenticator, issue_token
from invoicing.pipeline.decode import Limits
from sqlalchemy import Engine

from tests.support.client import DE_ORG, Client, line
from tests.support.fakes import fake_deps

SECRET = "a-test-secret-of-at-least-32-bytes!!"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """structlog and the root logger writing JSON lines into one buffer, as in production."""
    out = io.StringIO()
    saved = structlog.get_config()
    root = logging.getLogger()
    handler = logging.StreamHandler(out)
    root.addHandler(handler)
    logs.configure("json", "INFO")
    structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=out))
    try:
        yield out
    finally:
        root.removeHandler(handler)
        structlog.configure(**saved)


@pytest.fixture
def guarded(engine: Engine) -> tuple[Client, str]:
    org = uuid.uuid4()
    token = issue_token(SECRET, "billing", {str(org): ["invoices:write", "organizations:admin"]})
    pipeline = Pipeline(
        engine,
        fake_deps(),
        TokenOrUserAuthenticator(SECRET),
        limits=Limits(max_bytes=64 * 1024, max_depth=32),
    )
    client = Client(pipeline, org=org)
    client.ok("configure_organization", DE_ORG, credentials={"token": token})
    return client, token


def _assert_clean(text: str, token: str) -> None:
    _header, claims, signature = token.split(".")
    assert token not in text
    assert claims[:16] not in text and signature[:12] not in text  # not even a part of it
    for line_ in text.splitlines():
        assert len(line_) < 6000, "a body-sized log line"


def test_rejections_and_unauthorized_senders(
    guarded: tuple[Client, str], captured: io.StringIO
) -> None:
    client, token = guarded
    forged = jwt.encode(
        {"sub": "x", "exp": int(time.time()) + 60, "orgs": {"*": ["*"]}},
        "another-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
    )
    expired = issue_token(SECRET, "billing", {str(client.org): ["invoices:write"]}, ttl_s=-120)
    bad = {"id": str(uuid.uuid4()), "currency": "EURO", "notes": "x" * 4000, "lines": [line()]}
    client.rejected("create_invoice", bad, credentials={"token": token})
    for other in (forged, expired):
        errors = client.rejected("create_invoice", bad, credentials={"token": other})
        assert errors[0]["status"] == "403"
        _assert_clean(captured.getvalue(), other)
    doc = client.doc("create_invoice", bad, credentials={"token": token})
    body = json.dumps(doc).encode()
    assert client.bus.handle_raw(body[:-40]).errors[0]["code"] == "invalid_json"
    huge = json.dumps({**doc, "payload": {**bad, "notes": "y" * 100_000}}).encode()
    assert client.bus.handle_raw(huge).errors[0]["code"] == "body_too_large"
    text = captured.getvalue()
    events = [json.loads(x)["event"] for x in text.splitlines()]
    assert {"command.rejected", "command.unauthorized", "command.undecodable"} <= set(events)
    _assert_clean(text, token)


def test_tracebacks_and_standard_logging(captured: io.StringIO) -> None:
    token = issue_token(SECRET, "billing", {"*": ["invoices:write"]})
    body = json.dumps({"credentials": {"token": token}, "payload": {"notes": "z" * 5000}})
    log = structlog.get_logger("invoicing.test")
    try:
        raise ValueError(f"cannot handle {body}")
    except ValueError:
        log.error("command.failed", exc_info=True, body=body, authorization=f"Bearer {token}")
    try:
        raise RuntimeError(f"amqp://invoicing:hunter2-secret@rabbit/ {body}")
    except RuntimeError:
        logging.getLogger("dramatiq.worker.WorkerThread").exception(
            "Failed to process message %s with unhandled exception.", body
        )
    logging.getLogger("pika.connection").warning("frame %r", body.encode())
    text = captured.getvalue()
    _assert_clean(text, token)
    assert "hunter2" not in text
    assert "z" * 1000 not in text
    assert "characters withheld" in text
    assert "ValueError" in text and "RuntimeError" in text  # the tracebacks are still there


def test_the_worker_crash_path(engine: Engine, captured: io.StringIO) -> None:
    """A handler bug: retried, then dead-lettered; the logs show the exception, not the body."""
    import threading

    import dramatiq
    from invoicing.models.pipeline import ScheduledCommand
    from invoicing.workers.broker import ACTORS, make_broker
    from invoicing.workers.delivery import H_FAILURES, Delivery, Outbound
    from invoicing.workers.settings import PipelineSettings
    from prometheus_client import REGISTRY
    from sqlalchemy import select

    token = issue_token(SECRET, "billing", {"*": ["invoices:write"]})
    body = json.dumps(
        {
            "type": "create_invoice",
            "command_id": str(uuid.uuid4()),
            "organization_id": str(uuid.uuid4()),
            "credentials": {"token": token},
            "payload": {"notes": "q" * 8000},
        }
    ).encode()

    def exploding(delivery: Delivery) -> Any:
        raise RuntimeError(f"handler bug on {delivery.body.decode()}")

    published: list[Any] = []

    class Publisher:
        def publish(self, message: Any) -> None:
            published.append(message)

    settings = PipelineSettings(max_failures=2)
    stop = threading.Event()
    outbound = Outbound(settings, stopping=stop, publisher_factory=lambda: Publisher())  # type: ignore[arg-type,return-value]
    broker = make_broker(
        settings, engine, exploding, ["commands"], outbound=outbound, stopping=stop
    )

    def deliver(headers: dict[str, Any]) -> Delivery:
        """One delivery through the middleware chain, as dramatiq's worker thread runs it."""
        transport = {"queue": "invoicing.commands", "headers": headers, "message_id": "m"}
        delivery = Delivery.of(body, transport)
        message = dramatiq.MessageProxy(
            dramatiq.Message(
                queue_name="invoicing.commands",
                actor_name=ACTORS["invoicing.commands"],
                args=(delivery,),
                kwargs={},
                options={},
            )
        )
        broker.emit_before("process_message", message)
        broker.get_actor(message.actor_name)(*message.args)
        broker.emit_after("process_message", message, result=None)
        assert not message.failed  # acked
        return delivery

    assert deliver({}).outcome == "retry"
    assert deliver({H_FAILURES: 1}).outcome == "dead"
    text = captured.getvalue()
    events = [json.loads(x)["event"] for x in text.splitlines()]
    assert {"command.failed_retry", "command.failed", "command.dead_lettered"} <= set(events)
    _assert_clean(text, token)
    assert "q" * 1000 not in text
    # the retry copy (kept in the database until due) and the dead letter keep the body itself
    with engine.connect() as conn:
        stored = conn.execute(select(ScheduledCommand.body)).scalars().all()
    assert stored == [body]
    assert len(published) == 1
    assert published[-1].body == body
    dead = {"type": "create_invoice", "outcome": "dead"}
    assert (REGISTRY.get_sample_value("invoicing_commands_total", dead) or 0) >= 1


def test_the_cli_prints_no_locals_in_a_crash(tmp_path: Path) -> None:
    """``invoicing process`` against a database that is down: the traceback names the
    failure, but no local variable (the line read, with its token) is printed."""
    token = issue_token(SECRET, "billing", {"*": ["invoices:write"]})
    doc = {
        "type": "create_customer",
        "command_id": str(uuid.uuid4()),
        "organization_id": str(uuid.uuid4()),
        "credentials": {"token": token},
        "payload": {"id": str(uuid.uuid4()), "email": "a@b.example", "locale": "de"},
    }
    result = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "process", "-"],
        input=json.dumps(doc) + "\n",
        capture_output=True,
        text=True,
        env={
            "INVOICING_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:9/none?connect_timeout=2",
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
        },
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert "OperationalError" in result.stderr
    _assert_clean(result.stderr + result.stdout, token)
