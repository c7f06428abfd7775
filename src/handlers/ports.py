"""The collaborators a handler may use, as Protocols (the fields of ``registry.Deps``).

They are built once per process in ``invoicing.bootstrap`` (``build_deps``) and nowhere else:
a handler never constructs infrastructure, so it runs under any worker and is testable with
fakes that satisfy these Protocols (tests/support/fakes.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from invoicing.documents.store import Document, DocumentInfo
    from invoicing.handlers.registry import Deps
    from invoicing.handlers.unit_of_work import UnitOfWork
    from invoicing.mail.texts import MailTexts
    from invoicing.models import Invoice
    from invoicing.schemas.commands import MarkPaid
    from invoicing.schemas.events import InvoiceState
    from sqlalchemy.orm import Session


class Clock(Protocol):
    def __call__(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class Mailer(Protocol):
    def send(
        self, message: EmailMessage, envelope_from: str, recipients: list[str]
    ) -> dict[str, Any]:
        """Hand the message to the mail server; return the refused recipients. Raises
        ``MailPermanentError`` (refused) or ``MailTransientError`` (try again later)."""
        ...


class DocumentStorage(Protocol):
    """Documents (PDF, e-invoice XML, export files), recorded in the caller's session
    (``invoicing.documents.store.DocumentStore``: bytes in the database or a directory)."""

    def get(
        self, session: Session, org_id: uuid.UUID, invoice_id: uuid.UUID, kind: str
    ) -> Document | None: ...

    def obtain(
        self,
        session: Session,
        *,
        org_id: uuid.UUID,
        invoice_id: uuid.UUID,
        kind: str,
        filename: str,
        media_type: str,
        frozen: bool,
        produce: Callable[[], bytes],
        now: dt.datetime | None = None,
    ) -> Document: ...

    def put(
        self,
        session: Session,
        *,
        org_id: uuid.UUID,
        document_id: uuid.UUID,
        kind: str,
        filename: str,
        media_type: str,
        source: bytes | Path,
        frozen: bool,
        invoice_id: uuid.UUID | None = None,
        export_id: uuid.UUID | None = None,
        now: dt.datetime | None = None,
    ) -> DocumentInfo: ...

    def info(
        self, session: Session, org_id: uuid.UUID, document_id: uuid.UUID
    ) -> DocumentInfo | None: ...

    def list(
        self,
        session: Session,
        org_id: uuid.UUID,
        *,
        invoice_id: uuid.UUID | None = None,
        export_id: uuid.UUID | None = None,
    ) -> list[DocumentInfo]: ...

    def read(
        self, session: Session, info: DocumentInfo, offset: int = 0, limit: int = -1
    ) -> bytes: ...

    def content(self, session: Session, info: DocumentInfo) -> bytes: ...


class PdfRendering(Protocol):
    def render(
        self,
        state: InvoiceState,
        *,
        template: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> bytes:
        """The PDF/A-3b of the document; ``template``/``view`` render another document about
        it (the dunning notice: ``documents.pdf.dunning.dunning_view``)."""
        ...


class MailComposer(Protocol):
    def compose(
        self,
        purpose: str,
        lang: str,
        context: dict[str, Any],
        *,
        subject: str | None = None,
        body: str | None = None,
    ) -> MailTexts: ...


@dataclass(frozen=True)
class DeliveryRecord:
    id: uuid.UUID
    organization_id: uuid.UUID
    invoice_id: uuid.UUID
    command_id: uuid.UUID
    purpose: str
    message_id: str
    sender: str
    recipients: dict[str, list[str]]
    subject: str
    attachments: list[dict[str, str]]


class Journal(Protocol):
    def begin(self, record: DeliveryRecord, now: dt.datetime) -> str | None:
        """Record ``sending`` durably (committed) and return the previous status, if any.

        ``None`` or ``"failed"``: go ahead and send. Anything else: an earlier attempt of
        the same command may have reached the server; do not send again."""
        ...

    def finish(self, record: DeliveryRecord, status: str, error: str | None) -> None: ...


class PaymentNotifier(Protocol):
    def __call__(self, cmd: MarkPaid, uow: UnitOfWork, deps: Deps, inv: Invoice) -> dict[str, Any]:
        """Send the payment confirmation of ``mark_paid``; return what the event reports."""
        ...
