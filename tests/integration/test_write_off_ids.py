"""Migration 0028_write_off_ids copies the write-off ids already in the invoices' ledgers into
``write_off_ids`` (once per organization), on both backends: written off with the current code,
the table dropped by a downgrade, and made again by the upgrade from the ledgers; an id on two
invoices (written before the migration) is kept for the first and the other named."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from alembic import command
from invoicing import db
from invoicing.models import Invoice, WriteOffId
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import select, update

from tests.support.client import Client, line
from tests.support.databases import temporary_pg_database
from tests.support.fakes import fake_deps


def _ids(url: str) -> set[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(WriteOffId.organization_id, WriteOffId.id, WriteOffId.invoice_id)
            )
            return {tuple(row) for row in rows}  # type: ignore[misc]
    finally:
        engine.dispose()


def _round_trip(url: str, caplog: pytest.LogCaptureFixture) -> None:
    db.migrate(url)
    engine = db.make_engine(url)
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org()
    cust = client.customer()
    written = set()
    for amount in ("100.00", "80.00"):
        inv = client.finalized(cust, [line("Beratung", "1", amount)])
        wid = uuid.uuid4()
        client.ok(
            "write_off_invoice",
            {
                "invoice_id": inv["id"],
                "write_off_id": str(wid),
                "amount": "10.00",
                "date": inv["issue_date"],
                "reason": "small_difference",
            },
        )
        client.ok(
            "reverse_write_off",
            {"invoice_id": inv["id"], "write_off_id": str(wid), "date": inv["issue_date"]},
        )
        written.add((client.org, wid, uuid.UUID(inv["id"])))
    engine.dispose()
    assert _ids(url) == written
    command.downgrade(db.alembic_config(url), "0027_booked_history")
    db.migrate(url)
    assert _ids(url) == written  # from the ledgers (a reversal is no write-off of its own)

    # an id on two invoices (as before this migration a client could write): the first
    # invoice's by id is kept, the other named in a warning
    command.downgrade(db.alembic_config(url), "0027_booked_history")
    (org, kept, first), (_, _, second) = sorted(written, key=lambda w: w[2])
    engine = db.make_engine(url)
    with engine.begin() as conn:
        ledger = conn.execute(select(Invoice.ledger).where(Invoice.id == second)).scalar_one()
        moved = [{**m, "document_id": str(kept)} for m in ledger]
        conn.execute(update(Invoice).where(Invoice.id == second).values(ledger=moved))
    engine.dispose()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        db.migrate(url)
    assert _ids(url) == {(org, kept, first)}
    warned = [r.getMessage() for r in caplog.records if "more than one invoice" in r.getMessage()]
    assert warned and str(kept) in warned[0] and str(second) in warned[0]


def test_the_ids_are_copied_from_the_ledgers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'write-offs.sqlite3'}", caplog)
    with temporary_pg_database("invoicing_t_write_off_ids") as pg:
        _round_trip(pg, caplog)
