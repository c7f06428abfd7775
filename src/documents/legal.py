"""The legal mentions a document carries beyond its tax notes, chosen by the seller's law.

``state.legal_notes`` already holds the tax-category notes (chosen when the document was
calculated: the seller's law, the document's language, the organization's own wording).
Kind-specific mentions are added here, for the PDF and the e-invoice note (BT-22) alike:

* German seller, invoice to a consumer that carried it (``default_note``, decided at finalize):
  the note of § 286 Abs. 3 BGB that the consumer is in default 30 days after due date and
  receipt unless they pay (without it a consumer is in default only after a reminder).
* Belgian seller, credit note that returns VAT: "TVA à reverser à l'État dans la mesure où elle
  a été initialement déduite" / "btw terug te storten aan de Staat in de mate waarin ze
  oorspronkelijk in aftrek werd gebracht" (art. 77 Code TVA; AR/KB n° 4 art. 4 § 2).

docs/legal-mentions.md lists every mandatory mention per seller country and document kind.
"""

from __future__ import annotations

from invoicing.domain.tax import jurisdiction
from invoicing.schemas.events import InvoiceState
from invoicing.texts import text


def seller_country(state: InvoiceState) -> str | None:
    seller = state.seller
    return seller.address.country_code if seller and seller.address else None


def document_notes(state: InvoiceState) -> list[str]:
    """Every legal note of ``state``, in its language: tax notes, then kind mentions."""
    notes = [n for n in state.legal_notes if n]
    law = jurisdiction(seller_country(state))
    if state.default_note and state.kind == "invoice":
        notes.append(text("legal.DE.consumer_default", state.locale))
    if law == "BE" and state.kind == "credit_note" and state.totals.tax_total != 0:
        mention = text("legal.BE.credit_note_repayment", state.locale)
        if mention not in notes:
            notes.append(mention)
    return notes


__all__ = ["document_notes", "seller_country"]
