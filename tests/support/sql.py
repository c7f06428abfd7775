"""The SQL statements an engine's connections send, for tests that pin round trips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from invoicing.handlers import statements
from sqlalchemy import Engine, event


@contextmanager
def on_statement(engine: Engine, callback: Callable[[Any, str], None]) -> Iterator[None]:
    """``callback(dbapi_cursor, sql)`` before each statement on ``engine``'s connections:
    those SQLAlchemy runs (its ``before_cursor_execute`` event) and the hot path's, which run
    on the driver's cursor (``invoicing.handlers.statements``)."""

    def by_sqlalchemy(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        callback(cursor, statement)

    def by_hot_path(source: Engine, cursor: Any, statement: str, _params: Any) -> None:
        if source is engine:
            callback(cursor, statement)

    event.listen(engine, "before_cursor_execute", by_sqlalchemy)
    try:
        with statements.observe(by_hot_path):
            yield
    finally:
        event.remove(engine, "before_cursor_execute", by_sqlalchemy)
