"""Fakes that satisfy the Protocols of ``invoicing.handlers.ports``, and a ``Deps`` of them.

Handler and pipeline tests use these instead of SMTP servers and Typst (documents go to the
real store, whose bytes live in the test's database); the tests of the real collaborators
build them with ``invoicing.bootstrap.build_deps``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from invoicing.documents.store import DocumentStore
from invoicing.handlers.ports import Clock, DeliveryRecord
from invoicing.handlers.registry import Deps
from invoicing.handlers.sending import notify_payment
from invoicing.mail.settings import SmtpSettings
from invoicing.mail.texts import MailTemplates
from invoicing.schemas.events import InvoiceState


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RecordingMailer:
    """Accepts every message and keeps it."""

    sent: list[tuple[EmailMessage, str, list[str]]] = field(default_factory=list)

    def send(
        self, message: EmailMessage, envelope_from: str, recipients: list[str]
    ) -> dict[str, Any]:
        self.sent.append((message, envelope_from, list(recipients)))
        return {}


@dataclass
class StubRenderer:
    """A fixed placeholder instead of Typst (enough for mail attachments)."""

    rendered: list[uuid.UUID] = field(default_factory=list)

    def render(
        self,
        state: InvoiceState,
        *,
        template: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> bytes:
        self.rendered.append(state.id)
        name = (template or "document").encode()
        return b"%PDF-1.7\n% test " + name + b" " + str(state.id).encode() + b"\n%%EOF\n"


@dataclass
class MemoryJournal:
    statuses: dict[uuid.UUID, str] = field(default_factory=dict)

    def begin(self, record: DeliveryRecord, now: dt.datetime) -> str | None:
        previous = self.statuses.get(record.id)
        self.statuses[record.id] = "sending"
        return previous

    def finish(self, record: DeliveryRecord, status: str, error: str | None) -> None:
        self.statuses[record.id] = status


def fake_deps(
    *, clock: Clock | None = None, export_dir: Path | None = None, **overrides: Any
) -> Deps:
    """A ``Deps`` of fakes; ``overrides`` replace single collaborators by name."""
    deps = Deps(
        clock=clock or utcnow,
        mailer=RecordingMailer(),
        smtp_settings=SmtpSettings(sender="billing@invoicing.test"),
        document_store=DocumentStore(),  # the real store: bytes in the test's database
        pdf_renderer=StubRenderer(),
        mail_templates=MailTemplates(),
        delivery_journal=MemoryJournal(),
        payment_notifier=notify_payment,
        export_dir=export_dir or Path(tempfile.mkdtemp(prefix="invoicing-exports-")),
    )
    for name, value in overrides.items():
        if not hasattr(deps, name):
            raise TypeError(f"Deps has no collaborator {name!r}")
        setattr(deps, name, value)
    return deps
