"""The one error translator (invoicing.pipeline.errors): pointer, detail and hint of schema
errors, without a database."""

from __future__ import annotations

from typing import Any

import pytest
from invoicing.pipeline.errors import from_validation
from invoicing.schemas.filters import InvoiceFilter
from pydantic import ValidationError


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        InvoiceFilter.model_validate(data)
    return from_validation(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("open", '["open"]'), (2, "[2]"), (True, "[true]"), ("x" * 100, '["' + "x" * 40 + '…"]')],
)
def test_a_single_value_where_a_list_goes_is_shown_the_list(value: Any, expected: str) -> None:
    field = "dunning_level" if isinstance(value, int) and not isinstance(value, bool) else "status"
    (error,) = _errors({field: value})
    assert error["source"]["pointer"] == f"/{field}"
    assert error["meta"]["hint"] == f"send a JSON array, e.g. {expected}"


def test_an_object_where_a_list_goes_keeps_the_general_hint() -> None:
    (error,) = _errors({"status": {"eq": "open"}})
    assert error["meta"]["hint"] == "send a JSON array"
