"""The invoice rows written with SQLAlchemy Core instead of the ORM's unit of work.

``create_invoice`` and ``finalize_invoice`` do not come here: they work on plain drafts and
write them themselves (``handlers.aggregates``). The other handlers change ``Invoice`` objects
as before; at the end of a command (``UnitOfWork.flush`` and ``commit``) this module writes the
invoices the command created (one INSERT for the invoice, one executemany INSERT for its lines)
and the invoice rows it changed (one UPDATE of the changed columns), then tells the session
those objects are in the database, so the ORM's flush has nothing left to do for them. The
ORM's flush of a wide invoice row costs more CPU than the rules of a command
(docs/pipeline.md, Benchmark).

It takes the fast path only when nothing else is pending that an invoice row could depend on:
every new object is THE new invoice (at most one) or one of its lines, nothing is deleted, and
no changed invoice had lines or payments added or removed. Otherwise the ORM flushes
everything, as before.
Statements are built once (compiled forms cached by SQLAlchemy per set of columns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from invoicing.handlers.statements import Statement, python_default
from invoicing.models import Invoice, InvoiceLine
from sqlalchemy import (
    Column,
    Connection,
    Table,
    bindparam,
    insert,
    inspect,
    update,
)
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
_LINES: Table = InvoiceLine.__table__  # type: ignore[assignment]
_COLLECTIONS = frozenset({"lines", "payments"})


def _columns(model: type[Any]) -> list[tuple[str, Column[Any], Callable[[], Any]]]:
    """(attribute key, column, the value of an attribute never set) of a mapped class."""
    out: list[tuple[str, Column[Any], Callable[[], Any]]] = []
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        assert isinstance(column, Column)
        where = f"{model.__name__}.{attr.key}"
        out.append((attr.key, column, python_default(column.default, where)))
    return out


_INVOICE_COLUMNS = _columns(Invoice)
_LINE_COLUMNS = _columns(InvoiceLine)
_INVOICE_KEYS = {key: column.key for key, column, _ in _INVOICE_COLUMNS}
_INVOICE_ATTRS = frozenset(inspect(Invoice).attrs.keys())
_SERVER_DEFAULTS = frozenset(c.key for c in _INVOICES.c if c.server_default is not None)
#: for the plain drafts of ``aggregates``: attribute -> its value when never set, and the
#: invoice columns always written (a server default would take a NULL left out)
INVOICE_DEFAULTS: dict[str, Callable[[], Any]] = {key: f for key, _, f in _INVOICE_COLUMNS}
LINE_DEFAULTS: dict[str, Callable[[], Any]] = {key: f for key, _, f in _LINE_COLUMNS}
SERVER_DEFAULTS = _SERVER_DEFAULTS
_INSERT_INVOICE = Statement(insert(_INVOICES))
_INSERT_LINES = Statement(insert(_LINES))


def _update_by_key(table: Table) -> Statement:
    """``UPDATE table SET <the parameters given> WHERE organization_id = .. AND id = ..``"""
    return Statement(
        update(table).where(
            table.c.organization_id == bindparam("_organization_id"),
            table.c.id == bindparam("_id"),
        )
    )


_UPDATE_INVOICE = _update_by_key(_INVOICES)
_UPDATES = {_INVOICES.name: _UPDATE_INVOICE, _LINES.name: _update_by_key(_LINES)}


def update_row(
    conn: Connection, table: Table, org_id: Any, row_id: Any, values: dict[str, Any]
) -> None:
    """One UPDATE of the columns ``values`` names (column keys) of the row (org_id, row_id)
    of ``invoices`` or ``invoice_lines``; the row must exist, as the ORM's flush checks."""
    params = {**values, "_organization_id": org_id, "_id": row_id}
    _UPDATES[table.name].run_expecting(
        conn,
        params,
        1,
        lambda: StaleDataError(f"{table.name} {row_id}: the row to update is gone"),
    )


def _row(obj: Any, columns: list[tuple[str, Column[Any], Callable[[], Any]]]) -> dict[str, Any]:
    """Every column's value; an attribute never set gets its column default (and the object
    gets it too, so that nothing is left to load)."""
    state = obj.__dict__
    row = {}
    for key, column, missing in columns:
        if key in state:
            row[column.key] = state[key]
        else:
            value = row[column.key] = missing()
            set_committed_value(obj, key, value)
    return row


def insert_invoice(conn: Connection, inv: Invoice) -> list[InvoiceLine]:
    """INSERT a new invoice (one statement) and its lines (one executemany); returns the
    lines."""
    row = _row(inv, _INVOICE_COLUMNS)
    # NULLs left to the table: fewer parameters (psycopg caches the conversion of a
    # statement only up to 50), one compiled form per set of columns
    _INSERT_INVOICE.run(
        conn, {k: v for k, v in row.items() if v is not None or k in _SERVER_DEFAULTS}
    )
    lines = list(inv.__dict__.get("lines", ()))
    if lines:
        _INSERT_LINES.many(conn, [_row(line, _LINE_COLUMNS) for line in lines])
    return lines


def write_invoices(session: Session) -> None:
    """Write new and changed invoices with Core where that is safe (see the module)."""
    new, dirty = session.new, session.dirty
    if not new and not dirty:
        return
    if session.deleted:
        return
    created = [o for o in new if type(o) is Invoice]
    if len(created) > 1:  # their order could matter (one may reference the other)
        return
    lines = {id(line) for inv in created for line in inv.__dict__.get("lines", ())}
    if len(created) + len(lines) != len(new) or any(
        type(o) is not Invoice and id(o) not in lines for o in new
    ):
        return
    changed = []
    for obj in dirty:
        if type(obj) is Invoice:
            modified = _INVOICE_ATTRS - inspect(obj).unmodified  # set since the load
            if modified & _COLLECTIONS:
                return
            changed.append((obj, modified))
    conn = session.connection()
    for inv in created:
        inv_lines = insert_invoice(conn, inv)
        session.expunge(inv)  # and its lines: then they join again as loaded from the database
        for obj in (inv, *inv_lines):
            make_transient_to_detached(obj)
        session.add(inv)
    for inv, modified in changed:
        values = {_INVOICE_KEYS[key]: inv.__dict__[key] for key in modified if key in _INVOICE_KEYS}
        if not values:
            continue
        values["_organization_id"], values["_id"] = inv.organization_id, inv.id
        if _UPDATE_INVOICE.run(conn, values) != 1:  # as the ORM's flush checks
            raise StaleDataError(f"invoice {inv.id}: the row to update is gone")
        for key in modified:
            if key in _INVOICE_KEYS:
                set_committed_value(inv, key, inv.__dict__[key])
