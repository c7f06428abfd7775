"""An organization's calendar day (invoicing.domain.calendar), without a database."""

from __future__ import annotations

import datetime as dt

from invoicing.domain import calendar

NEW_YEAR_IN_COLOGNE = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # 00:30 on 1 January


def test_the_zone_is_the_setting_else_the_country_s_else_utc() -> None:
    assert calendar.zone_of(
        {"timezone": "America/New_York", "address": {"country_code": "DE"}}
    ) == ("America/New_York")
    assert calendar.zone_of({"address": {"country_code": "de"}}) == "Europe/Berlin"
    assert calendar.zone_of({"address": {"country_code": "BE"}}) == "Europe/Brussels"
    assert calendar.zone_of({"address": {"country_code": "BR"}}) == "UTC"
    assert calendar.zone_of({}) == "UTC"
    # a stored zone this host does not know: the country's day, not a failing command
    gone = {"timezone": "Europe/Atlantis", "address": {"country_code": "BE"}}
    assert calendar.zone_of(gone) == "Europe/Brussels"


def test_the_day_is_the_organization_s_not_utc_s() -> None:
    assert calendar.local_day(NEW_YEAR_IN_COLOGNE, "Europe/Berlin") == dt.date(2027, 1, 1)
    assert calendar.local_day(NEW_YEAR_IN_COLOGNE, "UTC") == dt.date(2026, 12, 31)
    # summer time: 22:30 UTC is 00:30 the next day in Brussels
    summer = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)
    assert calendar.local_day(summer, "Europe/Brussels") == dt.date(2026, 7, 1)
    assert calendar.local_day(summer, "America/New_York") == dt.date(2026, 6, 30)


def test_only_iana_zones_are_zones() -> None:
    assert calendar.is_zone("Europe/Berlin") and calendar.is_zone("UTC")
    for name in ("Europe/Cologne", "CET+1", "../../etc/passwd", "", "Europe/"):
        assert not calendar.is_zone(name), name


def test_a_day_begins_at_the_zone_s_midnight() -> None:
    utc = dt.UTC
    assert calendar.day_start(dt.date(2027, 1, 1), "Europe/Berlin") == dt.datetime(
        2026, 12, 31, 23, tzinfo=utc
    )
    summer = calendar.day_start(dt.date(2026, 7, 1), "Europe/Brussels")
    assert summer == dt.datetime(2026, 6, 30, 22, tzinfo=utc)
    assert calendar.day_start(dt.date(2026, 7, 1), "UTC") == dt.datetime(2026, 7, 1, tzinfo=utc)
    # the calendar's ends: the first day east of UTC begins before any datetime; the last
    # day west of UTC begins on it
    assert calendar.day_start(dt.date.min, "Europe/Berlin") == dt.datetime.min.replace(tzinfo=utc)
    assert calendar.day_start(dt.date.max, "America/New_York").date() == dt.date.max


def test_a_calendar_finds_its_zone_once_and_only_when_asked() -> None:
    asked: list[int] = []

    def zone() -> str:
        asked.append(1)
        return "Europe/Berlin"

    cal = calendar.Calendar(zone, lambda: NEW_YEAR_IN_COLOGNE)
    assert asked == []
    assert cal.today() == dt.date(2027, 1, 1)
    assert cal.day_start(dt.date(2027, 1, 1)) == NEW_YEAR_IN_COLOGNE - dt.timedelta(minutes=30)
    assert asked == [1]
    fixed = calendar.Calendar.fixed("Pacific/Kiritimati", dt.date(2030, 5, 6))
    assert fixed.today() == dt.date(2030, 5, 6) and fixed.zone == "Pacific/Kiritimati"
