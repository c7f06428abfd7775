"""Accounting integrations: ``export_invoice``, ``export_update`` and the automatic updates.

An invoice's integrations live in ``invoices.integration_exports`` (integration -> record:
external id, link, customer reference, when, how many updates since and the last changes),
beside ``exported_at``; they are bookkeeping, not content, so a finalized invoice takes them.
When a command's events show that a payment, a credit note, a write-off or a void touched an
exported invoice, :func:`exported_invoices_changed` adds ``invoice.export_updated`` to the same
transaction (no extra statement: the invoice is already in the session).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.domain.errors import InvalidState
from invoicing.domain.states import check_exportable
from invoicing.handlers.registry import Deps, Event, follows, handles, invoice_event
from invoicing.handlers.repository import get_invoice
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Invoice
from invoicing.schemas.commands import Command
from invoicing.schemas.integrations import ExportInvoice, ExportUpdate

#: event type -> the change it makes to the invoice it is about (``subject``)
AUTOMATIC = {
    "payment.recorded": "payment",
    "payment.allocated": "payment",  # a customer payment or credit applied to the invoice
    "payment.deleted": "payment_deleted",
    "invoice.written_off": "write_off",
    "invoice.write_off_reversed": "write_off_reversed",
    "invoice.voided": "voided",
    "invoice.paid": "paid",
}
_KEYS = ("external_id", "url", "company_reference_id")


@handles(ExportInvoice)
def export_invoice(cmd: ExportInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, now = cmd.payload, deps.now()
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    check_exportable(inv.kind, inv.status)
    record = {
        "integration": p.integration,
        "external_id": p.external_id,
        "url": str(p.url) if p.url is not None else None,
        "company_reference_id": p.company_reference_id,
    }
    exports = dict(inv.integration_exports or {})
    previous = exports.get(p.integration)
    if previous is not None and all(previous.get(k) == record[k] for k in _KEYS):
        return []  # the same record again: nothing changes
    exports[p.integration] = {
        **record,
        "exported_at": now.isoformat(),
        "updates": 0,
        "last_update_at": None,
        "last_changes": [],
    }
    inv.integration_exports = exports
    inv.exported_at = inv.exported_at or now
    export = {**record, "exported_at": now.isoformat()}
    return [invoice_event("invoice.exported", inv, now, export=export, previous=previous)]


def not_exported(inv: Invoice, integration: str | None) -> InvalidState:
    where = f"to {integration}" if integration else "to any integration"
    return InvalidState(
        "not_exported",
        f"{inv.kind} {inv.number or inv.id} was not exported {where}",
        pointer="/integration" if integration else "/invoice_id",
        hint="send export_invoice first",
    )


def record_update(
    inv: Invoice,
    names: list[str],
    changes: list[str],
    *,
    detail: str | None,
    cause: Command,
    now: dt.datetime,
) -> Event:
    """Count the update on each integration's record; the event the listener acts on."""
    exports = dict(inv.integration_exports or {})
    for name in names:
        record = exports[name]
        exports[name] = {
            **record,
            "updates": int(record.get("updates", 0)) + 1,
            "last_update_at": now.isoformat(),
            "last_changes": changes,
        }
    inv.integration_exports = exports
    update: dict[str, Any] = {
        "integrations": names,
        "changes": changes,
        "detail": detail,
        "source": "command" if isinstance(cause, ExportUpdate) else "automatic",
        "caused_by": {"command_type": cause.type, "command_id": str(cause.command_id)},
    }
    return invoice_event("invoice.export_updated", inv, now, export_update=update)


@handles(ExportUpdate)
def export_update(cmd: ExportUpdate, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    exports = inv.integration_exports or {}
    names = [p.integration] if p.integration else sorted(exports)
    if not names or any(n not in exports for n in names):
        raise not_exported(inv, p.integration)
    changes: list[str] = list(dict.fromkeys(p.changes))
    return [record_update(inv, names, changes, detail=p.detail, cause=cmd, now=deps.now())]


def _touched(events: list[Event]) -> dict[str, list[str]]:
    """Invoice id -> the changes the events made to it, in order, once each."""
    touched: dict[str, list[str]] = {}
    for event in events:
        change, target = AUTOMATIC.get(event.type), event.subject
        if event.type == "credit_note.issued":
            change, target = "credit_note", event.data.get("credited_invoice_id")
        if change is not None and target:
            seen = touched.setdefault(str(target), [])
            if change not in seen:
                seen.append(change)
    return touched


@follows
def exported_invoices_changed(
    cmd: Command, uow: UnitOfWork, deps: Deps, events: list[Event]
) -> list[Event]:
    """``invoice.export_updated`` (source ``automatic``) for each exported invoice that the
    command's events touched."""
    out: list[Event] = []
    for invoice_id, changes in _touched(events).items():
        inv = uow.session.get(Invoice, (cmd.organization_id, uuid.UUID(invoice_id)))
        if inv is None or not inv.integration_exports:
            continue
        names = sorted(inv.integration_exports)
        out.append(record_update(inv, names, changes, detail=None, cause=cmd, now=deps.now()))
    return out
