"""Assign a document's payment reference (BT-83) at finalize: the Belgian structured
communication, unique per organization (rules in ``domain.payment_reference``)."""

from __future__ import annotations

from invoicing.domain import payment_reference as rules
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models.core import Invoice
from invoicing.models.records import InvoiceDraft
from sqlalchemy import select


def assign(uow: UnitOfWork, inv: InvoiceDraft) -> None:
    """Give a numbered document that gets a structured communication its reference: the one
    derived from its number when no other document of the organization holds it, else the
    next free candidate. One indexed statement (the organization's references among a batch
    of candidates, ``uq_invoices_org_payment_reference``), only for such documents; a second
    one only when all of a batch were taken. The values given earlier in the same transaction
    count as taken (a batch writes its finalizes' UPDATEs at its end). A concurrent finalize
    in another transaction that took the same value in between fails on the unique index and
    runs again (it then sees it taken)."""
    seller = inv.seller or {}
    country = (seller.get("address") or {}).get("country_code")
    if inv.number is None or not rules.gets_structured_communication(
        inv.kind, inv.currency, country
    ):
        inv.payment_reference = None
        return
    given = uow.payment_references.setdefault(inv.organization_id, set())
    start = 0
    while choices := rules.candidates(inv.number, start):
        taken = uow.connection().execute(
            select(Invoice.payment_reference).where(
                Invoice.organization_id == inv.organization_id,
                Invoice.payment_reference.in_(choices),
                Invoice.id != inv.id,
            )
        )
        free = rules.first_free(choices, given | {str(row[0]) for row in taken})
        if free is not None:
            inv.payment_reference = free
            given.add(free)
            return
        start += len(choices)
    inv.payment_reference = None  # no digits: the readers' derivation refuses it as before
