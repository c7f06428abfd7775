"""Tables of the accounting exports (DATEV, CSV): settings, debtor accounts, runs, marks."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from invoicing.models.base import Base, JSONType, utcnow
from sqlalchemy import Index, Integer, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column


def _client() -> Mapped[str]:
    """The DATEV client a row belongs to (migration 0033_datev_clients): '' for the
    organization's own, the subsidiary's id for a subsidiary with a DATEV client of its own
    (``domain.subsidiaries.datev_client``). Part of the key: the clients never share a row."""
    return mapped_column(String(200), primary_key=True, server_default=text("''"))


class DatevSettingsRecord(Base):
    """A DATEV client's configuration (validated ``DatevSettings`` as JSON): the
    organization's (``client`` '') or a subsidiary's own (``client`` = its id)."""

    __tablename__ = "datev_settings"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client: Mapped[str] = _client()
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatevDebtorAccount(Base):
    """A stable Debitor account per customer (or per anonymous buyer) in one DATEV client,
    never reassigned."""

    __tablename__ = "datev_debtor_accounts"
    __table_args__ = (UniqueConstraint("organization_id", "client", "account"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client: Mapped[str] = _client()
    customer_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    account: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ExportRun(Base):
    """One export (DATEV or CSV): range, requester, file location, checksum, counts."""

    __tablename__ = "export_runs"
    __table_args__ = (Index("ix_export_runs_org_created", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the command_id
    kind: Mapped[str] = mapped_column(String(10))  # datev | csv
    status: Mapped[str] = mapped_column(String(12), default="completed")
    date_from: Mapped[dt.date | None]
    date_to: Mapped[dt.date | None]
    requested_by: Mapped[str | None] = mapped_column(String(200))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    location: Mapped[str] = mapped_column(String(1000))
    checksum: Mapped[str] = mapped_column(String(71))  # sha256:<hex>
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    files: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ExportMark(Base):
    """First DATEV export of a booking source in one DATEV client: an invoice/credit note, a
    payment, a reversal."""

    __tablename__ = "export_marks"
    __table_args__ = (Index("ix_export_marks_export", "organization_id", "export_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client: Mapped[str] = _client()
    target: Mapped[str] = mapped_column(String(12), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    export_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    marked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatevFxValue(Base):
    """The euro value a DATEV export booked for a movement that settles a foreign-currency
    document (a payment, credit note, write-off, reversal, deleted payment or its reversal):
    the first export's value stays the movement's value in every later export
    (``domain.fx.settling_values``, ``booked``), so a movement recorded later with an earlier
    date does not move a cent already booked (exports/datev_fx.py). Per DATEV client."""

    __tablename__ = "datev_fx_values"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client: Mapped[str] = _client()
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    value: Mapped[Decimal]
    export_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    booked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
