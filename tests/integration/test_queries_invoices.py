"""Invoice queries against SQLite and PostgreSQL: filters, sort, pages, tenancy, open items,
trash, payments, next number, preview of billable entries."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.queries_world import (
    ACME,
    BERTRAM,
    ORG,
    OTHER_INVOICE,
    OTHER_ORG,
    PAYMENT_I1,
    World,
    inv_id,
    make_world,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from make_world(request.param, tmp_path_factory.mktemp(request.param))


def ids(result: dict[str, Any]) -> list[str]:
    return [item["id"] for item in result["items"]]


def numbers(result: dict[str, Any]) -> list[str | None]:
    return [item["number"] for item in result["items"]]


# ----------------------------------------------------------------------------- tenancy


def test_lists_never_show_another_organizations_documents(world: World) -> None:
    everything = world.ok("list_invoices", {"filter": {"deleted": "include"}, "page_size": 200})
    assert OTHER_INVOICE not in ids(everything)
    assert {i["organization_id"] for i in everything["items"]} == {ORG}
    assert everything["page"]["total"] == 7
    other = world.ok("list_invoices", {}, org=OTHER_ORG)
    assert ids(other) == [OTHER_INVOICE]


def test_get_invoice_of_another_organization_is_not_found(world: World) -> None:
    reply = world.query("get_invoice", {"invoice_id": OTHER_INVOICE})
    assert reply["status"] == "error"
    assert reply["errors"][0]["status"] == "404"
    assert reply["errors"][0]["source"]["pointer"] == "/payload/invoice_id"
    # the same number exists in both organizations: each sees its own
    mine = world.ok("get_invoice", {"number": "RE-2026-001"})["invoice"]
    theirs = world.ok("get_invoice", {"number": "RE-2026-001"}, org=OTHER_ORG)["invoice"]
    assert mine["id"] == inv_id(1)
    assert theirs["id"] == OTHER_INVOICE


def test_payments_open_items_and_trash_are_confined(world: World) -> None:
    payments = world.ok("list_payments", {})
    assert {p["invoice_id"] for p in payments["items"]} == {inv_id(1), inv_id(2)}
    reply = world.query("list_payments", {"invoice_id": OTHER_INVOICE})
    assert reply["errors"][0]["code"] == "invoice_not_found"
    open_items = world.ok("open_items", {"as_of": "2026-06-01"})
    assert OTHER_INVOICE not in [i["invoice"]["id"] for i in open_items["items"]]
    assert world.ok("list_trash", {}, org=OTHER_ORG)["items"] == []


# ----------------------------------------------------------------------------- get


def test_get_invoice_returns_the_whole_state_with_money_as_strings(world: World) -> None:
    inv = world.ok("get_invoice", {"invoice_id": inv_id(1)})["invoice"]
    assert inv["number"] == "RE-2026-001"
    assert inv["status"] == "partially_paid"
    assert inv["totals"]["gross_total"] == "892.50"
    assert inv["totals"]["paid_amount"] == "100.00"
    assert inv["totals"]["open_amount"] == "792.50"
    assert inv["payments"][0]["id"] == PAYMENT_I1
    assert inv["lines"][0]["net_amount"] == "750.00"


def test_trashed_invoice_needs_include_deleted(world: World) -> None:
    reply = world.query("get_invoice", {"invoice_id": inv_id(5)})
    assert reply["errors"][0]["code"] == "invoice_not_found"
    inv = world.ok("get_invoice", {"invoice_id": inv_id(5), "include_deleted": True})["invoice"]
    assert inv["deleted"] is True


# ----------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"status": ["draft"]}, {4, 6, 7}),
        ({"status": ["paid"]}, {2}),
        ({"status": ["overdue"]}, {1, 3}),
        ({"status": ["open"]}, {1, 3}),
        ({"status": ["paid", "partially_paid"]}, {1, 2}),
        ({"kind": ["quote"]}, {6}),
        ({"invoice_type": ["invoice"], "status": ["draft"]}, {4, 7}),
        ({"customer_id": [BERTRAM]}, {2, 4}),
        ({"issue_date_from": "2026-01-11", "issue_date_to": "2026-02-28"}, {2}),
        ({"from_date": "2026-02-01"}, {2, 3}),
        ({"due_date_to": "2026-02-01"}, {1}),
        ({"due_date_from": "2026-02-01"}, {2, 3}),
        ({"number": "RE-2026-003"}, {3}),
        ({"search": "2026-00"}, {1, 2, 3}),
        ({"search": "acme"}, {1, 3, 6, 7}),
        ({"search": "ZANDER"}, {2, 4}),
        ({"search": "100%"}, set()),
        ({"currency": ["USD"]}, {4}),
        ({"tags": ["q1"]}, {1, 3, 4}),
        ({"tags": ["q1", "retainer"]}, {1}),
        ({"case_id": "case-1"}, {1, 7}),
        ({"project_reference": "PRJ-7"}, {3}),
        ({"payment_status": "paid"}, {2}),
        ({"payment_status": "unpaid"}, {3}),
        ({"payment_status": "partially_paid"}, {1}),
        ({"sent_status": "sent"}, {2, 3}),
        ({"sent_status": "unsent", "status": ["partially_paid"]}, {1}),
        ({"export_status": "exported"}, set()),
        # what could be exported and is not: no draft, no quote (those are never exported)
        ({"export_status": "unexported"}, {1, 2, 3}),
        ({"export_status": "unexported", "kind": ["quote"]}, set()),
        ({"gross_total_min": "119.12", "gross_total_max": "892.5"}, {1, 2, 6}),
        ({"gross_total_min": "119.13"}, {1, 3, 6}),
        ({"gross_total_max": 12}, {7}),
        ({"net_total_min": "1000.00"}, {3}),
        ({"open_amount_min": "792.50"}, {1, 3}),
        ({"open_amount_max": "0"}, {2, 4, 6, 7}),  # drafts and quotes owe nothing
        ({"deleted": "only"}, {5}),
        ({"deleted": "include", "status": ["draft"]}, {4, 5, 6, 7}),
    ],
)
def test_list_invoices_filters(world: World, flt: dict[str, Any], expected: set[int]) -> None:
    result = world.ok("list_invoices", {"filter": flt, "page_size": 200})
    assert set(ids(result)) == {inv_id(n) for n in expected}
    assert result["page"]["total"] == len(expected)


# ----------------------------------------------------------------------------- sort


def test_sort_by_gross_total_is_numeric_not_textual(world: World) -> None:
    result = world.ok("list_invoices", {"sort": ["gross_total", "number"], "page_size": 200})
    grosses = [Decimal(i["totals"]["gross_total"]) for i in result["items"]]
    assert grosses == sorted(grosses)
    assert grosses[0] == Decimal("11.90")
    assert grosses[-1] == Decimal("11900.00")  # text order would put it before 119.12
    descending = world.ok("list_invoices", {"sort": "-gross_total", "page_size": 200})
    assert [Decimal(i["totals"]["gross_total"]) for i in descending["items"]] == sorted(
        grosses, reverse=True
    )


def test_sort_by_number_and_dates_puts_missing_values_last(world: World) -> None:
    asc = world.ok("list_invoices", {"sort": ["number"], "page_size": 200})
    assert numbers(asc)[:3] == ["RE-2026-001", "RE-2026-002", "RE-2026-003"]
    assert numbers(asc)[3:] == [None, None, None]
    desc = world.ok("list_invoices", {"sort": ["-issue_date"], "page_size": 200})
    assert numbers(desc)[:3] == ["RE-2026-003", "RE-2026-002", "RE-2026-001"]
    assert numbers(desc)[3:] == [None, None, None]
    due = world.ok("list_invoices", {"sort": ["due_date"], "filter": {"status": ["open", "paid"]}})
    assert numbers(due) == ["RE-2026-001", "RE-2026-002", "RE-2026-003"]


def test_sort_by_created_at_and_customer_name(world: World) -> None:
    created = world.ok("list_invoices", {"sort": ["created_at"], "page_size": 200})
    assert ids(created) == [inv_id(n) for n in (1, 2, 3, 4, 6, 7)]
    default = world.ok("list_invoices", {"page_size": 200})
    assert ids(default) == list(reversed(ids(created)))  # default: newest first
    by_name = world.ok("list_invoices", {"sort": ["-customer_name", "created_at"]})
    # "bertram zander" > "acme ag"
    assert ids(by_name) == [inv_id(n) for n in (2, 4, 1, 3, 6, 7)]


def test_sort_by_open_amount(world: World) -> None:
    result = world.ok(
        "list_invoices", {"sort": ["-open_amount", "created_at"], "filter": {"kind": ["invoice"]}}
    )
    assert ids(result)[:2] == [inv_id(3), inv_id(1)]


# ----------------------------------------------------------------------------- pages


def test_pagination_walks_every_item_once(world: World) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        result = world.ok("list_invoices", {"sort": ["created_at"], "page": page, "page_size": 2})
        assert result["page"] == {
            "page": page,
            "page_size": 2,
            "total": 6,
            "pages": 3,
            "total_exact": True,
        }
        assert len(result["items"]) == 2
        seen += ids(result)
    assert len(set(seen)) == 6
    beyond = world.ok("list_invoices", {"page": 4, "page_size": 2})
    assert beyond["items"] == []
    assert beyond["page"]["total"] == 6


def test_page_size_has_a_maximum(world: World) -> None:
    reply = world.query("list_invoices", {"page_size": 201})
    assert reply["status"] == "error"
    assert reply["errors"][0]["source"]["pointer"] == "/payload/page_size"


# ----------------------------------------------------------------------------- open items


def test_open_items_with_aging_and_totals(world: World) -> None:
    result = world.ok("open_items", {"as_of": "2026-03-20"})
    rows = [
        (i["invoice"]["number"], i["open_amount"], i["days_overdue"], i["aging"])
        for i in result["items"]
    ]
    # I1 due 2026-01-24 (14 days), I3 due 2026-03-15
    assert rows == [
        ("RE-2026-001", "792.50", 55, "46+"),
        ("RE-2026-003", "11900.00", 5, "1-15"),
    ]
    assert result["totals"] == [{"currency": "EUR", "amount": "12692.50", "count": 2}]
    early = world.ok("open_items", {"as_of": "2026-03-01", "overdue_only": True})
    assert [i["invoice"]["number"] for i in early["items"]] == ["RE-2026-001"]
    assert early["totals"][0]["amount"] == "792.50"
    by_amount = world.ok("open_items", {"sort": ["-open_amount"], "customer_id": [ACME]})
    assert [i["invoice"]["number"] for i in by_amount["items"]] == ["RE-2026-003", "RE-2026-001"]
    assert world.ok("open_items", {"case_id": "case-1"})["page"]["total"] == 1


# ----------------------------------------------------------------------------- payments, trash


def test_list_payments(world: World) -> None:
    of_i1 = world.ok("list_payments", {"invoice_id": inv_id(1)})
    assert [(p["amount"], p["reference"], p["invoice_number"]) for p in of_i1["items"]] == [
        ("100.00", "TXN-1", "RE-2026-001")
    ]
    all_payments = world.ok("list_payments", {"sort": ["-amount"]})
    assert [p["amount"] for p in all_payments["items"]] == ["119.12", "100.00"]
    assert all_payments["totals"] == [{"currency": "EUR", "amount": "219.12", "count": 2}]
    cash = world.ok("list_payments", {"method": ["cash"], "date_from": "2026-02-01"})
    assert [p["invoice_id"] for p in cash["items"]] == [inv_id(2)]


def test_list_trash(world: World) -> None:
    trash = world.ok("list_trash", {})
    assert ids(trash) == [inv_id(5)]
    assert trash["items"][0]["deleted_at"] is not None
    assert inv_id(5) not in ids(world.ok("list_invoices", {"page_size": 200}))


# ----------------------------------------------------------------------------- preview


def test_preview_of_uninvoiced_entries_with_totals(world: World) -> None:
    result = world.ok("preview_billable_entries", {"case_id": "case-1"})
    assert result["entry_count"] == 3  # e1, e2 in EUR, e5 in USD; e4 is billed
    eur, usd = result["previews"]
    assert eur["currency"] == "EUR"
    assert [line["entry_id"] for line in eur["lines"]] == ["e1", "e2"]
    assert eur["lines"][0]["line"]["description"] == "Schriftsatz (2026-04-01)"
    assert eur["lines"][0]["line"]["tax_rate"] == "19"  # the organization's default
    assert eur["totals"]["net_total"] == "350.00"
    assert eur["totals"]["tax_total"] == "60.50"
    assert eur["totals"]["gross_total"] == "410.50"
    assert [(g["rate"], g["tax_amount"]) for g in eur["tax_breakdown"]] == [
        ("19", "57.00"),
        ("7", "3.50"),
    ]
    assert usd["currency"] == "USD"
    assert usd["totals"]["gross_total"] == "59.50"


def test_preview_with_discount_and_gross_entry(world: World) -> None:
    result = world.ok(
        "preview_billable_entries",
        {"entry_ids": ["e1"], "discount": {"type": "percentage", "value": 10}},
    )
    (eur,) = result["previews"]
    assert eur["totals"]["allowance_total"] == "30.00"
    assert eur["totals"]["gross_total"] == "321.30"
    gross = world.ok(
        "preview_billable_entries", {"entry_ids": ["e1"], "calculate_from_net": False}
    )["previews"][0]
    assert gross["totals"]["gross_total"] == "300.00"
    assert Decimal(gross["totals"]["net_total"]) + Decimal(gross["totals"]["tax_total"]) == 300


def test_preview_rejects_billed_or_unknown_entries(world: World) -> None:
    billed = world.query("preview_billable_entries", {"entry_ids": ["e1", "e4"]})
    assert billed["errors"][0]["code"] == "entry_billed"
    assert billed["errors"][0]["source"]["pointer"] == "/payload/entry_ids/1"
    unknown = world.query("preview_billable_entries", {"entry_ids": ["nope"]})
    assert unknown["errors"][0]["status"] == "404"
    empty = world.query("preview_billable_entries", {})
    assert empty["errors"][0]["source"]["pointer"] == "/payload"


def test_preview_is_confined_to_the_organization(world: World) -> None:
    # OTHER_ORG has its own entry "e1": ORG's preview of e1 is ORG's entry
    mine = world.ok("preview_billable_entries", {"entry_ids": ["e1"]})
    assert mine["previews"][0]["lines"][0]["line"]["description"].startswith("Schriftsatz")
    theirs = world.ok("preview_billable_entries", {"case_id": "case-1"}, org=OTHER_ORG)
    assert [line["entry_id"] for line in theirs["previews"][0]["lines"]] == ["e1"]
    assert theirs["previews"][0]["lines"][0]["line"]["description"].startswith("Fremd")


# ----------------------------------------------------------------------------- next number


def test_next_number_reflects_finalizations(world: World) -> None:
    org = "55555555-5555-4555-8555-555555555555"
    world.send(
        "configure_organization",
        {
            "name": "Numbering GmbH",
            "address": {"city": "Köln", "country_code": "DE"},
            "vat_id": "DE136695976",
            "default_tax_rate": 19,
            "number_series": {"invoice": {"pattern": "INV-{YYYY}-{SEQ:4}"}},
        },
        org=org,
    )
    customer = "55555555-5555-4555-8555-000000000001"
    world.send(
        "create_customer",
        {
            "id": customer,
            "company": "C",
            "email": "c@example.com",
            "locale": "de",
            "address": {"city": "Berlin", "country_code": "DE"},
        },
        org=org,
    )
    assert world.ok("next_number", {"date": "2026-05-01"}, org=org)["number"] == "INV-2026-0001"
    for n in (1, 2):
        iid = f"66666666-6666-4666-8666-00000000000{n}"
        world.send(
            "create_invoice",
            {
                "id": iid,
                "customer_id": customer,
                "lines": [{"description": "x", "quantity": 1, "unit_price": 1}],
            },
            org=org,
        )
        world.send("finalize_invoice", {"invoice_id": iid, "issue_date": "2026-05-01"}, org=org)
        expected = f"INV-2026-{n + 1:04d}"
        assert world.ok("next_number", {"date": "2026-05-02"}, org=org)["number"] == expected
    # yearly reset, other series, other organization untouched
    assert world.ok("next_number", {"date": "2027-01-01"}, org=org)["number"] == "INV-2027-0001"
    credit = world.ok("next_number", {"series": "credit_note", "date": "2026-05-02"}, org=org)
    assert credit["number"] == "GS-2026-0001"
    assert world.ok("next_number", {"date": "2026-06-01"})["number"] == "RE-2026-004"


def test_next_number_of_an_unconfigured_organization(world: World) -> None:
    reply = world.query("next_number", {}, org="77777777-7777-4777-8777-777777777777")
    assert reply["errors"][0]["code"] == "organization_not_configured"
    assert reply["errors"][0]["source"]["pointer"] == "/organization_id"
