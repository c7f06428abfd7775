"""Throwaway databases for tests: a uniquely named PostgreSQL database per session, and a
freshly migrated database of either backend."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, event, text

ADMIN_URL = os.environ.get(
    "INVOICING_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pg_available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def temporary_pg_database(prefix: str = "invoicing_t") -> Iterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_url(backend: str, folder: Path, prefix: str) -> Iterator[str]:
    """The URL of a database made by the migrations: an SQLite file in ``folder``, or a fresh
    PostgreSQL database named after ``prefix`` (dropped afterwards)."""
    from invoicing import db

    if backend == "sqlite":
        url = f"sqlite:///{folder / f'{prefix}.sqlite3'}"
        db.migrate(url)
        yield url
        return
    with temporary_pg_database(prefix) as url:
        db.migrate(url)
        yield url


@contextmanager
def migrated_engine(backend: str, folder: Path, prefix: str) -> Iterator[Engine]:
    """A plain engine on :func:`migrated_url`'s database, disposed of afterwards."""
    from invoicing import db

    with migrated_url(backend, folder, prefix) as url:
        engine = create_engine(url)
        if backend == "sqlite":  # what the queries call on SQLite (db.make_engine's engines too)
            event.listen(engine, "connect", lambda conn, _: db.register_sqlite_functions(conn))
        try:
            yield engine
        finally:
            engine.dispose()


def terminate_backend(pid: int) -> None:
    """End a PostgreSQL backend (as a database restart or a network cut would) and wait until
    it is gone."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            gone = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            if gone == (0,):
                return
            time.sleep(0.02)


def until_waiting_for_locks(engine: Engine, count: int, what: str) -> None:
    """Until ``count`` sessions of ``engine``'s database (PostgreSQL) wait for a lock; fails
    after 30 s with ``what`` (who should have queued, for what)."""
    deadline = time.monotonic() + 30
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    with engine.connect() as conn:
        while conn.execute(query).scalar_one() < count:
            assert time.monotonic() < deadline, f"{what} did not queue"
            time.sleep(0.01)
            conn.rollback()
