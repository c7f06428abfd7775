"""Fixtures: every integration test runs against SQLite AND PostgreSQL (real servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import invoicing.handlers
import invoicing.schemas  # noqa: F401
import pytest
from invoicing import db
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.support.client import Client
from tests.support.databases import pg_available, temporary_pg_database
from tests.support.fakes import fake_deps


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not pg_available():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432: run scripts/ensure-services.sh")
    with temporary_pg_database() as url:
        db.migrate(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "invoicing.sqlite3"
    url = f"sqlite:///{path}"
    db.migrate(url)
    return url


_ENGINES: dict[str, Engine] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """One engine per backend and session; tests isolate by using a fresh organization."""
    name = request.param
    if name not in _ENGINES:
        url = request.getfixturevalue("pg_url" if name == "postgresql" else "sqlite_url")
        _ENGINES[name] = db.make_engine(url)
    return _ENGINES[name]


@pytest.fixture
def bus(engine: Engine) -> Pipeline:
    return Pipeline(engine, fake_deps(), LocalOperator())


@pytest.fixture
def client(bus: Pipeline) -> Client:
    c = Client(bus)
    c.setup_org()
    return c
