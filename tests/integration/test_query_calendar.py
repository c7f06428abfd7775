"""A query's "today" is the organization's calendar day, as a command's is.

A fuzzy ``today``, an aging bucket, the default ``as_of`` of open items and the date of
``next_number`` took UTC's day before session 33, while a finalize without a date takes the
organization's (tests/integration/test_calendar_day.py): at 00:30 in Cologne on 1 January
``next_number`` showed the year before's number that the finalize would not take.

The queries read the real clock, so these tests take two zones whose days differ from UTC's at
complementary hours: Kiritimati (UTC+14) is a day ahead of UTC from 10:00 UTC, Pago Pago
(UTC-11) a day behind until 11:00 UTC. At any instant at least one of the two is on another day
than UTC, and both must be answered on their own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from invoicing.pipeline import Pipeline

from tests.support.client import DE_ORG, Client, line

pytestmark = pytest.mark.integration

ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago")


def local_day(zone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(zone)).date()


def on_the_same_day(zone: str, check: Any) -> None:
    """Run ``check(day)``; again if the zone's midnight passed meanwhile."""
    for _ in range(2):
        day = local_day(zone)
        check(day)
        if local_day(zone) == day:
            return
    raise AssertionError(f"{zone}: the day changed twice during the check")


@pytest.mark.parametrize("zone", ZONES)
def test_fuzzy_today_aging_open_items_and_next_number_follow_the_organization(
    bus: Pipeline, zone: str
) -> None:
    client = Client(bus)
    client.setup_org({**DE_ORG, "timezone": zone})
    cust = client.customer()
    day = local_day(zone)
    ids: dict[dt.date, str] = {}
    for offset in (-1, 0, 1):  # issue dates in order: numbers follow dates
        on = day + dt.timedelta(days=offset)
        ids[on] = client.finalized(cust, [line()], issue_date=on, payment_terms_days=0)["id"]

    def check(today: dt.date) -> None:
        found = client.answer("list_invoices", {"filter": {"issue_date": {"fuzzy": "today"}}})
        assert [i["id"] for i in found["items"]] == [ids[today]], (zone, today)
        # due on their issue date: yesterday's is 1 day overdue, today's and tomorrow's not due
        due = client.answer("list_invoices", {"filter": {"aging": ["1-15"]}})
        assert [i["id"] for i in due["items"]] == [ids[today - dt.timedelta(days=1)]]
        items = client.answer("open_items", {})
        assert items["as_of"] == today.isoformat()
        overdue = {i["invoice"]["id"]: i["days_overdue"] for i in items["items"]}
        assert overdue[ids[today - dt.timedelta(days=1)]] == 1
        assert overdue[ids[today]] == 0
        number = client.answer("next_number", {"series": "invoice"})
        assert number["date"] == today.isoformat()

    on_the_same_day(zone, check)


def test_an_organization_not_configured_has_utcs_day(bus: Pipeline) -> None:
    client = Client(bus)  # no configure_organization
    items = client.answer("open_items", {})
    today = dt.datetime.now(dt.UTC).date()
    assert items["as_of"] in (today.isoformat(), (today + dt.timedelta(days=1)).isoformat())
    assert items["items"] == []
