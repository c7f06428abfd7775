"""The exact money sort key of SQLite (decimal text -> scaled integer) and query validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoicing.queries.common import money_bound, money_key
from invoicing.schemas.queries import ListCustomers, ListInvoices
from pydantic import ValidationError
from sqlalchemy import String, create_engine, literal, select

ENGINE = create_engine("sqlite://")

amounts = st.decimals(
    min_value=Decimal("-999999999999.9999"),
    max_value=Decimal("999999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
).map(lambda d: d.quantize(Decimal(1)) if d == d.to_integral() else d)


def sqlite_key(text: str) -> int:
    with ENGINE.connect() as conn:
        return int(conn.execute(select(money_key(literal(text, String), "sqlite"))).scalar_one())


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("0", 0),
        ("0.00", 0),
        ("12.5", 125000),
        ("-12.5", -125000),
        ("-0.01", -100),
        ("11900.00", 119000000),
        ("119.12", 1191200),
        ("0.0001", 1),
    ],
)
def test_key_of_known_amounts(text: str, key: int) -> None:
    assert sqlite_key(text) == key


@given(st.lists(amounts, min_size=2, max_size=8))
def test_key_orders_exactly_like_the_decimals(values: list[Decimal]) -> None:
    keys = {v: sqlite_key(str(v)) for v in values}
    for a in values:
        for b in values:
            assert (a < b) == (keys[a] < keys[b])
            assert (a == b) == (keys[a] == keys[b])


def test_bounds_round_inwards() -> None:
    assert money_bound(Decimal("1.00005"), "sqlite", lower=True) == 10001
    assert money_bound(Decimal("1.00005"), "sqlite", lower=False) == 10000
    assert money_bound(Decimal("-1.00005"), "sqlite", lower=True) == -10000
    assert money_bound(Decimal("2"), "postgresql", lower=True) == Decimal("2")


def test_sort_keys_are_checked() -> None:
    org = "11111111-1111-4111-8111-111111111111"
    q = ListInvoices.model_validate(
        {"type": "list_invoices", "organization_id": org, "payload": {"sort": "-issue_date,number"}}
    )
    assert q.payload.sort == ["-issue_date", "number"]
    for sort in (["secret"], ["number", "-number"], "a,b,c,d,e,f"):
        with pytest.raises(ValidationError):
            ListInvoices.model_validate(
                {"type": "list_invoices", "organization_id": org, "payload": {"sort": sort}}
            )


def test_custom_field_filter_shapes() -> None:
    org = "11111111-1111-4111-8111-111111111111"

    def doc(f: dict[str, object]) -> dict[str, object]:
        return {
            "type": "list_customers",
            "organization_id": org,
            "payload": {"filter": {"custom_fields": [f]}},
        }

    q = ListCustomers.model_validate(doc({"f_id": "tier", "o": "in", "v": "a, b"}))
    assert q.payload.filter.custom_fields[0].values() == ["a", "b"]
    for bad in (
        {"field_id": "t", "operator": "=", "value": ["a"]},
        {"field_id": "t", "operator": ">", "value": True},
        {"field_id": 't"]', "operator": "=", "value": "x"},
        {"field_id": "t", "operator": "~", "value": "x"},
    ):
        with pytest.raises(ValidationError):
            ListCustomers.model_validate(doc(bad))
