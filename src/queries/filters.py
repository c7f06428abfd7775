"""The invoice filter as SQL: one implementation for ``list_invoices`` and ``export_csv``.

``invoice_conditions(filter, dialect, org_id, calendar)`` returns WHERE terms over ``Invoice``
only (customers and lines are reached through subqueries confined to the organization), so any
statement selecting from ``invoices`` can use them. ``invoice_order`` gives the ORDER BY terms of
the sort keys. Money is compared exactly on both backends (``money_key``), timestamps by their
calendar day on the organization's calendar (``domain.calendar.Calendar``).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from invoicing.domain.calendar import Calendar
from invoicing.domain.states import EXPORTABLE_KINDS
from invoicing.models import Customer, Invoice, InvoiceLine
from invoicing.models.dunning import DunningBlock
from invoicing.queries.common import (
    SCALE,
    by_code_point,
    contains,
    greatest,
    like_pattern,
    lower_text,
    money_key,
    money_zero,
    sort_term,
)
from invoicing.schemas.filters import (
    CUSTOM_FIELD_SORT_PREFIX,
    CustomFieldFilter,
    CustomFieldValue,
    DateOps,
    InvoiceFilter,
    MoneyOps,
    RefOps,
    TextOps,
    UuidOps,
)
from invoicing.schemas.filters import CurrencyOps as CurrencyOps
from sqlalchemy import (
    ColumnElement,
    Integer,
    Numeric,
    Select,
    String,
    Text,
    and_,
    any_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    type_coerce,
    union,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.orm import Session, aliased

#: statuses of invoices that can still be owed money
RECEIVABLE = ("finalized", "sent", "partially_paid")


# ----------------------------------------------------------------------------- expressions


def open_amount_key(dialect: str, inv: Any = Invoice) -> ColumnElement[Any]:
    """gross - credited - written off - paid, never below zero (``views.open_amount``); zero for
    drafts, credit notes and quotes."""
    diff = (
        money_key(inv.gross_total, dialect)
        - money_key(inv.credited_amount, dialect)
        - money_key(inv.written_off_amount, dialect)
        - money_key(inv.paid_amount, dialect)
    )
    return case(
        (
            and_(inv.kind == "invoice", inv.status != "draft"),
            greatest(diff, money_zero(dialect), dialect),
        ),
        else_=literal(money_zero(dialect)),
    )


@functools.cache
def receivable(dialect: str) -> ColumnElement[bool]:
    """An invoice that is owed money now: finalized, sent or partially paid, open amount > 0.
    Built once per dialect (a statement's expressions are immutable: every query may share it)."""
    return and_(
        Invoice.kind == "invoice",
        Invoice.status.in_(RECEIVABLE),
        open_amount_key(dialect) > money_zero(dialect),
    )


def _json_text(column: Any, key: str, dialect: str) -> ColumnElement[Any]:
    """``column->>'key'`` with the key inline (so PostgreSQL matches expression indexes)."""
    if dialect == "postgresql":
        return column.op("->>", return_type=Text)(literal_column(f"'{key}'"))  # type: ignore[no-any-return]
    return column[key].as_string()  # type: ignore[no-any-return]


def _joined(*parts: Any) -> ColumnElement[Any]:
    out: Any = parts[0]
    for part in parts[1:]:
        out = out.concat(literal_column("' '")).concat(part)
    return lower_text(out)


def _or_empty(expression: Any) -> Any:
    return func.coalesce(expression, literal_column("''"))


def search_text(inv: Any, dialect: str) -> ColumnElement[Any]:
    """The invoice's own searchable texts in one lower-case string: number, purchase order,
    buyer name and email, tags (JSON); spelled as the own part of the search document of
    0021_search (SQLite's full_query, which has no such document, matches it directly)."""
    if dialect == "postgresql":
        tags: Any = cast(inv.tags, Text)
    else:  # the tags themselves: SQLite's JSON text may hold them escaped ("\u00c4rger")
        each = func.json_each(inv.tags).table_valued("value")
        tags = select(func.group_concat(each.c.value, " ")).scalar_subquery()
    return _joined(
        _or_empty(inv.number),
        _or_empty(inv.purchase_order_number),
        _or_empty(_json_text(inv.buyer, "name", dialect)),
        _or_empty(_json_text(inv.buyer, "email", dialect)),
        _or_empty(tags),
    )


def line_search_text() -> ColumnElement[Any]:
    """A line's title and subtitle, as the search document of 0021_search spells them."""
    return _joined(_or_empty(InvoiceLine.description), _or_empty(InvoiceLine.subtitle))


def customer_name() -> ColumnElement[Any]:
    """The buyer snapshot's name, else the customer's company, person name or email."""
    person = func.trim(
        func.coalesce(Customer.data["given_name"].as_string(), "")
        .concat(" ")
        .concat(func.coalesce(Customer.data["family_name"].as_string(), ""))
    )
    return lower_text(
        func.coalesce(
            func.nullif(Invoice.buyer["name"].as_string(), ""),
            func.nullif(Customer.data["company"].as_string(), ""),
            func.nullif(person, ""),
            Customer.email,
        )
    )


# ----------------------------------------------------------------------------- operators


def _money_ops(key: ColumnElement[Any], ops: MoneyOps, dialect: str) -> list[ColumnElement[bool]]:
    """Operators over a ``money_key`` expression, exact on both backends."""
    out: list[ColumnElement[bool]] = []
    for name, value in ops.given().items():
        values: list[Decimal] = value if name == "in" else [value]
        if dialect != "sqlite":
            compare: dict[str, Callable[[Any, Any], Any]] = {
                "eq": operator.eq,
                "not_eq": operator.ne,
                "gt": operator.gt,
                "gte": operator.ge,
                "lt": operator.lt,
                "lte": operator.le,
            }
            if name == "in":
                out.append(key.in_(values))
            else:
                out.append(compare[name](key, value))
            continue
        # SQLite: the key is the amount in 10^-4 units; bounds are rounded the safe way
        scaled = [v * SCALE for v in values]
        whole = [_sqlite_number(int(s)) for s in scaled if s == s.to_integral_value()]
        if name == "eq":
            out.append(key == whole[0] if whole else false())
        elif name == "not_eq":
            out.append(key != whole[0] if whole else true())
        elif name == "in":
            out.append(key.in_(whole) if whole else false())
        elif name == "gt":
            out.append(key > _sqlite_number(int(scaled[0].to_integral_value("ROUND_FLOOR"))))
        elif name == "gte":
            out.append(key >= _sqlite_number(int(scaled[0].to_integral_value("ROUND_CEILING"))))
        elif name == "lt":
            out.append(key < _sqlite_number(int(scaled[0].to_integral_value("ROUND_CEILING"))))
        elif name == "lte":
            out.append(key <= _sqlite_number(int(scaled[0].to_integral_value("ROUND_FLOOR"))))
    return out


_INT64 = 2**63 - 1


def _sqlite_number(scaled: int) -> int | float:
    """A bound SQLite can take: an integer within 64 bits, else a float. A filter value may
    have 15 integer digits, 10^19 and more in 10^-4 units, which SQLite's driver refused
    (``OverflowError``: an internal error where PostgreSQL answered); a key beyond 64 bits is
    a float in SQLite's arithmetic too, and SQLite compares integers with floats by value."""
    return scaled if -_INT64 <= scaled <= _INT64 else float(scaled)


def _money_range(
    key: ColumnElement[Any], low: Decimal | None, high: Decimal | None, dialect: str
) -> list[ColumnElement[bool]]:
    given: dict[str, Any] = {}
    if low is not None:
        given["gte"] = low
    if high is not None:
        given["lte"] = high
    if not given:
        return []
    return _money_ops(key, MoneyOps.model_validate(given), dialect)


def fuzzy_range(name: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of a named range relative to ``today`` (weeks from Monday)."""
    if name in ("today", "yesterday", "tomorrow"):
        day = today + dt.timedelta(days={"today": 0, "yesterday": -1, "tomorrow": 1}[name])
        return day, day
    period, _, unit = name.partition("_")
    shift = {"this": 0, "last": -1, "next": 1}[period]
    if unit == "week":
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=shift)
        return monday, monday + dt.timedelta(days=6)
    if unit == "year":
        year = today.year + shift
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    months = 3 if unit == "quarter" else 1
    first_month = (today.month - 1) // months * months  # 0-based month of the period start
    index = today.year * 12 + first_month + shift * months
    start = dt.date(index // 12, index % 12 + 1, 1)
    after = index + months
    end = dt.date(after // 12, after % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def day_conditions(
    column: Any,
    ops: DateOps,
    cal: Calendar,
    *,
    timestamp: bool,
    as_of: dt.date | None = None,
) -> list[Any]:
    """Date operators over a DATE column, or over a timestamp by its calendar day on ``cal``
    (from the instant the day begins in the organization's zone to the next day's). A fuzzy
    range counts from ``as_of``, else today on ``cal``; ``cal``'s zone is asked only where
    needed (``queries.common.organization_calendar``).

    Every calendar date is a valid operand, the first and the last one too: ``gt`` the last
    day and ``lt`` the first match nothing, ``lte`` the last day every date (no day after it
    to compare with)."""
    out: list[Any] = []

    def after(day: dt.date) -> dt.date | None:
        return None if day == dt.date.max else day + dt.timedelta(days=1)

    def before(day: dt.date) -> dt.date | None:
        return None if day == dt.date.min else day - dt.timedelta(days=1)

    def on(day: dt.date) -> Any:
        if timestamp:
            return and_(from_(day), until(day))
        return column == day

    def from_(day: dt.date | None) -> Any:
        if day is None:  # after the last day
            return false()
        return column >= (cal.day_start(day) if timestamp else day)

    def until(day: dt.date | None) -> Any:  # inclusive
        if day is None:  # before the first day
            return false()
        if not timestamp:
            return column <= day
        following = after(day)
        return column.is_not(None) if following is None else column < cal.day_start(following)

    for name, value in ops.given().items():
        if name == "eq":
            out.append(on(value))
        elif name == "not_eq":
            out.append(and_(column.is_not(None), not_(on(value))))
        elif name == "in":
            out.append(or_(*(on(day) for day in value)))
        elif name == "gt":
            out.append(from_(after(value)))
        elif name == "gte":
            out.append(from_(value))
        elif name == "lt":
            out.append(until(before(value)))
        elif name == "lte":
            out.append(until(value))
        elif name == "fuzzy":
            first, last = fuzzy_range(value, as_of or cal.today())
            out += [from_(first), until(last)]
    return out


def _value_ops(column: Any, ops: TextOps | UuidOps | RefOps | CurrencyOps) -> list[Any]:
    """eq / not_eq / in / not_in (and contains for texts); the negations include NULL."""
    out: list[Any] = []
    for name, value in ops.given().items():
        if name == "eq":
            out.append(column == value)
        elif name == "not_eq":
            out.append(or_(column.is_(None), column != value))
        elif name == "in":
            out.append(column.in_(value))
        elif name == "not_in":
            out.append(or_(column.is_(None), column.not_in(value)))
        elif name == "contains":
            out.append(contains(func.coalesce(column, ""), value))
    return out


def _json_list_has_any(column: Any, values: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """The JSON array in ``column`` holds at least one of ``values`` (strings)."""
    if dialect == "postgresql":
        has: ColumnElement[bool] = type_coerce(column, JSONB).has_any(array(list(values)))
        return has
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value.in_(list(values))))


def _json_list_has_all(column: Any, values: Sequence[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(column, JSONB).contains(list(values))
    return and_(*(_json_list_has_any(column, [v], dialect) for v in values))


def _list_ops(column: Any, ops: RefOps, dialect: str) -> list[Any]:
    out: list[Any] = []
    for name, value in ops.given().items():
        values = value if isinstance(value, list) else [value]
        has = _json_list_has_any(column, values, dialect)
        out.append(not_(has) if name in ("not_eq", "not_in") else has)
    return out


def _person(ops: RefOps, dialect: str) -> list[Any]:
    """creator, issuer, responsible or one of the subscribers is (not) one of the ids."""
    out: list[Any] = []
    for name, value in ops.given().items():
        values = value if isinstance(value, list) else [value]
        scalar = [
            and_(col.is_not(None), col.in_(values))
            for col in (Invoice.creator_id, Invoice.issuer_id, Invoice.responsible_id)
        ]
        anyone = or_(*scalar, _json_list_has_any(Invoice.subscriber_ids, values, dialect))
        out.append(not_(anyone) if name in ("not_eq", "not_in") else anyone)
    return out


def _dunning_blocked(day: dt.date) -> ColumnElement[bool]:
    """A block of the invoice or of its customer holds on ``day`` (``domain.dunning.Block``:
    up to and including ``until``, or for good without one); the blocks' primary key
    (organization, subject, id) finds both."""
    b = DunningBlock
    subject = or_(
        and_(b.subject == "invoice", b.subject_id == Invoice.id),
        and_(b.subject == "customer", b.subject_id == Invoice.customer_id),
    )
    holds = or_(b.until.is_(None), b.until >= day)
    return exists(
        select(literal(1)).where(b.organization_id == Invoice.organization_id, subject, holds)
    )


# ----------------------------------------------------------------------------- custom fields


class FieldAccess:
    """A custom field's JSON type, text form and numeric value, on either backend.

    ``column`` is a JSON column and ``path`` the keys down to the field, e.g.
    ``(Customer.data, ("custom_fields", "tier"))`` or ``(Invoice.custom_fields, ("tier",))``.
    """

    def __init__(self, column: Any, path: tuple[str, ...], dialect: str) -> None:
        self.column, self.path, self.dialect = column, path, dialect
        if dialect == "sqlite":
            self.json_path = "$" + "".join(f'."{key}"' for key in path)
            jtype = func.json_type(column, self.json_path)
            raw = func.json_extract(column, self.json_path)
            self.is_number: ColumnElement[bool] = jtype == "integer"
            self.is_text: ColumnElement[bool] = jtype == "text"
            self.is_list: ColumnElement[bool] = func.coalesce(jtype, "") == "array"
            self.text: ColumnElement[Any] = case(
                (jtype == "true", "true"),
                (jtype == "false", "false"),
                (jtype.in_(("null", "array", "object")), None),
                else_=cast(raw, String),
            )
            self.number: ColumnElement[Any] = case((self.is_number, cast(raw, Integer)))
        else:
            node = column[path]
            jtype = func.jsonb_typeof(node)
            self.is_number = jtype == "number"
            self.is_text = jtype == "string"
            self.is_list = func.coalesce(jtype, "") == "array"
            self.text = case(
                (jtype.in_(("null", "array", "object")), None), else_=column[path].as_string()
            )
            self.number = case((self.is_number, cast(self.text, Numeric)))

    def list_has_any(self, values: list[str]) -> ColumnElement[bool]:
        if self.dialect == "postgresql":
            has: ColumnElement[bool] = type_coerce(self.column[self.path], JSONB).has_any(
                array(values)
            )
            return has
        each = func.json_each(self.column, self.json_path).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value.in_(values)))


def _text_value(value: CustomFieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def custom_field_condition(
    f: CustomFieldFilter, column: Any, prefix: tuple[str, ...], dialect: str
) -> ColumnElement[bool]:
    access = FieldAccess(column, (*prefix, f.field_id), dialect)
    values = f.values()
    texts = [_text_value(v) for v in values]
    op = f.op
    if op == "=":
        return or_(access.text == texts[0], and_(access.is_list, access.list_has_any(texts[:1])))
    if op == "<>":
        single = and_(not_(access.is_list), or_(access.text.is_(None), access.text != texts[0]))
        return or_(single, and_(access.is_list, not_(access.list_has_any(texts[:1]))))
    if op == "in":
        return or_(access.text.in_(texts), and_(access.is_list, access.list_has_any(texts)))
    if op == "contains":
        return and_(access.is_text, contains(access.text, texts[0]))
    value = values[0]
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "<": operator.lt,
        ">": operator.gt,
        "<=": operator.le,
        ">=": operator.ge,
    }
    compare = ops[op]
    if isinstance(value, int):
        return and_(access.is_number, compare(access.number, value))
    return and_(access.is_text, compare(access.text, value))


# ----------------------------------------------------------------------------- the filter


def _status(status: str, dialect: str) -> ColumnElement[bool]:
    if status == "overdue":
        return and_(Invoice.overdue.is_(True), Invoice.status.in_(RECEIVABLE))
    if status == "not_overdue":
        return and_(receivable(dialect), Invoice.overdue.is_(False))
    if status == "open":
        return receivable(dialect)
    if status == "unsent":
        return and_(
            Invoice.finalized_at.is_not(None), Invoice.sent_at.is_(None), Invoice.status != "void"
        )
    return Invoice.status == status


def _payment_status(status: str) -> ColumnElement[bool]:
    if status == "unpaid":
        return and_(Invoice.kind == "invoice", Invoice.status.in_(("finalized", "sent")))
    return Invoice.status == status


def _aging(bucket: str, dialect: str, today: dt.date) -> ColumnElement[bool]:
    owed = receivable(dialect)
    due = Invoice.due_date

    def ago(days: int) -> dt.date:
        return today - dt.timedelta(days=days)

    if bucket == "not_due":
        return and_(owed, or_(due.is_(None), due >= today))
    if bucket == "1-15":
        return and_(owed, due <= ago(1), due >= ago(15))
    if bucket == "16-45":
        return and_(owed, due <= ago(16), due >= ago(45))
    if bucket == "46+":
        return and_(owed, due <= ago(46))
    return not_(owed)  # other


def customer_search_text(dialect: str) -> ColumnElement[Any]:
    """A customer's company, given name, family name and email in one lower-case string, joined
    by spaces: the expression of the trigram index ``ix_customers_search`` (migration
    0026_customer_search; the key of each JSON text inline, as the index spells it). A word of
    ``full_query`` holds no whitespace, so it never matches across two of the texts: matching
    this string finds exactly the customers whose company, person name (given and family name
    joined by a space) or email hold the word (tests/integration/test_customer_search.py)."""
    return _joined(
        _or_empty(_json_text(Customer.data, "company", dialect)),
        _or_empty(_json_text(Customer.data, "given_name", dialect)),
        _or_empty(_json_text(Customer.data, "family_name", dialect)),
        _or_empty(Customer.email),
    )


def customers_matching(word: str, org_id: uuid.UUID, dialect: str) -> Select[uuid.UUID]:
    """The organization's customers whose current company, person name or email hold the word."""
    return select(Customer.id).where(
        Customer.organization_id == org_id,
        customer_search_text(dialect).like(like_pattern(word), escape="\\"),
    )


def full_query_by_union(word: str, org_id: uuid.UUID, dialect: str) -> ColumnElement[bool]:
    """The word occurs in one of the invoice's texts, its lines, or its customer: the union of
    three id sets (SQLite; on PostgreSQL :func:`full_query_by_document` finds the same)."""
    pattern = like_pattern(word)
    own = aliased(Invoice)
    by_own = select(own.id).where(
        own.organization_id == org_id,
        search_text(own, dialect).like(pattern, escape="\\"),
    )
    by_line = select(InvoiceLine.invoice_id).where(
        InvoiceLine.organization_id == org_id,
        line_search_text().like(pattern, escape="\\"),
    )
    theirs = aliased(Invoice)
    by_customer = select(theirs.id).where(
        theirs.organization_id == org_id,
        theirs.customer_id.in_(customers_matching(word, org_id, dialect)),
    )
    return Invoice.id.in_(union(by_own, by_line, by_customer))


def full_query_by_document(
    word: str, org_id: uuid.UUID, customer_ids: Sequence[uuid.UUID] | None = None
) -> ColumnElement[bool]:
    """The same on PostgreSQL from the search document ``invoices.search_text`` (migration
    0021_search: own texts and every line's texts, kept by triggers) or the customer. A word
    holds no whitespace, so it cannot match across the spaces that join the texts. Both terms
    are index conditions (the trigram index, the customer index), so each word is a bitmap OR
    and the words a bitmap AND.

    ``customer_ids``: the customers matching the word, looked up before
    (:func:`full_query_customers`); the planner then knows how many invoices they have, where
    ``customer_id = ANY(ARRAY(SELECT ...))`` (the form without them) counts as 1 % of the rows
    and makes it walk a sort index for a selective word."""
    by_text = Invoice.__table__.c.search_text.like(like_pattern(word), escape="\\")
    if customer_ids is None:
        customers = func.array(customers_matching(word, org_id, "postgresql").scalar_subquery())
        by_any = and_(Invoice.organization_id == org_id, Invoice.customer_id == any_(customers))
        return or_(by_text, by_any)
    if not customer_ids:
        return by_text
    by_customer = and_(Invoice.organization_id == org_id, Invoice.customer_id.in_(customer_ids))
    return or_(by_text, by_customer)


def full_query_customers(
    session: Session, org_id: uuid.UUID, full_query: str
) -> dict[str, list[uuid.UUID]]:
    """Word -> the ids of the customers matching it, in one statement (PostgreSQL)."""
    words = list(dict.fromkeys(full_query.split()))
    if not words:
        return {}
    arrays = [
        func.array(customers_matching(w, org_id, "postgresql").scalar_subquery()) for w in words
    ]
    row = session.connection().execute(select(*arrays)).one()  # plain columns: Core, no ORM
    return {word: list(ids) for word, ids in zip(words, row, strict=True)}


def _full_query(
    word: str,
    org_id: uuid.UUID,
    dialect: str,
    customers: Mapping[str, Sequence[uuid.UUID]] | None,
) -> ColumnElement[bool]:
    """The word occurs in one of the invoice's texts, its lines, or its customer."""
    if dialect == "postgresql":
        return full_query_by_document(word, org_id, None if customers is None else customers[word])
    return full_query_by_union(word, org_id, dialect)


def _customer_fields(fields: list[CustomFieldFilter], org_id: uuid.UUID, dialect: str) -> Any:
    matching = select(Customer.id).where(
        Customer.organization_id == org_id,
        *(custom_field_condition(f, Customer.data, ("custom_fields",), dialect) for f in fields),
    )
    return Invoice.customer_id.in_(matching)


def _has_tags(tags: list[str], dialect: str) -> ColumnElement[bool]:
    return _json_list_has_all(Invoice.tags, tags, dialect)


def invoice_conditions(
    f: InvoiceFilter,
    dialect: str,
    org_id: uuid.UUID,
    cal: Calendar,
    customers: Mapping[str, Sequence[uuid.UUID]] | None = None,
) -> list[Any]:
    """WHERE terms for the filter (the caller adds ``Invoice.organization_id == org_id``).
    ``customers``: on PostgreSQL, :func:`full_query_customers` of ``f.full_query`` (optional:
    the same results without it, but the planner estimates worse)."""
    c: list[Any] = []
    if f.deleted == "exclude":
        c.append(Invoice.deleted_at.is_(None))
    elif f.deleted == "only":
        c.append(Invoice.deleted_at.is_not(None))
    if f.status:
        c.append(or_(*(_status(s, dialect) for s in f.status)))
    if f.kind:
        c.append(Invoice.kind.in_(f.kind))
    if f.payment_reference is not None:  # normalized by the schema; uq_invoices_org_payment_ref…
        c.append(Invoice.payment_reference == f.payment_reference)
    if f.finalized is not None:
        c.append(
            Invoice.finalized_at.is_not(None) if f.finalized else Invoice.finalized_at.is_(None)
        )
    value_filters: list[tuple[Any, Any]] = [
        (Invoice.id, f.id),
        (Invoice.customer_id, f.customer_id),
        (Invoice.credited_invoice_id, f.credited_invoice_id),
        (Invoice.number, f.number),
        (Invoice.purchase_order_number, f.purchase_order_number),
        (Invoice.case_id, f.case_id),
        (Invoice.project_reference, f.project_reference),
        (Invoice.currency, f.currency),
        (Invoice.creator_id, f.creator_id),
        (Invoice.issuer_id, f.issuer_id),
        (Invoice.responsible_id, f.responsible_id),
        (Invoice.deal_id, f.deal_id),
        (Invoice.subsidiary_id, f.subsidiary_id),
    ]
    for column, ops in value_filters:
        if ops is not None:
            c += _value_ops(column, ops)
    if f.subscriber_id is not None:
        c += _list_ops(Invoice.subscriber_ids, f.subscriber_id, dialect)
    if f.person_id is not None:
        c += _person(f.person_id, dialect)
    if f.tags:
        c.append(_has_tags(list(f.tags), dialect))
    if f.tags_any:
        c.append(_json_list_has_any(Invoice.tags, list(f.tags_any), dialect))
    # the keys are built only for the amounts filtered on (open_amount's is a CASE of four)
    money: list[tuple[Callable[[], ColumnElement[Any]], MoneyOps | None]] = [
        (lambda: money_key(Invoice.net_total, dialect), f.net_total),
        (lambda: money_key(Invoice.tax_total, dialect), f.tax_total),
        (lambda: money_key(Invoice.gross_total, dialect), f.gross_total),
        (lambda: money_key(Invoice.allowance_total, dialect), f.allowance_total),
        (lambda: money_key(Invoice.paid_amount, dialect), f.paid_amount),
        (lambda: open_amount_key(dialect), f.open_amount),
        (lambda: money_key(Invoice.credited_amount, dialect), f.credited_amount),
        (lambda: money_key(Invoice.credited_net, dialect), f.credited_net_amount),
        (lambda: money_key(Invoice.written_off_amount, dialect), f.written_off_amount),
    ]
    for key, money_ops in money:
        if money_ops is not None:
            c += _money_ops(key(), money_ops, dialect)
    dates: list[tuple[Any, DateOps | None, bool]] = [
        (Invoice.issue_date, f.issue_date, False),
        (Invoice.due_date, f.due_date, False),
        (Invoice.delivery_date, f.delivery_date, False),
        (Invoice.created_at, f.created_at, True),
        (Invoice.updated_at, f.updated_at, True),
        (Invoice.finalized_at, f.finalized_at, True),
        (Invoice.sent_at, f.sent_at, True),
        (Invoice.paid_on, f.paid_at, False),  # paid_at's day is paid_on (lifecycle.settle)
        (Invoice.paid_on, f.paid_on, False),
        (Invoice.voided_at, f.voided_at, True),
        (Invoice.exported_at, f.exported_at, True),
        (Invoice.deleted_at, f.deleted_at, True),
        (Invoice.dunned_on, f.dunned_on, False),
    ]
    for column, date_ops, timestamp in dates:
        if date_ops is not None:
            c += day_conditions(column, date_ops, cal, timestamp=timestamp, as_of=f.as_of)
    if f.payment_status:
        c.append(or_(*(_payment_status(s) for s in f.payment_status)))
    if f.export_status == "exported":
        c.append(Invoice.exported_at.is_not(None))
    elif f.export_status == "unexported":  # what could be exported (check_exportable)
        c.append(Invoice.exported_at.is_(None))
        c.append(Invoice.finalized_at.is_not(None))
        c.append(Invoice.kind.in_(EXPORTABLE_KINDS))
    if f.invoicing_method:
        c.append(Invoice.invoicing_method.in_(list(f.invoicing_method)))
    if f.sent_status == "sent":
        c.append(Invoice.sent_at.is_not(None))
    elif f.sent_status == "unsent":
        c.append(Invoice.sent_at.is_(None))
    if f.overdue is not None:
        c.append(Invoice.overdue.is_(f.overdue))
    if f.dunning_level:
        c.append(Invoice.dunning_level.in_(list(f.dunning_level)))
    if f.dunning_blocked is not None:
        blocked = _dunning_blocked(f.as_of or cal.today())
        c.append(blocked if f.dunning_blocked else not_(blocked))
    if f.credited is not None:
        credited = money_key(Invoice.credited_amount, dialect) > money_zero(dialect)
        c.append(credited if f.credited else not_(credited))
    if f.aging:
        day = f.as_of or cal.today()
        c.append(or_(*(_aging(bucket, dialect, day) for bucket in f.aging)))
    if f.full_query:
        c += [_full_query(w, org_id, dialect, customers) for w in f.full_query.split()]
    c += [custom_field_condition(cf, Invoice.custom_fields, (), dialect) for cf in f.custom_fields]
    if f.customer_custom_fields:
        c.append(_customer_fields(list(f.customer_custom_fields), org_id, dialect))
    # the earlier shorthands
    if f.issue_date_from:
        c.append(Invoice.issue_date >= f.issue_date_from)
    if f.issue_date_to:
        c.append(Invoice.issue_date <= f.issue_date_to)
    if f.due_date_from:
        c.append(Invoice.due_date >= f.due_date_from)
    if f.due_date_to:
        c.append(Invoice.due_date <= f.due_date_to)
    ranges: list[tuple[Callable[[], ColumnElement[Any]], Decimal | None, Decimal | None]] = [
        (lambda: money_key(Invoice.gross_total, dialect), f.gross_total_min, f.gross_total_max),
        (lambda: money_key(Invoice.net_total, dialect), f.net_total_min, f.net_total_max),
        (lambda: open_amount_key(dialect), f.open_amount_min, f.open_amount_max),
    ]
    for range_key, low, high in ranges:
        if low is not None or high is not None:
            c += _money_range(range_key(), low, high, dialect)
    return c


# ----------------------------------------------------------------------------- sort


def _sort_columns(dialect: str) -> dict[str, Callable[[], Any]]:
    """Sort key -> a builder of its expression (built only when the key is asked for)."""

    def key(column: Any) -> Callable[[], Any]:
        return lambda: money_key(column, dialect)

    return {
        # the numbering's order (digit runs by value: domain.numbering.number_key); filters
        # on ``number`` stay on the text
        "number": lambda: Invoice.number_key,
        "issue_date": lambda: Invoice.issue_date,
        "due_date": lambda: Invoice.due_date,
        "delivery_date": lambda: Invoice.delivery_date,
        "net_total": key(Invoice.net_total),
        "tax_total": key(Invoice.tax_total),
        "gross_total": key(Invoice.gross_total),
        "allowance_total": key(Invoice.allowance_total),
        "paid_amount": key(Invoice.paid_amount),
        "open_amount": lambda: open_amount_key(dialect),
        "credited_amount": key(Invoice.credited_amount),
        "credited_net_amount": key(Invoice.credited_net),
        "written_off_amount": key(Invoice.written_off_amount),
        "credited": lambda: case(
            (money_key(Invoice.credited_amount, dialect) > money_zero(dialect), 1), else_=0
        ),
        # texts by code point on both backends (an index on them is never used for a sort)
        "purchase_order_number": lambda: by_code_point(Invoice.purchase_order_number, dialect),
        "created_at": lambda: Invoice.created_at,
        "updated_at": lambda: Invoice.updated_at,
        "finalized_at": lambda: Invoice.finalized_at,
        "sent_at": lambda: Invoice.sent_at,
        "paid_at": lambda: Invoice.paid_at,
        "paid_on": lambda: Invoice.paid_on,
        "dunning_level": lambda: Invoice.dunning_level,
        "dunned_on": lambda: Invoice.dunned_on,
        "customer_name": lambda: by_code_point(customer_name(), dialect),
        # ASCII words: any collation orders them alike, and ix_invoices_org_status serves it
        "status": lambda: Invoice.status,
        "deleted_at": lambda: Invoice.deleted_at,
    }


def invoice_order(keys: Sequence[str], dialect: str) -> list[Any]:
    """ORDER BY terms: NULLs last either way, custom fields numbers first, then ties by id in
    the direction of the last key (so an index on the first key serves the order).

    The terms depend on nothing but the keys and the dialect (columns, constants, functions of
    them): they are built once per sort and dialect and shared (SQLAlchemy expressions are
    immutable)."""
    return list(_invoice_order(tuple(keys), dialect))


@functools.lru_cache(maxsize=256)
def _invoice_order(keys: tuple[str, ...], dialect: str) -> tuple[Any, ...]:
    columns = _sort_columns(dialect)
    terms: list[Any] = []
    for key in keys:
        descending = key.startswith("-")
        name = key.lstrip("-")
        if name.startswith(CUSTOM_FIELD_SORT_PREFIX):
            access = FieldAccess(
                Invoice.custom_fields, (name.removeprefix(CUSTOM_FIELD_SORT_PREFIX),), dialect
            )
            parts: list[Any] = [access.number, by_code_point(access.text, dialect)]
        else:
            parts = [columns[name]()]
        terms += [sort_term(part, descending) for part in parts]
    last_descending = bool(keys) and keys[-1].startswith("-")
    terms.append(Invoice.id.desc() if last_descending else Invoice.id.asc())
    return tuple(terms)
