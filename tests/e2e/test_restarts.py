"""Broker and database restarts while commands flow (scenarios d and e).

These disturb everyone sharing the local RabbitMQ/PostgreSQL: they live in their own module so
they can be run last (``pytest tests/e2e --ignore tests/e2e/test_restarts.py`` first).
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pytest

from tests.e2e.harness import (
    Collector,
    Env,
    Publisher,
    check_effects,
    relay,
    setup_org,
    wait_for_topology,
    worker,
)
from tests.support.external import needs_rabbitmq

pytestmark = [pytest.mark.e2e, needs_rabbitmq]

N = 500


def _flow_with_restart(env: Env, name: str, restart: list[list[str]], pause: float) -> None:
    workers = [worker(env, "--threads", "4"), worker(env, "--threads", "4")]
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    created = [str(uuid.uuid4()) for _ in range(N)]
    started = threading.Event()

    def disturb() -> None:
        started.wait()
        for i, cmd in enumerate(restart):
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
            if i + 1 < len(restart):
                time.sleep(pause)

    t = threading.Thread(target=disturb)
    t.start()
    for i, inv in enumerate(created):
        if i == N // 5:
            started.set()
        pub.send(org.create_invoice(inv), retry_for=180)
    t.join()
    col.drain(
        lambda ev: {e["subject"] for e in ev if e["type"] == "invoice.created"} >= set(created), 240
    )
    for p in [*workers, r]:
        p.stop()
    check_effects(env, org, set(created), col, name, recovered=pub.resent, commands=N)


def test_d_rabbitmq_restarted_while_commands_flow(env: Env) -> None:
    _flow_with_restart(
        env,
        "d.rabbitmq-restart",
        [["rabbitmqctl", "stop_app"], ["rabbitmqctl", "start_app"]],
        pause=3,
    )


def test_e_postgresql_restarted_while_commands_flow(env: Env) -> None:
    _flow_with_restart(
        env,
        "e.postgresql-restart",
        [["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]],
        pause=0,
    )
