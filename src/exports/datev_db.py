# SQL is assembled from fixed fragments of this module only; every value is a bound parameter.
# ruff: noqa: S608
"""The database side of the DATEV export: streaming queries, debtor accounts, export marks.

Bookings are read with server-side cursors (``stream_results`` + ``yield_per``) and flow
straight into the file writer, one document at a time, so memory does not grow with the
number of invoices. Tax groups are unnested in SQL (``jsonb_array_elements`` on PostgreSQL,
``json_each`` on SQLite): one result row per booking.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from invoicing import texts
from invoicing.domain.errors import DomainError
from invoicing.domain.fx import deletion_id, exchange_difference, fit, reversal_id
from invoicing.domain.ledger import Key, key_of
from invoicing.domain.money import ZERO, round_money
from invoicing.domain.numbering import number_key
from invoicing.domain.subsidiaries import ORGANIZATION_CLIENT, DatevScope, datev_blocked
from invoicing.domain.tax import TaxCategory
from invoicing.exports.datev import (
    CENT,
    MAX_BOOKINGS,
    Booking,
    Debtor,
    WriteStats,
    clean_text,
    compact_vat_id,
    sanitize_belegfeld,
    segments,
    write_batches,
    write_debtors,
)
from invoicing.exports.datev_credit import CreditItem, credit_items, mark_credits
from invoicing.exports.datev_fx import FxValues, group_values
from invoicing.exports.datev_vat import Extraction, extraction
from invoicing.exports.settings import DatevSettings, RevenueAccount
from invoicing.models.base import ExactDecimal, UTCDateTime
from invoicing.observability.progress import ProgressLog
from sqlalchemy import Connection, Date, String, TextClause, Uuid, bindparam, text
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import TextualSelect

YIELD_PER = 2_000
#: per statement (Connection.execution_options would change the whole connection)
STREAM: dict[str, Any] = {"stream_results": True, "yield_per": YIELD_PER}
#: the pseudo category of a small business's exempt revenue (§ 19 UStG)
SMALL_BUSINESS = "small_business"
_EU_CATEGORIES = {TaxCategory.INTRA_EU.value, TaxCategory.REVERSE_CHARGE.value}

# ----------------------------------------------------------------------------- SQL


def _small_business(dialect: str, alias: str = "i") -> str:
    """Whether the seller snapshot is a § 19 UStG small business (revenue on 8195 / 4185)."""
    if dialect == "postgresql":
        return f"{alias}.seller->>'small_business' AS seller_small_business"
    return f"json_extract({alias}.seller, '$.small_business') AS seller_small_business"


def _buyer(dialect: str, alias: str = "i") -> str:
    if dialect == "postgresql":
        return (
            f"{alias}.buyer->>'name' AS buyer_name, {alias}.buyer->>'vat_id' AS buyer_vat, "
            f"{alias}.buyer->'address'->>'country_code' AS buyer_country"
        )
    return (
        f"json_extract({alias}.buyer, '$.name') AS buyer_name, "
        f"json_extract({alias}.buyer, '$.vat_id') AS buyer_vat, "
        f"json_extract({alias}.buyer, '$.address.country_code') AS buyer_country"
    )


_DOCS = """
  i.organization_id = :org
  AND i.kind IN ('invoice', 'credit_note')
  AND i.finalized_at IS NOT NULL
  AND i.number IS NOT NULL
  AND i.deleted_at IS NULL
  AND (i.currency = :cur OR i.exchange_rate IS NOT NULL)
"""


def _issuers(scope: DatevScope, alias: str = "i") -> str:
    """The documents of the export's DATEV client (``domain.subsidiaries.datev_client``): a
    subsidiary's own export holds its documents; the organization's leaves out those of the
    subsidiaries with clients of their own (nothing to add while there are none)."""
    if scope.client != ORGANIZATION_CLIENT:
        return f" AND {alias}.subsidiary_id = :client"
    if not scope.leaves_out:
        return ""
    return (
        f" AND ({alias}.subsidiary_id IS NULL OR NOT EXISTS (SELECT 1 FROM datev_settings s "
        f"WHERE s.organization_id = {alias}.organization_id AND s.client = {alias}.subsidiary_id))"
    )


def _docs(scope: DatevScope) -> str:
    """``_DOCS`` of the export's client."""
    return _DOCS + _issuers(scope)


_NO_CREDIT_NOTE = """
  AND NOT EXISTS (SELECT 1 FROM invoices cn WHERE cn.organization_id = i.organization_id
                  AND cn.credited_invoice_id = i.id AND cn.finalized_at IS NOT NULL)
"""


def _unmarked(target: str, item: str) -> str:
    """Not yet marked in the export's client (``:client``): each client has its own marks."""
    # fixed identifiers chosen in this module, never user input
    return (
        f" AND NOT EXISTS (SELECT 1 FROM export_marks m WHERE m.organization_id = "
        f"i.organization_id AND m.client = :client AND m.target = '{target}' "
        f"AND m.item_id = {item})"
    )


def _doc_where(reversal: bool, scope: DatevScope) -> str:
    if reversal:
        return (
            _docs(scope) + " AND i.status = 'void' AND i.voided_at >= :ts_from"
            " AND i.voided_at < :ts_to" + _NO_CREDIT_NOTE
        )
    return _docs(scope) + " AND i.issue_date >= :d_from AND i.issue_date <= :d_to"


def _booking_sql(
    dialect: str, reversal: bool, unexported: bool, scope: DatevScope
) -> TextualSelect:
    where = _doc_where(reversal, scope)
    if unexported:
        where += _unmarked("reversal" if reversal else "invoice", "i.id")
    if dialect == "postgresql":
        groups = (
            "b.value->>'category' AS g_category, b.value->>'rate' AS g_rate, "
            "b.value->>'taxable_amount' AS g_taxable, b.value->>'tax_amount' AS g_tax, "
            "NULL AS g_json"
        )
        unnest = (
            "CROSS JOIN LATERAL jsonb_array_elements(i.tax_breakdown) "
            "WITH ORDINALITY AS b(value, n)"
        )
        order_n = "b.n"
    else:
        groups = (
            "NULL AS g_category, NULL AS g_rate, NULL AS g_taxable, NULL AS g_tax, "
            "b.value AS g_json"
        )
        unnest = "JOIN json_each(i.tax_breakdown) AS b"
        order_n = "b.key"
    day = "i.voided_at" if reversal else "i.issue_date"
    sql = f"""
SELECT i.kind, i.number, {day} AS day, i.delivery_date, i.service_period_end,
       i.customer_id, i.currency, i.exchange_rate, {_buyer(dialect)},
       ci.number AS credited_number, {groups}, {_small_business(dialect)},
       i.id AS doc_id, i.credited_invoice_id AS credited_id, i.subsidiary_id AS issuer
FROM invoices i
{unnest}
LEFT JOIN invoices ci ON ci.organization_id = i.organization_id AND ci.id = i.credited_invoice_id
WHERE {where}
ORDER BY {day}, i.number_key, {order_n}"""
    return _typed(text(sql), reversal).columns(
        customer_id=Uuid(),
        delivery_date=Date(),
        service_period_end=Date(),
        exchange_rate=ExactDecimal(),
        day=UTCDateTime() if reversal else Date(),
        doc_id=Uuid(),
        credited_id=Uuid(),
    )


# column positions of the booking query (rows are read by index: attribute access on
# SQLAlchemy rows costs ~1 µs each, which matters at a million rows)
(
    D_KIND,
    D_NUMBER,
    D_DAY,
    D_DELIVERY,
    D_PERIOD_END,
    D_CUSTOMER,
    D_CURRENCY,
    D_FX,
    D_NAME,
    D_VAT,
    D_COUNTRY,
    D_CREDITED,
    D_CATEGORY,
    D_RATE,
    D_TAXABLE,
    D_TAX,
    D_JSON,
    D_SMALL_BUSINESS,
    D_ID,
    D_CREDITED_ID,
    D_ISSUER,
) = range(21)
_TRUE = (True, 1, "1", "true")


#: payments rows booked as payments: dated in the range; an application of a customer's credit
#: moves no money and is left out (exports/datev_credit.py)
_PAYMENT_ROWS = " AND p.date >= :d_from AND p.date <= :d_to AND p.credit_entry_id IS NULL"
#: payments received at another rate than their invoice's (a realised exchange difference)
_FX_PAYMENTS = " AND p.exchange_rate IS NOT NULL AND i.exchange_rate IS NOT NULL"


def _payment_columns(sql: str) -> TextualSelect:
    """A statement of the ``P_*`` columns (payments, or deleted payments), typed."""
    return _typed(text(sql), False).columns(
        payment_id=Uuid(),
        amount=ExactDecimal(),
        day=Date(),
        customer_id=Uuid(),
        exchange_rate=ExactDecimal(),
        payment_rate=ExactDecimal(),
        doc_id=Uuid(),
        credited_id=Uuid(),
    )


def _payment_sql(
    dialect: str, unexported: bool, scope: DatevScope, differences: bool = False
) -> TextualSelect:
    """Payments of the range (of the client's documents); ``differences``: only those with an
    exchange difference (their export mark is ``fx_diff``, apart from the payment's own)."""
    where = _docs(scope) + _PAYMENT_ROWS
    target = "payment"
    if differences:
        where += _FX_PAYMENTS + " AND i.kind = 'invoice'"
        target = "fx_diff"
    if unexported:
        where += _unmarked(target, "p.id")
    sql = f"""
SELECT p.id AS payment_id, p.amount, p.date AS day, p.method, p.reference,
       i.kind, i.number, i.customer_id, i.currency, i.exchange_rate, {_buyer(dialect)},
       ci.number AS credited_number, p.exchange_rate AS payment_rate,
       i.id AS doc_id, i.credited_invoice_id AS credited_id
FROM payments p
JOIN invoices i ON i.organization_id = p.organization_id AND i.id = p.invoice_id
LEFT JOIN invoices ci ON ci.organization_id = i.organization_id AND ci.id = i.credited_invoice_id
WHERE p.organization_id = :org AND {where}
ORDER BY p.date, i.number_key, p.id"""
    return _payment_columns(sql)


#: export_marks.target of the reversal of a deleted payment's booking, and of the reversal of
#: its exchange difference
PAYMENT_REVERSAL, FX_REVERSAL = "pay_reversal", "fx_reversal"


def _marked(target: str, item: str) -> str:
    """Marked in the export's client: booked there (a reversal belongs where its booking is)."""
    # fixed identifiers chosen in this module, never user input
    return (
        f" AND EXISTS (SELECT 1 FROM export_marks m WHERE m.organization_id = "
        f"i.organization_id AND m.client = :client AND m.target = '{target}' "
        f"AND m.item_id = {item})"
    )


def _deleted_where(unexported: bool, differences: bool, reversal: bool, scope: DatevScope) -> str:
    """Deleted payments an earlier export booked (``differences``: whose exchange difference
    it booked): ``reversal``, those deleted in the range (their reversals; ``unexported``: not
    yet reversed in an export); else those dated in it (their own booking, which a run of the
    whole range books again as it did: marked, so never part of an unexported export)."""
    booked, target = ("fx_diff", FX_REVERSAL) if differences else ("payment", PAYMENT_REVERSAL)
    day = "d.deleted_on" if reversal else "d.date"
    where = _docs(scope) + f" AND {day} >= :d_from AND {day} <= :d_to" + _marked(booked, "d.id")
    if unexported and reversal:
        where += _unmarked(target, "d.id")
    return where


def _deleted_sql(
    dialect: str,
    unexported: bool,
    scope: DatevScope,
    *,
    differences: bool = False,
    reversal: bool = True,
) -> TextualSelect:
    """Deleted payments (``deleted_payments``) as ``_payment_sql`` reads payments, the ``P_*``
    columns, dated on the day they were deleted when ``reversal`` (``_deleted_where``)."""
    where = _deleted_where(unexported, differences, reversal, scope)
    sql = f"""
SELECT d.id AS payment_id, d.amount, {"d.deleted_on" if reversal else "d.date"} AS day, d.method,
       d.reference, i.kind, i.number, i.customer_id, i.currency, i.exchange_rate,
       {_buyer(dialect)}, ci.number AS credited_number, d.exchange_rate AS payment_rate,
       i.id AS doc_id, i.credited_invoice_id AS credited_id
FROM deleted_payments d
JOIN invoices i ON i.organization_id = d.organization_id AND i.id = d.invoice_id
LEFT JOIN invoices ci ON ci.organization_id = i.organization_id AND ci.id = i.credited_invoice_id
WHERE d.organization_id = :org AND {where}
ORDER BY day, i.number_key, d.id"""
    return _payment_columns(sql)


(
    P_ID,
    P_AMOUNT,
    P_DAY,
    P_METHOD,
    P_REFERENCE,
    P_KIND,
    P_NUMBER,
    P_CUSTOMER,
    P_CURRENCY,
    P_FX,
    P_NAME,
    P_VAT,
    P_COUNTRY,
    P_CREDITED,
    P_RATE,
    P_DOC,
    P_CREDITED_ID,
) = range(17)


def _write_off_sql(dialect: str, scope: DatevScope) -> TextClause:
    """Invoices of the client with write-offs in their ledger (the movements are filtered in
    Python)."""
    ledger_text = "CAST(i.ledger AS TEXT)" if dialect == "postgresql" else "i.ledger"
    sql = f"""
SELECT i.id, i.number, i.customer_id, i.currency, i.exchange_rate, {_buyer(dialect)},
       i.ledger, i.subsidiary_id
FROM invoices i
WHERE {_docs(scope)} AND i.kind = 'invoice' AND {ledger_text} LIKE '%write_off%'
ORDER BY i.number_key"""
    return text(sql).bindparams(bindparam("org", type_=Uuid()), bindparam("cur", type_=String()))


@dataclass(frozen=True)
class WriteOffItem:
    """One write-off (or its reversal) of an invoice, as the export books it."""

    item_id: uuid.UUID  # the export mark: the write-off's id, or a derived id for its reversal
    day: dt.date
    reversal: bool
    reason: str
    groups: list[dict[str, Any]]
    number: str
    customer_id: uuid.UUID | None
    currency: str
    fx: Decimal | None
    name: str | None
    vat: str | None
    country: str | None
    invoice_id: uuid.UUID
    write_off_id: uuid.UUID  # the write-off's own id, its reversal's too: named in the text
    issuer: str | None = None  # the invoice's subsidiary (None: the organization's)


def write_off_items(
    conn: Connection,
    org: uuid.UUID,
    cur: str,
    start: dt.date,
    end: dt.date,
    unexported: bool,
    scope: DatevScope,
) -> list[WriteOffItem]:
    """Write-offs and reversals of the client's invoices dated ``start..end``, in (date,
    number) order; ``unexported``: those not marked in the client yet."""
    marked: set[uuid.UUID] = set()
    if unexported:
        marked = {
            uuid.UUID(str(x))
            for x in conn.execute(
                text(
                    "SELECT item_id FROM export_marks WHERE organization_id = :org "
                    "AND client = :client AND target = 'write_off'"
                ).bindparams(bindparam("org", type_=Uuid())),
                {"org": org, "client": scope.client},
            ).scalars()
        }
    items: list[WriteOffItem] = []
    params = {"org": org, "cur": cur, "client": scope.client}
    for row in conn.execute(_write_off_sql(conn.dialect.name, scope), params):
        ledger = row.ledger if isinstance(row.ledger, list) else json.loads(row.ledger or "[]")
        for m in ledger:
            if m["kind"] not in ("write_off", "write_off_reversal"):
                continue
            day = dt.date.fromisoformat(m["date"])
            reversal = m["kind"] == "write_off_reversal"
            base = uuid.UUID(m["document_id"])
            item_id = reversal_id(base) if reversal else base
            if not start <= day <= end or item_id in marked:
                continue
            fx = row.exchange_rate
            items.append(
                WriteOffItem(
                    item_id,
                    day,
                    reversal,
                    str(m.get("reason") or "uncollectible"),
                    list(m["groups"]),
                    row.number,
                    uuid.UUID(str(row.customer_id)) if row.customer_id else None,
                    row.currency,
                    Decimal(str(fx)) if fx is not None else None,
                    row.buyer_name,
                    row.buyer_vat,
                    row.buyer_country,
                    uuid.UUID(str(row.id)),
                    base,
                    row.subsidiary_id,
                )
            )
    items.sort(key=lambda w: (w.day, number_key(w.number), w.reversal, str(w.item_id)))
    return items


def _typed(clause: TextClause, reversal: bool) -> TextClause:
    params: list[BindParameter[Any]] = [
        bindparam("org", type_=Uuid()),
        bindparam("cur", type_=String()),
    ]
    if reversal:
        params += [
            bindparam("ts_from", type_=UTCDateTime()),
            bindparam("ts_to", type_=UTCDateTime()),
        ]
    else:
        params += [bindparam("d_from", type_=Date()), bindparam("d_to", type_=Date())]
    return clause.bindparams(*params)


def _params(
    org: uuid.UUID,
    cur: str,
    start: dt.date,
    end: dt.date,
    client: str,
    reversal: bool = False,
) -> dict[str, Any]:
    """The parameters of the booking statements (``:client`` names the export's DATEV client:
    its documents, its marks)."""
    if reversal:
        return {
            "org": org,
            "cur": cur,
            "client": client,
            "ts_from": _midnight(start),
            "ts_to": _midnight(end + dt.timedelta(days=1)),
        }
    return {"org": org, "cur": cur, "client": client, "d_from": start, "d_to": end}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


# ----------------------------------------------------------------------------- debtors


class DebtorBook:
    """Stable Debitor accounts of one DATEV client: loaded once, new customers get the next
    free account (each client numbers its own: a customer of both has an account in each)."""

    def __init__(
        self, conn: Connection, org: uuid.UUID, client: str, settings: DatevSettings
    ) -> None:
        self.org = org
        self.client = client
        self.start, self.end = settings.debtor_range
        rows = conn.execute(
            text(
                "SELECT customer_key, account FROM datev_debtor_accounts "
                "WHERE organization_id = :org AND client = :client"
            ).bindparams(bindparam("org", type_=Uuid())),
            {"org": org, "client": client},
        ).all()
        self.accounts: dict[str, int] = {str(k): int(a) for k, a in rows}
        self.taken = set(self.accounts.values())
        self.next = self.start
        self.new: list[tuple[str, int, uuid.UUID | None]] = []
        self.last_number: dict[str, str] = {}  # customer key -> latest document number
        self._by_customer: dict[uuid.UUID, str] = {}  # fast path: customer id -> key

    def account(
        self, customer_id: uuid.UUID | None, name: str | None, vat: str | None, number: str
    ) -> str:
        if customer_id is not None:
            key = self._by_customer.get(customer_id) or self._by_customer.setdefault(
                customer_id, str(customer_id)
            )
        else:
            key = _anonymous_key(name, vat)
        acc = self.accounts.get(key)
        if acc is None:
            while self.next in self.taken:
                self.next += 1
            if self.next > self.end:
                raise DomainError(
                    "datev_debtor_range_full",
                    f"no free Debitor account left in {self.start}..{self.end}",
                    hint="widen debtor_range_start/debtor_range_end with configure_datev",
                )
            acc = self.next
            self.accounts[key] = acc
            self.taken.add(acc)
            self.new.append((key, acc, customer_id))
        self.last_number[key] = number
        return str(acc)

    def save(self, conn: Connection, now: dt.datetime) -> None:
        if not self.new:
            return
        stmt = text(
            "INSERT INTO datev_debtor_accounts (organization_id, client, customer_key, account, "
            "customer_id, created_at) VALUES (:org, :client, :key, :acc, :cid, :now)"
        ).bindparams(
            bindparam("org", type_=Uuid()),
            bindparam("cid", type_=Uuid()),
            bindparam("now", type_=UTCDateTime()),
        )
        conn.execute(
            stmt,
            [
                {"org": self.org, "client": self.client, "key": k, "acc": a, "cid": c, "now": now}
                for k, a, c in self.new
            ],
        )
        self.new.clear()


def _anonymous_key(name: str | None, vat: str | None) -> str:
    digest = hashlib.sha256(f"{(name or '').strip().lower()}|{vat or ''}".encode()).hexdigest()
    return "buyer:" + digest[:40]


def assign_debtor_accounts(
    conn: Connection,
    org: uuid.UUID,
    client: str,
    settings: DatevSettings,
    fixed: dict[uuid.UUID, int],
    now: dt.datetime,
) -> None:
    """Pin customers to accounts of one DATEV client (configure_datev). A customer keeps an
    existing account."""
    start, end = settings.debtor_range
    for customer_id, account in fixed.items():
        if not start <= account <= end:
            raise DomainError(
                "datev_debtor_out_of_range",
                f"Debitor {account} is outside {start}..{end}",
                pointer=f"/debtor_accounts/{customer_id}",
            )
        owner = conn.execute(
            text(
                "SELECT customer_key FROM datev_debtor_accounts WHERE organization_id = :org "
                "AND client = :client AND account = :acc"
            ).bindparams(bindparam("org", type_=Uuid())),
            {"org": org, "client": client, "acc": account},
        ).scalar()
        current = conn.execute(
            text(
                "SELECT account FROM datev_debtor_accounts WHERE organization_id = :org "
                "AND client = :client AND customer_key = :key"
            ).bindparams(bindparam("org", type_=Uuid())),
            {"org": org, "client": client, "key": str(customer_id)},
        ).scalar()
        if owner is not None and owner != str(customer_id):
            raise DomainError(
                "datev_debtor_taken",
                f"Debitor {account} already belongs to {owner}",
                pointer=f"/debtor_accounts/{customer_id}",
            )
        if current is not None and int(current) != account:
            raise DomainError(
                "datev_debtor_changed",
                f"customer {customer_id} already has Debitor {current}; DATEV accounts are "
                "never reassigned",
                pointer=f"/debtor_accounts/{customer_id}",
            )
        if current is None:
            conn.execute(
                text(
                    "INSERT INTO datev_debtor_accounts (organization_id, client, customer_key, "
                    "account, customer_id, created_at) "
                    "VALUES (:org, :client, :key, :acc, :cid, :now)"
                ).bindparams(
                    bindparam("org", type_=Uuid()),
                    bindparam("cid", type_=Uuid()),
                    bindparam("now", type_=UTCDateTime()),
                ),
                {
                    "org": org,
                    "client": client,
                    "key": str(customer_id),
                    "acc": account,
                    "cid": customer_id,
                    "now": now,
                },
            )


# ----------------------------------------------------------------------------- bookings


@dataclass
class Counters:
    invoices: int = 0
    credit_notes: int = 0
    payments: int = 0
    reversals: int = 0
    write_offs: int = 0
    credits: int = 0
    exchange_differences: int = 0
    payment_reversals: int = 0
    belegfeld_changed: int = 0
    belegfeld_collisions: int = 0
    missing_vat_ids: int = 0
    #: rows split so that DATEV extracts the ledger's VAT (datev_vat.py), and rows where no
    #: split exists (DATEV's extraction stands)
    vat_splits: int = 0
    vat_differences: int = 0
    changed: dict[str, str] = field(default_factory=dict)  # sanitized -> original (changed only)

    def beleg(self, number: str) -> str:
        value = sanitize_belegfeld(number)
        if value != number:
            seen = self.changed.get(value)
            if seen is None:
                self.belegfeld_changed += 1
                self.changed[value] = number
            elif seen != number:
                self.belegfeld_collisions += 1
        elif number in self.changed and self.changed[number] != number:
            self.belegfeld_collisions += 1
        return value


class BookingBuilder:
    """Turns result rows into DATEV bookings for one DATEV client's settings."""

    def __init__(
        self,
        settings: DatevSettings,
        debtors: DebtorBook,
        counters: Counters,
        fx: FxValues,
        scope: DatevScope | None = None,
    ) -> None:
        self.s = settings
        self.scope = scope or DatevScope()
        self.fx = fx
        self.debtors = debtors
        self.c = counters
        self.automatic = settings.automatic
        self._accounts: dict[tuple[str, str, str], RevenueAccount] = {}
        self.credit_ref = settings.credit_note_reference == "credited_invoice"
        self.base = settings.currency
        self._targets: dict[
            tuple[str, str, str | None, str | None],
            tuple[str, str, str | None, Extraction | None],
        ] = {}
        self.leistungsdatum = settings.leistungsdatum

    def _revenue(self, category: str, rate: str, country: str | None) -> tuple[RevenueAccount, str]:
        region = self.s.region_of(country)
        key = (category, rate, region)
        ra = self._accounts.get(key)
        if ra is None:
            ra = self.s.revenue_account(category, rate, region)
            self._accounts[key] = ra
        return ra, region

    def _eur(self, amount: Decimal, currency: str, rate: Decimal | None) -> Decimal:
        if currency == self.s.currency or rate is None:
            return amount
        return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)

    def _settles(
        self, document: uuid.UUID, item: uuid.UUID, amount: Decimal, rate: Decimal
    ) -> Decimal:
        """The euro value of a movement that settles a foreign-currency ``document``
        (datev_fx.py): ``amount`` at ``rate`` but for the cent that closes the document."""
        return self.fx.value(document, item, lambda: self._eur(amount, "", rate))

    def _target(
        self, category: str, rate: str, country: str | None, vat_id: str | None
    ) -> tuple[str, str, str | None, Extraction | None]:
        """(revenue account, BU key, EU VAT id for field 40, DATEV's VAT extraction on that
        account or None) of a tax group, memoized."""
        key = (category, rate, country, vat_id)
        hit = self._targets.get(key)
        if hit is None and category == SMALL_BUSINESS:
            hit = self._targets[key] = (self.s.small_business_account, "", None, None)
        if hit is None:
            ra, region = self._revenue(category, rate, country)
            bu = "" if ra.account in self.automatic else (ra.bu_key or "")
            vat = None
            if category in _EU_CATEGORIES and region == "eu":
                vat = compact_vat_id(vat_id)
                if vat is None:
                    self.c.missing_vat_ids += 1
            hit = (ra.account, bu, vat, self._extraction(ra.account, bu, Decimal(rate)))
            self._targets[key] = hit
        return hit

    def _extraction(self, account: str, bu: str, rate: Decimal) -> Extraction | None:
        """DATEV takes VAT out of the gross on an automatic account or with a BU key, for a
        group with a rate; else it takes none."""
        if rate > 0 and (bu or account in self.automatic):
            return extraction(rate)
        return None

    def _label(self, prefix: str, number: str, name: str, limit: int = 60) -> str:
        """Buchungstext ≤ ``limit``: the (cached) cleaned name after the document number(s)."""
        if not (number.isascii() and number.isprintable()):
            number = clean_text(number, 36)
        text_ = f"{prefix}{number} {clean_text(name, 60)}" if name else f"{prefix}{number}"
        return text_ if len(text_) <= limit else text_[:limit].rstrip()

    def document(self, rows: Sequence[Any], reversal: bool, day: dt.date) -> list[Booking]:
        """All bookings of one invoice/credit note (rows = its tax groups, see ``D_*``)."""
        first = rows[0]
        number = first[D_NUMBER]
        credit = first[D_KIND] == "credit_note"
        name = first[D_NAME] or ""
        credited = first[D_CREDITED]
        debtor = self.debtors.account(first[D_CUSTOMER], name, first[D_VAT], number)
        info: tuple[str, str] | None = None
        if credit and self.credit_ref and credited:
            beleg = self.c.beleg(credited)
            info = ("Gutschriftsnummer", clean_text(number, 210))
        else:
            beleg = self.c.beleg(number)
        if reversal:
            text_ = self._label(texts.text("datev.reversal", "de") + " ", number, name)
            self.c.reversals += 1
        elif credit:
            ref = (
                texts.text("datev.credit_of", "de", number=number, invoice=credited)
                if credited
                else number
            )
            text_ = self._label(texts.text("datev.credit_note", "de") + " ", ref, name)
            self.c.credit_notes += 1
        else:
            text_ = self._label("", number, name)
            self.c.invoices += 1
        service = (first[D_DELIVERY] or first[D_PERIOD_END]) if self.leistungsdatum else None
        negate = credit != reversal
        country, vat_id = first[D_COUNTRY], first[D_VAT]
        currency, fx = first[D_CURRENCY], first[D_FX]
        convert = fx is not None and currency != self.base
        targets: list[tuple[str, str, str | None, Extraction | None]] = []
        groups: list[dict[str, Decimal]] = []
        keys: list[Key] = []
        for row in rows:
            raw = row[D_JSON]
            if raw is None:
                category, rate = row[D_CATEGORY], row[D_RATE]
                net, tax = Decimal(row[D_TAXABLE]), Decimal(row[D_TAX])
            else:
                g = json.loads(raw, parse_float=Decimal)
                category, rate = str(g["category"]), str(g["rate"])
                net, tax = Decimal(str(g["taxable_amount"])), Decimal(str(g["tax_amount"]))
            if convert:
                keys.append(key_of(category, Decimal(rate)))
            if category == TaxCategory.EXEMPT.value and first[D_SMALL_BUSINESS] in _TRUE:
                category = SMALL_BUSINESS  # § 19 UStG: its own revenue account
            try:
                targets.append(self._target(category, rate, country, vat_id))
            except DomainError as exc:  # which document, whose, and what to do in this client
                raise datev_blocked(exc, number, first[D_ISSUER], self.scope) from exc
            groups.append({"taxable_amount": net, "tax_amount": tax})
        if convert:
            grosses = self._converted(first, groups, fx)
            taxes = self._converted_vat(first, groups, keys, fx)
        else:
            grosses = [g["taxable_amount"] + g["tax_amount"] for g in groups]
            taxes = [g["tax_amount"] for g in groups]
        out: list[Booking] = []
        for (account, bu, vat, ex), gross, tax in _summed(targets, grosses, taxes):
            for i, piece in enumerate(self._pieces(gross, tax, ex)):
                if negate:
                    piece = -piece
                sh = "S" if piece > 0 else "H"
                label = _rounding(text_) if i else text_
                out.append(
                    Booking(
                        abs(piece), sh, debtor, account, day, beleg, label, bu, vat, service, info
                    )
                )
        return out

    def _pieces(self, gross: Decimal, tax: Decimal, ex: Extraction | None) -> list[Decimal]:
        """``gross`` as rows whose VAT DATEV extracts as ``tax`` (datev_vat.py), counted."""
        if ex is None or not gross:
            return [gross] if gross else []
        if ex.round_trips(gross, tax):
            return [gross]
        pieces = ex.split(gross, tax)
        if len(pieces) > 1:
            self.c.vat_splits += 1
        else:
            self.c.vat_differences += 1
        return pieces

    def _converted_vat(
        self, first: Any, groups: list[dict[str, Decimal]], keys: list[Key], fx: Decimal
    ) -> list[Decimal]:
        """A foreign-currency document's VAT per tax group in euros: converted one by one for
        an invoice or a credit note of no invoice; for a credit note of an invoice, what it
        moved of the invoice's converted VAT (``domain.fx.ledger_vat_values``)."""
        own = [round_money(g["tax_amount"] * fx, self.base) for g in groups]
        credited = first[D_CREDITED_ID]
        if first[D_KIND] != "credit_note" or credited is None:
            return own
        moved = self.fx.vat(credited, first[D_ID])
        if moved is None:
            return own
        return [moved.get(key, tax) for key, tax in zip(keys, own, strict=True)]

    def _converted(
        self, first: Any, groups: list[dict[str, Decimal]], fx: Decimal
    ) -> list[Decimal]:
        """A foreign-currency document's tax groups in euros: each group's net and VAT
        converted (as the ledger states them); a credit note of an invoice as what it settles
        of that invoice (datev_fx.py), spread over its groups."""
        own = group_values(groups, fx, self.base)
        credited = first[D_CREDITED_ID]
        if first[D_KIND] != "credit_note" or credited is None:
            return own
        total = sum((g["taxable_amount"] + g["tax_amount"] for g in groups), Decimal(0))
        return fit(own, self._settles(credited, first[D_ID], total, fx))

    def payment(self, row: Any, reversal: bool = False) -> list[Booking]:
        """The booking of one payment (see ``P_*``); ``reversal``: of a deleted payment that an
        earlier export booked, the same booking the other way round ("Storno"), on the day it
        was deleted."""
        credit = row[P_KIND] == "credit_note"
        number = row[P_NUMBER]
        debtor = self.debtors.account(row[P_CUSTOMER], row[P_NAME] or "", row[P_VAT], number)
        if credit and self.credit_ref and row[P_CREDITED]:
            beleg = self.c.beleg(row[P_CREDITED])
        else:
            beleg = self.c.beleg(number)
        # what came in: at the payment's own rate when it has one, else what it settles
        value = (
            self._paid(row, reversal)
            if row[P_RATE] is None
            else self._eur(row[P_AMOUNT], row[P_CURRENCY], row[P_RATE])
        )
        if value == 0:
            return []
        ref = row[P_REFERENCE] or row[P_METHOD]
        label = "Storno Zahlung" if reversal else "Zahlung"
        text_ = clean_text(f"{label} {number} {ref} #{row[P_ID].hex[:8]}", 60)
        if reversal:
            self.c.payment_reversals += 1
        else:
            self.c.payments += 1
        # money in on an invoice: bank (Soll) to Debitor; a refund on a credit note: Haben.
        sh = "H" if (credit != (value < 0)) != reversal else "S"
        return [
            Booking(
                amount=abs(value),
                sh=sh,
                konto=self.s.bank,
                gegenkonto=debtor,
                date=row[P_DAY],
                belegfeld1=beleg,
                text=text_,
            )
        ]

    def _paid(self, row: Any, reversal: bool = False) -> Decimal:
        """What a payment settles in euros (at its document's frozen rate); ``reversal``:
        what its deletion takes back (``datev_fx``: the history holds both)."""
        amount: Decimal = row[P_AMOUNT]
        fx = row[P_FX]
        if row[P_CURRENCY] == self.base or fx is None:
            return amount
        document = row[P_DOC] if row[P_CREDITED_ID] is None else row[P_CREDITED_ID]
        item = deletion_id(row[P_ID]) if reversal else row[P_ID]
        return self._settles(document, item, amount, fx)

    def credit(self, item: CreditItem) -> list[Booking]:
        """Unapplied credit kept or refunded (exports/datev_credit.py)."""
        debtor = self.debtors.account(item.customer_id, None, None, item.number or "")
        self.c.credits += 1
        return [item.booking(self.s.bank, debtor)]

    def exchange_difference(self, row: Any, reversal: bool = False) -> list[Booking]:
        """The realised exchange difference of a payment received at another rate: the payment
        books what came in (``payment``), the invoice what it was worth at its frozen rate; the
        difference clears the Debitor: a gain Debitor (S) to Erträge aus Kursdifferenzen, a
        loss Aufwendungen aus Kursdifferenzen to Debitor (H). Belegfeld 1 = invoice number.
        ``reversal``: of a deleted payment whose difference an earlier export booked, the other
        way round, on the day it was deleted."""
        received = exchange_difference(
            self.s.currency, row[P_AMOUNT], row[P_FX], row[P_RATE]
        ).received
        diff = received - self._paid(row, reversal)
        if diff == 0:
            return []
        number = row[P_NUMBER]
        debtor = self.debtors.account(row[P_CUSTOMER], row[P_NAME] or "", row[P_VAT], number)
        kind = "gain" if diff > 0 else "loss"
        label = ("Storno " if reversal else "") + ("Kursgewinn" if diff > 0 else "Kursverlust")
        text_ = clean_text(f"{label} {number} #{row[P_ID].hex[:8]}", 60)
        self.c.exchange_differences += 1
        return [
            Booking(
                amount=abs(diff),
                sh="S" if (diff > 0) != reversal else "H",
                konto=debtor,
                gegenkonto=self.s.exchange_difference_account(kind),
                date=row[P_DAY],
                belegfeld1=self.c.beleg(number),
                text=text_,
            )
        ]

    def write_off(self, w: WriteOffItem) -> list[Booking]:
        """A write-off: the Debitor credited (H) against the loss, discount or reduction
        account of each tax group, gross (DATEV corrects the VAT on automatic accounts); its
        reversal is the same booking debited (S). Belegfeld 1 = the invoice's number."""
        debtor = self.debtors.account(w.customer_id, w.name or "", w.vat, w.number)
        beleg = self.c.beleg(w.number)
        prefix = "Storno Abschreibung " if w.reversal else "Abschreibung "
        # the write-off's id, as a payment's: two write-offs of one invoice on one day (one of
        # them reversed) are two rows an accountant can tell apart, each paired with its reversal
        text_ = f"{self._label(prefix, w.number, w.name or '', 50)} #{w.write_off_id.hex[:8]}"
        try:
            targets = [
                self.s.write_off_account(w.reason, str(g["category"]), str(g["rate"]))
                for g in w.groups
            ]
        except DomainError as exc:
            raise datev_blocked(exc, w.number, w.issuer, self.scope) from exc
        keys = [key_of(str(g["category"]), Decimal(str(g["rate"]))) for g in w.groups]
        parts = [{"taxable_amount": g["net"], "tax_amount": g["tax"]} for g in w.groups]
        taxes = [Decimal(str(g["tax"])) for g in w.groups]
        if w.currency != self.base and w.fx is not None:
            total = sum((Decimal(str(g["net"])) + Decimal(str(g["tax"])) for g in w.groups), ZERO)
            values = fit(
                group_values(parts, w.fx, self.base),
                self._settles(w.invoice_id, w.item_id, total, w.fx),
            )
            moved = self.fx.vat(w.invoice_id, w.item_id) or {}
            taxes = [
                moved.get(key, round_money(tax * w.fx, self.base))
                for key, tax in zip(keys, taxes, strict=True)
            ]
        else:
            values = [
                Decimal(str(p["taxable_amount"])) + Decimal(str(p["tax_amount"])) for p in parts
            ]
        wo_targets = [
            (account, bu, None, self._extraction(account, bu, key[1]))
            for (account, bu), key in zip(targets, keys, strict=True)
        ]
        out: list[Booking] = []
        for (account, bu, _, ex), value, tax in _summed(wo_targets, values, taxes):
            for i, piece in enumerate(self._pieces(value, tax, ex)):
                sh = "S" if (piece < 0) != w.reversal else "H"
                label = _rounding(text_) if i else text_
                out.append(Booking(abs(piece), sh, debtor, account, w.day, beleg, label, bu))
        if out:
            self.c.write_offs += 1
        return out


Target = tuple[str, str, str | None, Extraction | None]


def _rounding(text_: str) -> str:
    """The Buchungstext of the further rows of a split booking (datev_vat.py): the first row's,
    marked, so the accountant sees why a document books a few cents apart."""
    return f"USt-Rundung {text_}"[:60].rstrip()


def _summed(
    targets: Sequence[Target], grosses: Sequence[Decimal], taxes: Sequence[Decimal]
) -> list[tuple[Target, Decimal, Decimal]]:
    """Tax groups summed per booking target (account, BU key, EU VAT id): gross and VAT, and
    DATEV's extraction on it (None when groups of two rates meet on one account: no rate then
    tells what DATEV takes, which a configuration mapping two rates to one account gets)."""
    if len(targets) == 1:
        return [(targets[0], grosses[0], taxes[0])]
    sums: dict[tuple[str, str, str | None], list[Any]] = {}
    for (account, bu, vat, ex), gross, tax in zip(targets, grosses, taxes, strict=True):
        row = sums.get((account, bu, vat))
        if row is None:
            sums[(account, bu, vat)] = [gross, tax, ex]
            continue
        row[0] += gross
        row[1] += tax
        if row[2] is not ex:
            row[2] = None
    return [((a, b, v, ex), gross, tax) for (a, b, v), (gross, tax, ex) in sums.items()]


def _documents(
    conn: Connection, stmt: TextualSelect, params: dict[str, Any]
) -> Iterator[list[Any]]:
    """Consecutive rows of one document, from a server-side cursor."""
    result = conn.execute(stmt, params, execution_options=STREAM)
    current: list[Any] = []
    for row in result:
        if current and row[D_NUMBER] != current[0][D_NUMBER]:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def _stream(
    conn: Connection,
    builder: BookingBuilder,
    org: uuid.UUID,
    settings: DatevSettings,
    start: dt.date,
    end: dt.date,
    include_payments: bool,
    unexported: bool,
    scope: DatevScope,
) -> Iterator[list[Booking]]:
    """Bookings of one period in Belegdatum order: documents, reversals and payments merged;
    the documents (and what moves them) of the export's DATEV client only."""
    dialect = conn.dialect.name
    cur, client = settings.currency, scope.client

    Item = tuple[dt.date, int, str, int, list[Any], bool]

    def docs(reversal: bool) -> Iterator[Item]:
        stmt = _booking_sql(dialect, reversal, unexported, scope)
        order = 1 if reversal else 0
        params = _params(org, cur, start, end, client, reversal)
        for seq, rows in enumerate(_documents(conn, stmt, params)):
            day = rows[0][D_DAY]
            if isinstance(day, dt.datetime):
                day = day.date()
            yield day, order, rows[0][D_NUMBER], seq, rows, reversal

    def stream_of(stmt: TextualSelect, order: int, reversal: bool = False) -> Iterator[Item]:
        params = _params(org, cur, start, end, client)
        result = conn.execute(stmt, params, execution_options=STREAM)
        for seq, row in enumerate(result):
            yield row[P_DAY], order, row[P_NUMBER], seq, [row], reversal

    def pays() -> Iterator[Item]:
        yield from stream_of(_payment_sql(dialect, unexported, scope), 2)

    def write_offs() -> Iterator[Item]:
        items = write_off_items(conn, org, cur, start, end, unexported, scope)
        for seq, w in enumerate(items):
            yield w.day, 3, w.number, seq, [w], w.reversal

    def credits() -> Iterator[Item]:
        for seq, c in enumerate(credit_items(conn, org, cur, start, end, unexported)):
            yield c.day, 5, c.belegfeld, seq, [c], c.refund

    def differences() -> Iterator[Item]:
        yield from stream_of(_payment_sql(dialect, unexported, scope, differences=True), 4)

    def deleted(differences: bool, reversal: bool) -> Iterator[Item]:
        """Deleted payments an earlier export booked: their booking again in a run of its
        range, their reversal in the range they were deleted in (``_deleted_where``)."""
        stmt = _deleted_sql(dialect, unexported, scope, differences=differences, reversal=reversal)
        order = {(False, False): 6, (True, False): 7, (False, True): 8, (True, True): 9}
        yield from stream_of(stmt, order[(differences, reversal)], reversal)

    streams = [docs(False), docs(True), write_offs(), differences(), deleted(True, True)]
    if include_payments:
        streams += [pays(), deleted(False, True)]
        if scope.books_customer_credit:  # a customer's credit is the organization's
            streams.append(credits())
    if not unexported:  # the deleted payments' own bookings: marked, so in a run of all only
        streams.append(deleted(True, False))
        if include_payments:
            streams.append(deleted(False, False))
    progress = ProgressLog(
        "export.datev.progress",
        organization_id=str(org),
        subsidiary_id=scope.subsidiary_id,
        period=str(start),
    )
    # (day, stream, number, seq) is unique, so the merge never compares the rows
    for day, order, _number, _seq, items, reversal in heapq.merge(*streams):
        progress.tick()
        if order in (2, 6, 8):
            yield builder.payment(items[0], reversal)
        elif order == 3:
            yield builder.write_off(items[0])
        elif order in (4, 7, 9):
            yield builder.exchange_difference(items[0], reversal)
        elif order == 5:
            yield builder.credit(items[0])
        else:
            yield builder.document(items, reversal, day)


# ----------------------------------------------------------------------------- the export


@dataclass
class DatevResult:
    files: list[Path]
    bookings: int
    counts: dict[str, int]
    batches: list[dict[str, Any]]
    #: the euro values booked for foreign-currency movements: ``fx.keep`` records them with the
    #: export's marks (datev_fx.py)
    fx: FxValues


def export_datev(
    conn: Connection,
    org: uuid.UUID,
    settings: DatevSettings,
    start: dt.date,
    end: dt.date,
    directory: Path,
    now: dt.datetime,
    *,
    include_payments: bool = False,
    unexported: bool = False,
    monthly: bool = False,
    max_bookings: int = MAX_BOOKINGS,
    scope: DatevScope | None = None,
) -> DatevResult:
    """Write the EXTF files of ``start..end`` of one DATEV client (``scope``; default: the
    organization's, with no subsidiary of a client of its own) into ``directory`` (nothing is
    marked here)."""
    scope = scope or DatevScope()
    debtors = DebtorBook(conn, org, scope.client, settings)
    counters = Counters()
    fx = FxValues(conn, org, scope.client, settings.currency)
    builder = BookingBuilder(settings, debtors, counters, fx, scope)
    stats = WriteStats()
    for seg_start, seg_end in segments(settings, start, end, monthly):
        groups = _stream(
            conn, builder, org, settings, seg_start, seg_end, include_payments, unexported, scope
        )
        write_batches(
            directory, settings, now, seg_start, seg_end, groups, stats, max_bookings=max_bookings
        )
    files = [f.path for f in stats.files]
    debtor_count = 0
    if debtors.last_number:
        path = directory / "EXTF_Debitoren_Kreditoren.csv"
        debtor_count = write_debtors(
            path, settings, now, settings.fiscal_year_start(start), _debtor_rows(conn, org, debtors)
        )
        files.append(path)
    debtors.save(conn, now)
    skipped = conn.execute(
        text(
            "SELECT COUNT(*) FROM invoices i WHERE i.organization_id = :org AND i.kind IN "
            "('invoice', 'credit_note') AND i.finalized_at IS NOT NULL AND i.deleted_at IS "
            "NULL AND i.issue_date >= :d_from AND i.issue_date <= :d_to AND i.currency <> :cur "
            "AND i.exchange_rate IS NULL" + _issuers(scope)
        ).bindparams(
            bindparam("org", type_=Uuid()),
            bindparam("d_from", type_=Date()),
            bindparam("d_to", type_=Date()),
        ),
        {**_params(org, settings.currency, start, end, scope.client)},
    ).scalar_one()
    counts = {
        "bookings": stats.bookings,
        "invoices": counters.invoices,
        "credit_notes": counters.credit_notes,
        "payments": counters.payments,
        "reversals": counters.reversals,
        "write_offs": counters.write_offs,
        "credits": counters.credits,
        "exchange_differences": counters.exchange_differences,
        "payment_reversals": counters.payment_reversals,
        "batch_files": len(stats.files),
        "debtors": debtor_count,
        "belegfeld_changed": counters.belegfeld_changed,
        "belegfeld_collisions": counters.belegfeld_collisions,
        "missing_vat_ids": counters.missing_vat_ids,
        "vat_splits": counters.vat_splits,
        "vat_differences": counters.vat_differences,
        "skipped_foreign_currency": int(skipped),
    }
    batches = [
        {
            "name": f.path.name,
            "from": f.start.isoformat(),
            "to": f.end.isoformat(),
            "bookings": f.bookings,
        }
        for f in stats.files
    ]
    return DatevResult(files, stats.bookings, counts, batches, fx)


def _debtor_rows(conn: Connection, org: uuid.UUID, debtors: DebtorBook) -> Iterator[Debtor]:
    by_number = {number: key for key, number in debtors.last_number.items()}
    numbers = sorted(by_number)
    stmt = text(
        "SELECT number, customer_id, buyer FROM invoices WHERE organization_id = :org "
        "AND number IN :numbers"
    ).bindparams(bindparam("org", type_=Uuid()), bindparam("numbers", expanding=True))
    rows: list[Debtor] = []
    for i in range(0, len(numbers), 500):
        for number, _cid, buyer in conn.execute(
            stmt, {"org": org, "numbers": numbers[i : i + 500]}
        ):
            data = buyer if isinstance(buyer, dict) else json.loads(buyer or "{}")
            key = by_number[number]
            rows.append(_debtor(int(debtors.accounts[key]), data, key))
    rows.sort(key=lambda d: d.account)
    yield from rows


def _debtor(account: int, buyer: dict[str, Any], key: str) -> Debtor:
    address = buyer.get("address") or {}
    company = buyer.get("company")
    person = not company and bool(buyer.get("family_name"))
    return Debtor(
        account=account,
        name=str(company or buyer.get("name") or ""),
        is_person=person,
        given_name=str(buyer.get("given_name") or ""),
        family_name=str(buyer.get("family_name") or ""),
        vat_id=buyer.get("vat_id"),
        street=str(address.get("street_address") or ""),
        zip_code=str(address.get("zip_code") or ""),
        city=str(address.get("city") or ""),
        country=str(address.get("country_code") or ""),
        email=str(buyer.get("email") or ""),
        language=str(buyer.get("locale") or ""),
    )


# ----------------------------------------------------------------------------- marks


def mark_exported(
    conn: Connection,
    org: uuid.UUID,
    settings: DatevSettings,
    scope: DatevScope,
    *,
    date_from: dt.date,
    date_to: dt.date,
    export_id: uuid.UUID,
    now: dt.datetime,
    include_payments: bool,
) -> dict[str, int]:
    """Record the first export of every booking source of the range in the export's DATEV
    client (``scope``: its documents, its marks); set ``exported_at``.

    Set-based (no id lists in memory) and idempotent: a source already marked keeps its
    first export. Runs in the transaction that records the export.
    """
    start, end = date_from, date_to
    base = {
        "org": org,
        "cur": settings.currency,
        "client": scope.client,
        "eid": export_id,
        "now": now,
    }
    binds: list[BindParameter[Any]] = [
        bindparam("org", type_=Uuid()),
        bindparam("eid", type_=Uuid()),
        bindparam("now", type_=UTCDateTime()),
    ]
    marked: dict[str, int] = {}

    def insert(
        target: str,
        source: str,
        item: str,
        where: str,
        extra: dict[str, Any],
        extra_binds: list[BindParameter[Any]],
    ) -> int:
        sql = (
            f"INSERT INTO export_marks (organization_id, client, target, item_id, export_id, "
            f"marked_at) SELECT i.organization_id, CAST(:client AS VARCHAR(200)), '{target}', "
            f"{item}, :eid, :now "
            f"FROM {source} WHERE {where}" + _unmarked(target, item)
        )
        res = conn.execute(text(sql).bindparams(*binds, *extra_binds), {**base, **extra})
        return int(res.rowcount or 0)

    date_binds: list[BindParameter[Any]] = [
        bindparam("d_from", type_=Date()),
        bindparam("d_to", type_=Date()),
    ]
    dates = {"d_from": start, "d_to": end}
    marked["invoice"] = insert(
        "invoice", "invoices i", "i.id", _doc_where(False, scope), dates, date_binds
    )
    ts = {"ts_from": _midnight(start), "ts_to": _midnight(end + dt.timedelta(days=1))}
    ts_binds: list[BindParameter[Any]] = [
        bindparam("ts_from", type_=UTCDateTime()),
        bindparam("ts_to", type_=UTCDateTime()),
    ]
    marked["reversal"] = insert(
        "reversal", "invoices i", "i.id", _doc_where(True, scope), ts, ts_binds
    )
    if include_payments:
        marked["payment"] = insert(
            "payment",
            "payments p JOIN invoices i ON i.organization_id = p.organization_id "
            "AND i.id = p.invoice_id",
            "p.id",
            _docs(scope) + _PAYMENT_ROWS,
            dates,
            date_binds,
        )
    marked["exchange_difference"] = insert(
        "fx_diff",
        "payments p JOIN invoices i ON i.organization_id = p.organization_id "
        "AND i.id = p.invoice_id",
        "p.id",
        _docs(scope) + " AND p.date >= :d_from AND p.date <= :d_to" + _FX_PAYMENTS,
        dates,
        date_binds,
    )
    deleted = (
        "deleted_payments d JOIN invoices i ON i.organization_id = d.organization_id "
        "AND i.id = d.invoice_id"
    )
    if include_payments:
        marked["payment_reversal"] = insert(
            PAYMENT_REVERSAL,
            deleted,
            "d.id",
            _deleted_where(False, differences=False, reversal=True, scope=scope),
            dates,
            date_binds,
        )
    marked["exchange_difference_reversal"] = insert(
        FX_REVERSAL,
        deleted,
        "d.id",
        _deleted_where(False, differences=True, reversal=True, scope=scope),
        dates,
        date_binds,
    )
    write_offs = write_off_items(conn, org, settings.currency, start, end, True, scope)
    for w in write_offs:
        conn.execute(
            text(
                "INSERT INTO export_marks (organization_id, client, target, item_id, export_id, "
                "marked_at) VALUES (:org, :client, 'write_off', :item, :eid, :now)"
            ).bindparams(*binds, bindparam("item", type_=Uuid())),
            {**base, "item": w.item_id},
        )
    marked["write_off"] = len(write_offs)
    if include_payments and scope.books_customer_credit:
        marked["credit"] = mark_credits(conn, org, settings.currency, start, end, export_id, now)
    res = conn.execute(
        text(
            "UPDATE invoices SET exported_at = :now WHERE exported_at IS NULL AND id IN "
            "(SELECT m.item_id FROM export_marks m WHERE m.organization_id = :org AND "
            "m.client = :client AND m.export_id = :eid AND m.target = 'invoice') "
            "AND organization_id = :org"
        ).bindparams(*binds),
        base,
    )
    marked["invoices_flagged"] = int(res.rowcount or 0)
    return marked
