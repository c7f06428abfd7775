"""The migrations build exactly the models' schema, on SQLite and PostgreSQL.

``alembic.autogenerate.compare_metadata`` between a freshly migrated database and
``Base.metadata`` must find nothing: no table, column, type, nullability, default, index or
constraint that one side has and the other has not. Plus what autogenerate does not compare:
the predicate of the outbox's partial index, and that the relay's query uses that index.
"""

from __future__ import annotations

import inspect as inspect_module
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import invoicing.models
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from invoicing import db
from invoicing.workers import relay as relay_module
from invoicing.workers.relay import Relay
from sqlalchemy import Engine, create_engine, inspect, text

from tests.support.databases import migrated_engine, temporary_pg_database

# src/workers/relay.py, _UNPUBLISHED (Relay.drain's query): the rows the partial index is for
# (the plan does not depend on the columns the relay reads out of them)
RELAY_ROWS = "FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT"
RELAY_QUERY = f"SELECT id, type, payload {RELAY_ROWS} 200"


def test_the_relay_still_selects_what_the_partial_index_holds() -> None:
    """When the relay's query changes, ix_outbox_unpublished (migration 0008) must follow it."""
    assert "_UNPUBLISHED" in inspect_module.getsource(Relay.drain)
    assert relay_module._UNPUBLISHED.endswith(f" {RELAY_ROWS} %s"), (
        "the relay's query changed: check that ix_outbox_unpublished still matches it, then "
        "update RELAY_QUERY here"
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with migrated_engine(
        request.param, tmp_path_factory.mktemp("schema"), "invoicing_t_schema"
    ) as engine:
        yield engine


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, invoicing.models.Base.metadata))


def test_migrations_produce_exactly_the_models(migrated: Engine) -> None:
    assert _differences(migrated) == []


PARTIAL = {
    "ix_outbox_unpublished": ("id", "published_at IS NULL"),
    "ix_outbox_published": ("published_at", "published_at IS NOT NULL"),
}


@pytest.mark.parametrize("name", sorted(PARTIAL))
def test_the_outbox_partial_indexes_have_their_predicates(migrated: Engine, name: str) -> None:
    column, predicate = PARTIAL[name]
    with migrated.connect() as conn:
        if migrated.dialect.name == "postgresql":
            definition = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}
            ).scalar_one()
            assert definition.endswith(f"({column}) WHERE ({predicate})"), definition
        else:
            definition = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}
            ).scalar_one()
            assert definition.endswith(f"({column}) WHERE {predicate}"), definition
    # and the model says the same (compare_metadata matches indexes by name and columns only)
    index = next(i for i in invoicing.models.OutboxEvent.__table__.indexes if i.name == name)
    assert str(index.dialect_options[migrated.dialect.name]["where"]) == predicate


def test_the_relay_query_reads_the_partial_index(migrated: Engine) -> None:
    """With many published rows and a few unpublished ones, the planner picks the index."""
    with migrated.begin() as conn:
        if migrated.dialect.name == "postgresql":
            conn.execute(
                text(
                    "INSERT INTO outbox (event_id, type, payload, created_at, published_at) "
                    "SELECT gen_random_uuid(), 'invoice.created', '{}'::jsonb, now(), "
                    "CASE WHEN g <= 20000 THEN now() END FROM generate_series(1, 20050) g"
                )
            )
            conn.execute(text("ANALYZE outbox"))
            plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {RELAY_QUERY}")).scalar_one()
            rendered = json.dumps(plan)
        else:
            conn.execute(
                text(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
                    "WHERE n < 20050) INSERT INTO outbox (event_id, type, payload, created_at, "
                    "published_at) SELECT lower(hex(randomblob(16))), 'invoice.created', '{}', "
                    "'2026-01-01 00:00:00', CASE WHEN n <= 20000 THEN '2026-01-01 00:00:00' END "
                    "FROM g"
                )
            )
            conn.execute(text("ANALYZE"))
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {RELAY_QUERY}")).all()
            rendered = " | ".join(str(row[-1]) for row in rows)
        conn.execute(text("DELETE FROM outbox"))
    assert "ix_outbox_unpublished" in rendered, rendered


def test_the_new_indexes_go_down_and_up_again(tmp_path: Path) -> None:
    """0008_locks downgrades cleanly and the schema matches the models again after upgrading."""
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    _roundtrip(url)
    with temporary_pg_database("invoicing_t_schema_rt") as pg:
        _roundtrip(pg)


def _roundtrip(url: str) -> None:
    db.migrate(url)
    engine = create_engine(url)
    try:
        command.downgrade(db.alembic_config(url), "0007_merge")
        names = {i["name"] for i in inspect(engine).get_indexes("outbox")}
        assert "ix_outbox_unpublished" not in names
        db.migrate(url)
        assert _differences(engine) == []
    finally:
        engine.dispose()
