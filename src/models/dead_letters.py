"""The dead-letter archive: every message that reached ``invoicing.dead-letters``.

Filled by ``invoicing dead-letters archive`` (src/workers/dead_letters.py), which stores a row
and acks the dead letter only after the commit; ``invoicing dead-letters redrive ID``
re-publishes the body and marks the row. ``dedupe_key`` makes a re-delivered dead letter (crash
between commit and ack) a no-op, while the same command dead-lettered again after a redrive is
a new row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.models.base import Base, BigId, JSONType, utcnow
from sqlalchemy import Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: the queue it was dead-lettered from (``x-invoicing-queue`` or ``x-death``)
    queue: Mapped[str] = mapped_column(String(255))
    #: routing key for a redrive: the command ``type`` when the body has one
    routing_key: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    command_id: Mapped[str | None] = mapped_column(String(64))
    #: the body's organization_id when it is a valid UUID
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    command_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    #: AMQP headers as received (incl. ``x-death`` and ``x-invoicing-reason``), JSON-safe
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: other AMQP properties (content_type, correlation_id, reply_to, app_id, user_id, ...)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: when the pipeline first saw the message (``x-invoicing-first-seen``, else the first
    #: ``x-death`` time, else when it was archived)
    first_seen_at: Mapped[dt.datetime]
    archived_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="dead")  # dead | redriven
    redrive_count: Mapped[int] = mapped_column(Integer, default=0)
    redriven_at: Mapped[dt.datetime | None]
