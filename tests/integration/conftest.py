"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from invoicing import db

from tests.support.databases import temporary_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.sqlite3"
        db.migrate(url)
        yield url
    else:
        with temporary_pg_database("invoicing_it") as url:
            db.migrate(url)
            yield url
