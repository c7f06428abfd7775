"""The lines' foreign key is checked at commit (migration 0024_lines_fk_deferred), so that
``create_invoice`` writes the lines first and the new invoice row once, with its whole search
document; the key still holds, and a command undone takes its lines with it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing import db
from invoicing.models import InvoiceLine
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from tests.support.client import Client, line
from tests.support.fakes import fake_deps
from tests.support.sql import on_statement

pytestmark = pytest.mark.integration

_LINES = InvoiceLine.__table__


def test_a_new_invoice_row_is_written_once_with_its_lines_texts(pg_url: str) -> None:
    """PostgreSQL: when the command writes its events, the transaction has inserted one
    invoice row and updated none (before 0024, the lines' trigger rewrote the new row)."""
    engine = db.make_engine(pg_url)
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org()
    customer = client.customer()
    seen: list[tuple[Any, ...]] = []

    def before(cursor: Any, statement: str) -> None:
        if statement.startswith("INSERT INTO outbox"):
            seen.append(
                cursor.connection.execute(
                    "SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'invoices'"
                ).fetchone()
            )

    with on_statement(engine, before):
        invoice_id = client.invoice(
            customer,
            [line(description="Zahnradfräse Typ K7"), line(description="Anfahrt Werk Süd")],
        )
    assert seen == [(1, 0)]
    with engine.connect() as conn:
        document = conn.execute(
            text("SELECT search_text FROM invoices WHERE id = :id"), {"id": invoice_id}
        ).scalar_one()
    assert "zahnradfräse typ k7" in document and "anfahrt werk süd" in document
    engine.dispose()


def _a_line(engine: Engine, client: Client) -> dict[str, Any]:
    invoice_id = client.invoice(client.customer(), [line()])
    with engine.connect() as conn:
        row = conn.execute(select(_LINES).where(_LINES.c.invoice_id == invoice_id)).one()
    return dict(row._mapping)


def test_a_line_without_its_invoice_fails_the_commit(engine: Engine, client: Client) -> None:
    orphan = {**_a_line(engine, client), "id": uuid.uuid4(), "invoice_id": uuid.uuid4()}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(_LINES), orphan)  # accepted here: the check waits for the commit
    with engine.connect() as conn:
        assert conn.execute(select(_LINES.c.id).where(_LINES.c.id == orphan["id"])).all() == []


def test_a_line_undone_with_its_savepoint_is_not_checked(engine: Engine, client: Client) -> None:
    """A command rolled back to its savepoint in a batch leaves no pending check behind."""
    orphan = {**_a_line(engine, client), "id": uuid.uuid4(), "invoice_id": uuid.uuid4()}
    with engine.begin() as conn:
        savepoint = conn.begin_nested()
        conn.execute(insert(_LINES), orphan)
        savepoint.rollback()
        conn.execute(text("SELECT 1"))  # the commit after it succeeds
    with engine.connect() as conn:
        assert conn.execute(select(_LINES.c.id).where(_LINES.c.id == orphan["id"])).all() == []
