"""Envelopes: the CloudEvents 1.0 envelope of every event (structured JSON,
``dataschemaversion`` 1) and the ``QueryReply`` of every query."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from invoicing.handlers.registry import Event
from invoicing.schemas.common import ErrorItem, storable
from invoicing.schemas.queries import QueryReply
from pydantic import BaseModel


def event_id(
    event: Event,
    index: int,
    *,
    command_id: uuid.UUID | None,
    nonce: uuid.UUID | None = None,
    org_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Deterministic per (organization, command, position): a redelivered command yields the
    same ids. The basis is ``nonce`` where given (a rejection made of a body's digest), else
    the command id, else (neither) a random one. The organization is part of the name: two
    organizations' commands may carry the same id (the inbox keys them by organization), and
    their events must not collide."""
    basis = nonce or command_id or uuid.uuid4()
    return uuid.uuid5(basis, f"{org_id or ''}:{index}:{event.type}:{event.subject}")


def cloud_event(
    event: Event,
    *,
    id_: uuid.UUID,
    org_id: uuid.UUID | None,
    command_id: uuid.UUID | None,
    correlation_id: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The event's CloudEvent, with the id :func:`event_id` made."""
    return {
        "specversion": "1.0",
        "id": str(id_),
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


@dataclass(frozen=True)
class Reply:
    """A ``QueryReply`` whose result is still the query's result model.

    The result of a list query is most of the reply (50 whole invoices); it is serialized once,
    by pydantic straight to JSON (:meth:`as_json`, what the worker publishes), instead of being
    dumped to Python objects, validated into the envelope, dumped again and encoded.
    """

    envelope: dict[str, Any]  # every field of QueryReply but ``result``, JSON-ready
    result: BaseModel | None = None

    @classmethod
    def to(
        cls,
        doc: Mapping[str, Any],
        *,
        result: BaseModel | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> Reply:
        def text_of(name: str) -> str | None:
            value = doc.get(name)
            return None if value is None else str(value)[:200]

        envelope = QueryReply(
            type=str(doc.get("type") or "")[:100],
            status="error" if errors else "ok",
            query_id=text_of("query_id"),
            correlation_id=text_of("correlation_id"),
            organization_id=text_of("organization_id"),
            # checked strictly as the service writes them; the reply's model reads tolerantly
            errors=[ErrorItem.model_validate(e).model_dump() for e in errors or []],
        ).model_dump(mode="json", exclude={"result"})
        # what it echoes of the query (ids, a pointer made of a key) written so that the reply
        # can be encoded: a lone surrogate cannot be UTF-8 (``schemas.common.storable``)
        return cls(storable(envelope), result)

    @property
    def status(self) -> str:
        return str(self.envelope["status"])

    def as_dict(self) -> dict[str, Any]:
        result = self.result.model_dump(mode="json") if self.result is not None else None
        return {**self.envelope, "result": result}

    def as_json(self) -> bytes:
        head = json.dumps(self.envelope, ensure_ascii=False).encode()
        # the model's serializer's bytes as they are (what model_dump_json decodes to a str):
        # that str encoded again cost 3 % of a list page, its non-ASCII text taking CPython's
        # slow path (session 23)
        result = self.result
        body = b"null" if result is None else result.__pydantic_serializer__.to_json(result)
        # the envelope is a non-empty object: close it with the result as its last member
        return head[:-1] + b', "result": ' + body + b"}"
