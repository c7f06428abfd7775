"""Invoice states produced by the real core: commands through the message bus on SQLite.

Used by the e-invoice tests (and, read-only, by the PDF tests): what they check is exactly
what the service emits in its events. Each scenario returns the ``InvoiceState`` of the
final event (``invoice.finalized`` or ``credit_note.issued``).

    core = Core(tmp_path)
    state = german_domestic(core)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoicing import bootstrap
from invoicing.config import Settings
from invoicing.pipeline import Outcome
from invoicing.schemas.events import InvoiceState

ISSUE_DATE = dt.date(2026, 11, 20)

DE_SELLER: dict[str, Any] = {
    "name": "Kanzlei Müller GmbH",
    "address": {
        "street_address": "Hauptstraße 1",
        "zip_code": "50667",
        "city": "Köln",
        "country_code": "DE",
    },
    "vat_id": "DE136695976",
    "tax_number": "214/5710/0411",
    "registration": "Amtsgericht Köln HRB 12345",
    "managing_directors": "Dr. Anna Müller",
    "email": "rechnung@kanzlei-mueller.de",
    "phone": "+49 221 123456",
    "iban": "DE89370400440532013000",
    "default_tax_rate": 19,
    "default_locale": "de",
    "number_series": {
        "invoice": {"pattern": "RE-{YYYY}-{SEQ:3}"},
        "credit_note": {"pattern": "GS-{YYYY}-{SEQ:4}"},
    },
}

DE_BUYER: dict[str, Any] = {
    "company": "Acme AG",
    "email": "buchhaltung@acme.example",
    "locale": "de",
    "vat_id": "DE811569869",
    "buyer_reference": "04011000-12345-03",
    "address": {
        "street_address": "Ring 2",
        "zip_code": "10115",
        "city": "Berlin",
        "country_code": "DE",
    },
}

BE_SELLER: dict[str, Any] = {
    "name": "Atelier Dupont SRL",
    "address": {
        "street_address": "Rue de la Loi 16",
        "zip_code": "1000",
        "city": "Bruxelles",
        "country_code": "BE",
    },
    "vat_id": "BE0776057012",
    "registration": "RPM Bruxelles 0776.057.012",
    "email": "factures@dupont.example",
    "phone": "+32 2 123 45 67",
    "iban": "BE71096123456769",
    "default_tax_rate": 21,
    "default_locale": "fr",
    "number_series": {
        "invoice": {"pattern": "F{YYYY}{SEQ:4}"},
        "credit_note": {"pattern": "NC{YYYY}{SEQ:4}"},
    },
}

BE_BUYER: dict[str, Any] = {
    "company": "Brasserie Janssens BV",
    "email": "boekhouding@janssens.example",
    "locale": "nl",
    "vat_id": "BE0880676559",
    "peppol_id": "0208:0880676559",
    "address": {
        "street_address": "Grote Markt 1",
        "zip_code": "2000",
        "city": "Antwerpen",
        "country_code": "BE",
    },
}

NL_BUYER: dict[str, Any] = {
    "company": "Van Dijk Techniek B.V.",
    "email": "facturen@vandijk.example",
    "locale": "en",
    "vat_id": "NL004495445B01",
    "address": {
        "street_address": "Keizersgracht 100",
        "zip_code": "1015 AA",
        "city": "Amsterdam",
        "country_code": "NL",
    },
}


class CommandRejected(AssertionError):
    pass


class Core:
    """The service core on a SQLite file, driven by command documents."""

    def __init__(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/core-{uuid.uuid4().hex[:8]}.sqlite3"
        self.app = bootstrap.local(
            Settings(database_url=url), migrate=True, configure_logging=False
        )

    def run(self, organization_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> Outcome:
        """Handle one command; raise with the rejection errors unless it was applied."""
        outcome = self.app.pipeline.handle_document(
            {
                "type": type_,
                "command_id": str(uuid.uuid4()),
                "organization_id": str(organization_id),
                "payload": payload,
            }
        )
        if outcome.status != "applied":
            raise CommandRejected(f"{type_} {outcome.status}: {outcome.errors}")
        return outcome

    @staticmethod
    def state(outcome: Outcome, event_type: str | None = None) -> InvoiceState:
        """The invoice state of the last (matching) invoice event of an outcome."""
        for event in reversed(outcome.events):
            if event_type is not None and event["type"] != event_type:
                continue
            data = event.get("data") or {}
            if "invoice" in data:
                return InvoiceState.model_validate(data["invoice"])
        raise AssertionError(f"no invoice event in {[e['type'] for e in outcome.events]}")

    def organization(self, **payload: Any) -> uuid.UUID:
        org = uuid.uuid4()
        self.run(org, "configure_organization", payload)
        return org

    def customer(self, org: uuid.UUID, **payload: Any) -> uuid.UUID:
        customer_id = uuid.uuid4()
        self.run(org, "create_customer", {"id": str(customer_id), **payload})
        return customer_id

    def invoice(
        self,
        org: uuid.UUID,
        customer_id: uuid.UUID,
        lines: list[dict[str, Any]],
        *,
        issue_date: dt.date = ISSUE_DATE,
        **fields: Any,
    ) -> InvoiceState:
        """Create a draft with ``lines`` and finalize it; returns the finalized state."""
        invoice_id = uuid.uuid4()
        self.run(
            org,
            "create_invoice",
            {"id": str(invoice_id), "customer_id": str(customer_id), "lines": lines, **fields},
        )
        outcome = self.run(
            org,
            "finalize_invoice",
            {"invoice_id": str(invoice_id), "issue_date": issue_date.isoformat()},
        )
        return self.state(outcome, "invoice.finalized")

    def credit_note(
        self,
        org: uuid.UUID,
        invoice: InvoiceState,
        *,
        lines: list[dict[str, Any]] | None = None,
        reason: str | None = None,
        issue_date: dt.date = ISSUE_DATE + dt.timedelta(days=5),
    ) -> InvoiceState:
        """Issue a credit note against ``invoice`` (full when ``lines`` is None)."""
        payload: dict[str, Any] = {
            "invoice_id": str(invoice.id),
            "issue_date": issue_date.isoformat(),
        }
        if lines is not None:
            payload["lines"] = lines
        if reason is not None:
            payload["reason"] = reason
        outcome = self.run(org, "issue_credit_note", payload)
        return self.state(outcome, "credit_note.issued")


# ----------------------------------------------------------------------------- scenarios


def german_domestic(core: Core) -> InvoiceState:
    """DE -> DE: 19 % and 7 % lines, a line discount and a 5 % document discount."""
    org = core.organization(**DE_SELLER)
    customer = core.customer(org, **DE_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Beratung Vertragsrecht",
                "quantity": "3.5",
                "unit": "hours",
                "unit_price": "250.00",
            },
            {
                "description": "Fachbuch Handelsrecht",
                "subtitle": "3. Auflage",
                "quantity": "2",
                "unit": "piece",
                "unit_price": "49.90",
                "tax_rate": "7",
            },
            {
                "description": "Schriftsatz",
                "quantity": "1",
                "unit": "flat",
                "unit_price": "480.00",
                "discount": {"type": "percentage", "value": "10"},
            },
        ],
        discount={"type": "percentage", "value": "5"},
        purchase_order_number="PO-2026-0815",
        service_period={"start": "2026-10-01", "end": "2026-10-31"},
        notes="Vielen Dank für Ihren Auftrag.",
    )


def reverse_charge_13b(core: Core) -> InvoiceState:
    """DE -> DE construction services under § 13b UStG: category AE, 0 %."""
    org = core.organization(**DE_SELLER)
    customer = core.customer(org, **DE_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Dachsanierung Bauabschnitt 2",
                "quantity": "1",
                "unit": "flat",
                "unit_price": "12500.00",
                "tax_category": "reverse_charge",
                "tax_rate": "0",
            },
            {
                "description": "Gerüststellung",
                "quantity": "14",
                "unit": "day",
                "unit_price": "85.00",
                "tax_category": "reverse_charge",
                "tax_rate": "0",
            },
        ],
    )


def small_business_19(core: Core) -> InvoiceState:
    """A § 19 UStG small business with only a Steuernummer: exempt lines, no VAT."""
    seller = {
        **DE_SELLER,
        "name": "Grafikbüro Schmidt",
        "vat_id": None,
        "tax_number": "201/123/45678",
        "registration": None,
        "managing_directors": None,
        "small_business": True,
    }
    org = core.organization(**seller)
    customer = core.customer(org, **{**DE_BUYER, "vat_id": None})
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Logo-Entwurf",
                "quantity": "1",
                "unit": "flat",
                "unit_price": "450.00",
                "tax_category": "exempt",
                "tax_rate": "0",
            },
            {
                "description": "Korrekturschleife",
                "quantity": "2.5",
                "unit": "hours",
                "unit_price": "60.00",
                "tax_category": "exempt",
                "tax_rate": "0",
            },
        ],
    )


def gross_entry_odd_cents(core: Core) -> InvoiceState:
    """Gross prices ending in odd cents (19 % and 7 %), split by the engine."""
    org = core.organization(**DE_SELLER)
    customer = core.customer(org, **DE_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Software-Lizenz",
                "quantity": "3",
                "unit": "piece",
                "unit_price": "33.33",
            },
            {
                "description": "Support-Minuten",
                "quantity": "7",
                "unit": "minutes",
                "unit_price": "1.99",
            },
            {
                "description": "Handbuch",
                "quantity": "1",
                "unit": "piece",
                "unit_price": "19.97",
                "tax_rate": "7",
            },
            {
                "description": "Versand",
                "quantity": "1",
                "unit": "flat",
                "unit_price": "4.99",
                "discount": {"type": "amount", "value": "0.51"},
            },
        ],
        calculate_from_net=False,
        discount={"type": "amount", "value": "2.03"},
    )


def belgian_domestic(core: Core) -> InvoiceState:
    """BE -> BE: 21 % and 6 % lines; the payment reference is a structured communication."""
    org = core.organization(**BE_SELLER)
    customer = core.customer(org, **BE_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Conception graphique",
                "quantity": "12",
                "unit": "hours",
                "unit_price": "85.00",
            },
            {
                "description": "Livres d'art",
                "quantity": "3",
                "unit": "piece",
                "unit_price": "24.95",
                "tax_rate": "6",
            },
        ],
        purchase_order_number="BC-7781",
    )


def belgian_intra_eu(core: Core) -> InvoiceState:
    """BE -> NL intra-Community supply of goods: category K, 0 %."""
    org = core.organization(**BE_SELLER)
    customer = core.customer(org, **NL_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Meubles sur mesure",
                "quantity": "4",
                "unit": "piece",
                "unit_price": "1250.00",
                "tax_category": "intra_eu",
                "tax_rate": "0",
            },
        ],
        purchase_order_number="PO-NL-42",
    )


def german_credit_note(core: Core) -> InvoiceState:
    """A partial credit note against a German domestic invoice (BG-3 set)."""
    invoice = german_domestic(core)
    org = invoice.organization_id
    return core.credit_note(
        org,
        invoice,
        lines=[
            {
                "description": "Gutschrift Beratung (Kulanz)",
                "quantity": "1",
                "unit": "hours",
                "unit_price": "250.00",
            },
        ],
        reason="Kulanz: eine Stunde gutgeschrieben",
    )


def belgian_credit_note(core: Core) -> InvoiceState:
    """A full credit note against a Belgian domestic invoice."""
    invoice = belgian_domestic(core)
    return core.credit_note(invoice.organization_id, invoice, reason="Annulation")


def many_lines(core: Core, count: int = 30) -> InvoiceState:
    """A German invoice with ``count`` lines at 19 % and 7 %, some with a line discount
    (benchmarks/documents.py's larger invoice)."""
    org = core.organization(**DE_SELLER)
    customer = core.customer(org, **DE_BUYER)
    lines = [
        {
            "description": f"Leistung {i + 1}: Beratung und Schriftsatz",
            "quantity": f"{1 + i % 4}.5",
            "unit": "hours",
            "unit_price": f"{95 + 7 * i}.{i % 100:02d}",
            "tax_rate": "7" if i % 5 == 0 else "19",
            **({"discount": {"type": "percentage", "value": "10"}} if i % 3 == 0 else {}),
        }
        for i in range(count)
    ]
    return core.invoice(
        org, customer, lines, service_period={"start": "2026-10-01", "end": "2026-10-31"}
    )


#: every named scenario (the documents the e-invoice tests build in each format)
US_BUYER: dict[str, Any] = {
    "company": "Globex Corporation",
    "email": "ap@globex.example",
    "locale": "en",
    "address": {
        "street_address": "1 Main Street",
        "zip_code": "10001",
        "city": "New York",
        "country_code": "US",
    },
}


def german_not_subject(core: Core) -> InvoiceState:
    """DE -> US, every line outside the scope of German VAT (category O): no VAT id of either
    party on the e-invoice (BR-O-02), rate 0 in its one breakdown (BR-DE-14)."""
    org = core.organization(**DE_SELLER)
    customer = core.customer(org, **US_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Legal opinion, US distribution agreement",
                "quantity": "6",
                "unit": "hours",
                "unit_price": "320.00",
                "tax_category": "outside_scope",
                "tax_rate": "0",
            },
            {
                "description": "Court fees advanced (disbursement)",
                "quantity": "1",
                "unit": "flat",
                "unit_price": "180.00",
                "tax_category": "outside_scope",
                "tax_rate": "0",
            },
        ],
        discount={"type": "amount", "value": "20.00"},
    )


def german_exempt_refund(core: Core) -> InvoiceState:
    """DE -> DE: a negative exempt line (a refunded fee) beside 19 % lines: the exempt group's
    tax is a plain 0.00, never -0.00 (BR-E-09)."""
    org = core.organization(**DE_SELLER)
    customer = core.customer(org, **DE_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Beratung",
                "quantity": "2",
                "unit": "hours",
                "unit_price": "250.00",
            },
            {
                "description": "Erstattung Auslagen",
                "quantity": "0.5",
                "unit": "flat",
                "unit_price": "-10.00",
                "tax_category": "exempt",
                "tax_rate": "0",
            },
        ],
    )


def belgian_not_subject(core: Core) -> InvoiceState:
    """BE -> BE over Peppol, every line not subject to VAT: the participant ids stay (the
    enterprise numbers, derived from the VAT ids), the VAT ids leave the XML (BR-O-02)."""
    org = core.organization(**BE_SELLER)
    customer = core.customer(org, **BE_BUYER)
    return core.invoice(
        org,
        customer,
        [
            {
                "description": "Débours: frais de greffe",
                "quantity": "1",
                "unit": "flat",
                "unit_price": "165.00",
                "tax_category": "outside_scope",
                "tax_rate": "0",
            },
        ],
    )


ALL: dict[str, Callable[[Core], InvoiceState]] = {
    "german_domestic": german_domestic,
    "reverse_charge_13b": reverse_charge_13b,
    "small_business_19": small_business_19,
    "gross_entry_odd_cents": gross_entry_odd_cents,
    "belgian_domestic": belgian_domestic,
    "belgian_intra_eu": belgian_intra_eu,
    "german_credit_note": german_credit_note,
    "belgian_credit_note": belgian_credit_note,
    "german_not_subject": german_not_subject,
    "german_exempt_refund": german_exempt_refund,
    "belgian_not_subject": belgian_not_subject,
}
