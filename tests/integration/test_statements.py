"""``handlers.statements.Statement`` (Core statements run on the driver's cursor) gives what
SQLAlchemy's own execution gives, on both backends: the values written and read, the column
defaults SQLAlchemy fills in, literal parameters, row counts, executemany, the exceptions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from invoicing import db
from invoicing.handlers.statements import Statement, observe, pipelined
from invoicing.models import Customer, NumberSeries, Organization, OutboxEvent
from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    String,
    Uuid,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, InvalidRequestError, OperationalError

from tests.support.databases import terminate_backend
from tests.support.sql import on_statement

_ORG = Organization.__table__
_SERIES = NumberSeries.__table__
_INSERT_ORG = Statement(insert(_ORG))
_READ_ORG = Statement(select(_ORG).where(_ORG.c.id == bindparam("id")))
_RENAME_ORG = Statement(update(_ORG).where(_ORG.c.id == bindparam("_id")))
#: a literal (``+ 1``) and a parameter used twice, as ``numbering._TAKE``
_TAKE = Statement(
    update(_SERIES)
    .where(
        _SERIES.c.organization_id == bindparam("org"),
        _SERIES.c.series == "invoice",
        _SERIES.c.scope == "",
        _SERIES.c.period == bindparam("per"),
        _SERIES.c.last_issue_date <= bindparam("day"),
    )
    .values(next_value=_SERIES.c.next_value + 1, last_issue_date=bindparam("day"))
    .returning(_SERIES.c.next_value, _SERIES.c.last_issue_date)
)
_OUTBOX = OutboxEvent.__table__
_SELECT_OUTBOX = Statement(
    select(_OUTBOX.c.subject, _OUTBOX.c.payload).where(_OUTBOX.c.event_id == bindparam("event"))
)


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A transaction rolled back at the end: the tests leave nothing behind."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def test_an_insert_gets_the_python_defaults_and_reads_back_as_sqlalchemy_reads(
    conn: Connection,
) -> None:
    org_id = uuid.uuid4()
    before = dt.datetime.now(dt.UTC)
    assert _INSERT_ORG.run(conn, {"id": org_id, "name": "Müller & Söhne GmbH"}) == 1
    ours = _READ_ORG.first(conn, {"id": org_id})
    theirs = conn.execute(select(_ORG).where(_ORG.c.id == org_id)).one()
    assert ours == tuple(theirs)
    assert ours is not None
    _id, name, profile, created_at, updated_at = ours
    assert name == "Müller & Söhne GmbH" and profile == {}
    assert created_at.tzinfo is dt.UTC and created_at >= before - dt.timedelta(seconds=1)
    assert updated_at.tzinfo is dt.UTC


def test_an_update_fills_in_onupdate_and_counts_rows(conn: Connection) -> None:
    org_id = uuid.uuid4()
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    _INSERT_ORG.run(
        conn,
        {
            "id": org_id,
            "name": "A",
            "profile": {"rate": "19.00", "nested": [1, "zwei"]},
            "created_at": old,
            "updated_at": old,
        },
    )
    assert _RENAME_ORG.run(conn, {"_id": org_id, "name": "B"}) == 1
    assert _RENAME_ORG.run(conn, {"_id": uuid.uuid4(), "name": "C"}) == 0
    row = _READ_ORG.first(conn, {"id": org_id})
    assert row is not None
    assert row[1] == "B" and row[2] == {"rate": "19.00", "nested": [1, "zwei"]}
    assert row[3] == old and row[4] > old  # updated_at: the column's onupdate


def test_literals_and_a_parameter_used_twice(conn: Connection) -> None:
    org_id = uuid.uuid4()
    day = dt.date(2026, 3, 1)
    conn.execute(
        insert(_SERIES).values(
            organization_id=org_id,
            series="invoice",
            scope="",
            period="2026",
            next_value=7,
            last_issue_date=day,
        )
    )
    taken = [_TAKE.first(conn, {"org": org_id, "per": "2026", "day": day}) for _ in range(2)]
    earlier = _TAKE.rows(conn, {"org": org_id, "per": "2026", "day": dt.date(2026, 2, 28)})
    later = _TAKE.rows(conn, {"org": org_id, "per": "2026", "day": dt.date(2026, 4, 1)})
    assert taken == [(8, day), (9, day)]
    assert earlier == []  # before the last number's date: no row matches
    assert later == [(10, dt.date(2026, 4, 1))]


def test_executemany_and_json(conn: Connection) -> None:
    org_id = uuid.uuid4()
    rows = [
        {
            "event_id": uuid.uuid4(),
            "organization_id": org_id,
            "type": "invoice.created",
            "subject": str(i),
            "sequence": i,
            "payload": {"amount": str(Decimal("0.10") * i), "name": "Übergröße"},
            "created_at": dt.datetime.now(dt.UTC),
        }
        for i in range(3)
    ]
    insert_outbox = Statement(insert(_OUTBOX))
    insert_outbox.many(conn, rows)
    with on_statement(conn.engine, lambda _c, sql: pytest.fail(f"ran {sql}")):
        insert_outbox.many(conn, [])  # nothing to write: no statement
    got = [_SELECT_OUTBOX.first(conn, {"event": r["event_id"]}) for r in rows]
    assert got == [
        (str(i), {"amount": amount, "name": "Übergröße"})
        for i, amount in enumerate(("0.00", "0.10", "0.20"))
    ]
    expanding = Statement(select(_OUTBOX.c.id).where(_OUTBOX.c.event_id.in_([uuid.uuid4()])))
    with pytest.raises(TypeError, match="IN lists"):
        expanding.rows(conn, {})


def test_driver_errors_are_sqlalchemys_and_the_transaction_goes_on_after_a_savepoint(
    conn: Connection,
) -> None:
    org_id = uuid.uuid4()
    _INSERT_ORG.run(conn, {"id": org_id, "name": "A"})
    savepoint = conn.begin_nested()
    with pytest.raises(IntegrityError) as caught:
        _INSERT_ORG.run(conn, {"id": org_id, "name": "twice"})
    savepoint.rollback()
    assert _READ_ORG.first(conn, {"id": org_id}) is not None
    assert "organizations" in str(caught.value.statement)
    assert caught.value.orig is not None


def test_pipelined_writes_apply_in_order_and_an_error_comes_out_at_the_end(
    conn: Connection,
) -> None:
    """Writes in a ``pipelined`` block (one round trip on PostgreSQL) apply in order; a
    failing one raises SQLAlchemy's exception by the block's end, the statements after it are
    not applied, and a savepoint undoes the block as it undoes any statement."""
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with pipelined(conn):
        _INSERT_ORG.run(conn, {"id": first, "name": "A"})
        count = _RENAME_ORG.run(conn, {"_id": first, "name": "B"})
    assert count == (-1 if conn.dialect.name == "postgresql" else 1)  # not known in the block
    assert _READ_ORG.first(conn, {"id": first}) is not None
    assert conn.execute(select(_ORG.c.name).where(_ORG.c.id == first)).scalar_one() == "B"
    savepoint = conn.begin_nested()
    with pytest.raises(IntegrityError) as caught, pipelined(conn):
        _INSERT_ORG.run(conn, {"id": second, "name": "C"})
        _INSERT_ORG.run(conn, {"id": first, "name": "twice"})  # the primary key is taken
        _INSERT_ORG.run(conn, {"id": third, "name": "D"})
    assert caught.value.orig is not None
    savepoint.rollback()
    assert _READ_ORG.first(conn, {"id": second}) is None
    assert _READ_ORG.first(conn, {"id": third}) is None
    assert conn.execute(select(_ORG.c.name).where(_ORG.c.id == first)).scalar_one() == "B"


def test_an_expected_row_count_is_checked_at_once_or_at_the_end_of_a_pipelined_block(
    conn: Connection,
) -> None:
    org_id, gone = uuid.uuid4(), uuid.uuid4()
    _INSERT_ORG.run(conn, {"id": org_id, "name": "A"})

    def stale() -> Exception:
        return LookupError("the row to update is gone")

    _RENAME_ORG.run_expecting(conn, {"_id": org_id, "name": "B"}, 1, stale)
    with pytest.raises(LookupError):
        _RENAME_ORG.run_expecting(conn, {"_id": gone, "name": "B"}, 1, stale)
    with pipelined(conn):
        _RENAME_ORG.run_expecting(conn, {"_id": org_id, "name": "C"}, 1, stale)
    with pytest.raises(LookupError), pipelined(conn):
        _RENAME_ORG.run_expecting(conn, {"_id": org_id, "name": "D"}, 1, stale)
        _RENAME_ORG.run_expecting(conn, {"_id": gone, "name": "D"}, 1, stale)
    assert conn.execute(select(_ORG.c.name).where(_ORG.c.id == org_id)).scalar_one() == "D"


def test_a_missing_parameter_and_a_naive_datetime_are_refused(conn: Connection) -> None:
    with pytest.raises(InvalidRequestError, match="bind parameter 'id'"):
        _READ_ORG.first(conn, {"identifier": uuid.uuid4()})
    with pytest.raises(ValueError, match="naive datetime"):
        _INSERT_ORG.run(
            conn, {"id": uuid.uuid4(), "name": "A", "created_at": dt.datetime(2026, 1, 1)}
        )


def test_observers_see_each_statement_with_its_engine(engine: Engine) -> None:
    seen: list[tuple[Engine, str]] = []
    recorded: list[str] = []

    def watch(source: Engine, _cursor: Any, sql: str, _params: Any) -> None:
        seen.append((source, sql))

    with engine.connect() as conn:
        with observe(watch), on_statement(engine, lambda _c, sql: recorded.append(sql)):
            _READ_ORG.first(conn, {"id": uuid.uuid4()})
            conn.execute(select(Customer.__table__.c.id).limit(1))
        _READ_ORG.first(conn, {"id": uuid.uuid4()})  # no longer observed
        conn.rollback()
    assert seen == [(engine, seen[0][1])] and "FROM organizations" in seen[0][1]
    # SQLite: the connection's begin (BEGIN IMMEDIATE, serialized writes) came first, as
    # Connection.execute would have begun it
    begin = ["BEGIN IMMEDIATE"] if engine.dialect.name == "sqlite" else []
    assert recorded[: len(begin)] == begin and len(recorded) == len(begin) + 2
    assert "FROM organizations" in recorded[-2] and "FROM customers" in recorded[-1]


def test_a_lost_connection_is_invalidated_and_the_pool_connects_anew(pg_url: str) -> None:
    """As SQLAlchemy's own execute: the driver's error becomes ``OperationalError`` with
    ``connection_invalidated``, and the pool does not hand the dead connection out again."""
    engine = db.make_engine(pg_url, ping_after_idle_s=3600)  # no ping: the statement finds it
    pid = Statement(select(func.pg_backend_pid()))
    try:
        with engine.connect() as conn:
            first = pid.rows(conn, {})[0][0]
            conn.rollback()
            terminate_backend(first)
            with pytest.raises(OperationalError) as lost:
                pid.rows(conn, {})
            assert lost.value.connection_invalidated
        with engine.connect() as conn:
            assert pid.rows(conn, {})[0][0] != first
    finally:
        engine.dispose()


def test_a_connection_lost_in_a_pipelined_block_is_invalidated(pg_url: str) -> None:
    """The same when the connection dies under a ``pipelined`` block: its error, raised by a
    statement or at the block's end, is ``OperationalError`` with ``connection_invalidated``,
    and the pool connects anew."""
    engine = db.make_engine(pg_url, ping_after_idle_s=3600)
    pid = Statement(select(func.pg_backend_pid()))
    suicide = Statement(select(func.pg_terminate_backend(func.pg_backend_pid())))
    try:
        with engine.connect() as conn:
            first = pid.rows(conn, {})[0][0]
            conn.rollback()
            terminate_backend(first)
            with pytest.raises(OperationalError) as lost, pipelined(conn):
                _INSERT_ORG.run(conn, {"id": uuid.uuid4(), "name": "A"})
                _RENAME_ORG.run(conn, {"_id": uuid.uuid4(), "name": "B"})
            assert lost.value.connection_invalidated
        with engine.connect() as conn:
            second = pid.rows(conn, {})[0][0]
            assert second != first
            conn.rollback()
            # sent, then lost before its results arrived: raised at the block's end
            with pytest.raises(OperationalError) as lost, pipelined(conn):
                _INSERT_ORG.run(conn, {"id": uuid.uuid4(), "name": "A"})
                suicide.run(conn, {})
            assert lost.value.connection_invalidated
        with engine.connect() as conn:
            assert pid.rows(conn, {})[0][0] not in (first, second)
    finally:
        engine.dispose()


def test_arrays_sent_as_binary_arrive_element_for_element(pg_url: str) -> None:
    """``Statement(binary=...)``: psycopg sends those parameters in the binary format
    (``%(name)b``, no quoting of each element), and every element arrives as it was: text
    with the characters the text format quotes or escapes, the word NULL, UUIDs."""
    words = ["a,b", "{x}", "NULL", "null", '"q"', "back\\slash", " spaced ", "", "Müller €"]
    ids = [uuid.uuid4(), uuid.uuid4()]
    echo = Statement(
        select(
            func.array_length(bindparam("words", type_=ARRAY(String)), 1),
            bindparam("words", type_=ARRAY(String)),
            bindparam("ids", type_=ARRAY(Uuid)),
        ),
        binary=("words", "ids"),
    )
    seen: list[str] = []
    engine = db.make_engine(pg_url)
    try:
        with engine.connect() as conn, observe(lambda _e, _c, sql, _p: seen.append(sql)):
            assert echo.rows(conn, {"words": words, "ids": ids}) == [(len(words), words, ids)]
            conn.rollback()
    finally:
        engine.dispose()
    assert "%(words)b" in seen[0] and "%(ids)b" in seen[0] and "%(words)s" not in seen[0]


def test_a_binary_parameter_the_statement_lacks_is_refused(pg_url: str) -> None:
    typo = Statement(select(bindparam("words", type_=ARRAY(String))), binary=("word",))
    engine = db.make_engine(pg_url)
    try:
        with engine.connect() as conn, pytest.raises(TypeError, match="no parameter word"):
            typo.rows(conn, {"words": ["a"]})
    finally:
        engine.dispose()
