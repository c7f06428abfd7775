"""scripts/setup.sh is idempotent and quiet: a run with nothing changed does nothing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_setup_does_nothing_and_prints_nothing_when_nothing_changed() -> None:
    """The stamps in .venv match the lock and the packaging files: setup.sh is a no-op."""
    venv = Path(sys.prefix)
    if venv.resolve() != (ROOT / ".venv").resolve():
        pytest.fail(f"the tests run from {venv}, not this checkout's .venv (scripts/setup.sh)")
    lock_hash = hashlib.sha256((ROOT / "requirements-dev.lock").read_bytes()).hexdigest()
    project = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "setup.py").read_bytes()
    stamps = {
        ".setup-lock.sha256": lock_hash,
        ".setup-project.sha256": hashlib.sha256(project).hexdigest(),
    }
    for stamp, expected in stamps.items():
        path = venv / stamp
        found = path.read_text().strip() if path.exists() else "(none)"
        assert found == expected, f"{stamp} is {found}: run ./scripts/setup.sh"
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert time.monotonic() - started < 5
