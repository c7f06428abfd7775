"""Stored documents (PDF, e-invoice XML, export files) and email deliveries.

``documents``: one row per document (``id``, unique per organization): the document of an
invoice (unique per organization, invoice and kind) or the file of an export run
(``export_id``). The row is the truth: name, media type, size and SHA-256. Its bytes live in
``storage``: ``database`` (``document_contents``, readable by every worker on every host) or
``directory`` (a file under the documents directory, ``path``). A frozen document (of a
finalized invoice) is never replaced.

``document_contents``: the bytes, keyed by organization and SHA-256 (identical bytes of one
organization are stored once), split into parts of ``PART_BYTES`` so that a chunk of a large
export is read without loading the whole file (bytea on PostgreSQL, BLOB on SQLite).

``email_deliveries``: the journal, one row per email the service sends (an invoice, a dunning
notice, a payment confirmation), keyed by the delivery's command id and purpose, with the
deterministic Message-ID. A delivery step commits it (``sending``) on its own before the SMTP
conversation, so a retried step never sends twice (see docs/sending.md). No foreign key to
``invoices``: the journal stands on its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.models.base import Base, utcnow
from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

#: bytes per row of ``document_contents`` (and the largest chunk a query returns)
PART_BYTES = 512 * 1024


class StoredDocument(Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("organization_id", "invoice_id", "kind"),
        Index("ix_documents_export", "organization_id", "export_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    export_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    storage: Mapped[str] = mapped_column(String(10))  # database | directory
    path: Mapped[str | None] = mapped_column(String(500))  # directory storage only
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DocumentContent(Base):
    __tablename__ = "document_contents"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0, 1, ...
    data: Mapped[bytes] = mapped_column(LargeBinary)


class EmailDelivery(Base):
    __tablename__ = "email_deliveries"
    __table_args__ = (
        UniqueConstraint("organization_id", "command_id", "purpose"),
        Index("ix_email_deliveries_invoice", "organization_id", "invoice_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    purpose: Mapped[str] = mapped_column(String(30))  # invoice | payment_confirmation
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[dict[str, Any]] = mapped_column()  # {"to": [...], "cc": [...], ...}
    subject: Mapped[str] = mapped_column(String(1000))
    attachments: Mapped[list[Any]] = mapped_column()  # [{"filename", "sha256"}]
    status: Mapped[str] = mapped_column(String(12))  # sending | sent | failed | uncertain
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
