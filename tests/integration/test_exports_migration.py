"""Migration 0004_exports on SQLite and PostgreSQL: down to the core tables and up again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from invoicing import db
from sqlalchemy import create_engine, inspect

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
        assert [u["column_names"] for u in uniques] == [["organization_id", "account"]]
    finally:
        engine.dispose()


def test_migration_on_sqlite(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'm.sqlite3'}")


def test_migration_on_postgresql() -> None:
    with temporary_pg_database("invoicing_t_exports") as url:
        _roundtrip(url)
