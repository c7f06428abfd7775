"""The invoice filter: one schema for ``list_invoices``, ``invoicing query invoices`` and
``export_csv``.

Every field is optional; all given fields must match (AND). A field with operators takes an
object of them, e.g. ``{"gross_total": {"gte": "100", "lt": "1000"}}`` (all must hold), or a
shorthand: a single value means ``eq``, a list means ``in``::

    {"issue_date": {"fuzzy": "last_quarter"}, "customer_id": ["<uuid>", "<uuid>"],
     "purchase_order_number": {"contains": "PO-17"}, "paid_amount": {"gt": 0},
     "full_query": "acme beratung", "custom_fields": [{"field_id": "region", "operator": "in",
     "value": ["north", "east"]}]}

Operators: money and dates ``eq not_eq gt gte lt lte in`` (dates also ``fuzzy``, a named range
relative to ``as_of``), texts ``eq not_eq in not_in contains`` (``contains`` case-insensitive),
ids ``eq not_eq in not_in``. Timestamps (``created_at``, ``sent_at`` ...) are compared by their
calendar day on the organization's calendar (its ``timezone``, else its country's zone, else
UTC). docs/seed-mapping.md maps every seed filter to its field here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from invoicing.domain.payment_reference import normalize as normalize_ogm
from invoicing.schemas.common import Contract, CurrencyCode, Dec, Reference, SafeIntegers
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)


def _structured_communication(value: str) -> str:
    stored = normalize_ogm(value)
    if stored is None:
        raise ValueError(
            "not a Belgian structured communication: twelve digits whose last two are the "
            "first ten mod 97, written +++123/4567/89012+++ or without the +++ and slashes"
        )
    return stored


#: a structured communication as payers and banks write it, in its stored form
StructuredCommunication = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    AfterValidator(_structured_communication),
]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_VALUES = 500

FuzzyRange = Literal[
    "today",
    "yesterday",
    "tomorrow",
    "this_week",
    "last_week",
    "next_week",
    "this_month",
    "last_month",
    "next_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
]
"""Named date ranges; weeks start on Monday (ISO 8601), quarters are calendar quarters."""


def _shorthand(value: Any) -> Any:
    """A bare value means ``eq``, a list means ``in``; an object is the operators themselves."""
    if isinstance(value, dict) or value is None or isinstance(value, BaseModel):
        return value
    if isinstance(value, list | tuple):
        return {"in": list(value)}
    return {"eq": value}


def _date_shorthand(value: Any) -> Any:
    """As ``_shorthand``; a range name alone (``"last_month"``) means ``fuzzy``."""
    if isinstance(value, str) and value in get_args(FuzzyRange):
        return {"fuzzy": value}
    return _shorthand(value)


class _Ops(Contract):
    def given(self) -> dict[str, Any]:
        """The operators that were given, by their contract name (``in``, not ``in_``)."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is not None:
                out[name.rstrip("_")] = value
        return out

    @model_validator(mode="after")
    def _not_empty(self) -> Any:
        if not self.given():
            raise ValueError("give at least one operator")
        return self


class MoneyOps(_Ops):
    """Exact decimal comparisons (a JSON number or a decimal string)."""

    eq: Dec | None = None
    not_eq: Dec | None = None
    gt: Dec | None = None
    gte: Dec | None = None
    lt: Dec | None = None
    lte: Dec | None = None
    in_: list[Dec] | None = Field(default=None, alias="in", min_length=1, max_length=MAX_VALUES)


class DateOps(_Ops):
    """Date comparisons, and ``fuzzy``: a named range relative to the filter's ``as_of``."""

    eq: dt.date | None = None
    not_eq: dt.date | None = None
    gt: dt.date | None = None
    gte: dt.date | None = None
    lt: dt.date | None = None
    lte: dt.date | None = None
    in_: list[dt.date] | None = Field(default=None, alias="in", min_length=1, max_length=MAX_VALUES)
    fuzzy: FuzzyRange | None = None


ShortValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TextOps(_Ops):
    """Exact (``eq``, ``in``) or case-insensitive substring (``contains``) text matches."""

    eq: ShortValue | None = None
    not_eq: ShortValue | None = None
    in_: list[ShortValue] | None = Field(
        default=None, alias="in", min_length=1, max_length=MAX_VALUES
    )
    not_in: list[ShortValue] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)
    contains: SearchText | None = None


class UuidOps(_Ops):
    eq: UUID | None = None
    not_eq: UUID | None = None
    in_: list[UUID] | None = Field(default=None, alias="in", min_length=1, max_length=MAX_VALUES)
    not_in: list[UUID] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)


class RefOps(_Ops):
    """Opaque references set by the publisher (people, deals, subsidiaries, cases ...)."""

    eq: Reference | None = None
    not_eq: Reference | None = None
    in_: list[Reference] | None = Field(
        default=None, alias="in", min_length=1, max_length=MAX_VALUES
    )
    not_in: list[Reference] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)


class CurrencyOps(_Ops):
    eq: CurrencyCode | None = None
    not_eq: CurrencyCode | None = None
    in_: list[CurrencyCode] | None = Field(default=None, alias="in", min_length=1, max_length=200)
    not_in: list[CurrencyCode] | None = Field(default=None, min_length=1, max_length=200)


Money = Annotated[MoneyOps, BeforeValidator(_shorthand)]
Date = Annotated[DateOps, BeforeValidator(_date_shorthand)]
TextFilter = Annotated[TextOps, BeforeValidator(_shorthand)]
Uuids = Annotated[UuidOps, BeforeValidator(_shorthand)]
Refs = Annotated[RefOps, BeforeValidator(_shorthand)]
Currencies = Annotated[CurrencyOps, BeforeValidator(_shorthand)]


# ----------------------------------------------------------------------------- custom fields

CustomFieldValue = Annotated[str | int | bool, SafeIntegers]
CustomFieldOperator = Literal[
    "=", "<>", "<", ">", "<=", ">=", "in", "eq", "not_eq", "lt", "gt", "lte", "gte", "contains"
]
_WORDS = {"eq": "=", "not_eq": "<>", "lt": "<", "gt": ">", "lte": "<=", "gte": ">="}


class CustomFieldFilter(Contract):
    """``field_id`` ``operator`` ``value`` over custom fields (customers' or invoices').

    ``=``, ``<>`` and ``in`` compare the text form (``true``/``false`` for checkboxes, ``5``
    for numbers); ``<`` ``>`` ``<=`` ``>=`` compare numbers with an integer value and text
    (ISO dates compare correctly) with a string value. ``in`` takes a list or a
    comma-separated string. ``<>`` also matches records without the field. On a multi-select
    field (a list of strings) ``=`` matches when the list holds the value, ``in`` when it holds
    any of the values, ``<>`` when it does not hold the value. ``contains``: case-insensitive
    substring of a text field. The operators may also be spelled ``eq not_eq lt gt lte gte``.
    """

    field_id: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    ] = Field(validation_alias=AliasChoices("field_id", "f_id"), examples=["tier"])
    operator: CustomFieldOperator = Field(validation_alias=AliasChoices("operator", "o"))
    value: CustomFieldValue | list[CustomFieldValue] = Field(
        validation_alias=AliasChoices("value", "v")
    )

    @property
    def op(self) -> str:
        """The operator in its symbol form (``eq`` -> ``=``)."""
        return _WORDS.get(self.operator, self.operator)

    @model_validator(mode="after")
    def _shape(self) -> CustomFieldFilter:
        if isinstance(self.value, list) and self.op != "in":
            raise ValueError(f"operator {self.operator} takes one value, not a list")
        if isinstance(self.value, list) and not self.value:
            raise ValueError("operator in needs at least one value")
        if self.op in ("<", ">", "<=", ">=") and isinstance(self.value, bool):
            raise ValueError(f"operator {self.operator} does not compare true/false")
        if self.op == "contains" and not isinstance(self.value, str):
            raise ValueError("operator contains takes a text value")
        return self

    def values(self) -> list[CustomFieldValue]:
        if isinstance(self.value, list):
            return list(self.value)
        if self.op == "in" and isinstance(self.value, str):
            return [v.strip() for v in self.value.split(",")]
        return [self.value]


# ----------------------------------------------------------------------------- the filter

InvoiceStatusFilter = Literal[
    "draft",
    "finalized",
    "sent",
    "partially_paid",
    "paid",
    "void",
    "overdue",
    "not_overdue",
    "open",
    "unsent",
]
Aging = Literal["not_due", "1-15", "16-45", "46+", "other"]
PaymentStatus = Literal["paid", "unpaid", "partially_paid"]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


PaymentStatuses = Annotated[list[PaymentStatus], BeforeValidator(_one_or_many)]

InvoicingMethod = Literal["uninvoiced_time_and_expenses", "uninvoiced_amount", "percentage"]
#: seed 002's numbers of the invoicing methods
_METHOD_NUMBERS = {1: "uninvoiced_time_and_expenses", 2: "uninvoiced_amount", 3: "percentage"}


def _methods(value: Any) -> Any:
    """One or many methods, by name or by seed 002's number (1 actuals, 2 uninvoiced
    amount, 3 percentage)."""
    items = [value] if isinstance(value, str | int) else value
    if not isinstance(items, list):
        return items
    return [_METHOD_NUMBERS.get(v, v) if isinstance(v, int) else v for v in items]


InvoicingMethods = Annotated[list[InvoicingMethod], BeforeValidator(_methods)]


class InvoiceFilter(Contract):
    """All given filters must match (AND); a list matches any of its values (OR)."""

    # --- what and where
    id: Uuids | None = Field(default=None, description="invoice ids (a list: any of them)")
    status: list[InvoiceStatusFilter] = Field(
        default_factory=list,
        description="any of: the stored statuses, ``overdue`` (flagged overdue and still "
        "receivable), ``not_overdue`` (receivable, not flagged), ``open`` (receivable with an "
        "open amount), ``unsent`` (finalized invoice never sent)",
        examples=[["sent", "overdue"]],
    )
    kind: list[Literal["invoice", "credit_note", "quote"]] = Field(
        default_factory=list,
        validation_alias=AliasChoices("kind", "invoice_type"),
        description="document kind (alias: invoice_type)",
    )
    finalized: bool | None = Field(
        default=None, description="true: numbered and frozen; false: drafts (seed invoice_state)"
    )
    customer_id: Uuids | None = None
    credited_invoice_id: Uuids | None = Field(
        default=None, description="credit notes of these invoices (seed parent_invoice_id)"
    )
    number: TextFilter | None = Field(
        default=None, description="a string: the exact number; or text operators"
    )
    purchase_order_number: TextFilter | None = None
    payment_reference: StructuredCommunication | None = Field(
        default=None,
        description="the invoice whose Belgian structured communication (BT-83, "
        "InvoiceState.payment_reference) this is, for a bank reconciliation matching a payment: "
        "exact, with or without +++ (or ***) and slashes (123456789012, 123/4567/89012)",
        examples=["+++002/0260/00196+++"],
    )
    case_id: TextFilter | None = None
    project_reference: TextFilter | None = Field(
        default=None, description="a list matches any (seed project_id)"
    )
    currency: Currencies | None = None
    tags: list[Tag] = Field(
        default_factory=list, max_length=20, description="the invoice has every one of these"
    )
    tags_any: list[Tag] = Field(
        default_factory=list, max_length=50, description="the invoice has at least one of these"
    )
    # --- people and CRM references (opaque ids set by the publisher)
    creator_id: Refs | None = None
    issuer_id: Refs | None = None
    responsible_id: Refs | None = None
    subscriber_id: Refs | None = Field(
        default=None, description="matches when any of the invoice's subscriber_ids matches"
    )
    person_id: Refs | None = Field(
        default=None,
        description="creator, issuer, responsible or a subscriber is one of these (seed "
        "fuzzy_people)",
    )
    deal_id: Refs | None = None
    subsidiary_id: Refs | None = None
    # --- money
    net_total: Money | None = Field(default=None, description="seed amount")
    tax_total: Money | None = Field(default=None, description="seed amount_tax")
    gross_total: Money | None = Field(default=None, description="seed amount_with_tax")
    allowance_total: Money | None = Field(default=None, description="document discount, net")
    paid_amount: Money | None = Field(default=None, description="seed amount_paid")
    open_amount: Money | None = Field(
        default=None,
        description="seed amount_unpaid: gross - credited - written off - paid of finalized "
        "invoices (0 for drafts, credit notes, quotes)",
    )
    credited_amount: Money | None = Field(
        default=None, description="gross of credit notes against it (amount_credited_with_tax)"
    )
    credited_net_amount: Money | None = Field(
        default=None, description="net credited by credit notes (seed amount_credited)"
    )
    written_off_amount: Money | None = Field(
        default=None, description="gross written off (seed amount_written_off)"
    )
    # --- dates
    issue_date: Date | None = Field(default=None, description="seed invoiced_on")
    due_date: Date | None = Field(default=None, description="seed pay_on")
    delivery_date: Date | None = Field(default=None, description="seed delivery_on")
    created_at: Date | None = None
    updated_at: Date | None = Field(
        default=None,
        validation_alias=AliasChoices("updated_at", "last_activity_at"),
        description="the last change of any kind (alias: last_activity_at)",
    )
    finalized_at: Date | None = None
    sent_at: Date | None = Field(default=None, description="seed sent_on")
    paid_at: Date | None = Field(
        default=None, description="the day the invoice became paid: the settling payment's date"
    )
    paid_on: Date | None = Field(
        default=None, description="seed paid_on: the date of the payment that settled it"
    )
    voided_at: Date | None = None
    exported_at: Date | None = None
    deleted_at: Date | None = None
    dunned_on: Date | None = Field(
        default=None, description="the day (as_of) of its last dunning notice"
    )
    # --- states
    payment_status: PaymentStatuses = Field(
        default_factory=list,
        description="any of; ``unpaid``: finalized or sent, nothing paid yet (drafts and "
        "voided documents are neither paid nor unpaid)",
    )
    export_status: Literal["exported", "unexported"] | None = Field(
        default=None,
        description="exported: taken over by DATEV or an integration (exported_at); "
        "unexported: a finalized invoice or credit note (a void one too) not yet exported, "
        "never a draft or a quote (those are never exported)",
    )
    sent_status: Literal["sent", "unsent"] | None = None
    invoicing_method: InvoicingMethods = Field(
        default_factory=list,
        description="any of: how invoice_billable_entries billed it last (seed 002 "
        "invoicing_method: 1 or uninvoiced_time_and_expenses, 2 or uninvoiced_amount, "
        "3 or percentage); invoices billed by no method match none",
    )
    overdue: bool | None = Field(default=None, description="the overdue flag (overdue_status)")
    dunning_blocked: bool | None = Field(
        default=None,
        description="true: a dunning block (block_dunning) of the invoice or of its customer "
        "holds on ``as_of``; false: none holds",
    )
    dunning_level: list[Annotated[int, Field(ge=0, le=10)]] = Field(
        default_factory=list,
        description="any of: the highest dunning level sent (0: never dunned), e.g. [2, 3]",
        max_length=11,
    )
    credited: bool | None = Field(default=None, description="a credit note was issued against it")
    aging: list[Aging] = Field(
        default_factory=list,
        description="any of: days past due as of ``as_of`` of receivables with an open amount "
        "(``not_due``, ``1-15``, ``16-45``, ``46+``); ``other``: everything else (seed "
        "invoice_aging)",
    )
    # --- text
    full_query: SearchText | None = Field(
        default=None,
        validation_alias=AliasChoices("full_query", "search", "query", "jump_query"),
        description="every word occurs (case-insensitive) in the number, the customer's or "
        "buyer's name or email, the purchase order number, a line's text or a tag "
        "(aliases: search, query, jump_query)",
    )
    custom_fields: list[CustomFieldFilter] = Field(
        default_factory=list, max_length=20, description="over the invoice's custom fields"
    )
    customer_custom_fields: list[CustomFieldFilter] = Field(
        default_factory=list, max_length=20, description="over the customer's custom fields"
    )
    deleted: Literal["exclude", "include", "only"] = Field(
        default="exclude", description="documents in the trash"
    )
    as_of: dt.date | None = Field(
        default=None,
        description="the day fuzzy ranges, aging and dunning_blocked count from; default today "
        "on the organization's calendar (its timezone, else its country's, else UTC)",
    )
    # --- earlier shorthands, kept
    issue_date_from: dt.date | None = Field(
        default=None, validation_alias=AliasChoices("issue_date_from", "from_date")
    )
    issue_date_to: dt.date | None = Field(
        default=None, validation_alias=AliasChoices("issue_date_to", "to_date")
    )
    due_date_from: dt.date | None = None
    due_date_to: dt.date | None = None
    gross_total_min: Dec | None = None
    gross_total_max: Dec | None = None
    net_total_min: Dec | None = None
    net_total_max: Dec | None = None
    open_amount_min: Dec | None = None
    open_amount_max: Dec | None = None

    @model_validator(mode="before")
    @classmethod
    def _include_deleted(cls, data: Any) -> Any:
        """``include_deleted: true`` (the CSV export's earlier spelling) = ``deleted: include``."""
        if isinstance(data, dict) and "include_deleted" in data:
            data = dict(data)
            flag = data.pop("include_deleted")
            if not isinstance(flag, bool):
                raise ValueError("include_deleted must be true or false")
            if flag and "deleted" not in data:
                data["deleted"] = "include"
        return data

    @model_validator(mode="after")
    def _ranges(self) -> InvoiceFilter:
        pairs = (
            ("issue_date_from", "issue_date_to"),
            ("due_date_from", "due_date_to"),
            ("gross_total_min", "gross_total_max"),
            ("net_total_min", "net_total_max"),
            ("open_amount_min", "open_amount_max"),
        )
        for low, high in pairs:
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and b < a:
                raise ValueError(f"{high} is before {low}")
        return self


#: sortable fields of list_invoices; ``custom_fields.<field_id>`` sorts by an invoice custom field
INVOICE_SORT_KEYS = (
    "number",
    "issue_date",
    "due_date",
    "delivery_date",
    "net_total",
    "tax_total",
    "gross_total",
    "allowance_total",
    "paid_amount",
    "open_amount",
    "credited_amount",
    "credited_net_amount",
    "written_off_amount",
    "credited",
    "purchase_order_number",
    "created_at",
    "updated_at",
    "finalized_at",
    "sent_at",
    "paid_at",
    "paid_on",
    "dunning_level",
    "dunned_on",
    "customer_name",
    "status",
    "deleted_at",
)
CUSTOM_FIELD_SORT_PREFIX = "custom_fields."

__all__ = [
    "INVOICE_SORT_KEYS",
    "CustomFieldFilter",
    "CustomFieldValue",
    "DateOps",
    "FuzzyRange",
    "InvoiceFilter",
    "MoneyOps",
    "RefOps",
    "TextOps",
    "UuidOps",
]
