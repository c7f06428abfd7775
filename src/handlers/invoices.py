"""Drafts: create, update, lines, trash, duplicate. Only drafts change."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from invoicing.domain import billing as billing_rules
from invoicing.domain import finalize as finalize_rules
from invoicing.domain.budgets import ACTUALS
from invoicing.domain.calc import check_discount_units
from invoicing.domain.errors import Conflict, DomainError, InvalidState, NotFound
from invoicing.domain.rates import RateRules, extra_periods, tax_point
from invoicing.domain.states import check_editable
from invoicing.domain.tax import LegalContext, TaxCategory, validate_vat_id
from invoicing.handlers import aggregates, billing, budgets, subsidiaries
from invoicing.handlers.aggregates import LineData
from invoicing.handlers.drafting import L, build_line, discount_from, discount_json, recalculate
from invoicing.handlers.numbering import check_manual_number, set_number
from invoicing.handlers.registry import Deps, Event, handles, invoice_event
from invoicing.handlers.repository import (
    default_rate,
    get_customer,
    get_invoice,
    get_organization,
    organization_and_new_id,
    profile,
    read_creates,
    today_of,
)
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Invoice, InvoiceLine
from invoicing.models.dunning import DunningBlock
from invoicing.models.records import (
    CustomerRecord,
    EditableInvoice,
    InvoiceRecord,
    OrganizationRecord,
)
from invoicing.schemas.commands import (
    AddLine,
    BudgetSelection,
    CreateInvoice,
    DeleteInvoice,
    DuplicateInvoice,
    InvoiceBillableEntries,
    LineIn,
    PurgeInvoice,
    RemoveLine,
    RestoreInvoice,
    UpdateInvoice,
)
from sqlalchemy import bindparam, delete, select


def derived_id(command_id: uuid.UUID, name: str) -> uuid.UUID:
    """Deterministic ids for objects a command creates without a client-chosen id."""
    return uuid.uuid5(command_id, name)


def require_draft(inv: Invoice, action: str, pointer: str = "/invoice_id") -> None:
    check_editable(
        inv.status,
        inv.kind,
        str(inv.number or inv.id),
        frozen=inv.is_frozen,
        action=action,
        pointer=pointer,
    )


def small_business_country(org: OrganizationRecord) -> str | None:
    p = profile(org)
    if not p.get("small_business"):
        return None
    return str((p.get("address") or {}).get("country_code") or "DE")


def rate_rules(org: OrganizationRecord) -> RateRules:
    """The VAT rates the organization may charge: its country's table plus its additions."""
    p = profile(org)
    country = (p.get("address") or {}).get("country_code")
    return RateRules(country, extra_periods(p.get("extra_tax_rates") or []))


def tax_day(inv: InvoiceRecord, today: dt.date) -> dt.date:
    return tax_point(inv.delivery_date, inv.service_period_end, inv.issue_date, today)


def legal_context(org: OrganizationRecord) -> LegalContext:
    """What chooses the legal notes: the seller's country and scheme, the own ``tax_notes``."""
    p = profile(org)
    country = (p.get("address") or {}).get("country_code")
    return LegalContext(
        seller_country=str(country) if country else None,
        small_business=bool(p.get("small_business")),
        tax_notes=dict(p.get("tax_notes") or {}),
    )


def draft_buyer_country(
    uow: UnitOfWork, inv: EditableInvoice | Invoice, customer: CustomerRecord | None = None
) -> str | None:
    """The country of a draft's customer (``customer`` when already read): the legal notes
    depend on it before the buyer snapshot exists (``drafting.recalculate``)."""
    if inv.customer_id is None or inv.buyer:
        return None
    if customer is None or customer.id != inv.customer_id:
        customer = get_customer(uow, inv.organization_id, inv.customer_id)
    address = customer.data.get("address") or {}
    country = address.get("country_code") if isinstance(address, dict) else None
    return str(country) if country else None


def add_lines(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: Invoice,
    lines: list[LineIn],
    command_id: uuid.UUID,
    pointer: str,
    sent: Sequence[str] | None = None,
) -> list[Event]:
    """Append validated lines (and bill their entries); returns billable_entry events.

    The rate rules are the issuer's: the subsidiary's when the invoice names one. ``sent``:
    the entry ids the lines were made of, as the command named them (errors point there)."""
    return append_lines(
        uow,
        deps,
        org,
        inv,
        lines,
        command_id,
        pointer,
        new=InvoiceLine,
        append=inv.lines.append,
        sent=sent,
    )


def append_lines(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: InvoiceRecord,
    lines: list[LineIn],
    command_id: uuid.UUID,
    pointer: str,
    *,
    new: Callable[..., L],
    append: Callable[[L], None],
    sent: Sequence[str] | None = None,
) -> list[Event]:
    """:func:`add_lines` for an ORM ``Invoice`` (``new=InvoiceLine``, ``append`` its
    ``lines.append``) or a plain ``aggregates.InvoiceData`` (``LineData``)."""
    try:
        return _append_lines(uow, deps, org, inv, lines, command_id, pointer, new, append)
    except DomainError as exc:
        if sent is None:
            raise
        raise at_entries(exc, pointer, lines, sent) from exc


def at_entries(
    exc: DomainError, prefix: str, lines: list[LineIn], sent: Sequence[str]
) -> DomainError:
    """The errors of lines made of billable entries at the entries as sent
    (``domain.billing.as_sent``)."""
    made_of = [line.billable_entry_ids for line in lines]
    moved = [
        replace(e, pointer=billing_rules.as_sent(e.pointer, prefix, made_of, sent))
        for e in exc.errors
    ]
    out = type(exc).many(moved)
    out.status, out.title = exc.status, exc.title
    return out


def _append_lines(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: InvoiceRecord,
    lines: list[LineIn],
    command_id: uuid.UUID,
    pointer: str,
    new: Callable[..., L],
    append: Callable[[L], None],
) -> list[Event]:
    org = subsidiaries.entity(uow, org, inv.subsidiary_id).org
    events: list[Event] = []
    sb = small_business_country(org) is not None
    rules, day = rate_rules(org), tax_day(inv, today_of(org, deps))
    start = max((line.position for line in inv.lines), default=0)
    for i, line_in in enumerate(lines):
        line_ptr = pointer if pointer == "/line" else f"{pointer}/{i}"
        if sb and line_in.tax_category is not TaxCategory.EXEMPT:
            raise DomainError(
                "small_business",
                "the organization uses the small business scheme; lines "
                "must have tax_category exempt and tax_rate 0",
                pointer=f"{line_ptr}/tax_category",
                hint="send tax_category exempt and tax_rate 0",
            )
        line_id = line_in.id or derived_id(command_id, f"line:{inv.id}:{pointer}:{i}")
        if any(existing.id == line_id for existing in inv.lines):
            raise Conflict(
                "line_exists", f"line {line_id} already exists", pointer=f"{line_ptr}/id"
            )
        line = build_line(
            inv,
            line_in,
            position=start + i + 1,
            line_id=line_id,
            default_rate=default_rate(org),
            pointer=line_ptr,
            new=new,
        )
        tied = inv.kind == "credit_note" and inv.credited_invoice_id is not None
        if not tied and line.tax_category == TaxCategory.STANDARD.value:
            # a credit note of an invoice takes the invoice's groups, which the ledger checks
            rules.check(line.tax_rate, day, f"{line_ptr}/tax_rate")
        if line.budget_id is not None:
            budgets.attribute(uow, inv, line, line_ptr)
        append(line)
        events += billing.claim(uow, inv, line, line_ptr, deps)
    return events


_SCALARS = (
    "case_id",
    "project_reference",
    "purchase_order_number",
    "creator_id",
    "issuer_id",
    "responsible_id",
    "deal_id",
    "subsidiary_id",
    "bank_account_id",
    "subject",
    "recipient_text",
    "invoicing_party_text",
    "issue_date",
    "due_date",
    "payment_terms_days",
    "delivery_date",
    "calculate_from_net",
    "notes",
    "footer",
    "exchange_rate",
    "exchange_rate_date",
)


def apply_fields(
    uow: UnitOfWork,
    org: OrganizationRecord,
    inv: EditableInvoice,
    p: CreateInvoice.Payload | UpdateInvoice.Payload,
    fields: set[str],
    customer: CustomerRecord | None = None,
) -> None:
    """Set the fields given; ``customer``: the customer ``p.customer_id`` if already read
    with the organization (``organization_row``), else it is looked up here (NotFound)."""
    for name in _SCALARS:
        if name in fields:
            setattr(inv, name, getattr(p, name))
    if "delivery_date" in fields:
        inv.delivery_date_defaulted = False  # the user's date now (or none)
    if "subsidiary_id" in fields and p.subsidiary_id is not None:
        subsidiaries.entity(uow, org, p.subsidiary_id)  # it must exist
    if "customer_id" in fields:
        if p.customer_id is not None:
            if customer is None or customer.id != p.customer_id:
                customer = get_customer(uow, org.id, p.customer_id)
            if "locale" not in fields:
                inv.locale = customer.locale
        inv.customer_id = p.customer_id
    if "currency" in fields and p.currency is not None:
        if inv.lines and p.currency != inv.currency:
            raise InvalidState(
                "currency_locked",
                "the currency can't change once lines exist",
                pointer="/currency",
                hint="remove the lines first",
            )
        inv.currency = p.currency
    if "locale" in fields and p.locale is not None:
        inv.locale = p.locale
    if "tags" in fields:
        inv.tags = list(p.tags)
    if "subscriber_ids" in fields:
        inv.subscriber_ids = list(p.subscriber_ids)
    if "vat_number" in fields:
        inv.vat_number = _checked_vat_number(p.vat_number)
    issuer_changed = "bank_account_id" in fields or "subsidiary_id" in fields
    if issuer_changed and inv.bank_account_id is not None:  # one of the issuer's accounts
        issuer = subsidiaries.entity(uow, org, inv.subsidiary_id).org
        bank_account(issuer, inv.bank_account_id, pointer="/bank_account_id")
    if "custom_fields" in fields:
        inv.custom_fields = dict(p.custom_fields)
    if "discount" in fields:
        inv.discount = discount_json(p.discount)
    if "discount" in fields or "currency" in fields:  # a kept discount must fit a new currency
        at = "/discount/value" if "discount" in fields else "/currency"
        check_discount_units(discount_from(inv.discount), inv.currency, at)
    if "service_period" in fields:
        period = p.service_period
        inv.service_period_start = period.start if period else None
        inv.service_period_end = period.end if period else None
    if inv.due_date and inv.issue_date and inv.due_date < inv.issue_date:
        raise DomainError("invalid_attribute", "due_date is before issue_date", pointer="/due_date")
    org_currency = profile(org).get("default_currency", "EUR")
    inv.normalized_currency = org_currency if inv.currency != org_currency else None


def _checked_vat_number(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return validate_vat_id(value)
    except ValueError as exc:
        raise DomainError(
            "invalid_vat_id",
            str(exc),
            pointer="/vat_number",
            hint="give the VAT id with its country prefix, e.g. DE136695976",
        ) from exc


def bank_account(org: OrganizationRecord, account_id: str, *, pointer: str) -> dict[str, Any]:
    """One of the issuer's bank accounts (bank_accounts of configure_organization, or of
    configure_subsidiary when ``org`` is a subsidiary's billing entity)."""
    for account in profile(org).get("bank_accounts") or []:
        if account.get("id") == account_id:
            return dict(account)
    raise NotFound(
        "bank_account_not_found",
        f"{org.name} has no bank account {account_id!r}",
        pointer=pointer,
        hint="name another of the issuer's accounts with update_invoice (bank_account_id; null: "
        "its main account), or add it to bank_accounts with configure_organization "
        "(configure_subsidiary for a subsidiary's invoices)",
    )


def new_draft(
    org: OrganizationRecord, invoice_id: uuid.UUID, kind: str, now: dt.datetime
) -> Invoice:
    return Invoice(**draft_values(org, invoice_id, kind, now), lines=[], payments=[])


def draft_values(
    org: OrganizationRecord, invoice_id: uuid.UUID, kind: str, now: dt.datetime
) -> dict[str, Any]:
    """The columns a new draft starts with (the others take their column defaults)."""
    p = profile(org)
    return dict(
        organization_id=org.id,
        id=invoice_id,
        kind=kind,
        status="draft",
        currency=p.get("default_currency", "EUR"),
        locale=p.get("default_locale", "de"),
        calculate_from_net=True,
        tags=[],
        subscriber_ids=[],
        custom_fields={},
        tax_breakdown=[],
        legal_notes=[],
        credit_note_ids=[],
        ledger=[],
        created_at=now,
        updated_at=now,
        event_sequence=0,
        overdue=False,
        dunning_level=0,
        default_note=False,
        payment_reference=None,
        **dict.fromkeys(_MONEY, Decimal(0)),
    )


_MONEY = (
    "line_net_total",
    "allowance_total",
    "net_total",
    "tax_total",
    "gross_total",
    "paid_amount",
    "credited_amount",
    "credited_net",
    "written_off_amount",
)


_TAKEN = select(Invoice.id).where(
    Invoice.organization_id == bindparam("org"), Invoice.id == bindparam("id")
)


def _assert_new(uow: UnitOfWork, org_id: uuid.UUID, invoice_id: uuid.UUID, pointer: str) -> None:
    if uow.connection().execute(_TAKEN, {"org": org_id, "id": invoice_id}).first() is not None:
        raise _exists(invoice_id, pointer)


def _exists(invoice_id: uuid.UUID, pointer: str) -> Conflict:
    return Conflict(
        "invoice_exists",
        f"invoice {invoice_id} already exists",
        pointer=pointer,
        hint="choose a new id; use update_invoice to change a draft",
    )


def _read_creates(uow: UnitOfWork, commands: list[CreateInvoice]) -> None:
    keys = [(c.organization_id, _customer_of(c.payload), c.payload.id) for c in commands]
    read_creates(uow, keys)


def _customer_of(p: CreateInvoice.Payload) -> uuid.UUID | None:
    """The customer a create names (an explicit null names none)."""
    return p.customer_id if "customer_id" in p.model_fields_set else None


def _create_lines(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    inv: aggregates.InvoiceData,
    p: CreateInvoice.Payload,
    command_id: uuid.UUID,
) -> list[Event]:
    """The lines of a new draft: those given, with its ``time_entry_ids`` billed."""
    lines, pointer, sent = list(p.lines), "/lines", None
    if p.time_entry_ids:
        lines, pointer, sent = _bill_time_entries(uow, org, inv, lines, list(p.time_entry_ids))
    return append_lines(
        uow,
        deps,
        org,
        inv,
        lines,
        command_id,
        pointer,
        new=LineData,
        append=inv.lines.append,
        sent=sent,
    )


@handles(CreateInvoice, prefetch=_read_creates)
def create_invoice(cmd: CreateInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    fields = set(p.model_fields_set) | {"calculate_from_net"}
    # one round trip (or read ahead for the batch): the organization, the customer, whether
    # the id is taken (Core rows)
    org, customer, taken = organization_and_new_id(uow, cmd.organization_id, _customer_of(p), p.id)
    if taken:
        raise _exists(p.id, "/id")
    # a plain draft (handlers/aggregates.py), no ORM object: the same rules, then Core INSERTs
    kind = "quote" if p.is_quote else "invoice"
    inv = aggregates.new_draft(draft_values(org, p.id, kind, deps.now()))
    apply_fields(uow, org, inv, p, fields, customer)
    if inv.issuer_id is None:
        inv.issuer_id = inv.creator_id  # seed 002: the creator issues unless told otherwise
    if p.number:
        check_manual_number(uow, org, p.number, inv.id)
        set_number(inv, p.number)
    events = _create_lines(uow, deps, org, inv, p, cmd.command_id)
    recalculate(
        inv, legal=legal_context(org), buyer_country=draft_buyer_country(uow, inv, customer)
    )
    created = invoice_event("invoice.created", inv, deps.now())
    # written complete with Core (one INSERT for the invoice, one for its lines); the session
    # never holds it: no flush work for it, no object the session could hold stale
    aggregates.insert(uow, inv)
    return [created, *events]


def _bill_time_entries(
    uow: UnitOfWork,
    org: OrganizationRecord,
    inv: EditableInvoice,
    lines: list[LineIn],
    entry_ids: list[str],
) -> tuple[list[LineIn], str, list[str] | None]:
    """Seed 000's top-level ``time_entry_ids``: checked at ``/time_entry_ids/i`` (i as sent),
    then billed by one line each (no lines given: the lines, the pointer and the entries as
    sent, for the lines' errors) or by the first line (whose text accounts for them)."""
    entries = billing.uninvoiced(uow.session, org.id, entry_ids, pointer="/time_entry_ids")
    inv.invoicing_method = ACTUALS
    for entry in entries:  # in date order: the pointer names the entry as sent
        if entry.currency != inv.currency:
            raise Conflict(
                "currency_mismatch",
                f"billable entry {entry.id} is in {entry.currency}, the invoice in {inv.currency}",
                pointer=f"/time_entry_ids/{entry_ids.index(entry.id)}",
                hint="bill entries of another currency on an invoice in that currency",
            )
    if not lines:
        return [billing.line_from_entry(e) for e in entries], "/time_entry_ids", entry_ids
    first = lines[0]
    merged = list(first.billable_entry_ids) + [
        e for e in entry_ids if e not in first.billable_entry_ids
    ]
    return [first.model_copy(update={"billable_entry_ids": merged}), *lines[1:]], "/lines", None


@handles(UpdateInvoice)
def update_invoice(cmd: UpdateInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, p.id, pointer="/id")
    require_draft(inv, "edited", pointer="/id")
    fields = set(p.model_fields_set) - {"id"}
    events: list[Event] = []
    if "lines" in fields and p.lines is not None:
        events += billing.release(uow, inv)
        inv.lines.clear()
        uow.session.flush()
        events += add_lines(uow, deps, org, inv, list(p.lines), cmd.command_id, "/lines")
    apply_fields(uow, org, inv, p, fields)
    if "number" in fields:
        if p.number:
            check_manual_number(uow, org, p.number, inv.id)
        set_number(inv, p.number)
    recalculate(inv, legal=legal_context(org), buyer_country=draft_buyer_country(uow, inv))
    return [invoice_event("invoice.updated", inv, deps.now()), *events]


@handles(AddLine)
def add_line(cmd: AddLine, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
    require_draft(inv, "edited")
    events = add_lines(uow, deps, org, inv, [cmd.payload.line], cmd.command_id, "/line")
    try:
        recalculate(inv, legal=legal_context(org), buyer_country=draft_buyer_country(uow, inv))
    except DomainError as exc:  # the document's lines grew too large: by the line sent
        raise exc.repointed("/lines", "/line") from exc
    return [invoice_event("invoice.updated", inv, deps.now()), *events]


@handles(RemoveLine)
def remove_line(cmd: RemoveLine, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    inv = get_invoice(uow, org.id, cmd.payload.invoice_id)
    require_draft(inv, "edited")
    line = next((line for line in inv.lines if line.id == cmd.payload.line_id), None)
    if line is None:
        raise NotFound(
            "line_not_found",
            f"line {cmd.payload.line_id} is not on this invoice",
            pointer="/line_id",
        )
    events = billing.release(uow, inv, [line])
    inv.lines.remove(line)
    for pos, remaining in enumerate(sorted(inv.lines, key=lambda x: x.position), start=1):
        remaining.position = pos
    recalculate(inv, legal=legal_context(org), buyer_country=draft_buyer_country(uow, inv))
    return [invoice_event("invoice.updated", inv, deps.now()), *events]


def trash(uow: UnitOfWork, deps: Deps, inv: Invoice) -> list[Event]:
    if inv.deleted_at is not None:
        raise InvalidState(
            "already_deleted", "the invoice is already in the trash", pointer="/invoice_id"
        )
    require_draft(inv, "deleted")
    events = billing.release(uow, inv)
    inv.deleted_at = deps.now()
    return [invoice_event("invoice.deleted", inv, deps.now()), *events]


@handles(DeleteInvoice)
def delete_invoice(cmd: DeleteInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    inv = get_invoice(uow, cmd.organization_id, cmd.payload.invoice_id)
    return trash(uow, deps, inv)


def _trashed(uow: UnitOfWork, org_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    inv = get_invoice(uow, org_id, invoice_id, include_deleted=True)
    _require_trashed(inv)
    return inv


def _require_trashed(inv: Invoice) -> None:
    if inv.deleted_at is None:
        raise InvalidState(
            "not_in_trash",
            "the invoice is not in the trash",
            pointer="/invoice_id",
            hint="only trashed drafts can be restored or purged",
        )


def restore(uow: UnitOfWork, deps: Deps, inv: Invoice) -> list[Event]:
    """Bring a trashed draft back (its entries are billed by it again)."""
    _require_trashed(inv)
    inv.deleted_at = None
    events: list[Event] = []
    try:
        for line in inv.lines:
            events += billing.claim(uow, inv, line, f"/lines/{line.position - 1}", deps)
    except DomainError as exc:  # an entry billed elsewhere meanwhile: the command names the draft
        raise exc.repointed("/lines", "/invoice_id") from exc
    return [invoice_event("invoice.restored", inv, deps.now()), *events]


def purge(uow: UnitOfWork, deps: Deps, inv: Invoice) -> list[Event]:
    """Remove a trashed draft for good, and a dunning block set on it (``block_dunning``)."""
    _require_trashed(inv)
    event = invoice_event("invoice.purged", inv, deps.now())
    uow.session.execute(
        delete(DunningBlock).where(
            DunningBlock.organization_id == inv.organization_id,
            DunningBlock.subject == "invoice",
            DunningBlock.subject_id == inv.id,
        )
    )
    uow.session.delete(inv)
    return [event]


@handles(RestoreInvoice)
def restore_invoice(cmd: RestoreInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    return restore(uow, deps, _trashed(uow, cmd.organization_id, cmd.payload.invoice_id))


@handles(PurgeInvoice)
def purge_invoice(cmd: PurgeInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    return purge(uow, deps, _trashed(uow, cmd.organization_id, cmd.payload.invoice_id))


def copy_lines(src: Invoice) -> list[LineIn]:
    return [
        LineIn(
            description=line.description,
            subtitle=line.subtitle,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            tax_category=TaxCategory(line.tax_category),
            discount=line.discount,
        )
        for line in sorted(src.lines, key=lambda x: x.position)
    ]


def copy_draft(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    src: Invoice,
    new_id: uuid.UUID,
    kind: str,
    command_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    *,
    same_supply: bool = False,
) -> Invoice:
    """A new draft with the source's customer, terms and lines (no number, no issue or due
    date); the delivery date as ``domain.finalize.copied_delivery_date`` decides (``same_supply``:
    the replacement of a change of recipient)."""
    _assert_new(uow, org.id, new_id, "/new_invoice_id")
    inv = new_draft(org, new_id, kind, deps.now())
    for name in (
        "currency",
        "calculate_from_net",
        "locale",
        "case_id",
        "project_reference",
        "purchase_order_number",
        "payment_terms_days",
        "notes",
        "footer",
        "discount",
        "exchange_rate",
        "normalized_currency",
        "service_period_start",
        "service_period_end",
        "subject",
        "invoicing_party_text",
        "subsidiary_id",
        "bank_account_id",
    ):
        setattr(inv, name, getattr(src, name))
    inv.delivery_date, inv.delivery_date_defaulted = finalize_rules.copied_delivery_date(
        src.delivery_date, src.delivery_date_defaulted, same_supply=same_supply
    )
    if customer_id == src.customer_id:  # the recipient's own data stays with the recipient
        inv.recipient_text, inv.vat_number = src.recipient_text, src.vat_number
    inv.tags, inv.custom_fields = list(src.tags or []), dict(src.custom_fields or {})
    inv.customer_id = customer_id
    if customer_id is not None:
        inv.locale = get_customer(uow, org.id, customer_id).locale
    uow.session.add(inv)
    add_lines(uow, deps, org, inv, copy_lines(src), command_id, "/lines")
    recalculate(inv, legal=legal_context(org), buyer_country=draft_buyer_country(uow, inv))
    return inv


def replacement_draft(
    uow: UnitOfWork,
    deps: Deps,
    org: OrganizationRecord,
    src: Invoice,
    new_id: uuid.UUID,
    command_id: uuid.UUID,
    customer_id: uuid.UUID,
) -> Invoice:
    """The draft of a change of recipient: the same supply billed to ``customer_id``."""
    return copy_draft(
        uow, deps, org, src, new_id, "invoice", command_id, customer_id, same_supply=True
    )


@handles(DuplicateInvoice)
def duplicate_invoice(cmd: DuplicateInvoice, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    src = get_invoice(uow, org.id, cmd.payload.invoice_id, lock=False)
    if src.kind == "credit_note":
        raise InvalidState(
            "invalid_kind", "credit notes cannot be duplicated", pointer="/invoice_id"
        )
    kind = (
        src.kind
        if cmd.payload.is_quote is None
        else ("quote" if cmd.payload.is_quote else "invoice")
    )
    inv = copy_draft(
        uow, deps, org, src, cmd.payload.new_invoice_id, kind, cmd.command_id, src.customer_id
    )
    return [invoice_event("invoice.created", inv, deps.now(), duplicated_from=str(src.id))]


@handles(InvoiceBillableEntries)
def invoice_billable_entries(
    cmd: InvoiceBillableEntries, uow: UnitOfWork, deps: Deps
) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    p = cmd.payload
    inv = get_invoice(uow, org.id, p.invoice_id)
    require_draft(inv, "edited")
    inv.invoicing_method = p.budget.invoicing_method if p.budget else ACTUALS
    if p.budget is not None:  # the lines preview_invoice shows for the same selection
        lines, pointer = _budget_lines(uow, org, inv, p.budget), "/budget/lines"
    else:
        entries = billing.uninvoiced(uow.session, org.id, list(p.entry_ids))
        lines, pointer = [billing.line_from_entry(entry) for entry in entries], "/entry_ids"
    try:
        sent = None if p.budget is not None else p.entry_ids
        events = add_lines(uow, deps, org, inv, lines, cmd.command_id, pointer, sent)
    except DomainError as exc:
        if p.budget is None:
            raise
        raise at_budgets(exc, lines, p.budget.budget_ids) from exc
    recalculate(inv, legal=legal_context(org), buyer_country=draft_buyer_country(uow, inv))
    return [invoice_event("invoice.updated", inv, deps.now()), *events]


_PLANNED_LINE = re.compile(r"^/budget/lines/(\d+)(?:/|$)")


def at_budgets(exc: DomainError, lines: list[LineIn], budget_ids: list[str]) -> DomainError:
    """The errors of planned lines (``/budget/lines/i/...``: a field the command does not
    have, e.g. a budget's rate that is not a VAT rate on the day, or an entry billed by
    another invoice meanwhile) at the budget the line bills (``/budget/budget_ids/k``)."""

    def moved(pointer: str) -> str:
        found = _PLANNED_LINE.match(pointer)
        if found is None:
            return pointer
        budget_id = lines[int(found.group(1))].budget_id
        at = budget_ids.index(budget_id) if budget_id in budget_ids else None
        return "/budget/budget_ids" + ("" if at is None else f"/{at}")

    out = type(exc).many([replace(e, pointer=moved(e.pointer)) for e in exc.errors])
    out.status, out.title = exc.status, exc.title
    return out


def _budget_lines(
    uow: UnitOfWork, org: OrganizationRecord, inv: Invoice, selection: BudgetSelection
) -> list[LineIn]:
    if not inv.calculate_from_net:
        raise InvalidState(
            "gross_entry",
            "budget lines are net amounts; this draft enters gross prices",
            pointer="/invoice_id",
            hint="bill budgets on a draft with calculate_from_net true",
        )
    plan = budgets.planned(uow.session, org, selection, lock=True, pointer="/budget")
    budgets.check_currency(plan, inv.currency, "/budget")
    return [budgets.line_in(line) for line in plan.lines]
