"""Steps left to the end of a transaction (``UnitOfWork.at_end``): the numbers of a batch's
finalizes (src/pipeline/batch.py). No database: the steps are plain callables."""

from __future__ import annotations

from invoicing.handlers.unit_of_work import UnitOfWork
from sqlalchemy.orm import sessionmaker


def test_steps_run_once_at_the_end_sorted_by_their_order_stable() -> None:
    uow = UnitOfWork(sessionmaker())
    ran: list[str] = []
    uow.at_end(("org-b", "invoice", "", "2026-06-02"), lambda: ran.append("b"))
    uow.at_end(("org-a", "invoice", "", "2026-06-03"), lambda: ran.append("a3"))
    uow.at_end(("org-a", "invoice", "", "2026-06-01"), lambda: ran.append("a1"))
    uow.at_end(("org-a", "invoice", "", "2026-06-01"), lambda: ran.append("a1 again"))
    assert uow.pending_steps == 4
    uow.finish()
    assert ran == ["a1", "a1 again", "a3", "b"]
    uow.finish()  # nothing left: each step runs once
    assert ran == ["a1", "a1 again", "a3", "b"] and uow.pending_steps == 0


def test_a_command_undone_drops_the_steps_it_added() -> None:
    uow = UnitOfWork(sessionmaker())
    ran: list[str] = []
    uow.at_end(("a",), lambda: ran.append("kept"))
    mark = uow.pending_steps  # a command's savepoint begins (batch.Scope)
    uow.at_end(("a",), lambda: ran.append("undone"))
    uow.drop_steps(mark)  # ... and is rolled back
    uow.finish()
    assert ran == ["kept"]
