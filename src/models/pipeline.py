"""Tables of the message pipeline that the handlers never touch."""

from __future__ import annotations

import datetime as dt

from invoicing.models.base import Base
from sqlalchemy import Integer, String
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
