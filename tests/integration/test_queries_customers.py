"""Customer queries and the query dispatcher (validation, grants) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import Principal

from tests.integration.queries_world import (
    ACME,
    BERTRAM,
    ORG,
    OTHER_CUSTOMER,
    OTHER_ORG,
    World,
    make_world,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from make_world(request.param, tmp_path_factory.mktemp(request.param))


def names(result: dict[str, Any]) -> list[str]:
    return [c["name"] for c in result["items"]]


def cf(field_id: str, operator: str, value: Any) -> dict[str, Any]:
    return {
        "filter": {"custom_fields": [{"field_id": field_id, "operator": operator, "value": value}]}
    }


def test_get_customer_and_tenancy(world: World) -> None:
    acme = world.ok("get_customer", {"customer_id": ACME})["customer"]
    assert acme["name"] == "Acme AG"
    assert acme["custom_fields"]["seats"] == 12
    reply = world.query("get_customer", {"customer_id": OTHER_CUSTOMER})
    assert reply["errors"][0]["status"] == "404"
    assert reply["errors"][0]["source"]["pointer"] == "/payload/customer_id"


def test_email_filter_is_exact_and_case_insensitive(world: World) -> None:
    found = world.ok("list_customers", {"filter": {"email": "JANE@example.COM"}})
    assert [c["id"] for c in found["items"]] == [ACME]  # not OTHER_ORG's jane@example.com
    assert world.ok("list_customers", {"filter": {"email": "jane@example"}})["items"] == []
    other = world.ok("list_customers", {"filter": {"email": "jane@example.com"}}, org=OTHER_ORG)
    assert [c["id"] for c in other["items"]] == [OTHER_CUSTOMER]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("acme", ["Acme AG"]),
        ("bertram zan", ["Bertram Zander"]),
        ("example", ["Acme AG", "Bertram Zander"]),
        ("EXAMPLE.ORG", ["Bertram Zander"]),
        ("1234-5678", ["Acme AG"]),
        ("17612345678", ["Acme AG"]),
        ("0171/5550000", ["Bertram Zander"]),
        ("zander acme", []),
        ("%", []),
    ],
)
def test_fuzzy_search(world: World, search: str, expected: list[str]) -> None:
    assert names(world.ok("list_customers", {"filter": {"search": search}})) == expected


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("tier", "=", "Premium", ["Acme AG"]),
        ("tier", "<>", "Premium", ["Bertram Zander"]),
        ("tier", "in", ["Basic", "Gold"], ["Bertram Zander"]),
        ("tier", "in", "Premium,Basic", ["Acme AG", "Bertram Zander"]),
        ("vip", "=", True, ["Acme AG"]),
        ("vip", "=", "false", ["Bertram Zander"]),
        ("seats", "=", 12, ["Acme AG"]),
        ("seats", ">", 3, ["Acme AG"]),
        ("seats", ">=", 3, ["Acme AG", "Bertram Zander"]),
        ("seats", "<", 12, ["Bertram Zander"]),
        ("seats", "<=", 2, []),
        ("since", "<", "2025-01-01", ["Acme AG"]),
        ("since", ">=", "2025-01-01", ["Bertram Zander"]),
        ("missing", "=", "x", []),
        ("missing", "<>", "x", ["Acme AG", "Bertram Zander"]),
    ],
)
def test_custom_field_filters(
    world: World, field: str, operator: str, value: Any, expected: list[str]
) -> None:
    assert names(world.ok("list_customers", cf(field, operator, value))) == expected


def test_custom_field_filter_accepts_the_seed_keys(world: World) -> None:
    payload = {"filter": {"custom_fields": [{"f_id": "tier", "o": "=", "v": "Premium"}]}}
    assert names(world.ok("list_customers", payload)) == ["Acme AG"]


def test_customer_sort_and_pages(world: World) -> None:
    assert names(world.ok("list_customers", {"sort": "-name"})) == ["Bertram Zander", "Acme AG"]
    assert [c["id"] for c in world.ok("list_customers", {"sort": ["created_at"]})["items"]] == [
        ACME,
        BERTRAM,
    ]
    second = world.ok("list_customers", {"page": 2, "page_size": 1})
    assert second["page"] == {
        "page": 2,
        "page_size": 1,
        "total": 2,
        "pages": 2,
        "total_exact": True,
    }
    assert names(second) == ["Bertram Zander"]


# ----------------------------------------------------------------------------- dispatcher


class Grants:
    def __init__(self, grants: dict[str, frozenset[str]]) -> None:
        self.grants = grants

    def authenticate(self, credentials: Any, transport: Any) -> Principal:
        return Principal("tester", self.grants)


def handle_query(doc: Any, world: World, grants: Grants | None = None) -> dict[str, Any]:
    """The query through a pipeline of the world's database, as ``grants`` (or the operator)."""
    app = world.app.pipeline
    authenticator = grants or app.authenticator
    return Pipeline(app.engine, app.deps, authenticator).query_document(doc)


def test_a_query_needs_the_read_grant_for_its_organization(world: World) -> None:
    doc = {"type": "list_invoices", "organization_id": ORG, "credentials": {"token": "t"}}
    for grants in ({OTHER_ORG: frozenset({"invoices:read"})}, {ORG: frozenset({"invoices:write"})}):
        reply = handle_query(doc, world, Grants(grants))
        assert reply["status"] == "error"
        assert reply["result"] is None
        assert reply["errors"][0]["status"] == "403"
        assert reply["errors"][0]["source"]["pointer"] == "/credentials"
    ok = handle_query(doc, world, Grants({ORG: frozenset({"invoices:read"})}))
    assert ok["status"] == "ok"
    assert ok["result"]["page"]["total"] == 6


def test_unauthorized_requester_learns_nothing_about_query_types(world: World) -> None:
    denied = Grants({})
    reply = handle_query({"type": "bogus", "organization_id": ORG}, world, denied)
    assert reply["errors"][0]["status"] == "403"


def test_invalid_queries_are_answered_with_pointers(world: World) -> None:
    assert handle_query([], world)["errors"][0]["code"] == "invalid_document"
    missing = handle_query({"type": "list_invoices"}, world)
    assert missing["errors"][0]["source"]["pointer"] == "/organization_id"
    unknown = handle_query({"type": "bogus", "organization_id": ORG}, world)
    assert unknown["errors"][0]["code"] == "unknown_query"
    bad = handle_query(
        {
            "type": "list_invoices",
            "organization_id": ORG,
            "query_id": "6b3c1e0e-7f3b-4f7a-9d7e-0a1b2c3d4e5f",
            "correlation_id": "abc",
            "payload": {
                "filter": {"status": ["bogus"], "gross_total_min": 1.5, "extra": 1},
                "sort": ["-nope"],
            },
        },
        world,
    )
    assert bad["status"] == "error"
    assert bad["query_id"] == "6b3c1e0e-7f3b-4f7a-9d7e-0a1b2c3d4e5f"
    assert bad["correlation_id"] == "abc"
    pointers = {e["source"]["pointer"] for e in bad["errors"]}
    assert pointers == {
        "/payload/filter/status/0",
        "/payload/filter/gross_total_min",
        "/payload/filter/extra",
        "/payload/sort",
    }
    assert all(set(e) >= {"status", "code", "title", "detail", "source"} for e in bad["errors"])
