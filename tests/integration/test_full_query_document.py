"""full_query on PostgreSQL from the search document ``invoices.search_text`` (migration
0021_search) finds exactly the invoices of the union of own, line and customer matches (the
SQLite way), for every word of a varied data set, after inserts, updates, moves and deletes of
invoices and lines; the triggers keep the document equal to a rebuild from scratch, and a
finalized invoice's lines stay frozen. PostgreSQL only: SQLite has no search document."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from invoicing.models import Customer, Invoice, InvoiceLine, Organization
from invoicing.models.base import utcnow
from invoicing.queries.filters import (
    full_query_by_document,
    full_query_by_union,
    full_query_customers,
)
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.support.databases import migrated_engine

pytestmark = pytest.mark.integration

#: the document as migration 0021_search builds it, from scratch
REBUILD = text(
    "SELECT id, lower(coalesce(number, '') || ' ' || coalesce(purchase_order_number, '') "
    "|| ' ' || coalesce(buyer ->> 'name', '') || ' ' || coalesce(buyer ->> 'email', '') || ' ' "
    "|| coalesce(tags::text, '')) || ' ' || coalesce((SELECT string_agg(lower(coalesce("
    "l.description, '') || ' ' || coalesce(l.subtitle, '')), ' ' ORDER BY l.position, l.id) "
    "FROM invoice_lines l "
    "WHERE l.organization_id = i.organization_id AND l.invoice_id = i.id), ''), search_text "
    "FROM invoices i WHERE organization_id = :org"
)
NAMES = ["Nordwind", "Sonnenberg", "Müller & Söhne", "ÖKO_Bau", "100% Rhein", "Back\\slash"]
SERVICES = ["Beratung Arbeitsrecht", "Gutachten", "Übersetzung", "Mahn_verfahren", "50% Rabatt"]
TAGS = ["vip", "eilig", "Quartal-4", 'say "hi"']
#: words: parts of names, services, tags, numbers and emails, LIKE wildcards, and words that
#: would only match across the spaces joining the texts
WORDS = [
    "nordwind", "NORD", "wind", "berg", "müller", "söhne", "&", "öko_bau", "_", "%", "100%",
    "back\\slash", "\\", "arbeitsrecht", "beratung", "gutachten", "übersetzung", "mahn_v",
    "rabatt", "50%", "vip", "eilig", "quartal-4", '"hi"', "re-", "re-0001", "re-001", "po-",
    "po-7", "@", "@example", "kontakt", "x", "ab", "zzz", "t-1", "q]", "]", "[",
    "gutachten'", "rechtgutachten", "windsonnen", "vipeilig", "''",
]  # fmt: skip


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_engine(
        "postgresql", tmp_path_factory.mktemp("search"), "invoicing_t_search"
    ) as engine:
        yield engine


def _line(org: uuid.UUID, invoice_id: uuid.UUID, position: int, rnd: random.Random) -> Any:
    return InvoiceLine(
        organization_id=org,
        id=uuid.uuid4(),
        invoice_id=invoice_id,
        position=position,
        description=rnd.choice(SERVICES),
        subtitle=rnd.choice([None, "", "Akte T-1", "Windsonnen"]),
        quantity=Decimal(1),
        unit="hours",
        unit_price=Decimal(10),
        tax_category="standard",
        tax_rate=Decimal(19),
        base_amount=Decimal(10),
        discount_amount=Decimal(0),
        amount=Decimal(10),
        net_amount=Decimal(10),
    )


def _populate(engine: Engine, org: uuid.UUID, rnd: random.Random) -> list[uuid.UUID]:
    with Session(engine) as s, s.begin():
        s.add(Organization(id=org, name="Search GmbH", profile={}))
        customers = []
        for i, name in enumerate(NAMES):
            customer = Customer(
                organization_id=org,
                id=uuid.uuid4(),
                email=f"kontakt{i}@{name.split()[0].lower()}.example",
                email_normalized=f"kontakt{i}@{i}.example",
                locale="de",
                data={"company": name} if i % 2 else {"given_name": name, "family_name": "Q]"},
            )
            customers.append(customer.id)
            s.add(customer)
        s.flush()
        ids = []
        for n in range(60):
            invoice = Invoice(
                organization_id=org,
                id=uuid.uuid4(),
                kind="invoice",
                currency="EUR",
                locale="de",
                number=f"RE-{n:04d}" if n % 3 else None,
                purchase_order_number=rnd.choice([None, f"PO-{n}", "gutachten'"]),
                customer_id=rnd.choice([None, *customers]),
                buyer=rnd.choice([None, {"name": rnd.choice(NAMES), "email": "a@b.example"}]),
                tags=rnd.sample(TAGS, rnd.randint(0, 2)),
            )
            invoice.lines = [_line(org, invoice.id, p, rnd) for p in range(rnd.randint(0, 3))]
            s.add(invoice)
            ids.append(invoice.id)
    return ids


def _mutate(engine: Engine, org: uuid.UUID, ids: list[uuid.UUID], rnd: random.Random) -> None:
    """Every way the document's inputs change, each in its own statement."""
    with Session(engine) as s, s.begin():
        # one line each of invoices nothing else below touches, so each change is seen alone
        untouched = set(ids[3:-1])
        lines = list(
            {
                line.invoice_id: line
                for line in s.scalars(
                    select(InvoiceLine)
                    .where(InvoiceLine.organization_id == org)
                    .order_by(InvoiceLine.position.desc())
                )
                if line.invoice_id in untouched
            }.values()
        )
        assert len(lines) >= 8
        s.execute(  # one statement updating many lines
            update(InvoiceLine)
            .where(InvoiceLine.id.in_([line.id for line in lines[7:]]))
            .values(subtitle="Nachtrag Sonnenberg")
        )
        lines[0].description = "Prozessvertretung"  # ORM update of one line
        lines[1].invoice_id = ids[-1]  # a line moves to another invoice
        lines[2].unit = "days"  # no text changes: the invoice is left alone
        s.delete(lines[3])
        s.flush()
        s.execute(  # one statement deleting several lines
            delete(InvoiceLine).where(InvoiceLine.id.in_([line.id for line in lines[4:7]]))
        )
        first = s.get(Invoice, (org, ids[0]))
        assert first is not None
        first.tags = ["neu-tag"]
        first.buyer = {"name": "Rheinblick KG", "email": "rb@example.com"}
        first.lines.append(_line(org, first.id, 9, rnd))
        second = s.get(Invoice, (org, ids[1]))
        assert second is not None
        second.number = "RE-9999"
        second.status = "sent"  # an update without text changes
        s.delete(s.get(Invoice, (org, ids[2])))  # cascades to its lines
        # a customer renamed: the customer branch reads the customers table as it is now
        s.execute(
            update(Customer)
            .where(Customer.organization_id == org, Customer.id == first.customer_id)
            .values(data={"company": "Umbenannt AG"})
        )


def _same_results(engine: Engine, org: uuid.UUID) -> None:
    with Session(engine) as s:
        for word in WORDS:
            by_union = set(
                s.scalars(
                    select(Invoice.id).where(
                        Invoice.organization_id == org, full_query_by_union(word, org, "postgresql")
                    )
                )
            )
            customers = full_query_customers(s, org, word)
            for customer_ids in (None, customers[word]):
                by_document = set(
                    s.scalars(
                        select(Invoice.id).where(
                            Invoice.organization_id == org,
                            full_query_by_document(word, org, customer_ids),
                        )
                    )
                )
                assert by_document == by_union, (word, customer_ids is None)
        for rebuilt in s.execute(REBUILD, {"org": org}):
            assert rebuilt[2] == rebuilt[1], rebuilt[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_document_finds_what_the_union_finds(engine: Engine, seed: int) -> None:
    org, rnd = uuid.uuid4(), random.Random(seed)
    ids = _populate(engine, org, rnd)
    _same_results(engine, org)
    _mutate(engine, org, ids, rnd)
    _same_results(engine, org)
    with Session(engine) as s:  # the words matched something, beyond the empty sets

        def hits(*words: str) -> list[uuid.UUID]:
            return list(
                s.scalars(
                    select(Invoice.id).where(
                        Invoice.organization_id == org,
                        *(full_query_by_document(word, org) for word in words),
                    )
                )
            )

        assert hits("rheinblick", "neu-tag") == [ids[0]]
        assert len(hits("prozessvertretung")) == 1
        assert len(hits("nachtrag", "sonnenberg")) >= 1


def test_lines_of_a_finalized_invoice_stay_frozen(engine: Engine) -> None:
    org, rnd = uuid.uuid4(), random.Random(3)
    ids = _populate(engine, org, rnd)
    with Session(engine) as s, s.begin():
        invoice = s.get(Invoice, (org, ids[5]))
        assert invoice is not None
        invoice.lines.append(_line(org, invoice.id, 7, rnd))
        s.flush()
        invoice.finalized_at = utcnow()
        invoice.tags = ["after-finalizing"]  # tags stay editable, the document follows
    with Session(engine) as s:
        document = s.scalar(select(Invoice.__table__.c.search_text).where(Invoice.id == ids[5]))
        assert document is not None and "after-finalizing" in document
    frozen = pytest.raises(DBAPIError, match="lines of a finalized invoice cannot change")
    with frozen, Session(engine) as s, s.begin():
        s.execute(
            update(InvoiceLine)
            .where(InvoiceLine.organization_id == org, InvoiceLine.invoice_id == ids[5])
            .values(description="geändert")
        )
    _same_results(engine, org)
