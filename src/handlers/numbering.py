"""Gapless numbers: the counter row is locked by the finalizing transaction.

``UPDATE number_series ... RETURNING`` (via SELECT ... FOR UPDATE) holds the row lock until
COMMIT, so a rollback returns the number and concurrent finalizers of one organization and
series queue up. PostgreSQL's ``lock_timeout`` turns a long wait into a transient error that the
worker retries. The issue date is checked against the series' last one so that number order
equals date order (Belgian chronology rule).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.domain.errors import Conflict, DomainError
from invoicing.domain.numbering import DEFAULT_PATTERNS, NumberPattern, Series
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Invoice, NumberSeries, Organization
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def pattern_for(org: Organization, series: Series) -> NumberPattern:
    settings: dict[str, Any] = (org.profile or {}).get("number_series", {}).get(series.value, {})
    return NumberPattern(
        settings.get("pattern", DEFAULT_PATTERNS[series]),
        bool(settings.get("yearly_reset", True)),
    )


def _ensure_row(uow: UnitOfWork, org_id: uuid.UUID, series: str, period: str) -> None:
    values = {"organization_id": org_id, "series": series, "period": period, "next_value": 1}
    insert = pg_insert if uow.dialect == "postgresql" else sqlite_insert
    uow.session.execute(insert(NumberSeries).values(**values).on_conflict_do_nothing())


def allocate(
    uow: UnitOfWork, org: Organization, series: Series, issue_date: dt.date
) -> tuple[str, int]:
    pattern = pattern_for(org, series)
    period = pattern.period(issue_date)
    _ensure_row(uow, org.id, series.value, period)
    row = uow.session.execute(
        select(NumberSeries)
        .where(
            NumberSeries.organization_id == org.id,
            NumberSeries.series == series.value,
            NumberSeries.period == period,
        )
        .with_for_update()
    ).scalar_one()
    if row.last_issue_date is not None and issue_date < row.last_issue_date:
        raise DomainError(
            "issue_date_out_of_order",
            f"issue date {issue_date} is before {row.last_issue_date}, the date of the last "
            f"{series.value} number; numbers must follow date order",
            pointer="/issue_date",
            hint=f"finalize with issue_date {row.last_issue_date} or later",
        )
    seq = row.next_value
    number = pattern.format(seq, issue_date)
    taken = uow.session.execute(
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.organization_id == org.id, Invoice.number == number)
    ).scalar_one()
    if taken:
        raise Conflict(
            "number_taken",
            f"the next {series.value} number {number} is already used by a manual number",
            pointer="/invoice_id",
            hint="change the series pattern in configure_organization",
        )
    row.next_value = seq + 1
    row.last_issue_date = issue_date
    return number, seq


def peek(uow: UnitOfWork, org: Organization, series: Series, on: dt.date) -> str:
    """The number the next finalize would get (no lock, informational)."""
    pattern = pattern_for(org, series)
    row = uow.session.get(NumberSeries, (org.id, series.value, pattern.period(on)))
    return pattern.format(row.next_value if row else 1, on)


def check_manual_number(
    uow: UnitOfWork, org: Organization, number: str, invoice_id: uuid.UUID, pointer: str = "/number"
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
    for series in Series:
        if pattern_for(org, series).could_produce(number):
            raise Conflict(
                "number_in_automatic_series",
                f"number {number} matches the automatic {series.value} series pattern "
                f"{pattern_for(org, series).pattern} and could collide with it later",
                pointer=pointer,
                hint="use a number outside the automatic pattern (e.g. another prefix)",
            )
