"""The list reads load their pages as plain Core rows (queries/rows.py); what they answer must
be, byte for byte, what ``invoice_state`` makes of the ORM ``Invoice`` of each item, for
invoices in every state (drafts, finalized, paid, credited, written off, foreign
currency with an exchange difference, paid across invoices, exported to an integration,
trashed), on SQLite and PostgreSQL, in as few statements as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from invoicing.domain.errors import NotFound
from invoicing.domain.money import round_money
from invoicing.handlers.views import invoice_state, open_amount
from invoicing.models import Invoice
from invoicing.queries.invoices import get_invoice, list_invoices, list_trash, open_items
from invoicing.queries.rows import page_statements, unfold
from invoicing.schemas.queries import (
    GetInvoice,
    InvoiceList,
    ListInvoices,
    ListTrash,
    OpenItems,
)
from sqlalchemy.orm import Session

from tests.integration.queries_world import ACME, BERTRAM, ORG, World, inv_id, make_world
from tests.support.sql import on_statement

pytestmark = pytest.mark.integration

HOURS = {"description": "Beratung", "quantity": 2, "unit": "hours", "unit_price": "180.00"}


def _more(world: World) -> None:
    """Beyond the query world: credited, exported, foreign currency, written off,
    paid across invoices."""
    travel = {"description": "Reise", "quantity": 1, "unit_price": "80.00", "tax_rate": 7}
    world.send(
        "create_invoice", {"id": inv_id(8), "customer_id": ACME, "lines": [HOURS, travel, HOURS]}
    )
    world.send("finalize_invoice", {"invoice_id": inv_id(8), "issue_date": "2026-04-01"})
    world.send(
        "export_invoice",
        {
            "invoice_id": inv_id(8),
            "integration": "xero",
            "external_id": "INV-8",
            "url": "https://go.xero.com/View.aspx?InvoiceID=8",
        },
    )
    world.send(
        "issue_credit_note",
        {
            "invoice_id": inv_id(8),
            "reason": "Kulanz",
            "issue_date": "2026-04-05",
            "lines": [{"description": "Gutschrift", "quantity": "0.5", "unit_price": "180.00"}],
        },
    )
    world.send("record_payment", {"invoice_id": inv_id(8), "amount": "50.00", "date": "2026-04-06"})
    world.send(
        "create_invoice",
        {
            "id": inv_id(9),
            "customer_id": BERTRAM,
            "currency": "USD",
            "exchange_rate": "0.9",
            "lines": [{"description": "Consulting", "quantity": 3, "unit_price": "99.99"}],
        },
    )
    world.send("finalize_invoice", {"invoice_id": inv_id(9), "issue_date": "2026-04-02"})
    world.send(
        "record_payment",
        {
            "invoice_id": inv_id(9),
            "amount": "100.00",
            "date": "2026-04-10",
            "exchange_rate": "0.95",
        },
    )
    world.send("create_invoice", {"id": inv_id(10), "customer_id": ACME, "lines": [HOURS]})
    world.send("finalize_invoice", {"invoice_id": inv_id(10), "issue_date": "2026-04-03"})
    world.send(
        "record_payment", {"invoice_id": inv_id(10), "amount": "10.00", "date": "2026-04-11"}
    )
    world.send(
        "write_off_invoice",
        {
            "invoice_id": inv_id(10),
            "write_off_id": str(uuid.UUID(int=10)),
            "date": "2026-05-31",
            "reason": "uncollectible",
        },
    )
    for n in (12, 13):
        world.send("create_invoice", {"id": inv_id(n), "customer_id": BERTRAM, "lines": [HOURS]})
        world.send("finalize_invoice", {"invoice_id": inv_id(n), "issue_date": "2026-04-05"})
    world.send(
        "record_payment",
        {"customer_id": BERTRAM, "currency": "EUR", "amount": "600.00", "date": "2026-04-20"},
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    for w in make_world(request.param, tmp_path_factory.mktemp(request.param)):
        _more(w)
        yield w


def _orm_states(world: World, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The ORM path: each invoice loaded as an entity (selectin lines and payments)."""
    with Session(world.app.engine) as session:
        org = uuid.UUID(ORG)
        return {
            i: invoice_state(inv).model_dump_json()
            for i in ids
            if (inv := session.get(Invoice, (org, i))) is not None
        }


def _query(cls: Any, payload: dict[str, Any]) -> Any:
    return cls.model_validate({"organization_id": ORG, "payload": payload})


def _same_as_orm(world: World, result: InvoiceList) -> None:
    orm = _orm_states(world, [item.id for item in result.items])
    assert [item.model_dump_json() for item in result.items] == [
        orm[item.id] for item in result.items
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"filter": {"deleted": "include"}, "page_size": 200},
        {"filter": {"deleted": "include"}, "sort": ["-gross_total"], "page_size": 200},
        {"sort": ["customer_name", "-issue_date"], "page": 2, "page_size": 4},
        {"filter": {"status": ["paid", "partially_paid"]}, "page_size": 200},
    ],
)
def test_list_invoices_equals_the_orm_state_of_each_item(
    world: World, payload: dict[str, Any]
) -> None:
    with Session(world.app.engine) as session:
        result = list_invoices(_query(ListInvoices, payload), session)
    assert result.items
    _same_as_orm(world, result)
    # the whole reply too: the same items (from the ORM) and the same page info
    with Session(world.app.engine) as session:
        found = [session.get(Invoice, (uuid.UUID(ORG), item.id)) for item in result.items]
        expected = InvoiceList(
            items=[invoice_state(inv) for inv in found if inv is not None], page=result.page
        )
    assert result.model_dump_json() == expected.model_dump_json()


def test_the_world_has_every_kind_of_invoice(world: World) -> None:
    """Guards the equality tests above against a world that lost its variety."""
    with Session(world.app.engine) as session:
        states = list_invoices(
            _query(ListInvoices, {"filter": {"deleted": "include"}, "page_size": 200}), session
        ).items
    assert {s.status for s in states} >= {"draft", "paid", "partially_paid"}
    assert {s.kind for s in states} >= {"invoice", "credit_note", "quote"}
    assert any(s.normalized and s.normalized.exchange_difference for s in states)
    assert any(s.integration_exports for s in states)
    assert any(s.totals.written_off_amount for s in states)
    assert any(s.totals.credited_amount for s in states)
    assert any(p.customer_payment_id for s in states for p in s.payments)
    assert any(s.deleted for s in states)
    assert sum(len(s.payments) for s in states) >= 5


def test_get_invoice_equals_the_orm_state_of_every_invoice(world: World) -> None:
    """By id and by number, trashed ones with include_deleted, in three statements each
    (the invoice, its lines, its payments)."""
    everything = _orm_states(world, [inv.id for inv in _all(world)])
    assert len(everything) >= 10
    for inv in _all(world):
        by = [{"invoice_id": str(inv.id)}] + ([{"number": inv.number}] if inv.number else [])
        for key in by:
            payload = {**key, "include_deleted": True}
            result, selects = _selects(world, payload, get_invoice, GetInvoice)
            assert result.invoice.model_dump_json() == everything[inv.id]
            assert len(selects) == 3, selects
        if inv.deleted:
            with Session(world.app.engine) as session, pytest.raises(NotFound):
                get_invoice(_query(GetInvoice, {"invoice_id": str(inv.id)}), session)


def _all(world: World) -> list[Any]:
    with Session(world.app.engine) as session:
        return list(
            list_invoices(
                _query(ListInvoices, {"filter": {"deleted": "include"}, "page_size": 200}), session
            ).items
        )


def test_list_trash_equals_the_orm_state(world: World) -> None:
    with Session(world.app.engine) as session:
        result = list_trash(_query(ListTrash, {}), session)
    assert [str(item.id) for item in result.items] == [inv_id(5)]
    _same_as_orm(world, result)


def test_open_items_equal_the_orm_state(world: World) -> None:
    with Session(world.app.engine) as session:
        result = open_items(_query(OpenItems, {"as_of": "2026-06-01", "page_size": 200}), session)
    assert len(result.items) >= 4
    orm = _orm_states(world, [item.invoice.id for item in result.items])
    assert [item.invoice.model_dump_json() for item in result.items] == [
        orm[item.invoice.id] for item in result.items
    ]
    with Session(world.app.engine) as session:
        for item in result.items:
            inv = session.get(Invoice, (uuid.UUID(ORG), item.invoice.id))
            assert inv is not None
            assert item.open_amount == round_money(open_amount(inv), inv.currency)
            assert str(item.open_amount) == str(round_money(open_amount(inv), inv.currency))


def _selects(
    world: World, payload: dict[str, Any], read: Any = list_invoices, query: Any = ListInvoices
) -> tuple[Any, list[str]]:
    """The reply of ``read`` (a list by default) and the SELECTs it ran."""
    statements: list[str] = []
    with (
        on_statement(world.app.engine, lambda _cursor, sql: statements.append(sql)),
        Session(world.app.engine) as session,
    ):
        result = read(_query(query, payload), session)
    return result, [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_page_costs_four_statements(world: World) -> None:
    """Page, count, the page's lines, the page's payments: no statement per invoice."""
    result, body = _selects(world, {"page_size": 5})
    assert len(result.items) == 5 and result.page.total > 5
    assert len(body) == 4, body
    assert "count(" in body[1]


def test_the_last_page_needs_no_count(world: World) -> None:
    """A page that is not full ends the list: its total is exact without counting."""
    everything, body = _selects(world, {"page_size": 200})
    assert 10 <= len(everything.items) < 200
    assert len(body) == 3 and not any("count(" in s for s in body), body
    assert everything.page.total == len(everything.items) and everything.page.total_exact
    total = everything.page.total
    last = (total + 3) // 4
    page, body = _selects(world, {"page_size": 4, "page": last})
    assert page.page.total == total and page.page.pages == last and page.page.total_exact
    assert [i.id for i in page.items] == [i.id for i in everything.items[(last - 1) * 4 :]]
    counted = len(body) == 4
    assert counted == (total % 4 == 0), body  # a full last page is counted
    # past the end: an empty page is counted (the total is not where the page is)
    beyond, body = _selects(world, {"page_size": 4, "page": last + 2})
    assert beyond.items == [] and beyond.page.total == total and len(body) == 2, body


def test_folded_json_columns_are_the_columns(world: World) -> None:
    """On PostgreSQL a page's JSON columns arrive as one ``jsonb_build_array`` per row
    (``rows.page_statements``); unfolded, the rows are exactly those of the plain select of
    every column (the SQLite shape, run here on the same database), invoices and lines."""
    folded, plain = page_statements(world.backend), page_statements("sqlite")
    postgres = world.backend == "postgresql"
    assert (folded.invoices_folded, folded.lines_folded) == ((11, 2) if postgres else (0, 0))
    org = uuid.UUID(ORG)
    with Session(world.app.engine) as session:
        conn = session.connection()

        def invoices(stmt: Any) -> list[Any]:
            where = stmt.where(Invoice.organization_id == org).order_by(Invoice.id)
            return list(conn.execute(where).all())

        rows, expected = invoices(folded.invoices), invoices(plain.invoices)
        assert len(rows) >= 10
        assert [unfold(r, folded.invoices_folded) for r in rows] == [tuple(r) for r in expected]
        params = {"org_id": org, "invoice_ids": [r.id for r in expected]}
        lines = conn.execute(folded.lines, params).all()
        assert len(lines) >= 10
        assert [unfold(r, folded.lines_folded) for r in lines] == [
            tuple(r) for r in conn.execute(plain.lines, params).all()
        ]
