"""Text search and name sorts fold the case of every letter, umlauts included, on both backends.

SQLite's own ``lower()`` folds ASCII only: before ``queries.common.lower_text``, on SQLite (the
embedded default) a search for "öko" did not find "ÖKO-Bau GmbH", nor "ärger" the tag
"ÄRGER" (its JSON text held it escaped as well), and a name sort put "ÄRZTE" before "äpfel".
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.client import Client, line
from tests.support.databases import ADMIN_URL, temporary_pg_database

pytestmark = pytest.mark.integration


def listed(client: Client, qtype: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    reply = client.bus.query_document(
        {"type": qtype, "organization_id": str(client.org), "payload": payload}
    )
    assert reply["status"] == "ok", reply["errors"]
    items: list[dict[str, Any]] = reply["result"]["items"]
    return items


@pytest.mark.parametrize(
    "flt",
    [
        {"full_query": "öko"},  # the customer's company
        {"full_query": "ÖKO-bau"},
        {"full_query": "überführung"},  # a line
        {"full_query": "ÄLTERER"},
        {"full_query": "bestellung-ä17"},  # the purchase order
        {"full_query": "ärger"},  # a tag
        {"full_query": "STRASSE".replace("SS", "ß")},
        {"purchase_order_number": {"contains": "ä17"}},
        {"custom_fields": [{"field_id": "ort", "operator": "contains", "value": "köln"}]},
    ],
)
def test_a_search_folds_umlauts(client: Client, flt: dict[str, Any]) -> None:
    oeko = client.customer(company="ÖKO-BAU GmbH", given_name=None, family_name=None)
    other = client.customer(company="Acme GmbH")
    wanted = client.invoice(
        oeko,
        [line("ÜBERFÜHRUNG Älterer Geräte", "1", "10")],
        purchase_order_number="BESTELLUNG-Ä17",
        tags=["ÄRGER", "Straße"],
        custom_fields={"ort": "KÖLN"},
    )
    client.invoice(other, [line("Beratung", "1", "10")], purchase_order_number="PO-1")
    items = listed(client, "list_invoices", {"filter": flt})
    assert [item["id"] for item in items] == [str(wanted)]


def test_a_customer_search_and_the_name_sorts_fold_umlauts(client: Client) -> None:
    names = ["ÄRZTE Nord GmbH", "äpfel & Birnen KG", "Zahn AG"]
    ids = {name: client.customer(company=name) for name in names}
    found = listed(client, "list_customers", {"filter": {"search": "ärzte"}})
    assert [c["id"] for c in found] == [str(ids["ÄRZTE Nord GmbH"])]
    # lower-cased, by code point: "zahn" < "äpfel" < "ärzte" (not "Ä" < "ä")
    order = ["Zahn AG", "äpfel & Birnen KG", "ÄRZTE Nord GmbH"]
    customers = listed(client, "list_customers", {"sort": ["name"]})
    assert [c["id"] for c in customers] == [str(ids[n]) for n in order]
    invoices = {str(client.invoice(ids[n], [line("x", "1", "1")])): n for n in names}
    listed_invoices = listed(client, "list_invoices", {"sort": ["customer_name"]})
    assert [invoices[i["id"]] for i in listed_invoices] == order


def test_health_refuses_a_postgresql_database_that_folds_ascii_only() -> None:
    """PostgreSQL's lower() follows the database's LC_CTYPE: with ``C`` it leaves "ÖKO" as it
    is, and the searches above would miss silently. ``invoicing health`` says so."""
    from invoicing import db
    from invoicing.workers.health import check_database

    name = f"invoicing_ctype_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE \"{name}\" LC_CTYPE 'C' LC_COLLATE 'C' TEMPLATE template0")
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        db.migrate(f"{url}/{name}")
        check = check_database(f"{url}/{name}")
        assert not check.ok
        assert "LC_CTYPE 'C'" in check.detail and "UTF-8" in check.fix, check.line()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with temporary_pg_database("invoicing_ctype") as utf8:
        db.migrate(utf8)
        assert check_database(utf8).ok, check_database(utf8).line()
