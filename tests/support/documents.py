"""Documents through the contract: fetch a document an event names, chunk by chunk, with
get_document (as a listener on another host would), verifying size and SHA-256."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from invoicing.pipeline import Pipeline


def fetch(
    bus: Pipeline, org: uuid.UUID | str, ref: dict[str, Any], limit: int | None = None
) -> bytes:
    """The bytes of the document ``ref`` (an event's DocumentRef) through get_document."""
    assert ref["query"] == "get_document"
    parts: list[bytes] = []
    offset = 0
    while True:
        payload: dict[str, Any] = {"document_id": ref["document_id"], "offset": offset}
        if limit is not None:
            payload["limit"] = limit
        reply = bus.query_document(
            {"type": "get_document", "organization_id": str(org), "payload": payload}
        )
        assert reply["status"] == "ok", reply["errors"]
        chunk = reply["result"]["content"]
        parts.append(base64.b64decode(chunk["data"]))
        if chunk["eof"]:
            break
        offset = chunk["next_offset"]
    content = b"".join(parts)
    assert len(content) == ref["size"] and hashlib.sha256(content).hexdigest() == ref["sha256"]
    return content


def export_file(bus: Pipeline, org: uuid.UUID | str, event: dict[str, Any]) -> bytes:
    """The file of an export.completed event (its data or the whole event)."""
    data = event.get("data", event)
    return fetch(bus, org, data["document"])
