"""Migration 0036_payment_reference on both backends: the upgrade stores, for the invoices
finalized before, the structured communication they were sent with (derived from the number
as the renderers derived it), one invoice per value and organization where earlier invoices
already shared one; a finalize afterwards sees those values as taken; down and up again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from invoicing import db
from invoicing.documents.einvoice import payment_reference
from invoicing.domain import payment_reference as rules
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.schemas.events import InvoiceState
from sqlalchemy import inspect, select

from tests.integration.test_payment_reference import LIEGE
from tests.support import scenarios
from tests.support.client import Client, line
from tests.support.databases import migrated_url
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_upgrade_stores_what_earlier_invoices_were_sent_with(
    backend: str, tmp_path: Path
) -> None:
    with migrated_url(backend, tmp_path, "invoicing_t_payref") as url:
        engine = db.make_engine(url)
        try:
            client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
            client.setup_org(scenarios.BE_SELLER)
            client.ok("configure_subsidiary", LIEGE)
            customer = client.customer(locale="fr")
            day = dt.date(2026, 1, 5)
            # invoices as 0034 had them: finalized (through the service, which needs the
            # column), then the column dropped; the upgrade has only their numbers to go by
            first: dict[str, Any] = client.finalized(customer, [line()], day)
            theirs: dict[str, Any] = client.finalized(
                customer, [line()], day, subsidiary_id="liege"
            )
            usd: dict[str, Any] = client.finalized(
                customer, [line()], day, currency="USD", exchange_rate="0.9"
            )
            assert first["payment_reference"] != theirs["payment_reference"]
            cfg = db.alembic_config(url)
            command.downgrade(cfg, "0035_delivery_date_defaulted")
            columns = {c["name"] for c in inspect(engine).get_columns("invoices")}
            assert "payment_reference" not in columns
            command.upgrade(cfg, "head")
            with engine.connect() as conn:
                stored = dict(
                    (str(iid), ref)
                    for iid, ref in conn.execute(
                        select(Invoice.id, Invoice.payment_reference).where(
                            Invoice.organization_id == client.org
                        )
                    )
                )
            # the old derivation gave F20260001 and L20260001 the same communication: the
            # first finalized keeps it stored, the other stays NULL and still derives it
            derived = rules.derive("F20260001")
            assert stored == {first["id"]: derived, theirs["id"]: None, usd["id"]: None}
            reply = client.bus.query_document(
                {
                    "type": "get_invoice",
                    "organization_id": str(client.org),
                    "payload": {"invoice_id": theirs["id"]},
                }
            )
            assert reply["status"] == "ok", reply
            state = InvoiceState.model_validate(reply["result"]["invoice"])
            assert state.payment_reference is None and payment_reference(state) == derived
            # a finalize after the upgrade sees the earlier value as taken
            manual = client.finalized(customer, [line()], day, number="X-2026-0001")
            assert manual["payment_reference"] == rules.candidates("F20260001")[1]
        finally:
            engine.dispose()
