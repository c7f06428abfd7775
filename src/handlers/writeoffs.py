"""write_off_invoice and reverse_write_off: movements in the invoice's ledger per tax group."""

from __future__ import annotations

import uuid

from invoicing.domain.corrections import check_not_before_invoice
from invoicing.domain.errors import InvalidState
from invoicing.domain.ledger import Movement, plan_reversal, plan_write_off
from invoicing.domain.states import OPEN_STATES
from invoicing.domain.writeoff_rules import write_off_vat
from invoicing.handlers.invoices import derived_id
from invoicing.handlers.ledger_io import ledger_of, store
from invoicing.handlers.lifecycle import settled_events
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import get_invoice
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import movement_vat
from invoicing.models import Invoice, WriteOffId
from invoicing.schemas.commands import ReverseWriteOff, WriteOffInvoice
from invoicing.schemas.events import NormalizedMovement
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def _data(m: Movement, inv: Invoice) -> dict[str, object]:
    """The movement just recorded as the last of ``inv``'s ledger, with its VAT in the
    organization's currency where the invoice is in another one."""
    vat = movement_vat(inv)[-1]
    return {
        "id": m.document_id,
        "kind": m.kind.value,
        "date": m.date.isoformat(),
        "reason": m.reason,
        "net": str(m.net),
        "tax": str(m.tax),
        "gross": str(m.gross),
        "groups": [g.to_json() for g in m.groups],
        "normalized": None if vat is None else NormalizedMovement(**vat).model_dump(mode="json"),
    }


@handles(WriteOffInvoice)
def write_off_invoice(cmd: WriteOffInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    if inv.kind != "invoice" or inv.status not in (*OPEN_STATES, "paid"):
        raise InvalidState(
            "invalid_state",
            f"a {inv.status} {inv.kind} cannot be written off",
            pointer="/invoice_id",
            hint="only finalized invoices with an open amount can be written off",
        )
    check_not_before_invoice(p.date, inv.issue_date, what="write-off", field="date")
    country = ((inv.seller or {}).get("address") or {}).get("country_code")
    vat = write_off_vat(country, p.reason, p.ground, inv.due_date, p.date)
    ledger = ledger_of(inv)
    write_off_id = p.write_off_id or derived_id(cmd.command_id, "write_off")
    movement = plan_write_off(ledger, p.amount, str(write_off_id), p.date, p.reason)
    _take_id(uow, inv.organization_id, write_off_id, inv.id)
    store(inv, ledger.with_movement(movement))
    data = {**_data(movement, inv), "note": p.note, "ground": p.ground, "vat_rule": vat.to_json()}
    return settled_events("invoice.written_off", inv, deps, write_off=data)


def _take_id(uow: UnitOfWork, org: uuid.UUID, write_off_id: uuid.UUID, invoice: uuid.UUID) -> None:
    """A write-off id is used once in an organization: the DATEV export marks and reverses
    the write-off under it (``WriteOffId``; the same invoice's own ledger refused it first).
    Taken by ``INSERT ... ON CONFLICT DO NOTHING``: of two commands writing off under one id at
    once, the second waits for the first's commit and is refused, instead of failing on the
    key."""
    insert = pg_insert if uow.dialect == "postgresql" else sqlite_insert
    values = {"organization_id": org, "id": write_off_id, "invoice_id": invoice}
    stmt = insert(WriteOffId).values(**values).on_conflict_do_nothing().returning(WriteOffId.id)
    if uow.connection().execute(stmt).first() is not None:
        return
    holder = uow.session.get(WriteOffId, (org, write_off_id))
    raise InvalidState(
        "write_off_exists",
        f"write-off {write_off_id} already exists on invoice {holder and holder.invoice_id}",
        pointer="/write_off_id",
        hint="give the write-off a new write_off_id (or leave it out)",
    )


@handles(ReverseWriteOff)
def reverse_write_off(cmd: ReverseWriteOff, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    inv = get_invoice(uow, cmd.organization_id, p.invoice_id)
    ledger = ledger_of(inv)
    check_not_before_invoice(p.date, inv.issue_date, what="write-off reversal", field="date")
    movement = plan_reversal(ledger, str(p.write_off_id), p.date, void=inv.status == "void")
    store(inv, ledger.with_movement(movement))
    return settled_events("invoice.write_off_reversed", inv, deps, write_off=_data(movement, inv))
