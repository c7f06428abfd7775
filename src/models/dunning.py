"""Dunning settings and notices; share tokens of published invoices (migration 0006).

``dunning_notices``: one row per (organization, invoice, level); the primary key makes it
impossible to record the same level twice for an invoice. The fee and interest are what the
notice stated; they are not part of the frozen invoice.

``invoice_shares``: only the SHA-256 of a share token is stored (the primary key, so a lookup
by token is one index probe and a token can never point at two invoices).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from invoicing.models.base import Base, JSONType, utcnow
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column


class DunningSettingsRecord(Base):
    """The organization's validated ``DunningSettings`` as JSON."""

    __tablename__ = "dunning_settings"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DunningNotice(Base):
    __tablename__ = "dunning_notices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "invoice_id"],
            ["invoices.organization_id", "invoices.id"],
        ),
        Index("ix_dunning_notices_org_sent", "organization_id", "sent_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    as_of: Mapped[dt.date]
    sent_at: Mapped[dt.datetime]
    days_overdue: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    open_amount: Mapped[Decimal]
    fee: Mapped[Decimal]
    #: the EUR 40 flat compensation this notice claimed, and the fees credited against it
    #: (migration 0032_dunning_claims; 0 before it)
    flat_compensation: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    credited: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    interest: Mapped[Decimal]
    message_id: Mapped[str] = mapped_column(String(250))
    delivery_status: Mapped[str] = mapped_column(String(12))  # sent | uncertain


class DunningBlock(Base):
    """A block of dunning (Mahnsperre, ``block_dunning``; migration 0030_dunning_blocks): of
    one invoice (``subject`` ``invoice``) or of every invoice of one customer (``customer``),
    up to and including ``until`` (none: until ``lift_dunning_block`` deletes the row). One
    row per subject: blocking again replaces it."""

    __tablename__ = "dunning_blocks"
    __table_args__ = (CheckConstraint("subject IN ('invoice', 'customer')", name="subject"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    until: Mapped[dt.date | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    set_at: Mapped[dt.datetime]


class InvoiceShare(Base):
    __tablename__ = "invoice_shares"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "invoice_id"],
            ["invoices.organization_id", "invoices.id"],
        ),
        Index("ix_invoice_shares_invoice", "organization_id", "invoice_id"),
    )

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime]
    expires_on: Mapped[dt.date | None]
    revoked_at: Mapped[dt.datetime | None]
