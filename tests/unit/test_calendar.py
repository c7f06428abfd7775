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
