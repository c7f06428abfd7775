"""Dunning (Mahnwesen): ``configure_dunning`` and ``send_dunning_notices``.

``send_dunning_notices`` finds every open invoice (finalized, sent or partially paid, with an
open amount) whose next level is due and records one delivery job per notice in its own
transaction; it sends nothing. Each notice is then its own delivery step
(:mod:`invoicing.handlers.deliveries`, purpose ``dunning``): it re-checks that the invoice is
still open, computes fee and interest, emails the notice with the invoice's frozen PDF, records
the level in ``dunning_notices`` (primary key organization + invoice + level: a level is never
recorded twice) and emits ``dunning.notice_sent`` with the whole invoice and the notice (level,
fee, interest); a refused notice emits ``invoice.delivery_failed``.

Each notice is one journal entry keyed by a delivery id derived from the command id, the
invoice and the level, so a notice is emailed at most once.

Fees and interest are stated in the notice and in the event; the finalized invoice's totals do
not change (a fee invoice, if wanted, is a separate invoice). See docs/dunning.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.documents.pdf.dunning import (
    DunningFigures,
    claim_lines,
    dunning_view,
    level_title,
)
from invoicing.documents.store import Document
from invoicing.domain.consumer_dunning import History, cap_costs, history_of, sending_day
from invoicing.domain.dunning import (
    BalanceChange,
    Block,
    Candidate,
    EarlierNotice,
    InterestPeriod,
    InterestUnavailable,
    announced_damages,
    blocked_on,
    check_block_end,
    check_run_day,
    consumer_deadline,
    debtor_of,
    dunning_costs,
    fee_of,
    fill,
    flat_compensation_claim,
    interest_by_days,
    interest_spans,
    payment_deadline,
    plan_notices,
    total_due,
    window_of,
)
from invoicing.domain.errors import DomainError, InvalidState
from invoicing.domain.money import ZERO, format_plain
from invoicing.domain.reference_rates import Debtor, RateSpan
from invoicing.domain.states import OPEN_STATES
from invoicing.handlers import subsidiaries
from invoicing.handlers.deliveries import (
    Claim,
    Delivered,
    Prepared,
    Skip,
    StepContext,
    documents_for,
    job_id_for,
    journal_key,
    pending_invoices,
    purpose,
    safe_name,
    schedule,
)
from invoicing.handlers.registry import Deps, Event, PartialFailures, handles, invoice_event
from invoicing.handlers.repository import (
    calendar_day,
    get_customer,
    get_invoice,
    get_organization,
    today_of,
)
from invoicing.handlers.sending import compose_mail, lang_of, mail_context
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state, open_amount, owed
from invoicing.models import Customer, Invoice
from invoicing.models.deliveries import DeliveryJob
from invoicing.models.documents import EmailDelivery, StoredDocument
from invoicing.models.dunning import DunningBlock, DunningNotice, DunningSettingsRecord
from invoicing.schemas.dunning import (
    BlockDunning,
    ConfigureDunning,
    DunningBlockSubject,
    DunningLevel,
    DunningSettings,
    DunningText,
    LiftDunningBlock,
    SendDunningNotices,
)
from invoicing.schemas.events import InvoiceState
from invoicing.texts.formatting import money
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

PURPOSE = "dunning"


# ----------------------------------------------------------------------------- settings


def load_settings(uow: UnitOfWork, organization_id: uuid.UUID) -> DunningSettings:
    record = uow.session.get(DunningSettingsRecord, organization_id)
    if record is None:
        raise InvalidState(
            "dunning_not_configured",
            "the organization has no dunning settings",
            pointer="/organization_id",
            hint="send configure_dunning first (scope organizations:admin)",
        )
    return DunningSettings.model_validate(record.settings)


@handles(ConfigureDunning)
def configure_dunning(cmd: ConfigureDunning, uow: UnitOfWork, deps: Deps) -> list[Event]:
    get_organization(uow, cmd.organization_id)
    now = deps.now()
    stored = cmd.payload.model_dump(mode="json")
    record = uow.session.get(DunningSettingsRecord, cmd.organization_id, with_for_update=True)
    if record is None:
        record = DunningSettingsRecord(
            organization_id=cmd.organization_id, settings=stored, version=1, updated_at=now
        )
        uow.session.add(record)
    else:
        record.settings, record.version, record.updated_at = stored, record.version + 1, now
    uow.session.flush()
    data = {
        "organization_id": str(cmd.organization_id),
        "dunning": stored,
        "version": record.version,
    }
    return [Event("dunning_settings.configured", str(cmd.organization_id), data)]


@handles(BlockDunning)
def block_dunning(cmd: BlockDunning, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    if p.until is not None:
        check_block_end(p.until, calendar_day(uow, cmd.organization_id, deps))
    subject, subject_id = _block_subject(uow, cmd.organization_id, p)
    key = (cmd.organization_id, subject, subject_id)
    block = uow.session.get(DunningBlock, key, with_for_update=True)
    if block is None:
        block = DunningBlock(organization_id=cmd.organization_id, subject=subject)
        block.subject_id = subject_id
        uow.session.add(block)
    block.until, block.reason = p.until, p.reason
    block.command_id, block.set_at = cmd.command_id, deps.now()
    uow.session.flush()
    return [Event("dunning_block.set", str(subject_id), _block_data(block))]


@handles(LiftDunningBlock)
def lift_dunning_block(cmd: LiftDunningBlock, uow: UnitOfWork, deps: Deps) -> list[Event]:
    subject, subject_id = _block_subject(uow, cmd.organization_id, cmd.payload)
    block = uow.session.get(
        DunningBlock, (cmd.organization_id, subject, subject_id), with_for_update=True
    )
    if block is None:
        raise InvalidState(
            "dunning_not_blocked",
            f"the dunning of {subject} {subject_id} is not blocked",
            pointer=f"/{subject}_id",
            hint="list_dunning_blocks shows the blocks there are",
        )
    data = _block_data(block)
    uow.session.delete(block)
    uow.session.flush()
    return [Event("dunning_block.lifted", str(subject_id), data)]


def _block_subject(
    uow: UnitOfWork, organization_id: uuid.UUID, p: DunningBlockSubject
) -> tuple[str, uuid.UUID]:
    """The subject of a block, which must exist in the organization (a draft may be blocked:
    the block holds once it is issued)."""
    if p.invoice_id is not None:
        inv = get_invoice(uow, organization_id, p.invoice_id, lock=False)
        if inv.kind != "invoice":
            raise InvalidState(
                "not_a_receivable",
                f"{inv.kind} {inv.number or inv.id} is never dunned",
                pointer="/invoice_id",
                hint="block the invoice it belongs to",
            )
        return "invoice", inv.id
    assert p.customer_id is not None  # the payload's validator: exactly one of both
    return "customer", get_customer(uow, organization_id, p.customer_id).id


def _block_data(block: DunningBlock) -> dict[str, Any]:
    return {
        f"{block.subject}_id": str(block.subject_id),
        "until": block.until.isoformat() if block.until else None,
        "reason": block.reason,
    }


# ----------------------------------------------------------------------------- reads


def blocks_of(session: Session, organization_id: uuid.UUID) -> dict[tuple[str, uuid.UUID], Block]:
    """The organization's dunning blocks, by subject (expired ones too: :class:`Block` says
    whether one holds on a day)."""
    rows = session.execute(
        select(DunningBlock.subject, DunningBlock.subject_id, DunningBlock.until).where(
            DunningBlock.organization_id == organization_id
        )
    )
    return {(subject, subject_id): Block(until) for subject, subject_id, until in rows}


def notices_of(
    session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID
) -> list[DunningNotice]:
    """The dunning history of one invoice, level 1 first (for accounting and the CLI)."""
    stmt = (
        select(DunningNotice)
        .where(
            DunningNotice.organization_id == organization_id,
            DunningNotice.invoice_id == invoice_id,
        )
        .order_by(DunningNotice.level)
    )
    return list(session.execute(stmt).scalars())


def dunning_levels(
    session: Session, organization_id: uuid.UUID, invoice_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, int]:
    """The highest dunning level reached per invoice (invoices never dunned are absent)."""
    stmt = (
        select(DunningNotice.invoice_id, func.max(DunningNotice.level))
        .where(DunningNotice.organization_id == organization_id)
        .group_by(DunningNotice.invoice_id)
    )
    if invoice_ids is not None:
        stmt = stmt.where(DunningNotice.invoice_id.in_(invoice_ids))
    return {row[0]: int(row[1]) for row in session.execute(stmt)}


def _last_notices(
    uow: UnitOfWork, organization_id: uuid.UUID, invoice_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, dt.date]]:
    last: dict[uuid.UUID, tuple[int, dt.date]] = {}
    if not invoice_ids:
        return last
    stmt = select(DunningNotice.invoice_id, DunningNotice.level, DunningNotice.as_of).where(
        DunningNotice.organization_id == organization_id,
        DunningNotice.invoice_id.in_(invoice_ids),
    )
    for invoice_id, level, as_of in uow.session.execute(stmt):
        if invoice_id not in last or level > last[invoice_id][0]:
            last[invoice_id] = (int(level), as_of)
    return last


def _candidates(uow: UnitOfWork, organization_id: uuid.UUID, as_of: dt.date) -> list[Candidate]:
    """Open invoices overdue on ``as_of``, oldest due date first (then by number). An invoice
    in an open state with nothing left to pay (credited and written off in full, or paid by
    them together) is none: it took one of the run's ``max_notices`` before its notice was
    dropped at delivery, crowding out invoices really owed (as ``check_overdue`` skips it)."""
    rows = uow.session.execute(
        select(
            Invoice.id,
            Invoice.due_date,
            Invoice.number,
            Invoice.customer_id,
            Invoice.buyer,
            Invoice.seller,
            Invoice.gross_total,
            Invoice.credited_amount,
            Invoice.written_off_amount,
            Invoice.paid_amount,
            Invoice.sent_at,
            Invoice.default_note,
        )
        .where(
            Invoice.organization_id == organization_id,
            Invoice.kind == "invoice",
            Invoice.status.in_(OPEN_STATES),
            Invoice.due_date < as_of,
            Invoice.deleted_at.is_(None),
        )
        .order_by(Invoice.due_date, Invoice.number_key)  # numbers in the numbering's order
    ).all()
    rows = [row for row in rows if owed(row) > row.paid_amount]
    types = _customer_types(uow, organization_id, {r.customer_id for r in rows if r.customer_id})
    histories = _histories(uow, organization_id, rows)
    return [
        Candidate(
            row.id,
            row.number,
            row.due_date,
            bool((row.buyer or {}).get("email")),
            row.customer_id,
            _country(row.seller),
            debtor_of(types.get(row.customer_id), (row.buyer or {}).get("vat_id")),
            histories[row.id],
        )
        for row in rows
    ]


def _histories(uow: UnitOfWork, organization_id: uuid.UUID, rows: Any) -> dict[uuid.UUID, History]:
    """Per invoice (``rows``: id, seller, sent_at, default_note) what says when a consumer's
    default began: the first of its notices that was sent (``uncertain`` ones may never have
    reached the debtor), the day it was sent and whether it carried the § 286 Abs. 3 note."""
    first: dict[uuid.UUID, tuple[int, dt.date, dt.datetime]] = {}
    ids = [row.id for row in rows]
    if ids:
        stmt = select(
            DunningNotice.invoice_id,
            DunningNotice.level,
            DunningNotice.as_of,
            DunningNotice.sent_at,
        ).where(
            DunningNotice.organization_id == organization_id,
            DunningNotice.invoice_id.in_(ids),
            DunningNotice.delivery_status == "sent",
        )
        for invoice_id, level, as_of, sent_at in uow.session.execute(stmt):
            if invoice_id not in first or level < first[invoice_id][0]:
                first[invoice_id] = (level, as_of, sent_at)
    histories: dict[uuid.UUID, History] = {}
    for row in rows:
        entry = first.get(row.id)
        sent = None if entry is None else (entry[1], entry[2])
        histories[row.id] = history_of(row.seller, row.sent_at, bool(row.default_note), sent)
    return histories


def _country(seller: dict[str, Any] | None) -> str:
    return str(((seller or {}).get("address") or {}).get("country_code") or "").upper()


def _customer_types(
    uow: UnitOfWork, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID | None, str | None]:
    """The ``customer_type`` the customers' records state now (a business or a consumer),
    by customer: what the organization knows of its debtor when the notice goes out."""
    if not ids:
        return {}
    rows = uow.session.execute(
        select(Customer.id, Customer.data).where(
            Customer.organization_id == organization_id, Customer.id.in_(ids)
        )
    )
    return {cid: (data or {}).get("customer_type") for cid, data in rows}


def _debtor(uow: UnitOfWork, inv: Invoice) -> Debtor:
    types = _customer_types(
        uow, inv.organization_id, {inv.customer_id} if inv.customer_id else set()
    )
    return debtor_of(types.get(inv.customer_id), (inv.buyer or {}).get("vat_id"))


def _refused(cand: Candidate, reason: str) -> DomainError:
    return DomainError(
        "dunning_interest_unavailable",
        f"{cand.number}: no notice: {reason}",
        pointer="/as_of",
        hint="the notice is sent by the first run after the cause is removed",
    )


def _no_email(cand: Candidate) -> DomainError:
    return DomainError(
        "recipient_missing",
        f"{cand.number}: the customer has no email address; dun it another way",
        pointer="/as_of",
        hint="update_customer with an email (the invoice keeps its snapshot)",
    )


def _schedule_notice(
    uow: UnitOfWork, cmd: SendDunningNotices, invoice_id: uuid.UUID, level: int, now: dt.datetime
) -> None:
    """One delivery job per (command, invoice, level): a redelivered run schedules nothing new."""
    schedule(
        uow,
        job_id=job_id_for(cmd.organization_id, cmd.command_id, f"dunning:{invoice_id}:{level}"),
        organization_id=cmd.organization_id,
        invoice_id=invoice_id,
        purpose=PURPOSE,
        command_id=cmd.command_id,
        correlation_id=cmd.correlation_id,
        payload={"level": level, "as_of": cmd.payload.as_of.isoformat()},
        now=now,
    )


# ----------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Amounts:
    """What a notice claims: the open principal, the costs (earlier notices' costs carried,
    this level's fee, the flat compensation less the fees credited against it), the interest
    computed afresh from the due date to ``as_of``, and the new payment deadline."""

    open_amount: Decimal
    fee: Decimal
    interest: Decimal
    days_overdue: int
    interest_rate: Decimal | None = None  # one rate for the whole period; None if it varies
    interest_periods: tuple[InterestPeriod, ...] = ()
    interest_basis: str | None = None  # de_business, de_consumer, be_business; None: fixed
    earlier_costs: Decimal = ZERO
    flat_compensation: Decimal = ZERO
    credited: Decimal = ZERO
    flat_compensation_waived: str | None = None
    payment_deadline: dt.date | None = None
    interest_from: dt.date | None = None  # the first day of default the interest runs from
    interest_waived: str | None = None  # why a level with interest claims none (consumers)
    fee_waived: str | None = None  # why the level's fee is not claimed (in full)
    costs_capped: Decimal = ZERO  # cut off by the Belgian consumer scale (art. XIX.4 WER)
    free_until: dt.date | None = None  # a Belgian consumer's first reminder: its 14 days' end
    announced_damages: Decimal | None = None  # ... and what the later levels will claim

    @property
    def total_due(self) -> Decimal:
        return total_due(self)


def _earlier(
    uow: UnitOfWork, organization_id: uuid.UUID, invoice_id: uuid.UUID, level: int
) -> list[EarlierNotice]:
    """The costs of the earlier notices of the invoice that were sent (a notice whose
    delivery is ``uncertain`` may never have reached the debtor: its fee is not carried)."""
    return [
        EarlierNotice(n.fee, n.flat_compensation, n.credited)
        for n in notices_of(uow.session, organization_id, invoice_id)
        if n.level < level and n.delivery_status == "sent"
    ]


def _amounts(
    settings: DunningSettings,
    level: int,
    state: InvoiceState,
    as_of: dt.date,
    debtor: Debtor,
    earlier: list[EarlierNotice],
    history: History | None = None,
    sending_day: dt.date | None = None,
) -> Amounts:
    """Raises :class:`InterestUnavailable` when the level's statutory interest cannot be
    computed (the notice is then not sent). ``history`` and ``sending_day`` (default
    ``as_of``) say what a consumer's default and a Belgian consumer's first reminder
    (``domain.consumer_dunning``) allow the notice to claim."""
    cfg = settings.levels[level - 1]
    assert state.due_date is not None
    cur = state.currency
    seller = state.seller
    country = ((seller.address.country_code if seller and seller.address else "") or "").upper()
    open_now = state.totals.open_amount
    window = window_of(
        settings,
        country,
        debtor,
        state.due_date,
        as_of,
        history or History(),
        sending_day,
        open_now,
    )
    fee, fee_waived = fee_of(cfg.fee, cur, settings.currency, window)
    spans: list[RateSpan] = []
    basis: str | None = None
    if window.interest_from is not None:
        spans, basis = interest_spans(
            cfg,
            country,
            debtor,
            state.due_date,
            as_of,
            settings.own_rates(country),
            window.interest_from,
            window.rate_cap,
        )
    interest, periods = interest_by_days(
        state.totals.gross_total, balance_changes(state), state.due_date, as_of, spans, cur
    )
    rates = {p.rate for p in periods}
    claim, waived = flat_compensation_claim(
        settings.flat_compensation_from(), level, debtor == "business", cur
    )
    costs = dunning_costs(earlier, fee, claim)
    capped = cap_costs(costs.earlier, costs.fee, window.costs_cap)
    configured_interest = cfg.interest is not None or bool(cfg.interest_rate_per_year)
    return Amounts(
        open_amount=open_now,
        fee=capped.fee,
        interest=interest,
        days_overdue=(as_of - state.due_date).days,
        interest_rate=rates.pop() if interest and len(rates) == 1 else None,
        interest_periods=tuple(periods) if interest else (),
        interest_basis=basis if interest else None,
        earlier_costs=capped.earlier,
        flat_compensation=costs.flat_compensation,
        credited=costs.credited,
        flat_compensation_waived=waived,
        payment_deadline=consumer_deadline(payment_deadline(as_of, cfg.payment_days), window),
        interest_from=periods[0].start if interest else None,
        interest_waived=window.interest_waived if configured_interest else None,
        fee_waived="cap" if capped.fee < costs.fee else fee_waived,
        costs_capped=capped.cut,
        free_until=window.wait_end,
        announced_damages=announced_damages(settings, level, cur, open_now, window),
    )


def balance_changes(state: InvoiceState) -> list[BalanceChange]:
    """What changed the invoice's open amount, and on which day: its payments (applications
    of a customer's credit included), credit notes, write-offs and their reversals."""
    changes = [BalanceChange(p.date, -p.amount) for p in state.payments]
    for entry in state.ledger_entries:
        sign = 1 if entry.kind == "write_off_reversal" else -1
        changes.append(BalanceChange(entry.date, sign * entry.gross))
    return changes


def _periods_json(amounts: Amounts) -> list[dict[str, str]]:
    return [
        {
            "from": p.start.isoformat(),
            "to": p.end.isoformat(),
            "rate": str(p.rate),
            "amount": str(p.amount),
        }
        for p in amounts.interest_periods
    ]


def _amounts_json(amounts: Amounts) -> dict[str, Any]:
    rate, deadline = amounts.interest_rate, amounts.payment_deadline
    return {
        "open_amount": str(amounts.open_amount),
        "fee": str(amounts.fee),
        "interest": str(amounts.interest),
        "days_overdue": amounts.days_overdue,
        "interest_rate": None if rate is None else str(rate),
        "interest_periods": _periods_json(amounts),
        "interest_basis": amounts.interest_basis,
        "earlier_costs": str(amounts.earlier_costs),
        "flat_compensation": str(amounts.flat_compensation),
        "credited": str(amounts.credited),
        "flat_compensation_waived": amounts.flat_compensation_waived,
        "payment_deadline": None if deadline is None else deadline.isoformat(),
        "interest_from": _iso(amounts.interest_from),
        "interest_waived": amounts.interest_waived,
        "fee_waived": amounts.fee_waived,
        "costs_capped": str(amounts.costs_capped),
        "free_until": _iso(amounts.free_until),
        "announced_damages": (
            None if amounts.announced_damages is None else str(amounts.announced_damages)
        ),
    }


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _amounts_from_json(kept: dict[str, Any]) -> Amounts:
    """The figures :func:`_amounts_json` kept (members a release before them lacks: none)."""
    deadline = kept.get("payment_deadline")
    return Amounts(
        open_amount=Decimal(kept["open_amount"]),
        fee=Decimal(kept["fee"]),
        interest=Decimal(kept["interest"]),
        days_overdue=int(kept["days_overdue"]),
        interest_rate=Decimal(kept["interest_rate"]) if kept.get("interest_rate") else None,
        interest_periods=tuple(
            InterestPeriod(
                dt.date.fromisoformat(p["from"]),
                dt.date.fromisoformat(p["to"]),
                Decimal(p["rate"]),
                Decimal(p["amount"]),
            )
            for p in kept.get("interest_periods") or []
        ),
        interest_basis=kept.get("interest_basis"),
        earlier_costs=Decimal(kept.get("earlier_costs") or 0),
        flat_compensation=Decimal(kept.get("flat_compensation") or 0),
        credited=Decimal(kept.get("credited") or 0),
        flat_compensation_waived=kept.get("flat_compensation_waived"),
        payment_deadline=dt.date.fromisoformat(deadline) if deadline else None,
        interest_from=_day(kept.get("interest_from")),
        interest_waived=kept.get("interest_waived"),
        fee_waived=kept.get("fee_waived"),
        costs_capped=Decimal(kept.get("costs_capped") or 0),
        free_until=_day(kept.get("free_until")),
        announced_damages=(
            Decimal(kept["announced_damages"]) if kept.get("announced_damages") else None
        ),
    )


def _sent_before(uow: UnitOfWork, claim: Claim) -> tuple[Amounts, list[str]] | None:
    """The figures and attachments of an earlier attempt of this notice that may have reached
    the mail server (its journal row is not ``failed``), or None.

    A step that dies after the server accepted the notice leaves the journal at ``sending``;
    the step that takes the job over sends nothing (``uncertain``) and must record the notice
    that went out, not one computed again: a payment in between changed the open amount, and
    the customer holds the first notice. Its figures are kept in the job's payload before
    sending (:func:`_keep_amounts`), its PDF in the store (unfrozen, not rendered again)."""
    kept = claim.payload.get("amounts")
    if not isinstance(kept, dict):
        return None
    key = journal_key(claim.organization_id, claim.id, PURPOSE)  # the notice's delivery key
    row = uow.session.execute(
        select(EmailDelivery.status, EmailDelivery.attachments).where(*key)
    ).first()
    if row is None or row.status == "failed":
        return None
    return _amounts_from_json(kept), [str(a.get("sha256")) for a in row.attachments or []]


def _keep_amounts(uow: UnitOfWork, claim: Claim, amounts: Amounts) -> None:
    """The figures this attempt is about to send, on its job (read by :func:`_sent_before`)."""
    payload = {**claim.payload, "amounts": _amounts_json(amounts)}
    uow.session.execute(
        update(DeliveryJob).where(DeliveryJob.id == claim.id).values(payload=payload)
    )


def notice_kind(level: int) -> str:
    """The stored document of a level's notice (one per invoice and level)."""
    return f"dunning-{level}"


def _notice_document(
    ctx: StepContext,
    claim: Claim,
    state: InvoiceState,
    figures: DunningFigures,
    amounts: Amounts,
    title: str,
    sent: list[str] | None = None,
) -> Document:
    """The notice's own PDF/A-3b (``documents/pdf/dunning.py``), rendered with no transaction
    open and stored like the invoice's documents (the document store: bytes + SHA-256).

    Stored unfrozen: until the email went out, a later attempt (a payment meanwhile, a new
    run after a refused notice) renders it again; :meth:`DunningDelivery.record` freezes it
    in the transaction that records the level, so the stored file is the one that was sent.

    ``sent``: the SHA-256s an earlier attempt that may have reached the server attached; its
    stored notice is that file and is kept as it is."""
    if sent is not None:
        with ctx.uow() as uow:
            kept = ctx.deps.document_store.get(
                uow.session, claim.organization_id, claim.invoice_id, notice_kind(figures.level)
            )
        if kept is not None and kept.sha256 in sent:
            return kept
    view = dunning_view(state, figures)
    pdf = ctx.deps.pdf_renderer.render(state, template="dunning_notice", view=view)
    with ctx.uow() as uow:
        document = ctx.deps.document_store.obtain(
            uow.session,
            org_id=claim.organization_id,
            invoice_id=claim.invoice_id,
            kind=notice_kind(figures.level),
            filename=f"{safe_name(f'{title} {state.number}', state.id)}.pdf",
            media_type="application/pdf",
            frozen=False,
            produce=lambda: pdf,
            now=ctx.now(),
        )
        _keep_amounts(uow, claim, amounts)
        uow.commit()
    return document


def _level_settings(settings: DunningSettings, level: int) -> DunningLevel | None:
    """The level's settings, or None when the settings were replaced by fewer levels since
    its notice was scheduled (a notice that may have reached the mail server is recorded
    all the same)."""
    return settings.levels[level - 1] if level <= len(settings.levels) else None


def _notice_mail(
    ctx: StepContext,
    claim: Claim,
    settings: DunningSettings,
    level: int,
    as_of: dt.date,
) -> tuple[Prepared, Amounts]:
    with ctx.uow() as uow:
        org = get_organization(uow, claim.organization_id)
        inv = get_invoice(uow, org.id, claim.invoice_id, lock=False)
        if level in {n.level for n in notices_of(uow.session, org.id, inv.id)}:
            raise Skip(f"level {level} of invoice {inv.number} was already sent")
        earlier = _sent_before(uow, claim)
        if earlier is None and (inv.status not in OPEN_STATES or open_amount(inv) == 0):
            raise Skip(f"invoice {inv.number} is no longer open: no notice")
        if earlier is None and blocked_on(
            blocks_of(uow.session, org.id), as_of, inv.id, inv.customer_id
        ):
            raise Skip(f"the dunning of invoice {inv.number} was blocked: no notice")
        # the settings as they are now: disabled, or replaced by fewer levels, since the run
        # scheduled this notice (unless an earlier attempt may have reached the mail server)
        if earlier is None and not settings.enabled:
            raise Skip(f"dunning was disabled: no notice of invoice {inv.number}")
        if earlier is None and level > len(settings.levels):
            raise Skip(f"level {level} is no longer configured: no notice of {inv.number}")
        state = invoice_state(inv)
        if earlier is not None:
            amounts = earlier[0]
        else:
            try:
                amounts = _amounts(
                    settings,
                    level,
                    state,
                    as_of,
                    _debtor(uow, inv),
                    _earlier(uow, org.id, inv.id, level),
                    _histories(uow, org.id, [inv])[inv.id],
                    sending_day(as_of, ctx.now(), inv.seller),
                )
            except InterestUnavailable as exc:
                raise Skip(f"invoice {inv.number}: no notice: {exc}") from exc
        currency = inv.currency
        org_profile = subsidiaries.issuer_profile(uow, org, inv.subsidiary_id)
    lang = lang_of(state)
    email = state.buyer.email if state.buyer is not None else None
    if not email:
        raise DomainError(
            "recipient_missing",
            f"{state.number}: the customer has no email address; dun it another way",
            pointer="/as_of",
            hint="update_customer with an email (the invoice keeps its snapshot)",
        )
    cfg = _level_settings(settings, level)
    figures = DunningFigures(
        level=level,
        as_of=as_of,
        days_overdue=amounts.days_overdue,
        open_amount=amounts.open_amount,
        fee=amounts.fee,
        interest=amounts.interest,
        interest_rate=amounts.interest_rate,
        pay_by=amounts.payment_deadline,
        earlier_costs=amounts.earlier_costs,
        flat_compensation=amounts.flat_compensation,
        credited=amounts.credited,
        interest_periods=amounts.interest_periods,
        interest_basis=amounts.interest_basis,
        free_until=amounts.free_until,
        announced_damages=amounts.announced_damages,
        announce_interest=amounts.free_until is not None
        and settings.belgian_consumers.interest_clause
        and any(lv.interest_rate_per_year for lv in settings.levels[level:]),
    )
    sent = earlier[1] if earlier is not None else None
    notice = _notice_document(ctx, claim, state, figures, amounts, level_title(level, lang), sent)
    docs = (
        documents_for(
            ctx,
            claim.organization_id,
            claim.invoice_id,
            attach_xml=False,
            org_default_format=org_profile.get("einvoice_format"),
        ).documents
        if settings.attach_pdf
        else []
    )
    context: dict[str, Any] = mail_context(state, lang)
    lines = claim_lines(figures, state, lang)
    amounts_text = {
        "open_amount": money(amounts.open_amount, currency, lang),
        "fee": money(amounts.fee, currency, lang) if amounts.fee else "",
        "interest": money(amounts.interest, currency, lang) if amounts.interest else "",
        "total_due": money(amounts.total_due, currency, lang),
        "earlier_costs_line": lines.earlier_costs,
        "flat_compensation_line": lines.flat_compensation,
        "credited_line": lines.credited,
        "interest_basis": lines.interest_basis,
        "pay_by": lines.pay_by,
        "payment_deadline": lines.deadline,
        "consumer_note": lines.consumer_note,
    }
    context.update(
        amounts_text,
        level=level,
        level_title=level_title(level, lang),
        days_overdue=amounts.days_overdue,
        attached=bool(docs),
        notice_attached=True,
    )
    own: DunningText | None = next(
        (t for k, t in (cfg.texts if cfg else {}).items() if k == lang), None
    )
    values = {k: str(v) for k, v in context.items() if isinstance(v, str | int)}
    # an own text names {fee} and {interest} as amounts: none is a zero amount, not an empty
    # string (the default template's signal to leave its line out)
    values.update(
        fee=money(amounts.fee, currency, lang),
        interest=money(amounts.interest, currency, lang),
        earlier_fees=money(amounts.earlier_costs, currency, lang),
        flat_compensation=money(amounts.flat_compensation, currency, lang),
    )
    subject = fill(own.subject, values) if own is not None and own.subject else None
    body = fill(own.body, values) if own is not None and own.body else None
    mail = compose_mail(
        ctx.deps,
        org_profile,
        state,
        key=claim.id,
        purpose=PURPOSE,
        to=[email],
        cc=[],
        bcc=list(settings.bcc),
        subject=subject,
        body=body,
        context=context,
        attachments=[notice, *docs],
        now=ctx.now(),
    )
    extra = {"lang": lang, "interest_rate": amounts.interest_rate, "due_date": state.due_date}
    return Prepared(mail, claim.id, [notice, *docs], extra), amounts


@purpose(PURPOSE, scheduled_by=("send_dunning_notices",))
class DunningDelivery:
    """One notice per step; the job id is the notice's delivery id (journal, Message-ID)."""

    def _settings(self, ctx: StepContext, claim: Claim) -> DunningSettings:
        with ctx.uow() as uow:
            return load_settings(uow, claim.organization_id)

    def prepare(self, ctx: StepContext, claim: Claim) -> Prepared:
        settings = self._settings(ctx, claim)
        level = int(claim.payload["level"])
        as_of = dt.date.fromisoformat(str(claim.payload["as_of"]))
        prepared, amounts = _notice_mail(ctx, claim, settings, level, as_of)
        extra = {
            **prepared.extra,
            "settings": settings,
            "level": level,
            "as_of": as_of,
            "amounts": amounts,
        }
        return Prepared(prepared.mail, prepared.delivery_key, prepared.documents, extra)

    def record(
        self,
        ctx: StepContext,
        uow: UnitOfWork,
        claim: Claim,
        inv: Invoice,
        prepared: Prepared,
        delivered: Delivered,
    ) -> list[Event]:
        settings: DunningSettings = prepared.extra["settings"]
        level: int = prepared.extra["level"]
        as_of: dt.date = prepared.extra["as_of"]
        amounts: Amounts = prepared.extra["amounts"]
        lang: str = prepared.extra["lang"]
        now = ctx.now()
        uow.session.add(
            DunningNotice(
                organization_id=inv.organization_id,
                invoice_id=inv.id,
                level=level,
                command_id=claim.command_id,
                as_of=as_of,
                sent_at=now,
                days_overdue=amounts.days_overdue,
                currency=inv.currency,
                open_amount=amounts.open_amount,
                fee=amounts.fee,
                flat_compensation=amounts.flat_compensation,
                credited=amounts.credited,
                interest=amounts.interest,
                message_id=delivered.message_id,
                delivery_status=delivered.status,
            )
        )
        # the invoice shows its level (InvoiceState.dunning_level; the event below carries it)
        if level >= inv.dunning_level:
            inv.dunning_level, inv.dunned_on = level, as_of
        # the notice that went out is kept as it was sent (the invoice's documents are frozen
        # already); a level is sent once, so its notice never changes again
        uow.session.execute(
            update(StoredDocument)
            .where(
                StoredDocument.organization_id == inv.organization_id,
                StoredDocument.invoice_id == inv.id,
                StoredDocument.kind == notice_kind(level),
            )
            .values(frozen=True)
        )
        uow.session.flush()
        cur = inv.currency
        cfg = _level_settings(settings, level)
        fee_waived = amounts.fee_waived or (
            "currency" if cur != settings.currency and cfg and cfg.fee else None
        )
        return [
            invoice_event(
                "dunning.notice_sent",
                inv,
                now,
                dunning={
                    "level": level,
                    "levels": len(settings.levels),
                    "title": level_title(level, lang),
                    "as_of": as_of.isoformat(),
                    "days_overdue": amounts.days_overdue,
                    "currency": cur,
                    "open_amount": format_plain(amounts.open_amount, cur),
                    "fee": format_plain(amounts.fee, cur),
                    "interest": format_plain(amounts.interest, cur),
                    "interest_rate": (
                        str(amounts.interest_rate) if amounts.interest_rate is not None else None
                    ),
                    "interest_from": _interest_from(amounts),
                    "interest_waived": amounts.interest_waived,
                    "interest_basis": amounts.interest_basis,
                    "interest_periods": [
                        {
                            "from": p.start.isoformat(),
                            "to": p.end.isoformat(),
                            "rate": str(p.rate),
                            "amount": format_plain(p.amount, cur),
                        }
                        for p in amounts.interest_periods
                    ],
                    "earlier_costs": format_plain(amounts.earlier_costs, cur),
                    "flat_compensation": format_plain(amounts.flat_compensation, cur),
                    "credited_to_compensation": format_plain(amounts.credited, cur),
                    "flat_compensation_waived": amounts.flat_compensation_waived,
                    "payment_deadline": (
                        amounts.payment_deadline.isoformat() if amounts.payment_deadline else None
                    ),
                    "total_due": format_plain(amounts.total_due, cur),
                    "fee_waived": fee_waived,
                    "costs_capped": format_plain(amounts.costs_capped, cur),
                    "free_until": _iso(amounts.free_until),
                    "announced_damages": (
                        None
                        if amounts.announced_damages is None
                        else format_plain(amounts.announced_damages, cur)
                    ),
                },
                message_id=delivered.message_id,
                delivery_status=delivered.status,
                recipients=delivered.recipients,
                documents=[d.ref() for d in prepared.documents],
                delivery_id=str(claim.id),
            )
        ]


def _interest_from(amounts: Amounts) -> str | None:
    """The first day of the notice's interest (the first day of default): its first
    period's."""
    return amounts.interest_periods[0].start.isoformat() if amounts.interest_periods else None


@handles(SendDunningNotices)
def send_dunning_notices(cmd: SendDunningNotices, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Record one delivery job per due notice (at most ``max_notices``); send nothing here.

    An invoice whose customer has no email address is skipped and reported in a partial
    ``command.rejected``; an invoice with a notice still on its way is not dunned again."""
    org = get_organization(uow, cmd.organization_id)
    as_of = cmd.payload.as_of
    check_run_day(as_of, today_of(org, deps))
    settings = load_settings(uow, org.id)
    if not settings.enabled:
        return []
    candidates = _candidates(uow, org.id, as_of)
    ids = [c.invoice_id for c in candidates]
    plan = plan_notices(
        settings,
        candidates,
        _last_notices(uow, org.id, ids),
        pending_invoices(uow, org.id, PURPOSE, ids),
        as_of,
        cmd.payload.max_notices,
        blocks_of(uow.session, org.id),
    )
    failures = PartialFailures(cmd)
    for cand in plan.without_email:
        failures.add(_no_email(cand), cand.invoice_id, "/payload/as_of")
    for cand, reason in plan.refused:
        failures.add(_refused(cand, reason), cand.invoice_id, "/payload/as_of")
    for cand, level in plan.notices:
        _schedule_notice(uow, cmd, cand.invoice_id, level, deps.now())
    return failures.events()
