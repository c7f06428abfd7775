"""Document reads: one document's metadata and a chunk of its content, or the documents of an
invoice or an export run. Every statement is confined to the query's organization."""

from __future__ import annotations

import base64

from invoicing.documents.store import DocumentInfo, invoice_document_id
from invoicing.domain.errors import DomainError, NotFound
from invoicing.handlers.ports import DocumentStorage
from invoicing.schemas.documents import (
    DocumentChunk,
    DocumentList,
    DocumentMeta,
    DocumentResult,
    GetDocument,
    ListDocuments,
)
from sqlalchemy.orm import Session


def meta(info: DocumentInfo) -> DocumentMeta:
    return DocumentMeta(
        id=info.id,
        kind=info.kind,
        filename=info.filename,
        media_type=info.media_type,
        size=info.size,
        sha256=info.sha256,
        created_at=info.created_at,
        frozen=info.frozen,
        invoice_id=info.invoice_id,
        export_id=info.export_id,
    )


def get_document(q: GetDocument, session: Session, store: DocumentStorage) -> DocumentResult:
    p = q.payload
    if p.document_id is not None:
        document_id = p.document_id
    else:
        assert p.invoice_id is not None and p.kind is not None
        document_id = invoice_document_id(p.invoice_id, p.kind)
    info = store.info(session, q.organization_id, document_id)
    if info is None:
        raise NotFound(
            "document_not_found",
            f"document {document_id} does not exist in this organization",
            pointer="/document_id" if p.document_id else "/kind",
            hint="take document_id from the event that named it, or list_documents",
        )
    if not p.include_content:
        return DocumentResult(document=meta(info))
    if p.offset > info.size:
        raise DomainError(
            "offset_out_of_range",
            f"offset {p.offset} lies beyond the end of the document ({info.size} bytes)",
            pointer="/offset",
            hint=f"ask for an offset from 0 to {info.size}",
        )
    whole = p.offset == 0 and p.limit >= info.size
    data = store.content(session, info) if whole else store.read(session, info, p.offset, p.limit)
    end = p.offset + len(data)
    chunk = DocumentChunk(
        offset=p.offset,
        length=len(data),
        data=base64.b64encode(data).decode("ascii"),
        eof=end >= info.size,
        next_offset=None if end >= info.size else end,
    )
    return DocumentResult(document=meta(info), content=chunk)


def list_documents(q: ListDocuments, session: Session, store: DocumentStorage) -> DocumentList:
    p = q.payload
    infos = store.list(session, q.organization_id, invoice_id=p.invoice_id, export_id=p.export_id)
    return DocumentList(items=[meta(i) for i in infos])
