"""JSON columns through each backend's engine (src/db.py): what goes in comes back.

On PostgreSQL the parameters of JSONB columns are encoded by pydantic-core (``db.json_dumps``)
instead of ``json.dumps``; the values stored must be the same, and what the database refused
before (NaN, the NUL character) it must still refuse.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from invoicing.models.base import JSONType
from sqlalchemy import Column, Engine, MetaData, Table, Uuid, exc, select

pytestmark = pytest.mark.integration

_metadata = MetaData()
_documents = Table(
    f"json_probe_{uuid.uuid4().hex[:8]}",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("doc", JSONType),
)

VALUES: list[Any] = [
    {"name": "Müller & Söhne GmbH", "emoji": "🧾", "quote": '"a"\\b', "tab": "\t"},
    {"nested": {"list": [1, -2, 3.25, True, False, None], "empty": {}, "none": []}},
    {"big": 10**30, "negative": -(2**63), "zero": 0},
    ["line 1\nline 2", "", {"1": "key that was an int"}],
    "a plain string",
    42,
]


@pytest.fixture
def table(engine: Engine) -> Iterator[Table]:
    _metadata.create_all(engine)
    try:
        yield _documents
    finally:
        _metadata.drop_all(engine)


@pytest.mark.parametrize("value", VALUES)
def test_a_json_value_comes_back_as_it_went_in(engine: Engine, table: Table, value: Any) -> None:
    key = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(table.insert(), {"id": key, "doc": value})
    with engine.connect() as conn:
        assert conn.execute(select(table.c.doc).where(table.c.id == key)).scalar_one() == value


def test_an_int_key_is_stored_as_its_text(engine: Engine, table: Table) -> None:
    key = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(table.insert(), {"id": key, "doc": {1: "one"}})
    with engine.connect() as conn:
        assert conn.execute(select(table.c.doc).where(table.c.id == key)).scalar_one() == {
            "1": "one"
        }


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite stores JSON as text
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "nul \x00 inside"])
def test_postgresql_still_refuses_what_json_cannot_hold(
    engine: Engine, table: Table, bad: Any
) -> None:
    assert engine.dialect.name == "postgresql"
    with pytest.raises(exc.DBAPIError), engine.begin() as conn:
        conn.execute(table.insert(), {"id": uuid.uuid4(), "doc": {"value": bad}})
