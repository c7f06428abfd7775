"""Gapless numbers: the counter row is locked by the finalizing transaction.

``UPDATE number_series ... RETURNING`` (via SELECT ... FOR UPDATE) holds the row lock until
COMMIT, so a rollback returns the number and concurrent finalizers of one organization and
series queue up. PostgreSQL's ``lock_timeout`` turns a long wait into a transient error that the
worker retries. The issue date is checked against the series' last one so that number order
equals date order (Belgian chronology rule).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from invoicing.domain.errors import Conflict, DomainError
from invoicing.domain.numbering import NumberPattern, Series, default_pattern, number_key_of
from invoicing.handlers.statements import Statement
from invoicing.models import Invoice, NumberSeries, Subsidiary
from invoicing.models.records import InvoiceDraft, OrganizationRecord
from sqlalchemy import Table, UniqueConstraint, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

if TYPE_CHECKING:  # the unit of work reserves numbers with this module (``reserve``)
    from invoicing.handlers.unit_of_work import UnitOfWork

#: a counter row: organization, series, scope, period
SeriesKey = tuple[uuid.UUID, str, str, str]


def set_number(inv: InvoiceDraft, number: str | None) -> None:
    """Give a document its number, or take it away (None), with the number's sort key
    (``invoices.number_key``, ``domain.numbering.number_key``): the one place the service sets
    ``number`` (``tests/unit/test_number_key.py`` looks for others)."""
    inv.number, inv.number_key = number, number_key_of(number)


def pattern_for(org: OrganizationRecord, series: Series) -> NumberPattern:
    stored = org.profile or {}
    settings: dict[str, Any] = stored.get("number_series", {}).get(series.value, {})
    return _pattern(
        settings.get("pattern") or default_pattern(series, stored.get("numbering_country")),
        bool(settings.get("yearly_reset", True)),
    )


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str, yearly_reset: bool) -> NumberPattern:
    """A pattern checked once (``NumberPattern`` is immutable; a finalize asks for its
    series' pattern twice, each check running two regular expressions over it)."""
    return NumberPattern(pattern, yearly_reset)


def _ensure_row(uow: UnitOfWork, org_id: uuid.UUID, series: str, scope: str, period: str) -> None:
    values = {
        "organization_id": org_id,
        "series": series,
        "scope": scope,
        "period": period,
        "next_value": 1,
    }
    insert = pg_insert if uow.dialect == "postgresql" else sqlite_insert
    uow.connection().execute(insert(NumberSeries).values(**values).on_conflict_do_nothing())


_T = NumberSeries.__table__.c
_KEY = (
    _T.organization_id == bindparam("org"),
    _T.series == bindparam("ser"),
    _T.scope == bindparam("scp"),
    _T.period == bindparam("per"),
)
#: SQLAlchemy Core statements built once (their compiled form is cached): the common case of a
#: finalize is the one UPDATE, guarded so that it only matches when the date keeps date order
_TAKE = Statement(
    update(NumberSeries)
    .where(*_KEY, or_(_T.last_issue_date.is_(None), _T.last_issue_date <= bindparam("day")))
    .values(next_value=_T.next_value + 1, last_issue_date=bindparam("day"))
    .returning(_T.next_value)
)
#: ``_TAKE`` for several numbers at once (``reserve``): the same guard, on the earliest date
_RESERVE = Statement(
    update(NumberSeries)
    .where(*_KEY, or_(_T.last_issue_date.is_(None), _T.last_issue_date <= bindparam("first")))
    .values(next_value=_T.next_value + bindparam("count"), last_issue_date=bindparam("last"))
    .returning(_T.next_value)
)
_LAST = select(_T.last_issue_date).where(*_KEY).with_for_update()
_NUMBER_USED = Statement(
    select(Invoice.id).where(
        Invoice.organization_id == bindparam("org"), Invoice.number == bindparam("number")
    )
)


def allocate(
    uow: UnitOfWork,
    org: OrganizationRecord,
    series: Series,
    issue_date: dt.date,
    scope: str = "",
    *,
    check_used: bool = True,
) -> tuple[str, int]:
    """Take the next number of the series; the row stays locked until the transaction ends.

    ``scope`` names whose counter: '' the organization's, a subsidiary's id for its own series
    (``org`` is then the subsidiary's billing entity, whose profile holds its patterns).

    The common case is one statement: ``UPDATE ... SET next_value = next_value + 1 ...
    RETURNING``, guarded so that it only matches when the issue date keeps date order. When it
    matches nothing, the row is created if missing and the reason is looked up. Core statements
    on the transaction's connection: the invoice's pending changes are not flushed before it
    and go in one UPDATE at commit.
    """
    pattern = pattern_for(org, series)
    period = pattern.period(issue_date)
    reserved = uow.reserved_numbers.get((org.id, series.value, scope, period))
    if reserved:  # taken for this batch by ``reserve``, in this order
        seq = reserved.popleft()
        return _checked(uow, org, series, pattern.format(seq, issue_date), check_used), seq
    conn = uow.connection()
    key = {"org": org.id, "ser": series.value, "scp": scope, "per": period}
    taken = _TAKE.first(conn, {**key, "day": issue_date})
    if taken is None:
        _ensure_row(uow, org.id, series.value, scope, period)
        last = conn.execute(_LAST, key).scalar_one()
        if last is not None and issue_date < last:
            raise DomainError(
                "issue_date_out_of_order",
                f"issue date {issue_date} is before {last}, the date of the last "
                f"{series.value} number; numbers must follow date order",
                pointer="/issue_date",
                hint=f"finalize with issue_date {last} or later",
            )
        taken = _TAKE.first(conn, {**key, "day": issue_date})
        if taken is None:
            raise RuntimeError(f"number series {key} matched no row after it was ensured")
    seq = taken[0] - 1
    return _checked(uow, org, series, pattern.format(seq, issue_date), check_used), seq


def _checked(
    uow: UnitOfWork, org: OrganizationRecord, series: Series, number: str, check_used: bool
) -> str:
    if check_used and _NUMBER_USED.first(uow.connection(), {"org": org.id, "number": number}):
        raise number_taken(series.value, number)
    return number


@dataclass(frozen=True, slots=True)
class NumberClaim:
    """A number a step at the end of a batch will take (``allocate``'s arguments): what
    ``reserve`` takes for the whole batch beforehand."""

    org: OrganizationRecord
    series: Series
    issue_date: dt.date
    scope: str = ""

    def key(self) -> SeriesKey:
        period = pattern_for(self.org, self.series).period(self.issue_date)
        return (self.org.id, self.series.value, self.scope, period)


def reserve(uow: UnitOfWork, claims: list[NumberClaim]) -> None:
    """Take the numbers of ``claims`` (in the order their steps will run: by counter, then
    issue date) with one statement per counter row instead of one per number: ``allocate``
    then hands them out in that order (``UnitOfWork.reserved_numbers``).

    The statement is ``allocate``'s, for ``count`` numbers: it matches only when the earliest
    date keeps date order and leaves the latest as the row's last date. When it matches
    nothing (the row does not exist yet, or a date is out of order) nothing is reserved for
    that row, and ``allocate`` takes each number alone, as without this (and refuses the one
    out of order). A reservation is part of the transaction: the batch commits all its numbers
    or none, so none can be lost; ``UnitOfWork.finish`` checks that every one was taken."""
    groups: dict[SeriesKey, list[dt.date]] = {}
    for claim in claims:
        groups.setdefault(claim.key(), []).append(claim.issue_date)
    conn = uow.connection()
    for (org_id, series, scope, period), days in groups.items():
        if len(days) < 2:
            continue  # one statement either way
        params = {"org": org_id, "ser": series, "scp": scope, "per": period}
        taken = _RESERVE.first(
            conn, {**params, "count": len(days), "first": min(days), "last": max(days)}
        )
        if taken is not None:
            after = taken[0]  # the row's next value after the batch's numbers
            uow.reserved_numbers[(org_id, series, scope, period)] = deque(
                range(after - len(days), after)
            )


def number_taken(series: str, number: str | None) -> Conflict:
    """The next number of a series is already used (by a manual number)."""
    return Conflict(
        "number_taken",
        f"the next {series} number {number} is already used by a manual number",
        pointer="/invoice_id",
        hint="change the series pattern in configure_organization",
    )


_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
_UNIQUE_NUMBER = next(
    c.name
    for c in _INVOICES.constraints
    if isinstance(c, UniqueConstraint) and c.columns.keys() == ["organization_id", "number"]
)


def is_number_clash(exc: IntegrityError) -> bool:
    """Whether a write failed on the uniqueness of an organization's document numbers (the
    caller wrote a number that :func:`allocate` did not check: ``check_used=False``)."""
    diag = getattr(exc.orig, "diag", None)  # psycopg: the constraint's name
    if diag is not None:
        return bool(diag.constraint_name == _UNIQUE_NUMBER)
    return "invoices.organization_id, invoices.number" in str(exc.orig)  # SQLite


def peek(
    uow: UnitOfWork, org: OrganizationRecord, series: Series, on: dt.date, scope: str = ""
) -> str:
    """The number the next finalize would get (no lock, informational)."""
    pattern = pattern_for(org, series)
    row = uow.session.get(NumberSeries, (org.id, series.value, scope, pattern.period(on)))
    return pattern.format(row.next_value if row else 1, on)


def check_manual_number(
    uow: UnitOfWork,
    org: OrganizationRecord,
    number: str,
    invoice_id: uuid.UUID,
    pointer: str = "/number",
) -> None:
    """A manual number must be unique and must not be one the automatic series could produce."""
    existing = uow.session.execute(
        select(Invoice.id).where(Invoice.organization_id == org.id, Invoice.number == number)
    ).scalar_one_or_none()
    if existing is not None and existing != invoice_id:
        raise Conflict(
            "number_taken",
            f"number {number} is already used",
            pointer=pointer,
            hint="choose another number or leave it out to number automatically",
        )
    for label, pattern in _automatic(uow, org):
        if pattern.could_produce(number):
            raise Conflict(
                "number_in_automatic_series",
                f"number {number} matches the automatic {label} series pattern "
                f"{pattern.pattern} and could collide with it later",
                pointer=pointer,
                hint="use a number outside the automatic pattern (e.g. another prefix)",
            )


def _automatic(uow: UnitOfWork, org: OrganizationRecord) -> list[tuple[str, NumberPattern]]:
    """Every automatic series of the organization: its own and its subsidiaries' own."""
    found = [(series.value, pattern_for(org, series)) for series in Series]
    rows = uow.session.execute(select(Subsidiary).where(Subsidiary.organization_id == org.id))
    for sub in rows.scalars():
        for kind, settings in ((sub.profile or {}).get("number_series") or {}).items():
            pattern = NumberPattern(settings["pattern"], bool(settings.get("yearly_reset", True)))
            found.append((f"{sub.id} {kind}", pattern))
    return found
