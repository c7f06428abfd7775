"""The invoice rows written with SQLAlchemy Core instead of the ORM's unit of work.

Handlers change ``Invoice`` objects as before; at the end of a command (``UnitOfWork.flush``
and ``commit``) this module writes the invoices the command created (one INSERT for the
invoice, one executemany INSERT for its lines) and the invoice rows it changed (one UPDATE of
the changed columns), then tells the session those objects are in the database, so the ORM's
flush has nothing left to do for them. The ORM's flush of a wide invoice row costs more CPU
than the rest of a ``create_invoice`` or ``finalize_invoice`` (docs/pipeline.md, Benchmark).

It takes the fast path only when nothing else is pending that an invoice row could depend on:
every new object is a new invoice or one of its lines, nothing is deleted, and no changed
invoice had lines or payments added or removed. Otherwise the ORM flushes everything, as before.
Statements are built once (compiled forms cached by SQLAlchemy per set of columns).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

from invoicing.models import Invoice, InvoiceLine
from sqlalchemy import Column, Insert, Table, Update, bindparam, insert, inspect, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault
from sqlalchemy.orm.attributes import set_committed_value

_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
_LINES: Table = InvoiceLine.__table__  # type: ignore[assignment]
_COLLECTIONS = frozenset({"lines", "payments"})


def _columns(model: type[Any]) -> list[tuple[str, Column[Any], Callable[[], Any]]]:
    """(attribute key, column, the value of an attribute never set) of a mapped class."""
    out: list[tuple[str, Column[Any], Callable[[], Any]]] = []
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        assert isinstance(column, Column)
        default = column.default
        if isinstance(default, CallableColumnDefault):  # utcnow, dict, list: no context used
            out.append((attr.key, column, partial(default.arg, cast(Any, None))))
        elif isinstance(default, ScalarElementColumnDefault):
            out.append((attr.key, column, partial(_same, default.arg)))
        elif default is None:
            out.append((attr.key, column, partial(_same, None)))
        else:
            raise TypeError(f"{model.__name__}.{attr.key}: a SQL default is not supported here")
    return out


def _same(value: Any) -> Any:
    return value


_INVOICE_COLUMNS = _columns(Invoice)
_LINE_COLUMNS = _columns(InvoiceLine)
_INVOICE_KEYS = {key: column.key for key, column, _ in _INVOICE_COLUMNS}
_INVOICE_ATTRS = frozenset(inspect(Invoice).attrs.keys())
_INSERT_INVOICE: Insert = insert(_INVOICES)
_INSERT_LINES: Insert = insert(_LINES)
_UPDATE_INVOICE: Update = update(_INVOICES).where(
    _INVOICES.c.organization_id == bindparam("_organization_id"),
    _INVOICES.c.id == bindparam("_id"),
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


def write_invoices(session: Session) -> None:
    """Write new and changed invoices with Core where that is safe (see the module)."""
    new, dirty = session.new, session.dirty
    if not new and not dirty:
        return
    if session.deleted:
        return
    created = [o for o in new if type(o) is Invoice]
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
        conn.execute(_INSERT_INVOICE, _row(inv, _INVOICE_COLUMNS))
        inv_lines = list(inv.__dict__.get("lines", ()))
        if inv_lines:
            conn.execute(_INSERT_LINES, [_row(line, _LINE_COLUMNS) for line in inv_lines])
        session.expunge(inv)  # and its lines: then they join again as loaded from the database
        for obj in (inv, *inv_lines):
            make_transient_to_detached(obj)
        session.add(inv)
    for inv, modified in changed:
        values = {_INVOICE_KEYS[key]: inv.__dict__[key] for key in modified if key in _INVOICE_KEYS}
        if not values:
            continue
        values["_organization_id"], values["_id"] = inv.organization_id, inv.id
        conn.execute(_UPDATE_INVOICE, values)
        for key in modified:
            if key in _INVOICE_KEYS:
                set_committed_value(inv, key, inv.__dict__[key])
