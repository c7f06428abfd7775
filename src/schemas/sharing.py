"""Share links (seed 003 publish/unpublish).

``publish_invoice`` makes a document viewable through a random share token. The service stores
only the token's SHA-256; the token itself is carried once, in the ``invoice.published`` event.
``unpublish_invoice`` revokes the token. The invoice stays finalized: an issued invoice never
returns to draft (German and Belgian law; docs/design.md). See docs/dunning.md, "Share links".
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from invoicing.schemas.commands import Command, InvoiceRef
from pydantic import Field


class PublishInvoice(Command):
    """Finalize a draft (like ``mark_sent``) and create a new share token.

    Publishing an already published invoice revokes the earlier token and issues a new one.
    """

    type: Literal["publish_invoice"] = "publish_invoice"

    class Payload(InvoiceRef):
        expires_on: dt.date | None = Field(
            default=None, description="last day the link works; none: until unpublished"
        )

    payload: Payload


class UnpublishInvoice(Command):
    """Revoke the share token(s); the invoice stays finalized (no return to draft)."""

    type: Literal["unpublish_invoice"] = "unpublish_invoice"
    payload: InvoiceRef
