"""Texts sort by code point whatever PostgreSQL's default collation (docs/seed-mapping.md,
"Sorts of the invoice list"): in a database made with the ICU locale ``de-DE``, where
``'a' < 'B'`` and ``'ä' < 'b'``, ``list_invoices`` by ``purchase_order_number``,
``customer_name`` and a custom field's text, ``open_items`` by ``customer_name`` and
``list_customers`` by ``name`` and ``email`` order as Python orders the strings (and as
SQLite does). Before, they followed the database's collation: a deployment on a database made
with ``de_DE.UTF-8`` sorted "alpha" before "Beta" on PostgreSQL and after it on SQLite."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from invoicing import db
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator

from tests.support.client import Client, line
from tests.support.databases import ADMIN_URL
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

#: texts whose code point order differs from a German collation's
TEXTS = ["alpha", "Beta", "Äpfel", "beta", "Zeta", "_x", "1a", "zoo", "Öl", "b"]


@pytest.fixture(scope="module")
def icu_url() -> Iterator[str]:
    """A migrated PostgreSQL database whose default collation is ICU's ``de-DE``."""
    name = f"invoicing_icu_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LOCALE 'C.UTF-8'"
        )
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    try:
        db.migrate(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "icu"])
def client(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Client]:
    if request.param == "icu":
        url = request.getfixturevalue("icu_url")
    else:
        url = request.getfixturevalue("sqlite_url")
    engine = db.make_engine(url)
    if request.param == "icu":  # the database's own order is not the code points'
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 'alpha' < 'Beta'").scalar() is True
    c = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    c.setup_org()
    yield c
    engine.dispose()


def ids(result: dict[str, object]) -> list[str]:
    return [item["invoice"]["id"] if "invoice" in item else item["id"] for item in result["items"]]  # type: ignore[attr-defined, index]


def test_invoice_texts_sort_by_code_point(client: Client) -> None:
    by_text: dict[str, str] = {}
    for text in TEXTS:
        customer = client.customer(company=text)
        iid = client.invoice(
            customer,
            [line("x", "1", "10.00")],
            purchase_order_number=text,
            custom_fields={"tier": text},
        )
        by_text[text] = str(iid)
    want = [by_text[t] for t in sorted(TEXTS)]
    for key in ("purchase_order_number", "custom_fields.tier"):
        got = ids(client.answer("list_invoices", {"sort": [key], "page_size": 50}))
        assert got == want, key
        got = ids(client.answer("list_invoices", {"sort": [f"-{key}"], "page_size": 50}))
        assert got == want[::-1], f"-{key}"
    # names lower-cased first: "beta" and "Beta" tie, then by id
    by_name = sorted(TEXTS, key=lambda t: (t.lower(), by_text[t]))
    got = ids(client.answer("list_invoices", {"sort": ["customer_name"], "page_size": 50}))
    assert got == [by_text[t] for t in by_name]


def test_open_items_and_customers_sort_by_code_point(client: Client) -> None:
    by_text: dict[str, str] = {}
    customers: dict[str, str] = {}
    for n, text in enumerate(TEXTS):
        email = f"{text.lower()}{n}@example.com"
        customer = client.customer(company=text, email=email)
        customers[text] = str(customer)
        state = client.finalized(customer, [line("x", "1", "10.00")], dt.date(2026, 11, 2))
        by_text[text] = state["id"]
    by_name = sorted(TEXTS, key=lambda t: (t.lower(), by_text[t]))
    got = ids(client.answer("open_items", {"sort": ["customer_name"], "page_size": 50}))
    assert got == [by_text[t] for t in by_name]
    names = sorted(TEXTS, key=lambda t: (t.lower(), customers[t]))
    got = ids(client.answer("list_customers", {"sort": ["name"], "page_size": 50}))
    assert got == [customers[t] for t in names]
    emails = sorted(TEXTS, key=lambda t: f"{t.lower()}{TEXTS.index(t)}@example.com")
    got = ids(client.answer("list_customers", {"sort": ["email"], "page_size": 50}))
    assert got == [customers[t] for t in emails]
