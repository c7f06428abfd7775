"""Progress: a Rich bar on a terminal for `invoicing process`, nothing when stderr is a pipe;
log lines from long export loops."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from invoicing.observability.progress import ProgressLog, count_lines

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
BIN = str(Path(sys.executable).parent / "invoicing")
EXAMPLE = ROOT / "examples" / "lifecycle.jsonl"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(INVOICING_DATA_DIR=str(tmp_path), INVOICING_LOG_LEVEL="WARNING", COLUMNS="120")
    return env


def test_a_terminal_sees_a_bar_with_count_rate_and_eta(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    events_file = (tmp_path / "events.jsonl").open("wb")
    proc = subprocess.Popen(
        [BIN, "process", str(EXAMPLE)],
        stdout=events_file,  # a file, not a pipe: nobody drains a pipe while we read the pty
        stderr=secondary,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    os.close(secondary)
    screen = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            print("TIMEOUT", proc.poll(), len(screen), screen[-300:])
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        screen += chunk
    assert proc.wait(60) == 0
    events_file.close()
    stdout = (tmp_path / "events.jsonl").read_bytes()
    os.close(primary)
    text = screen.decode("utf-8", "replace")
    total = count_lines(str(EXAMPLE))
    assert total and total > 10
    assert f"{total}/{total}" in text  # count
    assert "commands/s" in text  # rate
    assert "ETA" in text
    # stdout is still nothing but events
    events = [json.loads(line) for line in stdout.decode().splitlines()]
    assert events and all("type" in e for e in events)


def test_a_pipe_sees_no_bar(tmp_path: Path) -> None:
    out = subprocess.run(
        [BIN, "process", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "commands/s" not in out.stderr and "ETA" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("applied=")


def test_long_loops_log_progress() -> None:
    with structlog.testing.capture_logs() as logs:
        progress = ProgressLog("export.csv.progress", every_s=0.0, file="x.csv")
        for _ in range(1000):
            progress.tick()
    lines = [e for e in logs if e["event"] == "export.csv.progress"]
    assert [e["done"] for e in lines] == [256, 512, 768]
    assert lines[0]["file"] == "x.csv" and lines[0]["per_s"] > 0
