"""The invoice row <-> the domain ledger (domain/ledger.py): load it, store what follows."""

from __future__ import annotations

from decimal import Decimal

from invoicing.domain.ledger import GroupAmount, Ledger
from invoicing.domain.tax import TaxCategory
from invoicing.models import Invoice
from invoicing.models.records import InvoiceRecord


def ledger_of(inv: InvoiceRecord) -> Ledger:
    """The invoice's ledger: its frozen VAT breakdown, its movements and its payments."""
    return Ledger.of(inv.currency, inv.tax_breakdown or [], inv.ledger or [], inv.paid_amount)


def store(inv: Invoice, ledger: Ledger) -> None:
    """Write the movements and the totals that derive from them (the columns queries use)."""
    inv.ledger = ledger.movements_json()
    inv.credited_amount = ledger.credited_gross
    inv.credited_net = ledger.credited_net
    inv.written_off_amount = ledger.written_off_gross


def document_groups(doc: InvoiceRecord) -> list[GroupAmount]:
    """A document's VAT breakdown as ledger amounts (BT-116 net, BT-117 VAT per group)."""
    return [
        GroupAmount(
            TaxCategory(g["category"]),
            Decimal(str(g["rate"])),
            Decimal(str(g["taxable_amount"])),
            Decimal(str(g["tax_amount"])),
        )
        for g in doc.tax_breakdown or []
    ]
