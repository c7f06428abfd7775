"""Migration 0004_exports on SQLite and PostgreSQL: down to the core tables and up again; and
0033_datev_clients over existing rows."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from invoicing import db
from sqlalchemy import create_engine, inspect, text

from tests.support.databases import temporary_pg_database

TABLES = {"datev_settings", "datev_debtor_accounts", "export_runs", "export_marks"}


def _roundtrip(url: str) -> None:
    db.migrate(url)
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        cfg = db.alembic_config(url)
        command.downgrade(cfg, "0001")  # below the merge: every branch, exports included
        assert not TABLES & set(inspect(engine).get_table_names())
        assert "invoices" in inspect(engine).get_table_names()
        db.migrate(url)
        names = set(inspect(engine).get_table_names())
        assert names >= TABLES
        uniques = inspect(engine).get_unique_constraints("datev_debtor_accounts")
        # one account per DATEV client (0033_datev_clients: a subsidiary's own client apart)
        assert [u["column_names"] for u in uniques] == [["organization_id", "client", "account"]]
        keys = {t: inspect(engine).get_pk_constraint(t)["constrained_columns"] for t in TABLES}
        assert keys["export_marks"] == ["organization_id", "client", "target", "item_id"]
        assert keys["datev_settings"] == ["organization_id", "client"]
    finally:
        engine.dispose()


def test_migration_on_sqlite(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'm.sqlite3'}")


def test_migration_on_postgresql() -> None:
    with temporary_pg_database("invoicing_t_exports") as url:
        _roundtrip(url)


def _clients(url: str) -> None:
    """What was kept before 0033 is the organization's client (''); going down drops what a
    subsidiary's own client kept and keeps the organization's."""
    cfg = db.alembic_config(url)
    command.upgrade(cfg, "0032_dunning_claims")
    engine = create_engine(url)
    org, item, export = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO datev_settings (organization_id, settings, version, updated_at) "
                    "VALUES (:org, '{}', 1, CURRENT_TIMESTAMP)"
                ),
                {"org": org.hex if conn.dialect.name == "sqlite" else org},
            )
            conn.execute(
                text(
                    "INSERT INTO export_marks (organization_id, target, item_id, export_id, "
                    "marked_at) VALUES (:org, 'invoice', :item, :eid, CURRENT_TIMESTAMP)"
                ),
                {
                    k: (v.hex if conn.dialect.name == "sqlite" else v)
                    for k, v in {"org": org, "item": item, "eid": export}.items()
                },
            )
        command.upgrade(cfg, "head")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT client FROM datev_settings")).scalars().all() == [""]
            assert conn.execute(text("SELECT client FROM export_marks")).scalars().all() == [""]
            conn.execute(
                text(
                    "INSERT INTO export_marks (organization_id, client, target, item_id, "
                    "export_id, marked_at) SELECT organization_id, 'sub-be', target, item_id, "
                    "export_id, marked_at FROM export_marks"
                )
            )
        command.downgrade(cfg, "0032_dunning_claims")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM export_marks")).scalar_one() == 1
            assert conn.execute(text("SELECT COUNT(*) FROM datev_settings")).scalar_one() == 1
    finally:
        engine.dispose()


def test_existing_rows_are_the_organizations_client_on_sqlite(tmp_path: Path) -> None:
    _clients(f"sqlite:///{tmp_path / 'c.sqlite3'}")


def test_existing_rows_are_the_organizations_client_on_postgresql() -> None:
    with temporary_pg_database("invoicing_t_clients") as url:
        _clients(url)
