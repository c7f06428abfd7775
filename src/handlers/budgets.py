"""Budgets: create, update, close; the facts the preview and the billing plan are made from.

``planned`` loads a selection's budgets (with what is invoiced against them) and uninvoiced
entries and runs ``domain.budgets.plan``. The query ``preview_invoice`` and the command
``invoice_billable_entries`` (``budget``) both call it, so the preview is what gets billed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.domain import budgets as rules
from invoicing.domain.errors import Conflict, DomainError, NotFound
from invoicing.domain.money import ZERO, fits_minor_units
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import get_organization, profile
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import BillableEntry, Budget, Invoice, InvoiceLine
from invoicing.models.records import InvoiceRecord, LineRecord, OrganizationRecord
from invoicing.schemas.commands import (
    BudgetSelection,
    CloseBudget,
    CreateBudget,
    LineIn,
    ServiceIn,
    UpdateBudget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session


def budget_data(b: Budget) -> dict[str, Any]:
    return {
        "id": b.id,
        "name": b.name,
        "status": b.status,
        "customer_id": str(b.customer_id) if b.customer_id else None,
        "case_id": b.case_id,
        "project_reference": b.project_reference,
        "currency": b.currency,
        "amount": str(b.amount),
        "period_start": b.period_start.isoformat() if b.period_start else None,
        "period_end": b.period_end.isoformat() if b.period_end else None,
        "tax_rate": None if b.tax_rate is None else str(b.tax_rate),
        "tax_category": b.tax_category,
        "services": list(b.services or []),
        "closed_at": b.closed_at.isoformat() if b.closed_at else None,
    }


def _services(given: Sequence[ServiceIn]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "name": s.name,
            "amount": str(s.amount),
            "tax_rate": None if s.tax_rate is None else str(s.tax_rate),
            "tax_category": s.tax_category.value if s.tax_category else None,
        }
        for s in given
    ]


def services_of(b: Budget) -> tuple[rules.Service, ...]:
    return tuple(
        rules.Service(
            id=s["id"],
            name=s["name"],
            amount=Decimal(s["amount"]),
            tax_rate=None if s.get("tax_rate") is None else Decimal(s["tax_rate"]),
            tax_category=s.get("tax_category"),
        )
        for s in b.services or []
    )


def _check_money(b: Budget) -> None:
    """The amounts fit the currency, the services add up, the period is ordered."""
    for pointer, value in [("/amount", b.amount)] + [
        (f"/services/{i}/amount", s.amount) for i, s in enumerate(services_of(b))
    ]:
        if not fits_minor_units(value, b.currency):
            raise DomainError(
                "invalid_attribute",
                f"{value} has more decimals than {b.currency} allows",
                pointer=pointer,
            )
    rules.check_services(b.amount, services_of(b), "/services")


def get_budget(
    session: Session, org_id: uuid.UUID, budget_id: str, *, pointer: str = "/id", lock: bool = True
) -> Budget:
    b = session.get(Budget, (org_id, budget_id), with_for_update=lock)
    if b is None:
        raise NotFound(
            "budget_not_found",
            f"budget {budget_id} does not exist",
            pointer=pointer,
            hint="send create_budget first",
        )
    return b


def invoiced(session: Session, org_id: uuid.UUID, budget_ids: Sequence[str]) -> dict[str, Any]:
    """budget id -> {service id or None: net invoiced}: the lines attributed to the budgets on
    invoices that are neither void nor in the trash (summed here: exact on both backends)."""
    stmt = (
        select(InvoiceLine.budget_id, InvoiceLine.service_id, InvoiceLine.net_amount)
        .join(
            Invoice,
            (Invoice.organization_id == InvoiceLine.organization_id)
            & (Invoice.id == InvoiceLine.invoice_id),
        )
        .where(
            InvoiceLine.organization_id == org_id,
            InvoiceLine.budget_id.in_(list(budget_ids)),
            Invoice.kind == "invoice",
            Invoice.status != "void",
            Invoice.deleted_at.is_(None),
        )
    )
    out: dict[str, dict[str | None, Decimal]] = {}
    for budget_id, service_id, net in session.execute(stmt):
        per = out.setdefault(str(budget_id), {})
        per[service_id] = per.get(service_id, ZERO) + net
    return out


def facts(b: Budget, spent: dict[str | None, Decimal]) -> rules.BudgetFacts:
    return rules.BudgetFacts(
        id=b.id,
        name=b.name,
        currency=b.currency,
        amount=b.amount,
        status=b.status,
        tax_rate=b.tax_rate,
        tax_category=b.tax_category,
        services=services_of(b),
        period_start=b.period_start,
        period_end=b.period_end,
        invoiced=spent,
    )


def entry_facts(e: BillableEntry) -> rules.EntryFacts:
    return rules.EntryFacts(
        id=e.id,
        kind=e.kind,
        budget_id=e.budget_id or "",
        service_id=e.service_id,
        date=e.date,
        description=e.description,
        quantity=e.quantity,
        unit=e.unit,
        unit_price=e.unit_price,
        currency=e.currency,
        tax_rate=e.tax_rate,
        tax_category=e.tax_category,
    )


def selection(org: OrganizationRecord, sel: BudgetSelection) -> rules.Selection:
    return rules.Selection(
        method=sel.invoicing_method,
        by=sel.invoicing_by,
        percentage=sel.percentage,
        display_format=sel.display_format,
        expense_display_format=sel.expense_display_format,
        locale=sel.locale or str(profile(org).get("default_locale", "en")),
        date_from=sel.date_from,
        date_to=sel.date_to,
    )


@dataclass(frozen=True)
class Plan:
    selection: rules.Selection
    budgets: list[rules.BudgetFacts]
    entries: list[rules.EntryFacts]
    lines: list[rules.PlannedLine]


def planned(
    session: Session, org: OrganizationRecord, sel: BudgetSelection, *, lock: bool, pointer: str
) -> Plan:
    """The plan of ``sel``: budgets locked when billing (no two drafts take the same rest)."""
    chosen = selection(org, sel)
    rules.check_selection(chosen, pointer)
    rows = [
        get_budget(session, org.id, bid, pointer=f"{pointer}/budget_ids/{i}", lock=lock)
        for i, bid in enumerate(sel.budget_ids)
    ]
    spent = invoiced(session, org.id, sel.budget_ids)
    budgets = [facts(b, spent.get(b.id, {})) for b in rows]
    entries: list[rules.EntryFacts] = []
    if chosen.method == rules.ACTUALS:
        stmt = select(BillableEntry).where(
            BillableEntry.organization_id == org.id,
            BillableEntry.status == "uninvoiced",
            BillableEntry.budget_id.in_(list(sel.budget_ids)),
        )
        entries = [entry_facts(e) for e in session.execute(stmt).scalars()]
    lines = rules.plan(chosen, budgets, entries, pointer=f"{pointer}/budget_ids")
    return Plan(chosen, budgets, entries, lines)


def line_in(line: rules.PlannedLine) -> LineIn:
    fields: dict[str, Any] = {
        "description": line.description,
        "quantity": line.quantity,
        "unit": line.unit,
        "unit_price": line.unit_price,
        "tax_category": TaxCategory(line.tax_category),
        "billable_entry_ids": list(line.entry_ids),
        "budget_id": line.budget_id,
        "service_id": line.service_id,
    }
    if line.tax_rate is not None:
        fields["tax_rate"] = line.tax_rate
    return LineIn(**fields)


def check_currency(plan: Plan, currency: str, pointer: str) -> None:
    for i, b in enumerate(plan.budgets):
        if b.currency != currency:
            raise Conflict(
                "currency_mismatch",
                f"budget {b.id} is in {b.currency}, the invoice in {currency}",
                pointer=f"{pointer}/budget_ids/{i}",
                hint="bill a budget on an invoice in its currency",
            )
    for line in plan.lines:
        if line.currency != currency:
            raise Conflict(
                "currency_mismatch",
                f"billable entries {', '.join(line.entry_ids)} are in {line.currency}, the "
                f"invoice in {currency}",
                pointer=f"{pointer}/budget_ids",
                hint="bill entries of another currency on an invoice in that currency",
            )


def attribute(uow: UnitOfWork, inv: InvoiceRecord, line: LineRecord, pointer: str) -> None:
    """A line attributed to a budget: the budget exists, is open, is in the invoice's currency,
    and has the service named."""
    assert line.budget_id is not None
    b = get_budget(uow.session, inv.organization_id, line.budget_id, pointer=f"{pointer}/budget_id")
    rules.check_billable(facts(b, {}), f"{pointer}/budget_id")
    if b.currency != inv.currency:
        raise Conflict(
            "currency_mismatch",
            f"budget {b.id} is in {b.currency}, the invoice in {inv.currency}",
            pointer=f"{pointer}/budget_id",
        )
    if line.service_id is not None and facts(b, {}).service(line.service_id) is None:
        raise NotFound(
            "service_not_found",
            f"budget {b.id} has no service {line.service_id}",
            pointer=f"{pointer}/service_id",
            hint="add the service with update_budget",
        )


# ----------------------------------------------------------------------------- commands


@handles(CreateBudget)
def create_budget(cmd: CreateBudget, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    p = cmd.payload
    if uow.session.get(Budget, (org.id, p.id)) is not None:
        raise Conflict(
            "budget_exists",
            f"budget {p.id} already exists",
            pointer="/id",
            hint="use update_budget to change it",
        )
    b = Budget(organization_id=org.id, id=p.id, status=rules.OPEN, created_at=deps.now())
    b.currency = p.currency or str(profile(org).get("default_currency", "EUR"))
    _apply(b, p, set(p.model_fields_set) | {"tax_category"}, deps.now())
    uow.session.add(b)
    return [Event("budget.created", b.id, {"budget": budget_data(b)})]


@handles(UpdateBudget)
def update_budget(cmd: UpdateBudget, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    p = cmd.payload
    b = get_budget(uow.session, org.id, p.id)
    before = facts(b, invoiced(uow.session, org.id, [b.id]).get(b.id, {}))
    rules.check_billable(before, "/id")
    _apply(b, p, set(p.model_fields_set) - {"id"}, deps.now())
    rules.check_amount_covers_invoiced(before, b.amount, "/amount")
    if p.services is not None:
        rules.check_services_cover_invoiced(before, services_of(b), "/services")
    return [Event("budget.updated", b.id, {"budget": budget_data(b)})]


@handles(CloseBudget)
def close_budget(cmd: CloseBudget, uow: UnitOfWork, deps: Deps) -> list[Event]:
    b = get_budget(uow.session, cmd.organization_id, cmd.payload.id)
    rules.check_billable(facts(b, {}), "/id")
    b.status, b.closed_at, b.updated_at = rules.CLOSED, deps.now(), deps.now()
    return [Event("budget.closed", b.id, {"budget": budget_data(b)})]


def _apply(
    b: Budget, p: CreateBudget.Payload | UpdateBudget.Payload, fields: set[str], now: dt.datetime
) -> None:
    for name in ("customer_id", "case_id", "project_reference", "tax_rate"):
        if name in fields:
            setattr(b, name, getattr(p, name))
    if p.name is not None:
        b.name = p.name
    if "amount" in fields and p.amount is not None:
        b.amount = p.amount
    if "tax_category" in fields and p.tax_category is not None:
        b.tax_category = p.tax_category.value
    if "period" in fields:
        b.period_start = p.period.start if p.period else None
        b.period_end = p.period.end if p.period else None
    if "services" in fields or b.services is None:
        b.services = _services(p.services or [])
    b.updated_at = now
    _check_money(b)
