"""One worked example per core command, attached to each model's JSON schema.

The examples are real: ``tests/unit/test_schema_examples.py`` validates each against its model,
and the AsyncAPI document publishes them.
"""

from __future__ import annotations

from typing import Any

from invoicing.schemas import commands as c
from invoicing.schemas import dunning as _dunning  # noqa: F401
from invoicing.schemas import exports as _exports  # noqa: F401  (registered before attach)
from invoicing.schemas import integrations as _integrations  # noqa: F401
from invoicing.schemas import sending as _sending  # noqa: F401
from invoicing.schemas import sharing as _sharing  # noqa: F401

ORG = "d0000000-0000-4000-8000-000000000001"
INVOICE = "e0000000-0000-4000-8000-000000000001"
CUSTOMER = "a0000000-0000-4000-8000-000000000001"
TOKEN = {"token": "<signed token granting invoices:write for the organization>"}


def _doc(ctype: str, payload: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "type": ctype,
        "command_id": f"c0000000-0000-4000-8000-{n:012d}",
        "organization_id": ORG,
        "correlation_id": "billing-run-2026-11",
        "credentials": TOKEN,
        "payload": payload,
    }


_LINE = {
    "description": "Rechtsberatung Vertragsrecht",
    "quantity": "6.5",
    "unit": "hours",
    "unit_price": "240.00",
    "tax_rate": "19",
    "tax_category": "standard",
}

PAYLOADS: dict[str, dict[str, Any]] = {
    "configure_organization": {
        "name": "Kanzlei Müller & Partner GmbH",
        "address": {
            "street_address": "Hohenzollernring 1",
            "zip_code": "50672",
            "city": "Köln",
            "country_code": "DE",
        },
        "vat_id": "DE136695976",
        "tax_number": "215/5730/1234",
        "iban": "DE89370400440532013000",
        "default_currency": "EUR",
        "default_locale": "de",
        "default_tax_rate": 19,
        "default_payment_terms_days": 14,
        "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:3}", "yearly_reset": True}},
    },
    "create_customer": {
        "id": CUSTOMER,
        "company": "Acme Handels GmbH",
        "given_name": "Jane",
        "family_name": "Doe",
        "email": "buchhaltung@acme.example",
        "locale": "de",
        "vat_id": "DE811907980",
        "address": {
            "street_address": "Friedrichstraße 10",
            "zip_code": "10117",
            "city": "Berlin",
            "country_code": "DE",
        },
    },
    "update_customer": {
        "id": CUSTOMER,
        "company": "Acme Handels GmbH",
        "email": "ap@acme.example",
        "locale": "en",
    },
    "create_invoice": {
        "id": INVOICE,
        "customer_id": CUSTOMER,
        "case_id": "AZ 123/26",
        "delivery_date": "2026-11-13",
        "discount": {"type": "percentage", "value": "5"},
        "lines": [
            _LINE,
            {"description": "Fachliteratur", "quantity": 1, "unit_price": "89.00", "tax_rate": 7},
        ],
    },
    "update_invoice": {"id": INVOICE, "notes": "Zahlbar ohne Abzug.", "payment_terms_days": 30},
    "add_line": {"invoice_id": INVOICE, "line": _LINE},
    "remove_line": {"invoice_id": INVOICE, "line_id": "b0000000-0000-4000-8000-000000000009"},
    "delete_invoice": {"invoice_id": INVOICE},
    "restore_invoice": {"invoice_id": INVOICE},
    "purge_invoice": {"invoice_id": INVOICE},
    "finalize_invoice": {"invoice_id": INVOICE, "issue_date": "2026-11-16"},
    "mark_sent": {"invoice_id": INVOICE, "sent_on": "2026-11-16"},
    "record_payment": {
        "invoice_id": INVOICE,
        "amount": "1000.00",
        "date": "2026-11-20",
        "method": "bank_transfer",
        "reference": "TXN-12345",
    },
    "delete_payment": {"invoice_id": INVOICE, "payment_id": "f1000000-0000-4000-8000-000000000001"},
    "apply_customer_credit": {
        "customer_id": CUSTOMER,
        "invoice_id": INVOICE,
        "amount": "150.00",
        "date": "2026-12-02",
    },
    "refund_customer_credit": {
        "customer_id": CUSTOMER,
        "currency": "EUR",
        "amount": "150.00",
        "date": "2026-12-03",
        "reference": "Rückzahlung Guthaben",
    },
    "mark_paid": {"invoice_id": INVOICE, "date": "2026-11-28", "send_notification": True},
    "void_invoice": {"invoice_id": INVOICE, "reason": "Doppelt erstellt"},
    "issue_standalone_credit_note": {
        "credit_note_id": "f3000000-0000-4000-8000-000000000001",
        "customer_id": "c1a4ae1c-52c4-4f8e-a0f2-8f7d1b7c2a01",
        "reason": "Jahresbonus 2026",
        "lines": [
            {"description": "Bonus Beratungsleistungen", "quantity": "1", "unit_price": "500.00"}
        ],
    },
    "write_off_invoice": {
        "invoice_id": INVOICE,
        "write_off_id": "f2000000-0000-4000-8000-000000000001",
        "date": "2026-12-31",
        "reason": "uncollectible",
        "note": "Insolvenzverfahren mangels Masse abgelehnt",
    },
    "reverse_write_off": {
        "invoice_id": INVOICE,
        "write_off_id": "f2000000-0000-4000-8000-000000000001",
        "date": "2027-02-15",
    },
    "issue_credit_note": {
        "invoice_id": INVOICE,
        "reason": "Kulanz",
        "lines": [
            {
                "description": "Gutschrift Rechtsberatung",
                "quantity": "0.5",
                "unit": "hours",
                "unit_price": "228.00",
            }
        ],
    },
    "change_recipient": {
        "invoice_id": INVOICE,
        "customer_id": "a0000000-0000-4000-8000-000000000002",
        "new_invoice_id": "e0000000-0000-4000-8000-000000000003",
    },
    "duplicate_invoice": {
        "invoice_id": INVOICE,
        "new_invoice_id": "e0000000-0000-4000-8000-000000000004",
    },
    "batch": {
        "action": "finalize",
        "invoice_ids": [INVOICE, "e0000000-0000-4000-8000-000000000002"],
    },
    "check_overdue": {"as_of": "2026-12-01"},
    "record_billable_entry": {
        "id": "tte_01",
        "kind": "time",
        "customer_id": CUSTOMER,
        "case_id": "AZ 123/26",
        "date": "2026-11-03",
        "description": "Telefonat mit Gegenseite",
        "quantity": "0.75",
        "unit": "hours",
        "unit_price": "240.00",
        "budget_id": "budget-657",
        "service_id": "beratung",
    },
    "invoice_billable_entries": {
        "invoice_id": INVOICE,
        "budget": {
            "budget_ids": ["budget-657"],
            "invoicing_method": "percentage",
            "invoicing_by": "budget",
            "percentage": 50,
            "display_format": "{budget} ({percentage} %)",
            "locale": "de_DE",
        },
    },
    "create_budget": {
        "id": "budget-657",
        "name": "Mandat Acme Vertragsrecht 2026",
        "customer_id": CUSTOMER,
        "case_id": "AZ 123/26",
        "amount": "12000.00",
        "currency": "EUR",
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
        "services": [
            {"id": "beratung", "name": "Beratung", "amount": "10000.00"},
            {"id": "literatur", "name": "Fachliteratur", "amount": "2000.00", "tax_rate": 7},
        ],
    },
    "update_budget": {"id": "budget-657", "name": "Mandat Acme Vertragsrecht 2026 (erweitert)"},
    "close_budget": {"id": "budget-657"},
    "configure_subsidiary": {
        "id": "kanzlei-bruessel",
        "name": "Müller & Partner Advocaten BV",
        "address": {
            "street_address": "Louizalaan 10",
            "zip_code": "1050",
            "city": "Brussel",
            "country_code": "BE",
        },
        "vat_id": "BE0403019261",
        "iban": "BE68539007547034",
        "default_tax_rate": 21,
        "number_series": {
            "invoice": {"pattern": "BE-{YYYY}-{SEQ:4}"},
            "credit_note": {"pattern": "BE-CN-{YYYY}-{SEQ:4}"},
        },
    },
    "send_invoice": {
        "invoice_id": INVOICE,
        "to": ["buchhaltung@acme.example"],
        "cc": ["jane.doe@acme.example"],
        "subject": "Rechnung RE-2026-001",
        "body": "Sehr geehrte Damen und Herren,\n\nanbei unsere Rechnung.",
    },
    "configure_dunning": {
        "currency": "EUR",
        "levels": [
            {"days_after_due": 7},
            {"days_after_due": 21, "fee": "5.00", "interest_rate_per_year": "11.27"},
            {
                "days_after_due": 35,
                "fee": "10.00",
                "interest_rate_per_year": "11.27",
                "texts": {
                    "de": {
                        "subject": "{level_title}: Rechnung {number}",
                        "body": "Sehr geehrte Damen und Herren,\n\nRechnung {number} ist seit "
                        "{days_overdue} Tagen fällig. Bitte zahlen Sie {total_due}.",
                    }
                },
            },
        ],
        "bcc": ["mahnwesen@kanzlei-mueller.example"],
    },
    "send_dunning_notices": {"as_of": "2026-12-01"},
    "block_dunning": {
        "invoice_id": INVOICE,
        "until": "2027-01-31",
        "reason": "Rechnung bestritten: Einwand vom 28.11. in Prüfung",
    },
    "lift_dunning_block": {"invoice_id": INVOICE},
    "publish_invoice": {"invoice_id": INVOICE, "expires_on": "2027-06-30"},
    "unpublish_invoice": {"invoice_id": INVOICE},
    "export_invoice": {
        "invoice_id": INVOICE,
        "integration": "xero",
        "external_id": "INV-0042",
        "url": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=9b1f",
        "company_reference_id": "115",
    },
    "export_update": {
        "invoice_id": INVOICE,
        "integration": "xero",
        "changes": ["recipient"],
        "detail": "the buyer's address was corrected by change_recipient",
    },
}


def example(ctype: str) -> dict[str, Any]:
    return _doc(ctype, PAYLOADS[ctype], sorted(PAYLOADS).index(ctype) + 1)


def attach() -> None:
    """Put each example into its model's JSON schema (``examples``)."""
    for ctype in PAYLOADS:
        model = c.COMMAND_TYPES.get(ctype)
        if model is None:  # a command of a module that is not imported
            continue
        current = model.model_config.get("json_schema_extra")
        extra: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
        extra["examples"] = [example(ctype)]
        model.model_config["json_schema_extra"] = extra
        model.model_rebuild(force=True)


attach()
