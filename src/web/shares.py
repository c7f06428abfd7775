"""What a share token opens, told apart as the page needs it: open, expired or nothing.

The token is looked up by its SHA-256 (the primary key of ``invoice_shares``); the stored
digest is compared with ``hmac.compare_digest`` as well. Unknown, revoked, deleted and
malformed tokens all come out as ``missing`` through the same single query, so that the
response cannot tell them apart; ``expired`` is a token that did open the invoice until its
``expires_on`` (the recipient learns only that the link is too old). The day is the
organization's (``domain.calendar``): a link that opens through 31 January closes at midnight
where the organization works, not at UTC's.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from invoicing.domain import calendar
from invoicing.domain.sharing import expired, plausible, token_hash
from invoicing.handlers.views import invoice_state
from invoicing.models import Invoice, Organization
from invoicing.models.documents import StoredDocument
from invoicing.models.dunning import InvoiceShare
from invoicing.schemas.events import InvoiceState
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

#: the digest looked up for a malformed token: no token hashes to it, the query still runs
_NO_DIGEST = "0" * 64


@dataclass(frozen=True)
class StoredFile:
    kind: str
    filename: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Resolved:
    status: Literal["open", "expired", "missing"]
    state: InvoiceState | None = None
    organization_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    pdf: StoredFile | None = None
    xml: StoredFile | None = None
    #: today on the organization's calendar (what the page counts a due date from)
    today: dt.date | None = None


MISSING = Resolved("missing")


def resolve(session: Session, token: str, today: Callable[[str], dt.date]) -> Resolved:
    """``today(zone)``: the day in a time zone (the organization's, ``calendar.zone_of``)."""
    wellformed = plausible(token)
    digest = token_hash(token) if wellformed else _NO_DIGEST
    row = session.execute(
        select(InvoiceShare, Invoice, Organization.profile)
        .outerjoin(
            Invoice,
            and_(
                Invoice.organization_id == InvoiceShare.organization_id,
                Invoice.id == InvoiceShare.invoice_id,
            ),
        )
        .outerjoin(Organization, Organization.id == InvoiceShare.organization_id)
        .where(InvoiceShare.token_sha256 == digest)
    ).first()
    if row is None or not wellformed:
        return MISSING
    share, inv, org_profile = row
    if not hmac.compare_digest(share.token_sha256, digest):
        return MISSING
    if share.revoked_at is not None or inv is None or inv.deleted_at is not None:
        return MISSING
    day = today(calendar.zone_of(org_profile or {}))
    if expired(share.expires_on, day):
        return Resolved("expired")
    docs = session.execute(
        select(StoredDocument).where(
            StoredDocument.organization_id == inv.organization_id,
            StoredDocument.invoice_id == inv.id,
        )
    ).scalars()
    files = {d.kind: StoredFile(d.kind, d.filename, d.media_type, d.size) for d in docs if d.frozen}
    state = invoice_state(inv)
    # stored by the delivery runner after send_invoice or publish_invoice; until then the page
    # offers no download. The hybrid ZUGFeRD PDF carries the XML inside: the PDF to offer.
    pdf = files.get("facturx-pdf") or files.get("pdf")
    xml = next((files[k] for k in sorted(files) if k.startswith("xml-")), None)
    return Resolved(
        "open",
        state,
        inv.organization_id,
        inv.id,
        pdf,
        xml,
        day,
    )
