"""Budget reads and seed 002's invoice preview; the subsidiaries of an organization.

``preview_invoice`` runs the plan of ``handlers.budgets.planned`` (the one the command bills)
and builds its lines with the command's rules (``drafting.make_line``: the line's tax rate or
the issuer's default, the tax category checks) on a transient draft per currency that is never
added to the session, totalled by the invoice engine: the preview shows what the invoice will.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from invoicing.domain import budgets as rules
from invoicing.domain import calendar
from invoicing.domain.errors import DomainError
from invoicing.domain.money import ZERO
from invoicing.domain.tax import TaxCategory
from invoicing.handlers import budgets, subsidiaries
from invoicing.handlers.drafting import make_line, recalculate
from invoicing.handlers.invoices import new_draft, rate_rules, small_business_country, tax_day
from invoicing.handlers.repository import default_rate, get_invoice, get_organization
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state
from invoicing.models import BillableEntry, Budget, Organization, Subsidiary
from invoicing.models.records import OrganizationRecord
from invoicing.queries.common import paginate
from invoicing.schemas.queries import (
    AttributionView,
    BudgetList,
    BudgetResult,
    BudgetView,
    GetBudget,
    InvoicePreview,
    InvoicePreviewGroup,
    ListBudgets,
    ListSubsidiaries,
    PreviewedLine,
    PreviewInvoice,
    ServiceView,
    SubsidiaryList,
    SubsidiaryView,
)
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

_PREVIEW = uuid.UUID("0b6c1f3e-2d4a-4c5b-8e9f-7a1d2c3b4e5f")


def organization(session: Session, org_id: uuid.UUID) -> Organization:
    return get_organization(reading(session), org_id)


def reading(session: Session) -> UnitOfWork:
    """The handlers' loaders on the query's read-only session (nothing is written)."""
    uow = UnitOfWork(sessionmaker())
    uow.session = session
    return uow


def preview_invoice(query: PreviewInvoice, session: Session) -> InvoicePreview:
    org = organization(session, query.organization_id)
    p = query.payload
    issuer: OrganizationRecord = org
    if p.invoice_id is not None:  # seed 002 previews for an invoice: its issuer, its currency
        uow = reading(session)
        inv = get_invoice(uow, org.id, p.invoice_id, lock=False)
        issuer = subsidiaries.entity(uow, org, inv.subsidiary_id, "/invoice_id").org
    plan = budgets.planned(session, org, p, lock=False, pointer="")
    # the VAT rates are checked on the day the billing checks them: the draft's tax day
    today = calendar.Calendar.fixed(calendar.zone_of(issuer.profile or {})).today()
    day = today if p.invoice_id is None else tax_day(inv, today)
    if p.invoice_id is not None:
        budgets.check_currency(plan, inv.currency, "")
    currencies = sorted({line.currency for line in plan.lines})
    return InvoicePreview(
        previews=[_group(issuer, plan, currency, p.budget_ids, day) for currency in currencies],
        attributions=[
            AttributionView(
                budget_id=a.budget_id,
                currency=a.currency,
                amount=a.amount,
                date_from=a.date_from,
                date_to=a.date_to,
            )
            for a in rules.attributions(plan.lines, plan.entries, plan.selection)
        ],
        invoicing_method=plan.selection.method,
        invoicing_method_id=rules.METHOD_NUMBERS[plan.selection.method],
    )


def _group(
    org: OrganizationRecord,
    plan: budgets.Plan,
    currency: str,
    budget_ids: Sequence[str],
    day: dt.date,
) -> InvoicePreviewGroup:
    """The lines as ``append_lines`` makes them, with its checks (the small business scheme,
    the issuer's VAT rates on ``day``): a preview that the billing would refuse is refused."""
    rates = rate_rules(org)
    planned = [line for line in plan.lines if line.currency == currency]
    draft = new_draft(org, uuid.uuid5(_PREVIEW, f"{org.id}:{currency}"), "invoice", org.created_at)
    draft.currency = currency
    sb_country = small_business_country(org)
    for position, line in enumerate(planned, start=1):
        pointer = f"/budget_ids/{list(budget_ids).index(line.budget_id)}"
        line_in = budgets.line_in(line)
        if sb_country and line_in.tax_category is not TaxCategory.EXEMPT:
            raise DomainError(
                "small_business",
                "the issuer uses the small business scheme; lines must have tax_category "
                "exempt and tax_rate 0",
                pointer=pointer,
                hint="give the budget (and its entries) tax_category exempt and tax_rate 0",
            )
        made = make_line(
            draft,
            line_in,
            position=position,
            line_id=uuid.uuid5(_PREVIEW, f"{org.id}:{currency}:{position}"),
            default_rate=default_rate(org),
            pointer=pointer,
        )
        if made.tax_category == TaxCategory.STANDARD.value:
            rates.check(made.tax_rate, day, pointer)
        draft.lines.append(made)
    recalculate(draft, small_business_country=sb_country)
    state = invoice_state(draft)
    return InvoicePreviewGroup(
        currency=currency,
        lines=[
            PreviewedLine(
                kind=line.kind,
                budget_id=line.budget_id,
                service_id=line.service_id,
                entry_ids=list(line.entry_ids),
                line=shown,
            )
            for line, shown in zip(planned, state.lines, strict=True)
        ],
        tax_breakdown=state.tax_breakdown,
        totals=state.totals,
    )


# ----------------------------------------------------------------------------- budgets


def _views(session: Session, org_id: uuid.UUID, rows: Sequence[Budget]) -> list[BudgetView]:
    ids = [b.id for b in rows]
    spent = budgets.invoiced(session, org_id, ids) if ids else {}
    counts = dict(
        session.execute(
            select(BillableEntry.budget_id, func.count())
            .where(
                BillableEntry.organization_id == org_id,
                BillableEntry.status == "uninvoiced",
                BillableEntry.budget_id.in_(ids),
            )
            .group_by(BillableEntry.budget_id)
        ).all()
    )
    out = []
    for b in rows:
        f = budgets.facts(b, spent.get(b.id, {}))
        out.append(
            BudgetView(
                id=b.id,
                name=b.name,
                status=b.status,
                customer_id=b.customer_id,
                case_id=b.case_id,
                project_reference=b.project_reference,
                currency=b.currency,
                amount=b.amount,
                invoiced=f.invoiced_total,
                remaining=f.remaining,
                period_start=b.period_start,
                period_end=b.period_end,
                tax_rate=b.tax_rate,
                tax_category=b.tax_category,
                services=[
                    ServiceView(
                        id=s.id,
                        name=s.name,
                        amount=s.amount,
                        tax_rate=s.tax_rate,
                        tax_category=s.tax_category,
                        invoiced=f.invoiced.get(s.id, ZERO),
                        remaining=f.service_remaining(s),
                    )
                    for s in f.services
                ],
                uninvoiced_entries=int(counts.get(b.id, 0)),
                created_at=b.created_at,
                updated_at=b.updated_at,
                closed_at=b.closed_at,
            )
        )
    return out


def get_budget(query: GetBudget, session: Session) -> BudgetResult:
    b = budgets.get_budget(
        session, query.organization_id, query.payload.budget_id, pointer="/budget_id", lock=False
    )
    return BudgetResult(budget=_views(session, query.organization_id, [b])[0])


def list_budgets(query: ListBudgets, session: Session) -> BudgetList:
    p = query.payload
    org_id = query.organization_id
    where: list[ColumnElement[bool]] = [Budget.organization_id == org_id]
    if p.customer_id is not None:
        where.append(Budget.customer_id == p.customer_id)
    if p.case_id is not None:
        where.append(Budget.case_id == p.case_id)
    if p.project_reference is not None:
        where.append(Budget.project_reference == p.project_reference)
    if p.status is not None:
        where.append(Budget.status == p.status)
    stmt = select(Budget).where(*where).order_by(Budget.id)
    rows, info = paginate(session, stmt, p.page, p.page_size)
    return BudgetList(items=_views(session, org_id, [r[0] for r in rows]), page=info)


def list_subsidiaries(query: ListSubsidiaries, session: Session) -> SubsidiaryList:
    rows = session.execute(
        select(Subsidiary)
        .where(Subsidiary.organization_id == query.organization_id)
        .order_by(Subsidiary.id)
    ).scalars()
    return SubsidiaryList(
        items=[
            SubsidiaryView(
                id=s.id,
                name=s.name,
                profile=dict(s.profile or {}),
                created_at=s.created_at,
                updated_at=s.updated_at,
            )
            for s in rows
        ]
    )
