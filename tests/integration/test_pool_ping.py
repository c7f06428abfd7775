"""The PostgreSQL engine pings a pooled connection only after it lay idle (``db.make_engine``,
``_ping_after_idle``), replaces one that fails its ping, and a connection that broke while
in use within the idle window costs one failed transaction, never a wrong result."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from invoicing import db
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from tests.support.databases import temporary_pg_database, terminate_backend

pytestmark = pytest.mark.integration

IDLE_S = 0.3


@dataclass
class Pinged:
    engine: Engine
    pings: list[object] = field(default_factory=list)


@pytest.fixture
def pinged() -> Iterator[Pinged]:
    with temporary_pg_database("invoicing_t_ping") as url:
        engine = db.make_engine(url, pool_size=1, ping_after_idle_s=IDLE_S)
        seen = Pinged(engine)
        real_ping = engine.dialect.do_ping

        def counting_ping(dbapi_conn: object) -> bool:  # the real ping, counted
            seen.pings.append(dbapi_conn)
            return real_ping(dbapi_conn)

        engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
        yield seen
        engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(pinged: Pinged) -> None:
    engine = pinged.engine
    first = _backend_pid(engine)  # a new connection: just connected, no ping
    for _ in range(5):
        assert _backend_pid(engine) == first
    assert pinged.pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(pinged: Pinged) -> None:
    engine = pinged.engine
    first = _backend_pid(engine)
    terminate_backend(first)
    time.sleep(IDLE_S + 0.1)
    second = _backend_pid(engine)  # pinged, found dead, replaced: the statement succeeds
    assert second != first
    assert len(pinged.pings) == 1
    time.sleep(IDLE_S + 0.1)
    assert _backend_pid(engine) == second  # pinged again after idling, alive, kept
    assert len(pinged.pings) == 2


def test_a_connection_broken_within_the_window_fails_once_then_is_replaced(
    pinged: Pinged,
) -> None:
    engine = pinged.engine
    first = _backend_pid(engine)
    terminate_backend(first)
    with pytest.raises(OperationalError) as failed:  # not pinged: its statement fails
        _backend_pid(engine)
    assert failed.value.connection_invalidated
    assert _backend_pid(engine) not in (first, None)  # the pool connected anew
