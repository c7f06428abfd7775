"""The hot path's statements: defined with SQLAlchemy Core, run on the DBAPI cursor.

A command of the hot path (``create_invoice``, ``finalize_invoice``, the inbox claim, the outbox
rows) runs five or six statements. Run through ``Connection.execute``, each cost about 75 us of
CPU more than the same statement run on the driver's cursor (measured in session 10: 110-120 us
against 33-38 us for a one-row INSERT .. RETURNING or a key lookup on psycopg): the execution
context, the result object, the cursor's description (psycopg builds a column object per
column: a finalize reads about 100) and the events. Together that was a fifth of the in-process
CPU of a command (docs/pipeline.md, session 10).

A :class:`Statement` keeps the Core statement as the one definition. For each dialect (and each
set of parameter names, as SQLAlchemy compiles an INSERT or UPDATE per set of columns) it asks
SQLAlchemy, through its public compiler API, for the SQL text, the parameter names it uses,
the literal values it binds itself, the column defaults it fills in (``onupdate``), and each
type's bind and result processors; then it runs the text on the DBAPI connection under the
unit of work's connection, in the same transaction (a savepoint begun on the session is
emitted when the connection is asked for, as before). Driver errors become SQLAlchemy's
exceptions (``IntegrityError``, ``OperationalError``, ...), as the rest of the service expects,
and a connection the driver reports lost is invalidated, as SQLAlchemy does.

SQLAlchemy's ``before_cursor_execute`` event does not see these statements; :func:`observe`
registers a callback that does (the tests that count statements use both).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from sqlalchemy import ColumnDefault, Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any]
_Key = tuple[str, str, tuple[str, ...]]

#: the row counts a :func:`pipelined` block checks at its end: (cursor, count, error)
_checks: ContextVar[list[tuple[Any, int, Callable[[], Exception]]] | None] = ContextVar(
    "statement_checks", default=None
)

#: callbacks ``(engine, dbapi_cursor, sql, parameters)`` run before each statement
_observers: list[Callable[[Engine, Any, str, Any], None]] = []


@contextmanager
def observe(callback: Callable[[Engine, Any, str, Any], None]) -> Iterator[None]:
    """Call ``callback(engine, cursor, sql, parameters)`` before every statement run here
    (on any engine), meanwhile: what SQLAlchemy's ``before_cursor_execute`` event is for the
    statements it runs itself."""
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


class _Sentinel:
    """Stands for the parameter ``key`` when the compiler is asked which name gets what."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    #: positional paramstyle (SQLite's ``?``): the parameter key of each placeholder in order
    positions: tuple[str, ...] | None
    #: (name in the SQL, key of the caller's parameters) where they differ
    renamed: tuple[tuple[str, str], ...]
    #: values the statement binds itself (literals in the expression)
    fixed: tuple[tuple[str, Any], ...]
    #: (name, make) of the columns whose Python default SQLAlchemy would fill in (onupdate)
    defaults: tuple[tuple[str, Callable[[], Any]], ...]
    #: (name, processor) of the parameters whose type converts the value for the driver
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    #: the result columns' types (their processors are made from the first cursor's
    #: description: a type's result processor may depend on the driver's column type)
    result_types: tuple[Any, ...]


class Statement:
    """A Core statement compiled once per dialect and run on the transaction's DBAPI cursor.

    ``rows`` returns plain tuples (the values converted as SQLAlchemy's result would convert
    them); ``run`` returns the row count; ``many`` runs one executemany."""

    __slots__ = ("_binary", "_lock", "_plans", "_results", "_statement")

    def __init__(self, statement: ClauseElement, *, binary: tuple[str, ...] = ()) -> None:
        """``binary``: parameters psycopg sends in the binary format (``%(name)b``), for
        arrays: in the text format psycopg decides for every element whether to quote it
        with a regular expression (the inbox claim's four arrays of 32 claims: 416 µs to
        dump as text, 57 µs as binary; docs/pipeline.md, session 21)."""
        self._statement = statement
        self._binary = binary
        #: by (dialect, driver, parameter names): SQL and its parameters differ by driver
        self._plans: dict[_Key, _Plan] = {}
        #: per plan: (column index, processor) of the result columns that have one
        self._results: dict[_Key, tuple[tuple[int, _Processor], ...]] = {}
        self._lock = threading.Lock()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        key, plan = self._plan(conn.dialect, params)
        cursor = self._execute(conn, plan, [params], many=False)
        rows = cursor.fetchall()
        processors = self._results.get(key)
        if processors is None:  # from the driver's description, once
            processors = self._results[key] = self._result_processors(conn.dialect, plan, cursor)
        if not processors:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        _key, plan = self._plan(conn.dialect, params)
        count: int = self._execute(conn, plan, [params], many=False).rowcount
        return count

    def run_expecting(
        self,
        conn: Connection,
        params: Mapping[str, Any],
        count: int,
        error: Callable[[], Exception],
    ) -> None:
        """``run``, then ``error()`` is raised unless it changed ``count`` rows: at once, or
        inside a :func:`pipelined` block when the block's results have arrived."""
        checks = _checks.get()
        if checks is None:
            if self.run(conn, params) != count:
                raise error()
            return
        _key, plan = self._plan(conn.dialect, params)
        checks.append((self._execute(conn, plan, [params], many=False), count, error))

    def many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        _key, plan = self._plan(conn.dialect, rows[0])
        self._execute(conn, plan, rows, many=True)

    # -- planning ----------------------------------------------------------------------------

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[_Key, _Plan]:
        key = (dialect.name, dialect.driver, tuple(params))
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key)
                if plan is None:
                    if len(self._plans) > 256:  # a bounded cache (sets of columns are few)
                        self._plans.clear()
                        self._results.clear()
                    plan = self._plans[key] = self._compile(dialect, tuple(params))
        return key, plan

    def _compile(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        compiled = self._statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        sql = compiled.string
        if "__[POSTCOMPILE" in sql:
            raise TypeError("Statement: expanding parameters (IN lists) are not supported")
        if dialect.driver == "psycopg":
            for name in self._binary:
                if f"%({name})s" not in sql:
                    raise TypeError(f"Statement: no parameter {name} to send as binary")
                sql = sql.replace(f"%({name})s", f"%({name})b")
        # which name in the SQL gets which of the caller's parameters, or a value of its own
        # (a parameter the statement needs and the caller did not give: InvalidRequestError)
        probe = compiled.construct_params({k: _Sentinel(k) for k in keys})
        prefetch = {c.key: c for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
        update = bool(compiled.isupdate)
        renamed, fixed, defaults = [], [], []
        for name, value in probe.items():
            if isinstance(value, _Sentinel):
                if name != value.key:
                    renamed.append((name, value.key))
            elif name in prefetch and name not in keys:
                column = prefetch[name]
                default = column.onupdate if update else column.default
                defaults.append((name, python_default(default, f"Statement: {column}")))
            else:
                fixed.append((name, value))
        processors = []
        for name, bind in compiled.binds.items():
            if name not in probe:
                continue
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
        positions: tuple[str, ...] | None = None
        if compiled.positiontup is not None:
            positions = tuple(compiled.positiontup)
        result_types = tuple(c.type for c in getattr(self._statement, "exported_columns", ()))
        return _Plan(
            sql=sql,
            positions=positions,
            renamed=tuple(renamed),
            fixed=tuple(fixed),
            defaults=tuple(defaults),
            processors=tuple(processors),
            result_types=result_types,
        )

    @staticmethod
    def _result_processors(
        dialect: Dialect, plan: _Plan, cursor: Any
    ) -> tuple[tuple[int, _Processor], ...]:
        description = cursor.description or ()
        if len(description) != len(plan.result_types):
            raise TypeError(
                f"Statement: {len(description)} result columns, {len(plan.result_types)} typed"
            )
        processors = (
            type_.dialect_impl(dialect).result_processor(dialect, column[1])
            for type_, column in zip(plan.result_types, description, strict=True)
        )
        return tuple((i, p) for i, p in enumerate(processors) if p is not None)

    # -- execution ---------------------------------------------------------------------------

    @staticmethod
    def _parameters(plan: _Plan, params: Mapping[str, Any]) -> Any:
        values = dict(params)
        for name, key in plan.renamed:
            values[name] = params[key]
        for name, value in plan.fixed:
            values[name] = value
        for name, make in plan.defaults:
            values[name] = make()
        for name, process in plan.processors:
            values[name] = process(values[name])
        if plan.positions is not None:
            return tuple(values[name] for name in plan.positions)
        return values

    def _execute(
        self, conn: Connection, plan: _Plan, rows: Sequence[Mapping[str, Any]], *, many: bool
    ) -> Any:
        if not conn.in_transaction():  # as Connection.execute: begin (SQLite: BEGIN IMMEDIATE)
            conn.begin()
        dbapi_conn = conn.connection.driver_connection
        assert dbapi_conn is not None
        parameters: Any = [self._parameters(plan, row) for row in rows]
        if not many:
            parameters = parameters[0]
        cursor = _cursor(conn, dbapi_conn)
        for callback in _observers:
            callback(conn.engine, cursor, plan.sql, parameters)
        try:
            if many:
                cursor.executemany(plan.sql, parameters)
            else:
                cursor.execute(plan.sql, parameters)
        except conn.dialect.loaded_dbapi.Error as error:
            lost = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
            if lost:
                conn.invalidate(error)
            raise DBAPIError.instance(
                plan.sql,
                parameters,
                error,
                conn.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=conn.dialect,
                ismulti=many,
            ) from error
        return cursor


def _cursor(conn: Connection, dbapi_conn: Any) -> Any:
    """The cursor to run a statement on: the connection's own, kept between statements
    (making one costs psycopg a new adaptation context: about 5 % of a command's CPU), or, in
    a :func:`pipelined` block, a new one per statement (each keeps its own row count until
    the block's results arrive; the block closes those whose counts it checks, the others
    go with their last reference)."""
    if _checks.get() is not None:
        return dbapi_conn.cursor()
    info = conn.connection.info  # lives as long as the DBAPI connection
    kept = info.get(_CURSOR)
    if kept is None or kept[0] is not dbapi_conn or getattr(kept[1], "closed", False):
        kept = info[_CURSOR] = (dbapi_conn, dbapi_conn.cursor())
    return kept[1]


#: the key of a DBAPI connection's kept cursor in its pool entry's ``info``
_CURSOR = "invoicing.statements.cursor"


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """Send the statements run inside in one round trip where the driver can (psycopg's
    pipeline mode on PostgreSQL; elsewhere each runs as it comes, as without this).

    For writes whose results nobody reads before the block ends: ``run`` returns -1 (the
    row count is not known yet; ``run_expecting`` checks it when the results have arrived,
    at the block's end), and an error of any statement inside -- the database's,
    in the order the statements were sent -- is raised when the block ends at the latest,
    as SQLAlchemy's exception like any other (``IntegrityError``, ...). The statements after
    a failed one are not run. A block holds no reads (``rows``/``first``) and no statement run
    through SQLAlchemy's ``Connection.execute`` (docs/design.md, "Core statements on the
    driver's cursor")."""
    if not conn.in_transaction():
        conn.begin()
    dbapi_conn = conn.connection.driver_connection
    begin = getattr(dbapi_conn, "pipeline", None)
    if begin is None:  # SQLite
        yield
        return
    checks: list[tuple[Any, int, Callable[[], Exception]]] = []
    token = _checks.set(checks)
    try:
        with begin():
            yield
        for cursor, count, error in checks:  # the row counts have arrived with the results
            if cursor.rowcount != count:
                raise error()
    except DBAPIError:  # raised by a statement inside (translated by ``_execute``)
        raise
    except conn.dialect.loaded_dbapi.Error as error:  # raised when the results arrived
        lost = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(
            "(pipelined statements)",
            None,
            error,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from error
    finally:
        _checks.reset(token)
        for cursor, _count, _error in checks:
            cursor.close()


def python_default(default: Any, where: str) -> Callable[[], Any]:
    """The value SQLAlchemy fills in for a column's Python-side ``default``/``onupdate``
    (``None``: no default, the value None); ``where`` names the column in the error for a SQL
    expression default, which only the database can compute."""
    if default is None:
        return partial(_same, None)
    if isinstance(default, ColumnDefault) and default.is_callable:
        # utcnow, dict, list: SQLAlchemy wraps them to take the (unused) execution context
        return partial(cast(Any, default).arg, None)
    if isinstance(default, ColumnDefault) and default.is_scalar:
        return partial(_same, cast(Any, default).arg)
    raise TypeError(f"{where}: a SQL default is not supported here")


def _same(value: Any) -> Any:
    return value
