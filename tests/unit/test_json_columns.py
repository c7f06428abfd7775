"""``db.json_loads``: how the service decodes JSON columns (psycopg's bytes, SQLite's text)."""

from __future__ import annotations

import json

import pytest
from invoicing.db import json_loads


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, null, true], "b": {"c": "Müller"}}',
        "[]",
        "{}",
        '"x"',
        "null",
        "12.50",
        ' {"a": 1}',  # whitespace around: decoded as json.loads decodes it
        '{"a": 1}\n',
        "\t[1]  ",
    ],
)
def test_a_column_decodes_as_json_loads_decodes_it(text: str) -> None:
    assert json_loads(text) == json.loads(text)
    assert json_loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a": 1} {"b": 2}', '{"a": 1', "", "  ", "[1,]", "nul"])
def test_a_broken_column_fails_as_json_loads_fails(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        json_loads(text)
    assert str(got.value) == str(expected.value)


def test_a_number_from_sqlite_is_its_own_value() -> None:
    assert json_loads(3) == 3 and json_loads(2.5) == 2.5
