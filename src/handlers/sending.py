"""``send_invoice`` and the payment confirmation of ``mark_paid``: documents and email.

The commands only record what is to be delivered (a ``delivery_jobs`` row, in their own
transaction); :mod:`invoicing.handlers.deliveries` runs each delivery after the commit as its
own step. This module holds the two delivery purposes it owns:

* ``invoice`` (``send_invoice``): a draft is finalized in the step, after the e-invoice of the
  would-be document (with a provisional number) passed the official rules, so a document that
  fails them never takes a number; then the frozen PDF and the validated e-invoice are
  attached and ``invoice.sent`` is published.
* ``payment_confirmation`` (``mark_paid`` with ``send_notification``): the confirmation email,
  then ``payment.confirmation_sent``.

Every email goes out at most once through the journal (``email_deliveries``, committed before
the SMTP conversation); see docs/sending.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from invoicing.documents.pdf.i18n import BABEL_LOCALE
from invoicing.documents.pdf.view import payment_reference
from invoicing.documents.store import Document
from invoicing.domain.contact import distinct_recipients
from invoicing.domain.errors import DomainError, InvalidState
from invoicing.domain.states import check_sendable, sent_status
from invoicing.handlers import numbering, subsidiaries
from invoicing.handlers.deliveries import (
    Claim,
    Delivered,
    Prepared,
    StepContext,
    content_fingerprint,
    documents_for,
    einvoice_format,
    einvoice_name,
    einvoice_precheck,
    job_id_for,
    purpose,
    schedule,
    validate_would_be,
)
from invoicing.handlers.lifecycle import SERIES, prepare_finalize, take_number
from invoicing.handlers.registry import Deps, Event, handles, invoice_event
from invoicing.handlers.repository import calendar_day, get_invoice, get_organization, profile
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state
from invoicing.mail.message import Attachment, OutgoingMail, message_id_for
from invoicing.models import Invoice, Organization
from invoicing.schemas.commands import MarkPaid
from invoicing.schemas.events import InvoiceState
from invoicing.schemas.sending import SendInvoice
from invoicing.texts import LANGUAGES, text
from invoicing.texts.formatting import money

INVOICE = "invoice"
PAYMENT_CONFIRMATION = "payment_confirmation"

#: the document kinds of the mail texts: a credit note that corrects no particular invoice is
#: a "Korrekturbeleg", as its PDF is titled, not a "Rechnungskorrektur" (docs/legal-mentions.md)
MAIL_KINDS = ("invoice", "credit_note", "quote", "standalone_credit_note")
#: per language: document kind -> short title / "our invoice" (texts from the catalog)
SHORT_TITLES = {
    lang: {k: text(f"document.title.{k}", lang) for k in MAIL_KINDS} for lang in LANGUAGES
}
ARTICLES = {
    lang: {k: text(f"document.article.{k}", lang) for k in MAIL_KINDS} for lang in LANGUAGES
}


def mail_kind(state: InvoiceState) -> str:
    """The kind the mail texts name: ``standalone_credit_note`` for a credit note of no
    particular invoice, else the document's kind."""
    if state.kind == "credit_note" and not state.credited_invoice_number:
        return "standalone_credit_note"
    return state.kind


def _fmt_date(value: dt.date | None, lang: str) -> str:
    if value is None:
        return ""
    return str(format_date(value, format="medium", locale=BABEL_LOCALE.get(lang, "en_GB")))


def mail_context(state: InvoiceState, lang: str) -> dict[str, Any]:
    """The placeholders of an invoice's mail templates in ``lang`` (the dunning notices'
    templates start from the same ones)."""
    buyer, seller = state.buyer, state.seller
    contact = ""
    if buyer is not None:
        contact = " ".join(p for p in (buyer.given_name, buyer.family_name) if p)
    open_amount = state.totals.open_amount if state.kind == "invoice" else Decimal(0)
    return {
        "title": SHORT_TITLES[lang][mail_kind(state)],
        "document_article": ARTICLES[lang][mail_kind(state)],
        "number": state.number or "",
        "issue_date": _fmt_date(state.issue_date, lang),
        "due_date": _fmt_date(state.due_date, lang),
        "gross_total": money(state.totals.gross_total, state.currency, lang),
        "open_amount": money(open_amount, state.currency, lang) if open_amount > 0 else "",
        "seller_name": seller.name if seller else "",
        "contact_name": contact,
        "iban": (seller.iban or "") if seller else "",
        "reference": payment_reference(state) or "",
        "einvoice": "",
        # a credit note names the invoice it corrects; a quote the last day it holds
        "credited_number": state.credited_invoice_number or "",
        "credited_date": _fmt_date(state.credited_invoice_issue_date, lang),
        "valid_until": _fmt_date(state.due_date, lang) if state.kind == "quote" else "",
    }


def compose_mail(
    deps: Deps,
    org_profile: dict[str, Any],
    state: InvoiceState,
    *,
    key: uuid.UUID,
    purpose: str,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    subject: str | None,
    body: str | None,
    context: dict[str, Any],
    attachments: list[Document],
    now: dt.datetime,
) -> OutgoingMail:
    """The email of one delivery; ``key`` seeds its deterministic Message-ID. ``org_profile``
    is the issuer's as it is now (``subsidiaries.issuer_profile``): its email is the Reply-To,
    the subsidiary's for a subsidiary's invoice."""
    settings = deps.smtp_settings
    to, cc, bcc = distinct_recipients(to, cc, bcc)  # each address once
    lang = state.locale if state.locale in SHORT_TITLES else "en"
    texts = deps.mail_templates.compose(purpose, lang, context, subject=subject, body=body)
    reply_to = org_profile.get("email") if settings.reply_to_organization else None
    return OutgoingMail(
        sender=settings.sender,
        sender_name=settings.sender_name or (state.seller.name if state.seller else None),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=texts.subject,
        text=texts.text,
        html=texts.html,
        message_id=message_id_for(state.organization_id, key, purpose, settings.id_domain()),
        reply_to=reply_to if isinstance(reply_to, str) and "@" in reply_to else None,
        date=now,
        attachments=[
            Attachment(d.filename, d.content, *d.media_type.split("/", 1)) for d in attachments
        ],
        headers={"X-Invoice-Number": state.number or ""},
    )


def lang_of(state: InvoiceState) -> str:
    return state.locale if state.locale in SHORT_TITLES else "en"


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


# ----------------------------------------------------------------------------- send_invoice


def _would_be(uow: UnitOfWork, deps: Deps, org: Organization, inv: Invoice) -> InvoiceState:
    """The state a draft would have once finalized, with the number the next finalize would
    get (provisional, no lock). Nothing is flushed; the caller rolls back."""
    with uow.session.no_autoflush:
        issued = prepare_finalize(uow, deps, org, inv)
        numbering.set_number(inv, numbering.peek(uow, org, SERIES[inv.kind], issued))
        return invoice_state(inv)


@handles(SendInvoice, takes_number=True)
def send_invoice(cmd: SendInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Check what can be checked now, then record the delivery; the step does the rest."""
    p = cmd.payload
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, p.invoice_id)
    check_sendable(inv.status)
    if inv.status == "draft":  # finalize's checks now (rolled back): a draft that can't be
        savepoint = uow.session.begin_nested()  # finalized is rejected with the command
        try:
            state = _would_be(uow, deps, org, inv)
        finally:
            savepoint.rollback()
    else:
        state = invoice_state(inv)
    if p.to is None:
        _default_to(state)
    einvoice_precheck(state, profile(org).get("einvoice_format"), p.attach_xml)
    schedule(
        uow,
        job_id=job_id_for(org.id, cmd.command_id, f"delivery-job:{INVOICE}"),
        organization_id=org.id,
        invoice_id=inv.id,
        purpose=INVOICE,
        command_id=cmd.command_id,
        correlation_id=cmd.correlation_id,
        payload=p.model_dump(mode="json"),
        now=deps.now(),
    )
    return []


@purpose(INVOICE, scheduled_by=("send_invoice",))
class InvoiceDelivery:
    """The step of ``send_invoice``: finalize a draft (validated first), documents, email."""

    def _finalize_draft(self, ctx: StepContext, claim: Claim, attach_xml: bool) -> None:
        deps = ctx.deps
        for _ in range(3):
            with ctx.uow() as uow:
                org = get_organization(uow, claim.organization_id)
                inv = get_invoice(uow, org.id, claim.invoice_id, lock=False)
                if inv.status != "draft":
                    return
                would_be = _would_be(uow, deps, org, inv)
                org_format = profile(org).get("einvoice_format")
            fmt = einvoice_format(would_be, org_format, attach_xml)
            # outside any transaction: the e-invoice of the would-be document must pass the
            # official rules before a number is taken (DomainError: the job fails, no number)
            fingerprint = validate_would_be(would_be, fmt) if fmt is not None else None
            with ctx.uow() as uow:
                if not ctx.owns(uow, claim):
                    raise RuntimeError("the delivery's claim ran out while it was prepared")
                org = get_organization(uow, claim.organization_id)
                inv = get_invoice(uow, org.id, claim.invoice_id)
                if inv.status != "draft":
                    return
                with uow.session.no_autoflush:  # nothing is written before the number
                    issued = prepare_finalize(uow, deps, org, inv)
                    if fingerprint is not None and (
                        content_fingerprint(invoice_state(inv), fmt) != fingerprint
                    ):
                        continue  # the draft changed since it was validated: validate again
                events = take_number(uow, deps, org, inv, issued)  # the series lock: from here
                rows = ctx.write_events(uow, claim, events, "finalize")
                uow.commit()
                ctx.emitted += rows
                return
        raise RuntimeError("the draft kept changing while its e-invoice was validated")

    def prepare(self, ctx: StepContext, claim: Claim) -> Prepared:
        p = SendInvoice.Payload.model_validate(claim.payload)
        self._finalize_draft(ctx, claim, p.attach_xml)
        with ctx.uow() as uow:
            org = get_organization(uow, claim.organization_id)
            inv = get_invoice(uow, org.id, claim.invoice_id, lock=False)
            if inv.status in ("void", "draft"):
                raise InvalidState(
                    "invalid_state",
                    f"a {inv.status} invoice cannot be sent",
                    pointer="/invoice_id",
                )
            state = invoice_state(inv)
            org_profile = subsidiaries.issuer_profile(uow, org, inv.subsidiary_id)
        docs = documents_for(
            ctx,
            claim.organization_id,
            claim.invoice_id,
            attach_xml=p.attach_xml,
            org_default_format=org_profile.get("einvoice_format"),
        )
        to = list(p.to) if p.to is not None else _default_to(state)
        lang = lang_of(state)
        context = mail_context(state, lang)
        context["einvoice"] = einvoice_name(docs.einvoice_format)
        mail = compose_mail(
            ctx.deps,
            org_profile,
            state,
            key=claim.command_id,
            purpose=INVOICE,
            to=to,
            cc=list(p.cc),
            bcc=list(p.bcc),
            subject=p.subject,
            body=p.body,
            context=context,
            attachments=docs.documents,
            now=ctx.now(),
        )
        return Prepared(
            mail, claim.command_id, docs.documents, {"einvoice_format": docs.einvoice_format}
        )

    def record(
        self,
        ctx: StepContext,
        uow: UnitOfWork,
        claim: Claim,
        inv: Invoice,
        prepared: Prepared,
        delivered: Delivered,
    ) -> list[Event]:
        now = ctx.now()
        first = inv.sent_at is None
        if inv.status != "void":  # voided while the email was on its way: it was sent anyway
            inv.sent_at = inv.sent_at or now
            inv.status = sent_status(inv.status)
        return [
            invoice_event(
                "invoice.sent",
                inv,
                now,
                first_delivery=first,
                channel="email",
                message_id=delivered.message_id,
                delivery_status=delivered.status,
                recipients=delivered.recipients,
                refused_recipients=delivered.refused,
                documents=[d.ref() for d in prepared.documents],
                einvoice_format=prepared.extra.get("einvoice_format"),
                delivery_id=str(claim.id),
            )
        ]


# ----------------------------------------------------------------------------- mark_paid hook


def notify_payment(cmd: MarkPaid, uow: UnitOfWork, deps: Deps, inv: Invoice) -> dict[str, Any]:
    """``Deps.payment_notifier`` of ``mark_paid``: records the confirmation's delivery job (the
    email goes out after the commit); returns what ``payment.recorded`` reports."""
    state = invoice_state(inv)
    to = _default_to(state)
    payment = state.payments[-1] if state.payments else None
    job_id = job_id_for(inv.organization_id, cmd.command_id, f"delivery-job:{PAYMENT_CONFIRMATION}")
    schedule(
        uow,
        job_id=job_id,
        organization_id=inv.organization_id,
        invoice_id=inv.id,
        purpose=PAYMENT_CONFIRMATION,
        command_id=cmd.command_id,
        correlation_id=cmd.correlation_id,
        payload={
            "payment_id": str(payment.id) if payment else None,
            "amount": str(payment.amount) if payment else str(state.totals.paid_amount),
            "date": (
                payment.date if payment else calendar_day(uow, inv.organization_id, deps)
            ).isoformat(),
        },
        now=deps.now(),
    )
    return {
        "message_id": message_id_for(
            inv.organization_id,
            cmd.command_id,
            PAYMENT_CONFIRMATION,
            deps.smtp_settings.id_domain(),
        ),
        "status": "queued",
        "delivery_id": str(job_id),
        "recipients": {"to": to, "cc": [], "bcc": []},
    }


@purpose(PAYMENT_CONFIRMATION, scheduled_by=("mark_paid",))
class PaymentConfirmationDelivery:
    def prepare(self, ctx: StepContext, claim: Claim) -> Prepared:
        with ctx.uow() as uow:
            org = get_organization(uow, claim.organization_id)
            inv = get_invoice(uow, org.id, claim.invoice_id, lock=False)
            state = invoice_state(inv)
            org_profile = subsidiaries.issuer_profile(uow, org, inv.subsidiary_id)
        lang = lang_of(state)
        context = mail_context(state, lang)
        context["payment_amount"] = money(
            Decimal(str(claim.payload["amount"])), state.currency, lang
        )
        context["payment_date"] = _fmt_date(dt.date.fromisoformat(claim.payload["date"]), lang)
        mail = compose_mail(
            ctx.deps,
            org_profile,
            state,
            key=claim.command_id,
            purpose=PAYMENT_CONFIRMATION,
            to=_default_to(state),
            cc=[],
            bcc=[],
            subject=None,
            body=None,
            context=context,
            attachments=[],
            now=ctx.now(),
        )
        return Prepared(mail, claim.command_id, [])

    def record(
        self,
        ctx: StepContext,
        uow: UnitOfWork,
        claim: Claim,
        inv: Invoice,
        prepared: Prepared,
        delivered: Delivered,
    ) -> list[Event]:
        return [
            invoice_event(
                "payment.confirmation_sent",
                inv,
                ctx.now(),
                payment_id=claim.payload.get("payment_id"),
                message_id=delivered.message_id,
                delivery_status=delivered.status,
                recipients=delivered.recipients,
                delivery_id=str(claim.id),
            )
        ]
