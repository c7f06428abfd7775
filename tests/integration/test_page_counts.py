"""Where a list stops counting (``queries.common.paginate``), on SQLite and PostgreSQL.

A count stopped at ``max(count_limit, end of the page)`` reports that number with
``total_exact`` false when more rows match, the exact total otherwise. Where that limit is the
end of the page (deep pages, and ``count_limit=0``: ``list_invoices`` with a ``full_query``),
the page statement reads one row more instead of running a count: the answers must be those of
the count, for every page, page size and limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from invoicing.models import Invoice
from invoicing.queries.common import paginate
from invoicing.queries.invoices import list_invoices
from invoicing.schemas.queries import ListInvoices, PageInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.integration.queries_world import ACME, ORG, World, inv_id, make_world
from tests.support.sql import on_statement

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    for w in make_world(request.param, tmp_path_factory.mktemp(request.param)):
        for n in range(100, 112):  # enough rows for pages of 2 to 4 to have a middle
            line = {"description": f"Beratung Paket {n}", "quantity": 1, "unit_price": "90"}
            w.send("create_invoice", {"id": inv_id(n), "customer_id": ACME, "lines": [line]})
        yield w


@contextmanager
def selects(world: World) -> Iterator[list[str]]:
    """The SELECTs sent meanwhile on the world's engine (both execution paths)."""
    seen: list[str] = []

    def record(_cursor: Any, statement: str) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    with on_statement(world.app.engine, record):
        yield seen


def _expected(n: int, page: int, size: int, limit: int | None) -> PageInfo:
    """What a count stopped at ``max(limit, page * size)`` (+1 to see that more match) says."""
    stop = None if limit is None else max(limit, page * size)
    total, exact = (stop, False) if stop is not None and n > stop else (n, True)
    return PageInfo(
        page=page, page_size=size, total=total, pages=(total + size - 1) // size, total_exact=exact
    )


def test_reading_one_row_more_answers_as_the_count_would(world: World) -> None:
    org = uuid.UUID(ORG)
    stmt = (
        select(Invoice.id)
        .where(Invoice.organization_id == org)
        .order_by(Invoice.created_at, Invoice.id)
    )
    with Session(world.app.engine) as session:
        every = [row[0] for row in session.execute(stmt)]
    n = len(every)
    assert n >= 18
    for size in (2, 3, 4, n, n + 1):
        for page in range(1, n // size + 3):
            for limit in (None, 0, 1, 3, 5, n - 1, n, 1000):
                with Session(world.app.engine) as session, selects(world) as seen:
                    rows, info = paginate(session, stmt, page, size, count_limit=limit)
                case = f"page {page} of {size}, count_limit {limit}"
                assert [r[0] for r in rows] == every[(page - 1) * size : page * size], case
                assert info == _expected(n, page, size, limit), case
                if limit is not None and limit <= page * size and (rows or page == 1):
                    assert len(seen) == 1, (case, seen)  # no count statement


def _list(world: World, payload: dict[str, Any]) -> tuple[Any, list[str]]:
    query = ListInvoices.model_validate({"organization_id": ORG, "payload": payload})
    with Session(world.app.engine) as session, selects(world) as seen:
        return list_invoices(query, session), seen


def test_a_search_counts_to_the_end_of_its_page(world: World) -> None:
    search = {"filter": {"full_query": "beratung", "deleted": "include"}}
    exact, _ = _list(world, {**search, "exact_total": True, "page_size": 200})
    n = exact.page.total
    assert n >= 13 and exact.page.total_exact and len(exact.items) == n
    first, seen = _list(world, {**search, "page_size": 2})
    assert first.page == PageInfo(page=1, page_size=2, total=2, pages=1, total_exact=False)
    assert not any("count(" in s for s in seen), seen
    assert [i.id for i in first.items] == [i.id for i in exact.items[:2]]
    # the last page ends the list: exact, still without a count
    last_page = (n + 1) // 2
    last, seen = _list(world, {**search, "page_size": 2, "page": last_page})
    assert last.page.total == n and last.page.total_exact and last.page.pages == last_page
    assert not any("count(" in s for s in seen), seen
    assert [i.id for i in last.items] == [i.id for i in exact.items[(last_page - 1) * 2 :]]
    # without a full_query the count goes on to COUNT_LIMIT: exact here
    listed, seen = _list(world, {"filter": {"deleted": "include"}, "page_size": 2})
    assert listed.page.total_exact and any("count(" in s for s in seen)
