"""Share links: ``publish_invoice`` and ``unpublish_invoice`` (what a token opens is read by
``web.shares.resolve``).

The token is ``secrets.token_urlsafe(32)`` (256 bits). Only its SHA-256 is stored
(``invoice_shares``); the token itself leaves the service once, in the ``invoice.published``
event, because commands have no reply. Trade-off (docs/dunning.md, "Share links"): every
listener bound to ``invoice.published`` sees the token, and the outbox row keeps it until the
outbox is pruned. Listeners already receive the whole invoice, so the token gives them nothing
they do not have except a link they could pass on; a leaked token is revoked with
``unpublish_invoice`` (or replaced by publishing again).

Publishing finalizes a draft and marks it sent (like ``mark_sent``, channel ``share_link``)
when it has not been sent yet. Unpublishing only revokes: the invoice stays finalized.

The documents the hosted page offers are the stored ones. Publishing records a delivery job
of purpose ``share`` beside the token; after the commit the delivery runner renders and
validates the PDF and the e-invoice (or finds them frozen already, for an invoice that was
sent by email) and stores them (:class:`ShareDocuments`, event ``invoice.documents_stored``).
"""

from __future__ import annotations

import datetime as dt

from invoicing.domain.errors import DomainError, InvalidState
from invoicing.domain.sharing import check_expiry, new_token
from invoicing.domain.states import check_publishable
from invoicing.handlers.deliveries import (
    Attachments,
    Claim,
    Delivered,
    Prepared,
    StepContext,
    documents_for,
    job_id_for,
    purpose,
    schedule,
)
from invoicing.handlers.lifecycle import mark_as_sent
from invoicing.handlers.registry import Deps, Event, handles, invoice_event
from invoicing.handlers.repository import get_invoice, get_organization, profile, today_of
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Invoice
from invoicing.models.dunning import InvoiceShare
from invoicing.schemas.sharing import PublishInvoice, UnpublishInvoice
from sqlalchemy import select


def _revoke(uow: UnitOfWork, inv: Invoice, now: dt.datetime) -> int:
    active = uow.session.execute(
        select(InvoiceShare).where(
            InvoiceShare.organization_id == inv.organization_id,
            InvoiceShare.invoice_id == inv.id,
            InvoiceShare.revoked_at.is_(None),
        )
    ).scalars()
    count = 0
    for share in active:
        share.revoked_at = now
        count += 1
    return count


def _add_share(
    uow: UnitOfWork, inv: Invoice, digest: str, cmd: PublishInvoice, now: dt.datetime
) -> None:
    share = InvoiceShare(
        token_sha256=digest,
        organization_id=inv.organization_id,
        invoice_id=inv.id,
        command_id=cmd.command_id,
        created_at=now,
        expires_on=cmd.payload.expires_on,
        revoked_at=None,
    )
    uow.session.add(share)
    uow.session.flush()


SHARE = "share"


def _schedule_documents(uow: UnitOfWork, cmd: PublishInvoice, now: dt.datetime) -> None:
    """The ``share`` job: the page's documents are rendered and stored after the commit."""
    schedule(
        uow,
        job_id=job_id_for(cmd.organization_id, cmd.command_id, f"delivery-job:{SHARE}"),
        organization_id=cmd.organization_id,
        invoice_id=cmd.payload.invoice_id,
        purpose=SHARE,
        command_id=cmd.command_id,
        correlation_id=cmd.correlation_id,
        payload={},
        now=now,
    )


@handles(PublishInvoice, takes_number=True)
def publish_invoice(cmd: PublishInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, now = cmd.payload, deps.now()
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, p.invoice_id)
    check_publishable(inv.status)
    check_expiry(p.expires_on, today_of(org, deps))
    events: list[Event] = []
    if inv.sent_at is None:  # finalizes a draft first, like mark_sent
        events += mark_as_sent(uow, deps, org, inv, channel="share_link")
    revoked = _revoke(uow, inv, now)
    token, digest = new_token()
    _add_share(uow, inv, digest, cmd, now)
    _schedule_documents(uow, cmd, now)
    events.append(
        invoice_event(
            "invoice.published",
            inv,
            now,
            share_token=token,
            token_sha256=digest,
            expires_on=p.expires_on.isoformat() if p.expires_on else None,
            revoked_previous=revoked,
        )
    )
    return events


@handles(UnpublishInvoice)
def unpublish_invoice(cmd: UnpublishInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
    now = deps.now()
    revoked = _revoke(uow, inv, now)
    if revoked == 0:
        raise InvalidState(
            "not_published",
            f"{inv.kind} {inv.number or inv.id} has no active share link",
            pointer="/invoice_id",
        )
    uow.session.flush()
    return [invoice_event("invoice.unpublished", inv, now, revoked=revoked)]


@purpose(SHARE, scheduled_by=("publish_invoice",))
class ShareDocuments:
    """The step of ``publish_invoice``: render, validate and store the documents the hosted
    page offers (the PDF, and the e-invoice in the buyer's format). Nothing is sent. An
    e-invoice the official rules refuse is not stored; the PDF still is, and the event says
    why the XML is missing (``einvoice_error``)."""

    def prepare(self, ctx: StepContext, claim: Claim) -> Prepared:
        with ctx.uow() as uow:
            org = get_organization(uow, claim.organization_id)
            org_format = profile(org).get("einvoice_format")
        org_id, inv_id, refused = claim.organization_id, claim.invoice_id, None
        docs: Attachments
        try:
            docs = documents_for(
                ctx, org_id, inv_id, attach_xml=True, org_default_format=org_format
            )
        except DomainError as exc:  # the e-invoice failed the rules: the PDF alone
            refused = {"code": exc.errors[0].code, "detail": str(exc)[:2000]}
            docs = documents_for(
                ctx, org_id, inv_id, attach_xml=False, org_default_format=org_format
            )
        extra = {"einvoice_format": docs.einvoice_format, "einvoice_error": refused}
        return Prepared(None, claim.id, docs.documents, extra)

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
                "invoice.documents_stored",
                inv,
                ctx.now(),
                purpose=SHARE,
                documents=[d.ref() for d in prepared.documents],
                delivery_id=str(claim.id),
                **prepared.extra,
            )
        ]
