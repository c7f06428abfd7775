"""Migration 0029_number_key on both backends: the upgrade fills ``invoices.number_key`` of the
documents numbered before it (in batches, across their boundaries), the downgrade gives back
0022's index of ``-number``; on PostgreSQL the key compares bytes (collation "C") whatever the
database's default, and the ``-number`` index is on the key."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from invoicing import db
from invoicing.domain.numbering import number_key_of
from invoicing.models import Invoice, NumberSeries
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, inspect, select, text, update

from tests.support.client import DE_ORG, Client, line
from tests.support.databases import temporary_pg_database
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

MIGRATION = Path(db.__file__).parent / "models" / "migrations" / "versions" / "0029_number_key.py"


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0029", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documents(engine: Engine) -> set[uuid.UUID]:
    """An organization with numbers past the padding, manual numbers, credit notes, drafts."""
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org({**DE_ORG, "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ}"}}})
    cust = client.customer()
    with client.bus.uow_factory() as uow:
        uow.session.add(
            NumberSeries(
                organization_id=client.org,
                series="invoice",
                scope="",
                period=str(client.bus.deps.today().year),
                next_value=9,
            )
        )
        uow.commit()
    made = set()
    for _ in range(3):
        made.add(uuid.UUID(client.finalized(cust, [line()])["id"]))
    made.add(uuid.UUID(client.finalized(cust, [line()], number="M-007")["id"]))
    first = sorted(made)[0]
    client.ok("issue_credit_note", {"invoice_id": str(first), "reason": "Fehler"})
    made.add(client.invoice(cust, [line()]))
    made.add(client.invoice(cust, [line()], number="M-10"))
    return made


def _keys(engine: Engine) -> dict[str | None, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(select(Invoice.number, Invoice.number_key, Invoice.id)).all()
    return {number or f"draft {iid}": key for number, key, iid in rows}


def _indexes(engine: Engine) -> set[str]:
    return {i["name"] or "" for i in inspect(engine).get_indexes("invoices")}


def _round_trip(url: str) -> None:
    db.migrate(url)
    engine = db.make_engine(url)
    try:
        _documents(engine)
        written = _keys(engine)
        assert len(written) == 7 and all(
            key == number_key_of(None if n.startswith("draft ") else n)
            for n, key in written.items()
        )
        assert sum(key is not None for key in written.values()) == 6
        command.downgrade(db.alembic_config(url), "0028_write_off_ids")
        engine.dispose()
        assert "number_key" not in {c["name"] for c in inspect(engine).get_columns("invoices")}
        names = _indexes(engine)
        assert "ix_invoices_org_number_key" not in names
        if engine.dialect.name == "postgresql":
            assert "ix_invoices_org_number_desc" in names
        db.migrate(url)  # the upgrade fills the key of every numbered row
        engine.dispose()
        assert _keys(engine) == written
        names = _indexes(engine)
        assert "ix_invoices_org_number_key" in names
        if engine.dialect.name == "postgresql":
            assert {"ix_invoices_org_number_key_desc"} <= names
            assert "ix_invoices_org_number_desc" not in names
            with engine.connect() as conn:
                collation = conn.execute(
                    text(
                        "SELECT collation_name FROM information_schema.columns "
                        "WHERE table_name = 'invoices' AND column_name = 'number_key'"
                    )
                ).scalar_one()
            assert collation == "C"

        # batches of two: every row filled across the boundaries, none twice or skipped
        with engine.begin() as conn:
            conn.execute(update(Invoice).values(number_key=None))
            migration = _migration()
            migration.BATCH = 2
            migration._fill(conn)
        assert _keys(engine) == written
    finally:
        engine.dispose()


def test_the_migration_fills_the_keys_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'number_key.sqlite3'}")


def test_the_migration_fills_the_keys_on_postgresql() -> None:
    with temporary_pg_database("invoicing_t_number_key") as url:
        _round_trip(url)
