"""The pollers and reads that share a worker's pool end their transactions with COMMIT, so the
statements psycopg prepared on a connection stay prepared for the commands that use it next.

psycopg forgets every prepared statement of a connection at a ROLLBACK (and sends
``DEALLOCATE ALL`` before the next statement); its statements then run parsed and planned
anew until each has run five times again. A delivery poll that found nothing, the overdue
retries' count, the crash-loop guard's count of a redelivered command's starts and every query
ended with one, and at a light load more than half the
commands' statements ran unprepared (docs/pipeline.md, "Prepared statements").

PostgreSQL only: what is prepared is read from ``pg_prepared_statements`` on the one connection
of a pool of one."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoicing import bootstrap, db
from invoicing.domain.errors import NotFound
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.queries import execute
from invoicing.queries.dispatch import read_only
from invoicing.schemas.queries import QUERY_TYPES
from invoicing.workers.middleware import AttemptCounter
from invoicing.workers.scheduled import Republisher
from invoicing.workers.settings import PipelineSettings
from sqlalchemy import Engine, text

from tests.support.databases import migrated_url
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

#: psycopg prepares a statement on its fifth execution on a connection (prepare_threshold)
RUNS_TO_PREPARE = 6


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_url("postgresql", tmp_path, "invoicing_t_prepared") as url:
        # one connection, used by every step in turn: what one step leaves, the next finds
        made = db.make_engine(url, pool_size=1)
        yield made
        made.dispose()


def prepare_one(engine: Engine) -> None:
    for i in range(RUNS_TO_PREPARE):
        with engine.begin() as conn:
            conn.execute(text("SELECT CAST(:x AS integer) + 1"), {"x": i})


def prepared(engine: Engine) -> set[str]:
    """The statements prepared on the pool's connection (read without a ROLLBACK)."""
    with db.reading(engine) as conn:
        return set(conn.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_a_rollback_forgets_the_prepared_statements(engine: Engine) -> None:
    """The driver's behaviour the rest of this module guards against."""
    prepare_one(engine)
    assert prepared(engine)
    with engine.connect() as conn:  # closed in a transaction: ROLLBACK
        conn.execute(text("SELECT 1"))
    assert prepared(engine) == set()


def test_an_empty_delivery_poll_keeps_them(engine: Engine) -> None:
    deliverer = bootstrap.deliverer(Pipeline(engine, fake_deps(), LocalOperator()))
    prepare_one(engine)
    before = prepared(engine)
    assert before
    assert deliverer.run_one() is None  # no job due: the claim found nothing
    assert prepared(engine) >= before


def test_the_overdue_retries_count_keeps_them(engine: Engine) -> None:
    settings = PipelineSettings(amqp_url="amqp://guest:guest@127.0.0.1:1/%2F")
    republisher = Republisher(engine, settings, threading.Event())  # connects when it publishes
    prepare_one(engine)
    before = prepared(engine)
    assert republisher.check_overdue() == 0
    assert prepared(engine) >= before


def test_the_crash_loop_count_keeps_them(engine: Engine) -> None:
    """``CrashLoopGuard`` reads a redelivered command's starts on the worker's pool; after a
    worker's restart every redelivered command does."""
    counter = AttemptCounter(engine)
    prepare_one(engine)
    before = prepared(engine)
    assert counter.count("never-seen") == 0
    assert prepared(engine) >= before


def test_an_error_inside_a_read_rolls_back(engine: Engine) -> None:
    prepare_one(engine)
    with pytest.raises(LookupError), db.reading(engine) as conn:
        conn.execute(text("SELECT 1"))
        raise LookupError("an error of the caller's")
    assert prepared(engine) == set()


@pytest.mark.parametrize(
    ("qtype", "payload"),
    [("list_invoices", {}), ("open_items", {})],
)
def test_a_query_keeps_them(engine: Engine, qtype: str, payload: dict[str, object]) -> None:
    query = QUERY_TYPES[qtype].model_validate(
        {"type": qtype, "organization_id": str(uuid.uuid4()), "payload": payload}
    )
    prepare_one(engine)
    before = prepared(engine)
    execute(query, read_only(engine))  # an organization without invoices: empty results
    assert prepared(engine) >= before


def test_a_failed_query_still_rolls_back(engine: Engine) -> None:
    """An error inside a read ends its transaction with ROLLBACK, as before (whatever it
    did is undone; the statements are prepared again later)."""
    query = QUERY_TYPES["get_invoice"].model_validate(
        {
            "type": "get_invoice",
            "organization_id": str(uuid.uuid4()),
            "payload": {"invoice_id": str(uuid.uuid4())},
        }
    )
    prepare_one(engine)
    with pytest.raises(NotFound):  # an unknown invoice
        execute(query, read_only(engine))
    assert prepared(engine) == set()
