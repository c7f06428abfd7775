"""The round trips of the hot commands, pinned: a change that adds a statement to
``create_invoice`` or ``finalize_invoice`` fails here (docs/pipeline.md, Performance)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from tests.support import scenarios
from tests.support.client import Client, line
from tests.support.sql import on_statement

_TABLE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT\s.*?\sFROM)\s+(\w+)", re.S)


def _top_level(statement: str) -> str:
    """The statement without its parenthesized parts (subqueries such as an EXISTS column)."""
    out, depth = [], 0
    for char in statement:
        depth += char == "("
        if depth == 0:
            out.append(char)
        depth -= char == ")" and depth > 0
    return "".join(out)


def _kind(statement: str) -> str:
    """``INSERT outbox``, ``SELECT invoices``, ... (the verb and the first table of the
    statement itself, not of a subquery)."""
    match = _TABLE.match(_top_level(statement))
    if match is None:
        return statement.split()[0].upper()
    verb = match.group(1).split()[0]
    return f"{verb} {match.group(2)}"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_cursor: Any, statement: str) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE (PostgreSQL: implicit)
            seen.append(_kind(statement))

    def commit(_conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(engine, "commit", commit)
    try:
        with on_statement(engine, before):
            yield seen
    finally:
        event.remove(engine, "commit", commit)


CREATE = [
    "INSERT processed_commands",  # the inbox claim (ON CONFLICT DO NOTHING RETURNING)
    # with the customer (one outer join) and whether the id is taken (EXISTS), as Core rows
    "SELECT organizations",
    # all lines in one statement, before their invoice: the lines' foreign key is checked at
    # commit, and the invoice's INSERT finds them for its search document (0024)
    "INSERT invoice_lines",
    "INSERT invoices",  # written by the handler with Core (the session never holds it)
    "INSERT outbox",
    "COMMIT",
]

FINALIZE = [
    "INSERT processed_commands",
    "SELECT organizations",
    # PostgreSQL: the row lock (FOR UPDATE) on its own first, docs/design.md "Locks"
    "SELECT invoices",
    # with its customer and its lines (outer joins), as Core rows
    "SELECT invoices",
    "UPDATE number_series",  # the number, under the series row lock, last
    # the changed columns (handlers/aggregates.py), written by the handler; its unique
    # constraint refuses a number a manual number took already (no look-up first)
    "UPDATE invoices",
    "INSERT outbox",
    "COMMIT",
]


def _without_lock() -> list[str]:
    at = FINALIZE.index("SELECT invoices")
    return FINALIZE[:at] + FINALIZE[at + 1 :]


def test_create_and_finalize_round_trips(client: Client) -> None:
    engine = client.bus.engine
    customer = client.customer()
    lines = [line(quantity="3", unit_price="250.00"), line(description="Reise", unit_price="80")]
    first = client.invoice(customer, lines)
    client.ok("finalize_invoice", {"invoice_id": str(first), "issue_date": "2026-11-20"})

    invoice_id = uuid.uuid4()
    with statements(engine) as create:
        client.ok(
            "create_invoice",
            {"id": str(invoice_id), "customer_id": str(customer), "lines": lines},
        )
    assert create == CREATE
    with statements(engine) as finalize:
        client.ok("finalize_invoice", {"invoice_id": str(invoice_id), "issue_date": "2026-11-20"})
    # SQLite runs one writer at a time: no row lock to take
    assert finalize == (FINALIZE if engine.dialect.name == "postgresql" else _without_lock())
    state = client.state(invoice_id)
    assert state["status"] == "finalized" and len(state["lines"]) == 2
    assert state["payments"] == []


def test_duplicate_costs_two_statements(client: Client) -> None:
    """A redelivered command: the claim finds the id, one read of its hash, no commit."""
    customer = client.customer()
    doc = client.doc(
        "create_invoice",
        {"id": str(uuid.uuid4()), "customer_id": str(customer), "lines": [line()]},
    )
    assert client.bus.handle_document(doc).status == "applied"
    with statements(client.bus.engine) as seen:
        assert client.bus.handle_document(doc).status == "duplicate"
    assert seen == ["INSERT processed_commands", "SELECT processed_commands"]


def test_a_belgian_finalize_looks_up_its_structured_communication_once(client: Client) -> None:
    """An invoice of a Belgian seller in EUR gets its structured communication at finalize:
    one indexed look-up of the organization's references among the candidates
    (uq_invoices_org_payment_reference), after the number, and nothing else (docs/einvoice.md,
    "Payment reference"); a German seller's finalize above has none."""
    engine = client.bus.engine
    client.ok("configure_organization", scenarios.BE_SELLER)
    customer = client.customer(locale="fr")
    lines = [line(quantity="3", unit_price="250.00")]
    first = client.invoice(customer, lines)
    client.ok("finalize_invoice", {"invoice_id": str(first), "issue_date": "2026-11-20"})
    invoice_id = client.invoice(customer, lines)
    with statements(engine) as finalize:
        client.ok("finalize_invoice", {"invoice_id": str(invoice_id), "issue_date": "2026-11-20"})
    expected = FINALIZE if engine.dialect.name == "postgresql" else _without_lock()
    at = expected.index("UPDATE number_series") + 1
    assert finalize == [*expected[:at], "SELECT invoices", *expected[at:]]
    state = client.state(invoice_id)
    assert state["number"] == "F20260002"
    assert state["payment_reference"] == "+++002/0260/00297+++"
