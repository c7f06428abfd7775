"""Accounting integrations other than DATEV (seed 002 ``PATCH …/export`` and ``…/export_update``).

``export_invoice`` records that an integration (Xero, QuickBooks, lexoffice, an ERP …) took
the invoice over: the integration's name, its id of the invoice (``external_id``), a link to
it (``url``) and the integration's id of the customer (``company_reference_id``). It sets
``exported_at`` (``export_status`` = ``exported``) and publishes ``invoice.exported``.

``export_update`` records that an exported invoice changed and what (``changes``), for the
integration to catch up; it publishes ``invoice.export_updated``. The service sends it by
itself when a payment, a credit note, a write-off or a void touches an exported invoice
(``source`` = ``automatic``), in the same transaction as the change; an integration (or a
person) sends the command for anything else (``source`` = ``command``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from invoicing.schemas.commands import Command, InvoiceRef
from pydantic import AnyHttpUrl, Field, StringConstraints

Integration = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_.-]{0,49}$"),
    Field(description="the integration's name, lower case: xero, quickbooks, lexoffice …"),
]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
#: what can change on an exported invoice (the automatic updates use the first six)
Change = Literal[
    "payment",
    "payment_deleted",
    "credit_note",
    "write_off",
    "write_off_reversed",
    "voided",
    "paid",
    "recipient",
    "other",
]
CHANGES: tuple[str, ...] = Change.__args__  # type: ignore[attr-defined]


class ExportInvoice(Command):
    """Mark a finalized invoice exported to an accounting integration (seed 002 ``export``).

    Sending the same integration, id and link again changes nothing (no event); another id or
    link for the same integration replaces the record (the event reports the ``previous``)."""

    type: Literal["export_invoice"] = "export_invoice"

    class Payload(InvoiceRef):
        integration: Integration
        external_id: ExternalId = Field(description="the integration's id of the invoice")
        url: AnyHttpUrl | None = Field(
            default=None, description="the invoice in the integration (seed export_invoice_url)"
        )
        company_reference_id: ExternalId | None = Field(
            default=None, description="the integration's id of the customer"
        )

    payload: Payload


class ExportUpdate(Command):
    """Record that an exported invoice changed and what (seed 002 ``export_update``); the
    ``invoice.export_updated`` event tells the integration's listener to catch up."""

    type: Literal["export_update"] = "export_update"

    class Payload(InvoiceRef):
        integration: Integration | None = Field(
            default=None, description="one integration; none: every one it was exported to"
        )
        changes: list[Change] = Field(min_length=1, max_length=len(CHANGES))
        detail: Annotated[str, StringConstraints(max_length=1000)] | None = None

    payload: Payload
