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
month books the same values as one of the whole year. A payment backdated before one already
exported can move a later movement's value by a cent; the debtor account still closes.

One document's history is two small queries, read the first time one of its movements is
booked (foreign-currency documents are the few among many).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from invoicing.domain.fx import (
    PAYMENT,
    Settling,
    ledger_settlings,
    settling_values,
)
from invoicing.domain.ledger import GroupAmount
from invoicing.domain.money import round_money
from invoicing.domain.tax import TaxCategory
from invoicing.models.base import ExactDecimal
from sqlalchemy import Connection, Date, Uuid, bindparam, text


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


class FxValues:
    """Euro values of the movements of foreign-currency documents, one history per document."""

    def __init__(self, conn: Connection, org: uuid.UUID, currency: str) -> None:
        self.conn = conn
        self.org = org
        self.currency = currency
        self._values: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}

    def value(
        self, document: uuid.UUID, item: uuid.UUID, fallback: Callable[[], Decimal]
    ) -> Decimal:
        """The euro value of movement ``item`` of ``document`` (the one in Belegfeld 1);
        ``fallback`` when the history does not hold it (a row written after it was read)."""
        values = self._values.get(document)
        if values is None:
            values = self._values[document] = self._load(document)
        hit = values.get(item)
        return fallback() if hit is None else hit

    def _load(self, document: uuid.UUID) -> dict[uuid.UUID, Decimal]:
        conn, params = self.conn, {"org": self.org, "doc": document}
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
        moves = ledger_settlings(_json(base.ledger) or [])  # credit notes and write-offs
        for p in conn.execute(_PAYMENTS, params):
            # a payment settles its document; a refund on one of its credit notes undoes that.
            # An application of credit settles it too, though it is not booked (datev_credit.py):
            # the ledger counts it, and the values must be the ledger's (views.payment_differences)
            sign = 1 if p.invoice_id == document else -1
            moves.append(Settling(p.date, PAYMENT, str(p.id), sign * p.amount, sign))
        values = settling_values(groups, rate, self.currency, moves)
        return {uuid.UUID(item): value for item, value in values.items() if _is_id(item)}


def _is_id(item: str) -> bool:
    try:
        uuid.UUID(item)
    except ValueError:  # a movement of a ledger migrated without its document's id
        return False
    return True
