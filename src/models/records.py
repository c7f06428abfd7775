"""What reading an invoice needs of its row, whoever loaded it.

``InvoiceRecord`` (with ``LineRecord`` and ``PaymentRecord``) is the read-only shape that
``handlers.views.invoice_state`` and the ledger helpers map to the outside world. The ORM
classes (``Invoice``, ``InvoiceLine``, ``Payment``) have it, and so do the plain rows the list
queries load with SQLAlchemy Core (``queries.rows``): one mapping for both, no ORM
instrumentation on the read path. Types are those of the mapped columns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol


class OrganizationRecord(Protocol):
    """An organization (or a subsidiary's billing entity) as the document rules read it: an
    ORM ``Organization`` or the plain row ``handlers.repository.organization_row`` loads."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def name(self) -> str: ...

    @property
    def profile(self) -> dict[str, Any]: ...

    @property
    def created_at(self) -> dt.datetime: ...

    @property
    def updated_at(self) -> dt.datetime: ...


class CustomerRecord(Protocol):
    """A customer as the drafting and finalize rules read it (ORM ``Customer`` or a row)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def email(self) -> str: ...

    @property
    def locale(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


class LineRecord(Protocol):
    """An invoice line as ``invoice_state`` reads it."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def invoice_id(self) -> uuid.UUID: ...

    @property
    def position(self) -> int: ...

    @property
    def description(self) -> str: ...

    @property
    def subtitle(self) -> str | None: ...

    @property
    def quantity(self) -> Decimal: ...

    @property
    def unit(self) -> str: ...

    @property
    def unit_price(self) -> Decimal: ...

    @property
    def tax_category(self) -> str: ...

    @property
    def tax_rate(self) -> Decimal: ...

    @property
    def discount(self) -> dict[str, Any] | None: ...

    @property
    def base_amount(self) -> Decimal: ...

    @property
    def discount_amount(self) -> Decimal: ...

    @property
    def amount(self) -> Decimal: ...

    @property
    def net_amount(self) -> Decimal: ...

    @property
    def billable_entry_ids(self) -> list[Any]: ...

    @property
    def budget_id(self) -> str | None: ...

    @property
    def service_id(self) -> str | None: ...


class PaymentRecord(Protocol):
    """A payment of an invoice as ``invoice_state`` reads it."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def invoice_id(self) -> uuid.UUID: ...

    @property
    def amount(self) -> Decimal: ...

    @property
    def date(self) -> dt.date: ...

    @property
    def method(self) -> str: ...

    @property
    def reference(self) -> str | None: ...

    @property
    def recorded_at(self) -> dt.datetime: ...

    @property
    def customer_payment_id(self) -> uuid.UUID | None: ...

    @property
    def credit_entry_id(self) -> uuid.UUID | None: ...

    @property
    def exchange_rate(self) -> Decimal | None: ...


class InvoiceRecord(Protocol):
    """An invoice row with its lines (by position) and payments (by recording time)."""

    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def kind(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def number(self) -> str | None: ...

    @property
    def issue_date(self) -> dt.date | None: ...

    @property
    def due_date(self) -> dt.date | None: ...

    @property
    def payment_terms_days(self) -> int | None: ...

    @property
    def delivery_date(self) -> dt.date | None: ...

    @property
    def service_period_start(self) -> dt.date | None: ...

    @property
    def service_period_end(self) -> dt.date | None: ...

    @property
    def currency(self) -> str: ...

    @property
    def calculate_from_net(self) -> bool: ...

    @property
    def locale(self) -> str: ...

    @property
    def customer_id(self) -> uuid.UUID | None: ...

    @property
    def buyer(self) -> dict[str, Any] | None: ...

    @property
    def seller(self) -> dict[str, Any] | None: ...

    @property
    def case_id(self) -> str | None: ...

    @property
    def project_reference(self) -> str | None: ...

    @property
    def purchase_order_number(self) -> str | None: ...

    @property
    def creator_id(self) -> str | None: ...

    @property
    def issuer_id(self) -> str | None: ...

    @property
    def responsible_id(self) -> str | None: ...

    @property
    def subscriber_ids(self) -> list[Any]: ...

    @property
    def deal_id(self) -> str | None: ...

    @property
    def subsidiary_id(self) -> str | None: ...

    @property
    def subject(self) -> str | None: ...

    @property
    def recipient_text(self) -> str | None: ...

    @property
    def invoicing_party_text(self) -> str | None: ...

    @property
    def vat_number(self) -> str | None: ...

    @property
    def bank_account_id(self) -> str | None: ...

    @property
    def invoicing_method(self) -> str | None: ...

    @property
    def notes(self) -> str | None: ...

    @property
    def footer(self) -> str | None: ...

    @property
    def tags(self) -> list[Any]: ...

    @property
    def custom_fields(self) -> dict[str, Any]: ...

    @property
    def discount(self) -> dict[str, Any] | None: ...

    @property
    def tax_breakdown(self) -> list[Any]: ...

    @property
    def legal_notes(self) -> list[Any]: ...

    @property
    def line_net_total(self) -> Decimal: ...

    @property
    def allowance_total(self) -> Decimal: ...

    @property
    def net_total(self) -> Decimal: ...

    @property
    def tax_total(self) -> Decimal: ...

    @property
    def gross_total(self) -> Decimal: ...

    @property
    def paid_amount(self) -> Decimal: ...

    @property
    def credited_amount(self) -> Decimal: ...

    @property
    def credited_net(self) -> Decimal: ...

    @property
    def written_off_amount(self) -> Decimal: ...

    @property
    def ledger(self) -> list[Any]: ...

    @property
    def exchange_rate(self) -> Decimal | None: ...

    @property
    def exchange_rate_date(self) -> dt.date | None: ...

    @property
    def credited_invoice_id(self) -> uuid.UUID | None: ...

    @property
    def credited_invoice_number(self) -> str | None: ...

    @property
    def credited_invoice_issue_date(self) -> dt.date | None: ...

    @property
    def credit_note_ids(self) -> list[Any]: ...

    @property
    def normalized_currency(self) -> str | None: ...

    @property
    def credit_reason(self) -> str | None: ...

    @property
    def replaced_by_invoice_id(self) -> uuid.UUID | None: ...

    @property
    def replaces_invoice_id(self) -> uuid.UUID | None: ...

    @property
    def overdue(self) -> bool: ...

    @property
    def dunning_level(self) -> int: ...

    @property
    def dunned_on(self) -> dt.date | None: ...

    @property
    def default_note(self) -> bool: ...

    @property
    def payment_reference(self) -> str | None: ...

    @property
    def exported_at(self) -> dt.datetime | None: ...

    @property
    def integration_exports(self) -> dict[str, Any]: ...

    @property
    def finalized_at(self) -> dt.datetime | None: ...

    @property
    def sent_at(self) -> dt.datetime | None: ...

    @property
    def paid_at(self) -> dt.datetime | None: ...

    @property
    def paid_on(self) -> dt.date | None: ...

    @property
    def voided_at(self) -> dt.datetime | None: ...

    @property
    def deleted_at(self) -> dt.datetime | None: ...

    @property
    def created_at(self) -> dt.datetime: ...

    @property
    def updated_at(self) -> dt.datetime: ...

    @property
    def event_sequence(self) -> int: ...

    @property
    def lines(self) -> Sequence[LineRecord]: ...

    @property
    def payments(self) -> Sequence[PaymentRecord]: ...


class DraftLine(LineRecord, Protocol):
    """A line whose amounts the totals engine sets (``handlers.drafting.recalculate``)."""

    base_amount: Decimal
    discount_amount: Decimal
    amount: Decimal
    net_amount: Decimal


class InvoiceDraft(InvoiceRecord, Protocol):
    """An invoice a handler changes as a finalize and its event change it: an ORM ``Invoice``
    or the plain ``handlers.aggregates.InvoiceData`` (read and written with Core)."""

    status: str
    number: str | None
    #: the number's sort key, set with it (``handlers.numbering.set_number``)
    number_key: str | None
    series: str | None
    sequence_number: int | None
    issue_date: dt.date | None
    due_date: dt.date | None
    payment_terms_days: int | None
    delivery_date: dt.date | None
    #: the delivery date is the issue date finalize filled in (``domain.finalize.dates``)
    delivery_date_defaulted: bool
    exchange_rate_date: dt.date | None
    default_note: bool
    payment_reference: str | None
    buyer: dict[str, Any] | None
    seller: dict[str, Any] | None
    tax_breakdown: list[Any]
    legal_notes: list[Any]
    line_net_total: Decimal
    allowance_total: Decimal
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    finalized_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    event_sequence: int

    @property
    def lines(self) -> Sequence[DraftLine]: ...

    @property
    def is_frozen(self) -> bool: ...


class EditableInvoice(InvoiceDraft, Protocol):
    """A draft whose fields ``create_invoice`` and ``update_invoice`` set (``apply_fields``)."""

    customer_id: uuid.UUID | None
    currency: str
    locale: str
    tags: list[Any]
    subscriber_ids: list[Any]
    vat_number: str | None
    custom_fields: dict[str, Any]
    discount: dict[str, Any] | None
    service_period_start: dt.date | None
    service_period_end: dt.date | None
    normalized_currency: str | None
    creator_id: str | None
    issuer_id: str | None
    invoicing_method: str | None
