"""SQL building blocks shared by the queries: exact money keys, text search, sort, pages.

Money columns are NUMERIC on PostgreSQL and decimal *text* on SQLite (``ExactDecimal``). To
compare and sort them exactly on SQLite they are turned into a scaled integer (the amount in
units of 10^-4) with integer arithmetic only, never via a float: ``-12.5`` -> ``-125000``.
Every amount the service stores has at most 4 decimals (ISO 4217 minor units), and int64
holds such amounts up to about 9.2 x 10^14.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from invoicing.db import SQLITE_LOWER, lower_like_postgresql
from invoicing.domain import calendar
from invoicing.models import Organization
from invoicing.schemas.queries import PageInfo
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SCALE_DIGITS = 4
SCALE = 10**SCALE_DIGITS


def organization_calendar(session: Session, org_id: uuid.UUID) -> calendar.Calendar:
    """The organization's calendar (``domain.calendar``), as a command without a date takes
    its day: a fuzzy ``today`` or ``this_week``, an aging bucket, the default ``as_of`` of open
    items and a timestamp's calendar day follow the organization's zone, not UTC. Its profile
    is read (one primary-key lookup) the first time the zone is needed, and never for a query
    that does not need it; an organization not configured yet has UTC's calendar."""

    def zone() -> str:
        profile = session.execute(
            select(Organization.profile).where(Organization.id == org_id)
        ).scalar_one_or_none()
        return calendar.zone_of(profile or {})

    return calendar.Calendar(zone)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def money_key(column: Any, dialect: str) -> ColumnElement[Any]:
    """An expression that orders and compares exactly like the decimal amount itself."""
    if dialect != "sqlite":
        return column  # type: ignore[no-any-return]
    text = cast(column, String)
    negative = func.substr(text, 1, 1) == "-"
    absolute = func.ltrim(text, "-")
    dot = func.instr(absolute, ".")
    integral = case((dot > 0, func.substr(absolute, 1, dot - 1)), else_=absolute)
    fraction = case((dot > 0, func.substr(absolute, dot + 1)), else_=literal("", String))
    digits = func.substr(fraction.concat("0" * SCALE_DIGITS), 1, SCALE_DIGITS)
    magnitude = cast(integral, Integer) * SCALE + cast(digits, Integer)
    return case((negative, -magnitude), else_=magnitude)


def money_bound(value: Decimal, dialect: str, *, lower: bool) -> Any:
    """The bound to compare a ``money_key`` with: exact for amounts of up to 4 decimals."""
    if dialect != "sqlite":
        return value
    scaled = value * SCALE
    return math.ceil(scaled) if lower else math.floor(scaled)


def money_zero(dialect: str) -> Any:
    return 0 if dialect == "sqlite" else Decimal(0)


def greatest(a: ColumnElement[Any], b: Any, dialect: str) -> ColumnElement[Any]:
    return func.max(a, b) if dialect == "sqlite" else func.greatest(a, b)


class lower_text(FunctionElement[str]):
    """A text lower-cased as the search words are (``db.lower_like_postgresql``): ``lower()`` on
    PostgreSQL (Unicode-aware in a UTF-8 database; the expression indexes of 0021_search and
    0026_customer_search spell it so), the connection's ``unicode_lower`` on SQLite, whose own
    ``lower()`` folds ASCII only (``db.SQLITE_LOWER``): there "öko" did not find "ÖKO-Bau"."""

    type = String()
    name = "lower_text"
    inherit_cache = True


@compiles(lower_text)
def _lower(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lower_text, "sqlite")
def _lower_sqlite(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


def like_pattern(text: str) -> str:
    """A ``%text%`` LIKE pattern, lowered as PostgreSQL lowers (``db.lower_like_postgresql``),
    with ``\\`` escaping of the wildcards."""
    escaped = (
        lower_like_postgresql(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    )
    return f"%{escaped}%"


def contains(column: Any, text: str) -> ColumnElement[bool]:
    return lower_text(column).like(like_pattern(text), escape="\\")


def by_code_point(text: Any, dialect: str) -> Any:
    """A text to sort by its code points on both backends: on PostgreSQL in the collation
    ``C`` (bytes of UTF-8, so code points), whatever the database's default (``de-DE-x-icu``
    puts "a" before "B" and "ä" before "b"; SQLite's ``BINARY`` never does)."""
    return text.collate("C") if dialect == "postgresql" else text


def sort_term(column: Any, descending: bool) -> Any:
    """One ORDER BY term with NULLs last. ``NULLS LAST`` is left out for columns that cannot be
    NULL: PostgreSQL then serves ``DESC`` from a plain index on the column read backwards (it
    does not use NOT NULL to match ``DESC NULLS LAST`` to that order)."""
    term = column.desc() if descending else column.asc()
    return term.nulls_last() if getattr(column, "nullable", True) else term


def order_terms(keys: Sequence[str], columns: dict[str, Any], tie_breaker: Any) -> list[Any]:
    """``["-issue_date", "number"]`` -> ORDER BY terms; NULLs last either way, then ties by
    ``tie_breaker`` (a column) in the direction of the last key."""
    terms: list[Any] = []
    for key in keys:
        terms.append(sort_term(columns[key.lstrip("-")], key.startswith("-")))
    last_descending = bool(keys) and keys[-1].startswith("-")
    terms.append(tie_breaker.desc() if last_descending else tie_breaker.asc())
    return terms


def paginate(
    session: Session | Connection,
    stmt: Select[*tuple[Any, ...]],
    page: int,
    page_size: int,
    *,
    count_limit: int | None = None,
    counted: Select[*tuple[Any, ...]] | None = None,
) -> tuple[list[Any], PageInfo]:
    """Run ``stmt`` for one page and count the matching rows (same filters, no order);
    ``counted``: the rows to count when they are selected more cheaply than by ``stmt`` (the
    same rows without a join that only the order needs).

    With ``count_limit`` the count stops after that many rows (and at least up to the end of
    this page): ``total`` is then exact below the limit and a lower bound above it
    (``total_exact`` false), which keeps a page of a million-row list cheap.

    The page is read first: a page that is not full (and not empty past the first) is the end
    of the list, so the total is the rows before it and on it, exact, without a count. The
    caller runs both in one snapshot (the read-only REPEATABLE READ transaction of a query).
    Where the count would stop at the end of this page anyway (``count_limit`` up to
    ``page * page_size``: deep pages, and ``count_limit=0``), the page statement reads one
    row more instead: that row says whether the count would have passed the limit, with the
    same answer and without a count statement.

    Given the session's ``Connection`` (statements of plain columns), it runs them as Core,
    without the ORM's per-execution set-up.
    """
    offset = (page - 1) * page_size
    end = page * page_size
    peek = count_limit is not None and count_limit <= end
    rows = list(
        session.execute(stmt.offset(offset).limit(page_size + 1 if peek else page_size)).all()
    )
    if peek and len(rows) > page_size:
        del rows[page_size:]
        total, exact = end, False  # as a count stopped at end + 1 would report
    elif (len(rows) < page_size and (rows or page == 1)) or (peek and rows):
        total, exact = offset + len(rows), True
    else:
        counted = (stmt if counted is None else counted).order_by(None)
        counted = counted.with_only_columns(literal(1), maintain_column_froms=True)
        limit = None if count_limit is None else max(count_limit, end) + 1
        if limit is not None:
            counted = counted.limit(limit)
        total = session.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
        exact = limit is None or total < limit
        if not exact:
            total -= 1
    pages = (total + page_size - 1) // page_size
    return rows, PageInfo(
        page=page, page_size=page_size, total=total, pages=pages, total_exact=exact
    )
