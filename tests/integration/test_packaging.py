"""`pip install .` (a real wheel, not the editable mapping) carries code, migrations, templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=300,
    )
    wheel = next(wheels.glob("invoicing-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "invoicing/models/migrations/versions/0001_core_tables.py" in names
    assert "invoicing/models/migrations/script.py.mako" in names
    assert any(n.startswith("invoicing/documents/pdf/templates/") for n in names)
    assert not any(n.startswith(("src/", "tests/")) for n in names)
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    example = ROOT / "examples" / "lifecycle.jsonl"
    code = (
        "import invoicing, sys; assert invoicing.__file__.startswith(sys.argv[1]); "
        "from invoicing.cli import app; sys.argv = ['invoicing', 'process', sys.argv[2]]; app()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(target), str(example)],
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": str(target),
            "INVOICING_DATA_DIR": str(tmp_path / "data"),
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "applied=17 duplicate=0 rejected=1" in result.stderr
    assert result.stdout.count('"type": "invoice.finalized"') == 4
