"""The README works line by line after its two commands (the commands that need no outside
network and no long-running server), and its expected failures are one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.databases import ADMIN_URL

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent

#: README lines walked, in order (each must appear verbatim in a ```sh block). Not walked: the
#: placeholders (`invoicing process FILE`), the PostgreSQL/RabbitMQ block (long-running workers,
#: tests/e2e cover it), `invoicing web`/`relay` (servers: tests/e2e/test_web_browser.py and
#: test_observability.py), the local SMTP example (a background server), ./scripts/test.sh.
WALKED = [
    "./scripts/run.sh | jq -c '{type, number: .data.invoice.number, status: .data.invoice.status,\n"
    "                            gross: .data.invoice.totals.gross_total, "
    "open: .data.invoice.totals.open_amount}'",
    "invoicing deliver --all",
    "invoicing retention --dry-run",
    "invoicing query invoices --org d0000000-0000-4000-8000-000000000001 --sort number",
    "invoicing query open-items --org d0000000-0000-4000-8000-000000000001 --json",
    "invoicing query next-number --org d0000000-0000-4000-8000-000000000001",
    "invoicing query invoices --org d0000000-0000-4000-8000-000000000001 --as-of 2027-01-15 \\\n"
    '    --where "issue_date=last_quarter" --where "open_amount>0" --where "full_query=acme"',
    "cat examples/lifecycle.jsonl examples/export.jsonl | invoicing process - "
    "| grep export.completed",
]


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def env(data_dir: Path, **extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    e.update(
        PATH=f"{BIN}:{e.get('PATH', '/usr/bin:/bin')}",
        INVOICING_DATA_DIR=str(data_dir),
        COLUMNS="80",
        **extra,
    )
    return e


def run(command: str, data_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=ROOT,
        env=env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_walk_the_readme(tmp_path: Path) -> None:
    blocks = "\n".join(sh_blocks())
    for line in WALKED:
        # the README holds the line as written (comments after it aside)
        assert line.split("\n")[0] in blocks, line
    results = {}
    for line in WALKED:
        out = run(line, tmp_path)
        assert out.returncode == 0, (line, out.stderr[-2000:])
        assert "Traceback" not in out.stderr, line
        results[line] = out.stdout
    summary = [json.loads(x) for x in results[WALKED[0]].splitlines()]
    assert any(s["type"] == "invoice.finalized" and s["number"] for s in summary)
    table = results[WALKED[3]]
    assert all(len(x) <= 80 for x in table.splitlines())
    # amounts whole at 80 columns: the lifecycle's gross totals appear complete
    for amount in ("1785.00", "135.66"):
        assert amount in table, amount
    assert "…" not in table  # nothing cut with an ellipsis
    assert json.loads(results[WALKED[4]])
    # the filtered list finds the example's open Acme invoice (RE-2026-001), whatever today is
    assert "718.39" in results[WALKED[6]] and "1 in all" in results[WALKED[6]]
    assert "export.completed" in results[WALKED[7]]


def test_the_main_job_says_why_a_second_run_prints_no_events(tmp_path: Path) -> None:
    first = run("./scripts/run.sh", tmp_path)
    assert first.returncode == 0 and first.stdout.strip()
    second = run("./scripts/run.sh", tmp_path)
    assert second.returncode == 0 and second.stdout == ""
    assert "were applied before" in second.stderr and "INVOICING_DATA_DIR=$(mktemp -d)" in (
        second.stderr
    )


def test_a_missing_input_file_is_one_line(tmp_path: Path) -> None:
    out = run("invoicing process no-such-file.jsonl", tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "invoicing process: no-such-file.jsonl: no such file; give a JSONL file of commands "
        "(e.g. examples/lifecycle.jsonl) or - for stdin"
    ]


def test_an_unmigrated_postgresql_is_one_line_with_the_fix(tmp_path: Path) -> None:
    name = f"invoicing_readme_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        out = run("invoicing process examples/lifecycle.jsonl", tmp_path, DATABASE_URL=url)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].endswith("has no schema; run invoicing migrate")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_on_a_database_not_created_yet_is_one_line(tmp_path: Path) -> None:
    """`invoicing migrate` before `createdb`: the reason and the fix in one line, not a
    traceback of SQLAlchemy's and psycopg's frames."""
    name = f"invoicing_readme_missing_{os.getpid()}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    out = run("invoicing migrate", tmp_path, DATABASE_URL=url)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith(f"invoicing migrate: postgresql 127.0.0.1:5432/{name}: ")
    assert f'database "{name}" does not exist' in lines[0]
    assert lines[0].endswith(
        "start the database, create it (createdb -h HOST -U USER NAME) or set DATABASE_URL"
    )
