"""Published invoices for the hosted page's tests, and their documents in the real store: stored
by the delivery runner after publish_invoice (``deliver``), or frozen as a send_invoice
delivery leaves them (``freeze_documents``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoicing import bootstrap
from invoicing.documents.einvoice.build import build_validated_einvoice
from invoicing.documents.pdf.engine import default_renderer
from invoicing.documents.store import DocumentStore
from invoicing.handlers.deliveries import StepResult
from invoicing.handlers.views import invoice_state
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.support.client import BE_ORG, DE_ORG, Client, line
from tests.support.fakes import fake_deps

#: XRechnung needs a seller contact (BR-DE-2)
DE_PROFILE = {**DE_ORG, "email": "rechnung@kanzlei-mueller.example", "phone": "+49 221 123456"}


@dataclass
class Published:
    organization_id: str
    invoice_id: str
    number: str
    token: str
    state: dict[str, Any]


def storing_client(
    engine: Engine, documents: Path, profile: dict[str, Any] | None = None
) -> Client:
    """A client whose delivery steps render real PDFs (Typst) into the database store."""
    client = Client(Pipeline(engine, fake_deps(pdf_renderer=default_renderer()), LocalOperator()))
    client.setup_org(profile or DE_PROFILE)
    return client


def deliver(client: Client, pub: Published) -> list[StepResult]:
    """Run the delivery jobs of the invoice's commands (the share job of publish_invoice), as
    the runner threads of a worker do after the commit."""
    runner = bootstrap.deliverer(client.bus)
    steps: list[StepResult] = []
    for doc in client.sent:
        if doc["payload"].get("invoice_id") == pub.invoice_id:
            command_id = uuid.UUID(doc["command_id"])
            steps += runner.run_for_command(client.org, command_id)
    return steps


def publish(client: Client, invoice_id: uuid.UUID | str, **payload: Any) -> Published:
    out = client.ok("publish_invoice", {"invoice_id": str(invoice_id), **payload})
    data = out.events[-1]["data"]
    return Published(
        str(client.org),
        str(invoice_id),
        data["invoice"]["number"],
        data["share_token"],
        data["invoice"],
    )


def freeze_documents(engine: Engine, documents: Path, pub: Published, xml: str | None) -> None:
    """Render, validate and store the PDF (and the XML in format ``xml``) as frozen documents,
    as the send_invoice delivery does."""
    org, inv_id = uuid.UUID(pub.organization_id), uuid.UUID(pub.invoice_id)
    store = DocumentStore()
    with Session(engine) as session, session.begin():
        inv = session.get(Invoice, (org, inv_id))
        assert inv is not None
        state = invoice_state(inv)
        pdf = default_renderer().render(state)
        made: list[tuple[str, str, str, bytes]] = [
            ("pdf", f"{pub.number}.pdf", "application/pdf", pdf)
        ]
        if xml is not None:
            einvoice, _ = build_validated_einvoice(state, xml)
            made.append((f"xml-{xml}", einvoice.filename, "application/xml", einvoice.xml))
        for kind, filename, media, content in made:
            store.obtain(
                session,
                org_id=org,
                invoice_id=inv_id,
                kind=kind,
                filename=filename,
                media_type=media,
                frozen=True,
                produce=lambda content=content: content,  # type: ignore[misc]
            )


def german_invoice(client: Client, **payload: Any) -> Published:
    cust = client.customer(
        locale="de", einvoice_format="xrechnung_cii", buyer_reference="04011000-12345-03"
    )
    inv = client.invoice(
        cust,
        [
            line("Rechtsberatung Mietrecht", "6.5", "240.00", unit="hours"),
            line("Kommentar BGB", "1", "89.00", tax_rate=7),
        ],
    )
    return publish(client, inv, **payload)


def belgian_invoice(engine: Engine, documents: Path) -> tuple[Client, Published]:
    client = storing_client(engine, documents, BE_ORG)
    cust = client.customer(
        locale="nl",
        company="Brouwerij De Kroon NV",
        address={
            "street_address": "Grote Markt 1",
            "zip_code": "1000",
            "city": "Brussel",
            "country_code": "BE",
        },
        vat_id="BE0477472701",
    )
    inv = client.invoice(cust, [line("Juridisch advies", "3", "150.00")])
    return client, publish(client, inv)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
