"""The invoice filter schema (operators, shorthands) and the named date ranges, without I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from invoicing.queries.filters import fuzzy_range
from invoicing.schemas.exports import ExportCsvPayload
from invoicing.schemas.filters import InvoiceFilter
from invoicing.schemas.queries import ListInvoices
from pydantic import ValidationError

D = dt.date


@pytest.mark.parametrize(
    ("name", "today", "first", "last"),
    [
        ("today", D(2026, 3, 4), D(2026, 3, 4), D(2026, 3, 4)),
        ("yesterday", D(2026, 1, 1), D(2025, 12, 31), D(2025, 12, 31)),
        ("tomorrow", D(2026, 12, 31), D(2027, 1, 1), D(2027, 1, 1)),
        ("this_week", D(2026, 1, 1), D(2025, 12, 29), D(2026, 1, 4)),  # Thursday
        ("this_week", D(2026, 1, 5), D(2026, 1, 5), D(2026, 1, 11)),  # Monday
        ("this_week", D(2026, 1, 11), D(2026, 1, 5), D(2026, 1, 11)),  # Sunday
        ("last_week", D(2026, 1, 5), D(2025, 12, 29), D(2026, 1, 4)),
        ("next_week", D(2026, 12, 30), D(2027, 1, 4), D(2027, 1, 10)),
        ("this_month", D(2024, 2, 10), D(2024, 2, 1), D(2024, 2, 29)),
        ("last_month", D(2026, 1, 31), D(2025, 12, 1), D(2025, 12, 31)),
        ("next_month", D(2026, 12, 1), D(2027, 1, 1), D(2027, 1, 31)),
        ("this_quarter", D(2026, 5, 31), D(2026, 4, 1), D(2026, 6, 30)),
        ("last_quarter", D(2026, 1, 15), D(2025, 10, 1), D(2025, 12, 31)),
        ("this_quarter", D(2026, 12, 31), D(2026, 10, 1), D(2026, 12, 31)),
        ("this_year", D(2026, 7, 1), D(2026, 1, 1), D(2026, 12, 31)),
        ("last_year", D(2026, 1, 1), D(2025, 1, 1), D(2025, 12, 31)),
    ],
)
def test_fuzzy_ranges(name: str, today: dt.date, first: dt.date, last: dt.date) -> None:
    assert fuzzy_range(name, today) == (first, last)


def test_every_day_of_two_years_lies_in_its_own_ranges() -> None:
    day = D(2025, 1, 1)
    while day < D(2027, 1, 1):
        for name in ("this_week", "this_month", "this_quarter", "this_year"):
            first, last = fuzzy_range(name, day)
            assert first <= day <= last
        first, last = fuzzy_range("last_month", day)
        assert last + dt.timedelta(days=1) == fuzzy_range("this_month", day)[0]
        first, last = fuzzy_range("last_quarter", day)
        assert last + dt.timedelta(days=1) == fuzzy_range("this_quarter", day)[0]
        assert (last - first).days in (89, 90, 91)
        day += dt.timedelta(days=1)


def test_shorthands_mean_eq_and_in() -> None:
    f = InvoiceFilter.model_validate(
        {
            "gross_total": "10.5",
            "customer_id": ["22222222-2222-4222-8222-222222222222"],
            "issue_date": "last_month",
            "due_date": "2026-01-31",
            "number": "RE-1",
            "creator_id": ["a", "b"],
        }
    )
    assert f.gross_total is not None and f.gross_total.given() == {"eq": Decimal("10.5")}
    assert f.customer_id is not None and list(f.customer_id.given()) == ["in"]
    assert f.issue_date is not None and f.issue_date.given() == {"fuzzy": "last_month"}
    assert f.due_date is not None and f.due_date.given() == {"eq": D(2026, 1, 31)}
    assert f.number is not None and f.number.given() == {"eq": "RE-1"}
    assert f.creator_id is not None and f.creator_id.given() == {"in": ["a", "b"]}


def test_operators_combine() -> None:
    f = InvoiceFilter.model_validate({"paid_amount": {"gt": 0, "lte": "100.00", "not_eq": 5}})
    assert f.paid_amount is not None
    assert f.paid_amount.given() == {
        "gt": Decimal(0),
        "lte": Decimal("100.00"),
        "not_eq": Decimal(5),
    }


@pytest.mark.parametrize(
    ("flt", "where"),
    [
        ({"gross_total": {"between": [1, 2]}}, ("gross_total", "between")),
        ({"gross_total": {}}, ("gross_total",)),
        ({"gross_total": {"in": []}}, ("gross_total", "in")),
        ({"number": {"gt": "A"}}, ("number", "gt")),
        ({"issue_date": {"fuzzy": "last_decade"}}, ("issue_date", "fuzzy")),
        ({"paid_amount": 0.1}, ("paid_amount", "eq")),
        ({"amount_written_off": {"gt": 0}}, ("amount_written_off",)),
        ({"include_deleted": "yes"}, ()),
    ],
)
def test_bad_filters_are_rejected_where_they_are(
    flt: dict[str, Any], where: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as exc:
        InvoiceFilter.model_validate(flt)
    locations = [tuple(str(p) for p in e["loc"]) for e in exc.value.errors()]
    assert any(loc[: len(where)] == where for loc in locations), locations


def test_the_csv_export_and_the_list_share_one_filter() -> None:
    assert ExportCsvPayload.model_fields["filters"].annotation is InvoiceFilter
    assert ListInvoices.Payload.model_fields["filter"].annotation is InvoiceFilter
    old = ExportCsvPayload.model_validate(
        {"filters": {"include_deleted": True, "currency": "usd", "search": "acme"}}
    )
    assert old.filters.deleted == "include"
    assert old.filters.currency is not None and old.filters.currency.given() == {"eq": "USD"}
    assert old.filters.full_query == "acme"


def test_custom_field_sort_keys() -> None:
    payload = ListInvoices.Payload.model_validate({"sort": "-custom_fields.priority,number"})
    assert payload.sort == ["-custom_fields.priority", "number"]
    with pytest.raises(ValidationError):
        ListInvoices.Payload.model_validate({"sort": ["custom_fields."]})


def test_every_sort_key_has_an_expression() -> None:
    from invoicing.queries.filters import _sort_columns
    from invoicing.schemas.filters import INVOICE_SORT_KEYS

    for dialect in ("sqlite", "postgresql"):
        assert set(_sort_columns(dialect)) == set(INVOICE_SORT_KEYS)


def _where(*specs: str) -> dict[str, Any]:
    """The filter ``invoicing query invoices --where SPEC ...`` sends."""
    from invoicing.queries.cli import _merge_condition, parse_where

    flt: dict[str, Any] = {}
    for spec in specs:
        _merge_condition(flt, *parse_where(spec))
    return flt


def _sample(annotation: Any) -> str | None:
    """A value ``--where FIELD=VALUE`` can give a plain list or boolean filter field, or None
    for fields of another kind (operator objects, dates, texts, custom field lists)."""
    from types import UnionType
    from typing import Literal, Union, get_args, get_origin

    from pydantic import BaseModel

    if get_origin(annotation) in (Union, UnionType) and type(None) in get_args(annotation):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if annotation is bool:
        return "true"
    if get_origin(annotation) is not list:
        return None
    (item,) = get_args(annotation)
    inner = get_args(item)[0] if get_args(item) and get_origin(item) is not Literal else item
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return None
    if get_origin(inner) is Literal:
        return ",".join(str(v) for v in get_args(inner)[:2])
    return "1,2" if inner is int else "a,b"


@pytest.mark.parametrize(
    "field",
    sorted(n for n, f in InvoiceFilter.model_fields.items() if _sample(f.annotation) is not None),
)
def test_where_gives_every_list_and_boolean_field_its_shape(field: str) -> None:
    """``--where`` takes "any filter field" (the CLI's help): a field that is a plain list
    (``dunning_level=0``: never dunned, ``invoicing_method=percentage``) or a boolean
    (``dunning_blocked=true``) was sent as a text and refused ("Input should be a valid list")."""
    value = _sample(InvoiceFilter.model_fields[field].annotation)
    flt = _where(f"{field}={value}")
    InvoiceFilter.model_validate(flt)  # raises when the CLI built the wrong shape
    assert isinstance(flt[field], list | bool)


def test_where_takes_the_dunning_and_method_fields() -> None:
    assert _where("dunning_level=0", "invoicing_method=percentage", "dunning_blocked=false") == {
        "dunning_level": ["0"],
        "invoicing_method": ["percentage"],
        "dunning_blocked": False,
    }
    assert InvoiceFilter.model_validate(_where("dunning_level=0,2")).dunning_level == [0, 2]
