"""Text search lowers each character as PostgreSQL's ``lower()`` does, on both backends.

Python's ``str.lower`` is no per-character mapping: "İ" (U+0130) becomes two characters
("i" and a combining dot) and a capital sigma becomes a final "ς" at the end of a word, where
PostgreSQL's ``lower()`` gives "i" and "σ". SQLite lowered the stored texts with
``str.lower``, PostgreSQL with ``lower()``: the same search found a customer on one backend and
not on the other (found by tests/integration/test_billing_differential.py's kind of walk)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing.pipeline import Pipeline

pytestmark = pytest.mark.integration

ADDRESS = {
    "street_address": "Hauptstr. 1",
    "zip_code": "50667",
    "city": "Köln",
    "country_code": "DE",
}


def _world(bus: Pipeline) -> tuple[str, dict[str, str]]:
    org = str(uuid.uuid4())
    cmds: list[tuple[str, dict[str, Any]]] = [
        (
            "configure_organization",
            {"name": "Org", "address": ADDRESS, "vat_id": "DE136695976", "default_tax_rate": 19},
        ),
    ]
    ids = {"istanbul": str(uuid.uuid4()), "odos": str(uuid.uuid4())}
    names = {"istanbul": "İSTANBUL Tekstil", "odos": "ΟΔΟΣ Handel"}
    for key, cid in ids.items():
        cmds.append(
            (
                "create_customer",
                {
                    "id": cid,
                    "company": names[key],
                    "locale": "de",
                    "email": f"c{len(cmds)}@example.com",
                },
            )
        )
    for ctype, payload in cmds:
        doc = {
            "type": ctype,
            "command_id": str(uuid.uuid4()),
            "organization_id": org,
            "payload": payload,
        }
        assert bus.handle_document(doc).status == "applied", (ctype, payload)
    return org, ids


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("istanbul", ["istanbul"]),  # PostgreSQL: lower('İ') = 'i'
        ("İstanbul", ["istanbul"]),
        ("tekstil", ["istanbul"]),
        ("ΟΔΟΣ", ["odos"]),
        ("οδοσ", ["odos"]),  # lower('Σ') = 'σ', wherever it stands
    ],
)
def test_search_lowers_like_postgresql(bus: Pipeline, search: str, expected: list[str]) -> None:
    org, ids = _world(bus)
    query = {
        "type": "list_customers",
        "organization_id": org,
        "payload": {"filter": {"search": search}},
    }
    reply = bus.query_document(query)
    assert reply["status"] == "ok", reply
    found = [item["id"] for item in reply["result"]["items"]]
    assert found == [ids[key] for key in expected]
    invoices = {
        "type": "list_invoices",
        "organization_id": org,
        "payload": {"filter": {"full_query": search}},
    }
    assert bus.query_document(invoices)["status"] == "ok"
