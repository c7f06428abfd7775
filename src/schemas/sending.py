"""The ``send_invoice`` command: email a document (PDF, and the e-invoice where chosen).

Validated like the seed's send endpoint: every address must be an email (``"x is not an
email"`` at ``/payload/to/0``), and a list, subject or body that is given must not be blank
(``"can't be blank"``). Omitted fields take defaults: ``to`` = the customer's email, ``subject``
and ``body`` = the per-language templates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from invoicing.domain.contact import normalize_email
from invoicing.schemas.commands import Command, InvoiceRef
from pydantic import AfterValidator, Field, StringConstraints


def _email(value: str) -> str:
    normalized = normalize_email(value.strip())
    if normalized is None:
        raise ValueError(f"{value} is not an email")
    return normalized


def _not_blank(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("can't be blank")
    return list(dict.fromkeys(values))  # keep the order, drop duplicates


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
Recipients = Annotated[list[Email], Field(max_length=50), AfterValidator(_not_blank)]
CopyRecipients = Annotated[list[Email], Field(max_length=50), AfterValidator(_dedupe)]


class SendInvoice(Command):
    """Email an invoice, credit note or quote; a draft is finalized first.

    The command records a delivery job; the email goes out after the commit, as its own step
    (a draft is finalized there once its e-invoice passed the official rules), and its outcome
    is ``invoice.sent`` or ``invoice.delivery_failed``. A repeated command id sends nothing
    (see docs/sending.md for what is guaranteed when a worker dies mid-delivery).
    """

    type: Literal["send_invoice"] = "send_invoice"

    class Payload(InvoiceRef):
        to: Recipients | None = Field(default=None, description="default: the customer's email")
        cc: CopyRecipients = Field(default_factory=list)
        bcc: CopyRecipients = Field(default_factory=list)
        subject: (
            Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]
            | None
        ) = Field(default=None, description="default: the template of the document's language")
        body: (
            Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
            | None
        ) = Field(default=None, description="plain text; default: the language's template")
        attach_xml: bool = Field(
            default=True,
            description="attach the e-invoice when the customer's format asks for one",
        )

    payload: Payload
