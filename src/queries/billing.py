"""Preview of uninvoiced work: the lines ``invoice_billable_entries`` would create, with totals.

The lines are built by the same rules as the command (``drafting.make_line``: the entry's tax
rate or the organization's default, the tax category checks) on a transient draft that is
never added to the session, and totalled by the same engine (``drafting.recalculate`` ->
``invoicing.domain.calc``), so the preview equals what the invoice would show.
"""

from __future__ import annotations

import uuid

from invoicing.domain.errors import DomainError, NotFound
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.billing import line_from_entry, uninvoiced
from invoicing.handlers.drafting import discount_json, make_line, recalculate
from invoicing.handlers.invoices import new_draft, small_business_country
from invoicing.handlers.repository import default_rate
from invoicing.handlers.views import invoice_state
from invoicing.models import BillableEntry, Organization
from invoicing.schemas.queries import (
    PreviewBillableEntries,
    PreviewGroup,
    PreviewLine,
    PreviewResult,
)
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

_PREVIEW = uuid.UUID("6f1d3c52-5b1e-4d8e-9a55-2f1b7c9e0a11")


def _selected(query: PreviewBillableEntries, session: Session) -> list[BillableEntry]:
    p = query.payload
    org_id = query.organization_id
    uninvoiced(session, org_id, list(p.entry_ids), lock=False)
    c: list[ColumnElement[bool]] = [
        BillableEntry.organization_id == org_id,
        BillableEntry.status == "uninvoiced",
    ]
    if p.entry_ids:
        c.append(BillableEntry.id.in_(list(p.entry_ids)))
    if p.customer_id:
        c.append(BillableEntry.customer_id == p.customer_id)
    if p.case_id:
        c.append(BillableEntry.case_id == p.case_id)
    if p.project_reference:
        c.append(BillableEntry.project_reference == p.project_reference)
    if p.date_from:
        c.append(BillableEntry.date >= p.date_from)
    if p.date_to:
        c.append(BillableEntry.date <= p.date_to)
    if p.kind:
        c.append(BillableEntry.kind.in_(list(p.kind)))
    if p.currency:
        c.append(BillableEntry.currency == p.currency)
    stmt = (
        select(BillableEntry)
        .where(*c)
        .order_by(BillableEntry.date, BillableEntry.recorded_at, BillableEntry.id)
    )
    return list(session.execute(stmt).scalars())


def preview_billable_entries(query: PreviewBillableEntries, session: Session) -> PreviewResult:
    org = session.get(Organization, query.organization_id)
    if org is None:
        raise NotFound(
            "organization_not_configured",
            f"organization {query.organization_id} is not configured",
            pointer="/organization_id",
            hint="send configure_organization first",
        )
    p = query.payload
    entries = _selected(query, session)
    by_currency: dict[str, list[BillableEntry]] = {}
    for entry in entries:
        by_currency.setdefault(entry.currency, []).append(entry)
    sb_country = small_business_country(org)
    rate = default_rate(org)
    previews: list[PreviewGroup] = []
    for currency in sorted(by_currency):
        group = by_currency[currency]
        draft = new_draft(
            org, uuid.uuid5(_PREVIEW, f"{org.id}:{currency}"), "invoice", org.created_at
        )
        draft.currency = currency
        draft.calculate_from_net = p.calculate_from_net
        draft.discount = discount_json(p.discount)
        for position, entry in enumerate(group, start=1):
            pointer = f"/entries/{entry.id}"
            line_in = line_from_entry(entry)
            if sb_country and line_in.tax_category is not TaxCategory.EXEMPT:
                raise DomainError(
                    "small_business",
                    f"billable entry {entry.id} has tax_category {entry.tax_category}; the "
                    "organization uses the small business scheme (exempt, rate 0)",
                    pointer=pointer,
                    hint="record the entry with tax_category exempt and tax_rate 0",
                )
            draft.lines.append(
                make_line(
                    draft,
                    line_in,
                    position=position,
                    line_id=uuid.uuid5(_PREVIEW, f"{org.id}:{entry.id}"),
                    default_rate=rate,
                    pointer=pointer,
                )
            )
        recalculate(draft, small_business_country=sb_country)
        state = invoice_state(draft)
        previews.append(
            PreviewGroup(
                currency=currency,
                lines=[
                    PreviewLine(
                        entry_id=entry.id,
                        kind=entry.kind,
                        date=entry.date,
                        customer_id=entry.customer_id,
                        case_id=entry.case_id,
                        project_reference=entry.project_reference,
                        line=line,
                    )
                    for entry, line in zip(group, state.lines, strict=True)
                ],
                tax_breakdown=state.tax_breakdown,
                totals=state.totals,
            )
        )
    return PreviewResult(previews=previews, entry_count=len(entries))
