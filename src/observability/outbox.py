"""Outbox backlog as gauges read at scrape time: rows not yet published and the age of the
oldest. Registered by the relay (the process that drains the outbox) and available to any
process with an engine; a failing database makes the scrape report -1, never fail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import Engine, text


class OutboxCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _read(self) -> tuple[float, float]:
        try:
            with self.engine.connect() as conn:
                count, oldest = conn.execute(
                    text("SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL")
                ).one()
        except Exception:  # the scrape must answer; -1 says "could not read"
            return -1.0, -1.0
        if oldest is None:
            return float(count), 0.0
        if isinstance(oldest, str):  # SQLite returns text
            oldest = dt.datetime.fromisoformat(oldest)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        age = (dt.datetime.now(dt.UTC) - oldest).total_seconds()
        return float(count), max(0.0, age)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count, age = self._read()
        yield GaugeMetricFamily(
            "invoicing_outbox_unpublished_rows", "Outbox rows not yet published", value=count
        )
        yield GaugeMetricFamily(
            "invoicing_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            value=age,
        )


_registered: OutboxCollector | None = None


def register_outbox_collector(engine: Engine) -> OutboxCollector:
    global _registered
    if _registered is None:
        _registered = OutboxCollector(engine)
        REGISTRY.register(_registered)
    return _registered
