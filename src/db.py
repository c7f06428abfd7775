"""Engines and migrations for PostgreSQL (production) and SQLite (the embedded default)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from pydantic_core import to_json
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

MIGRATIONS = Path(__file__).parent / "models" / "migrations"

_decoder = json.JSONDecoder()
_decode, _raw_decode = _decoder.decode, _decoder.raw_decode


def json_loads(data: str | bytes | float) -> Any:
    """JSON columns -> Python, as ``json.loads`` does, without its encoding detection per value
    (psycopg hands over UTF-8 bytes, SQLite text): a list page decodes two per invoice. A JSON
    number alone in a column comes from SQLite as a number (the column's NUMERIC affinity
    stored it as one): it is its own value.

    A column's text is one document with nothing around it, which ``raw_decode`` reads
    without the two regular-expression matches for surrounding whitespace that ``decode``
    runs per value; anything else (whitespace, trailing text, an error to report) goes through
    ``decode``, which decodes or fails as ``json.loads`` would."""
    if isinstance(data, int | float):
        return data
    text = data if isinstance(data, str) else data.decode()
    try:
        value, end = _raw_decode(text)
    except json.JSONDecodeError:
        return _decode(text)
    return value if end == len(text) else _decode(text)


def json_dumps(value: Any) -> bytes:
    """Python -> a JSONB parameter (psycopg takes bytes): pydantic-core's encoder, in Rust,
    instead of ``json.dumps``. PostgreSQL stores the parsed value, so the text's spacing and
    escapes do not reach the column. NaN and infinities are written as such, as ``json.dumps``
    writes them, and PostgreSQL refuses them as before."""
    return to_json(value, inf_nan_mode="constants")


#: a pooled PostgreSQL connection is pinged before use only after it lay idle this long
PING_AFTER_IDLE_S = 1.0


def make_engine(
    url: str,
    *,
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = 30000,
    pool_size: int = 5,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, json_deserializer=json_loads)
        _sqlite_serialized_writes(engine)
        return engine
    # TimeZone=UTC: psycopg then returns timestamptz values with ``dt.UTC`` itself, which the
    # models' UTCDateTime passes on unchanged (models/base.py)
    options = (
        f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms} "
        "-c TimeZone=UTC"
    )
    engine = create_engine(
        url,
        pool_size=pool_size,
        connect_args={"options": options, "application_name": "invoicing"},
        json_serializer=json_dumps,
        json_deserializer=json_loads,
    )
    _ping_after_idle(engine, ping_after_idle_s)
    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A pooled connection for statements that write nothing, its transaction ended with
    ``COMMIT``: for a transaction that wrote nothing the same as ``ROLLBACK``, but psycopg
    forgets every prepared statement of a connection at a ``ROLLBACK`` (and the commands that
    use the connection next parse and plan theirs anew: docs/pipeline.md, "Prepared
    statements"). An error inside ends it with ``ROLLBACK``, as closing a connection does."""
    with engine.connect() as conn:
        yield conn
        conn.commit()


def _ping_after_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection before use, but only when it lay idle in the pool for
    ``idle_s`` or longer: what ``pool_pre_ping`` does on every checkout, one round trip per
    transaction, which under load is one statement more per command or batch for a
    connection that was in use a moment ago. A connection that fails its ping is replaced
    (``DisconnectionError`` from the checkout event: the pool connects anew, SQLAlchemy's
    documented way of a custom pre-ping). One that breaks within ``idle_s`` of its last use
    fails its statement like any connection breaking mid-transaction: the transaction rolls
    back, SQLAlchemy drops the connection, and the caller retries (the worker's transient
    retry; tests/integration/test_pool_ping.py)."""

    def _idle_from_now(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    event.listen(engine, "connect", _idle_from_now)  # just connected: no ping needed
    event.listen(engine, "checkin", _idle_from_now)

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the driver's error: the connection is gone
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")


#: the SQLite function (on every connection of ``make_engine``) that lowers text as Python does
SQLITE_LOWER = "unicode_lower"


#: the characters whose ``str.lower`` is longer than one character, and their simple lowercase
#: mapping (UnicodeData.txt), which PostgreSQL's ``lower()`` applies: "İ" (U+0130) -> "i"
_SIMPLE_LOWER = {"\u0130": "i"}


def lower_like_postgresql(text: str) -> str:
    """``text`` lowered character by character, as PostgreSQL's ``lower()`` lowers it (in a
    UTF-8 database): Python's ``str.lower`` applies the full, context-dependent mappings ("İ"
    becomes "i" and a combining dot, a capital sigma ending a word a final "ς"), PostgreSQL the
    simple one-to-one mapping ("i", "σ"). Search words and, on SQLite, the searched texts are
    lowered by this, so a search finds the same on both backends."""
    if text.isascii():
        return text.lower()
    return "".join(_SIMPLE_LOWER.get(ch) or ch.lower() for ch in text)


def _unicode_lower(value: Any) -> Any:
    return lower_like_postgresql(value) if isinstance(value, str) else value


def register_sqlite_functions(dbapi_conn: Any) -> None:
    """The functions the queries use on an SQLite connection (every engine that reads through
    them registers them when it connects). SQLite's own ``lower()`` folds ASCII only ("ÖKO"
    stays "Öko"): text search lowers with :func:`lower_like_postgresql` instead
    (``queries.common.lower_text``), as the search words are lowered, so "öko" finds
    "ÖKO-Bau GmbH" as on PostgreSQL."""
    dbapi_conn.create_function(SQLITE_LOWER, 1, _unicode_lower, deterministic=True)


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
        register_sqlite_functions(dbapi_conn)

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
