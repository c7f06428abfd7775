"""The DATEV modules of ``invoicing.exports`` import first, in a fresh interpreter (as
benchmarks/datev.py imports ``exports.datev_db`` and ``exports.settings``): none may reach the
schemas package, whose ``exports`` module imports ``exports.settings`` back (a circular import
that the test suite, importing the schemas first, never sees).

``csv_export`` is left out: it imports ``invoicing.queries``, whose dispatch imports the
handlers, whose ``exports`` module imports ``csv_export`` back (older than this test; the
worker and the CLI import the handlers first)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import invoicing.exports
import pytest

MODULES = sorted(
    m.name for m in pkgutil.iter_modules(invoicing.exports.__path__) if m.name != "csv_export"
)


@pytest.mark.parametrize("name", MODULES)
def test_the_module_imports_first(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import invoicing.exports.{name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
