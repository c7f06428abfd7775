"""Custom-field numbers are the integers every backend and JSON reader holds exactly.

SQLite's JSON keeps integers to 64 bits: before session 32 a custom field of 10^20 sorted
before 2^63 there (after it on PostgreSQL), and "= 100000000000000000000" matched it on
PostgreSQL only. A JavaScript reader of the events loses every integer beyond 2^53 - 1. Such
numbers are refused now, with their pointer and the hint to send them as texts; every integer
up to 2^53 - 1 either way compares and sorts the same on both backends.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing.schemas.common import MAX_SAFE_INTEGER

from tests.support.client import Client, line

pytestmark = pytest.mark.integration

SAFE = [MAX_SAFE_INTEGER, MAX_SAFE_INTEGER - 1, -MAX_SAFE_INTEGER, 5, 0]


def listed(client: Client, payload: dict[str, Any]) -> list[int]:
    reply = client.bus.query_document(
        {"type": "list_invoices", "organization_id": str(client.org), "payload": payload}
    )
    assert reply["status"] == "ok", reply["errors"]
    return [item["custom_fields"]["n"] for item in reply["result"]["items"]]


def test_custom_field_numbers_beyond_the_safe_integers_are_refused(client: Client) -> None:
    cust = str(client.customer())
    for value in (MAX_SAFE_INTEGER + 1, -(2**63) - 5, 10**20):
        payload = {"id": str(uuid.uuid4()), "customer_id": cust, "lines": [line()]}
        errors = client.rejected("create_invoice", {**payload, "custom_fields": {"n": value}})
        assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
            ("invalid_attribute", "/payload/custom_fields/n")
        ]
        assert "send it as a text" in errors[0]["detail"]
    errors = client.rejected(
        "create_customer",
        {"id": str(uuid.uuid4()), "email": "a@b.de", "locale": "de"}
        | {"custom_fields": {"n": 2**63}},
    )
    assert errors[0]["source"]["pointer"] == "/payload/custom_fields/n"
    reply = client.bus.query_document(
        {
            "type": "list_invoices",
            "organization_id": str(client.org),
            "payload": {
                "filter": {"custom_fields": [{"field_id": "n", "operator": ">", "value": 2**63}]}
            },
        }
    )
    assert reply["status"] == "error"
    assert reply["errors"][0]["source"]["pointer"].startswith("/payload/filter/custom_fields/0")


def test_safe_integers_compare_and_sort_alike_on_both_backends(client: Client) -> None:
    cust = str(client.customer())
    for value in SAFE:
        payload = {"id": str(uuid.uuid4()), "customer_id": cust, "lines": [line()]}
        client.ok("create_invoice", {**payload, "custom_fields": {"n": value}})
    assert listed(client, {"sort": ["custom_fields.n"]}) == sorted(SAFE)
    assert listed(client, {"sort": ["-custom_fields.n"]}) == sorted(SAFE, reverse=True)
    big = {"field_id": "n", "operator": ">", "value": MAX_SAFE_INTEGER - 1}
    assert listed(client, {"filter": {"custom_fields": [big]}}) == [MAX_SAFE_INTEGER]
    same = {"field_id": "n", "operator": "=", "value": str(-MAX_SAFE_INTEGER)}
    assert listed(client, {"filter": {"custom_fields": [same]}}) == [-MAX_SAFE_INTEGER]
