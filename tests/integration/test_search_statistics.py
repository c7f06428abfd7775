"""The search document's statistics target (migration 0025_search_statistics): a larger
sample keeps the plan of a selective ``full_query`` from flipping to a walk of the whole
``created_at`` index (docs/reads.md, "The plan of a search")."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from invoicing import db
from sqlalchemy import create_engine, text

from tests.support.databases import temporary_pg_database

TARGET_SQL = text(
    "SELECT attstattarget FROM pg_attribute "
    "WHERE attrelid = 'invoices'::regclass AND attname = 'search_text'"
)


def _target(url: str) -> int | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(TARGET_SQL).scalar_one()
            return None if value is None or value < 0 else int(value)
    finally:
        engine.dispose()


def test_the_search_document_samples_more_rows_and_goes_back_on_downgrade(
    tmp_path: Path,
) -> None:
    with temporary_pg_database("invoicing_t_search_stats") as pg:
        db.migrate(pg)
        assert _target(pg) == 1000
        command.downgrade(db.alembic_config(pg), "0024_lines_fk_deferred")
        assert _target(pg) is None  # the default again
        db.migrate(pg)
        assert _target(pg) == 1000
    sqlite = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    db.migrate(sqlite)  # nothing to set there: the migration runs and changes nothing
    command.downgrade(db.alembic_config(sqlite), "0024_lines_fk_deferred")
    db.migrate(sqlite)
