"""``invoicing process`` over a pipe: a command is run and its events printed as soon as its
line has arrived, never held back for a batch to fill (src/cli.py ``ready_lines``)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any

from invoicing.workers import gc_pauses

from tests.support.client import customer_payload


def _command(ctype: str, org: str, payload: dict[str, Any]) -> str:
    doc = {"type": ctype, "command_id": str(uuid.uuid4()), "organization_id": org}
    return json.dumps({**doc, "payload": payload}) + "\n"


def _event_line(stream: IO[str], timeout: float) -> dict[str, Any]:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no event within {timeout} s"
    return json.loads(stream.readline())  # type: ignore[no-any-return]


def test_a_piped_command_is_answered_before_the_next_line_arrives(tmp_path: Path) -> None:
    org = str(uuid.uuid4())
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoicing.cli", "process", "--batch", "100", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(
            _command(
                "configure_organization",
                org,
                {"name": "X GmbH", "address": {"country_code": "DE"}, "default_tax_rate": 19},
            )
        )
        proc.stdin.flush()
        first = _event_line(proc.stdout, 120)  # the process starts and migrates meanwhile
        assert first["type"] == "organization.configured"
        customer = uuid.uuid4()
        started = time.monotonic()
        proc.stdin.write(_command("create_customer", org, customer_payload(customer)))
        proc.stdin.flush()
        second = _event_line(proc.stdout, 30)
        assert second["type"] == "customer.created" and time.monotonic() - started < 30
        proc.stdin.close()
        assert proc.wait(60) == 0
        assert proc.stderr is not None
        assert "applied=2 duplicate=0 rejected=0" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_a_batch_below_one_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "process", "--batch", "0", "-"],
        input="",
        capture_output=True,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 2 and "--batch" in result.stderr


#: runs ``invoicing process`` in this interpreter, then reports what the collector holds
_FREEZE_PROBE = """
import gc, sys
from invoicing.cli import app
try:
    app(["process", sys.argv[1]])
except SystemExit as end:
    code = end.code
print(f"frozen={gc.get_freeze_count()} young={gc.get_threshold()[0]} exit={code}", file=sys.stderr)
"""


def test_start_up_objects_are_frozen_out_of_the_collectors_reach(tmp_path: Path) -> None:
    """As in the workers (src/workers/gc_pauses.py): a long file's full collections do not visit
    the objects start-up built (about 130 ms a collection, twice in 2,000 commands), and the
    young generation is collected only when 50,000 containers outlive their moment."""
    commands = tmp_path / "commands.jsonl"
    configure = {"name": "X GmbH", "address": {"country_code": "DE"}, "default_tax_rate": 19}
    commands.write_text(_command("configure_organization", str(uuid.uuid4()), configure))
    result = subprocess.run(
        [sys.executable, "-c", _FREEZE_PROBE, str(commands)],
        capture_output=True,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    probe = result.stderr.strip().splitlines()[-1]
    frozen, young, code = (int(part.split("=")[1]) for part in probe.split())
    assert code == 0 and "applied=1 " in result.stderr and frozen > 50_000, result.stderr
    assert young == gc_pauses.YOUNG_THRESHOLD > 700, result.stderr
