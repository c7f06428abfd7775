"""The read path's transactions (``queries.dispatch``): READ ONLY and REPEATABLE READ on
PostgreSQL, begun so by the driver, and the pool's connections back to their defaults for the
commands that share the pool."""

from __future__ import annotations

import pytest
from invoicing.queries.dispatch import read_only
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite: one writer anyway
def test_reads_are_repeatable_read_and_read_only_and_commands_are_not(engine: Engine) -> None:
    reads = read_only(engine)
    statements: list[str] = []
    for _ in range(3):  # the same pooled connections, taken in turns
        with Session(reads) as session:
            conn = session.connection()
            isolation = conn.exec_driver_sql("SHOW transaction_isolation").scalar_one()
            read_only_on = conn.exec_driver_sql("SHOW transaction_read_only").scalar_one()
            assert (isolation, read_only_on) == ("repeatable read", "on")
            with pytest.raises(Exception, match="read-only transaction"):
                conn.exec_driver_sql("CREATE TEMP TABLE read_only_probe (x int)")
            session.rollback()
        with engine.begin() as conn:
            isolation = conn.exec_driver_sql("SHOW transaction_isolation").scalar_one()
            read_only_on = conn.exec_driver_sql("SHOW transaction_read_only").scalar_one()
            assert (isolation, read_only_on) == ("read committed", "off")
            statements.append(conn.execute(text("SELECT 1")).scalar_one())
    assert statements == [1, 1, 1]
