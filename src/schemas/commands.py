"""Command documents: what upstream services may send.

Every command is one JSON object::

    {"type": "create_invoice", "command_id": "<uuid>", "organization_id": "<uuid>",
     "correlation_id": "optional", "credentials": {"token": "<signed token>"},
     "payload": {...}}

``command_id`` is the idempotency key. Clients choose the ids of new objects (an invoice's
``id``) so that follow-up commands can be sent without waiting for an answer. Money may be a
JSON number or a decimal string and is parsed exactly.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from invoicing.domain import calendar
from invoicing.domain.calc import DiscountKind
from invoicing.domain.contact import normalize_email
from invoicing.domain.tax import TaxCategory
from invoicing.schemas.common import (
    Address,
    Contract,
    CurrencyCode,
    Dec,
    Locale,
    NonNegativeDec,
    PeppolId,
    Percent,
    PositiveDec,
    Reference,
    SafeIntegers,
    ShortText,
    Text,
    VatId,
    rule_error,
)
from pydantic import Field, StringConstraints, field_validator, model_validator

READ = "invoices:read"
WRITE = "invoices:write"
ADMIN = "organizations:admin"

COMMAND_TYPES: dict[str, type[Command]] = {}


class Credentials(Contract):
    token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class Command(Contract):
    """The envelope shared by every command."""

    type: str
    command_id: UUID
    organization_id: UUID
    correlation_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    credentials: Credentials | None = None
    payload: Any

    #: the grant a publisher needs for this command
    scope: ClassVar[str] = WRITE

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        field = cls.model_fields.get("type")
        if field is not None and field.default is not None and isinstance(field.default, str):
            COMMAND_TYPES[field.default] = cls


# ----------------------------------------------------------------------------- shared payloads


class DiscountIn(Contract):
    type: DiscountKind
    value: NonNegativeDec = Field(
        description="percentage: 0 to 100; amount: in the invoice's currency, with no more "
        "decimals than it has (EUR 2, JPY none)"
    )

    @model_validator(mode="after")
    def _percent_range(self) -> DiscountIn:
        if self.type is DiscountKind.PERCENTAGE and self.value > 100:
            raise ValueError("a percentage discount must be between 0 and 100")
        return self


class LineIn(Contract):
    """An invoice line. ``unit_price`` is net or gross as the invoice's ``calculate_from_net``."""

    id: UUID | None = Field(default=None, description="client-chosen; derived when absent")
    description: ShortText = Field(description="the line's title, at most 185 characters")
    subtitle: Annotated[str, StringConstraints(max_length=185)] | None = None
    quantity: PositiveDec
    unit: Annotated[str, StringConstraints(max_length=30)] = Field(
        default="piece", examples=["hours", "day", "piece", "HUR"]
    )
    unit_price: Dec
    tax_rate: Percent | None = Field(default=None, description="percent; organization default")
    tax_category: TaxCategory = TaxCategory.STANDARD
    discount: DiscountIn | None = None
    billable_entry_ids: list[Reference] = Field(
        default_factory=list,
        max_length=500,
        description="the billable entries this line bills, each once: an entry is billed by "
        "one line (entry_billed when another line of the invoice or another invoice bills it)",
    )
    budget_id: Reference | None = Field(
        default=None,
        description="the budget the line is attributed to (create_budget): its net amount "
        "counts as invoiced against the budget (seed 002 invoice_attribution)",
    )
    service_id: Reference | None = Field(
        default=None, description="the service of that budget the line is attributed to"
    )

    @field_validator("billable_entry_ids")
    @classmethod
    def _entries_once(cls, value: list[str]) -> list[str]:
        return distinct_ids(value)


def distinct_ids(value: list[str]) -> list[str]:
    """A list of ids that names each once (an entry billed twice would be charged twice, a
    budget billed twice in one selection likewise)."""
    if len(set(value)) != len(value):
        raise ValueError("holds an id twice")
    return value


class Period(Contract):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")
        return self


# ----------------------------------------------------------------------------- organizations


class SeriesSettings(Contract):
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=30)] = Field(
        examples=["RE-{YYYY}-{SEQ:3}", "INV-{YYYY}-{SEQ:4}", "{SEQ}/{YYYY}"]
    )
    yearly_reset: bool = True


class ExtraTaxRate(Contract):
    """A VAT rate the organization adds to its country's table (docs/arithmetic.md)."""

    rate: Annotated[Dec, Field(gt=0, le=100)] = Field(description="percent, e.g. 13")
    valid_from: dt.date | None = Field(default=None, description="first tax point date")
    valid_to: dt.date | None = Field(default=None, description="last tax point date")

    @model_validator(mode="after")
    def _ordered(self) -> ExtraTaxRate:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class BankAccountIn(Contract):
    """One of the organization's bank accounts; invoices choose one by ``id``."""

    id: Reference = Field(examples=["main", "usd-account"])
    iban: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    bic: Annotated[str, StringConstraints(max_length=11)] | None = None
    bank_name: Annotated[str, StringConstraints(max_length=100)] | None = None


class OrganizationPayload(Contract):
    name: ShortText
    address: Address
    vat_id: VatId | None = None
    tax_number: Annotated[str, StringConstraints(max_length=30)] | None = None
    registration: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, examples=["Amtsgericht Köln HRB 12345", "RPR Brussel 0403.019.261"]
    )
    managing_directors: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None
    website: Annotated[str, StringConstraints(max_length=200)] | None = None
    iban: Annotated[str, StringConstraints(max_length=40)] | None = None
    bic: Annotated[str, StringConstraints(max_length=11)] | None = None
    bank_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    peppol_id: PeppolId | None = Field(
        default=None,
        examples=["0208:0776057012", "0088:4035811991014"],
        description="the seller's Peppol participant id, EAS scheme:identifier (BT-34); "
        "default: the Belgian enterprise number (0208) or the VAT id",
    )
    bank_accounts: list[BankAccountIn] = Field(
        default_factory=list,
        max_length=20,
        description="further accounts an invoice may name with bank_account_id (seed 002); "
        "iban/bic/bank_name above stay the default",
    )
    default_currency: CurrencyCode = "EUR"
    default_locale: Locale = "de"
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        examples=["Europe/Berlin"],
        description="IANA time zone of the organization's calendar day (the date a finalize or "
        "payment without one takes); default the zone of the address's country (DE "
        "Europe/Berlin, BE Europe/Brussels ...), else UTC",
    )
    default_tax_rate: Percent | None = Field(default=None, description="19 in DE, 21 in BE")
    extra_tax_rates: list[ExtraTaxRate] = Field(
        default_factory=list,
        max_length=20,
        description="rates beyond the legal table of the seller's country (DE, BE), "
        "which otherwise rejects any other standard rate",
    )
    allow_negative_totals: bool = Field(
        default=False,
        description="finalize invoices whose total is negative (otherwise rejected: "
        "issue a credit note instead)",
    )
    default_payment_terms_days: Annotated[int, Field(ge=0, le=365)] = 14
    small_business: bool = Field(
        default=False, description="§ 19 UStG / art. 56bis: no VAT charged, note printed"
    )
    einvoice_format: Literal["none", "xrechnung_cii", "xrechnung_ubl", "zugferd", "peppol"] = Field(
        default="none", description="e-invoice attached when the customer sets none"
    )
    number_series: dict[Literal["invoice", "credit_note", "quote"], SeriesSettings] = Field(
        default_factory=dict,
        description="a kind not given is numbered in the default series of the organization's "
        "country (DE: RE-, GS-, AN-{YYYY}-{SEQ:4}; BE: F-, CN-, OF-{YYYY}-{SEQ:4}; others the "
        "German ones), fixed with its first number (the profile's numbering_country)",
    )
    tax_notes: dict[str, dict[Locale, Text]] = Field(
        default_factory=dict, description="override legal notes per tax category and locale"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and not calendar.is_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)")
        return value


class ConfigureOrganization(Command):
    """Create or update the organization's legal identity and defaults."""

    type: Literal["configure_organization"] = "configure_organization"
    payload: OrganizationPayload
    scope: ClassVar[str] = ADMIN


class SubsidiaryPayload(Contract):
    """A billing entity's own seller data: what the documents it issues print as the seller."""

    id: Reference = Field(examples=["sub-be", "kanzlei-berlin"])
    name: ShortText
    address: Address
    vat_id: VatId | None = None
    tax_number: Annotated[str, StringConstraints(max_length=30)] | None = None
    registration: Annotated[str, StringConstraints(max_length=200)] | None = None
    managing_directors: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        default=None, description="default: the organization's"
    )
    phone: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None, description="default: the organization's"
    )
    website: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="default: the organization's"
    )
    iban: Annotated[str, StringConstraints(max_length=40)] | None = None
    bic: Annotated[str, StringConstraints(max_length=11)] | None = None
    bank_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    peppol_id: PeppolId | None = Field(
        default=None, description="the subsidiary's Peppol participant id (BT-34)"
    )
    bank_accounts: list[BankAccountIn] = Field(
        default_factory=list,
        max_length=20,
        description="accounts an invoice of this subsidiary may name with bank_account_id",
    )
    default_tax_rate: Percent | None = Field(
        default=None, description="default: the organization's"
    )
    small_business: bool = False
    number_series: dict[Literal["invoice", "credit_note", "quote"], SeriesSettings] = Field(
        default_factory=dict,
        description="the subsidiary's own gapless series; a kind without one is numbered in "
        "the organization's series",
    )


class ConfigureSubsidiary(Command):
    """Create or replace a subsidiary: a billing entity of the organization (seed 002
    subsidiary) with its own seller data, bank accounts and number series."""

    type: Literal["configure_subsidiary"] = "configure_subsidiary"
    payload: SubsidiaryPayload
    scope: ClassVar[str] = ADMIN


# ----------------------------------------------------------------------------- customers


MultiSelect = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=200)]], Field(max_length=100)
]
CustomFieldInput = Annotated[str | int | bool | MultiSelect | None, SafeIntegers]


class CustomerPayload(Contract):
    given_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    family_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    company: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    locale: Locale
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None
    mobile: Annotated[str, StringConstraints(max_length=50)] | None = None
    address: Address | None = None
    vat_id: VatId | None = None
    customer_type: Literal["business", "consumer"] | None = Field(
        default=None,
        description="what the debtor is, for dunning (statutory interest rate, the EUR 40 flat "
        "compensation); null: a business if it has a VAT id, else a consumer (the lower claim)",
    )
    buyer_reference: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None, description="Leitweg-ID for German public buyers (BT-10)"
    )
    peppol_id: PeppolId | None = Field(
        default=None, examples=["0208:0403019261"], description="scheme:identifier (EAS)"
    )
    einvoice_format: (
        Literal["none", "xrechnung_cii", "xrechnung_ubl", "zugferd", "peppol"] | None
    ) = Field(default=None, description="null: the organization's default")
    custom_fields: dict[str, CustomFieldInput] = Field(
        default_factory=dict,
        max_length=100,
        description="text, whole number (at most 2^53 - 1 either way: larger ones as texts), "
        "checkbox (true/false), null, or a multi-select list of texts",
    )

    # the contact rule (domain.organization.check_contact, which the handler applies and
    # normalizes with) checked here too, so one rejection names every bad field (the VAT id:
    # schemas.common.VatId)
    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if normalize_email(value) is None:
            raise rule_error(
                "invalid_attribute",
                f"{value} is not an email",
                "send an email address such as billing@example.com",
            )
        return value


class CreateCustomer(Command):
    type: Literal["create_customer"] = "create_customer"

    class Payload(CustomerPayload):
        id: UUID

    payload: Payload


class UpdateCustomer(Command):
    """Replace a customer's data (documents already sent keep their snapshot)."""

    type: Literal["update_customer"] = "update_customer"

    class Payload(CustomerPayload):
        id: UUID

    payload: Payload


# ----------------------------------------------------------------------------- invoices


class InvoiceFields(Contract):
    customer_id: UUID | None = None
    case_id: Reference | None = Field(default=None, description="case/matter (legal practices)")
    project_reference: Reference | None = None
    purchase_order_number: Reference | None = None
    creator_id: Reference | None = Field(
        default=None, description="who created it: an opaque person id of the publisher"
    )
    issuer_id: Reference | None = Field(
        default=None, description="who issues it; on create defaults to creator_id"
    )
    responsible_id: Reference | None = Field(default=None, description="opaque person id")
    subscriber_ids: list[Reference] = Field(
        default_factory=list, max_length=50, description="opaque person ids following it"
    )
    deal_id: Reference | None = Field(default=None, description="opaque CRM deal/budget id")
    subsidiary_id: Reference | None = Field(
        default=None,
        description="the billing entity (configure_subsidiary) issuing the invoice: its seller "
        "data, bank accounts and number series go into the document at finalize",
    )
    subject: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="the document's subject line (seed 002 subject)"
    )
    recipient_text: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None,
        description="free-text recipient block for the document (seed 001 recipient); the "
        "buyer snapshot and the e-invoice still come from the customer",
    )
    invoicing_party_text: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="free-text block of the invoicing party (seed 001)"
    )
    vat_number: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        default=None,
        description="the buyer's VAT id on this invoice (seed 001 vat_number): checked, and "
        "put into the buyer snapshot at finalize instead of the customer's",
    )
    bank_account_id: Reference | None = Field(
        default=None,
        description="one of the organization's bank_accounts (of the subsidiary's, when the "
        "invoice names one): its IBAN, BIC and bank go into the seller snapshot at finalize "
        "(seed 002 bank_account)",
    )
    currency: CurrencyCode | None = Field(default=None, description="organization default")
    issue_date: dt.date | None = Field(default=None, description="set at finalize when absent")
    due_date: dt.date | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    delivery_date: dt.date | None = Field(default=None, description="Leistungsdatum (BT-72)")
    service_period: Period | None = None
    calculate_from_net: bool = True
    locale: Locale | None = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    footer: Annotated[str, StringConstraints(max_length=2000)] | None = None
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=50
    )
    custom_fields: dict[str, CustomFieldInput] = Field(
        default_factory=dict,
        max_length=100,
        description="text, whole number (at most 2^53 - 1 either way: larger ones as texts), "
        "checkbox (true/false), null, or a multi-select list of texts",
    )
    discount: DiscountIn | None = None
    exchange_rate: PositiveDec | None = Field(
        default=None, description="organization currency units per 1 unit of `currency`"
    )
    exchange_rate_date: dt.date | None = Field(
        default=None,
        description="the day the rate applies to (§ 16 Abs. 6 UStG); the issue date when absent",
    )

    @model_validator(mode="after")
    def _due(self) -> InvoiceFields:
        if self.due_date and self.issue_date and self.due_date < self.issue_date:
            raise ValueError("due_date is before issue_date")
        return self


class CreateInvoice(Command):
    """Create a draft invoice (or a quote with ``is_quote``)."""

    type: Literal["create_invoice"] = "create_invoice"

    class Payload(InvoiceFields):
        id: UUID
        is_quote: bool = False
        number: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
            default=None, description="manual number; must be unique in the organization"
        )
        lines: list[LineIn] = Field(default_factory=list, max_length=1000)
        time_entry_ids: list[Reference] = Field(
            default_factory=list,
            max_length=1000,
            description="recorded billable entries this invoice bills (seed 000): without "
            "`lines`, each becomes a line; with `lines`, the first line carries them",
        )

        @field_validator("time_entry_ids")
        @classmethod
        def _distinct_entries(cls, value: list[str]) -> list[str]:
            return distinct_ids(value)

    payload: Payload


class UpdateInvoice(Command):
    """Change a draft. Only the fields present are changed; ``lines`` replaces all lines."""

    type: Literal["update_invoice"] = "update_invoice"

    class Payload(InvoiceFields):
        id: UUID
        number: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = None
        lines: list[LineIn] | None = Field(default=None, max_length=1000)

    payload: Payload


class AddLine(Command):
    type: Literal["add_line"] = "add_line"

    class Payload(Contract):
        invoice_id: UUID
        line: LineIn

    payload: Payload


class RemoveLine(Command):
    type: Literal["remove_line"] = "remove_line"

    class Payload(Contract):
        invoice_id: UUID
        line_id: UUID

    payload: Payload


class InvoiceRef(Contract):
    invoice_id: UUID


class DeleteInvoice(Command):
    """Move a draft to the trash (restorable); finalized invoices are voided instead."""

    type: Literal["delete_invoice"] = "delete_invoice"
    payload: InvoiceRef


class RestoreInvoice(Command):
    type: Literal["restore_invoice"] = "restore_invoice"
    payload: InvoiceRef


class PurgeInvoice(Command):
    """Remove a trashed draft for good."""

    type: Literal["purge_invoice"] = "purge_invoice"
    payload: InvoiceRef


class FinalizeInvoice(Command):
    """Assign the number (gapless per series) and freeze the content."""

    type: Literal["finalize_invoice"] = "finalize_invoice"

    class Payload(InvoiceRef):
        issue_date: dt.date | None = Field(default=None, description="defaults to today")

    payload: Payload


class MarkSent(Command):
    """The invoice was delivered another way; a draft is finalized first."""

    type: Literal["mark_sent"] = "mark_sent"

    class Payload(InvoiceRef):
        sent_on: dt.date | None = None

    payload: Payload


PaymentMethod = Literal[
    "bank_transfer", "cash", "card", "direct_debit", "paypal", "cheque", "offset", "other"
]


class AllocationIn(Contract):
    """One invoice and the part of the payment it receives."""

    invoice_id: UUID
    amount: PositiveDec


class RecordPayment(Command):
    """Money received: for one invoice (``invoice_id``), or from a customer across invoices
    (``customer_id`` and/or ``allocations``): allocated as listed, else oldest due first
    (§ 366 Abs. 2 BGB); what is left becomes the customer's unapplied credit
    (docs/arithmetic.md, "Payments across invoices")."""

    type: Literal["record_payment"] = "record_payment"

    class Payload(Contract):
        invoice_id: UUID | None = Field(
            default=None, description="a payment of one invoice (not with customer_id)"
        )
        customer_id: UUID | None = Field(
            default=None,
            description="a payment across this customer's invoices; derived from allocations",
        )
        allocations: list[AllocationIn] | None = Field(
            default=None,
            min_length=1,
            max_length=500,
            description="explicit allocations; without them: oldest due first",
        )
        currency: CurrencyCode | None = Field(
            default=None,
            description="across invoices: the payment's currency (default: the first "
            "allocated invoice's, else the organization's)",
        )
        payment_id: UUID | None = Field(
            default=None,
            description="client-chosen (used once: a deleted payment's id is refused with "
            "payment_exists); derived from the command id when absent",
        )
        amount: PositiveDec
        date: dt.date
        method: PaymentMethod = "bank_transfer"
        reference: Annotated[str, StringConstraints(max_length=140)] | None = None
        keep_overpayment_as_credit: bool = Field(
            default=False,
            description="one invoice: accept more than the open amount, kept as credit on it",
        )
        exchange_rate: PositiveDec | None = Field(
            default=None,
            description="foreign-currency invoices: organization currency units per 1 unit of "
            "the invoice currency the money came in at (the bank's rate on the payment's date); "
            "absent: the invoice's frozen rate. Another rate than the invoice's records the "
            "realised exchange difference (event payment.exchange_difference, DATEV booking)",
        )

        @model_validator(mode="after")
        def _target(self) -> RecordPayment.Payload:
            across = self.customer_id is not None or self.allocations is not None
            if self.invoice_id is not None and across:
                raise ValueError(
                    "give invoice_id for one invoice, or customer_id/allocations across "
                    "invoices, not both"
                )
            if self.invoice_id is None and not across:
                raise ValueError("give invoice_id, or customer_id and/or allocations")
            if across and self.keep_overpayment_as_credit:
                raise ValueError(
                    "across invoices what is not allocated always becomes the customer's "
                    "unapplied credit: leave keep_overpayment_as_credit out"
                )
            if across and self.exchange_rate is not None:
                raise ValueError(
                    "a payment across invoices is booked at each invoice's frozen rate: record "
                    "money received at another rate per invoice (invoice_id) with exchange_rate"
                )
            return self

    payload: Payload


class DeletePayment(Command):
    """Delete a payment: of one invoice, or a customer payment with all its allocations and
    the unapplied credit it created."""

    type: Literal["delete_payment"] = "delete_payment"

    class Payload(Contract):
        invoice_id: UUID | None = Field(
            default=None, description="the invoice of a one-invoice payment"
        )
        payment_id: UUID

    payload: Payload


class ApplyCustomerCredit(Command):
    """Apply part of a customer's unapplied credit to one of its invoices (a payment on the
    invoice, method ``customer_credit``; delete_payment of it gives the credit back)."""

    type: Literal["apply_customer_credit"] = "apply_customer_credit"

    class Payload(Contract):
        customer_id: UUID
        invoice_id: UUID
        amount: PositiveDec | None = Field(
            default=None, description="default: as much as the credit and the invoice allow"
        )
        date: dt.date | None = Field(default=None, description="defaults to today")
        payment_id: UUID | None = Field(
            default=None, description="the payment on the invoice; client-chosen; derived"
        )

    payload: Payload


class RefundCustomerCredit(Command):
    """Pay unapplied credit back to the customer."""

    type: Literal["refund_customer_credit"] = "refund_customer_credit"

    class Payload(Contract):
        customer_id: UUID
        currency: CurrencyCode
        amount: PositiveDec | None = Field(default=None, description="default: all of it")
        date: dt.date
        method: PaymentMethod = "bank_transfer"
        reference: Annotated[str, StringConstraints(max_length=140)] | None = None
        refund_id: UUID | None = Field(default=None, description="client-chosen; derived")

    payload: Payload


class MarkPaid(Command):
    """Record the open remainder as one payment."""

    type: Literal["mark_paid"] = "mark_paid"

    class Payload(InvoiceRef):
        date: dt.date | None = None
        method: PaymentMethod = "other"
        reference: Annotated[str, StringConstraints(max_length=140)] | None = None
        send_notification: bool = False

    payload: Payload


class VoidInvoice(Command):
    """Issue a credit note for the open amount, then void the invoice. The credit note is dated
    today, or on the invoice's issue date when that is later."""

    type: Literal["void_invoice"] = "void_invoice"

    class Payload(InvoiceRef):
        credit_note_id: UUID | None = None
        reason: Annotated[str, StringConstraints(max_length=500)] | None = None

    payload: Payload


WriteOffReason = Literal["uncollectible", "small_difference", "cash_discount"]


class WriteOffInvoice(Command):
    """Write off part or all of what is open; VAT is corrected per tax group (§ 17 UStG).

    ``uncollectible``: the receivable is lost (§ 17 Abs. 2 Nr. 1 UStG; in Belgium art. 77
    § 1, 7° Code TVA, whose conditions the seller must meet); ``small_difference``: a short
    payment accepted as a price reduction (§ 17 Abs. 1); ``cash_discount``: Skonto taken by the
    customer (§ 17 Abs. 1). See docs/arithmetic.md.
    """

    type: Literal["write_off_invoice"] = "write_off_invoice"

    class Payload(InvoiceRef):
        write_off_id: UUID | None = Field(
            default=None,
            description="client-chosen, once in the organization (write_off_exists); derived "
            "from the command id when absent",
        )
        amount: PositiveDec | None = Field(
            default=None, description="gross; null writes off everything that is open"
        )
        date: dt.date = Field(
            description="the day of the write-off (period of the correction); not before the "
            "invoice's issue date (date_before_invoice)"
        )
        reason: WriteOffReason
        ground: Literal["insolvency", "definitive_loss"] | None = Field(
            default=None,
            description="uncollectible: what the loss rests on. A Belgian seller recovers the "
            "VAT on the customer's insolvency (bankruptcy, judicial reorganisation), on a loss "
            "shown definitive, or (without a ground) a year after the due date; art. 77 § 1, "
            "7° Code TVA. German sellers need none (§ 17 Abs. 2 Nr. 1 UStG)",
        )
        note: Annotated[str, StringConstraints(max_length=500)] | None = None

    payload: Payload


class ReverseWriteOff(Command):
    """Undo a write-off because the money arrives after all (§ 17 Abs. 2 Nr. 1 Satz 2 UStG):
    the amount is open again and its VAT owed again; then record the payment."""

    type: Literal["reverse_write_off"] = "reverse_write_off"

    class Payload(InvoiceRef):
        write_off_id: UUID
        date: dt.date = Field(
            description="the day of the reversal; not before the invoice's issue date "
            "(date_before_invoice)"
        )

    payload: Payload


class CreditLineIn(LineIn):
    pass


class IssueCreditNote(Command):
    """Full (no ``lines``) or partial credit note, numbered in its own series."""

    type: Literal["issue_credit_note"] = "issue_credit_note"

    class Payload(InvoiceRef):
        credit_note_id: UUID | None = None
        reason: Annotated[str, StringConstraints(max_length=500)] | None = None
        issue_date: dt.date | None = Field(
            default=None,
            description="not before the invoice's issue date (date_before_invoice); defaults to "
            "today, or to the invoice's issue date when that is later",
        )
        lines: list[CreditLineIn] | None = Field(default=None, max_length=1000)

    payload: Payload


class IssueStandaloneCreditNote(Command):
    """A credit note tied to no single invoice (a goodwill credit, a bonus, a price reduction
    over a period), numbered in the credit-note series, with its own reason. Its lines' rates
    are checked like an invoice's."""

    type: Literal["issue_standalone_credit_note"] = "issue_standalone_credit_note"

    class Payload(Contract):
        credit_note_id: UUID
        customer_id: UUID
        reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
        issue_date: dt.date | None = Field(default=None, description="defaults to today")
        currency: CurrencyCode | None = Field(default=None, description="organization default")
        exchange_rate: PositiveDec | None = None
        calculate_from_net: bool = True
        delivery_date: dt.date | None = Field(default=None, description="tax point (BT-72)")
        lines: list[CreditLineIn] = Field(min_length=1, max_length=1000)

    payload: Payload


class ChangeRecipient(Command):
    """Credit the original in full and create a linked draft for the new customer. The credit
    note is dated today, or on the invoice's issue date when that is later. The draft's lines
    bill the original's billable entries and keep their budget attribution."""

    type: Literal["change_recipient"] = "change_recipient"

    class Payload(InvoiceRef):
        customer_id: UUID
        new_invoice_id: UUID
        credit_note_id: UUID | None = None

    payload: Payload


class DuplicateInvoice(Command):
    """A new draft with the same customer and lines (a quote can become an invoice)."""

    type: Literal["duplicate_invoice"] = "duplicate_invoice"

    class Payload(InvoiceRef):
        new_invoice_id: UUID
        is_quote: bool | None = Field(default=None, description="null: same kind as source")

    payload: Payload


class Batch(Command):
    """One action over many invoices; each id succeeds or is rejected on its own.

    ``restore`` and ``purge`` act on drafts in the trash (seed 003 ``POST /invoices/trash/batch``).
    """

    type: Literal["batch"] = "batch"

    class Payload(Contract):
        action: Literal["delete", "finalize", "mark_sent", "void", "restore", "purge"]
        invoice_ids: list[UUID] = Field(
            min_length=1, max_length=500, description="each invoice once"
        )

        @field_validator("invoice_ids")
        @classmethod
        def _each_once(cls, value: list[UUID]) -> list[UUID]:
            # a second mention was acted on again and reported as its own failure (e.g.
            # not_in_trash after the first restored it): a partial rejection for nothing
            if len(set(value)) != len(value):
                raise ValueError("holds an id twice")
            return value

    payload: Payload


class CheckOverdue(Command):
    """Flag unpaid invoices past their due date (sent by the scheduler)."""

    type: Literal["check_overdue"] = "check_overdue"

    class Payload(Contract):
        as_of: dt.date

    payload: Payload


# ----------------------------------------------------------------------------- billable work


class RecordBillableEntry(Command):
    """A time entry or expense from time tracking, stored once per source id."""

    type: Literal["record_billable_entry"] = "record_billable_entry"

    class Payload(Contract):
        id: Reference = Field(description="the source system's id, e.g. tte_01")
        kind: Literal["time", "expense"] = "time"
        customer_id: UUID | None = None
        case_id: Reference | None = None
        project_reference: Reference | None = None
        date: dt.date
        description: ShortText
        quantity: PositiveDec = Field(description="hours for time entries")
        unit: Annotated[str, StringConstraints(max_length=30)] = "hours"
        unit_price: NonNegativeDec
        currency: CurrencyCode | None = None
        tax_rate: Percent | None = None
        tax_category: TaxCategory = TaxCategory.STANDARD
        budget_id: Reference | None = Field(
            default=None, description="the budget the work is on (create_budget)"
        )
        service_id: Reference | None = Field(
            default=None, description="the budget's service the work is on"
        )

    payload: Payload


PercentageValue = Annotated[Dec, Field(gt=0, le=100, decimal_places=4)]
DisplayFormat = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class BudgetSelection(Contract):
    """Seed 002's preview parameters: which budgets, by which method, printed how.

    The same object drives the query ``preview_invoice`` and the command
    ``invoice_billable_entries`` (``budget``), so what is previewed is what is billed."""

    budget_ids: list[Reference] = Field(min_length=1, max_length=100)
    invoicing_method: Literal["uninvoiced_time_and_expenses", "uninvoiced_amount", "percentage"]
    invoicing_by: Literal["service", "budget"] | None = Field(
        default=None,
        description="group lines by service or by budget; required for uninvoiced_amount and "
        "percentage; without it uninvoiced_time_and_expenses bills one line per entry",
    )
    percentage: PercentageValue | None = Field(
        default=None,
        description="percent of each budget's (service's) amount; required for percentage",
    )
    display_format: DisplayFormat | None = Field(
        default=None,
        examples=["{budget}", "{service} {date_from} – {date_to}"],
        description="line title; placeholders {service} {budget} {description} {date} "
        "{date_from} {date_to} {quantity} {unit} {percentage}; default {service} or {budget} "
        "(per entry: {description} ({date}))",
    )
    expense_display_format: DisplayFormat | None = Field(
        default=None, examples=["{expense}"], description="title of expense lines"
    )
    locale: Annotated[str, StringConstraints(min_length=2, max_length=20)] | None = Field(
        default=None,
        examples=["en_US", "de_DE"],
        description="CLDR locale of the numbers and dates in titles; default the organization's "
        "default_locale",
    )
    date_from: dt.date | None = Field(default=None, description="entries from this day")
    date_to: dt.date | None = Field(default=None, description="entries up to this day")

    @field_validator("budget_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return distinct_ids(value)

    @model_validator(mode="after")
    def _dates(self) -> BudgetSelection:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        return self


class InvoiceBillableEntries(Command):
    """Turn uninvoiced entries into lines of a draft (one line per entry), marking them billed;
    or, with ``budget``, bill budgets by a seed-002 method: the lines ``preview_invoice`` shows
    for the same selection, attributed to their budgets, their entries marked billed."""

    type: Literal["invoice_billable_entries"] = "invoice_billable_entries"

    class Payload(Contract):
        invoice_id: UUID
        entry_ids: list[Reference] = Field(default_factory=list, max_length=1000)
        budget: BudgetSelection | None = None

        @field_validator("entry_ids")
        @classmethod
        def _entries_once(cls, value: list[str]) -> list[str]:
            return distinct_ids(value)

        @model_validator(mode="after")
        def _one_selection(self) -> InvoiceBillableEntries.Payload:
            if bool(self.entry_ids) == (self.budget is not None):
                raise ValueError("give either entry_ids or budget")
            return self

    payload: Payload


# ----------------------------------------------------------------------------- budgets


class ServiceIn(Contract):
    """A service of a budget (seed 002 services): a part of its amount with its own name."""

    id: Reference
    name: ShortText
    amount: NonNegativeDec
    tax_rate: Percent | None = Field(default=None, description="default: the budget's")
    tax_category: TaxCategory | None = Field(default=None, description="default: the budget's")


class BudgetFields(Contract):
    name: ShortText = Field(description="printed by the {budget} placeholder")
    customer_id: UUID | None = None
    case_id: Reference | None = Field(default=None, description="the case/matter it belongs to")
    project_reference: Reference | None = Field(default=None, description="the project")
    amount: NonNegativeDec = Field(description="net revenue budgeted, in currency")
    period: Period | None = None
    tax_rate: Percent | None = Field(
        default=None, description="of budget lines; default the organization's default_tax_rate"
    )
    tax_category: TaxCategory = TaxCategory.STANDARD
    services: list[ServiceIn] = Field(
        default_factory=list,
        max_length=100,
        description="when given, their amounts add up to the budget's amount",
    )


class CreateBudget(Command):
    """A budget of a case or project: amount, currency, period, services."""

    type: Literal["create_budget"] = "create_budget"

    class Payload(BudgetFields):
        id: Reference
        currency: CurrencyCode | None = Field(default=None, description="organization default")

    payload: Payload


class UpdateBudget(Command):
    """Change an open budget; only the fields present change. The amount never goes below what
    is invoiced against it."""

    type: Literal["update_budget"] = "update_budget"

    class Payload(Contract):
        id: Reference
        name: ShortText | None = None
        customer_id: UUID | None = None
        case_id: Reference | None = None
        project_reference: Reference | None = None
        amount: NonNegativeDec | None = None
        period: Period | None = None
        tax_rate: Percent | None = None
        tax_category: TaxCategory | None = None
        services: list[ServiceIn] | None = Field(default=None, max_length=100)

    payload: Payload


class CloseBudget(Command):
    """Close a budget: it is no longer invoiced or changed (its invoices stay)."""

    type: Literal["close_budget"] = "close_budget"

    class Payload(Contract):
        id: Reference

    payload: Payload


def command_types() -> dict[str, type[Command]]:
    return dict(COMMAND_TYPES)
