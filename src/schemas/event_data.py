"""The ``data`` of every event type: one tolerant model per type (``EVENT_DATA``).

Every model is a ``State`` (``extra="ignore"``), and so is every object nested in one: a member
a later release adds is read past, never an error. Amounts are ``Decimal`` (JSON strings),
days ``dt.date``, documents ``DocumentRef``, errors ``ErrorItemState``.

Where an event echoes a whole configuration as the command gave it (``organization``,
``subsidiary``, ``customer``, ``datev``, ``dunning`` of ``dunning_settings.configured``) the
member is a free ``dict[str, Any]`` whose description names the command: that command's payload
schema is in the contract already, and a second, tolerant copy of it here would only drift
from it. Everything the service itself puts together is modelled member by member.

The AsyncAPI document (``invoicing.asyncapi``) publishes these models as each event's ``data``;
tests/conftest.py checks every event the pipeline writes during the tests against its model
(it validates, and it carries no member the model does not declare). docs/pipeline.md.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from invoicing.schemas.documents import DocumentRef
from invoicing.schemas.events import (
    DeliveryFailedData,
    IntegrationExport,
    InvoiceState,
    NormalizedMovement,
    RejectionData,
    State,
)
from pydantic import ConfigDict, Field

# ----------------------------------------------------------------------------- shared parts


class InvoiceEventData(State):
    """The whole invoice (or credit note) after the change."""

    invoice: InvoiceState = Field(description="the whole document after the change")


class Recipients(State):
    """Who an email went to."""

    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)


class EmailDelivery(InvoiceEventData):
    """An email that went out after its commit (a delivery job)."""

    delivery_id: UUID = Field(description="the delivery job")
    message_id: str = Field(description="the email's Message-ID")
    delivery_status: str = Field(
        description="sent: the mail server accepted it; uncertain: the connection dropped "
        "after the message was handed over (it may have arrived)"
    )
    recipients: Recipients


class PaymentData(State):
    """A payment on one invoice (one row of the invoice's ``payments``)."""

    id: UUID
    invoice_id: UUID
    amount: Decimal
    date: dt.date
    method: str = Field(description="customer_credit: an application of unapplied credit")
    reference: str | None = None
    exchange_rate: Decimal | None = Field(
        default=None, description="the rate the money came in at; null: the invoice's rate"
    )
    customer_payment_id: UUID | None = Field(
        default=None, description="the payment across invoices this row is one allocation of"
    )
    credit_entry_id: UUID | None = Field(
        default=None, description="the customer credit entry this row applies"
    )


class AllocationData(State):
    """A payment row on an invoice that came from a payment across invoices or from customer
    credit, with its split (§ 367 BGB: costs, interest, then principal) when it was
    allocated."""

    id: UUID = Field(description="the payment row on the invoice")
    invoice_id: UUID
    customer_payment_id: UUID | None = None
    credit_entry_id: UUID | None = None
    amount: Decimal
    date: dt.date
    method: str
    reference: str | None = None
    costs: Decimal | None = Field(default=None, description="payment.allocated only")
    interest: Decimal | None = Field(default=None, description="payment.allocated only")
    principal: Decimal | None = Field(default=None, description="payment.allocated only")


class PaymentNotification(State):
    """The payment confirmation ``mark_paid`` queued (``send_notification``)."""

    delivery_id: UUID = Field(description="the delivery job")
    message_id: str
    status: str = Field(description="queued: the email goes out after the commit")
    recipients: Recipients


class ExchangeDifferenceData(State):
    """What a payment at another rate was worth against what it settled at the invoice's
    frozen rate, in the organization's currency."""

    currency: str = Field(description="the organization's currency")
    amount: Decimal = Field(description="the payment, in the invoice's currency")
    invoice_rate: Decimal
    payment_rate: Decimal
    booked: Decimal = Field(description="at the invoice's rate")
    received: Decimal = Field(description="at the payment's rate")
    difference: Decimal = Field(description="received - booked")
    kind: Literal["gain", "loss"]


class AllocationRef(State):
    payment_id: UUID = Field(description="the payment row on the invoice")
    invoice_id: UUID
    amount: Decimal


class CustomerPaymentData(State):
    """A payment across a customer's invoices."""

    id: UUID
    customer_id: UUID
    currency: str
    amount: Decimal
    date: dt.date
    method: str
    reference: str | None = None
    policy: str = Field(description="how it was allocated: the record_payment policy")
    allocations: list[AllocationRef] = Field(default_factory=list)
    allocated: Decimal
    unapplied: Decimal = Field(description="kept as the customer's credit")


class CreditEntryData(State):
    """One movement of a customer's unapplied credit."""

    id: UUID
    kind: str = Field(description="added, applied, refunded, ...")
    date: dt.date
    customer_payment_id: UUID | None = None
    invoice_id: UUID | None = None
    payment_id: UUID | None = None
    method: str | None = None
    reference: str | None = None


class LedgerGroupAmount(State):
    category: str
    rate: Decimal
    net: Decimal
    tax: Decimal


class VatRuleData(State):
    code: str
    law: str


class WriteOffData(State):
    """A write-off or its reversal, per tax group."""

    id: UUID = Field(description="the write-off's id (write_off_id)")
    kind: Literal["write_off", "write_off_reversal"]
    date: dt.date
    reason: str | None = None
    net: Decimal
    tax: Decimal
    gross: Decimal
    groups: list[LedgerGroupAmount]
    note: str | None = Field(default=None, description="invoice.written_off only")
    ground: str | None = Field(default=None, description="invoice.written_off only")
    vat_rule: VatRuleData | None = Field(
        default=None, description="invoice.written_off only: the VAT correction rule applied"
    )
    normalized: NormalizedMovement | None = Field(
        default=None,
        description="foreign-currency invoices: its VAT in the organization's currency (as "
        "the invoice's ledger entry states it); null in the organization's currency",
    )


class BillableEntryData(State):
    """A billable entry (time or expense) as the publisher recorded it."""

    id: str = Field(description="the publisher's own id of the entry")
    kind: str
    status: str = Field(description="uninvoiced or billed")
    customer_id: UUID | None = None
    case_id: str | None = None
    project_reference: str | None = None
    date: dt.date
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    currency: str
    tax_rate: Decimal | None = None
    tax_category: str | None = None
    invoice_id: UUID | None = Field(default=None, description="the invoice that bills it")
    line_id: UUID | None = Field(default=None, description="the line that bills it")
    budget_id: str | None = None
    service_id: str | None = None


class BudgetServiceData(State):
    id: str
    name: str
    amount: Decimal
    tax_rate: Decimal | None = None
    tax_category: str | None = None


class BudgetData(State):
    """A budget as it stands after the change."""

    id: str = Field(description="the publisher's own id of the budget")
    name: str
    status: str = Field(description="open or closed")
    customer_id: UUID | None = None
    case_id: str | None = None
    project_reference: str | None = None
    currency: str
    amount: Decimal
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    tax_rate: Decimal | None = None
    tax_category: str | None = None
    services: list[BudgetServiceData] = Field(default_factory=list)
    closed_at: dt.datetime | None = None


class InterestPeriodData(State):
    """The days of one interest rate within a notice's interest period."""

    from_: dt.date = Field(alias="from", description="first day")
    to: dt.date = Field(description="last day (included)")
    rate: Decimal = Field(description="percent per year")
    amount: Decimal


class DunningNoticeData(State):
    """The dunning notice that was sent."""

    level: int
    levels: int = Field(description="how many levels the settings have")
    title: str
    as_of: dt.date
    days_overdue: int
    currency: str
    open_amount: Decimal
    fee: Decimal
    interest: Decimal
    interest_rate: Decimal | None = Field(
        default=None,
        description="the rate the interest was charged at, percent per year (act/365), as "
        "the notice states it, when one rate held for the whole period; null: no interest, "
        "or statutory interest whose rate changed within the period (interest_periods)",
    )
    interest_from: dt.date | None = Field(
        default=None,
        description="the first day of interest, the first day of default (it runs to as_of on "
        "what was open each day): the day after the due date for a business debtor; for a "
        "German consumer the day § 286 BGB puts them in default (after the first reminder, or "
        "30 days after due date and receipt of an invoice that said so); for a Belgian "
        "consumer the day after the 14 days of art. XIX.2 WER; null: no interest",
    )
    interest_waived: (
        Literal["not_in_default", "first_reminder", "waiting_period", "no_clause"] | None
    ) = Field(
        default=None,
        description="why a level that configures interest claims none on this notice: a German "
        "consumer not in default yet (§ 286 BGB), a Belgian consumer's free first reminder or "
        "its 14 days (art. XIX.2 WER), no interest clause in the contracts with Belgian "
        "consumers (configure_dunning belgian_consumers.interest_clause)",
    )
    interest_basis: Literal["de_business", "de_consumer", "be_business", "be_consumer"] | None = (
        Field(
            default=None,
            description="statutory interest: § 288 Abs. 2 BGB (base rate + 9 points), Abs. 1 "
            "(+ 5), Belgian law of 2 August 2002 (ECB rate + 8, rounded up to a half point); "
            "be_consumer: the level's fixed rate, each half-year at most the rate of art. 5 al. 2 "
            "of that law (art. XIX.4 WER); null: a fixed rate or no interest",
        )
    )
    interest_periods: list[InterestPeriodData] = Field(
        default_factory=list,
        description="the days of each rate, in order (one item for a fixed rate); each amount "
        "half-up on its own, while interest is the exact sum of all days rounded once",
    )
    earlier_costs: Decimal = Field(
        default=Decimal(0),
        description="what the invoice's earlier notices that were sent claimed beside the "
        "principal and interest (fees, flat compensation less fees credited), carried in total_due",
    )
    flat_compensation: Decimal = Field(
        default=Decimal(0),
        description="the EUR 40 flat compensation this notice claims (once per invoice; business "
        "debtors, EUR invoices)",
    )
    credited_to_compensation: Decimal = Field(
        default=Decimal(0),
        description="dunning fees credited against the flat compensation (§ 288 Abs. 5 Satz 3 "
        "BGB; art. 6 law of 2 August 2002), deducted in total_due",
    )
    flat_compensation_waived: Literal["consumer", "currency"] | None = Field(
        default=None,
        description="why the level's flat compensation is not claimed: the debtor is a "
        "consumer, or the invoice is not in EUR",
    )
    payment_deadline: dt.date | None = Field(
        default=None, description="the new deadline the notice sets (as_of + payment_days)"
    )
    total_due: Decimal = Field(
        description="open_amount + earlier_costs + fee + flat_compensation - "
        "credited_to_compensation + interest"
    )
    fee_waived: str | None = Field(
        default=None,
        description="why the level's fee is not charged (in full): currency (not in this "
        "currency), not_in_default (a German consumer not in default yet), first_reminder (a "
        "Belgian consumer's first reminder is free), waiting_period (its 14 days), no_clause "
        "(no damages clause in the contracts with Belgian consumers), cap (the legal scale of "
        "art. XIX.4 WER: costs_capped)",
    )
    costs_capped: Decimal = Field(
        default=Decimal(0),
        description="what the scale of art. XIX.4 WER cut off a Belgian consumer's fees (this "
        "level's, then the earlier notices' carried), not claimed",
    )
    free_until: dt.date | None = Field(
        default=None,
        description="a Belgian consumer's first reminder: the last of the 14 calendar days from "
        "the day after it was sent during which nothing but the balance may be claimed (art. "
        "XIX.2 WER); the notice states it",
    )
    announced_damages: Decimal | None = Field(
        default=None,
        description="a Belgian consumer's first reminder with a damages clause: the most the "
        "later levels' fees will claim if the balance stays unpaid past free_until (within the "
        "scale); the notice states it",
    )


class EinvoiceError(State):
    code: str
    detail: str


class IntegrationExportRecord(State):
    """The record ``export_invoice`` gave."""

    integration: str
    external_id: str
    url: str | None = None
    company_reference_id: str | None = None
    exported_at: dt.datetime


class CausedBy(State):
    command_type: str
    command_id: UUID


class ExportUpdateData(State):
    """What changed on an exported invoice that its integrations should update."""

    integrations: list[str]
    changes: list[str]
    detail: str | None = None
    source: Literal["command", "automatic"]
    caused_by: CausedBy


class ExportFileData(State):
    """One file of a DATEV export (a batch)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    bookings: int


# ----------------------------------------------------------------------------- event data


class InvoiceCreatedData(InvoiceEventData):
    duplicated_from: UUID | None = Field(default=None, description="duplicate_invoice: the source")
    replaces_invoice_id: UUID | None = Field(
        default=None, description="a correction: the invoice it replaces"
    )


class InvoiceUpdatedData(InvoiceEventData):
    credit_note_id: UUID | None = Field(
        default=None, description="the credit note just issued against it"
    )


class InvoiceSentData(InvoiceEventData):
    """Sent by email (``send_invoice``: the delivery members), marked sent, or shared."""

    first_delivery: bool
    channel: str = Field(description="email, other (mark_sent), share_link (publish_invoice)")
    delivery_id: UUID | None = Field(default=None, description="email only: the delivery job")
    message_id: str | None = None
    delivery_status: str | None = None
    recipients: Recipients | None = None
    refused_recipients: list[str] | None = None
    documents: list[DocumentRef] | None = Field(
        default=None, description="the documents, by reference (fetch them with get_document)"
    )
    einvoice_format: str | None = None


class InvoiceOverdueData(InvoiceEventData):
    days_overdue: int | None = None


class PaymentRecordedData(InvoiceEventData):
    payment: PaymentData
    send_notification: bool | None = Field(default=None, description="mark_paid only")
    notification: PaymentNotification | None = None


class PaymentDeletedData(InvoiceEventData):
    payment: PaymentData
    allocation: AllocationData | None = Field(
        default=None, description="a payment across invoices: the allocation taken off"
    )


class PaymentExchangeDifferenceData(InvoiceEventData):
    """A payment at another rate than the invoice's, as it is recorded. Its difference is the
    one of that moment: a later movement dated before it can move it by a cent without an
    event of its own (``normalized.exchange_difference`` of the invoice's later events has it;
    docs/arithmetic.md, "Realised exchange differences")."""

    payment: PaymentData
    exchange_difference: ExchangeDifferenceData


class PaymentConfirmationSentData(EmailDelivery):
    payment_id: UUID | None = None


class PaymentAllocatedData(InvoiceEventData):
    allocation: AllocationData


class CustomerPaymentEventData(State):
    payment: CustomerPaymentData


class CustomerCreditEventData(State):
    """A movement of a customer's credit; ``amount`` is positive (the type says which way)."""

    customer_id: UUID
    currency: str
    amount: Decimal
    balance: Decimal = Field(description="the customer's credit in the currency after it")
    entry: CreditEntryData


class CreditNoteIssuedData(InvoiceEventData):
    """``invoice``: the credit note."""

    credited_invoice_id: UUID | None = Field(default=None, description="absent: standalone")
    standalone: bool = False


class WriteOffEventData(InvoiceEventData):
    write_off: WriteOffData


class BillableEntryEventData(State):
    entry: BillableEntryData


class BudgetEventData(State):
    budget: BudgetData


class OrganizationConfiguredData(State):
    organization: dict[str, Any] = Field(
        description="the configure_organization payload as stored (VAT id, IBAN and BIC "
        "normalized), with its id"
    )
    created: bool


class SubsidiaryConfiguredData(State):
    subsidiary: dict[str, Any] = Field(
        description="the configure_subsidiary payload as stored (VAT id, IBAN and BIC "
        "normalized), with its id"
    )
    created: bool


class CustomerEventData(State):
    customer: dict[str, Any] = Field(
        description="the create_customer / update_customer payload as stored (VAT id "
        "normalized): id, email, locale and the rest"
    )


class DunningNoticeSentData(EmailDelivery):
    dunning: DunningNoticeData
    documents: list[DocumentRef] = Field(
        description="the documents, by reference (fetch them with get_document)"
    )


class DunningSettingsConfiguredData(State):
    organization_id: UUID
    dunning: dict[str, Any] = Field(description="the configure_dunning payload as stored")
    version: int


class DunningBlockData(State):
    """The block of an invoice's or a customer's dunning (one of the two ids)."""

    invoice_id: UUID | None = None
    customer_id: UUID | None = None
    until: dt.date | None = None
    reason: str | None = None


class InvoicePublishedData(InvoiceEventData):
    share_token: str = Field(description="the share link's token (shown once)")
    token_sha256: str
    expires_on: dt.date | None = None
    revoked_previous: int = Field(description="share links it revoked")


class InvoiceUnpublishedData(InvoiceEventData):
    revoked: int = Field(description="share links revoked")


class DocumentsStoredData(InvoiceEventData):
    purpose: str = Field(description="share: the documents the hosted page offers")
    delivery_id: UUID
    documents: list[DocumentRef] = Field(
        description="the documents, by reference (fetch them with get_document)"
    )
    einvoice_format: str | None = None
    einvoice_error: EinvoiceError | None = Field(
        default=None, description="why the e-invoice is missing (the official rules refused it)"
    )


class InvoiceExportedData(InvoiceEventData):
    export: IntegrationExportRecord
    previous: IntegrationExport | None = Field(
        default=None, description="the integration's record it replaces"
    )


class InvoiceExportUpdatedData(InvoiceEventData):
    export_update: ExportUpdateData


class DatevConfiguredData(State):
    organization_id: UUID
    subsidiary_id: str | None = Field(
        default=None,
        description="the subsidiary whose own DATEV client this is; null: the organization's",
    )
    datev: dict[str, Any] = Field(
        description="the configure_datev payload as stored (without debtor_accounts)"
    )
    version: int


class ExportCompletedData(State):
    """An export run (DATEV or CSV) and its file."""

    export_id: UUID
    kind: Literal["datev", "csv"]
    format: str | None = Field(default=None, description="datev: the EXTF format")
    date_from: dt.date | None = Field(default=None, description="datev only")
    date_to: dt.date | None = Field(default=None, description="datev only")
    subsidiary_id: str | None = Field(
        default=None,
        description="datev: the subsidiary whose own DATEV client was exported; null: the "
        "organization's client (its documents and those of subsidiaries without a client of "
        "their own)",
    )
    files: list[ExportFileData] | None = Field(default=None, description="datev: the batches")
    document: DocumentRef = Field(description="the file (fetch it with get_document)")
    checksum: str = Field(description="sha256:<hex> of the file")
    counts: dict[str, int]
    requested_by: str | None = None


#: every event type's ``data`` model
EVENT_DATA: dict[str, type[State]] = {
    "organization.configured": OrganizationConfiguredData,
    "customer.created": CustomerEventData,
    "customer.updated": CustomerEventData,
    "invoice.created": InvoiceCreatedData,
    "invoice.updated": InvoiceUpdatedData,
    "invoice.finalized": InvoiceEventData,
    "invoice.sent": InvoiceSentData,
    "invoice.delivery_failed": DeliveryFailedData,
    "invoice.overdue": InvoiceOverdueData,
    "invoice.paid": InvoiceEventData,
    "invoice.voided": InvoiceEventData,
    "invoice.deleted": InvoiceEventData,
    "invoice.restored": InvoiceEventData,
    "invoice.purged": InvoiceEventData,
    "payment.recorded": PaymentRecordedData,
    "payment.deleted": PaymentDeletedData,
    "payment.exchange_difference": PaymentExchangeDifferenceData,
    "payment.confirmation_sent": PaymentConfirmationSentData,
    "payment.allocated": PaymentAllocatedData,
    "customer_payment.recorded": CustomerPaymentEventData,
    "customer_payment.deleted": CustomerPaymentEventData,
    "customer_credit.added": CustomerCreditEventData,
    "customer_credit.applied": CustomerCreditEventData,
    "customer_credit.restored": CustomerCreditEventData,
    "customer_credit.removed": CustomerCreditEventData,
    "customer_credit.refunded": CustomerCreditEventData,
    "credit_note.issued": CreditNoteIssuedData,
    "invoice.written_off": WriteOffEventData,
    "invoice.write_off_reversed": WriteOffEventData,
    "billable_entry.recorded": BillableEntryEventData,
    "billable_entry.billed": BillableEntryEventData,
    "billable_entry.released": BillableEntryEventData,
    "budget.created": BudgetEventData,
    "budget.updated": BudgetEventData,
    "budget.closed": BudgetEventData,
    "subsidiary.configured": SubsidiaryConfiguredData,
    "dunning.notice_sent": DunningNoticeSentData,
    "dunning_settings.configured": DunningSettingsConfiguredData,
    "dunning_block.set": DunningBlockData,
    "dunning_block.lifted": DunningBlockData,
    "invoice.published": InvoicePublishedData,
    "invoice.unpublished": InvoiceUnpublishedData,
    "invoice.documents_stored": DocumentsStoredData,
    "invoice.exported": InvoiceExportedData,
    "invoice.export_updated": InvoiceExportUpdatedData,
    "datev.configured": DatevConfiguredData,
    "export.completed": ExportCompletedData,
    "command.rejected": RejectionData,
}
