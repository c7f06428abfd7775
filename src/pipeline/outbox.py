"""The outbox: events written in the command's own transaction; the relay publishes them."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from typing import Any

from invoicing.handlers.registry import Event, LateEvent
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.pipeline.envelope import cloud_event, event_id


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

    def row(event: Event, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        id_ = event_id(event, index, command_id=command_id, nonce=nonce, org_id=org_id)
        ce = cloud_event(
            event,
            id_=id_,
            org_id=org_id,
            command_id=command_id,
            correlation_id=correlation_id,
            now=now,
        )
        param = {
            "event_id": id_,
            "organization_id": org_id,
            "type": event.type,
            "subject": event.subject,
            "sequence": event.sequence,
            "payload": ce,
            "created_at": now,
        }
        return ce, param

    def fill(late: LateEvent, index: int, ce: dict[str, Any], param: dict[str, Any]) -> None:
        event = late.complete()
        if (event.type, event.subject) != (late.type, late.subject):  # its id is made of them
            raise ValueError(f"{late.type} {late.subject} completed as {event.type}")
        done_ce, done_param = row(event, index)
        ce.update(done_ce)  # in place: the outcome and the pending outbox row hold these
        param.update(done_param)

    for i, event in enumerate(events):
        if isinstance(event, LateEvent) and not defer:
            event = event.complete()
        ce, param = row(event, i)
        if isinstance(event, LateEvent):  # its content at the end of the transaction
            uow.at_end(event.lock_order, partial(fill, event, i, ce, param), event.claim)
        params.append(param)
        rows.append(ce)
    if defer:
        uow.outbox_rows.extend(params)
    else:
        uow.insert_outbox(params)
    return rows
