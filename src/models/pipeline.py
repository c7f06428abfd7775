"""Tables of the message pipeline that the handlers never touch."""

from __future__ import annotations

import datetime as dt

from invoicing.models.base import Base, BigId
from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column


class DeliveryAttempt(Base):
    """``delivery_attempts``: starts of a redelivered message (the crash-loop guard).

    Written with plain SQL by ``AttemptCounter`` (src/workers/middleware.py) in a transaction of
    its own; a row is deleted when its message is done, so the rows left belong to messages
    that were dead-lettered or whose worker died. ``invoicing retention`` deletes those once no
    redelivery can arrive any more.
    """

    __tablename__ = "delivery_attempts"

    message_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime] = mapped_column(index=True)


class ScheduledCommand(Base):
    """``scheduled_commands``: delayed retries of commands, kept in the database until due.

    ``DelayedRetry`` (src/workers/middleware.py) stores a copy here -- the body and the AMQP
    properties as encoded on the wire -- instead of parking it in a broker delay queue, and acks
    the original only after the commit; ``Republisher`` (src/workers/scheduled.py) in every
    worker process publishes rows whose ``due_at`` has passed back to their queue with publisher
    confirms and deletes them in the same transaction. A broker node that dies takes no delayed
    retry with it (docs/pipeline.md, "Delayed retries").
    """

    __tablename__ = "scheduled_commands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    due_at: Mapped[dt.datetime] = mapped_column(index=True)
    #: the workload queue it returns to (routing key on ``invoicing.requeue``)
    queue: Mapped[str] = mapped_column(String(255))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    #: the AMQP basic properties as pika encodes them (headers of any AMQP type survive)
    properties: Mapped[bytes] = mapped_column(LargeBinary)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime]
