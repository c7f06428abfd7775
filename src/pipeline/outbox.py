"""The outbox: events written in the command's own transaction; the relay publishes them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.handlers.registry import Event
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.pipeline.envelope import cloud_event


def write(
    uow: UnitOfWork,
    events: list[Event],
    *,
    org_id: uuid.UUID | None,
    command_id: uuid.UUID | None,
    correlation_id: str | None,
    now: dt.datetime,
    nonce: uuid.UUID | None = None,
    defer: bool = False,
) -> list[dict[str, Any]]:
    """Insert one outbox row per event (as its CloudEvent) with one Core statement; returns
    the CloudEvents. An id already in the outbox raises ``IntegrityError`` here.

    ``defer``: hand the rows to ``uow`` instead, which inserts the rows of every command of
    its transaction in one statement when it commits (group commit). Only for events whose
    ids cannot be in the outbox yet -- a command's own, after the inbox claimed its id --
    since a clash would then fail the whole transaction, not this command."""
    rows: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        ce = cloud_event(
            event,
            org_id=org_id,
            command_id=command_id,
            correlation_id=correlation_id,
            index=i,
            now=now,
            nonce=nonce,
        )
        params.append(
            {
                "event_id": uuid.UUID(ce["id"]),
                "organization_id": org_id,
                "type": event.type,
                "subject": event.subject,
                "sequence": event.sequence,
                "payload": ce,
                "created_at": now,
            }
        )
        rows.append(ce)
    if defer:
        uow.outbox_rows.extend(params)
    else:
        uow.insert_outbox(params)
    return rows
