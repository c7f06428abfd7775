"""Invoice drafts as plain objects, read and written with SQLAlchemy Core.

``create_invoice`` and ``finalize_invoice`` (the hot commands) spent more CPU on the ORM than on
their rules: instrumented construction or load of the invoice and its lines, attribute events on
every read and write, the unit of work's flush. Here a draft is :class:`InvoiceData` with
:class:`LineData` lines, plain dataclasses with the ``EditableInvoice`` / ``InvoiceDraft``
shape, so the same rules (``invoices.apply_fields``, ``invoices.append_lines``,
``lifecycle.finalize``, ``drafting.recalculate``, ``registry.invoice_event``) run on them:
:func:`new_draft` + :func:`insert` (one INSERT for the invoice, one executemany for its lines)
for ``create_invoice``; :func:`load_draft` (the draft and its lines in one statement, the row
lock on the invoice, as ``repository.get_invoice``) + :func:`save` (one UPDATE of the columns
that changed) for ``finalize_invoice``.

These objects never enter the session: the ORM cannot hold a stale copy of the row. The
draft is taken this way only when the session has nothing pending (a Core read does not
autoflush) and does not hold the invoice already; otherwise the caller uses the ORM.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any

from invoicing.handlers.core_writes import (
    INVOICE_DEFAULTS,
    LINE_DEFAULTS,
    SERVER_DEFAULTS,
    update_row,
)
from invoicing.handlers.repository import CustomerRow, lock_invoice
from invoicing.handlers.statements import Statement, pipelined
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Customer, Invoice, InvoiceLine
from invoicing.models.records import CustomerRecord, PaymentRecord
from sqlalchemy import Table, and_, bindparam, func, select, tuple_
from sqlalchemy import insert as insert_stmt
from sqlalchemy.dialects.postgresql import ARRAY


@dataclass(slots=True, eq=False)
class LineData:
    """An ``invoice_lines`` row (every mapped column)."""

    organization_id: uuid.UUID
    id: uuid.UUID
    invoice_id: uuid.UUID
    position: int
    description: str
    subtitle: str | None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    tax_category: str
    tax_rate: Decimal
    discount: dict[str, Any] | None
    base_amount: Decimal
    discount_amount: Decimal
    amount: Decimal
    net_amount: Decimal
    billable_entry_ids: list[Any]
    budget_id: str | None
    service_id: str | None


@dataclass(slots=True, eq=False)
class InvoiceData:
    """An ``invoices`` row (every mapped column) with its lines, by position."""

    organization_id: uuid.UUID
    id: uuid.UUID
    kind: str
    status: str
    number: str | None
    number_key: str | None
    series: str | None
    sequence_number: int | None
    issue_date: dt.date | None
    due_date: dt.date | None
    payment_terms_days: int | None
    delivery_date: dt.date | None
    delivery_date_defaulted: bool
    service_period_start: dt.date | None
    service_period_end: dt.date | None
    currency: str
    calculate_from_net: bool
    locale: str
    customer_id: uuid.UUID | None
    buyer: dict[str, Any] | None
    seller: dict[str, Any] | None
    case_id: str | None
    project_reference: str | None
    purchase_order_number: str | None
    creator_id: str | None
    issuer_id: str | None
    responsible_id: str | None
    subscriber_ids: list[Any]
    deal_id: str | None
    subsidiary_id: str | None
    subject: str | None
    recipient_text: str | None
    invoicing_party_text: str | None
    vat_number: str | None
    bank_account_id: str | None
    invoicing_method: str | None
    notes: str | None
    footer: str | None
    tags: list[Any]
    custom_fields: dict[str, Any]
    discount: dict[str, Any] | None
    tax_breakdown: list[Any]
    legal_notes: list[Any]
    line_net_total: Decimal
    allowance_total: Decimal
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    paid_amount: Decimal
    credited_amount: Decimal
    credited_net: Decimal
    written_off_amount: Decimal
    ledger: list[Any]
    exchange_rate: Decimal | None
    exchange_rate_date: dt.date | None
    credited_invoice_id: uuid.UUID | None
    credited_invoice_number: str | None
    credited_invoice_issue_date: dt.date | None
    credit_note_ids: list[Any]
    normalized_currency: str | None
    credit_reason: str | None
    replaced_by_invoice_id: uuid.UUID | None
    replaces_invoice_id: uuid.UUID | None
    overdue: bool
    dunning_level: int
    dunned_on: dt.date | None
    default_note: bool
    payment_reference: str | None
    exported_at: dt.datetime | None
    integration_exports: dict[str, Any]
    finalized_at: dt.datetime | None
    sent_at: dt.datetime | None
    paid_at: dt.datetime | None
    paid_on: dt.date | None
    voided_at: dt.datetime | None
    deleted_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    event_sequence: int
    lines: list[LineData] = field(default_factory=list)
    #: a draft has none (payments need a finalized invoice)
    payments: list[PaymentRecord] = field(default_factory=list)
    #: the column values as read, in ``INVOICE_FIELDS`` order: what :func:`save` compares to
    loaded: tuple[Any, ...] = ()
    loaded_lines: dict[uuid.UUID, tuple[Any, ...]] = field(default_factory=dict)
    #: its customer, read with it by :func:`load_draft` (None: none read)
    customer_row: CustomerRecord | None = None

    @property
    def is_frozen(self) -> bool:
        return self.finalized_at is not None


_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
_LINES: Table = InvoiceLine.__table__  # type: ignore[assignment]
INVOICE_FIELDS = tuple(f.name for f in fields(InvoiceData)[:-5])
LINE_FIELDS = tuple(f.name for f in fields(LineData))
_WIDTH = len(INVOICE_FIELDS)
#: all column values of an InvoiceData / LineData as one tuple, in field order (one C call
#: instead of a getattr per column: a create and a finalize read them three times each)
_invoice_values = attrgetter(*INVOICE_FIELDS)
_line_values = attrgetter(*LINE_FIELDS)
_INSERT_INVOICE = Statement(insert_stmt(_INVOICES))
_INSERT_LINES = Statement(insert_stmt(_LINES))
if set(INVOICE_FIELDS) != set(INVOICE_DEFAULTS) or set(LINE_FIELDS) != set(LINE_DEFAULTS):
    raise TypeError("InvoiceData/LineData must have exactly the mapped columns")
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_CUSTOMER_FIELDS = tuple(CustomerRow.__dataclass_fields__)
_CUSTOMER_END = _WIDTH + len(_CUSTOMER_FIELDS)
_LINE_ID = _CUSTOMER_END + LINE_FIELDS.index("id")
#: the draft, its customer and its lines in one round trip, the row lock on the invoice only
_LOAD_FROM = select(
    *(_INVOICES.c[n] for n in INVOICE_FIELDS),
    *(_CUSTOMERS.c[n] for n in _CUSTOMER_FIELDS),
    *(_LINES.c[n] for n in LINE_FIELDS),
).select_from(
    _INVOICES.outerjoin(
        _CUSTOMERS,
        and_(
            _CUSTOMERS.c.organization_id == _INVOICES.c.organization_id,
            _CUSTOMERS.c.id == _INVOICES.c.customer_id,
        ),
    ).outerjoin(
        _LINES,
        and_(
            _LINES.c.organization_id == _INVOICES.c.organization_id,
            _LINES.c.invoice_id == _INVOICES.c.id,
        ),
    )
)
#: read after the row lock (``repository.lock_invoice``), never with it: in one statement
#: joining the lines to the locked row, PostgreSQL, having waited for a writer of that row,
#: returns the row as the writer left it and the lines as they were when the statement began
#: (only the locked row is read again), so a line another command added meanwhile was left out
#: of the totals a finalize computed (session 31; docs/design.md, "Locks")
_LOAD = Statement(
    _LOAD_FROM.where(
        _INVOICES.c.organization_id == bindparam("org"), _INVOICES.c.id == bindparam("id")
    ).order_by(_LINES.c.position, _LINES.c.id)
)


def _many() -> tuple[Statement, Statement]:
    """The row locks and ``_LOAD`` for several invoices (PostgreSQL): their keys as two arrays,
    ``unnest``-ed side by side; locked in key order, so that two transactions lock them in one
    order (``FOR UPDATE`` locks the rows as the sort returns them)."""
    keys = select(
        func.unnest(bindparam("orgs", type_=ARRAY(_INVOICES.c.organization_id.type))),
        func.unnest(bindparam("ids", type_=ARRAY(_INVOICES.c.id.type))),
    )
    where = tuple_(_INVOICES.c.organization_id, _INVOICES.c.id).in_(keys)
    by_key = (_INVOICES.c.organization_id, _INVOICES.c.id)
    lock = select(_INVOICES.c.id).where(where).order_by(*by_key).with_for_update()
    load = _LOAD_FROM.where(where).order_by(*by_key, _LINES.c.position, _LINES.c.id)
    binary = ("orgs", "ids")
    return Statement(lock, binary=binary), Statement(load, binary=binary)


_LOCK_MANY, _LOAD_MANY = _many()


def read_drafts(uow: UnitOfWork, keys: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Read ahead, in one statement, what :func:`load_draft` will read for each of ``keys``
    (organization, invoice) in this transaction, locked as it would lock them: the finalizes
    of a batch (``registry.PREFETCH``) on PostgreSQL. An invoice not found is left to its
    own read (it may be created later in the transaction)."""
    if uow.dialect != "postgresql":
        return
    orgs, ids = zip(*keys, strict=True)
    found, params = uow.read_ahead, {"orgs": list(orgs), "ids": list(ids)}
    _LOCK_MANY.rows(uow.connection(), params)
    for row in _LOAD_MANY.rows(uow.connection(), params):
        found.setdefault(("draft", row[0], row[1]), []).append(row)  # organization_id, id


def load_draft(uow: UnitOfWork, org_id: uuid.UUID, invoice_id: uuid.UUID) -> InvoiceData | None:
    """The draft (not in the trash) with its lines, locked; None when it is not one (missing,
    trashed, finalized: the ORM's path reports that) or when the session has pending changes
    or holds the invoice (the ORM's path sees those). Its rows as :func:`read_drafts` read
    them for the batch, if it did."""
    session = uow.session
    if session.new or session.dirty or session.deleted:
        return None
    if session.identity_map.get(session.identity_key(Invoice, (org_id, invoice_id))) is not None:
        return None
    rows = uow.read_ahead.pop(("draft", org_id, invoice_id), None)
    if rows is None:
        if not lock_invoice(uow, org_id, invoice_id):
            return None
        rows = _LOAD.rows(uow.connection(), {"org": org_id, "id": invoice_id})
    if not rows:
        return None
    head = tuple(rows[0][:_WIDTH])
    inv = InvoiceData(*head)
    inv.loaded = head
    if inv.status != "draft" or inv.deleted_at is not None:
        return None
    if rows[0][_WIDTH] is not None:  # the session holds no object of it (nothing pending)
        inv.customer_row = CustomerRow(*rows[0][_WIDTH:_CUSTOMER_END])
    for row in rows:
        if row[_LINE_ID] is not None:
            values = tuple(row[_CUSTOMER_END:])
            line = LineData(*values)
            inv.lines.append(line)
            inv.loaded_lines[line.id] = values
    return inv


def new_draft(values: dict[str, Any]) -> InvoiceData:
    """A new draft: ``values`` (``invoices.draft_values``), every other column its default
    (what the ORM's INSERT of an ``Invoice`` writes for an attribute never set)."""
    return InvoiceData(**{**{k: make() for k, make in INVOICE_DEFAULTS.items()}, **values})


def insert(uow: UnitOfWork, inv: InvoiceData) -> None:
    """INSERT a new draft (NULLs left to the table, as ``core_writes.insert_invoice``) and
    its lines (one executemany); in a batch run without savepoints, with the batch's other
    new invoices (``UnitOfWork.insert_later``: all their lines, then the invoices).

    The lines go first: their foreign key is checked at commit (0024_lines_fk_deferred), and
    on PostgreSQL the invoice's INSERT trigger then finds them and builds the whole search
    document (0021_search) in the one row version it writes; written after the invoice, the
    lines' trigger would make it write a second version of the new row (every index again)."""
    values = _invoice_values(inv)
    row = {
        name: value
        for name, value in zip(INVOICE_FIELDS, values, strict=True)
        if value is not None or name in SERVER_DEFAULTS
    }
    lines = [_line_values(line) for line in inv.lines]
    line_rows = [dict(zip(LINE_FIELDS, line, strict=True)) for line in lines]
    if uow.inserts_later:  # with the batch's other new invoices, in one round trip
        uow.insert_later(_INSERT_LINES, line_rows)
        uow.insert_later(_INSERT_INVOICE, (row,))
    else:
        conn = uow.connection()
        with pipelined(conn):  # both in one round trip; an error is raised at the end of it
            if line_rows:
                _INSERT_LINES.many(conn, line_rows)
            _INSERT_INVOICE.run(conn, row)
    inv.loaded = values
    inv.loaded_lines = {line.id: v for line, v in zip(inv.lines, lines, strict=True)}


def _same(old: Any, new: Any) -> bool:
    """Equal and stored alike (Decimal('1.0') and Decimal('1.00') are equal, not alike)."""
    if old is new:
        return True
    if type(old) is not type(new) or old != new:
        return False
    return not isinstance(old, Decimal) or old.as_tuple() == new.as_tuple()


def save(uow: UnitOfWork, inv: InvoiceData) -> None:
    """Write the columns that changed since :func:`load_draft`: one UPDATE of the invoice,
    one per changed line (a finalize recomputes the same amounts: usually none)."""
    if not inv.loaded:
        raise ValueError("save() takes an invoice read by load_draft()")
    conn = uow.connection()
    if {line.id for line in inv.lines} != set(inv.loaded_lines):
        raise ValueError("lines were added or removed: not supported by save()")
    values = _invoice_values(inv)
    changed = {
        name: new
        for name, old, new in zip(INVOICE_FIELDS, inv.loaded, values, strict=True)
        if old is not new and not _same(old, new)
    }
    if changed:
        update_row(conn, _INVOICES, inv.organization_id, inv.id, changed)
        inv.loaded = values
    for line in inv.lines:
        before = inv.loaded_lines[line.id]
        now = _line_values(line)
        diff = {
            n: v
            for n, o, v in zip(LINE_FIELDS, before, now, strict=True)
            if o is not v and not _same(o, v)
        }
        if diff:
            update_row(conn, _LINES, line.organization_id, line.id, diff)
            inv.loaded_lines[line.id] = now
