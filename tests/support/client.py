"""A tiny test client that speaks the public command contract through the real bus."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from invoicing.models import Invoice, OutboxEvent
from invoicing.pipeline import Outcome, Pipeline
from sqlalchemy import func, select

DE_ORG: dict[str, Any] = {
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
    "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:3}"}},
}

BE_ORG: dict[str, Any] = {
    "name": "Advocatenkantoor Peeters BV",
    "address": {
        "street_address": "Louizalaan 10",
        "zip_code": "1050",
        "city": "Brussel",
        "country_code": "BE",
    },
    "vat_id": "BE0403019261",
    "iban": "BE68539007547034",
    "default_currency": "EUR",
    "default_locale": "nl",
    "default_tax_rate": 21,
    "number_series": {"invoice": {"pattern": "INV-{YYYY}-{SEQ:4}"}},
}


def customer_payload(cid: uuid.UUID, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": str(cid),
        "company": "Acme GmbH",
        "given_name": "Jane",
        "family_name": "Doe",
        "email": f"billing-{cid.hex[:8]}@acme.example",
        "locale": "de",
        "address": {
            "street_address": "Friedrichstraße 10",
            "zip_code": "10117",
            "city": "Berlin",
            "country_code": "DE",
        },
    }
    base.update(over)
    return base


@dataclass
class Client:
    bus: Pipeline
    org: uuid.UUID = field(default_factory=uuid.uuid4)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def doc(
        self,
        ctype: str,
        payload: Any,
        *,
        command_id: uuid.UUID | None = None,
        org: uuid.UUID | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "type": ctype,
            "command_id": str(command_id or uuid.uuid4()),
            "organization_id": str(org or self.org),
            "payload": payload,
            **extra,
        }

    def send(self, ctype: str, payload: Any, **kw: Any) -> Outcome:
        doc = self.doc(ctype, payload, **kw)
        self.sent.append(doc)
        return self.bus.handle_document(doc)

    def ok(self, ctype: str, payload: Any, **kw: Any) -> Outcome:
        outcome = self.send(ctype, payload, **kw)
        assert outcome.status == "applied", (ctype, outcome.errors)
        return outcome

    def rejected(self, ctype: str, payload: Any, **kw: Any) -> list[dict[str, Any]]:
        outcome = self.send(ctype, payload, **kw)
        assert outcome.status == "rejected", (ctype, outcome.events)
        assert [e["type"] for e in outcome.events] == ["command.rejected"]
        return outcome.errors

    def answer(self, qtype: str, payload: dict[str, Any]) -> Any:
        """A query of this organization through the pipeline; its result (it must answer ok)."""
        reply = self.bus.query_document(
            {"type": qtype, "organization_id": str(self.org), "payload": payload}
        )
        assert reply["status"] == "ok", (qtype, reply["errors"])
        return reply["result"]

    # ----------------------------------------------------------------- shortcuts

    def setup_org(self, profile: dict[str, Any] | None = None) -> None:
        self.ok("configure_organization", profile or DE_ORG)

    def customer(self, **over: Any) -> uuid.UUID:
        cid = uuid.uuid4()
        self.ok("create_customer", customer_payload(cid, **over))
        return cid

    def invoice(
        self, customer: uuid.UUID | None, lines: list[dict[str, Any]], **fields: Any
    ) -> uuid.UUID:
        iid = uuid.uuid4()
        payload = {"id": str(iid), "lines": lines, **fields}
        if customer is not None:
            payload["customer_id"] = str(customer)
        self.ok("create_invoice", payload)
        return iid

    def finalized(
        self,
        customer: uuid.UUID,
        lines: list[dict[str, Any]],
        issue_date: dt.date | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        iid = self.invoice(customer, lines, **fields)
        payload: dict[str, Any] = {"invoice_id": str(iid)}
        if issue_date:
            payload["issue_date"] = issue_date.isoformat()
        out = self.ok("finalize_invoice", payload)
        return out.events[-1]["data"]["invoice"]  # type: ignore[no-any-return]

    def state(self, invoice_id: uuid.UUID | str) -> dict[str, Any]:
        """The invoice as its latest event carried it."""
        with self.bus.uow_factory() as uow:
            row = uow.session.execute(
                select(OutboxEvent.payload)
                .where(
                    OutboxEvent.organization_id == self.org,
                    OutboxEvent.subject == str(invoice_id),
                    OutboxEvent.sequence.is_not(None),
                )
                .order_by(OutboxEvent.sequence.desc())
                .limit(1)
            ).scalar_one()
        return row["data"]["invoice"]  # type: ignore[no-any-return]

    def count_invoices(self, org: uuid.UUID | None = None) -> int:
        with self.bus.uow_factory() as uow:
            return int(
                uow.session.execute(
                    select(func.count())
                    .select_from(Invoice)
                    .where(Invoice.organization_id == (org or self.org))
                ).scalar_one()
            )

    def snapshot(self) -> list[Any]:
        """Every row the organization owns (to prove a rejection changed nothing)."""
        from invoicing.models import Base

        rows: list[Any] = []
        with self.bus.uow_factory() as uow:
            for table in Base.metadata.sorted_tables:
                if "organization_id" not in table.c or table.name in (
                    "outbox",
                    "processed_commands",
                ):
                    continue
                result = uow.session.execute(
                    select(table).where(table.c.organization_id == self.org)
                ).all()
                rows.append((table.name, sorted(map(repr, result))))
        return rows


def line(
    description: str = "Beratung", quantity: Any = "1", unit_price: Any = "100.00", **over: Any
) -> dict[str, Any]:
    return {"description": description, "quantity": quantity, "unit_price": unit_price, **over}
