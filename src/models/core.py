"""Tables of the invoicing core. Every tenant table is keyed by (organization_id, id)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from invoicing.domain.numbering import NUMBER_KEY_LENGTH, NUMBER_LENGTH
from invoicing.models.base import Base, BigId, JSONType, utcnow
from sqlalchemy import (
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

#: ``invoices.search_text`` of the invoice row ``inv`` as the triggers of 0021_search keep it:
#: the own texts, then every line's texts in position order (for bulk loads with triggers off)
SEARCH_DOCUMENT = (
    "lower(coalesce(inv.number, '') || ' ' || coalesce(inv.purchase_order_number, '') || ' ' || "
    "coalesce(inv.buyer ->> 'name', '') || ' ' || coalesce(inv.buyer ->> 'email', '') || ' ' || "
    "coalesce(inv.tags::text, '')) || ' ' || coalesce((SELECT string_agg(lower("
    "coalesce(l.description, '') || ' ' || coalesce(l.subtitle, '')), ' ' ORDER BY l.position, "
    "l.id) FROM invoice_lines l WHERE l.organization_id = inv.organization_id "
    "AND l.invoice_id = inv.id), '')"
)

#: ``invoices.number_key``: compared byte by byte on PostgreSQL (UTF-8: by code point, as
#: SQLite's BINARY compares), not by the database's default collation
NUMBER_KEY_TYPE = String(NUMBER_KEY_LENGTH).with_variant(
    String(NUMBER_KEY_LENGTH, collation="C"), "postgresql"
)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("organization_id", "email_normalized"),
        # 0026_customer_search: full_query's customer match (queries/filters.py,
        # ``customer_search_text``), a trigram index on PostgreSQL only
        Index(
            "ix_customers_search",
            text(
                "(lower(coalesce(data ->> 'company', '') || ' ' || coalesce(data ->> "
                "'given_name', '') || ' ' || coalesce(data ->> 'family_name', '') || ' ' || "
                "coalesce(email, ''))) gin_trgm_ops"
            ),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(2))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invoice(Base):
    """Invoice, credit note or quote. Content is frozen once ``finalized_at`` is set."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        Index("ix_invoices_org_status", "organization_id", "status"),
        Index("ix_invoices_org_issue_date", "organization_id", "issue_date"),
        Index("ix_invoices_org_customer", "organization_id", "customer_id"),
        # 0013_reads (and trigram indexes for full_query on PostgreSQL, see the migration)
        Index("ix_invoices_org_created", "organization_id", "created_at"),
        Index("ix_invoices_org_updated", "organization_id", "updated_at"),
        Index("ix_invoices_org_due_date", "organization_id", "due_date"),
        Index("ix_invoices_org_credited_invoice", "organization_id", "credited_invoice_id"),
        Index("ix_invoices_org_creator", "organization_id", "creator_id"),
        Index("ix_invoices_org_responsible", "organization_id", "responsible_id"),
        Index("ix_invoices_org_deal", "organization_id", "deal_id"),
        Index("ix_invoices_org_gross", "organization_id", "gross_total"),
        # PostgreSQL only (migration 0013_reads): DESC NULLS LAST orders (its trigram index of
        # the own texts went in 0023_write_path: full_query reads search_text)
        Index(
            "ix_invoices_org_issue_date_desc",
            "organization_id",
            text("issue_date DESC NULLS LAST"),
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_invoices_org_due_date_desc", "organization_id", text("due_date DESC NULLS LAST")
        ).ddl_if(dialect="postgresql"),
        # 0021_search: full_query's search document, written by PostgreSQL's triggers only (own
        # texts and every line's texts, lower-cased; NULL and unused on SQLite). A column of the
        # table the mapper leaves out (``exclude_properties``): the service never loads or writes
        # it; queries name it as ``Invoice.__table__.c.search_text``.
        Column("search_text", Text, nullable=True),
        Index(
            "ix_invoices_search_text", text("search_text gin_trgm_ops"), postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
        # 0022_read_counts: index-only counts of the live invoices of a status; -number with
        # the issue date checked in the index (PostgreSQL only)
        Index(
            "ix_invoices_org_status_live",
            "organization_id",
            "status",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        # 0036_payment_reference: one document per structured communication and organization
        # (a bank reconciliation matches a payment on it; the list filter payment_reference)
        Index(
            "uq_invoices_org_payment_reference",
            "organization_id",
            "payment_reference",
            unique=True,
            postgresql_where=text("payment_reference IS NOT NULL"),
            sqlite_where=text("payment_reference IS NOT NULL"),
        ),
        # 0029_number_key: the order of ``number`` and ``-number`` (the stored natural sort key,
        # domain.numbering.number_key), each with the issue date checked in the index; the
        # descending one (PostgreSQL only) replaced 0022's ix_invoices_org_number_desc
        Index("ix_invoices_org_number_key", "organization_id", "number_key", "issue_date"),
        Index(
            "ix_invoices_org_number_key_desc",
            "organization_id",
            text("number_key DESC NULLS LAST"),
            "issue_date",
        ).ddl_if(dialect="postgresql"),
    )

    __mapper_args__ = {"exclude_properties": ["search_text"]}

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    number: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH))
    #: the order of ``number`` (``domain.numbering.number_key``: digit runs by their value), set
    #: with the number (``handlers.numbering.set_number``); compared by code point on both
    #: backends (PostgreSQL: collation "C", whatever the database's default)
    number_key: Mapped[str | None] = mapped_column(NUMBER_KEY_TYPE)
    series: Mapped[str | None] = mapped_column(String(20))
    sequence_number: Mapped[int | None] = mapped_column(Integer)
    issue_date: Mapped[dt.date | None]
    due_date: Mapped[dt.date | None]
    payment_terms_days: Mapped[int | None]
    delivery_date: Mapped[dt.date | None]
    #: the delivery date is the issue date finalize filled in because the draft had no delivery
    #: date or service period (``domain.finalize.dates``): a duplicate does not carry it
    #: (``domain.finalize.copied_delivery_date``; migration 0035_delivery_date_defaulted)
    delivery_date_defaulted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    service_period_start: Mapped[dt.date | None]
    service_period_end: Mapped[dt.date | None]
    currency: Mapped[str] = mapped_column(String(3))
    calculate_from_net: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(2))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    buyer: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    seller: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    case_id: Mapped[str | None] = mapped_column(String(200))
    project_reference: Mapped[str | None] = mapped_column(String(200))
    purchase_order_number: Mapped[str | None] = mapped_column(String(200))
    # people and CRM references: opaque ids of the publisher's systems (migration 0013_reads)
    creator_id: Mapped[str | None] = mapped_column(String(200))
    issuer_id: Mapped[str | None] = mapped_column(String(200))
    responsible_id: Mapped[str | None] = mapped_column(String(200))
    subscriber_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list, server_default="[]")
    deal_id: Mapped[str | None] = mapped_column(String(200))
    subsidiary_id: Mapped[str | None] = mapped_column(String(200))
    # per-invoice overrides (migration 0013_reads)
    subject: Mapped[str | None] = mapped_column(String(200))
    recipient_text: Mapped[str | None] = mapped_column(Text)
    invoicing_party_text: Mapped[str | None] = mapped_column(Text)
    vat_number: Mapped[str | None] = mapped_column(String(20))
    bank_account_id: Mapped[str | None] = mapped_column(String(200))
    #: how invoice_billable_entries billed it last (migration 0020_budgets; seed 002
    #: invoicing_method): uninvoiced_time_and_expenses, uninvoiced_amount or percentage
    invoicing_method: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    discount: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tax_breakdown: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    legal_notes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    line_net_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    allowance_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    net_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    gross_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    paid_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    credited_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    #: gross = credited_amount; net beside it; both derive from ``ledger`` (domain/ledger.py)
    # server defaults as migration 0011_ledger added them (they filled the existing rows)
    credited_net: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    written_off_amount: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    #: movements against the tax groups: credits and write-offs, each with date and groups
    ledger: Mapped[list[Any]] = mapped_column(JSONType, default=list, server_default="[]")
    exchange_rate: Mapped[Decimal | None]
    exchange_rate_date: Mapped[dt.date | None]
    credited_invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    credited_invoice_number: Mapped[str | None] = mapped_column(String(36))
    credited_invoice_issue_date: Mapped[dt.date | None]
    credit_note_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    normalized_currency: Mapped[str | None] = mapped_column(String(3))
    credit_reason: Mapped[str | None] = mapped_column(Text)
    replaced_by_invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    replaces_invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the highest dunning level sent (0: never dunned) and that notice's day (its ``as_of``),
    #: set by the dunning delivery step (handlers/dunning.py; migration 0031_dunning_level)
    dunning_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dunned_on: Mapped[dt.date | None]
    #: the invoice carried the § 286 Abs. 3 BGB note to a consumer (set at finalize;
    #: domain/consumer_dunning.py; migration 0034_default_note)
    default_note: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: BT-83: the Belgian structured communication ``+++123/4567/89012+++`` of an invoice of a
    #: Belgian seller in EUR, unique per organization (set at finalize; domain/payment_reference.py;
    #: migration 0036_payment_reference, which stored what earlier invoices were sent with).
    #: NULL: none (the number is BT-83), or an earlier invoice shared its value (derived)
    payment_reference: Mapped[str | None] = mapped_column(String(20))
    exported_at: Mapped[dt.datetime | None]
    #: accounting integrations it was exported to (export_invoice): integration -> record
    integration_exports: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default="{}"
    )
    finalized_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    paid_at: Mapped[dt.datetime | None]
    #: the date of the payment that settled the invoice
    paid_on: Mapped[dt.date | None]
    voided_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    event_sequence: Mapped[int] = mapped_column(Integer, default=0)

    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="[InvoiceLine.position, InvoiceLine.id]",
        cascade="all, delete-orphan",
        lazy="selectin",
        overlaps="payments",
    )
    payments: Mapped[list[Payment]] = relationship(
        order_by="[Payment.recorded_at, Payment.id]",
        cascade="all, delete-orphan",
        lazy="selectin",
        overlaps="lines",
    )

    @property
    def is_frozen(self) -> bool:
        return self.finalized_at is not None


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        # checked at commit (0024_lines_fk_deferred): a new invoice's lines are written before
        # it, so that its search document is built in the INSERT's one row version
        ForeignKeyConstraint(
            ["organization_id", "invoice_id"],
            ["invoices.organization_id", "invoices.id"],
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        Index("ix_invoice_lines_invoice", "organization_id", "invoice_id"),
        Index("ix_invoice_lines_budget", "organization_id", "budget_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(185))
    subtitle: Mapped[str | None] = mapped_column(String(185))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(30))
    unit_price: Mapped[Decimal]
    tax_category: Mapped[str] = mapped_column(String(20))
    tax_rate: Mapped[Decimal]
    discount: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    base_amount: Mapped[Decimal]
    discount_amount: Mapped[Decimal]
    amount: Mapped[Decimal]
    net_amount: Mapped[Decimal]
    billable_entry_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: the budget (and its service) the line is attributed to (migration 0020_budgets)
    budget_id: Mapped[str | None] = mapped_column(String(200))
    service_id: Mapped[str | None] = mapped_column(String(200))


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "invoice_id"],
            ["invoices.organization_id", "invoices.id"],
            ondelete="CASCADE",
        ),
        Index("ix_payments_invoice", "organization_id", "invoice_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal]
    date: Mapped[dt.date]
    method: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(140))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: migration 0020_alloc: the customer payment this row is one allocation of (a payment
    #: across invoices), or the credit entry whose unapplied credit this row applies
    customer_payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    credit_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: foreign-currency invoices: organization-currency units per invoice-currency unit the
    #: money came in at; None = the invoice's frozen rate (no exchange difference)
    exchange_rate: Mapped[Decimal | None]


class DeletedPayment(Base):
    """A payment that ``delete_payment`` took off its invoice (migration 0027_booked_history):
    what it was, and when it went. The accounting exports keep what they booked: a payment
    DATEV already has is reversed on the day it was deleted (exports/datev_db.py, "payment
    reversals"), so the Debitor account follows the invoice again. Applications of a customer's
    credit are not recorded here: they are not booked (exports/datev_credit.py)."""

    __tablename__ = "deleted_payments"
    __table_args__ = (Index("ix_deleted_payments_day", "organization_id", "deleted_on"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    #: the deleted payment's own id (the export marks name it)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal]
    date: Mapped[dt.date]
    method: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(140))
    exchange_rate: Mapped[Decimal | None]
    customer_payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: the day of the deletion (the organization's books: the reversal's Belegdatum)
    deleted_on: Mapped[dt.date]
    deleted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WriteOffId(Base):
    """The id of each write-off, once per organization (migration 0028_write_off_ids): a
    write-off lives in its invoice's ledger, where its id is unique per invoice only, but the
    DATEV export marks and reverses it under that id (``export_marks``), so a second invoice
    written off under the same id made the export fail (or count it as exported).
    ``write_off_invoice`` refuses an id already here (``write_off_exists``)."""

    __tablename__ = "write_off_ids"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class DeletedCreditEntry(Base):
    """Unapplied credit that ``delete_payment`` of a payment across invoices took back
    (migration 0027_booked_history): an export that booked it (``credit`` mark) reverses it on
    the day it was deleted (exports/datev_credit.py)."""

    __tablename__ = "deleted_credit_entries"
    __table_args__ = (Index("ix_deleted_credit_entries_day", "organization_id", "deleted_on"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    #: the deleted entry's own id (the export marks name it)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal]
    date: Mapped[dt.date]
    reference: Mapped[str | None] = mapped_column(String(140))
    deleted_on: Mapped[dt.date]
    deleted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustomerPayment(Base):
    """One payment of a customer across invoices (migration 0020_alloc).

    Its allocations are ``payments`` rows (one per invoice, ``customer_payment_id`` = this
    id); what it left unapplied is a ``customer_credit_entries`` row of kind ``added``.
    """

    __tablename__ = "customer_payments"
    __table_args__ = (Index("ix_customer_payments_customer", "organization_id", "customer_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    unapplied: Mapped[Decimal]
    date: Mapped[dt.date]
    method: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(140))
    policy: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustomerCreditEntry(Base):
    """A movement of a customer's unapplied credit (migration 0020_alloc); the balance per
    customer and currency is the sum of ``amount``: ``added`` (+, the unapplied rest of a
    customer payment), ``applied`` (-, to an invoice: a ``payments`` row there) and
    ``refunded`` (-, paid back)."""

    __tablename__ = "customer_credit_entries"
    __table_args__ = (
        Index("ix_customer_credit_customer", "organization_id", "customer_id", "currency"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal]
    date: Mapped[dt.date]
    customer_payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    method: Mapped[str | None] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(140))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NumberSeries(Base):
    """The gapless counter: one row per organization, series, scope and period (year or '').

    ``scope`` is '' for the organization's own series and the subsidiary's id for a
    subsidiary's own series (migration 0020_budgets)."""

    __tablename__ = "number_series"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True, server_default=text("''"))
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)
    last_issue_date: Mapped[dt.date | None]


class BillableEntry(Base):
    __tablename__ = "billable_entries"
    __table_args__ = (
        Index("ix_billable_entries_status", "organization_id", "status"),
        Index("ix_billable_entries_budget", "organization_id", "budget_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), default="uninvoiced")
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    case_id: Mapped[str | None] = mapped_column(String(200))
    project_reference: Mapped[str | None] = mapped_column(String(200))
    date: Mapped[dt.date]
    description: Mapped[str] = mapped_column(String(185))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(30))
    unit_price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal | None]
    tax_category: Mapped[str] = mapped_column(String(20))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    line_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payload_hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    billed_at: Mapped[dt.datetime | None]
    #: the budget and service the work belongs to (migration 0020_budgets)
    budget_id: Mapped[str | None] = mapped_column(String(200))
    service_id: Mapped[str | None] = mapped_column(String(200))


class Budget(Base):
    """A budget of a case or project: an amount in a currency over a period, with services.

    What was invoiced against it is not stored here: it is the sum of the invoice lines
    attributed to it (``invoice_lines.budget_id``), see domain/budgets.py."""

    __tablename__ = "budgets"
    __table_args__ = (
        Index("ix_budgets_org_case", "organization_id", "case_id"),
        Index("ix_budgets_org_project", "organization_id", "project_reference"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(185))
    status: Mapped[str] = mapped_column(String(10), default="open")
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    case_id: Mapped[str | None] = mapped_column(String(200))
    project_reference: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    period_start: Mapped[dt.date | None]
    period_end: Mapped[dt.date | None]
    tax_rate: Mapped[Decimal | None]
    tax_category: Mapped[str] = mapped_column(String(20))
    #: [{id, name, amount, tax_rate, tax_category}], amounts summing to ``amount``
    services: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]


class Subsidiary(Base):
    """A billing entity of the organization: its own seller data, bank accounts and number
    series (``profile``, the same keys as the organization's profile)."""

    __tablename__ = "subsidiaries"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProcessedCommand(Base):
    """The inbox: one row per (organization, command_id), written in the command's transaction."""

    __tablename__ = "processed_commands"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    command_type: Mapped[str] = mapped_column(String(60))
    payload_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10))  # applied | rejected
    #: indexed for ``invoicing retention`` (src/retention.py), which deletes old rows in batches
    processed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class OutboxEvent(Base):
    """Events written in the same transaction as the change; the relay publishes them."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_subject", "organization_id", "subject"),
        # the relay's query, ``WHERE published_at IS NULL ORDER BY id LIMIT n``, reads this small
        # partial index: only the rows still to publish, already in id order
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        # ``invoicing retention`` deletes rows published before a cutoff
        Index(
            "ix_outbox_published",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
            sqlite_where=text("published_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(200))
    sequence: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None]
