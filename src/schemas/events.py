"""Event documents: what downstream listeners receive.

Every event is a CloudEvents 1.0 structured JSON message on the topic exchange
``invoicing.events`` with routing key = ``type``. Invoice events carry the whole invoice as it
stands after the change (``data``), so a listener can keep a read model without asking back.
Extension attributes: ``organizationid``, ``commandid``, ``correlationid``, ``sequence`` (events
whose data holds ``invoice``: per document, starting at 1, gapless; null otherwise) and
``dataschemaversion``; each attribute's meaning is in its description (the contract's
``CloudEvent`` schema).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from invoicing.schemas.common import Address, CountryCodeShape, ErrorItem, ErrorSource
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

EVENT_TYPES = (
    "organization.configured",
    "customer.created",
    "customer.updated",
    "invoice.created",
    "invoice.updated",
    "invoice.finalized",
    "invoice.sent",
    "invoice.delivery_failed",
    "invoice.overdue",
    "invoice.paid",
    "invoice.voided",
    "invoice.deleted",
    "invoice.restored",
    "invoice.purged",
    "payment.recorded",
    "payment.deleted",
    "payment.exchange_difference",
    "payment.confirmation_sent",
    "payment.allocated",
    "customer_payment.recorded",
    "customer_payment.deleted",
    "customer_credit.added",
    "customer_credit.applied",
    "customer_credit.restored",
    "customer_credit.removed",
    "customer_credit.refunded",
    "credit_note.issued",
    "invoice.written_off",
    "invoice.write_off_reversed",
    "billable_entry.recorded",
    "billable_entry.billed",
    "billable_entry.released",
    "budget.created",
    "budget.updated",
    "budget.closed",
    "subsidiary.configured",
    "dunning.notice_sent",
    "dunning_settings.configured",
    "dunning_block.set",
    "dunning_block.lifted",
    "invoice.published",
    "invoice.unpublished",
    "invoice.documents_stored",
    "invoice.exported",
    "invoice.export_updated",
    "datev.configured",
    "export.completed",
    "command.rejected",
)


class State(BaseModel):
    """Base of event data: permissive on read (tolerant reader), strict types."""

    model_config = ConfigDict(extra="ignore")


class AddressState(Address):
    """An address in event data: the command's ``Address`` read tolerantly (a member added by a
    later release is read past, as everywhere in ``State``) and its country by shape only (a
    code stored before the code list was checked is read, not refused)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    country_code: CountryCodeShape


class ErrorSourceState(ErrorSource):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ErrorItemState(ErrorItem):
    """An error item in event data (``command.rejected``, ``invoice.delivery_failed``), read
    tolerantly: its ``source`` too."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    source: ErrorSourceState


class Party(State):
    """A snapshot of seller or buyer as printed on the document."""

    id: UUID | None = None
    name: str
    company: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: AddressState | None = None
    vat_id: str | None = None
    tax_number: str | None = None
    registration: str | None = None
    managing_directors: str | None = None
    website: str | None = None
    iban: str | None = None
    bic: str | None = None
    bank_name: str | None = None
    buyer_reference: str | None = None
    peppol_id: str | None = None
    locale: str | None = None
    einvoice_format: str | None = None
    customer_type: str | None = Field(
        default=None,
        description="the buyer's customer_type when the snapshot was taken (business, "
        "consumer); null: not stated (then a buyer with a company, VAT id or Peppol id is a "
        "business)",
    )
    small_business: bool = False


class Discount(State):
    type: Literal["percentage", "amount"]
    value: Decimal


class LineState(State):
    id: UUID
    position: int
    description: str
    subtitle: str | None = None
    quantity: Decimal
    unit: str
    unit_price: Decimal = Field(description="as entered: net or gross per calculate_from_net")
    tax_category: str
    tax_code: str = Field(description="EN 16931 / UNTDID 5305 code: S, Z, E, AE, K, G, O")
    tax_rate: Decimal
    discount: Discount | None = None
    base_amount: Decimal = Field(description="quantity x unit price, rounded, as entered")
    discount_amount: Decimal
    amount: Decimal = Field(description="base - discount, as entered (net or gross)")
    net_amount: Decimal = Field(description="BT-131 line net amount")
    billable_entry_ids: list[str] = Field(default_factory=list)
    budget_id: str | None = Field(default=None, description="the budget it is attributed to")
    service_id: str | None = None


class TaxBreakdown(State):
    category: str
    code: str
    rate: Decimal
    lines_net: Decimal
    allowance: Decimal = Field(description="share of the document discount, net (BT-92)")
    taxable_amount: Decimal = Field(description="BT-116")
    tax_amount: Decimal = Field(description="BT-117")
    exemption_reason: str | None = Field(default=None, description="BT-120")


class Totals(State):
    line_net_total: Decimal = Field(description="BT-106")
    allowance_total: Decimal = Field(description="BT-107")
    net_total: Decimal = Field(description="BT-109, after document discounts")
    tax_total: Decimal = Field(description="BT-110")
    gross_total: Decimal = Field(description="BT-112")
    paid_amount: Decimal
    credited_amount: Decimal = Field(description="gross of credit notes issued against it")
    credited_net: Decimal = Field(
        default=Decimal(0), description="net of credit notes issued against it"
    )
    written_off_amount: Decimal = Field(default=Decimal(0), description="gross written off")
    open_amount: Decimal = Field(
        description="gross - credited - written off - paid, never below zero; 0 for drafts, "
        "quotes and credit notes (they are never receivables)"
    )
    credit_balance: Decimal = Field(description="overpayment kept as the customer's credit")


class LedgerGroup(State):
    """One tax group of an invoice's ledger (docs/arithmetic.md): net and VAT per column."""

    category: str
    rate: Decimal
    invoiced_net: Decimal = Field(description="BT-116 of the invoice")
    invoiced_tax: Decimal = Field(description="BT-117 of the invoice")
    credited_net: Decimal
    credited_tax: Decimal
    written_off_net: Decimal
    written_off_tax: Decimal
    open_net: Decimal = Field(description="remaining net less the group's share of payments")
    open_tax: Decimal


class LedgerEntryGroup(State):
    category: str
    rate: Decimal
    net: Decimal
    tax: Decimal


class NormalizedTaxAmount(State):
    category: str
    rate: Decimal
    tax: Decimal


class NormalizedMovement(State):
    """A movement's VAT in the organization's currency (foreign-currency invoices): each
    group's VAT taken so far (credit notes, write-offs, less reversals, in the order they were
    recorded) is converted at the frozen rate as one cumulative sum, and the movement's VAT is
    what that conversion moved, so the movements of a group add up to the group's converted
    VAT (``normalized.tax_breakdown``) once they take all of it, and a movement's value never
    changes once recorded. This is the VAT DATEV books for it (docs/datev.md); a credit note's
    own ``normalized`` is its document's conversion and can be a cent away from it."""

    currency: str
    tax: Decimal = Field(description="the sum of the groups")
    groups: list[NormalizedTaxAmount]


class LedgerEntry(State):
    """A movement against the invoice's tax groups: a credit note or a write-off."""

    kind: Literal["credit", "write_off", "write_off_reversal"]
    date: dt.date = Field(description="the credit note's issue date, or the write-off's date")
    document_id: str | None = Field(default=None, description="the credit note's id")
    number: str | None = Field(default=None, description="the credit note's number")
    reason: str | None = None
    net: Decimal
    tax: Decimal
    gross: Decimal
    groups: list[LedgerEntryGroup]
    normalized: NormalizedMovement | None = Field(
        default=None,
        description="foreign-currency invoices: its VAT in the organization's currency; null "
        "for an invoice in the organization's currency",
    )


class NormalizedGroup(State):
    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal


class NormalizedLedgerGroup(State):
    """One tax group's VAT in the organization's currency: invoiced (converted at the frozen
    rate), credited and written off (the sums of the movements' ``normalized`` VAT)."""

    category: str
    rate: Decimal
    invoiced_tax: Decimal
    credited_tax: Decimal
    written_off_tax: Decimal = Field(description="write-offs less their reversals")
    remaining_tax: Decimal = Field(description="invoiced - credited - written off")


class Normalized(State):
    """The document in the organization's currency at the rate frozen at finalize
    (docs/arithmetic.md): each group converted and rounded, totals the sums of the parts."""

    currency: str
    exchange_rate: Decimal
    exchange_rate_date: dt.date | None = Field(default=None, description="frozen at finalize")
    net_total: Decimal
    tax_total: Decimal = Field(description="BT-111 (VAT total in accounting currency BT-6)")
    gross_total: Decimal
    tax_breakdown: list[NormalizedGroup] = Field(default_factory=list)
    tax_ledger: list[NormalizedLedgerGroup] = Field(
        default_factory=list,
        description="finalized invoices: per tax group the VAT invoiced, credited, written off "
        "and remaining in the organization's currency",
    )
    paid_amount: Decimal = Decimal(0)
    credited_amount: Decimal = Decimal(0)
    credited_net: Decimal = Decimal(0)
    written_off_amount: Decimal = Decimal(0)
    open_amount: Decimal = Decimal(0)
    exchange_difference: Decimal = Field(
        default=Decimal(0),
        description="realised on payments received at another rate: what they were worth "
        "less what they settled at the frozen rate (a gain when positive, a loss when "
        "negative), as it stands now: a payment recorded later with an earlier date, a "
        "write-off dated before a payment or a deletion can move an earlier payment's share by "
        "a cent (docs/arithmetic.md, 'Realised exchange differences') with no "
        "payment.exchange_difference of its own; book the change of this sum between an "
        "invoice's successive events (sequence)",
    )


class PaymentState(State):
    id: UUID
    amount: Decimal
    date: dt.date
    method: str = Field(description="customer_credit: an application of unapplied credit")
    reference: str | None = None
    recorded_at: dt.datetime
    customer_payment_id: UUID | None = Field(
        default=None, description="the payment across invoices this row is one allocation of"
    )
    credit_entry_id: UUID | None = Field(
        default=None, description="the customer credit entry this row applies"
    )
    exchange_rate: Decimal | None = Field(
        default=None, description="the rate the money came in at; null: the invoice's rate"
    )
    exchange_difference: Decimal | None = Field(
        default=None,
        description="in the organization currency: received - booked, as it stands now (it "
        "can change by a cent after the payment: normalized.exchange_difference)",
    )


class IntegrationExport(State):
    """An accounting integration's record of the invoice (``export_invoice``)."""

    integration: str = Field(description="seed 002 export_integration_type_id")
    external_id: str = Field(description="the integration's id of it (seed 002 export_id)")
    url: str | None = Field(default=None, description="seed 002 export_invoice_url")
    company_reference_id: str | None = None
    exported_at: dt.datetime
    updates: int = Field(default=0, description="export updates since (invoice.export_updated)")
    last_update_at: dt.datetime | None = None
    last_changes: list[str] = Field(default_factory=list)


class InvoiceState(State):
    """The whole document: invoice, credit note or quote."""

    id: UUID
    organization_id: UUID
    kind: Literal["invoice", "credit_note", "quote"]
    status: Literal["draft", "finalized", "sent", "partially_paid", "paid", "void"]
    overdue: bool = False
    dunning_level: int = Field(
        default=0,
        description="the highest dunning level sent for it (send_dunning_notices; 0: never "
        "dunned); it stays when the invoice is paid",
    )
    dunned_on: dt.date | None = Field(
        default=None, description="the day (as_of) of its last dunning notice"
    )
    default_note: bool = Field(
        default=False,
        description="it carried the note of § 286 Abs. 3 BGB (a consumer is in default 30 days "
        "after due date and receipt unless they pay): set at finalize on invoices under German "
        "law to a consumer; the dunning of a consumer counts default from it",
    )
    payment_reference: str | None = Field(
        default=None,
        description="BT-83, the Belgian structured communication (OGM/VCS, "
        "+++123/4567/89012+++) the payer quotes: assigned at finalize to invoices of a Belgian "
        "seller in EUR, derived from the number's digits unless another document of the "
        "organization holds that value (then the next free one, docs/einvoice.md), unique per "
        "organization. Null for other documents (their reference is the number) and for an "
        "invoice finalized before it was stored whose communication an earlier invoice of the "
        "organization already had (its communication is derived from the number, as it was "
        "sent)",
    )
    deleted: bool = False
    number: str | None = None
    issue_date: dt.date | None = None
    due_date: dt.date | None = None
    payment_terms_days: int | None = None
    delivery_date: dt.date | None = None
    service_period_start: dt.date | None = None
    service_period_end: dt.date | None = None
    currency: str
    calculate_from_net: bool
    locale: str
    customer_id: UUID | None = None
    seller: Party | None = Field(default=None, description="snapshot taken at finalize")
    buyer: Party | None = Field(default=None, description="snapshot taken at finalize")
    case_id: str | None = None
    project_reference: str | None = None
    purchase_order_number: str | None = None
    creator_id: str | None = None
    issuer_id: str | None = None
    responsible_id: str | None = None
    subscriber_ids: list[str] = Field(default_factory=list)
    deal_id: str | None = None
    subsidiary_id: str | None = None
    subject: str | None = None
    recipient_text: str | None = Field(default=None, description="free-text recipient block")
    invoicing_party_text: str | None = Field(default=None, description="free-text seller block")
    vat_number: str | None = Field(default=None, description="the buyer's VAT id on this invoice")
    bank_account_id: str | None = None
    invoicing_method: str | None = Field(
        default=None, description="how invoice_billable_entries billed it last (seed 002)"
    )
    notes: str | None = None
    footer: str | None = None
    tags: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    lines: list[LineState] = Field(default_factory=list)
    discount: Discount | None = None
    tax_breakdown: list[TaxBreakdown] = Field(default_factory=list)
    tax_ledger: list[LedgerGroup] = Field(
        default_factory=list,
        description="finalized invoices: per tax group invoiced, credited, written off, open",
    )
    ledger_entries: list[LedgerEntry] = Field(
        default_factory=list, description="credits and write-offs against the invoice, in order"
    )
    totals: Totals
    normalized: Normalized | None = None
    legal_notes: list[str] = Field(default_factory=list)
    payments: list[PaymentState] = Field(default_factory=list)
    credit_note_ids: list[UUID] = Field(default_factory=list)
    credited_invoice_id: UUID | None = Field(default=None, description="credit notes: BG-3")
    credited_invoice_number: str | None = None
    credited_invoice_issue_date: dt.date | None = None
    credit_reason: str | None = None
    replaced_by_invoice_id: UUID | None = None
    replaces_invoice_id: UUID | None = None
    export_status: Literal["exported", "unexported"] = "unexported"
    exported_at: dt.datetime | None = None
    integration_exports: list[IntegrationExport] = Field(
        default_factory=list, description="accounting integrations it was exported to"
    )
    finalized_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    sent_on: dt.date | None = Field(
        default=None,
        description="the day it was sent, on the seller's calendar (its timezone, else its "
        "country's zone)",
    )
    paid_at: dt.datetime | None = Field(
        default=None,
        description="paid_on at noon on the seller's calendar (its timezone, else its "
        "country's zone; 00:00 UTC before 2026-12; not the processing time)",
    )
    paid_on: dt.date | None = Field(
        default=None, description="date of the payment that settled the invoice"
    )
    voided_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    sequence: int = Field(description="per-invoice event sequence of the latest event")


class RejectionData(State):
    """``command.rejected``: why a command (or some items of it) was not applied."""

    command_type: str | None = None
    command_id: str | None = Field(
        default=None, description="as the command gave it (not always a valid UUID)"
    )
    errors: list[ErrorItemState]
    partial: bool = Field(
        default=False,
        description="true: the command applied; these are the items that failed on their own",
    )


class FailedDunning(State):
    level: int | None = Field(default=None, description="the dunning level of the notice")


class DeliveryFailedData(State):
    """``invoice.delivery_failed``: an email (invoice, dunning notice, payment confirmation)
    that was committed as a delivery job could not be delivered; beside ``invoice``."""

    invoice: InvoiceState | None = Field(
        default=None, description="the whole invoice (absent only when it no longer exists)"
    )
    purpose: Literal["invoice", "dunning", "payment_confirmation", "share"]
    delivery_id: UUID = Field(description="the delivery job")
    reason: str = Field(
        description="error code: delivery_failed (the mail server refused), einvoice_invalid, "
        "service_unavailable (the mail server stayed down), recipient_missing, ..."
    )
    detail: str
    errors: list[ErrorItemState] = Field(description="pointers into the causing command's payload")
    attempts: int
    dunning: FailedDunning | None = Field(default=None, description="purpose dunning only")


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode envelope. Published at least once, never lost, in
    order per invoice (docs/pipeline.md, "Guarantees"): dedupe by ``id``, order an invoice's
    events by ``sequence``."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(
        description="unique per event, the same for a copy the relay publishes again: dedupe "
        "by it (derived from the command id and the event's place among its events, so a "
        "command that runs again after a rollback writes the same ids)"
    )
    source: str = Field(
        description="urn:invoicing:organization:<organization id>; urn:invoicing for a "
        "rejection of a body without a readable organization",
        examples=["urn:invoicing:organization:<uuid>"],
    )
    type: str = Field(description="the event type, also the routing key")
    subject: str | None = Field(
        default=None,
        description="the id of what it is about: the document (invoice, credit note, quote) "
        "for every event whose data holds `invoice` (and invoice.delivery_failed of a "
        "document that no longer exists); else the customer (customer.*, "
        "customer_credit.*), the customer payment (customer_payment.*), the billable entry, "
        "the budget, the subsidiary, the organization (organization.configured, "
        "dunning_settings.configured, datev.configured), the invoice or customer of a "
        "dunning block, export:<command id> (export.completed), the command id "
        "(command.rejected; null when the body had no readable one)",
    )
    time: dt.datetime = Field(
        description="when the service wrote the event (UTC), not the business date of what it "
        "records (a payment's date is in its data)"
    )
    datacontenttype: Literal["application/json"] = "application/json"
    dataschemaversion: int = Field(
        default=SCHEMA_VERSION,
        description="the version of the data schemas (1); the published models read a later "
        "release's members past (docs/pipeline.md, reliability scenario 20)",
    )
    organizationid: str | None = Field(
        default=None, description="the organization; null as in source"
    )
    commandid: str | None = Field(
        default=None,
        description="the command that caused it (for the events of a delivery step, e.g. "
        "invoice.sent, dunning.notice_sent, the command that queued the delivery)",
    )
    correlationid: str | None = Field(
        default=None, description="the command's correlation_id, if it gave one"
    )
    sequence: int | None = Field(
        default=None,
        description="events whose data holds `invoice`: that document's event counter, 1 for "
        "its first event, one more for each later one (gapless; equal to data.invoice.sequence), "
        "so a listener applies an invoice's events in this order and knows one is missing or "
        "repeated; null for every other event (their order is not guaranteed, except what each "
        "states absolutely, e.g. a customer credit's balance)",
    )
    data: dict[str, Any] = Field(description="the event type's data schema")
