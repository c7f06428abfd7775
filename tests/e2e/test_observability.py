"""Metrics, liveness and readiness of real processes: scraped over HTTP, probed by the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import (
    BIN,
    PG_ADMIN,
    Collector,
    Env,
    Proc,
    Publisher,
    relay,
    setup_org,
    wait_for_topology,
    wait_until,
    worker,
)

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), -1.0)


def try_scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        return scrape(port)
    except OSError:
        return {}


def health(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, "health", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def beats(tmp_path: Path) -> dict[str, str]:
    return {
        "INVOICING_HEARTBEAT_DIR": str(tmp_path / "beats"),
        "INVOICING_HEARTBEAT_INTERVAL_S": "0.3",
        "INVOICING_HEARTBEAT_MAX_AGE_S": "3",
    }


def test_worker_relay_and_archive_expose_metrics_and_beat(env: Env, beats: dict[str, str]) -> None:
    ports = {"worker": free_port(), "relay": free_port(), "archive": free_port()}
    w = worker(env, "--processes", "1", INVOICING_METRICS_PORT=str(ports["worker"]), **beats)
    r = relay(env, INVOICING_METRICS_PORT=str(ports["relay"]), **beats)
    a = Proc(
        env,
        "archive",
        ["dead-letters", "archive"],
        INVOICING_METRICS_PORT=str(ports["archive"]),
        **beats,
    )
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    created = [str(uuid.uuid4()) for _ in range(3)]
    for invoice_id in created:
        pub.send(org.create_invoice(invoice_id))
    pub.send_raw(b"this is not json {", "create_invoice", message_id=f"poison-{uuid.uuid4()}")
    col.drain(
        lambda ev: set(created) <= {e["subject"] for e in ev if e["type"] == "invoice.created"}
    )

    wait_until(
        lambda: value(try_scrape(ports["relay"]), "invoicing_relay_published_total") >= 5,
        30,
        "relay metrics",
    )
    relay_samples = scrape(ports["relay"])
    assert value(relay_samples, "invoicing_outbox_unpublished_rows") == 0
    assert value(relay_samples, "invoicing_outbox_oldest_unpublished_age_seconds") == 0
    wait_until(
        lambda: (
            value(
                try_scrape(ports["archive"]),
                "invoicing_dead_letters_archived_total",
                reason="undecodable",
            )
            >= 1
        ),
        60,
        "archive metrics",
    )
    worker_samples = scrape(ports["worker"])
    # the worker's own metrics (src/workers/metrics.py) are on its port
    applied = value(
        worker_samples, "invoicing_commands_total", type="create_invoice", outcome="applied"
    )
    assert applied >= 3
    assert value(worker_samples, "invoicing_dead_letters_total", reason="undecodable") >= 1
    assert any(
        name == "invoicing_process_info" and dict(labels).get("role") == "worker"
        for name, labels in worker_samples
    )
    # every process of the container beats
    live = health("--liveness", **beats)
    assert live.returncode == 0, live.stdout + live.stderr
    roles = {line.split()[1] for line in live.stdout.splitlines()}
    assert roles == {"worker", "relay", "archive"}
    for p in (w, r, a):
        p.stop()


def test_a_broker_outage_keeps_liveness_and_fails_readiness_in_one_line(
    env: Env, beats: dict[str, str]
) -> None:
    dead_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    r = relay(env, INVOICING_AMQP_URL=dead_broker, **beats)
    time.sleep(4)  # longer than the heartbeat's max age: the relay keeps beating while it waits
    assert r.popen.poll() is None
    live = health("--liveness", "--role", "relay", **beats)
    assert live.returncode == 0, live.stdout
    ready = health(DATABASE_URL=env.dsn, INVOICING_AMQP_URL=dead_broker)
    assert ready.returncode == 1
    lines = ready.stdout.splitlines()
    assert lines[0].startswith("database: ok")
    assert lines[1].startswith("broker: FAILED:") and "start RabbitMQ" in lines[1]
    assert len(lines) == 2 and "Traceback" not in ready.stderr
    r.stop()


def test_a_stuck_process_fails_liveness(beats: dict[str, str]) -> None:
    code = textwrap.dedent(
        """
        import time
        from invoicing.observability.heartbeat import start_heartbeat, tracked
        start_heartbeat("worker")
        with tracked():  # one command that never finishes
            time.sleep(120)
        """
    )
    env = {**os.environ, **beats, "INVOICING_HEARTBEAT_STUCK_AFTER_S": "6"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    beat_file = Path(beats["INVOICING_HEARTBEAT_DIR"]) / f"worker-{proc.pid}.beat"
    try:
        wait_until(beat_file.exists, 30, "first beat")
        # beating while the command is young (6 s stuck limit + 3 s max age)
        assert health("--liveness", **beats).returncode == 0
        wait_until(lambda: health("--liveness", **beats).returncode == 1, 30, "stale beat")
        out = health("--liveness", **beats).stdout
        assert f"heartbeat worker pid {proc.pid}: STALE" in out
    finally:
        proc.kill()
        proc.wait(10)
    # a dead process's beat does not count; with none left, liveness says so
    gone = health("--liveness", **beats)
    assert gone.returncode == 1 and "no live process beats" in gone.stdout


@pytest.fixture
def fresh_broker_and_db() -> Iterator[tuple[str, str]]:
    import psycopg

    tag = uuid.uuid4().hex[:10]
    vhost, db_name = f"invoicing_health_{tag}", f"invoicing_health_{tag}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
    )
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    try:
        yield (
            f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            f"postgresql://postgres@127.0.0.1:5432/{db_name}",
        )
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def test_readiness_on_a_fresh_broker_and_an_unmigrated_database(
    fresh_broker_and_db: tuple[str, str],
) -> None:
    amqp, dsn = fresh_broker_and_db
    unmigrated = health(DATABASE_URL=dsn, INVOICING_AMQP_URL=amqp)
    assert unmigrated.returncode == 1
    assert unmigrated.stdout.splitlines() == [
        unmigrated.stdout.splitlines()[0],
        f"broker: ok (amqp 127.0.0.1:5672 vhost {amqp.rsplit('/', 1)[1]})",
    ]
    assert (
        unmigrated.stdout.startswith("database: FAILED:")
        and "run invoicing migrate" in unmigrated.stdout
    )
    subprocess.run(
        [BIN, "migrate"], env={**os.environ, "DATABASE_URL": dsn}, check=True, capture_output=True
    )
    # no worker ever declared a queue on this vhost: still ready
    ready = health(DATABASE_URL=dsn, INVOICING_AMQP_URL=amqp)
    assert ready.returncode == 0, ready.stdout
    assert [line.split(":")[0] for line in ready.stdout.splitlines()] == ["database", "broker"]
    assert ready.stderr == ""
    as_json = health("--json", DATABASE_URL=dsn, INVOICING_AMQP_URL=amqp)
    assert as_json.returncode == 0 and '"healthy": true' in as_json.stdout
