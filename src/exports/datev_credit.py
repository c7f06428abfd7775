# SQL is assembled from fixed fragments of this module only; every value is a bound parameter.
# ruff: noqa: S608
"""DATEV bookings of customers' unapplied credit (payments across invoices, docs/datev.md).

The allocated parts of a customer payment are ``payments`` rows and are booked like any
payment, one booking per invoice (Belegfeld 1 = the invoice's number, so OPOS matches them).
What the payment left unapplied is money received too: bank (S) to the Debitor (H), with
Belegfeld 1 ``GH-`` + the customer's id prefix, so the customer's credit is one open item on its
account; a refund of credit is the reverse (Debitor S, bank H) with the same Belegfeld 1. Applying
credit to an invoice moves nothing between accounts (the Debitor's balance already holds the
credit) and is not booked: the payments row it makes on the invoice is left out of the payment
bookings, and clearing the ``GH-`` item against the invoice is an OPOS step of the accountant.

Only credit in the export's currency is booked: a customer payment has no exchange rate of its
own (its allocations are converted at each invoice's rate). A customer's credit is kept per
customer, not per issuer: it is the organization's, booked in the organization's DATEV client
only (client '' of its marks); a subsidiary's own client books none (docs/datev.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.exports.datev import Booking, clean_text
from invoicing.models.base import ExactDecimal, UTCDateTime
from sqlalchemy import Connection, Date, String, Uuid, bindparam, text

#: export_marks.target of credit bookings, and of the reversal of credit deleted after its export
TARGET, REVERSAL_TARGET = "credit", "credit_rev"

_FROM = """
FROM customer_credit_entries e
WHERE e.organization_id = :org AND e.currency = :cur AND e.kind IN ('added', 'refunded')
  AND e.date >= :d_from AND e.date <= :d_to
"""
#: the marks of the organization's DATEV client, the only one that books credit
_CLIENT = "m.client = ''"
_UNMARKED = (
    " AND NOT EXISTS (SELECT 1 FROM export_marks m WHERE m.organization_id = e.organization_id"
    f" AND {_CLIENT} AND m.target = '{TARGET}' AND m.item_id = e.id)"
)
_BINDS = (
    bindparam("org", type_=Uuid()),
    bindparam("cur", type_=String()),
    bindparam("d_from", type_=Date()),
    bindparam("d_to", type_=Date()),
)


@dataclass(frozen=True)
class CreditItem:
    """One credit entry to book: money kept as credit (``refund`` False) or paid back."""

    item_id: uuid.UUID
    day: dt.date
    refund: bool
    amount: Decimal
    customer_id: uuid.UUID
    #: the customer's latest invoice number (the Debitor's master data come from its buyer)
    number: str | None
    reference: str | None
    #: the reversal of credit an earlier export booked and ``delete_payment`` took back
    reversal: bool = False

    @property
    def belegfeld(self) -> str:
        return f"GH-{self.customer_id.hex[:8].upper()}"

    def booking(self, bank: str, debtor: str) -> Booking:
        what = "Erstattung Guthaben" if self.refund else "Guthaben"
        if self.reversal:
            what = f"Storno {what}"
        label = clean_text(f"{what} {self.reference or ''} #{self.item_id.hex[:8]}", 60)
        return Booking(
            amount=abs(self.amount),
            sh="H" if self.refund != self.reversal else "S",
            konto=bank,
            gegenkonto=debtor,
            date=self.day,
            belegfeld1=self.belegfeld,
            text=label,
        )


def _item(row: Any, reversal: bool = False) -> CreditItem:
    """A credit entry's row (``id, kind, amount, date, customer_id, reference, number``)."""
    return CreditItem(
        row.id,
        row.date,
        row.kind == "refunded",
        row.amount,
        row.customer_id,
        row.number,
        row.reference,
        reversal,
    )


#: the customer's latest invoice number, for the Debitor's master data (``e``: the entry)
_NUMBER = (
    "(SELECT i.number FROM invoices i WHERE i.organization_id = e.organization_id "
    "AND i.customer_id = e.customer_id AND i.kind = 'invoice' AND i.number IS NOT NULL "
    "ORDER BY i.issue_date DESC, i.number_key DESC LIMIT 1) AS number"
)
#: credit that an export booked and ``delete_payment`` took back (``deleted_credit_entries``)
_DELETED = f"""
FROM deleted_credit_entries e
WHERE e.organization_id = :org AND e.currency = :cur AND e.kind IN ('added', 'refunded')
  AND EXISTS (SELECT 1 FROM export_marks m WHERE m.organization_id = e.organization_id
              AND {_CLIENT} AND m.target = 'credit' AND m.item_id = e.id)
"""
_DELETED_IN_RANGE = " AND e.deleted_on >= :d_from AND e.deleted_on <= :d_to"
_REVERSAL_UNMARKED = (
    " AND NOT EXISTS (SELECT 1 FROM export_marks m WHERE m.organization_id = e.organization_id"
    f" AND {_CLIENT} AND m.target = '{REVERSAL_TARGET}' AND m.item_id = e.id)"
)


def _deleted_items(conn: Connection, params: dict[str, Any], unexported: bool) -> list[CreditItem]:
    """Deleted credit that an export booked: reversed on the day it was deleted; its own
    booking again in a run of its whole range (an export of what is unexported has it)."""
    items: list[CreditItem] = []
    for reversal in (True,) if unexported else (False, True):
        day = "e.deleted_on" if reversal else "e.date"
        where = _DELETED_IN_RANGE if reversal else " AND e.date >= :d_from AND e.date <= :d_to"
        sql = (
            f"SELECT e.id, e.kind, e.amount, {day} AS date, e.customer_id, e.reference, "
            + _NUMBER
            + _DELETED
            + where
            + (_REVERSAL_UNMARKED if unexported else "")
        )
        stmt = (
            text(sql)
            .bindparams(*_BINDS)
            .columns(id=Uuid(), amount=ExactDecimal(), date=Date(), customer_id=Uuid())
        )
        items += [_item(row, reversal) for row in conn.execute(stmt, params)]
    return items


def credit_items(
    conn: Connection, org: uuid.UUID, cur: str, start: dt.date, end: dt.date, unexported: bool
) -> list[CreditItem]:
    """Credit kept and refunded in ``start..end``, and the reversals of credit an earlier
    export booked that was deleted in it, in (date, reversal, id) order."""
    sql = (
        "SELECT e.id, e.kind, e.amount, e.date, e.customer_id, e.reference, "
        + _NUMBER
        + _FROM
        + (_UNMARKED if unexported else "")
        + " ORDER BY e.date, e.id"
    )
    stmt = (
        text(sql)
        .bindparams(*_BINDS)
        .columns(id=Uuid(), amount=ExactDecimal(), date=Date(), customer_id=Uuid())
    )
    params = {"org": org, "cur": cur, "d_from": start, "d_to": end}
    items = [_item(row) for row in conn.execute(stmt, params)]
    items += _deleted_items(conn, params, unexported)
    return sorted(items, key=lambda c: (c.day, c.reversal, c.item_id))


def mark_credits(
    conn: Connection,
    org: uuid.UUID,
    cur: str,
    start: dt.date,
    end: dt.date,
    export_id: uuid.UUID,
    now: dt.datetime,
) -> int:
    """Record the first export of every credit booking of the range (idempotent)."""
    sql = (
        "INSERT INTO export_marks (organization_id, client, target, item_id, export_id, "
        f"marked_at) SELECT e.organization_id, '', '{TARGET}', e.id, :eid, :now" + _FROM + _UNMARKED
    )
    params: dict[str, Any] = {
        "org": org,
        "cur": cur,
        "d_from": start,
        "d_to": end,
        "eid": export_id,
        "now": now,
    }
    binds = (*_BINDS, bindparam("eid", type_=Uuid()), bindparam("now", type_=UTCDateTime()))
    marked = int(conn.execute(text(sql).bindparams(*binds), params).rowcount or 0)
    reversals = (
        "INSERT INTO export_marks (organization_id, client, target, item_id, export_id, "
        f"marked_at) SELECT e.organization_id, '', '{REVERSAL_TARGET}', e.id, :eid, :now"
        + _DELETED
        + _DELETED_IN_RANGE
        + _REVERSAL_UNMARKED
    )
    return marked + int(conn.execute(text(reversals).bindparams(*binds), params).rowcount or 0)
