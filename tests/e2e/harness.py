"""Test harness for the e2e/reliability tests: real PostgreSQL, real RabbitMQ, real processes.

Publishing and event collection use plain pika (what any external client would do), never the
project's own publishing helpers. Tokens are minted with PyJWT directly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pika
import psycopg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "e2e-secret-for-tests-only-0123456789abcdef"
ALL_SCOPES = ["invoices:read", "invoices:write", "organizations:admin"]
BIN = str(Path(sys.executable).parent / "invoicing")

#: The event contract on the wire: while a list (tests/e2e/conftest.py sets one per test), every
#: event a Collector receives is checked -- its CloudEvents envelope and its ``data`` against
#: the event type's model (tests/support/event_contract.py) -- and what does not match is
#: appended. ``None`` (the benchmarks): not checked.
contract_mismatches: list[str] | None = None


def _check_contract(event: dict[str, Any]) -> None:
    if contract_mismatches is None:
        return
    from invoicing.schemas.events import CloudEvent
    from pydantic import ValidationError

    from tests.support.event_contract import mismatches

    try:
        CloudEvent.model_validate(event)
    except ValidationError as exc:
        contract_mismatches.extend(
            f"{event.get('type')} envelope /{'/'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors()
        )
        return
    contract_mismatches.extend(mismatches(event))


def check_reply(reply: dict[str, Any]) -> None:
    """A query reply taken from the wire, checked as events are (``contract_mismatches``)."""
    if contract_mismatches is None:
        return
    from tests.support.event_contract import reply_mismatches

    contract_mismatches.extend(reply_mismatches(reply))


def token(orgs: dict[str, list[str]], *, ttl: int = 3600, secret: str = SECRET) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "e2e", "orgs": orgs, "exp": now + ttl, "iat": now}, secret, "HS256")


@dataclass
class Env:
    db_name: str
    vhost: str
    log_dir: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.db_name}"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}?heartbeat=10&connection_attempts=3"

    def process_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.dsn,
            INVOICING_AMQP_URL=self.amqp_url,
            INVOICING_JWT_SECRET=SECRET,
            INVOICING_LOG_FORMAT="json",
            INVOICING_RELAY_POLL_INTERVAL_S="0.5",
        )
        env.update(extra)
        return env

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


def create_env(log_dir: Path) -> Env:
    tag = uuid.uuid4().hex[:10]
    env = Env(f"invoicing_e2e_{tag}", f"invoicing_e2e_{tag}", log_dir)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{env.db_name}"')
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", env.vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", env.vhost, "guest", ".*", ".*", ".*"],
        check=True,
    )
    subprocess.run([BIN, "migrate"], env=env.process_env(), check=True, capture_output=True)
    return env


def module_env(name: str) -> Any:
    """A module-scoped ``env`` fixture: a fresh database and vhost for the tests of one module,
    destroyed after them (``env = module_env("relay")`` in the test module)."""
    import pytest

    @pytest.fixture(scope="module")
    def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
        e = create_env(Path(tmp_path_factory.mktemp(name)))
        try:
            yield e
        finally:
            destroy_env(e)

    return env


def destroy_env(env: Env) -> None:
    stop_all()  # a failed test must not leave its workers and relays running
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", env.vhost], check=False)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')


_RUNNING: list[Proc] = []


def stop_all() -> None:
    """Stop every process the harness started that is still running (their children too)."""
    while _RUNNING:
        proc = _RUNNING.pop()
        if proc.popen.poll() is None:
            proc.stop(timeout=15)


class Proc:
    """A worker or relay process, started as a real `invoicing` subprocess."""

    def __init__(self, env: Env, name: str, args: list[str], **extra_env: str) -> None:
        self.log = env.log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.handle = open(self.log, "wb")  # noqa: SIM115
        self.popen = subprocess.Popen(
            [BIN, *args],
            env=env.process_env(**extra_env),
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )
        _RUNNING.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 60) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.handle.close()
        return int(self.popen.returncode)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


#: the repository root: the worker imports the tests' fault injection from there
REPO = str(Path(__file__).resolve().parents[2])
FAULT_MIDDLEWARE = "tests.support.faults:FaultInjection"


def worker(env: Env, *args: str, **extra_env: str) -> Proc:
    """A worker process; with ``INVOICING_FAULTS`` it loads the tests' fault injection
    middleware (tests/support/faults.py), which production never does."""
    if "INVOICING_FAULTS" in extra_env:
        extra_env.setdefault("INVOICING_WORKER_MIDDLEWARE", FAULT_MIDDLEWARE)
        path = os.environ.get("PYTHONPATH")
        extra_env.setdefault("PYTHONPATH", f"{REPO}{os.pathsep}{path}" if path else REPO)
    return Proc(env, "worker", ["worker", *args], **extra_env)


def relay(env: Env, **extra_env: str) -> Proc:
    return Proc(env, "relay", ["relay"], **extra_env)


# --------------------------------------------------------------------------- plain pika


def connect(env: Env) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(env.amqp_url))


def wait_for_topology(
    env: Env, timeout: float = 90, *, queue: str = "invoicing.commands", consumed: bool = False
) -> None:
    """Wait until ``queue`` exists (and, with ``consumed``, has a consumer): a message published
    to a queue's name before the queue is declared is dropped by the default exchange. Only the
    worker declares the command queues (the archive and the relay declare their own part only,
    as their RabbitMQ users allow), and a worker's start takes over 30 s on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = connect(env)
            try:
                ok = conn.channel().queue_declare(queue, passive=True)
                if not consumed or ok.method.consumer_count > 0:
                    return
            finally:
                conn.close()
        except pika.exceptions.AMQPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{queue} has no {'consumer' if consumed else 'declaration'}")
        time.sleep(0.3)


class Publisher:
    """Plain pika: persistent, mandatory, publisher confirms, reconnects and re-sends."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.conn: pika.BlockingConnection | None = None
        self.channel: Any = None
        self.resent = 0  # publishes with an unknown outcome, sent again (same command id)

    def _channel(self) -> Any:
        if self.channel is None or not self.channel.is_open:
            self.conn = connect(self.env)
            self.channel = self.conn.channel()
            self.channel.confirm_delivery()
        return self.channel

    def send_raw(
        self,
        body: bytes,
        routing_key: str,
        *,
        message_id: str | None = None,
        exchange: str = "invoicing.commands",
        retry_for: float = 60.0,
    ) -> None:
        deadline = time.monotonic() + retry_for
        while True:
            try:
                self._channel().basic_publish(
                    exchange,
                    routing_key,
                    body,
                    pika.BasicProperties(
                        delivery_mode=2,
                        content_type="application/json",
                        message_id=message_id or str(uuid.uuid4()),
                    ),
                    mandatory=True,
                )
                return
            except (pika.exceptions.AMQPError, ConnectionError, OSError, AssertionError):
                self.channel = None
                self.resent += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def send(self, command: dict[str, Any], **kw: Any) -> None:
        self.send_raw(
            json.dumps(command).encode(),
            command["type"],
            message_id=kw.pop("message_id", command.get("command_id")),
            **kw,
        )

    def close(self) -> None:
        try:
            if self.conn is not None and self.conn.is_open:
                self.conn.close()
        except Exception:
            pass


class Collector:
    """A durable quorum queue bound to invoicing.events '#': every event, with redeliveries."""

    def __init__(
        self,
        env: Env,
        name: str | None = None,
        binding: str = "#",
        exchange: str = "invoicing.events",
    ) -> None:
        self.env = env
        self.queue = name or f"e2e.events.{uuid.uuid4().hex[:8]}"
        self.received: list[dict[str, Any]] = []
        self.props: list[Any] = []
        conn = connect(env)
        ch = conn.channel()
        ch.exchange_declare(
            exchange,
            "topic",
            durable=True,
            arguments={"alternate-exchange": "invoicing.events.unrouted"}
            if exchange == "invoicing.events"
            else None,
        )
        ch.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
        ch.queue_bind(self.queue, exchange, binding)
        conn.close()

    def drain(self, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        conn = None
        while True:
            try:
                if conn is None or not conn.is_open:
                    conn = connect(self.env)
                    ch = conn.channel()
                got = 0
                while True:
                    method, props, body = ch.basic_get(self.queue, auto_ack=True)
                    if method is None:
                        break
                    got += 1
                    event = json.loads(body)
                    _check_contract(event)
                    self.received.append(event)
                    self.props.append(props)
                if until(self.received):
                    conn.close()
                    return
                if not got:
                    time.sleep(0.2)
            except (pika.exceptions.AMQPError, ConnectionError, OSError, AssertionError):
                conn = None
                time.sleep(0.5)
            if time.monotonic() > deadline:
                if conn is not None and conn.is_open:
                    conn.close()
                raise AssertionError(
                    f"timed out; {len(self.received)} events: "
                    f"{Counter(e['type'] for e in self.received)}"
                )

    def of(self, etype: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["type"] == etype]


def dead_letters(env: Env, wanted: Iterable[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
    """Read (and ack) dead letters until every wanted message id is there."""
    wanted = set(wanted)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    conn = connect(env)
    ch = conn.channel()
    while not wanted <= set(found):
        method, props, body = ch.basic_get("invoicing.dead-letters", auto_ack=False)
        if method is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
            continue
        ch.basic_ack(method.delivery_tag)
        found[str(props.message_id)] = {"headers": props.headers or {}, "body": body}
    conn.close()
    return found


# --------------------------------------------------------------------------- commands


@dataclass
class Org:
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    customer: str = field(default_factory=lambda: str(uuid.uuid4()))

    def cmd(
        self,
        ctype: str,
        payload: dict[str, Any],
        *,
        tok: str | None = "all",
        command_id: str | None = None,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": ctype,
            "command_id": command_id or str(uuid.uuid4()),
            "organization_id": self.id,
            "payload": payload,
        }
        if tok == "all":
            doc["credentials"] = {"token": token({self.id: ALL_SCOPES})}
        elif tok is not None:
            doc["credentials"] = {"token": tok}
        return doc

    def configure(self) -> dict[str, Any]:
        return self.cmd(
            "configure_organization",
            {
                "name": "E2E GmbH",
                "address": {
                    "street_address": "Hauptstraße 1",
                    "zip_code": "50667",
                    "city": "Köln",
                    "country_code": "DE",
                },
                "vat_id": "DE136695976",
                "iban": "DE89370400440532013000",
                "default_tax_rate": 19,
                "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:4}"}},
            },
        )

    def create_customer(self) -> dict[str, Any]:
        return self.cmd(
            "create_customer",
            {
                "id": self.customer,
                "company": "Acme AG",
                "email": f"{self.customer[:8]}@example.com",
                "locale": "de",
                "address": {
                    "street_address": "Ring 2",
                    "zip_code": "10115",
                    "city": "Berlin",
                    "country_code": "DE",
                },
            },
        )

    def create_invoice(self, invoice_id: str | None = None, **kw: Any) -> dict[str, Any]:
        return self.cmd(
            "create_invoice",
            {
                "id": invoice_id or str(uuid.uuid4()),
                "customer_id": self.customer,
                "lines": [
                    {
                        "description": "Beratung",
                        "quantity": 3,
                        "unit": "hours",
                        "unit_price": "250.00",
                    }
                ],
            },
            **kw,
        )

    def finalize(self, invoice_id: str, **kw: Any) -> dict[str, Any]:
        return self.cmd(
            "finalize_invoice", {"invoice_id": invoice_id, "issue_date": "2026-11-20"}, **kw
        )


def setup_org(env: Env, pub: Publisher, col: Collector) -> Org:
    org = Org()
    pub.send(org.configure())
    col.drain(
        lambda ev: any(
            e["type"] == "organization.configured" and e["organizationid"] == org.id for e in ev
        )
    )
    pub.send(org.create_customer())
    col.drain(
        lambda ev: any(
            e["type"] == "customer.created" and e["organizationid"] == org.id for e in ev
        )
    )
    return org


def wait_until(pred: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def lock_waiters(env: Env, application: str = "invoicing") -> int:
    rows = env.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s "
        "AND wait_event_type = 'Lock'",
        (env.db_name, application),
    )
    return int(rows[0][0])


def terminate_backends(env: Env, application: str) -> None:
    env.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
        "AND application_name = %s",
        (env.db_name, application),
    )


def report(
    name: str, *, lost: int, duplicated: int, unexpected: int, recovered: int, **extra: Any
) -> str:
    more = " ".join(f"{k}={v}" for k, v in extra.items())
    line = (
        f"JEPSEN {name}: lost={lost} duplicated={duplicated} unexpected={unexpected} "
        f"recovered={recovered} {more}"
    ).strip()
    print(line)
    with open(os.environ.get("E2E_REPORT", "/tmp/e2e_report.txt"), "a") as fh:
        fh.write(line + "\n")
    return line


def check_effects(
    env: Env,
    org: Org,
    created: set[str],
    col: Collector,
    name: str,
    recovered: int = 0,
    **extra: Any,
) -> str:
    """Total-queue style check for invoice creations: DB effects and events."""
    rows = env.sql("SELECT id::text FROM invoices WHERE organization_id = %s", (org.id,))
    in_db = Counter(r[0] for r in rows)
    events = [e for e in col.of("invoice.created") if e["organizationid"] == org.id]
    ids = Counter(e["id"] for e in events)
    by_subject = Counter(e["subject"] for e in {e["id"]: e for e in events}.values())
    lost = len(created - set(in_db)) + len(created - set(by_subject))
    duplicated = sum(1 for c in in_db.values() if c > 1) + sum(
        1 for c in by_subject.values() if c > 1
    )
    unexpected = len(set(in_db) - created) + len(set(by_subject) - created)
    redelivered = sum(c - 1 for c in ids.values() if c > 1)
    line = report(
        name,
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
        recovered=recovered,
        redelivered_same_event_id=redelivered,
        **extra,
    )
    assert (lost, duplicated, unexpected) == (0, 0, 0), line
    return line
