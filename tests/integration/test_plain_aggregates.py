"""``finalize_invoice`` on a plain draft (handlers/aggregates.py: Core read, Core UPDATE) gives
byte for byte the events and the row that the ORM's path gives for the same draft.

Each draft is finalized twice by the handler, each time in a transaction that is rolled back
(so both take the same number, at the same fixed time): once as the pipeline runs it (the
plain path), once with the invoice already in the session (``load_draft`` then declines and
the handler uses the ORM's objects, as before this path existed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from invoicing.domain.errors import NotFound
from invoicing.handlers import aggregates
from invoicing.handlers.lifecycle import finalize_invoice
from invoicing.handlers.registry import Event
from invoicing.handlers.repository import organization_row
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state
from invoicing.models import Invoice
from invoicing.schemas.commands import FinalizeInvoice
from sqlalchemy.orm import sessionmaker

from tests.support.client import Client, line
from tests.support.sql import on_statement

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def _dump(events: list[Event]) -> list[str]:
    return [json.dumps([e.type, e.subject, e.data, e.sequence], ensure_ascii=False) for e in events]


def _finalize(client: Client, invoice_id: uuid.UUID, *, orm: bool) -> tuple[list[str], str]:
    """The events of a finalize and the invoice's state read back through the ORM after the
    flush, in a transaction that is rolled back."""
    deps = dataclasses.replace(client.bus.deps, clock=lambda: NOW)
    cmd = FinalizeInvoice.model_validate(
        client.doc("finalize_invoice", {"invoice_id": str(invoice_id)})
    )
    key = (client.org, invoice_id)
    with UnitOfWork(sessionmaker(bind=client.bus.engine, expire_on_commit=False)) as uow:
        held = uow.session.get(Invoice, key) if orm else None  # the ORM's path from here
        if orm:
            assert held is not None
            assert aggregates.load_draft(uow, client.org, invoice_id) is None
        else:
            assert aggregates.load_draft(uow, client.org, invoice_id) is not None
        events = finalize_invoice(cmd, uow, deps)
        uow.flush()
        uow.session.expunge_all()
        row = uow.session.get(Invoice, key)
        assert row is not None
        written = json.dumps(invoice_state(row).model_dump(mode="json"), ensure_ascii=False)
        uow.rollback()
    return _dump(events), written


DRAFTS: list[dict[str, Any]] = [
    {
        "lines": [
            line(quantity="3", unit_price="250.00", discount={"type": "percentage", "value": "10"}),
            line(description="Reise", unit_price="80.5", tax_rate="7"),
        ],
        "discount": {"type": "amount", "value": "12.34"},
        "payment_terms_days": 30,
        "notes": "Danke für Ihren Auftrag",
        "tags": ["b", "a"],
    },
    {
        "lines": [line(quantity="1.5", unit_price="119.00")],
        "calculate_from_net": False,
        "vat_number": "DE136695976",
        "delivery_date": "2026-11-02",
    },
    {
        "lines": [line(unit_price="1000"), line(unit_price="0.01", quantity="7")],
        "currency": "USD",
        "exchange_rate": "0.9123",
        "service_period": {"start": "2026-10-01", "end": "2026-10-31"},
    },
]


@pytest.mark.parametrize("fields", DRAFTS, ids=["discounts", "gross", "foreign"])
def test_plain_finalize_equals_the_orm_finalize(client: Client, fields: dict[str, Any]) -> None:
    customer = client.customer()
    invoice_id = client.invoice(customer, **fields)
    plain_events, plain_row = _finalize(client, invoice_id, orm=False)
    orm_events, orm_row = _finalize(client, invoice_id, orm=True)
    assert plain_events == orm_events
    assert plain_row == orm_row
    # the event carries the row as written
    assert json.loads(plain_events[-1])[2]["invoice"] == json.loads(plain_row)
    assert json.loads(plain_row)["status"] == "finalized"


def test_a_finalized_or_missing_invoice_is_left_to_the_orm(client: Client) -> None:
    customer = client.customer()
    invoice_id = client.invoice(customer, [line()])
    client.ok("finalize_invoice", {"invoice_id": str(invoice_id)})
    with UnitOfWork(sessionmaker(bind=client.bus.engine)) as uow:
        assert aggregates.load_draft(uow, client.org, invoice_id) is None
        assert aggregates.load_draft(uow, client.org, uuid.uuid4()) is None
    errors = client.rejected("finalize_invoice", {"invoice_id": str(invoice_id)})
    assert [e["code"] for e in errors] == ["already_finalized"]
    errors = client.rejected("finalize_invoice", {"invoice_id": str(uuid.uuid4())})
    assert [e["code"] for e in errors] == ["invoice_not_found"]


def test_save_writes_only_what_changed(client: Client) -> None:
    customer = client.customer()
    invoice_id = client.invoice(customer, [line(unit_price="10.0")])
    with UnitOfWork(sessionmaker(bind=client.bus.engine)) as uow:
        draft = aggregates.load_draft(uow, client.org, invoice_id)
        assert draft is not None
        assert str(draft.lines[0].unit_price) == "10.0"
        draft.lines[0].unit_price = Decimal("10.00")  # equal, stored differently: written
        draft.notes = "x"
        aggregates.save(uow, draft)
        uow.commit()
    with UnitOfWork(sessionmaker(bind=client.bus.engine)) as uow:
        row = uow.session.get(Invoice, (client.org, invoice_id))
        assert row is not None and row.notes == "x"
        assert str(row.lines[0].unit_price) == "10.00"


@pytest.mark.parametrize("fields", DRAFTS, ids=["discounts", "gross", "foreign"])
def test_the_created_event_is_the_row_written(client: Client, fields: dict[str, Any]) -> None:
    """create_invoice builds a plain draft and INSERTs it with Core: its event is, byte for
    byte, the invoice as the ORM reads it back (every column default included)."""
    customer = client.customer()
    invoice_id = uuid.uuid4()
    out = client.ok(
        "create_invoice", {"id": str(invoice_id), "customer_id": str(customer), **fields}
    )
    announced = out.events[0]["data"]["invoice"]
    with UnitOfWork(sessionmaker(bind=client.bus.engine)) as uow:
        row = uow.session.get(Invoice, (client.org, invoice_id))
        assert row is not None and row.integration_exports == {} and row.ledger == []
        stored = invoice_state(row).model_dump(mode="json")
    assert json.dumps(announced, ensure_ascii=False) == json.dumps(stored, ensure_ascii=False)
    assert announced["sequence"] == 1 and len(announced["lines"]) == len(fields["lines"])


def test_a_batch_of_finalizes_reads_each_organization_once(client: Client) -> None:
    """``UnitOfWork.organization_rows`` (set by a batch that changes no organization): the
    row read by one command serves the next; another organization is read on its own; one
    that does not exist is refused each time, never kept."""
    reads: list[str] = []

    def record(_cursor: Any, statement: str) -> None:
        if "FROM organizations" in statement:
            reads.append(statement)

    missing = uuid.uuid4()
    with client.bus.uow_factory() as uow, on_statement(client.bus.engine, record):
        uow.organization_rows = {}
        first, _ = organization_row(uow, client.org)
        again, _ = organization_row(uow, client.org)
        assert again is first and first.id == client.org
        assert len(reads) == 1
        for _ in range(2):
            with pytest.raises(NotFound):
                organization_row(uow, missing)
        assert len(reads) == 3 and list(uow.organization_rows) == [client.org]
        uow.organization_rows = None  # any other transaction: read every time
        organization_row(uow, client.org)
        assert len(reads) == 4
