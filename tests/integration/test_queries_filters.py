"""The seed-002 invoice filters and sorts on SQLite and PostgreSQL: generic operators, id lists,
fuzzy dates, full_query, people references, custom fields (also multi-select), and the same
filter in export_csv."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from invoicing import bootstrap
from invoicing.config import Settings

from tests.integration.queries_world import World, _clock, _customer, _org
from tests.support.databases import temporary_pg_database
from tests.support.documents import export_file
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

ORG = "77777777-7777-4777-8777-777777777777"
NORDWIND = "77777777-0000-4000-8000-000000000001"
ERIKA = "77777777-0000-4000-8000-000000000002"


def rid(n: int) -> str:
    return f"77777777-1111-4111-8111-{n:012d}"


R1, R2, R3, R4, CN = rid(1), rid(2), rid(3), rid(4), rid(9)


def populate(w: World) -> None:
    _org(w, ORG, "Kanzlei Reads GmbH")
    _customer(
        w,
        NORDWIND,
        org=ORG,
        company="Nordwind GmbH",
        email="buchhaltung@nordwind.de",
        custom_fields={"regions": ["north", "east"], "tier": "gold"},
    )
    _customer(
        w,
        ERIKA,
        org=ORG,
        given_name="Erika",
        family_name="Muster",
        email="erika@muster.de",
        custom_fields={"regions": ["south"], "tier": "silver"},
    )
    w.send(  # a billing entity of ORG: R1 is issued by it (numbered in ORG's series)
        "configure_subsidiary",
        {
            "id": "sub-de",
            "name": "Kanzlei Reads Köln GmbH",
            "address": {
                "street_address": "Domkloster 4",
                "zip_code": "50667",
                "city": "Köln",
                "country_code": "DE",
            },
            "vat_id": "DE136695976",
            "iban": "DE89370400440532013000",
        },
        org=ORG,
    )
    w.send(
        "create_invoice",
        {
            "id": R1,
            "customer_id": NORDWIND,
            "purchase_order_number": "PO-4711",
            "creator_id": "p-anna",
            "responsible_id": "p-bob",
            "subscriber_ids": ["p-carl", "p-dora"],
            "deal_id": "deal-1",
            "subsidiary_id": "sub-de",
            "tags": ["alpha"],
            "custom_fields": {"priority": 2, "channel": "web", "labels": ["urgent", "legal"]},
            "lines": [{"description": "Beratung Datenschutz", "quantity": 2, "unit_price": 100}],
        },
        org=ORG,
    )
    w.send("finalize_invoice", {"invoice_id": R1, "issue_date": "2026-01-05"}, org=ORG)
    w.send("record_payment", {"invoice_id": R1, "amount": "50", "date": "2026-01-10"}, org=ORG)
    w.send(
        "write_off_invoice",
        {"invoice_id": R1, "amount": "38", "date": "2026-01-12", "reason": "small_difference"},
        org=ORG,
    )
    w.send(
        "create_invoice",
        {
            "id": R2,
            "customer_id": ERIKA,
            "creator_id": "p-bob",
            "issuer_id": "p-erik",
            "delivery_date": "2026-01-03",
            "discount": {"type": "percentage", "value": 10},
            "custom_fields": {"priority": 10, "channel": "mail"},
            "lines": [{"description": "Kopien", "quantity": 1, "unit_price": 10}],
        },
        org=ORG,
    )
    w.send("finalize_invoice", {"invoice_id": R2, "issue_date": "2026-01-06"}, org=ORG)
    w.send("mark_sent", {"invoice_id": R2, "sent_on": "2026-01-06"}, org=ORG)
    w.send("mark_paid", {"invoice_id": R2, "date": "2026-01-07"}, org=ORG)
    w.send(
        "create_invoice",
        {
            "id": R3,
            "customer_id": NORDWIND,
            "purchase_order_number": "ABC-1",
            "deal_id": "deal-2",
            "custom_fields": {"priority": 1},
            "lines": [
                {
                    "description": "Gutachten",
                    "subtitle": "Mietrecht",
                    "quantity": 1,
                    "unit_price": 1000,
                }
            ],
        },
        org=ORG,
    )
    w.send("finalize_invoice", {"invoice_id": R3, "issue_date": "2026-01-07"}, org=ORG)
    w.send(
        "issue_credit_note",
        {
            "invoice_id": R3,
            "credit_note_id": CN,
            "issue_date": "2026-01-08",
            "lines": [{"description": "Minderung", "quantity": 1, "unit_price": 200}],
        },
        org=ORG,
    )
    w.send(
        "create_invoice",
        {
            "id": R4,
            "customer_id": ERIKA,
            "lines": [{"description": "Entwurf", "quantity": 1, "unit_price": 5}],
        },
        org=ORG,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(request.param)
    deps = fake_deps(clock=_clock(), export_dir=tmp / "exports")

    def build(url: str) -> Iterator[World]:
        app = bootstrap.local(
            Settings(database_url=url), migrate=True, deps=deps, configure_logging=False
        )
        w = World(request.param, url, app)
        try:
            populate(w)
            yield w
        finally:
            app.engine.dispose()

    if request.param == "sqlite":
        yield from build(f"sqlite:///{tmp / 'reads.sqlite3'}")
    else:
        with temporary_pg_database("invoicing_reads") as url:
            yield from build(url)


def listed(w: World, flt: dict[str, Any], sort: list[str] | None = None) -> list[str]:
    payload: dict[str, Any] = {"filter": flt, "page_size": 200}
    if sort:
        payload["sort"] = sort
    result = w.ok("list_invoices", payload, org=ORG)
    assert result["page"]["total"] == len(result["items"])
    return [item["id"] for item in result["items"]]


def error(w: World, flt: dict[str, Any], sort: list[str] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"filter": flt}
    if sort:
        payload["sort"] = sort
    reply = w.query("list_invoices", payload, org=ORG)
    assert reply["status"] == "error", reply
    first: dict[str, Any] = reply["errors"][0]
    return first


EVERYTHING = {R1, R2, R3, R4, CN}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        # ids and references
        ({"id": [R1, R4]}, {R1, R4}),
        ({"id": {"not_in": [R1, R4]}}, {R2, R3, CN}),
        ({"customer_id": {"eq": ERIKA}}, {R2, R4}),
        ({"credited_invoice_id": [R3]}, {CN}),
        ({"creator_id": "p-anna"}, {R1}),
        ({"issuer_id": "p-anna"}, {R1}),  # defaults to the creator
        ({"issuer_id": ["p-anna", "p-erik"]}, {R1, R2}),
        ({"responsible_id": {"not_eq": "p-bob"}}, {R2, R3, R4, CN}),
        ({"subscriber_id": "p-dora"}, {R1}),
        ({"subscriber_id": {"not_in": ["p-dora"]}}, {R2, R3, R4, CN}),
        ({"person_id": "p-bob"}, {R1, R2}),
        ({"person_id": ["p-carl", "p-erik"]}, {R1, R2}),
        ({"deal_id": ["deal-1", "deal-2"]}, {R1, R3}),
        ({"subsidiary_id": "sub-de"}, {R1}),
        # texts
        ({"purchase_order_number": {"contains": "4711"}}, {R1}),
        ({"purchase_order_number": ["PO-4711", "ABC-1"]}, {R1, R3, CN}),  # credit notes copy it
        ({"purchase_order_number": {"not_eq": "PO-4711"}}, {R2, R3, R4, CN}),
        ({"number": {"contains": "re-2026-00"}, "kind": ["invoice"]}, {R1, R2, R3}),
        ({"currency": {"not_in": ["EUR"]}}, set()),
        ({"currency": "eur"}, EVERYTHING),
        # money
        ({"paid_amount": {"gt": 0}}, {R1, R2}),
        ({"paid_amount": "50"}, {R1}),
        ({"paid_amount": {"gt": "49.999", "lt": "50.0001"}}, {R1}),
        ({"paid_amount": {"eq": "50.00001"}}, set()),
        ({"gross_total": ["238.00", "10.71"]}, {R1, R2, CN}),
        ({"gross_total": {"gte": "238", "lte": "1190"}}, {R1, R3, CN}),
        ({"net_total": {"not_eq": 200}}, {R2, R3, R4}),
        ({"tax_total": {"lt": "2"}}, {R2, R4}),
        ({"allowance_total": {"gt": 0}}, {R2}),
        ({"open_amount": {"gte": "150"}}, {R1, R3}),  # R1: 238 - 50 paid - 38 written off
        ({"open_amount": {"gt": "150"}}, {R3}),
        ({"credited_amount": {"gt": 0}}, {R3}),
        ({"credited_net_amount": {"eq": 200}}, {R3}),
        ({"credited_net_amount": {"lt": 200}, "kind": ["invoice"]}, {R1, R2, R4}),
        ({"written_off_amount": 0}, EVERYTHING - {R1}),
        ({"written_off_amount": {"gt": 0}}, {R1}),
        ({"written_off_amount": "38.00"}, {R1}),
        ({"written_off_amount": {"gt": "37.99", "lt": "38.01"}, "kind": ["invoice"]}, {R1}),
        ({"credited": True}, {R3}),
        ({"credited": False, "kind": ["invoice"]}, {R1, R2, R4}),
        # dates
        ({"delivery_date": "2026-01-03"}, {R2}),
        ({"issue_date": {"gt": "2026-01-05", "lte": "2026-01-07"}}, {R2, R3}),
        ({"issue_date": {"in": ["2026-01-05", "2026-01-08"]}}, {R1, CN}),
        ({"issue_date": {"not_eq": "2026-01-05"}}, {R2, R3, CN}),
        ({"issue_date": {"fuzzy": "this_week"}, "as_of": "2026-01-08"}, {R1, R2, R3, CN}),
        ({"issue_date": "last_week", "as_of": "2026-01-12"}, {R1, R2, R3, CN}),
        ({"issue_date": "last_week", "as_of": "2026-01-08"}, set()),
        ({"issue_date": "last_month", "as_of": "2026-02-28"}, {R1, R2, R3, CN}),
        ({"issue_date": "this_quarter", "as_of": "2026-03-31"}, {R1, R2, R3, CN}),
        ({"issue_date": "last_year", "as_of": "2027-01-01"}, {R1, R2, R3, CN}),
        ({"due_date": {"fuzzy": "today"}, "as_of": "2026-01-19"}, {R1}),
        ({"created_at": "2026-01-01"}, EVERYTHING),
        ({"created_at": {"gt": "2026-01-01"}}, set()),
        ({"created_at": {"fuzzy": "this_month"}, "as_of": "2026-01-31"}, EVERYTHING),
        ({"sent_at": "2026-01-06"}, {R2}),
        ({"sent_at": {"lt": "2026-01-06"}}, set()),
        ({"finalized_at": {"gte": "2026-01-01"}, "kind": ["invoice"]}, {R1, R2, R3}),
        ({"paid_at": {"fuzzy": "this_year"}, "as_of": "2026-06-01"}, {R2}),
        ({"paid_on": "2026-01-07"}, {R2}),
        ({"paid_on": {"lt": "2026-01-07"}}, set()),
        ({"last_activity_at": {"lte": "2026-01-01"}}, EVERYTHING),
        # states
        ({"finalized": False}, {R4}),
        ({"status": ["not_overdue"]}, {R1, R3}),
        ({"status": ["unsent"]}, {R1, R3, CN}),
        ({"payment_status": ["paid", "partially_paid"]}, {R1, R2}),
        ({"payment_status": "unpaid"}, {R3}),
        ({"overdue": False, "kind": ["credit_note"]}, {CN}),
        ({"aging": ["not_due"], "as_of": "2026-01-10"}, {R1, R3}),
        ({"aging": ["1-15"], "as_of": "2026-01-25"}, {R1, R3}),
        ({"aging": ["16-45"], "as_of": "2026-02-10"}, {R1, R3}),
        ({"aging": ["1-15", "16-45"], "as_of": "2026-02-05"}, {R1, R3}),
        ({"aging": ["16-45"], "as_of": "2026-02-05"}, {R1}),
        ({"aging": ["46+"], "as_of": "2026-03-10"}, {R1, R3}),
        ({"aging": ["other"]}, {R2, R4, CN}),
        # text search
        ({"full_query": "nordwind"}, {R1, R3, CN}),
        ({"full_query": "DATENSCHUTZ"}, {R1}),
        ({"full_query": "mietrecht"}, {R3}),
        ({"full_query": "4711"}, {R1}),
        ({"full_query": "erika@muster"}, {R2, R4}),
        ({"full_query": "alpha"}, {R1}),
        ({"full_query": "nordwind beratung"}, {R1}),
        ({"full_query": "re-2026-002"}, {R2}),
        ({"full_query": "100%"}, set()),
        ({"search": "muster"}, {R2, R4}),
        ({"query": "gutachten"}, {R3}),
        # custom fields
        ({"custom_fields": [{"field_id": "priority", "operator": "gt", "value": 1}]}, {R1, R2}),
        ({"custom_fields": [{"field_id": "priority", "operator": "<", "value": 10}]}, {R1, R3}),
        (
            {"custom_fields": [{"field_id": "channel", "operator": "in", "value": "web,mail"}]},
            {R1, R2},
        ),
        ({"custom_fields": [{"field_id": "channel", "operator": "contains", "value": "E"}]}, {R1}),
        ({"custom_fields": [{"field_id": "labels", "operator": "eq", "value": "legal"}]}, {R1}),
        ({"custom_fields": [{"f_id": "labels", "o": "in", "v": ["x", "urgent"]}]}, {R1}),
        (
            {"custom_fields": [{"field_id": "labels", "operator": "<>", "value": "legal"}]},
            {R2, R3, R4, CN},
        ),
        (
            {
                "customer_custom_fields": [
                    {"field_id": "regions", "operator": "in", "value": ["east"]}
                ]
            },
            {R1, R3, CN},
        ),
        (
            {
                "customer_custom_fields": [
                    {"field_id": "regions", "operator": "=", "value": "south"}
                ]
            },
            {R2, R4},
        ),
        (
            {
                "customer_custom_fields": [{"field_id": "tier", "operator": "=", "value": "gold"}],
                "kind": ["invoice"],
            },
            {R1, R3},
        ),
    ],
)
def test_filter(world: World, flt: dict[str, Any], expected: set[str]) -> None:
    assert set(listed(world, flt)) == expected


def test_sorts(world: World) -> None:
    assert listed(world, {}, ["custom_fields.priority"]) == [R3, R1, R2, R4, CN]
    assert listed(world, {}, ["-custom_fields.priority"])[:3] == [R2, R1, R3]
    assert listed(world, {}, ["-paid_amount", "created_at"])[:2] == [R1, R2]
    assert listed(world, {}, ["-credited_net_amount", "created_at"])[0] == R3
    assert listed(world, {}, ["-credited", "created_at"])[0] == R3
    assert listed(world, {}, ["purchase_order_number"])[:3] == [R3, CN, R1]
    assert listed(world, {}, ["delivery_date"])[0] == R2
    assert listed(world, {}, ["-allowance_total", "created_at"])[0] == R2
    # ties go by id, in the direction of the last key
    assert listed(world, {}, ["-tax_total"])[:3] == [R3, CN, R1]
    assert listed(world, {}, ["tax_total"])[2:4] == [R1, CN]
    assert listed(world, {}, ["sent_at"])[0] == R2
    assert listed(world, {}, ["-paid_at"])[0] == R2
    assert listed(world, {}, ["paid_on"])[0] == R2
    assert listed(world, {}, ["-written_off_amount", "created_at"])[0] == R1
    finalized = listed(world, {"finalized": True}, ["finalized_at"])
    assert finalized == [R1, R2, R3, CN]


def test_people_references_are_in_the_invoice_state(world: World) -> None:
    inv = world.ok("get_invoice", {"invoice_id": R1}, org=ORG)["invoice"]
    assert (inv["creator_id"], inv["issuer_id"], inv["responsible_id"]) == (
        "p-anna",
        "p-anna",
        "p-bob",
    )
    assert inv["subscriber_ids"] == ["p-carl", "p-dora"]
    assert (inv["deal_id"], inv["subsidiary_id"]) == ("deal-1", "sub-de")
    assert inv["custom_fields"]["labels"] == ["urgent", "legal"]


def test_multi_select_customer_fields_in_list_customers(world: World) -> None:
    result = world.ok(
        "list_customers",
        {"filter": {"custom_fields": [{"field_id": "regions", "operator": "in", "value": "east"}]}},
        org=ORG,
    )
    assert [c["id"] for c in result["items"]] == [NORDWIND]
    assert result["items"][0]["custom_fields"]["regions"] == ["north", "east"]


@pytest.mark.parametrize(
    ("flt", "sort", "pointer", "detail"),
    [
        (
            {"gross_total": {"between": 1}},
            None,
            "/payload/filter/gross_total/between",
            "is not a known attribute",
        ),
        ({"gross_total": {}}, None, "/payload/filter/gross_total", "give at least one operator"),
        (
            {"gross_total": {"gt": 1.5}},
            None,
            "/payload/filter/gross_total/gt",
            "not a binary float",
        ),
        ({"issue_date": {"fuzzy": "next_decade"}}, None, "/payload/filter/issue_date/fuzzy", ""),
        ({"issue_date": "soon"}, None, "/payload/filter/issue_date/eq", ""),
        ({"id": ["not-a-uuid"]}, None, "/payload/filter/id/in/0", ""),
        (
            {"custom_fields": [{"field_id": "x", "operator": "contains", "value": 3}]},
            None,
            "/payload/filter/custom_fields/0",
            "takes a text value",
        ),
        ({}, ["custom_fields.bad key"], "/payload/sort", "is not sortable"),
        ({}, ["amount_written_off"], "/payload/sort", "is not sortable"),
    ],
)
def test_invalid_filters_are_answered_with_pointers(
    world: World, flt: dict[str, Any], sort: list[str] | None, pointer: str, detail: str
) -> None:
    err = error(world, flt, sort)
    assert err["source"]["pointer"] == pointer
    assert detail in err["detail"]


def _csv_ids(world: World, flt: dict[str, Any]) -> list[str]:
    out = world.send("export_csv", {"filters": flt}, org=ORG)
    (event,) = [e for e in out["events"] if e["type"] == "export.completed"]
    text = export_file(world.app.pipeline, ORG, event).decode("utf-8")
    return sorted(row["id"] for row in csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    "flt",
    [
        {"full_query": "nordwind", "paid_amount": {"gt": 0}},
        {"issue_date": {"fuzzy": "this_month"}, "as_of": "2026-01-20", "kind": ["invoice"]},
        {"person_id": "p-bob"},
        {"customer_custom_fields": [{"field_id": "regions", "operator": "in", "value": ["south"]}]},
        {"aging": ["1-15"], "as_of": "2026-01-25", "credited": True},
        {"include_deleted": True, "currency": "EUR", "overdue": False},
    ],
)
def test_export_csv_takes_the_same_filter(world: World, flt: dict[str, Any]) -> None:
    assert _csv_ids(world, flt) == sorted(listed(world, flt))


def test_export_csv_has_the_written_off_amount(world: World) -> None:
    out = world.send("export_csv", {"filters": {"written_off_amount": {"gt": 0}}}, org=ORG)
    (event,) = [e for e in out["events"] if e["type"] == "export.completed"]
    text = export_file(world.app.pipeline, ORG, event).decode("utf-8")
    (row,) = csv.DictReader(io.StringIO(text, newline=""))
    assert row["id"] == R1
    assert (row["gross_total"], row["paid_amount"], row["written_off_amount"]) == (
        "238.00",
        "50.00",
        "38.00",
    )
    assert row["open_amount"] == "150.00"


def _cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": world.url}
    return subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "query", "invoices", "--org", ORG, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_takes_every_filter_through_where_and_filter(world: World) -> None:
    result = _cli(
        world,
        "--json",
        "--where",
        "paid_amount>0",
        "--where",
        "issue_date=this_month",
        "--where",
        "creator_id in p-anna,p-bob",
        "--where",
        "purchase_order_number~4711",
        "--where",
        "credited=false",
        "--as-of",
        "2026-01-20",
        "--filter",
        '{"custom_fields": [{"field_id": "channel", "operator": "=", "value": "web"}]}',
        "--sort",
        "-custom_fields.priority",
    )
    assert result.returncode == 0, result.stderr
    assert [item["id"] for item in json.loads(result.stdout)["items"]] == [R1]
    table = _cli(world, "--where", "person_id=p-bob", "--sort", "number")
    assert table.returncode == 0, table.stderr
    assert "page 1 of 1, 2 in all" in table.stdout
    # a search counts to the end of its page: the footer says that more match
    searched = _cli(world, "--search", "nordwind", "--page-size", "1")
    assert searched.returncode == 0, searched.stderr
    assert "page 1 of 2 or more, more than 1 in all" in " ".join(searched.stdout.split())
    assert _cli(world, "--where", "gross_total").returncode == 2
    wrong = _cli(world, "--where", "amount_paid>1")
    assert wrong.returncode == 1
    assert "/payload/filter/amount_paid" in wrong.stderr


def test_counting_stops_at_the_limit(world: World) -> None:
    from invoicing.models import Invoice
    from invoicing.queries.common import paginate
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    org = uuid.UUID(ORG)
    stmt = select(Invoice).where(Invoice.organization_id == org).order_by(Invoice.id)
    with Session(world.app.engine) as session:
        rows, info = paginate(session, stmt, 1, 2, count_limit=3)
        assert len(rows) == 2
        assert (info.total, info.total_exact, info.pages) == (3, False, 2)  # 5 match
        _rows, info = paginate(session, stmt, 1, 2, count_limit=5)
        assert (info.total, info.total_exact) == (5, True)
        # the count reaches at least to the end of the page asked for
        rows, info = paginate(session, stmt, 3, 2, count_limit=1)
        assert len(rows) == 1 and (info.total, info.total_exact) == (5, True)
        _rows, info = paginate(session, stmt, 1, 2)
        assert (info.total, info.total_exact) == (5, True)
    exact = world.ok("list_invoices", {"exact_total": True, "page_size": 1}, org=ORG)
    assert exact["page"]["total"] == 5 and exact["page"]["total_exact"] is True
