"""Billable entries: stored once by source id, billed by an invoice line, released again."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from invoicing.domain.billing import (
    UNINVOICED,
    check_billed_once,
    check_claimable,
    check_rewritable,
    check_uninvoiced,
    content_hash,
)
from invoicing.domain.calc import check_amount
from invoicing.domain.errors import NotFound
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import get_organization, profile
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import BillableEntry, Invoice, InvoiceLine
from invoicing.models.records import InvoiceRecord, LineRecord
from invoicing.schemas.commands import LineIn, RecordBillableEntry
from sqlalchemy import select
from sqlalchemy.orm import Session


def entry_data(e: BillableEntry) -> dict[str, object]:
    return {
        "id": e.id,
        "kind": e.kind,
        "status": e.status,
        "customer_id": str(e.customer_id) if e.customer_id else None,
        "case_id": e.case_id,
        "project_reference": e.project_reference,
        "date": e.date.isoformat(),
        "description": e.description,
        "quantity": str(e.quantity),
        "unit": e.unit,
        "unit_price": str(e.unit_price),
        "currency": e.currency,
        "tax_rate": None if e.tax_rate is None else str(e.tax_rate),
        "tax_category": e.tax_category,
        "invoice_id": str(e.invoice_id) if e.invoice_id else None,
        "line_id": str(e.line_id) if e.line_id else None,
        "budget_id": e.budget_id,
        "service_id": e.service_id,
    }


def _load_entry(
    uow: UnitOfWork, org_id: uuid.UUID, entry_id: str, now: dt.datetime
) -> BillableEntry:
    """The stored entry (locked), or a new uninvoiced one added to the session."""
    entry = uow.session.get(BillableEntry, (org_id, entry_id), with_for_update=True)
    if entry is None:
        entry = BillableEntry(
            organization_id=org_id, id=entry_id, recorded_at=now, status=UNINVOICED
        )
        uow.session.add(entry)
    return entry


def _unset_budget_fields(p: RecordBillableEntry.Payload) -> set[str]:
    return {name for name in ("budget_id", "service_id") if getattr(p, name) is None}


@handles(RecordBillableEntry)
def record_billable_entry(cmd: RecordBillableEntry, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    p = cmd.payload
    # an entry's line must be possible: quantity x unit price below 10^14, as on every line
    check_amount(p.quantity * p.unit_price, "the entry's quantity x unit price", "/quantity")
    # unset budget fields stay out of the hash: entries stored before budgets hash the same
    digest = content_hash(p.model_dump(mode="json", exclude=_unset_budget_fields(p)))
    entry = _load_entry(uow, org.id, p.id, deps.now())
    if entry.payload_hash == digest:
        return []  # the same entry again: stored once
    check_rewritable(p.id, entry.status, entry.invoice_id)
    entry.kind, entry.customer_id, entry.case_id = p.kind, p.customer_id, p.case_id
    entry.project_reference, entry.date = p.project_reference, p.date
    entry.description, entry.quantity, entry.unit = p.description, p.quantity, p.unit
    entry.unit_price, entry.tax_rate, entry.tax_category = (
        p.unit_price,
        p.tax_rate,
        p.tax_category.value,
    )
    entry.currency = p.currency or profile(org).get("default_currency", "EUR")
    entry.budget_id, entry.service_id = p.budget_id, p.service_id
    entry.payload_hash = digest
    return [Event("billable_entry.recorded", p.id, {"entry": entry_data(entry)})]


def claim(
    uow: UnitOfWork, inv: InvoiceRecord, line: LineRecord, pointer: str, deps: Deps
) -> list[Event]:
    """Mark the line's entries billed by this invoice; each must be uninvoiced, and billed by
    no other line of the invoice."""
    if not line.billable_entry_ids:
        return []
    others = (other.billable_entry_ids or [] for other in inv.lines if other.id != line.id)
    check_billed_once(line.billable_entry_ids, others, pointer)
    events: list[Event] = []
    for i, entry_id in enumerate(line.billable_entry_ids):
        entry = uow.session.get(
            BillableEntry, (inv.organization_id, entry_id), with_for_update=True
        )
        if entry is None:
            raise NotFound(
                "entry_not_found",
                f"billable entry {entry_id} does not exist",
                pointer=f"{pointer}/billable_entry_ids/{i}",
                hint="send record_billable_entry first",
            )
        check_claimable(
            entry_id,
            entry.status,
            entry.invoice_id,
            entry.currency,
            invoice_id=inv.id,
            invoice_currency=inv.currency,
            pointer=f"{pointer}/billable_entry_ids/{i}",
        )
        entry.status, entry.invoice_id, entry.line_id, entry.billed_at = (
            "billed",
            inv.id,
            line.id,
            deps.now(),
        )
        events.append(Event("billable_entry.billed", entry.id, {"entry": entry_data(entry)}))
    return events


def release(
    uow: UnitOfWork, inv: Invoice, lines: Iterable[InvoiceLine] | None = None
) -> list[Event]:
    """Return the entries of these lines (default: all of the invoice) to uninvoiced."""
    line_ids = None if lines is None else [line.id for line in lines]
    stmt = (
        select(BillableEntry)
        .where(
            BillableEntry.organization_id == inv.organization_id, BillableEntry.invoice_id == inv.id
        )
        .with_for_update()
    )
    events: list[Event] = []
    for entry in uow.session.execute(stmt).scalars():
        if line_ids is not None and entry.line_id not in line_ids:
            continue
        entry.status, entry.invoice_id, entry.line_id, entry.billed_at = (
            "uninvoiced",
            None,
            None,
            None,
        )
        events.append(Event("billable_entry.released", entry.id, {"entry": entry_data(entry)}))
    return events


def uninvoiced(
    session: Session,
    org_id: uuid.UUID,
    entry_ids: list[str],
    *,
    lock: bool = True,
    pointer: str = "/entry_ids",
) -> list[BillableEntry]:
    """The named entries, each of which must exist and be uninvoiced (pointer /entry_ids/i),
    in the order of their dates, as ``preview_billable_entries`` lists them (date, recording
    time, id), whatever the order they are named in. They are locked in the order of their
    ids, so two commands naming the same entries never wait for each other in a circle."""
    locked = {
        entry_id: session.get(BillableEntry, (org_id, entry_id), with_for_update=lock)
        for entry_id in sorted(entry_ids)
    }
    found: list[BillableEntry] = []
    for i, entry_id in enumerate(entry_ids):  # the first fault in the order they are named
        entry = locked[entry_id]
        if entry is None:
            raise NotFound(
                "entry_not_found",
                f"billable entry {entry_id} does not exist",
                pointer=f"{pointer}/{i}",
                hint="send record_billable_entry first",
            )
        check_uninvoiced(entry_id, entry.status, entry.invoice_id, f"{pointer}/{i}")
        found.append(entry)
    return sorted(found, key=lambda entry: (entry.date, entry.recorded_at, entry.id))


def line_from_entry(entry: BillableEntry) -> LineIn:
    """The invoice line an uninvoiced entry becomes (used by the command and the preview)."""
    fields: dict[str, Any] = {
        "description": f"{entry.description} ({entry.date.isoformat()})"[:185],
        "quantity": entry.quantity,
        "unit": entry.unit,
        "unit_price": entry.unit_price,
        "tax_category": TaxCategory(entry.tax_category),
        "billable_entry_ids": [entry.id],
    }
    if entry.tax_rate is not None:
        fields["tax_rate"] = entry.tax_rate
    return LineIn(**fields)
