"""Documents over the contract: the PDF, the e-invoice XML and the export files.

Events name a document by reference (``DocumentRef``: ``document_id``, ``sha256`` and the query
that fetches it, ``get_document``), never by a path on some host. ``get_document`` returns the
metadata and the content base64-encoded, at most ``MAX_CHUNK_BYTES`` (512 KiB, 699,052 base64
characters: a reply stays well under the pipeline's 1 MiB message limit) per reply: ask again
with ``offset = next_offset`` until ``eof``, then check the SHA-256 of the whole.
``list_documents`` lists the documents of an invoice or of an export run.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from invoicing.schemas.common import Contract
from invoicing.schemas.queries import RESULT_TYPES, Query, Result
from pydantic import ConfigDict, Field, StringConstraints, model_validator

#: the most content bytes one get_document reply carries
MAX_CHUNK_BYTES = 512 * 1024
Kind = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
_ORG = "11111111-1111-4111-8111-111111111111"


class DocumentRef(Result):
    """How an event names a document: fetch it with the query ``query`` (``get_document``)
    and the ``document_id``; its bytes have the SHA-256 ``sha256``."""

    document_id: UUID
    kind: str = Field(description="pdf, facturx-pdf (hybrid ZUGFeRD), xml-<format>, datev-zip, csv")
    filename: str
    media_type: str
    size: int = Field(description="bytes")
    sha256: str = Field(description="hex SHA-256 of the whole content")
    query: Literal["get_document"] = "get_document"


class GetDocument(Query):
    """A document's metadata and (a chunk of) its content, by ``document_id`` (as events name
    it) or by ``invoice_id`` and ``kind``."""

    type: Literal["get_document"] = "get_document"

    class Payload(Contract):
        document_id: UUID | None = None
        invoice_id: UUID | None = None
        kind: Kind | None = Field(default=None, description="with invoice_id: pdf, xml-…")
        include_content: bool = Field(default=True, description="false: the metadata only")
        offset: int = Field(default=0, ge=0, description="first content byte of the chunk")
        limit: int = Field(
            default=MAX_CHUNK_BYTES,
            ge=1,
            le=MAX_CHUNK_BYTES,
            description=f"content bytes in this reply, at most {MAX_CHUNK_BYTES}",
        )

        @model_validator(mode="after")
        def _one(self) -> GetDocument.Payload:
            by_invoice = self.invoice_id is not None or self.kind is not None
            if (self.document_id is None) == (not by_invoice):
                raise ValueError("give either document_id, or invoice_id and kind")
            if by_invoice and (self.invoice_id is None or self.kind is None):
                raise ValueError("invoice_id and kind go together")
            return self

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "get_document",
                    "organization_id": _ORG,
                    "credentials": {"token": "<signed token>"},
                    "payload": {
                        "document_id": "44444444-4444-4444-8444-444444444444",
                        "offset": 0,
                        "limit": MAX_CHUNK_BYTES,
                    },
                }
            ]
        }
    )


class ListDocuments(Query):
    """The documents of an invoice (``invoice_id``) or of an export run (``export_id``),
    metadata only."""

    type: Literal["list_documents"] = "list_documents"

    class Payload(Contract):
        invoice_id: UUID | None = None
        export_id: UUID | None = Field(default=None, description="the export's command_id")

        @model_validator(mode="after")
        def _one(self) -> ListDocuments.Payload:
            if (self.invoice_id is None) == (self.export_id is None):
                raise ValueError("give exactly one of invoice_id and export_id")
            return self

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_documents",
                    "organization_id": _ORG,
                    "credentials": {"token": "<signed token>"},
                    "payload": {"invoice_id": "33333333-3333-4333-8333-333333333333"},
                }
            ]
        }
    )


class DocumentMeta(Result):
    id: UUID
    kind: str
    filename: str
    media_type: str
    size: int = Field(description="bytes")
    sha256: str = Field(description="hex SHA-256 of the whole content")
    created_at: dt.datetime
    frozen: bool = Field(description="true: the document of a finalized invoice, never replaced")
    invoice_id: UUID | None = None
    export_id: UUID | None = None


class DocumentChunk(Result):
    offset: int
    length: int = Field(description="content bytes in data")
    encoding: Literal["base64"] = "base64"
    data: str = Field(description="the bytes offset .. offset + length - 1, base64")
    eof: bool = Field(description="true: this chunk ends the document")
    next_offset: int | None = Field(default=None, description="the offset of the next chunk")


class DocumentResult(Result):
    document: DocumentMeta
    content: DocumentChunk | None = Field(default=None, description="absent without content")


class DocumentList(Result):
    items: list[DocumentMeta]


RESULT_TYPES.update({"get_document": DocumentResult, "list_documents": DocumentList})
