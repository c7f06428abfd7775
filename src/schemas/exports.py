"""Export commands: DATEV configuration, DATEV EXTF export, invoice CSV export.

Example (``export_datev``)::

    {"type": "export_datev", "command_id": "5f0c…", "organization_id": "0b6e…",
     "credentials": {"token": "…"},
     "payload": {"date_from": "2026-01-01", "date_to": "2026-03-31", "include_payments": true}}

The result is an ``export.completed`` event with ``document`` (a reference to the stored file,
fetched with ``get_document``: for DATEV a zip with one EXTF Buchungsstapel per
fiscal-year/calendar-year period, split at 99,999 bookings, plus the Debitoren/Kreditoren
master data), ``checksum`` (sha256) and ``counts``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from invoicing.exports.settings import DatevConfiguration
from invoicing.schemas.commands import ADMIN, READ, WRITE, Command
from invoicing.schemas.common import Contract, Reference
from invoicing.schemas.filters import InvoiceFilter
from pydantic import ConfigDict, Field, StringConstraints, model_validator

Requester = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

_CONFIGURE_EXAMPLE: dict[str, Any] = {
    "type": "configure_datev",
    "command_id": "7d3f2c52-1b0e-4a53-9d6c-2f0f6f0e8a11",
    "organization_id": "0b6e4c1e-8a43-4a9e-9b57-3c1f1c2d7e55",
    "credentials": {"token": "<signed token with organizations:admin>"},
    "payload": {
        "consultant_number": 29098,
        "client_number": 55003,
        "chart": "SKR03",
        "account_length": 4,
        "fiscal_year_start_month": 1,
        "lock_batches": False,
        "revenue_accounts": [
            {"category": "standard", "rate": "19", "account": "8400"},
            {"category": "standard", "rate": "7", "account": "8300"},
            {"category": "intra_eu", "account": "8125"},
            {"category": "reverse_charge", "region": "eu", "account": "8336"},
        ],
        "debtor_accounts": {"c1a4ae1c-52c4-4f8e-a0f2-8f7d1b7c2a01": 10001},
    },
}


#: a subsidiary with books of its own: a DATEV client of its own (its 21 % mapped there)
_CONFIGURE_SUBSIDIARY_EXAMPLE: dict[str, Any] = {
    **_CONFIGURE_EXAMPLE,
    "command_id": "3c1e9b4a-7f2d-4e8a-b6c5-0d9e8f7a6b54",
    "payload": {
        "subsidiary_id": "sub-be",
        "consultant_number": 41234,
        "client_number": 70001,
        "chart": "SKR03",
        "fiscal_year_start_month": 4,
        "revenue_accounts": [
            {"category": "standard", "rate": "21", "account": "8401"},
            {"category": "reverse_charge", "region": "eu", "account": "8336"},
        ],
        "automatic_accounts": ["8401", "8336"],
    },
}


class ConfigureDatev(Command):
    """Store the DATEV settings of a client (validated; see ``DatevSettings``): the
    organization's, or with ``subsidiary_id`` a subsidiary's own (a subsidiary with books of
    its own: it is then exported apart, with ``export_datev``'s ``subsidiary_id``, and no
    longer in the organization's export).

    ``revenue_accounts`` and ``automatic_accounts`` default to the chart's accounts when
    null. ``debtor_accounts`` pins customers to Debitor accounts inside the debtor range of
    this client; other customers get the next free account on their first export, and keep it.
    """

    model_config = ConfigDict(
        json_schema_extra={"examples": [_CONFIGURE_EXAMPLE, _CONFIGURE_SUBSIDIARY_EXAMPLE]}
    )

    type: Literal["configure_datev"] = "configure_datev"
    payload: DatevConfiguration
    scope: ClassVar[str] = ADMIN


class ExportDatevPayload(Contract):
    date_from: dt.date = Field(description="first Belegdatum (invoice/payment date) included")
    date_to: dt.date = Field(description="last Belegdatum included")
    include_payments: bool = Field(
        default=False, description="also book payments: bank to Debitor, Belegfeld 1 = invoice"
    )
    scope: Literal["all", "unexported"] = Field(
        default="all",
        description="all: every booking dated in the range (the same export run again yields "
        "the same bookings); unexported: only documents/payments/reversals no earlier export "
        "contained",
    )
    split_monthly: bool = Field(default=False, description="one batch per month")
    requested_by: Requester | None = Field(
        default=None, description="who asked for the export (shown in the export record)"
    )
    subsidiary_id: Reference | None = Field(
        default=None,
        description="export a subsidiary's own DATEV client (configure_datev with this "
        "subsidiary_id): exactly its documents, under its settings, marks and Debitor "
        "accounts. Null: the organization's client, which holds the organization's documents "
        "and those of the subsidiaries without DATEV settings of their own",
    )

    @model_validator(mode="after")
    def _range(self) -> ExportDatevPayload:
        if self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if (self.date_to - self.date_from).days > 366 * 10:
            raise ValueError("the range is longer than ten years")
        return self


class ExportDatev(Command):
    """Write a DATEV EXTF export (zip) of one DATEV client for a date range and mark the
    invoices exported in that client."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "export_datev",
                    "command_id": "5f0c7a8e-2d1b-4c3e-9f4a-6b7c8d9e0f12",
                    "organization_id": "0b6e4c1e-8a43-4a9e-9b57-3c1f1c2d7e55",
                    "credentials": {"token": "<signed token with invoices:write>"},
                    "payload": {
                        "date_from": "2026-01-01",
                        "date_to": "2026-03-31",
                        "include_payments": True,
                    },
                },
                {
                    "type": "export_datev",
                    "command_id": "8e2d4c6b-1a3f-4b5e-9c7d-2f4a6b8c0d13",
                    "organization_id": "0b6e4c1e-8a43-4a9e-9b57-3c1f1c2d7e55",
                    "credentials": {"token": "<signed token with invoices:write>"},
                    "payload": {
                        "date_from": "2026-01-01",
                        "date_to": "2026-03-31",
                        "subsidiary_id": "sub-be",
                    },
                },
            ]
        }
    )

    type: Literal["export_datev"] = "export_datev"
    payload: ExportDatevPayload
    scope: ClassVar[str] = WRITE


class ExportCsvPayload(Contract):
    filters: InvoiceFilter = Field(
        default_factory=InvoiceFilter,
        description="the filter of list_invoices; every field and operator works the same",
    )
    delimiter: Literal[",", ";", "\t", "|"] = ","
    bom: bool = Field(default=False, description="write a UTF-8 byte order mark (for Excel)")
    requested_by: Requester | None = None


class ExportCsv(Command):
    """Write the invoices matching the list filters as CSV (UTF-8, formula-injection safe).

    One row per document, by issue date then number; columns: id, number, kind, status,
    overdue, issue_date, due_date, delivery_date, customer_id, customer_name, customer_vat_id,
    customer_country, case_id, project_reference, purchase_order_number, currency, net_total,
    tax_total, gross_total, paid_amount, credited_amount, written_off_amount, open_amount,
    exchange_rate, credited_invoice_id, export_status, exported_at, finalized_at, sent_at,
    paid_at, voided_at, deleted_at, tags, dunning_level, dunned_on, credit_balance.

    dunning_level and dunned_on since the invoice's dunning level (0031); credit_balance (what
    was paid beyond what the invoice owes, kept as the customer's credit: the state's
    totals.credit_balance) since session 38. New columns come last."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "export_csv",
                    "command_id": "9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "organization_id": "0b6e4c1e-8a43-4a9e-9b57-3c1f1c2d7e55",
                    "credentials": {"token": "<signed token with invoices:read>"},
                    "payload": {
                        "filters": {
                            "status": ["sent", "partially_paid"],
                            "issue_date_from": "2026-01-01",
                        },
                        "delimiter": ";",
                        "bom": True,
                    },
                }
            ]
        }
    )

    type: Literal["export_csv"] = "export_csv"
    payload: ExportCsvPayload
    scope: ClassVar[str] = READ
