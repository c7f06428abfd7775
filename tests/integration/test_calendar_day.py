"""A command without a date takes the organization's calendar day, not UTC's.

Before session 32 a finalize at 00:30 in Cologne on 1 January (23:30 UTC on 31 December) was
dated 31 December and numbered in the year before's series; a payment marked then was dated the
day before too. The day is the organization's ``timezone``, else its country's zone
(``domain.calendar``), else UTC.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, update

from tests.integration.test_exports_csv import read as read_csv
from tests.support.client import BE_ORG, DE_ORG, Client, line
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

NEW_YEAR_IN_COLOGNE = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # 00:30 on 1 January


def client_at(engine: Engine, now: dt.datetime, org: dict[str, Any]) -> Client:
    client = Client(Pipeline(engine, fake_deps(clock=lambda: now), LocalOperator()))
    client.setup_org(org)
    return client


@pytest.mark.parametrize(
    ("org", "day", "number"),
    [
        (DE_ORG, "2027-01-01", "RE-2027-001"),  # Germany: Europe/Berlin
        (BE_ORG, "2027-01-01", "INV-2027-0001"),  # Belgium: Europe/Brussels
        ({**DE_ORG, "timezone": "UTC"}, "2026-12-31", "RE-2026-001"),  # as configured
    ],
)
def test_a_finalize_without_a_date_is_dated_on_the_organization_s_calendar(
    engine: Engine, org: dict[str, Any], day: str, number: str
) -> None:
    client = client_at(engine, NEW_YEAR_IN_COLOGNE, org)
    invoice = client.finalized(client.customer(), [line()])
    assert (invoice["issue_date"], invoice["number"]) == (day, number)
    client.ok("mark_paid", {"invoice_id": invoice["id"]})
    assert [p["date"] for p in client.state(invoice["id"])["payments"]] == [day]
    credit = client.ok("issue_credit_note", {"invoice_id": invoice["id"], "reason": "Storno"})
    note = next(e for e in credit.events if e["type"] == "credit_note.issued")
    assert note["data"]["invoice"]["issue_date"] == day


def test_a_time_zone_must_be_an_iana_zone(engine: Engine) -> None:
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    errors = client.rejected("configure_organization", {**DE_ORG, "timezone": "Europe/Cologne"})
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("invalid_attribute", "/payload/timezone")
    ]
    assert "IANA" in errors[0]["detail"]
    out = client.ok("configure_organization", {**DE_ORG, "timezone": "Europe/Berlin"})
    assert out.events[0]["data"]["organization"]["timezone"] == "Europe/Berlin"


def test_a_csv_exports_fuzzy_today_is_the_organization_s_day(engine: Engine) -> None:
    """``export_csv`` with ``issue_date: {fuzzy: today}`` at 00:30 in Cologne on 1 January:
    the new year's invoices, not the old year's last day's (UTC's day before session 33)."""
    client = client_at(engine, NEW_YEAR_IN_COLOGNE, DE_ORG)
    cust = client.customer()
    old = client.finalized(cust, [line()], issue_date=dt.date(2026, 12, 31))
    new = client.finalized(cust, [line()], issue_date=dt.date(2027, 1, 1))
    out = client.ok("export_csv", {"filters": {"issue_date": {"fuzzy": "today"}}})
    _, rows = read_csv(client, out.events[0]["data"])
    assert [r["number"] for r in rows] == [new["number"]]
    assert old["number"] != new["number"]


def test_a_payment_deleted_at_00_30_on_new_years_day_is_reversed_in_the_new_year(
    engine: Engine,
) -> None:
    """The reversal a DATEV export books for a deleted payment (or a customer's deleted
    unapplied credit) is dated on the organization's day of the deletion: UTC's day before
    session 33 put it into 31 December, the closed year before."""
    from invoicing.models import DeletedCreditEntry, DeletedPayment
    from sqlalchemy import select

    client = client_at(engine, NEW_YEAR_IN_COLOGNE, DE_ORG)
    cust = client.customer()
    inv = client.finalized(cust, [line()], issue_date=dt.date(2026, 12, 20))
    paid = client.ok(
        "record_payment", {"invoice_id": inv["id"], "amount": "10.00", "date": "2026-12-21"}
    )
    pid = paid.events[0]["data"]["payment"]["id"]
    client.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    across = client.ok(
        "record_payment",
        {"customer_id": str(cust), "amount": "5000.00", "date": "2026-12-22"},
    )
    cpid = next(e for e in across.events if e["type"] == "customer_payment.recorded")
    client.ok("delete_payment", {"payment_id": cpid["subject"]})
    with engine.connect() as conn:
        days = conn.execute(
            select(DeletedPayment.deleted_on).where(
                DeletedPayment.invoice_id == uuid.UUID(inv["id"])
            )
        ).scalars()
        credits = conn.execute(
            select(DeletedCreditEntry.deleted_on).where(DeletedCreditEntry.customer_id == cust)
        ).scalars()
        assert sorted({*days}) == [dt.date(2027, 1, 1)]
        assert sorted({*credits}) == [dt.date(2027, 1, 1)]


def test_a_timestamp_is_compared_by_the_organization_s_calendar_day(engine: Engine) -> None:
    """Finalized at 23:30 UTC on 31 December is 1 January in Cologne: ``finalized_at:
    2027-01-01`` finds it (UTC's day before session 33 found it on 31 December), in the list
    and in a CSV export; for an organization on UTC it stays on 31 December."""
    for org, day, other in (
        (DE_ORG, "2027-01-01", "2026-12-31"),
        ({**DE_ORG, "timezone": "UTC"}, "2026-12-31", "2027-01-01"),
    ):
        client = client_at(engine, NEW_YEAR_IN_COLOGNE, org)
        invoice = client.finalized(client.customer(), [line()])
        assert invoice["finalized_at"].startswith("2026-12-31T23:30")
        for on, expected in ((day, [invoice["id"]]), (other, [])):
            found = client.answer("list_invoices", {"filter": {"finalized_at": on}})
            assert [i["id"] for i in found["items"]] == expected, (org, on)
            out = client.ok("export_csv", {"filters": {"finalized_at": {"eq": on}}})
            rows = read_csv(client, out.events[0]["data"])[1]
            assert [r["number"] for r in rows] == ([invoice["number"]] if expected else [])


def test_a_link_cannot_expire_on_a_day_already_over_where_the_organization_works(
    engine: Engine,
) -> None:
    """At 00:30 in Cologne on 1 January, a link expiring on 31 December is in the past (UTC's
    day took it before session 33); on 1 January it opens through the day."""
    client = client_at(engine, NEW_YEAR_IN_COLOGNE, DE_ORG)
    invoice = client.finalized(client.customer(), [line()], issue_date=dt.date(2026, 12, 30))
    errors = client.rejected(
        "publish_invoice", {"invoice_id": invoice["id"], "expires_on": "2026-12-31"}
    )
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("invalid_attribute", "/payload/expires_on")
    ]
    client.ok("publish_invoice", {"invoice_id": invoice["id"], "expires_on": "2027-01-01"})


@pytest.mark.parametrize(
    ("org", "sent_on"),
    [
        (DE_ORG, "2027-01-01"),  # 00:30 in Cologne
        ({**DE_ORG, "timezone": "America/New_York"}, "2026-12-31"),  # 18:30 in New York
    ],
)
def test_sent_on_is_the_day_on_the_seller_s_calendar(
    engine: Engine, org: dict[str, Any], sent_on: str
) -> None:
    """Sent at 23:30 UTC on 31 December: the document's ``sent_on`` and the ``sent_at``
    filter agree on the seller's day; a ``mark_sent`` of a day reads back as that day."""
    client = client_at(engine, NEW_YEAR_IN_COLOGNE, org)
    cust = client.customer()
    sent = client.finalized(cust, [line()], issue_date=dt.date(2026, 12, 30))
    client.ok("mark_sent", {"invoice_id": sent["id"]})
    marked = client.finalized(cust, [line()], issue_date=dt.date(2026, 12, 30))
    client.ok("mark_sent", {"invoice_id": marked["id"], "sent_on": "2026-11-16"})
    assert client.state(sent["id"])["sent_on"] == sent_on
    assert client.state(marked["id"])["sent_on"] == "2026-11-16"
    for day, invoice in ((sent_on, sent), ("2026-11-16", marked)):
        found = client.answer("list_invoices", {"filter": {"sent_at": day}})
        assert [i["id"] for i in found["items"]] == [invoice["id"]], day


@pytest.mark.parametrize(
    ("org", "paid_at"),
    [
        (DE_ORG, "2027-01-05T11:00:00Z"),  # noon in Cologne
        ({**DE_ORG, "timezone": "America/New_York"}, "2027-01-05T17:00:00Z"),  # noon there
        ({**DE_ORG, "timezone": "Pacific/Kiritimati"}, "2027-01-04T22:00:00Z"),  # UTC+14
    ],
)
def test_paid_at_is_the_settling_payment_s_day_on_the_seller_s_calendar(
    engine: Engine, org: dict[str, Any], paid_at: str
) -> None:
    """A payment of 5 January settles the invoice: ``paid_at`` is that day's noon where the
    seller works (00:00 UTC before session 34, which was 4 January at 19:00 in New York), and
    the ``paid_at`` filter finds the invoice on 5 January and on no other day, whatever the
    zone (it compared 00:00 UTC by New York's calendar, 4 January, before)."""
    client = client_at(engine, NEW_YEAR_IN_COLOGNE, org)
    invoice = paid_on_5_january(client)
    state = client.state(invoice["id"])
    assert (state["status"], state["paid_on"], state["paid_at"]) == ("paid", "2027-01-05", paid_at)
    assert_paid_at_finds(client, invoice, ("2027-01-05", "2027-01-04", "2027-01-06"))


def test_the_paid_at_filter_finds_a_row_written_before_session_34_on_its_day(
    engine: Engine,
) -> None:
    """A row written before session 34 keeps paid_at at 00:00 UTC of the payment's day (19:00
    the day before in New York): the filter compares paid_on, so it finds it on that day."""
    client = client_at(engine, NEW_YEAR_IN_COLOGNE, {**DE_ORG, "timezone": "America/New_York"})
    invoice = paid_on_5_january(client)
    with engine.begin() as conn:
        conn.execute(
            update(Invoice)
            .where(Invoice.id == uuid.UUID(invoice["id"]))
            .values(paid_at=dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
        )
    got = client.answer("get_invoice", {"invoice_id": invoice["id"]})
    assert got["invoice"]["paid_at"] == "2027-01-05T00:00:00Z"
    assert_paid_at_finds(client, invoice, ("2027-01-05", "2027-01-04"))


def paid_on_5_january(client: Client) -> dict[str, Any]:
    """An invoice of 1 January settled by one payment of 5 January."""
    invoice = client.finalized(client.customer(), [line()], issue_date=dt.date(2027, 1, 1))
    amount = invoice["totals"]["gross_total"]
    payment = {"invoice_id": invoice["id"], "amount": amount, "date": "2027-01-05"}
    client.ok("record_payment", payment)
    return invoice


def assert_paid_at_finds(client: Client, invoice: dict[str, Any], days: tuple[str, ...]) -> None:
    """The ``paid_at`` filter finds ``invoice`` on the first of ``days`` and on no other."""
    for day in days:
        found = client.answer("list_invoices", {"filter": {"paid_at": day}})
        expected = [invoice["id"]] if day == days[0] else []
        assert [i["id"] for i in found["items"]] == expected, day
