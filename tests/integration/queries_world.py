"""Test data for the query tests, built through commands on SQLite or a fresh PostgreSQL DB.

Not a test module: the query test modules import it.
PostgreSQL databases are named ``invoicing_q_<uuid>`` and dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from invoicing import bootstrap
from invoicing.config import Settings

from tests.support.fakes import fake_deps

PG_ADMIN = os.environ.get("INVOICING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

ORG = "11111111-1111-4111-8111-111111111111"
OTHER_ORG = "99999999-9999-4999-8999-999999999999"
ACME = "22222222-2222-4222-8222-222222222222"
BERTRAM = "22222222-2222-4222-8222-000000000002"
OTHER_CUSTOMER = "22222222-2222-4222-8222-000000000099"


def inv_id(n: int) -> str:
    return f"33333333-3333-4333-8333-{n:012d}"


PAYMENT_I1 = "44444444-4444-4444-8444-000000000001"
OTHER_INVOICE = "33333333-3333-4333-8333-999999999999"


@dataclass
class World:
    backend: str
    url: str
    app: Any
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, ctype: str, payload: dict[str, Any], org: str = ORG) -> dict[str, Any]:
        doc = {
            "type": ctype,
            "command_id": str(uuid.UUID(int=next(self.counter) + (1 << 100))),
            "organization_id": org,
            "payload": payload,
        }
        outcome = self.app.pipeline.handle_document(doc)
        assert outcome.status == "applied", (ctype, outcome.errors)
        return {"events": outcome.events}

    def query(self, qtype: str, payload: dict[str, Any] | None = None, org: str = ORG) -> Any:
        doc: dict[str, Any] = {"type": qtype, "organization_id": org}
        if payload is not None:
            doc["payload"] = payload
        return self.app.pipeline.query_document(doc)

    def ok(self, qtype: str, payload: dict[str, Any] | None = None, org: str = ORG) -> Any:
        reply = self.query(qtype, payload, org)
        assert reply["status"] == "ok", reply["errors"]
        return reply["result"]


def _clock() -> Any:
    start = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    ticks = itertools.count()
    return lambda: start + dt.timedelta(minutes=next(ticks))


def _org(world: World, org: str, name: str) -> None:
    world.send(
        "configure_organization",
        {
            "name": name,
            "address": {
                "street_address": "Hauptstraße 1",
                "zip_code": "50667",
                "city": "Köln",
                "country_code": "DE",
            },
            "vat_id": "DE136695976",
            "iban": "DE89370400440532013000",
            "default_tax_rate": 19,
            "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:3}"}},
        },
        org=org,
    )


def _customer(world: World, cid: str, org: str = ORG, **data: Any) -> None:
    payload = {"id": cid, "locale": "de", **data}
    payload.setdefault(
        "address",
        {"street_address": "Ring 2", "zip_code": "10115", "city": "Berlin", "country_code": "DE"},
    )
    world.send("create_customer", payload, org=org)


def _invoice(world: World, n: int, customer: str, lines: list[dict[str, Any]], **extra: Any) -> str:
    iid = inv_id(n)
    world.send("create_invoice", {"id": iid, "customer_id": customer, "lines": lines, **extra})
    return iid


def populate(world: World) -> None:
    """Organization ORG with documents in every state; OTHER_ORG with look-alikes."""
    _org(world, ORG, "Kanzlei Müller GmbH")
    _org(world, OTHER_ORG, "Andere GmbH")
    _customer(
        world,
        ACME,
        company="Acme AG",
        email="Jane@Example.com",
        phone="+49 176 1234-5678",
        custom_fields={"tier": "Premium", "seats": 12, "vip": True, "since": "2024-05-01"},
    )
    _customer(
        world,
        BERTRAM,
        given_name="Bertram",
        family_name="Zander",
        email="bz@example.org",
        mobile="0171 555 0000",
        custom_fields={"tier": "Basic", "seats": 3, "vip": False, "since": "2025-02-01"},
    )
    _customer(world, OTHER_CUSTOMER, org=OTHER_ORG, company="Acme AG", email="jane@example.com")
    hours = {"description": "Beratung", "quantity": 3, "unit": "hours", "unit_price": "250.00"}
    # I1: 892.50 gross, partially paid, tags, case
    _invoice(world, 1, ACME, [hours], tags=["retainer", "q1"], case_id="case-1")
    world.send("finalize_invoice", {"invoice_id": inv_id(1), "issue_date": "2026-01-10"})
    world.send(
        "record_payment",
        {
            "invoice_id": inv_id(1),
            "payment_id": PAYMENT_I1,
            "amount": "100.00",
            "date": "2026-01-20",
            "reference": "TXN-1",
        },
    )
    # I2: 119.12 gross, sent and paid
    _invoice(world, 2, BERTRAM, [{"description": "Kopien", "quantity": 1, "unit_price": "100.10"}])
    world.send("finalize_invoice", {"invoice_id": inv_id(2), "issue_date": "2026-02-01"})
    world.send("mark_sent", {"invoice_id": inv_id(2), "sent_on": "2026-02-02"})
    world.send("mark_paid", {"invoice_id": inv_id(2), "date": "2026-02-10", "method": "cash"})
    # I3: 11900.00 gross, sent, overdue, project
    _invoice(
        world,
        3,
        ACME,
        [{"description": "Projekt", "quantity": 10, "unit_price": "1000"}],
        project_reference="PRJ-7",
        tags=["q1"],
    )
    world.send("finalize_invoice", {"invoice_id": inv_id(3), "issue_date": "2026-03-01"})
    world.send("mark_sent", {"invoice_id": inv_id(3), "sent_on": "2026-03-01"})
    world.send("check_overdue", {"as_of": "2026-06-01"})
    # I4: a USD draft of 12.02 gross
    _invoice(
        world,
        4,
        BERTRAM,
        [{"description": "Kleinteile", "quantity": 2, "unit_price": "5.05"}],
        currency="USD",
        tags=["q1"],
    )
    # I5: a draft in the trash
    _invoice(world, 5, ACME, [{"description": "Entwurf", "quantity": 1, "unit_price": "1"}])
    world.send("delete_invoice", {"invoice_id": inv_id(5)})
    # I6: a quote
    world.send(
        "create_invoice",
        {"id": inv_id(6), "customer_id": ACME, "is_quote": True, "lines": [hours]},
    )
    # billable entries of case-1; e4 is billed on draft I7
    entry = {"customer_id": ACME, "case_id": "case-1", "date": "2026-04-01"}
    world.send(
        "record_billable_entry",
        {**entry, "id": "e1", "description": "Schriftsatz", "quantity": "2", "unit_price": "150"},
    )
    world.send(
        "record_billable_entry",
        {
            **entry,
            "id": "e2",
            "kind": "expense",
            "description": "Fachbuch",
            "quantity": 1,
            "unit": "piece",
            "unit_price": "50.00",
            "tax_rate": 7,
            "date": "2026-04-02",
        },
    )
    world.send(
        "record_billable_entry",
        {
            **entry,
            "id": "e3",
            "case_id": "case-2",
            "description": "Other",
            "quantity": 1,
            "unit_price": "99",
        },
    )
    world.send(
        "record_billable_entry",
        {**entry, "id": "e4", "description": "Billed", "quantity": 1, "unit_price": "10"},
    )
    world.send(
        "record_billable_entry",
        {
            **entry,
            "id": "e5",
            "description": "US call",
            "quantity": "0.5",
            "unit_price": "100",
            "currency": "USD",
        },
    )
    world.send("create_invoice", {"id": inv_id(7), "customer_id": ACME, "case_id": "case-1"})
    world.send("invoice_billable_entries", {"invoice_id": inv_id(7), "entry_ids": ["e4"]})
    # the other organization: same number, same customer email, its own payment
    world.send(
        "create_invoice",
        {
            "id": OTHER_INVOICE,
            "customer_id": OTHER_CUSTOMER,
            "case_id": "case-1",
            "tags": ["q1"],
            "lines": [{"description": "Fremd", "quantity": 1, "unit_price": "5000"}],
        },
        org=OTHER_ORG,
    )
    world.send(
        "finalize_invoice", {"invoice_id": OTHER_INVOICE, "issue_date": "2026-01-10"}, org=OTHER_ORG
    )
    world.send(
        "record_payment",
        {"invoice_id": OTHER_INVOICE, "amount": "10.00", "date": "2026-01-20"},
        org=OTHER_ORG,
    )
    world.send(
        "record_billable_entry",
        {
            "id": "e1",
            "case_id": "case-1",
            "customer_id": OTHER_CUSTOMER,
            "date": "2026-04-01",
            "description": "Fremd",
            "quantity": 1,
            "unit_price": "1",
        },
        org=OTHER_ORG,
    )


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def make_world(backend: str, tmp_path: Any) -> Iterator[World]:
    """A populated world on ``sqlite`` (a file in tmp_path) or ``postgresql`` (own database)."""
    dbname = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'queries.sqlite3'}"
    else:
        dbname = f"invoicing_q_{uuid.uuid4().hex}"
        try:
            _pg_admin(f'CREATE DATABASE "{dbname}"')
        except psycopg.OperationalError as exc:  # pragma: no cover
            pytest.fail(f"PostgreSQL is not reachable (run scripts/ensure-services.sh): {exc}")
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{dbname}"
    app = bootstrap.local(
        Settings(database_url=url),
        migrate=True,
        deps=fake_deps(clock=_clock()),
        configure_logging=False,
    )
    world = World(backend, url, app)
    try:
        populate(world)
        yield world
    finally:
        app.engine.dispose()
        if dbname is not None:
            _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
