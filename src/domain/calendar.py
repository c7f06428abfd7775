"""An organization's calendar day: the date "today" is where the organization works.

A command without a date (a finalize without ``issue_date``, a payment without ``date``) takes
today's date. Taken in UTC, a finalize at 00:30 in Cologne (23:30 UTC) was dated the day
before, and on 1 January it was numbered in the year before's series. The day is the one of
the organization's time zone: its ``timezone`` setting (IANA name), else the zone of its
address's country where the country has one, else UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: the zone of a country that has one (the service's home and its neighbours); other
#: countries set ``timezone``
COUNTRY_ZONES = {
    "AT": "Europe/Vienna",
    "BE": "Europe/Brussels",
    "CH": "Europe/Zurich",
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "IT": "Europe/Rome",
    "LU": "Europe/Luxembourg",
    "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw",
    "SE": "Europe/Stockholm",
}


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_zone(name: str) -> bool:
    """An IANA time zone name this machine (or the tzdata package) knows."""
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_of(profile: Mapping[str, Any]) -> str:
    """The organization's zone: ``timezone``, else its address's country's, else UTC. A stored
    name this host's zone database does not know (one dropped by a later release of it) is
    passed over like a missing one: a command falls back to the country's day rather than
    fail until the setting is corrected."""
    explicit = profile.get("timezone")
    if explicit and is_zone(str(explicit)):
        return str(explicit)
    country = str((profile.get("address") or {}).get("country_code") or "").upper()
    return COUNTRY_ZONES.get(country, "UTC")


def local_day(now: dt.datetime, zone: str) -> dt.date:
    """The calendar day in ``zone`` at the instant ``now`` (timezone-aware)."""
    return now.astimezone(_zone(zone)).date()


def day_start(day: dt.date, zone: str) -> dt.datetime:
    """The instant ``day`` begins in ``zone``, in UTC: what a timestamp of that calendar day is
    at or after. The calendar's first day in a zone east of UTC begins before the first instant
    a datetime holds; that day begins at that instant."""
    try:
        return dt.datetime.combine(day, dt.time(), tzinfo=_zone(zone)).astimezone(dt.UTC)
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)


def noon(day: dt.date, zone: str) -> dt.datetime:
    """A day without a time as an instant: its noon in ``zone``, in UTC. It falls on that day
    in UTC as well for every zone within eleven hours of it (a day's midnight in UTC, as
    ``mark_sent``'s ``sent_on`` took it before session 33, was 19:00 the day before in New
    York)."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=_zone(zone)).astimezone(dt.UTC)


class Calendar:
    """An organization's calendar for a read: its zone found by ``zone`` when first needed (a
    query that compares no timestamp and has no fuzzy date never asks), ``now`` the clock."""

    def __init__(
        self,
        zone: Callable[[], str],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._find_zone = zone
        self._now = now

    @functools.cached_property
    def zone(self) -> str:
        return self._find_zone()

    def today(self) -> dt.date:
        return local_day(self._now(), self.zone)

    def day_start(self, day: dt.date) -> dt.datetime:
        return day_start(day, self.zone)

    @classmethod
    def fixed(cls, zone: str, today: dt.date | None = None) -> Calendar:
        """A calendar of a known zone; ``today`` a fixed day (else the clock's)."""
        if today is None:
            return cls(lambda: zone)
        moment = dt.datetime.combine(today, dt.time(12), tzinfo=_zone(zone))
        return cls(lambda: zone, lambda: moment)
