"""The scheduler: time-driven commands, daily per organization: ``check_overdue`` (flag
overdue invoices) and ``send_dunning_notices`` (where dunning is configured and enabled).

Every tick it publishes, for each organization in the database, the configured scheduled
command types for today's date on the organization's calendar (``domain.calendar``: its
``timezone`` setting, else its country's zone, else UTC), as a command without a date takes
it. The command id is derived from (organization, type, date),
so a second scheduler, a restart or an hourly tick publishes the same id again and the
workers' inbox turns every repeat into a no-op: each organization gets each command once a
day, whatever runs. The commands carry a token minted with the pipeline's JWT secret for the
subject ``scheduler`` and exactly the scope they need.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from invoicing.domain import calendar
from invoicing.models import Organization
from invoicing.schemas.commands import COMMAND_TYPES
from sqlalchemy import Engine, select

log = structlog.get_logger("invoicing.scheduler")

_NAMESPACE = uuid.UUID("3d1f5b6e-7c2a-4e8f-9b1d-5a6c7e8f9a0b")


#: extra payload per scheduled type (dunning: as many notices as one command may send)
_PAYLOAD: dict[str, dict[str, Any]] = {"send_dunning_notices": {"max_notices": 1000}}


def _every_day(day: dt.date) -> Callable[[uuid.UUID], dt.date]:
    return lambda _org: day


def scheduled_commands(
    organization_ids: list[uuid.UUID] | dict[str, list[uuid.UUID]],
    today: dt.date | Callable[[uuid.UUID], dt.date],
    types: list[str],
) -> list[dict[str, Any]]:
    """The command documents due today (without credentials).

    ``organization_ids`` is one list for every type, or the organizations per type; ``today``
    one date for all, or each organization's (``organization_days``).
    """
    day_of = today if callable(today) else _every_day(today)
    docs: list[dict[str, Any]] = []
    for ctype in types:
        if ctype not in COMMAND_TYPES:
            raise ValueError(f"scheduled command type {ctype!r} is not a command")
    per_type = (
        organization_ids
        if isinstance(organization_ids, dict)
        else dict.fromkeys(types, organization_ids)
    )
    for ctype in types:
        for org in per_type.get(ctype, []):
            day = day_of(org)
            docs.append(
                {
                    "type": ctype,
                    "command_id": str(uuid.uuid5(_NAMESPACE, f"{org}:{ctype}:{day.isoformat()}")),
                    "organization_id": str(org),
                    "correlation_id": f"scheduler:{day.isoformat()}",
                    "payload": {"as_of": day.isoformat(), **_PAYLOAD.get(ctype, {})},
                }
            )
    return docs


def organizations(engine: Engine, types: list[str]) -> dict[str, list[uuid.UUID]]:
    """Per scheduled type, the organizations it applies to: dunning only where it is set up
    and enabled, everything else for every organization."""
    from invoicing.models.dunning import DunningSettingsRecord

    with engine.connect() as conn:
        every = list(conn.execute(select(Organization.id).order_by(Organization.id)).scalars())
        dunning = [
            org
            for org, settings in conn.execute(
                select(
                    DunningSettingsRecord.organization_id, DunningSettingsRecord.settings
                ).order_by(DunningSettingsRecord.organization_id)
            )
            if (settings or {}).get("enabled", True)
        ]
    return {t: dunning if t == "send_dunning_notices" else every for t in types}


def organization_days(engine: Engine, now: dt.datetime) -> dict[uuid.UUID, dt.date]:
    """Each organization's calendar day at the instant ``now`` (timezone-aware). In UTC, an
    organization in Berlin was dunned as of a day whose local midnight had not come yet west
    of UTC, and one east of it got its day an hour or two late."""
    with engine.connect() as conn:
        rows = conn.execute(select(Organization.id, Organization.profile)).all()
    return {org: calendar.local_day(now, calendar.zone_of(profile or {})) for org, profile in rows}


def _day_of(engine: Engine, now: dt.datetime) -> Callable[[uuid.UUID], dt.date]:
    days = organization_days(engine, now)
    utc_day = now.astimezone(dt.UTC).date()  # an organization made since: UTC's, as before
    return lambda org: days.get(org, utc_day)


def publish_via_broker(docs: list[dict[str, Any]], amqp_url: str, jwt_secret: str) -> None:
    """Confirmed publishes to ``invoicing.commands`` (routing key = command type)."""
    import pika  # type: ignore[import-untyped]
    from invoicing.pipeline.authenticate import issue_token
    from invoicing.workers.amqp import ConfirmingPublisher, Outgoing
    from invoicing.workers.topology import COMMANDS_EXCHANGE

    if not jwt_secret:
        raise RuntimeError("INVOICING_JWT_SECRET is needed to sign the scheduler's commands")
    publisher = ConfirmingPublisher(amqp_url)
    try:
        batch = []
        for doc in docs:
            scope = COMMAND_TYPES[doc["type"]].scope
            token = issue_token(jwt_secret, "scheduler", {doc["organization_id"]: [scope]})
            body = json.dumps({**doc, "credentials": {"token": token}}).encode()
            props = pika.BasicProperties(
                delivery_mode=2,
                content_type="application/json",
                message_id=doc["command_id"],
                app_id="invoicing-scheduler",
                timestamp=int(time.time()),
            )
            batch.append(Outgoing(COMMANDS_EXCHANGE, doc["type"], body, props))
        publisher.publish_batch(batch)
    finally:
        publisher.close()


def run(
    engine: Engine,
    submit: Callable[[list[dict[str, Any]]], None],
    *,
    types: list[str],
    interval_s: float,
    once: bool,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> int:
    """Tick until SIGTERM/SIGINT (or once); returns the number of commands submitted."""
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    total = 0
    while True:
        now = clock()
        docs = scheduled_commands(organizations(engine, types), _day_of(engine, now), types)
        submit(docs)
        total += len(docs)
        log.info(
            "scheduler.tick", date=now.astimezone(dt.UTC).date().isoformat(), commands=len(docs)
        )
        if once or stop.wait(interval_s):
            return total
