"""``send_invoice`` and the payment confirmation of ``mark_paid``: documents and email.

Collaborators (typed fields of ``Deps``, built in ``invoicing.bootstrap.build_deps``):

=====================  ==========================================================
``mailer``             ``send(EmailMessage, envelope_from, recipients)`` returning the
                       refused recipients (``invoicing.mail.SmtpSender``)
``smtp_settings``      ``invoicing.mail.SmtpSettings`` (sender, Message-ID domain)
``document_store``     ``invoicing.documents.store.DocumentStore``
``pdf_renderer``       ``PdfRenderer`` (per-organization templates)
``mail_templates``     ``invoicing.mail.texts.MailTemplates``
``delivery_journal``   :class:`DatabaseJournal` (PostgreSQL) or :class:`FileJournal` (SQLite)
``payment_notifier``   :func:`notify_payment`
=====================  ==========================================================

Exactly-once as far as it can be had (docs/sending.md): before talking to the SMTP server the
handler records the delivery as ``sending`` in a step that commits on its own (a separate
connection on PostgreSQL; an fsynced journal file on SQLite, whose single writer lock the
command's transaction holds). When a redelivered command finds that record it does not send
again: the delivery becomes ``uncertain`` and ``invoice.sent`` says so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency
from invoicing.documents.pdf.i18n import BABEL_LOCALE
from invoicing.documents.pdf.view import payment_reference
from invoicing.documents.store import Document
from invoicing.domain.errors import DomainError, InvalidState
from invoicing.handlers.lifecycle import finalize, mark_as_sent
from invoicing.handlers.ports import DeliveryRecord, Journal
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import get_invoice, get_organization, profile
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state
from invoicing.mail.message import Attachment, OutgoingMail, build_message, message_id_for
from invoicing.mail.sender import MailPermanentError, MailTransientError
from invoicing.models import Invoice, Organization
from invoicing.models.documents import EmailDelivery
from invoicing.schemas.commands import MarkPaid
from invoicing.schemas.events import InvoiceState
from invoicing.schemas.sending import SendInvoice
from sqlalchemy import Engine, Table, insert, select, update

try:  # the e-invoice package is optional at import time (PDF-only sending without it)
    from invoicing.documents import einvoice as _einvoice
except ImportError:  # pragma: no cover - exercised only in a tree without src/documents/einvoice
    _einvoice = None  # type: ignore[assignment]

_DELIVERIES: Table = EmailDelivery.__table__  # type: ignore[assignment]
INVOICE = "invoice"
PAYMENT_CONFIRMATION = "payment_confirmation"

SHORT_TITLES = {
    "de": {"invoice": "Rechnung", "credit_note": "Rechnungskorrektur", "quote": "Angebot"},
    "en": {"invoice": "Invoice", "credit_note": "Credit note", "quote": "Quote"},
    "fr": {"invoice": "Facture", "credit_note": "Note de crédit", "quote": "Offre"},
    "nl": {"invoice": "Factuur", "credit_note": "Creditnota", "quote": "Offerte"},
}
ARTICLES = {
    "de": {
        "invoice": "unsere Rechnung",
        "credit_note": "unsere Rechnungskorrektur",
        "quote": "unser Angebot",
    },
    "en": {"invoice": "our invoice", "credit_note": "our credit note", "quote": "our quote"},
    "fr": {
        "invoice": "notre facture",
        "credit_note": "notre note de crédit",
        "quote": "notre offre",
    },
    "nl": {"invoice": "onze factuur", "credit_note": "onze creditnota", "quote": "onze offerte"},
}


# ----------------------------------------------------------------------------- journal


class DatabaseJournal:
    """PostgreSQL: the ``email_deliveries`` row, committed on a separate connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def begin(self, record: DeliveryRecord, now: dt.datetime) -> str | None:
        table = _DELIVERIES
        with self.engine.begin() as conn:
            row = conn.execute(
                select(table.c.status, table.c.attempts)
                .where(
                    table.c.organization_id == record.organization_id,
                    table.c.command_id == record.command_id,
                    table.c.purpose == record.purpose,
                )
                .with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    insert(table).values(
                        id=record.id,
                        organization_id=record.organization_id,
                        invoice_id=record.invoice_id,
                        command_id=record.command_id,
                        purpose=record.purpose,
                        message_id=record.message_id,
                        sender=record.sender,
                        recipients=record.recipients,
                        subject=record.subject,
                        attachments=record.attachments,
                        status="sending",
                        attempts=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return None
            if row.status == "failed":
                conn.execute(
                    update(table)
                    .where(table.c.id == record.id)
                    .values(status="sending", attempts=row.attempts + 1, updated_at=now)
                )
            return str(row.status)

    def finish(self, record: DeliveryRecord, status: str, error: str | None) -> None:
        table = _DELIVERIES
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == record.id)
                .values(status=status, error=error, updated_at=dt.datetime.now(dt.UTC))
            )


class FileJournal:
    """SQLite: one fsynced JSON file per delivery under ``directory``.

    The command's transaction holds SQLite's only write lock, so a second connection cannot
    commit before the send; a file rename is the durable step instead. The journal must live on
    the same machine as the SQLite file (it does: both are under ``data_dir``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, record: DeliveryRecord) -> Path:
        return (
            self.directory
            / str(record.organization_id)
            / f"{record.command_id}-{record.purpose}.json"
        )

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def begin(self, record: DeliveryRecord, now: dt.datetime) -> str | None:
        path = self._path(record)
        previous: str | None = None
        attempts = 1
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            previous = str(data["status"])
            attempts = int(data.get("attempts", 1)) + 1
            if previous != "failed":
                return previous
        self._write(
            path,
            {
                "status": "sending",
                "message_id": record.message_id,
                "invoice_id": str(record.invoice_id),
                "attempts": attempts,
                "at": now.isoformat(),
            },
        )
        return previous

    def finish(self, record: DeliveryRecord, status: str, error: str | None) -> None:
        path = self._path(record)
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        data.update(status=status, error=error)
        self._write(path, data)


# ----------------------------------------------------------------------------- documents


def _safe_name(number: str | None, fallback: uuid.UUID) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", number or str(fallback))


@dataclass(frozen=True)
class Attachments:
    documents: list[Document]
    einvoice_format: str | None
    note: str | None  # why no e-invoice was attached, when the format asked for one


def documents_for(
    uow: UnitOfWork,
    deps: Deps,
    org: Organization,
    inv: Invoice,
    state: InvoiceState,
    *,
    attach_xml: bool,
) -> Attachments:
    """The frozen PDF (hybrid Factur-X for ``zugferd``) and the validated XML, from the store."""
    store = deps.document_store
    frozen = inv.status != "draft"
    renderer = deps.pdf_renderer
    base = _safe_name(state.number, state.id)
    fmt = None
    note = None
    if attach_xml and state.kind != "quote":
        if _einvoice is None:
            note = "e-invoice builder not installed: PDF only"
        else:
            fmt = _einvoice.select_format(state, profile(org).get("einvoice_format"))

    def obtain(kind: str, filename: str, produce: Callable[[], bytes]) -> Document:
        media_type = "application/xml" if filename.endswith(".xml") else "application/pdf"
        return store.obtain(
            uow.session,
            org_id=inv.organization_id,
            invoice_id=inv.id,
            kind=kind,
            filename=filename,
            media_type=media_type,
            frozen=frozen,
            produce=produce,
            now=deps.now(),
        )

    plain = obtain("pdf", f"{base}.pdf", lambda: renderer.render(state))
    if fmt is None or _einvoice is None:
        return Attachments([plain], None, note)
    if fmt is _einvoice.EInvoiceFormat.ZUGFERD:
        hybrid = store.get(uow.session, inv.organization_id, inv.id, "facturx-pdf")
        if hybrid is None or not hybrid.frozen:
            built = _einvoice.documents_for_sending(state, fmt, plain.content)  # validates
            hybrid = obtain("facturx-pdf", f"{base}.pdf", lambda: built.pdf)
        return Attachments([hybrid], fmt.value, None)
    xml = store.get(uow.session, inv.organization_id, inv.id, f"xml-{fmt.value}")
    if xml is None or not xml.frozen:
        built = _einvoice.documents_for_sending(state, fmt, plain.content)  # validates
        if built.xml is None:
            raise RuntimeError(f"the {fmt.value} builder returned no XML")
        xml_bytes, xml_name = built.xml.xml, built.xml.filename
        xml = obtain(f"xml-{fmt.value}", xml_name, lambda: xml_bytes)
    return Attachments([plain, xml], fmt.value, None)


# ----------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryOutcome:
    message_id: str
    status: str  # sent | uncertain
    recipients: dict[str, list[str]]
    refused: list[str]


def deliver(
    uow: UnitOfWork,
    deps: Deps,
    *,
    inv: Invoice,
    command_id: uuid.UUID,
    purpose: str,
    mail: OutgoingMail,
    attachments: list[Document],
) -> DeliveryOutcome:
    """Send ``mail`` at most once per (command, purpose) and record it in ``email_deliveries``."""
    mailer = deps.mailer
    recipients = {"to": mail.to, "cc": mail.cc, "bcc": mail.bcc}
    record = DeliveryRecord(
        id=uuid.uuid5(command_id, f"delivery:{purpose}"),
        organization_id=inv.organization_id,
        invoice_id=inv.id,
        command_id=command_id,
        purpose=purpose,
        message_id=mail.message_id,
        sender=mail.sender,
        recipients=recipients,
        subject=mail.subject[:1000],
        attachments=[{"filename": d.filename, "sha256": d.sha256} for d in attachments],
    )
    journal: Journal = deps.delivery_journal
    previous = journal.begin(record, deps.now())
    refused: list[str] = []
    if previous in (None, "failed"):
        try:
            refused_map = mailer.send(build_message(mail), mail.sender, mail.envelope_recipients)
        except MailPermanentError as exc:
            journal.finish(record, "failed", str(exc)[:2000])
            raise DomainError(
                "delivery_failed",
                f"the mail server refused the message: {exc}",
                pointer="/to" if exc.recipients else "",
                hint="check the recipients' addresses"
                if exc.recipients
                else "the mail server refused the session or the message: check the SMTP "
                "settings (INVOICING_SMTP_*: credentials, security) and the server's policy, "
                "then send again with a new command_id; nothing was sent",
            ) from exc
        except MailTransientError as exc:
            journal.finish(record, "failed", str(exc)[:2000])
            raise  # not a business failure: the worker retries the command later
        refused = sorted(refused_map)
        status = "sent"
    else:
        status = "sent" if previous == "sent" else "uncertain"
    row = uow.session.get(EmailDelivery, record.id)
    now = deps.now()
    if row is None:
        row = EmailDelivery(
            id=record.id,
            organization_id=record.organization_id,
            invoice_id=record.invoice_id,
            command_id=record.command_id,
            purpose=purpose,
            message_id=record.message_id,
            sender=record.sender,
            recipients=recipients,
            subject=record.subject,
            attachments=record.attachments,
            attempts=1,
            created_at=now,
        )
        uow.session.add(row)
    row.status, row.updated_at = status, now
    row.error = f"refused: {', '.join(refused)}" if refused else None
    if status == "uncertain":
        row.error = "a previous attempt may have been accepted by the server; not sent again"
    row.sent_at = now if status == "sent" else None
    if uow.dialect == "sqlite":
        journal.finish(record, status, row.error)
    uow.session.flush()
    return DeliveryOutcome(record.message_id, status, recipients, refused)


def _fmt_money(value: Decimal, currency: str, lang: str) -> str:
    return str(format_currency(value, currency, locale=BABEL_LOCALE.get(lang, "en_GB")))


def _fmt_date(value: dt.date | None, lang: str) -> str:
    if value is None:
        return ""
    return str(format_date(value, format="medium", locale=BABEL_LOCALE.get(lang, "en_GB")))


def _context(state: InvoiceState, lang: str) -> dict[str, Any]:
    buyer, seller = state.buyer, state.seller
    contact = ""
    if buyer is not None:
        contact = " ".join(p for p in (buyer.given_name, buyer.family_name) if p)
    open_amount = state.totals.open_amount if state.kind == "invoice" else Decimal(0)
    return {
        "title": SHORT_TITLES[lang][state.kind],
        "document_article": ARTICLES[lang][state.kind],
        "number": state.number or "",
        "issue_date": _fmt_date(state.issue_date, lang),
        "due_date": _fmt_date(state.due_date, lang),
        "gross_total": _fmt_money(state.totals.gross_total, state.currency, lang),
        "open_amount": _fmt_money(open_amount, state.currency, lang) if open_amount > 0 else "",
        "seller_name": seller.name if seller else "",
        "contact_name": contact,
        "iban": (seller.iban or "") if seller else "",
        "reference": payment_reference(state) or "",
        "einvoice": "",
    }


def _mail(
    deps: Deps,
    org: Organization,
    state: InvoiceState,
    *,
    command_id: uuid.UUID,
    purpose: str,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    subject: str | None,
    body: str | None,
    context: dict[str, Any],
    attachments: list[Document],
) -> OutgoingMail:
    settings = deps.smtp_settings
    lang = state.locale if state.locale in SHORT_TITLES else "en"
    texts = deps.mail_templates.compose(purpose, lang, context, subject=subject, body=body)
    reply_to = profile(org).get("email") if settings.reply_to_organization else None
    return OutgoingMail(
        sender=settings.sender,
        sender_name=settings.sender_name or (state.seller.name if state.seller else None),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=texts.subject,
        text=texts.text,
        html=texts.html,
        message_id=message_id_for(state.organization_id, command_id, purpose, settings.id_domain()),
        reply_to=reply_to if isinstance(reply_to, str) and "@" in reply_to else None,
        date=deps.now(),
        attachments=[
            Attachment(d.filename, d.content, *d.media_type.split("/", 1)) for d in attachments
        ],
        headers={"X-Invoice-Number": state.number or ""},
    )


def _default_to(state: InvoiceState) -> list[str]:
    email = state.buyer.email if state.buyer is not None else None
    if not email:
        raise DomainError(
            "invalid_attribute",
            "can't be blank",
            pointer="/to",
            hint="give recipients in `to` or set the customer's email",
        )
    return [email]


@handles(SendInvoice)
def send_invoice(cmd: SendInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, p.invoice_id)
    if inv.status == "void":
        raise InvalidState("invalid_state", "a void invoice cannot be sent", pointer="/invoice_id")
    events: list[Event] = []
    if inv.status == "draft":
        events += finalize(uow, deps, org, inv)
    state = invoice_state(inv)
    to = list(p.to) if p.to is not None else _default_to(state)
    docs = documents_for(uow, deps, org, inv, state, attach_xml=p.attach_xml)
    lang = state.locale if state.locale in SHORT_TITLES else "en"
    context = _context(state, lang)
    context["einvoice"] = docs.einvoice_format or ""
    mail = _mail(
        deps,
        org,
        state,
        command_id=cmd.command_id,
        purpose=INVOICE,
        to=to,
        cc=list(p.cc),
        bcc=list(p.bcc),
        subject=p.subject,
        body=p.body,
        context=context,
        attachments=docs.documents,
    )
    outcome = deliver(
        uow,
        deps,
        inv=inv,
        command_id=cmd.command_id,
        purpose=INVOICE,
        mail=mail,
        attachments=docs.documents,
    )
    events += mark_as_sent(
        uow,
        deps,
        org,
        inv,
        channel="email",
        message_id=outcome.message_id,
        delivery_status=outcome.status,
        recipients=outcome.recipients,
        refused_recipients=outcome.refused,
        documents=[
            {"kind": d.kind, "filename": d.filename, "sha256": d.sha256} for d in docs.documents
        ],
        einvoice_format=docs.einvoice_format,
    )
    return events


# ----------------------------------------------------------------------------- mark_paid hook


def send_payment_confirmation(
    cmd: MarkPaid, uow: UnitOfWork, deps: Deps, inv: Invoice
) -> DeliveryOutcome:
    org = get_organization(uow, cmd.organization_id)
    state = invoice_state(inv)
    lang = state.locale if state.locale in SHORT_TITLES else "en"
    payment = state.payments[-1] if state.payments else None
    context = _context(state, lang)
    context["payment_amount"] = _fmt_money(
        payment.amount if payment else state.totals.paid_amount, state.currency, lang
    )
    context["payment_date"] = _fmt_date(payment.date if payment else deps.today(), lang)
    mail = _mail(
        deps,
        org,
        state,
        command_id=cmd.command_id,
        purpose=PAYMENT_CONFIRMATION,
        to=_default_to(state),
        cc=[],
        bcc=[],
        subject=None,
        body=None,
        context=context,
        attachments=[],
    )
    return deliver(
        uow,
        deps,
        inv=inv,
        command_id=cmd.command_id,
        purpose=PAYMENT_CONFIRMATION,
        mail=mail,
        attachments=[],
    )


def notify_payment(cmd: MarkPaid, uow: UnitOfWork, deps: Deps, inv: Invoice) -> dict[str, Any]:
    """The ``payment_notifier`` service of ``mark_paid``: the confirmation email, at most once
    per command (journal first, like an invoice email); returns what the event reports."""
    outcome = send_payment_confirmation(cmd, uow, deps, inv)
    return {
        "message_id": outcome.message_id,
        "status": outcome.status,
        "recipients": outcome.recipients,
    }
