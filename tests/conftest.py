"""Fixtures: every integration test runs against SQLite AND PostgreSQL (real servers)."""

from __future__ import annotations

import importlib
import os
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
from tests.support.event_contract import BUILDERS, Recorder
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


# ----------------------------------------------------------------------------- event contract

_EVENTS = Recorder()


@pytest.fixture(scope="session", autouse=True)
def _event_contract() -> Iterator[Recorder]:
    """Every event the in-process pipeline builds is checked against its data model, and every
    query reply's result against the model the contract names for it
    (tests/support/event_contract.py); the test in which one did not match fails.
    ``INVOICING_EVENT_CHECK=off`` leaves it out (to measure what it costs)."""
    if os.environ.get("INVOICING_EVENT_CHECK") == "off":
        yield _EVENTS
        return
    patch = pytest.MonkeyPatch()
    for module, name in BUILDERS:
        target = importlib.import_module(module)
        patch.setattr(target, name, _EVENTS.wrap(getattr(target, name)))
    patch.setattr(Pipeline, "answer_document", _EVENTS.wrap_answer(Pipeline.answer_document))
    yield _EVENTS
    patch.undo()
    report = os.environ.get("INVOICING_EVENT_CHECK_REPORT")  # a file: what it cost, per process
    if report:
        with open(report, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {_EVENTS.checked} events {_EVENTS.seconds:.2f} s\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    _EVENTS.take()  # what an earlier test's teardown built is not this test's
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    found = _EVENTS.take()
    if found and item.get_closest_marker("events_unchecked") is None:
        shown = "\n  ".join(dict.fromkeys(found))  # each once, in order
        raise AssertionError(
            f"{len(found)} event(s) do not match their data model "
            f"(invoicing.schemas.event_data.EVENT_DATA):\n  {shown}"
        )
    return result
