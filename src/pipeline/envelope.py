"""Envelopes: the CloudEvents 1.0 envelope of every event (structured JSON,
``dataschemaversion`` 1) and the ``QueryReply`` of every query."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from invoicing.handlers.registry import Event
from invoicing.schemas.common import ErrorItem
from invoicing.schemas.queries import QueryReply


def event_id(basis: uuid.UUID, index: int, event: Event) -> uuid.UUID:
    """Deterministic per (command, position): a redelivered command yields the same ids."""
    return uuid.uuid5(basis, f"{index}:{event.type}:{event.subject}")


def cloud_event(
    event: Event,
    *,
    org_id: uuid.UUID | None,
    command_id: uuid.UUID | None,
    correlation_id: str | None,
    index: int,
    now: dt.datetime,
    nonce: uuid.UUID | None = None,
) -> dict[str, Any]:
    basis = nonce or command_id or uuid.uuid4()
    return {
        "specversion": "1.0",
        "id": str(event_id(basis, index, event)),
        "source": f"urn:invoicing:organization:{org_id}" if org_id else "urn:invoicing",
        "type": event.type,
        "subject": event.subject,
        "time": now.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschemaversion": 1,
        "organizationid": str(org_id) if org_id else None,
        "commandid": str(command_id) if command_id else None,
        "correlationid": correlation_id,
        "sequence": event.sequence,
        "data": event.data,
    }


def query_reply(
    doc: Mapping[str, Any],
    *,
    result: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``QueryReply`` answering ``doc`` (its type, ids and correlation id echoed)."""

    def text_of(name: str) -> str | None:
        value = doc.get(name)
        return None if value is None else str(value)[:200]

    reply = QueryReply(
        type=str(doc.get("type") or "")[:100],
        status="error" if errors else "ok",
        query_id=text_of("query_id"),
        correlation_id=text_of("correlation_id"),
        organization_id=text_of("organization_id"),
        result=result,
        errors=[ErrorItem.model_validate(e) for e in errors or []],
    )
    return reply.model_dump(mode="json", exclude_none=False)
