"""Dunning history: the notices sent, per invoice, per customer or for the organization; and
the dunning blocks (Mahnsperren)."""

from __future__ import annotations

from typing import Any

from invoicing.domain.errors import NotFound
from invoicing.domain.money import round_money
from invoicing.models import Invoice
from invoicing.models.dunning import DunningBlock, DunningNotice
from invoicing.queries.common import (
    dialect_of,
    money_key,
    order_terms,
    organization_calendar,
    paginate,
)
from invoicing.queries.filters import day_conditions
from invoicing.schemas.queries import (
    DunningBlockItem,
    DunningBlockList,
    DunningNoticeItem,
    DunningNoticeList,
    ListDunningBlocks,
    ListDunningNotices,
)
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session


def list_dunning_notices(query: ListDunningNotices, session: Session) -> DunningNoticeList:
    p = query.payload
    org_id = query.organization_id
    if p.invoice_id is not None:
        found = session.execute(
            select(Invoice.id).where(Invoice.organization_id == org_id, Invoice.id == p.invoice_id)
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(
                "invoice_not_found", f"invoice {p.invoice_id} does not exist", pointer="/invoice_id"
            )
    conditions: list[Any] = [DunningNotice.organization_id == org_id]
    if p.invoice_id is not None:
        conditions.append(DunningNotice.invoice_id == p.invoice_id)
    if p.customer_id:
        conditions.append(Invoice.customer_id.in_(p.customer_id))
    if p.level:
        conditions.append(DunningNotice.level.in_(p.level))
    if p.sent_at is not None:
        cal = organization_calendar(session, org_id)
        conditions += day_conditions(
            DunningNotice.sent_at, p.sent_at, cal, timestamp=True, as_of=p.as_of
        )
    stmt = (
        select(DunningNotice, Invoice.number, Invoice.customer_id)
        .join(
            Invoice,
            and_(
                Invoice.organization_id == DunningNotice.organization_id,
                Invoice.id == DunningNotice.invoice_id,
            ),
        )
        .where(*conditions)
    )
    columns: dict[str, Any] = {
        "sent_at": DunningNotice.sent_at,
        "level": DunningNotice.level,
        "days_overdue": DunningNotice.days_overdue,
        "open_amount": money_key(DunningNotice.open_amount, dialect_of(session)),
        "as_of": DunningNotice.as_of,
    }
    terms = order_terms(list(p.sort), columns, DunningNotice.invoice_id)
    stmt = stmt.order_by(*terms, DunningNotice.level.asc())
    rows, info = paginate(session, stmt, p.page, p.page_size)
    items = [
        DunningNoticeItem(
            invoice_id=n.invoice_id,
            invoice_number=number,
            customer_id=customer_id,
            level=n.level,
            as_of=n.as_of,
            sent_at=n.sent_at,
            days_overdue=n.days_overdue,
            currency=n.currency,
            open_amount=round_money(n.open_amount, n.currency),
            fee=round_money(n.fee, n.currency),
            interest=round_money(n.interest, n.currency),
            delivery_status=n.delivery_status,
        )
        for n, number, customer_id in rows
    ]
    return DunningNoticeList(items=items, page=info)


def list_dunning_blocks(query: ListDunningBlocks, session: Session) -> DunningBlockList:
    p = query.payload
    org_id = query.organization_id
    conditions: list[Any] = [DunningBlock.organization_id == org_id]
    subjects: list[Any] = []
    if p.invoice_id is not None:
        customer_id = session.execute(
            select(Invoice.customer_id).where(
                Invoice.organization_id == org_id, Invoice.id == p.invoice_id
            )
        ).one_or_none()
        if customer_id is None:
            raise NotFound(
                "invoice_not_found", f"invoice {p.invoice_id} does not exist", pointer="/invoice_id"
            )
        subjects.append(_subject("invoice", [p.invoice_id]))
        if customer_id[0] is not None:
            subjects.append(_subject("customer", [customer_id[0]]))
    if p.customer_id:
        # the customers' own blocks and those of their invoices (as list_dunning_notices
        # takes a customer's invoices' notices): a clerk looking at a customer sees a disputed
        # invoice's block too
        subjects.append(_subject("customer", p.customer_id))
        theirs = select(Invoice.id).where(
            Invoice.organization_id == org_id, Invoice.customer_id.in_(p.customer_id)
        )
        subjects.append(_subject("invoice", theirs))
    if subjects:
        conditions.append(or_(*subjects))
    if p.active_on is not None:
        conditions.append(or_(DunningBlock.until.is_(None), DunningBlock.until >= p.active_on))
    stmt = (
        select(DunningBlock)
        .where(*conditions)
        .order_by(DunningBlock.set_at.desc(), DunningBlock.subject, DunningBlock.subject_id)
    )
    rows, info = paginate(session, stmt, p.page, p.page_size)
    items = [
        DunningBlockItem(
            subject=b.subject,
            invoice_id=b.subject_id if b.subject == "invoice" else None,
            customer_id=b.subject_id if b.subject == "customer" else None,
            until=b.until,
            reason=b.reason,
            set_at=b.set_at,
            command_id=b.command_id,
        )
        for (b,) in rows
    ]
    return DunningBlockList(items=items, page=info)


def _subject(subject: str, ids: Any) -> Any:
    return and_(DunningBlock.subject == subject, DunningBlock.subject_id.in_(ids))
