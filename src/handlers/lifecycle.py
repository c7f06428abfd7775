"""Finalize, send, void, credit notes, change of recipient, batches, overdue."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

from invoicing.domain import finalize as finalize_rules
from invoicing.domain.calendar import noon, zone_of
from invoicing.domain.consumer_dunning import carries_default_note
from invoicing.domain.corrections import correction_date
from invoicing.domain.dunning import debtor_of
from invoicing.domain.errors import DomainError, InvalidState
from invoicing.domain.ledger import GroupAmount, Key, Movement, MovementKind, key_of
from invoicing.domain.numbering import Series
from invoicing.domain.states import (
    OPEN_STATES,
    check_creditable,
    check_finalizable,
    check_open_to_void,
    check_recipient_changeable,
    check_sendable,
    check_voidable,
    sent_status,
    settled_status,
    takes_settlement,
)
from invoicing.domain.tax import jurisdiction
from invoicing.handlers import aggregates, billing, numbering, payment_reference, subsidiaries
from invoicing.handlers.drafting import recalculate
from invoicing.handlers.invoices import (
    add_lines,
    bank_account,
    copy_lines,
    derived_id,
    legal_context,
    new_draft,
    purge,
    rate_rules,
    replacement_draft,
    restore,
    tax_day,
    trash,
)
from invoicing.handlers.ledger_io import document_groups, ledger_of, store
from invoicing.handlers.registry import (
    Deps,
    Event,
    LateEvent,
    PartialFailures,
    handles,
    invoice_event,
)
from invoicing.handlers.repository import (
    customer_party,
    customer_row,
    get_customer,
    get_invoice,
    get_organization,
    no_customer,
    organization_row,
    profile,
    seller_party,
    today_of,
)
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import open_amount, owed
from invoicing.models import Invoice, Organization, Payment
from invoicing.models.records import (
    CustomerRecord,
    InvoiceDraft,
    InvoiceRecord,
    OrganizationRecord,
)
from invoicing.schemas.commands import (
    Batch,
    ChangeRecipient,
    CheckOverdue,
    FinalizeInvoice,
    IssueCreditNote,
    LineIn,
    MarkSent,
    VoidInvoice,
)
from invoicing.texts import text
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

SERIES = {"invoice": Series.INVOICE, "credit_note": Series.CREDIT_NOTE, "quote": Series.QUOTE}


def _document(inv: InvoiceRecord) -> finalize_rules.Document:
    return finalize_rules.Document(
        kind=inv.kind,
        currency=inv.currency,
        line_count=len(inv.lines),
        has_customer=inv.customer_id is not None,
        normalized_currency=inv.normalized_currency,
        exchange_rate=inv.exchange_rate,
        standalone=inv.kind == "credit_note" and inv.credited_invoice_id is None,
    )


def prepare_finalize(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: InvoiceDraft,
    issue_date: dt.date | None = None,
    *,
    customer: CustomerRecord | None = None,
) -> dt.date:
    """Everything of a finalize except the number: checks, dates, totals, snapshots, status.

    Returns the issue date. :func:`finalize` takes the number last, so the number series row
    is locked only for the allocation at the very end of the transaction; a send of a draft
    runs this alone (rolled back) to know the would-be document before any number is taken.
    ``customer``: the invoice's customer when the caller read it already (else read here).
    """
    check_finalizable(inv.status, inv.kind, inv.number, in_trash=inv.deleted_at is not None)
    org = subsidiaries.entity(uow, org, inv.subsidiary_id, pointer="/invoice_id").org  # issuer
    seller = profile(org)
    buyer: dict[str, object] | None = None
    if inv.customer_id is not None:
        customer = customer or customer_row(uow, org.id, inv.customer_id)
        if customer is None:
            raise no_customer(inv.customer_id, pointer="/invoice_id")
        buyer = customer_party(customer)
        if inv.vat_number:
            buyer["vat_id"] = inv.vat_number  # this invoice's VAT number (seed 001)
    lines = sorted(inv.lines, key=lambda x: x.position)
    categories = [line.tax_category for line in lines]
    finalize_rules.check_complete(_document(inv), seller, buyer, categories)
    when = finalize_rules.dates(
        requested=issue_date,
        issue_date=inv.issue_date,
        today=today_of(org, deps),
        payment_terms_days=inv.payment_terms_days,
        default_terms_days=int(seller.get("default_payment_terms_days", 14)),
        due_date=inv.due_date,
        delivery_date=inv.delivery_date,
        has_service_period=inv.service_period_start is not None,
        is_quote=inv.kind == "quote",
    )
    issued = inv.issue_date = when.issue_date
    inv.payment_terms_days, inv.due_date = when.payment_terms_days, when.due_date
    inv.delivery_date = when.delivery_date
    inv.delivery_date_defaulted = inv.delivery_date_defaulted or when.delivery_date_defaulted
    if inv.exchange_rate is not None and inv.exchange_rate_date is None:
        inv.exchange_rate_date = issued  # the rate is frozen with the content, dated
    finalize_rules.check_rates_on(
        rate_rules(org), [(c.tax_category, c.tax_rate) for c in lines], tax_day(inv, issued)
    )
    # the buyer snapshot first: the notes depend on the buyer's country (a reverse charge to a
    # business in another Member State cites the cross-border provision, LegalContext.note_key)
    inv.buyer = buyer or {}
    recalculate(inv, legal=legal_context(org))
    allow_negative = bool(seller.get("allow_negative_totals"))
    finalize_rules.check_total(
        inv.kind, inv.gross_total, inv.currency, allow_negative=allow_negative
    )
    inv.series = SERIES[inv.kind].value
    seller_snapshot = seller_party(org)
    if inv.bank_account_id:  # one of the organization's accounts (seed 002 bank_account)
        account = bank_account(org, inv.bank_account_id, pointer="/invoice_id")
        seller_snapshot.update({k: account.get(k) for k in BANK_FIELDS})
    inv.seller = seller_snapshot
    # the § 286 Abs. 3 BGB note to a consumer, decided once with the snapshots: a later
    # customer_type does not change what the invoice said (the dunning of consumers reads it)
    customer_type = ((customer.data if customer else None) or {}).get("customer_type")
    vat_id = (buyer or {}).get("vat_id")
    debtor = debtor_of(customer_type, str(vat_id) if vat_id else None)
    country = (seller_snapshot.get("address") or {}).get("country_code")
    inv.default_note = carries_default_note(inv.kind, jurisdiction(country), debtor)
    inv.status, inv.finalized_at = "finalized", deps.now()
    return issued


def finalize(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: InvoiceDraft,
    issue_date: dt.date | None = None,
    *,
    customer: CustomerRecord | None = None,
    check_used: bool = True,
) -> list[Event]:
    """:func:`prepare_finalize`, then :func:`take_number` (``check_used`` there)."""
    issued = prepare_finalize(uow, deps, org, inv, issue_date, customer=customer)
    return take_number(uow, deps, org, inv, issued, check_used=check_used)


def take_number(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: InvoiceDraft,
    issued: dt.date,
    *,
    check_used: bool = True,
) -> list[Event]:
    """The end of a finalize after :func:`prepare_finalize`: the number, then the event.
    ``check_used=False``: the caller writes the number at once and turns a clash with a manual
    number into ``number_taken`` itself (``numbering.is_number_clash``)."""
    if inv.number is None:  # last: the series row stays locked only from here to the commit
        issuer, series = subsidiaries.entity(uow, org, inv.subsidiary_id), SERIES[inv.kind]
        number, inv.sequence_number = numbering.allocate(
            uow, issuer.org, series, issued, scope=issuer.scope(series), check_used=check_used
        )
        numbering.set_number(inv, number)
        inv.finalized_at = deps.now()  # after the wait for the series: number order = time order
    payment_reference.assign(uow, inv)  # BT-83 from the number: a Belgian OGM, unique
    return [invoice_event("invoice.finalized", inv, deps.now())]


def save_numbered(uow: UnitOfWork, draft: aggregates.InvoiceData) -> None:
    """The finalized draft's one UPDATE; its unique constraint on the organization's numbers
    refuses a number that a manual number took (``number_taken``). At the end of a batch
    (``numbers_at_end``) the UPDATE waits for the end of ``UnitOfWork.finish``, where the
    batch's UPDATEs go in one round trip; a clash there runs the batch again
    (``invoicing.pipeline.batch``), down to this command alone, where it is refused as here."""
    if uow.numbers_at_end:
        uow.write_at_end(partial(aggregates.save, uow, draft))
        return
    try:
        aggregates.save(uow, draft)
    except IntegrityError as exc:
        if not numbering.is_number_clash(exc):
            raise
        raise numbering.number_taken(draft.series or "invoice", draft.number) from None


def _read_drafts(uow: UnitOfWork, commands: list[FinalizeInvoice]) -> None:
    aggregates.read_drafts(uow, [(c.organization_id, c.payload.invoice_id) for c in commands])


@handles(FinalizeInvoice, number_at_end=True, prefetch=_read_drafts)
def finalize_invoice(cmd: FinalizeInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org, _ = organization_row(uow, cmd.organization_id)
    draft = aggregates.load_draft(uow, org.id, cmd.payload.invoice_id)
    if draft is None:  # not a draft, or the session holds it or has pending changes: the ORM
        inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
        return finalize(uow, deps, org, inv, cmd.payload.issue_date)
    # the same rules on a plain draft (no ORM object), its changed columns in one UPDATE; the
    # unique number constraint of that UPDATE checks the new number (one statement less under
    # the series lock than a look-up first)
    issued = prepare_finalize(
        uow, deps, org, draft, cmd.payload.issue_date, customer=draft.customer_row
    )

    def number_and_save() -> Event:
        events = take_number(uow, deps, org, draft, issued, check_used=False)
        save_numbered(uow, draft)
        return events[0]

    if not uow.numbers_at_end:
        return [number_and_save()]
    return [_numbered_at_end(uow, org, draft, issued, number_and_save)]


def _numbered_at_end(
    uow: UnitOfWork,
    org: OrganizationRecord,
    draft: aggregates.InvoiceData,
    issued: dt.date,
    complete: Callable[[], Event],
) -> LateEvent:
    """A finalize in a batch takes its number after all the batch's commands ran, so the
    series row is locked from there to the commit only (invoicing.pipeline.batch); sorted by
    the row's key, then the date: every transaction locks rows in one order, and dates stay in
    order on each row. Its ``claim`` lets the batch take its numbers in one statement per
    counter row (``numbering.reserve``)."""
    series, issuer = SERIES[draft.kind], subsidiaries.entity(uow, org, draft.subsidiary_id)
    scope = issuer.scope(series)
    taking = draft.number is None  # as take_number: a number given already stays
    return LateEvent(
        "invoice.finalized",
        str(draft.id),
        {},
        complete=complete,
        lock_order=(str(org.id), series.value, scope, issued.isoformat()),
        claim=numbering.NumberClaim(issuer.org, series, issued, scope) if taking else None,
    )


def mark_as_sent(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: Invoice,
    sent_on: dt.date | None = None,
    **extra: object,
) -> list[Event]:
    events: list[Event] = []
    if inv.status == "draft":
        events += finalize(uow, deps, org, inv)
    check_sendable(inv.status)
    first = inv.sent_at is None
    # a day without a time: its noon where the seller works (calendar.noon)
    sent_at = deps.now() if sent_on is None else noon(sent_on, zone_of(inv.seller or {}))
    inv.sent_at = inv.sent_at or sent_at
    inv.status = sent_status(inv.status)
    events.append(invoice_event("invoice.sent", inv, deps.now(), first_delivery=first, **extra))
    return events


@handles(MarkSent, takes_number=True)
def mark_sent(cmd: MarkSent, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
    return mark_as_sent(uow, deps, org, inv, cmd.payload.sent_on, channel="other")


# ----------------------------------------------------------------------------- credit notes


def _group_lines(groups: list[GroupAmount], label: str) -> list[LineIn]:
    """Net lines, one per tax group, that credit exactly ``groups`` (tax fixed separately)."""
    return [
        LineIn(
            description=f"{label} ({g.rate.normalize():f} %)"[:185],
            quantity=Decimal(1),
            unit="piece",
            unit_price=g.net,
            tax_rate=g.rate,
            tax_category=g.category,
        )
        for g in groups
        if g.net
    ]


def _line_pointers(doc: Invoice) -> dict[Key, str]:
    """The first credit line of each tax group, as a pointer into the command's lines."""
    pointers: dict[Key, str] = {}
    for i, line in enumerate(sorted(doc.lines, key=lambda x: x.position)):
        pointers.setdefault(key_of(line.tax_category, line.tax_rate), f"/lines/{i}")
    return pointers


#: the seller's fields that one of the organization's bank accounts gives a document
BANK_FIELDS = ("iban", "bic", "bank_name")
_COPIED = (
    "subsidiary_id",
    "currency",
    "locale",
    "customer_id",
    "case_id",
    "project_reference",
    "purchase_order_number",
    "exchange_rate",
    "exchange_rate_date",
    "normalized_currency",
    "delivery_date",
    "delivery_date_defaulted",
    "service_period_start",
    "service_period_end",
    "payment_terms_days",
    "bank_account_id",
    # the invoice's per-invoice texts: its credit note goes to the same recipient block (and
    # the same buyer snapshot with its VAT number) under the same invoicing-party block
    "recipient_text",
    "invoicing_party_text",
    "vat_number",
)


def credit_seller(org: OrganizationRecord, inv: Invoice) -> dict[str, Any]:
    """A credit note's seller: the issuer as it is now, on the bank account its invoice named
    when the invoice named one of the issuer's accounts (taken from the invoice's snapshot: an
    account removed from the profile since still is the one the invoice was paid to)."""
    seller = seller_party(org)
    if inv.bank_account_id:
        snapshot = inv.seller or {}
        seller.update({k: snapshot.get(k) for k in BANK_FIELDS})
    return seller


def _check_creditable(
    uow: UnitOfWork, org: OrganizationRecord, inv: Invoice, cn_id: uuid.UUID
) -> None:
    check_creditable(inv.kind, inv.status)
    if uow.session.get(Invoice, (org.id, cn_id)) is not None:
        raise InvalidState(
            "invoice_exists", f"document {cn_id} already exists", pointer="/credit_note_id"
        )


def issue_credit(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: Invoice,
    *,
    credit_note_id: uuid.UUID,
    command_id: uuid.UUID,
    reason: str | None,
    lines: list[LineIn] | None,
    issue_date: dt.date | None,
    open_only: bool = False,
    then_void: bool = False,
) -> tuple[Invoice, list[Event]]:
    """Create and finalize a credit note against ``inv`` and record it in the invoice's ledger.

    ``issue_date``: not before the invoice's; none: today on the issuer's calendar, or the
    invoice's issue date when later (``domain.corrections``).
    ``lines``: a partial credit, checked per tax group against what remains. Without lines the
    credit note takes exactly what remains per group (``open_only``: what is open, i.e. the
    remainder less the payments' share, for void of a partly paid invoice); the first such
    credit of an untouched invoice repeats its lines, so it mirrors the invoice.
    """
    _check_creditable(uow, org, inv, credit_note_id)
    issuer = subsidiaries.entity(uow, org, inv.subsidiary_id, pointer="/invoice_id")
    org = issuer.org  # the credit note comes from whoever issued the invoice
    issued = correction_date(issue_date, inv.issue_date, today_of(org, deps))
    ledger = ledger_of(inv)
    cn = new_draft(org, credit_note_id, "credit_note", deps.now())
    for name in _COPIED:
        setattr(cn, name, getattr(inv, name))
    cn.buyer = inv.buyer  # before the notes are chosen: they depend on the buyer's country
    label = f"{text('document.credit_line', inv.locale)} {inv.number}"
    plan = ledger.open_groups() if open_only else ledger.remainder()
    mirrored = lines is None and not ledger.movements and plan == list(ledger.invoiced)
    if lines is not None:
        cn.calculate_from_net, credit_lines = inv.calculate_from_net, lines
    elif mirrored:
        cn.calculate_from_net, cn.discount = inv.calculate_from_net, inv.discount
        credit_lines = copy_lines(inv)  # full reversal: the same lines, the same tax
    else:
        cn.calculate_from_net, credit_lines = True, _group_lines(plan, label)
    if not credit_lines:
        raise InvalidState(
            "nothing_to_credit", "nothing is left to credit on this invoice", pointer="/invoice_id"
        )
    cn.credited_invoice_id = inv.id  # before its lines: they are checked by the ledger
    uow.session.add(cn)
    add_lines(uow, deps, org, cn, credit_lines, command_id, "/lines")
    for line in cn.lines:
        line.billable_entry_ids = []
    legal = legal_context(org)
    recalculate(cn, legal=legal)
    pointers = _line_pointers(cn) if lines is not None else {}
    # a planned credit (the rest, or what is open) takes the plan's VAT; lines take their own
    proposed = plan if credit_lines is not lines and not mirrored else document_groups(cn)
    taken = ledger.check_movement(
        MovementKind.CREDIT,
        proposed,
        pointers,
        default_pointer="/invoice_id",
        fit=credit_lines is lines,
        gross=credit_lines is lines and not cn.calculate_from_net,
    )
    if list(taken) != document_groups(cn):
        recalculate(cn, legal=legal, group_taxes={g.key: g.tax for g in taken})
    cn.issue_date, cn.due_date = issued, issued
    uow.session.flush()  # the credit note and its lines exist as a draft before they freeze
    number, cn.sequence_number = numbering.allocate(
        uow, org, Series.CREDIT_NOTE, issued, scope=issuer.scope(Series.CREDIT_NOTE)
    )
    numbering.set_number(cn, number)
    cn.series = Series.CREDIT_NOTE.value
    cn.buyer, cn.seller = inv.buyer, credit_seller(org, inv)
    payment_reference.assign(uow, cn)  # the one rule (a credit note: none, no statement)
    cn.credited_invoice_id, cn.credited_invoice_number = inv.id, inv.number
    cn.credited_invoice_issue_date, cn.credit_reason = inv.issue_date, reason
    cn.status, cn.finalized_at = "finalized", deps.now()
    movement = Movement(MovementKind.CREDIT, issued, taken, str(cn.id), cn.number, reason)
    ledger = ledger.with_movement(movement)
    store(inv, ledger)
    inv.credit_note_ids = [*(inv.credit_note_ids or []), str(cn.id)]
    events = [invoice_event("credit_note.issued", cn, deps.now(), credited_invoice_id=str(inv.id))]
    if then_void or ledger.remaining_gross <= 0:
        events += void(uow, deps, inv)
    else:
        events += settled_events("invoice.updated", inv, deps, credit_note_id=str(cn.id))
    return cn, events


def void(uow: UnitOfWork, deps: Deps, inv: Invoice) -> list[Event]:
    inv.status, inv.voided_at, inv.overdue = "void", deps.now(), False
    events = billing.release(uow, inv)
    return [invoice_event("invoice.voided", inv, deps.now()), *events]


def settle(inv: Invoice, deps: Deps) -> bool:
    """Recompute the payment status from what is owed and paid; True if it became paid.

    ``paid_on`` is the date of the payment that settled the invoice (payments in date order),
    and ``paid_at`` that day's noon where the seller works (``calendar.noon``, as ``mark_sent``
    takes a day), never the time the command was processed. It was that day at 00:00 UTC
    before session 34: 19:00 the day before in New York.
    """
    if not takes_settlement(inv.kind, inv.status):
        return False
    was_paid = inv.status == "paid"
    owing = owed(inv)
    inv.status = settled_status(owing, inv.paid_amount, sent=inv.sent_at is not None)
    if inv.status == "paid":
        inv.overdue = False
        inv.paid_on = settling_date(inv.payments, owing)
        inv.paid_at = noon(inv.paid_on, zone_of(inv.seller or {}))
    else:
        inv.paid_at, inv.paid_on = None, None
        if owing <= inv.paid_amount:  # nothing open (written off in full): not overdue
            inv.overdue = False
    return inv.status == "paid" and not was_paid


def settling_date(payments: list[Payment], owed: Decimal) -> dt.date:
    """The date of the payment with which the running total first covers ``owed``."""
    ordered = sorted(payments, key=lambda p: (p.date, p.recorded_at))
    total = Decimal(0)
    for p in ordered:
        total += p.amount
        if total >= owed:
            return p.date
    return ordered[-1].date


def settled_events(event_type: str, inv: Invoice, deps: Deps, **extra: object) -> list[Event]:
    """Settle, then the change's own event and ``invoice.paid`` when the invoice became paid."""
    became_paid = settle(inv, deps)
    events = [invoice_event(event_type, inv, deps.now(), **extra)]
    if became_paid:
        events.append(invoice_event("invoice.paid", inv, deps.now()))
    return events


@handles(IssueCreditNote, takes_number=True)
def issue_credit_note(cmd: IssueCreditNote, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
    cn_id = cmd.payload.credit_note_id or derived_id(cmd.command_id, "credit_note")
    lines: list[LineIn] | None = list(cmd.payload.lines) if cmd.payload.lines is not None else None
    _, events = issue_credit(
        uow,
        deps,
        org,
        inv,
        credit_note_id=cn_id,
        command_id=cmd.command_id,
        reason=cmd.payload.reason,
        lines=lines,
        issue_date=cmd.payload.issue_date,
    )
    return events


def void_document(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: Invoice,
    command_id: uuid.UUID,
    credit_note_id: uuid.UUID | None,
    reason: str | None,
) -> list[Event]:
    check_voidable(inv.status, inv.number)
    if inv.kind == "quote":
        return void(uow, deps, inv)
    check_open_to_void(inv.number, open_amount(inv))
    cn_id = credit_note_id or derived_id(command_id, f"void:{inv.id}")
    _, events = issue_credit(
        uow,
        deps,
        org,
        inv,
        credit_note_id=cn_id,
        command_id=command_id,
        reason=reason,
        lines=None,
        issue_date=None,
        open_only=True,
        then_void=True,
    )
    return events


@handles(VoidInvoice, takes_number=True)
def void_invoice(cmd: VoidInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
    return void_document(
        uow, deps, org, inv, cmd.command_id, cmd.payload.credit_note_id, cmd.payload.reason
    )


@handles(ChangeRecipient, takes_number=True)
def change_recipient(cmd: ChangeRecipient, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, org = cmd.payload, get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, p.invoice_id)
    check_recipient_changeable(inv.status, inv.paid_amount, inv.credited_amount)
    get_customer(uow, org.id, p.customer_id)
    _, events = issue_credit(
        uow,
        deps,
        org,
        inv,
        credit_note_id=p.credit_note_id or derived_id(cmd.command_id, "credit_note"),
        command_id=cmd.command_id,
        reason=text("document.change_recipient_reason", inv.locale),  # the document's language
        lines=None,
        issue_date=None,
        then_void=True,
    )
    new = replacement_draft(uow, deps, org, inv, p.new_invoice_id, cmd.command_id, p.customer_id)
    new.replaces_invoice_id = inv.id
    inv.replaced_by_invoice_id = new.id
    carried = carry_billing(uow, deps, inv, new)
    # the voided invoice's last event must carry the link
    events.append(invoice_event("invoice.updated", inv, deps.now()))
    events.append(
        invoice_event("invoice.created", new, deps.now(), replaces_invoice_id=str(inv.id))
    )
    return [*events, *carried]  # the entries billed by the replacement after its creation


def carry_billing(uow: UnitOfWork, deps: Deps, voided: Invoice, new: Invoice) -> list[Event]:
    """The replacement of a change of recipient bills what the voided original billed: each
    line keeps its entries (released by the void a moment before, claimed again here) and its
    budget and service (a closed budget too: it is the same work, counted once), and the
    invoice its invoicing method. Without this the entries became billable again while the
    replacement charged them, and the budget got back a share the replacement still bills."""
    new.invoicing_method = voided.invoicing_method
    old_lines = sorted(voided.lines, key=lambda line: line.position)
    events: list[Event] = []
    for before, after in zip(old_lines, sorted(new.lines, key=lambda ln: ln.position), strict=True):
        after.budget_id, after.service_id = before.budget_id, before.service_id
        after.billable_entry_ids = list(before.billable_entry_ids or [])
        events += billing.claim(uow, new, after, f"/lines/{after.position - 1}", deps)
    return events


# ----------------------------------------------------------------------------- batch, overdue

BatchAction = Callable[[UnitOfWork, Deps, Organization, Invoice, uuid.UUID], list[Event]]
BATCH_ACTIONS: dict[str, BatchAction] = {
    "delete": lambda uow, deps, org, inv, cid: trash(uow, deps, inv),
    "finalize": lambda uow, deps, org, inv, cid: finalize(uow, deps, org, inv),
    "mark_sent": lambda uow, deps, org, inv, cid: mark_as_sent(
        uow, deps, org, inv, channel="other"
    ),
    "void": lambda uow, deps, org, inv, cid: void_document(
        uow, deps, org, inv, cid, derived_id(cid, f"void:{inv.id}"), None
    ),
    "restore": lambda uow, deps, org, inv, cid: restore(uow, deps, inv),
    "purge": lambda uow, deps, org, inv, cid: purge(uow, deps, inv),
}
#: batch actions on documents in the trash
TRASH_ACTIONS = ("restore", "purge")


@handles(Batch, takes_number=True)
def batch(cmd: Batch, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Each id in its own savepoint: one failure rolls back that id only."""
    org = get_organization(uow, cmd.organization_id)
    action = BATCH_ACTIONS[cmd.payload.action]
    events: list[Event] = []
    failures = PartialFailures(cmd)
    for i, invoice_id in enumerate(cmd.payload.invoice_ids):
        savepoint = uow.session.begin_nested()
        try:
            inv = get_invoice(
                uow, org.id, invoice_id, include_deleted=cmd.payload.action in TRASH_ACTIONS
            )
            item_events = action(uow, deps, org, inv, cmd.command_id)
            savepoint.commit()
            events += item_events
        except DomainError as exc:
            savepoint.rollback()
            failures.add(exc, invoice_id, f"/payload/invoice_ids/{i}")
    return events + failures.events()


@handles(CheckOverdue)
def check_overdue(cmd: CheckOverdue, uow: UnitOfWork, deps: Deps) -> list[Event]:
    stmt = (
        select(Invoice)
        .where(
            Invoice.organization_id == cmd.organization_id,
            Invoice.kind == "invoice",
            Invoice.status.in_(OPEN_STATES),
            Invoice.overdue.is_(False),
            Invoice.due_date < cmd.payload.as_of,
            Invoice.deleted_at.is_(None),
        )
        .order_by(Invoice.due_date, Invoice.number)
        .with_for_update()
    )
    events: list[Event] = []
    for inv in uow.session.execute(stmt).scalars():
        if open_amount(inv) == 0:  # written off in full
            continue
        inv.overdue = True
        events.append(
            invoice_event(
                "invoice.overdue",
                inv,
                deps.now(),
                days_overdue=(cmd.payload.as_of - inv.due_date).days if inv.due_date else None,
            )
        )
    return events
