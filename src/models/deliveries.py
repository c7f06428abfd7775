"""Delivery jobs: what must reach the outside after a command committed (migration 0009).

A command that has something to deliver (an invoice email, a dunning notice, a payment
confirmation) inserts one ``delivery_jobs`` row in its own transaction, beside its state change
and its events. Rendering, e-invoice building and SMTP happen afterwards, one job per step
(``invoicing.handlers.deliveries``), never inside a command's transaction.

``next_attempt_at`` is both the schedule and the lease: claiming a job moves it to
``now + lease``, so a job whose runner died becomes due again when the lease runs out;
``claim_token`` tells the runner that holds the lease from one whose lease ran out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.models.base import Base, JSONType, utcnow
from sqlalchemy import Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

#: statuses: pending (due at next_attempt_at) | done (sent or uncertain) | failed | cancelled
PENDING = "pending"


class DeliveryJob(Base):
    __tablename__ = "delivery_jobs"
    __table_args__ = (
        # the runners' "what is due" probe reads only pending rows
        Index(
            "ix_delivery_jobs_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # ``invoicing retention``: finished jobs by age (its age condition is this predicate)
        Index(
            "ix_delivery_jobs_finished",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
            sqlite_where=text("finished_at IS NOT NULL"),
        ),
        Index("ix_delivery_jobs_command", "organization_id", "command_id"),
        Index("ix_delivery_jobs_invoice", "organization_id", "invoice_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    #: invoice | dunning | payment_confirmation | share
    purpose: Mapped[str] = mapped_column(String(30))
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the command that asked for it
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()
