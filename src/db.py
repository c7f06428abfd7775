"""Engines and migrations for PostgreSQL (production) and SQLite (the embedded default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "models" / "migrations"

_decode = json.JSONDecoder().decode


def json_loads(data: str | bytes) -> Any:
    """JSON columns -> Python, as ``json.loads`` does, without its encoding detection per value
    (psycopg hands over UTF-8 bytes, SQLite text): a list page decodes ~10 per invoice."""
    return _decode(data if isinstance(data, str) else data.decode())


def make_engine(
    url: str, *, lock_timeout_ms: int = 5000, statement_timeout_ms: int = 30000, pool_size: int = 5
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, json_deserializer=json_loads)
        _sqlite_serialized_writes(engine)
        return engine
    options = f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        connect_args={"options": options, "application_name": "invoicing"},
        json_deserializer=json_loads,
    )


def _sqlite_serialized_writes(engine: Engine) -> None:
    """SQLite: foreign keys on, WAL, and BEGIN IMMEDIATE so writers queue instead of failing.

    pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN is ours.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (one linear history: ``alembic upgrade head``)."""
    command.upgrade(alembic_config(url), "head")
