"""A database engine that cannot write: the web page's only path to the data.

PostgreSQL: every transaction starts ``READ ONLY`` (``default_transaction_read_only``), so even
a bug cannot change a row; point ``INVOICING_WEB_DATABASE_URL`` at a role with SELECT grants
only for a second wall. SQLite: ``PRAGMA query_only``, and plain deferred transactions (the
writers' ``BEGIN IMMEDIATE`` would queue the page behind every command).
"""

from __future__ import annotations

from typing import Any

from invoicing.config import normalize_database_url
from invoicing.db import register_sqlite_functions
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_readonly_engine(url: str, *, statement_timeout_ms: int = 5000) -> Engine:
    url = normalize_database_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 10})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA query_only=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
            register_sqlite_functions(dbapi_conn)

        return engine
    options = f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout_ms}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        connect_args={"options": options, "application_name": "invoicing-web"},
    )
