"""The invoice row <-> the domain ledger (domain/ledger.py): load it, store what follows."""

from __future__ import annotations

from invoicing.domain.ledger import Ledger
from invoicing.models import Invoice


def ledger_of(inv: Invoice) -> Ledger:
    """The invoice's ledger: its frozen VAT breakdown, its movements and its payments."""
    return Ledger.of(inv.currency, inv.tax_breakdown or [], inv.ledger or [], inv.paid_amount)


def store(inv: Invoice, ledger: Ledger) -> None:
    """Write the movements and the totals that derive from them (the columns queries use)."""
    inv.ledger = ledger.movements_json()
    inv.credited_amount = ledger.credited_gross
    inv.credited_net = ledger.credited_net
    inv.written_off_amount = ledger.written_off_gross
