"""The README's RabbitMQ walk-through: `invoicing publish --wait` plays the example script
through real worker and relay processes with the same result as `invoicing process`."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from tests.e2e.harness import BIN, Env, relay, token, wait_for_topology, worker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lifecycle.jsonl"
ORGS = ["d0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000001"]


def test_example_script_over_rabbitmq_matches_in_process(env: Env, tmp_path: Path) -> None:
    w = worker(env, "--threads", "4")
    r = relay(env)
    wait_for_topology(env)
    scopes = ["invoices:read", "invoices:write", "organizations:admin"]
    tok = token({org: scopes for org in ORGS})
    result = subprocess.run(
        [BIN, "publish", str(EXAMPLE), "--token", tok, "--wait"],
        env=env.process_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    w.stop()
    r.stop()
    over_rabbitmq = Counter(
        dict(
            env.sql(
                "SELECT type, count(*) FROM outbox "
                "WHERE organization_id = ANY(%s::uuid[]) GROUP BY type",
                (ORGS,),
            )
        )
    )
    in_process = subprocess.run(
        [BIN, "process", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    expected = Counter(json.loads(x)["type"] for x in in_process.stdout.splitlines())
    assert over_rabbitmq == expected
