"""The euro value of each booking of a foreign-currency document (docs/datev.md).

A document in another currency is booked at its frozen exchange rate. Its own booking is the
sum of its converted tax groups (net and VAT each converted, as the ledger and the e-invoice
state them). What settles it (payments, credit notes, write-offs and their reversals, refunds
on its credit notes) is converted cumulatively: each movement books what was settled after it
less what was settled before it (``domain.fx.movement_values``). So the movements add up to the
ledger's converted amounts, and the Debitor account of a settled document closes to the cent.

Movements belong to the document whose number stands in Belegfeld 1: an invoice holds its own
payments and write-offs, its credit notes and the refunds paid on them; a credit note of no
invoice holds its refunds. They are taken in the order they happened (date, then credit notes,
payments, write-offs, then id), over the document's whole history, so an export of a later
month books the same values as one of the whole year. What an export booked stays booked
(``datev_fx_values``, ``FxValues.keep``): a later export takes those values as they are and
converts the other movements after them (``settling_values``' ``booked``), so a payment
recorded late with an earlier date does not move a cent that DATEV already has, and the
movements still add up to what they settle together. A deleted payment that an export booked
stays in the history with its reversal on the day it was deleted (``datev_db``, "payment
reversals"), as both stay in the accountant's books. The ledger's own figures (the exchange
difference of each payment, ``views.payment_differences``) follow the date order alone: where a
payment was recorded late, one of them can differ from DATEV's by a cent.

One document's history is four small queries, read the first time one of its movements is
booked (foreign-currency documents are the few among many).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from invoicing.domain.fx import (
    PAYMENT,
    REVERSAL,
    Settling,
    deletion_id,
    ledger_settlings,
    ledger_vat_values,
    settling_values,
)
from invoicing.domain.ledger import GroupAmount, Key
from invoicing.domain.money import round_money
from invoicing.domain.tax import TaxCategory
from invoicing.models.base import ExactDecimal
from invoicing.models.exports import DatevFxValue
from sqlalchemy import Connection, Date, Uuid, bindparam, insert, select, text


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def group_values(groups: Iterable[dict[str, Any]], rate: Decimal, currency: str) -> list[Decimal]:
    """Each tax group's gross in ``currency``: its net and its VAT converted one by one."""

    def conv(amount: Any) -> Decimal:
        return round_money(Decimal(str(amount)) * rate, currency)

    return [conv(g["taxable_amount"]) + conv(g["tax_amount"]) for g in groups]


_BASE = text(
    "SELECT kind, exchange_rate, tax_breakdown, ledger FROM invoices "
    "WHERE organization_id = :org AND id = :doc"
).bindparams(bindparam("org", type_=Uuid()), bindparam("doc", type_=Uuid()))
_PAYMENTS = (
    text(
        "SELECT p.id, p.date, p.amount, p.invoice_id FROM payments p JOIN invoices i "
        "ON i.organization_id = p.organization_id AND i.id = p.invoice_id "
        "WHERE p.organization_id = :org "
        "AND (i.id = :doc OR (i.credited_invoice_id = :doc AND i.kind = 'credit_note' "
        "AND i.finalized_at IS NOT NULL AND i.deleted_at IS NULL))"
    )
    .bindparams(bindparam("org", type_=Uuid()), bindparam("doc", type_=Uuid()))
    .columns(id=Uuid(), date=Date(), amount=ExactDecimal(), invoice_id=Uuid())
)

#: deleted payments of the document (or refunds of its credit notes) that an export booked, or
#: whose exchange difference it booked (``datev_db``: their reversals)
_DELETED = (
    text(
        "SELECT d.id, d.date, d.amount, d.invoice_id, d.deleted_on FROM deleted_payments d "
        "JOIN invoices i ON i.organization_id = d.organization_id AND i.id = d.invoice_id "
        "WHERE d.organization_id = :org "
        "AND (i.id = :doc OR (i.credited_invoice_id = :doc AND i.kind = 'credit_note' "
        "AND i.finalized_at IS NOT NULL AND i.deleted_at IS NULL)) "
        "AND EXISTS (SELECT 1 FROM export_marks m WHERE m.organization_id = d.organization_id "
        "AND m.client = :client AND m.target IN ('payment', 'fx_diff') AND m.item_id = d.id)"
    )
    .bindparams(bindparam("org", type_=Uuid()), bindparam("doc", type_=Uuid()))
    .columns(id=Uuid(), date=Date(), amount=ExactDecimal(), invoice_id=Uuid(), deleted_on=Date())
)

#: what earlier exports booked for the document's movements (``DatevFxValue``)
_BOOKED = (
    text(
        "SELECT item_id, value FROM datev_fx_values "
        "WHERE organization_id = :org AND client = :client AND document_id = :doc"
    )
    .bindparams(bindparam("org", type_=Uuid()), bindparam("doc", type_=Uuid()))
    .columns(item_id=Uuid(), value=ExactDecimal())
)
_STORED = (
    select(DatevFxValue.document_id, DatevFxValue.item_id)
    .where(DatevFxValue.organization_id == bindparam("org"))
    .where(DatevFxValue.client == bindparam("client"))
    .where(DatevFxValue.document_id.in_(bindparam("docs", expanding=True)))
)


class FxValues:
    """Euro values of the movements of foreign-currency documents, one history per document,
    as one DATEV client (``client``: '' the organization's, or a subsidiary's own) booked them:
    its marks say which deleted payments it booked, its kept values what it booked."""

    def __init__(self, conn: Connection, org: uuid.UUID, client: str, currency: str) -> None:
        self.conn = conn
        self.org = org
        self.client = client
        self.currency = currency
        self._values: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
        #: the VAT per tax group of each credit note, write-off and reversal of a document
        self._vat: dict[uuid.UUID, dict[str, dict[Key, Decimal]]] = {}
        #: the values handed out for bookings, (document, item) -> value: what the export
        #: booked, kept by ``keep`` in the export's transaction
        self.used: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {}

    def value(
        self, document: uuid.UUID, item: uuid.UUID, fallback: Callable[[], Decimal]
    ) -> Decimal:
        """The euro value of movement ``item`` of ``document`` (the one in Belegfeld 1);
        ``fallback`` when the history does not hold it (a row written after it was read)."""
        values = self._values.get(document)
        if values is None:
            values = self._values[document] = self._load(document)
        hit = values.get(item)
        if hit is None:
            return fallback()
        self.used[(document, item)] = hit
        return hit

    def vat(self, document: uuid.UUID, item: uuid.UUID) -> dict[Key, Decimal] | None:
        """The VAT of ``document``'s credit note, write-off or reversal ``item`` per tax group
        in euros (``ledger_vat_values``); None when the ledger does not hold it."""
        if document not in self._values:
            self._values[document] = self._load(document)
        return self._vat.get(document, {}).get(str(item))

    def _load(self, document: uuid.UUID) -> dict[uuid.UUID, Decimal]:
        conn, params = self.conn, {"org": self.org, "client": self.client, "doc": document}
        base = conn.execute(_BASE, params).one_or_none()
        if base is None or base.exchange_rate is None:
            return {}
        rate = Decimal(str(base.exchange_rate))
        groups = [
            GroupAmount(
                TaxCategory(g["category"]),
                Decimal(str(g["rate"])),
                Decimal(str(g["taxable_amount"])),
                Decimal(str(g["tax_amount"])),
            )
            for g in _json(base.tax_breakdown) or []
        ]
        ledger = _json(base.ledger) or []
        moves = ledger_settlings(ledger)  # credit notes and write-offs
        self._vat[document] = ledger_vat_values(ledger, rate, self.currency)
        for p in conn.execute(_PAYMENTS, params):
            # a payment settles its document; a refund on one of its credit notes undoes that.
            # An application of credit settles it too, though it is not booked (datev_credit.py):
            # the ledger counts it, and the values must be the ledger's (views.payment_differences)
            sign = 1 if p.invoice_id == document else -1
            moves.append(Settling(p.date, PAYMENT, str(p.id), sign * p.amount, sign))
        for d in conn.execute(_DELETED, params):
            # a deleted payment that an export booked stays in the books with its reversal on
            # the day it was deleted: both are part of what the Debitor account holds
            sign = 1 if d.invoice_id == document else -1
            moves.append(Settling(d.date, PAYMENT, str(d.id), sign * d.amount, sign))
            undone = str(deletion_id(d.id))
            moves.append(Settling(d.deleted_on, REVERSAL, undone, -sign * d.amount, -sign))
        booked = {str(r.item_id): r.value for r in conn.execute(_BOOKED, params)}
        values = settling_values(groups, rate, self.currency, moves, booked)
        return {uuid.UUID(item): value for item, value in values.items() if _is_id(item)}

    def keep(self, export_id: uuid.UUID, now: dt.datetime) -> int:
        """Record the values this export booked that no earlier export did (the first stays:
        ``settling_values``' ``booked``); returns how many."""
        if not self.used:
            return 0
        stored = {
            (r.document_id, r.item_id)
            for r in self.conn.execute(
                _STORED, {"org": self.org, "client": self.client, "docs": list(self._values)}
            )
        }
        rows = [
            {
                "organization_id": self.org,
                "client": self.client,
                "document_id": document,
                "item_id": item,
                "value": value,
                "export_id": export_id,
                "booked_at": now,
            }
            for (document, item), value in self.used.items()
            if (document, item) not in stored
        ]
        if rows:
            self.conn.execute(insert(DatevFxValue), rows)
        return len(rows)


def _is_id(item: str) -> bool:
    try:
        uuid.UUID(item)
    except ValueError:  # a movement of a ledger migrated without its document's id
        return False
    return True
