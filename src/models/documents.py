"""Stored documents (PDF, e-invoice XML) and email deliveries.

``documents``: one row per (organization, invoice, kind) with the file's SHA-256; the row is the
truth, the file lives in the document store (``invoicing.documents.store``). A frozen document
(of a finalized invoice) is never replaced.

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
from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column


class StoredDocument(Base):
    __tablename__ = "documents"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


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
