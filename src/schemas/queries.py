"""Query documents and their results: the read side of the public contract.

Queries are served request/reply over RabbitMQ (``reply_to`` + ``correlation_id``) and by the
``invoicing query`` CLI. Every query is one JSON object with the same envelope as a command::

    {"type": "list_invoices", "organization_id": "<uuid>",
     "credentials": {"token": "<signed token>"}, "query_id": "optional",
     "payload": {"filter": {"status": ["sent", "overdue"]}, "sort": ["-issue_date"],
                 "page": 1, "page_size": 50}}

Every query needs the ``invoices:read`` grant for its organization and sees only that
organization's data. The reply is a ``QueryReply``: ``status`` ``ok`` with ``result``, or
``error`` with ``errors`` shaped like command rejections (``{status, code, title, detail,
source: {pointer}}``). Money in results is always a decimal string.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from invoicing.schemas.commands import READ, BudgetSelection, Credentials, DiscountIn
from invoicing.schemas.common import (
    Contract,
    CurrencyCode,
    Reference,
)
from invoicing.schemas.events import (
    ErrorItemState,
    InvoiceState,
    LineState,
    TaxBreakdown,
    Totals,
)
from invoicing.schemas.filters import (
    CUSTOM_FIELD_SORT_PREFIX,
    INVOICE_SORT_KEYS,
    CustomFieldFilter,
    Date,
    InvoiceFilter,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

QUERY_TYPES: dict[str, type[Query]] = {}

MAX_PAGE_SIZE = 200
#: list_invoices counts matches up to this many unless exact_total is asked for
COUNT_LIMIT = 1_000
#: ... and with a full_query up to the end of the page asked for: a search's words are
#: checked row by row (a broad word matches tens of thousands), a count to COUNT_LIMIT costs
#: several times the page
SEARCH_COUNT_LIMIT = 0
DEFAULT_PAGE_SIZE = 50

PageNumber = Annotated[int, Field(ge=1, le=1_000_000, description="1-based page number")]
PageSize = Annotated[
    int, Field(ge=1, le=MAX_PAGE_SIZE, description=f"items per page, at most {MAX_PAGE_SIZE}")
]
EmailText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Query(Contract):
    """The envelope shared by every query."""

    type: str
    query_id: UUID | None = Field(default=None, description="echoed in the reply")
    organization_id: UUID
    correlation_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    credentials: Credentials | None = None
    payload: Any

    #: the grant a requester needs
    scope: ClassVar[str] = READ

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        field = cls.model_fields.get("type")
        if field is not None and isinstance(field.default, str):
            QUERY_TYPES[field.default] = cls


def _sort_keys(value: Any, allowed: tuple[str, ...], prefix: str | None = None) -> list[str]:
    """``"-issue_date,number"`` or ``["-issue_date", "number"]`` -> checked list."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("must be a string or a list of strings")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError("sort keys must be non-empty strings")
        key = item.strip()
        name = key.lstrip("-")
        if prefix and name.startswith(prefix) and _FIELD_ID.match(name.removeprefix(prefix)):
            pass
        elif name not in allowed:
            raise ValueError(f"{key!r} is not sortable; use one of: {', '.join(allowed)}")
        if key.lstrip("-") in {k.lstrip("-") for k in out}:
            raise ValueError(f"{key!r} is given twice")
        out.append(key)
    if len(out) > 5:
        raise ValueError("at most 5 sort keys")
    return out


_FIELD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class Paged(Contract):
    page: PageNumber = 1
    page_size: PageSize = DEFAULT_PAGE_SIZE


# ----------------------------------------------------------------------------- invoices


class GetInvoice(Query):
    """One document by id or by number (documents in the trash only with include_deleted)."""

    type: Literal["get_invoice"] = "get_invoice"

    class Payload(Contract):
        invoice_id: UUID | None = None
        number: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = None
        include_deleted: bool = False

        @model_validator(mode="after")
        def _one(self) -> GetInvoice.Payload:
            if (self.invoice_id is None) == (self.number is None):
                raise ValueError("give exactly one of invoice_id and number")
            return self

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "get_invoice",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"invoice_id": "33333333-3333-4333-8333-333333333333"},
                }
            ]
        }
    )


class ListInvoices(Query):
    """Invoices, credit notes and quotes with filters, sort and pagination."""

    type: Literal["list_invoices"] = "list_invoices"

    class Payload(Paged):
        filter: InvoiceFilter = Field(default_factory=InvoiceFilter)
        exact_total: bool = Field(
            default=False,
            description=f"count every match; by default counting stops at {COUNT_LIMIT:,} "
            "matches, and with a filter.full_query at the end of the page asked for (total "
            "is then a lower bound, page.total_exact false: more match), which keeps pages "
            "of very large organizations fast",
        )
        sort: list[str] = Field(
            default_factory=lambda: ["-created_at"],
            description="keys: "
            + ", ".join(INVOICE_SORT_KEYS)
            + f", {CUSTOM_FIELD_SORT_PREFIX}<field_id> (numbers before texts); a leading ``-`` "
            "sorts descending; missing values last; ties are broken by id; number in the "
            "numbering's order (runs of digits by their value: RE-2026-9999 before "
            "RE-2026-10000)",
            examples=[["-issue_date", "number"]],
        )

        @field_validator("sort", mode="before")
        @classmethod
        def _sort(cls, value: Any) -> list[str]:
            return _sort_keys(value, INVOICE_SORT_KEYS, CUSTOM_FIELD_SORT_PREFIX)

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_invoices",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {
                        "filter": {
                            "status": ["sent", "overdue"],
                            "issue_date": {"fuzzy": "this_year"},
                            "gross_total": {"gte": "100.00"},
                            "full_query": "acme",
                        },
                        "sort": ["-issue_date"],
                        "page": 1,
                        "page_size": 50,
                    },
                }
            ]
        }
    )


OPEN_ITEM_SORT_KEYS = ("due_date", "issue_date", "number", "open_amount", "customer_name")


class OpenItems(Query):
    """Receivables: finalized, sent or partially paid invoices with an open amount."""

    type: Literal["open_items"] = "open_items"

    class Payload(Paged):
        as_of: dt.date | None = Field(
            default=None,
            description="date the days overdue are counted to; default today on the "
            "organization's calendar",
        )
        customer_id: list[UUID] = Field(default_factory=list)
        case_id: Reference | None = None
        project_reference: Reference | None = None
        currency: list[CurrencyCode] = Field(default_factory=list)
        overdue_only: bool = Field(default=False, description="due date before as_of")
        sort: list[str] = Field(default_factory=lambda: ["due_date"])

        @field_validator("sort", mode="before")
        @classmethod
        def _sort(cls, value: Any) -> list[str]:
            return _sort_keys(value, OPEN_ITEM_SORT_KEYS)

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "open_items",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"as_of": "2026-12-31", "overdue_only": True},
                }
            ]
        }
    )


class NextNumber(Query):
    """The number the next finalize of the series would get (informational, not reserved)."""

    type: Literal["next_number"] = "next_number"

    class Payload(Contract):
        series: Literal["invoice", "credit_note", "quote"] = "invoice"
        date: dt.date | None = Field(
            default=None,
            description="issue date; default today on the issuer's calendar, as a finalize "
            "without a date takes it",
        )
        subsidiary_id: Reference | None = Field(
            default=None, description="the series of this subsidiary (configure_subsidiary)"
        )

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "next_number",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"series": "invoice", "date": "2026-11-20"},
                }
            ]
        }
    )


PAYMENT_SORT_KEYS = ("date", "amount", "recorded_at")


class ListPayments(Query):
    """Payments of one invoice, or of the organization within a date range."""

    type: Literal["list_payments"] = "list_payments"

    class Payload(Paged):
        invoice_id: UUID | None = None
        date_from: dt.date | None = None
        date_to: dt.date | None = None
        method: list[str] = Field(default_factory=list, examples=[["bank_transfer"]])
        sort: list[str] = Field(default_factory=lambda: ["date"])

        @field_validator("sort", mode="before")
        @classmethod
        def _sort(cls, value: Any) -> list[str]:
            return _sort_keys(value, PAYMENT_SORT_KEYS)

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_payments",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"invoice_id": "33333333-3333-4333-8333-333333333333"},
                }
            ]
        }
    )


TRASH_SORT_KEYS = ("deleted_at", "created_at", "number", "gross_total")


class ListTrash(Query):
    """Drafts in the trash (restorable with restore_invoice, removable with purge_invoice)."""

    type: Literal["list_trash"] = "list_trash"

    class Payload(Paged):
        sort: list[str] = Field(default_factory=lambda: ["-deleted_at"])

        @field_validator("sort", mode="before")
        @classmethod
        def _sort(cls, value: Any) -> list[str]:
            return _sort_keys(value, TRASH_SORT_KEYS)

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_trash",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"page": 1},
                }
            ]
        }
    )


DUNNING_SORT_KEYS = ("sent_at", "level", "days_overdue", "open_amount", "as_of")


class ListDunningNotices(Query):
    """The dunning history: notices sent for one invoice, one customer's invoices, or all."""

    type: Literal["list_dunning_notices"] = "list_dunning_notices"

    class Payload(Paged):
        invoice_id: UUID | None = None
        customer_id: list[UUID] = Field(default_factory=list, max_length=500)
        level: list[Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=list)
        sent_at: Date | None = Field(default=None, description="date operators, as in filters")
        as_of: dt.date | None = Field(
            default=None,
            description="for fuzzy sent_at ranges; default today on the organization's calendar",
        )
        sort: list[str] = Field(default_factory=lambda: ["-sent_at"])

        @field_validator("sort", mode="before")
        @classmethod
        def _sort(cls, value: Any) -> list[str]:
            return _sort_keys(value, DUNNING_SORT_KEYS)

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_dunning_notices",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"customer_id": ["22222222-2222-4222-8222-222222222222"]},
                }
            ]
        }
    )


class ListDunningBlocks(Query):
    """The dunning blocks (Mahnsperren) of ``block_dunning``: of one invoice (its own and its
    customer's), of some customers (theirs and their invoices'), or all; newest first.
    ``active_on`` keeps those that hold on that day."""

    type: Literal["list_dunning_blocks"] = "list_dunning_blocks"

    class Payload(Paged):
        invoice_id: UUID | None = Field(
            default=None, description="the invoice's own block and its customer's"
        )
        customer_id: list[UUID] = Field(
            default_factory=list,
            max_length=500,
            description="the customers' own blocks and the blocks of their invoices",
        )
        active_on: dt.date | None = Field(
            default=None, description="only blocks that hold on this day (until it or none)"
        )

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_dunning_blocks",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"active_on": "2026-12-01"},
                }
            ]
        }
    )


class PreviewBillableEntries(Query):
    """Uninvoiced entries as the lines ``invoice_billable_entries`` would create, with totals.

    Selects uninvoiced entries by customer, case, project, dates or ids (at least one selector);
    the totals are computed by the same engine as invoices, one preview per currency.
    """

    type: Literal["preview_billable_entries"] = "preview_billable_entries"

    class Payload(Contract):
        customer_id: UUID | None = None
        case_id: Reference | None = None
        project_reference: Reference | None = None
        entry_ids: list[Reference] = Field(default_factory=list, max_length=1000)
        date_from: dt.date | None = None
        date_to: dt.date | None = None
        kind: list[Literal["time", "expense"]] = Field(default_factory=list)
        currency: CurrencyCode | None = None
        calculate_from_net: bool = True
        discount: DiscountIn | None = Field(default=None, description="document discount")

        @model_validator(mode="after")
        def _selector(self) -> PreviewBillableEntries.Payload:
            if not (self.customer_id or self.case_id or self.project_reference or self.entry_ids):
                raise ValueError(
                    "give at least one of customer_id, case_id, project_reference, entry_ids"
                )
            if self.date_from and self.date_to and self.date_to < self.date_from:
                raise ValueError("date_to is before date_from")
            return self

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "preview_billable_entries",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"case_id": "550e8400-e29b-41d4-a716-446655440000"},
                }
            ]
        }
    )


class PreviewInvoice(Query):
    """Seed 002's invoice preview: the lines that billing budgets by a method would create, with
    totals and the attribution per budget. ``invoice_billable_entries`` with the same
    ``budget`` selection puts exactly these lines on a draft."""

    type: Literal["preview_invoice"] = "preview_invoice"

    class Payload(BudgetSelection):
        invoice_id: UUID | None = Field(
            default=None,
            description="the draft the lines are for (seed 002 /invoices/{id}/preview): its "
            "currency must match, its issuer's default rate applies",
        )

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "preview_invoice",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {
                        "budget_ids": ["budget-657"],
                        "invoicing_method": "percentage",
                        "invoicing_by": "budget",
                        "percentage": 50,
                        "display_format": "{budget}",
                        "locale": "en_US",
                    },
                }
            ]
        }
    )


# ----------------------------------------------------------------------------- budgets


class GetBudget(Query):
    """A budget with what is invoiced against it and what remains, per service."""

    type: Literal["get_budget"] = "get_budget"

    class Payload(Contract):
        budget_id: Reference

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "get_budget",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"budget_id": "budget-657"},
                }
            ]
        }
    )


class ListBudgets(Query):
    """Budgets of a customer, case or project, by status, ordered by id."""

    type: Literal["list_budgets"] = "list_budgets"

    class Payload(Paged):
        customer_id: UUID | None = None
        case_id: Reference | None = None
        project_reference: Reference | None = None
        status: Literal["open", "closed"] | None = None

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_budgets",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"case_id": "AZ 123/26", "status": "open"},
                }
            ]
        }
    )


class ListSubsidiaries(Query):
    """The organization's subsidiaries (billing entities), ordered by id."""

    type: Literal["list_subsidiaries"] = "list_subsidiaries"

    class Payload(Contract):
        pass

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_subsidiaries",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                }
            ]
        }
    )


# ----------------------------------------------------------------------------- customers


class GetCustomer(Query):
    type: Literal["get_customer"] = "get_customer"

    class Payload(Contract):
        customer_id: UUID

    payload: Payload

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "get_customer",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {"customer_id": "22222222-2222-4222-8222-222222222222"},
                }
            ]
        }
    )


CUSTOMER_SORT_KEYS = ("name", "email", "created_at", "updated_at")


class CustomerFilter(Contract):
    email: EmailText | None = Field(default=None, description="exact, case-insensitive")
    search: SearchText | None = Field(
        default=None,
        description="every word must occur (case-insensitive) in the name, company, email or "
        "phone; digits match phone numbers written with spaces, dashes, dots or slashes",
    )
    custom_fields: list[CustomFieldFilter] = Field(default_factory=list, max_length=20)


class ListCustomers(Query):
    type: Literal["list_customers"] = "list_customers"

    class Payload(Paged):
        filter: CustomerFilter = Field(default_factory=CustomerFilter)
        sort: list[str] = Field(default_factory=lambda: ["name"])

        @field_validator("sort", mode="before")
        @classmethod
        def _sort(cls, value: Any) -> list[str]:
            return _sort_keys(value, CUSTOMER_SORT_KEYS)

    payload: Payload = Field(default_factory=Payload)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "list_customers",
                    "organization_id": "11111111-1111-4111-8111-111111111111",
                    "credentials": {"token": "<signed token>"},
                    "payload": {
                        "filter": {
                            "email": "jane@example.com",
                            "custom_fields": [
                                {"field_id": "tier", "operator": "=", "value": "Premium"}
                            ],
                        }
                    },
                }
            ]
        }
    )


# ----------------------------------------------------------------------------- results


class Result(BaseModel):
    """Base of query results (tolerant reader, like event data). Their amounts are plain
    ``Decimal``, as the events' are: a sum over many documents (open items' totals per
    currency, a customer's credit) may go beyond what one command can carry (``Dec``: 15
    integer digits), and an answer must not fail on it (open_items of receivables adding up
    to 10^15 or more was an internal error)."""

    model_config = ConfigDict(extra="ignore")


class PageInfo(Result):
    page: int
    page_size: int
    total: int = Field(
        description="items matching the filters, over all pages (a lower bound when "
        "total_exact is false)"
    )
    pages: int
    total_exact: bool = Field(
        default=True,
        description="false when list_invoices stopped counting (at 1,000 matches, or with "
        "a full_query at the end of this page) and more match: total is then the count so "
        "far, a lower bound (ask with exact_total for the exact number)",
    )


class InvoiceResult(Result):
    invoice: InvoiceState


class InvoiceList(Result):
    items: list[InvoiceState]
    page: PageInfo


class CurrencyAmount(Result):
    currency: str
    amount: Decimal
    count: int


class OpenItem(Result):
    invoice: InvoiceState
    open_amount: Decimal
    days_overdue: int = Field(description="days past the due date as of as_of, 0 when not due")
    aging: Literal["not_due", "1-15", "16-45", "46+"]


class CustomerCredit(Result):
    """A customer's unapplied credit in one currency (payments across invoices)."""

    customer_id: UUID
    currency: str
    amount: Decimal


class OpenItemList(Result):
    as_of: dt.date
    items: list[OpenItem]
    totals: list[CurrencyAmount] = Field(description="open amount per currency, all pages")
    unapplied_credit: list[CustomerCredit] = Field(
        default_factory=list,
        description="customers' unapplied credit (customer and currency filters apply), "
        "to set against their open items",
    )
    page: PageInfo


class NextNumberResult(Result):
    series: str
    date: dt.date
    number: str
    pattern: str
    yearly_reset: bool


class PaymentItem(Result):
    id: UUID
    invoice_id: UUID
    invoice_number: str | None
    customer_id: UUID | None
    currency: str
    amount: Decimal
    date: dt.date
    method: str
    reference: str | None
    recorded_at: dt.datetime
    customer_payment_id: UUID | None = Field(
        default=None, description="the customer payment this row is one allocation of"
    )
    credit_entry_id: UUID | None = Field(
        default=None, description="set when the row applies the customer's unapplied credit"
    )


class PaymentList(Result):
    items: list[PaymentItem]
    totals: list[CurrencyAmount] = Field(description="sum per currency, all pages")
    page: PageInfo


class DunningNoticeItem(Result):
    invoice_id: UUID
    invoice_number: str | None
    customer_id: UUID | None
    level: int
    as_of: dt.date = Field(description="the day the notice was computed for")
    sent_at: dt.datetime
    days_overdue: int
    currency: str
    open_amount: Decimal
    fee: Decimal
    interest: Decimal
    delivery_status: str = Field(description="sent | uncertain")


class DunningNoticeList(Result):
    items: list[DunningNoticeItem]
    page: PageInfo


class DunningBlockItem(Result):
    subject: Literal["invoice", "customer"]
    invoice_id: UUID | None = Field(description="the blocked invoice (subject invoice)")
    customer_id: UUID | None = Field(description="the blocked customer (subject customer)")
    until: dt.date | None = Field(description="the last day of the block; null: until lifted")
    reason: str | None
    set_at: dt.datetime
    command_id: UUID = Field(description="the block_dunning that set it last")


class DunningBlockList(Result):
    items: list[DunningBlockItem]
    page: PageInfo


class PreviewLine(Result):
    entry_id: str
    kind: str
    date: dt.date
    customer_id: UUID | None
    case_id: str | None
    project_reference: str | None
    line: LineState


class PreviewGroup(Result):
    currency: str
    lines: list[PreviewLine]
    tax_breakdown: list[TaxBreakdown]
    totals: Totals


class PreviewResult(Result):
    previews: list[PreviewGroup] = Field(description="one per currency of the entries")
    entry_count: int


class PreviewedLine(Result):
    kind: Literal["time", "expense", "budget"]
    budget_id: str
    service_id: str | None
    entry_ids: list[str] = Field(description="the billable entries the line bills")
    line: LineState


class InvoicePreviewGroup(Result):
    currency: str
    lines: list[PreviewedLine]
    tax_breakdown: list[TaxBreakdown]
    totals: Totals


class AttributionView(Result):
    """Seed 002 invoice_attribution: the amount of the lines that goes against a budget."""

    budget_id: str
    currency: str
    amount: Decimal
    date_from: dt.date | None
    date_to: dt.date | None


class InvoicePreview(Result):
    previews: list[InvoicePreviewGroup] = Field(description="one per currency of the lines")
    attributions: list[AttributionView]
    invoicing_method: str
    invoicing_method_id: int = Field(description="seed 002: 1 actuals, 2 uninvoiced, 3 percentage")


class ServiceView(Result):
    id: str
    name: str
    amount: Decimal
    tax_rate: Decimal | None
    tax_category: str | None
    invoiced: Decimal
    remaining: Decimal


class BudgetView(Result):
    id: str
    name: str
    status: Literal["open", "closed"]
    customer_id: UUID | None
    case_id: str | None
    project_reference: str | None
    currency: str
    amount: Decimal
    invoiced: Decimal = Field(
        description="net of the lines attributed to it (not void, not trashed)"
    )
    remaining: Decimal
    period_start: dt.date | None
    period_end: dt.date | None
    tax_rate: Decimal | None
    tax_category: str
    services: list[ServiceView]
    uninvoiced_entries: int = Field(description="uninvoiced billable entries on the budget")
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None


class BudgetResult(Result):
    budget: BudgetView


class BudgetList(Result):
    items: list[BudgetView]
    page: PageInfo


class SubsidiaryView(Result):
    id: str
    name: str
    profile: dict[str, Any] = Field(description="as configured (configure_subsidiary)")
    created_at: dt.datetime
    updated_at: dt.datetime


class SubsidiaryList(Result):
    items: list[SubsidiaryView]


class CustomerView(Result):
    id: UUID
    email: str
    locale: str
    name: str = Field(description="company, else given and family name, else email")
    given_name: str | None = None
    family_name: str | None = None
    company: str | None = None
    phone: str | None = None
    mobile: str | None = None
    address: dict[str, Any] | None = None
    vat_id: str | None = None
    customer_type: str | None = Field(
        default=None, description="business, consumer, or null (unset: see create_customer)"
    )
    buyer_reference: str | None = None
    peppol_id: str | None = None
    einvoice_format: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerResult(Result):
    customer: CustomerView


class CustomerList(Result):
    items: list[CustomerView]
    page: PageInfo


#: query type -> result model
RESULT_TYPES: dict[str, type[Result]] = {
    "get_invoice": InvoiceResult,
    "list_invoices": InvoiceList,
    "open_items": OpenItemList,
    "next_number": NextNumberResult,
    "list_payments": PaymentList,
    "list_trash": InvoiceList,
    "preview_billable_entries": PreviewResult,
    "preview_invoice": InvoicePreview,
    "get_budget": BudgetResult,
    "list_budgets": BudgetList,
    "list_subsidiaries": SubsidiaryList,
    "list_dunning_notices": DunningNoticeList,
    "list_dunning_blocks": DunningBlockList,
    "get_customer": CustomerResult,
    "list_customers": CustomerList,
}


class QueryReply(BaseModel):
    """The reply published to ``reply_to`` with the request's ``correlation_id``."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(description="the query type", examples=["list_invoices"])
    status: Literal["ok", "error"]
    query_id: str | None = None
    correlation_id: str | None = None
    organization_id: str | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="the query type's result document when status is ok"
    )
    errors: list[ErrorItemState] = Field(default_factory=list)


__all__ = [
    "MAX_PAGE_SIZE",
    "QUERY_TYPES",
    "RESULT_TYPES",
    "CustomerFilter",
    "GetBudget",
    "GetCustomer",
    "GetInvoice",
    "InvoiceFilter",
    "ListBudgets",
    "ListCustomers",
    "ListDunningBlocks",
    "ListDunningNotices",
    "ListInvoices",
    "ListPayments",
    "ListSubsidiaries",
    "ListTrash",
    "NextNumber",
    "OpenItems",
    "PreviewBillableEntries",
    "PreviewInvoice",
    "Query",
    "QueryReply",
]
