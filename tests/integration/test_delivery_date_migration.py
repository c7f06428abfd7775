"""Migration 0035_delivery_date_defaulted on both backends: the upgrade marks the delivery date
of a finalized invoice as filled in by finalize when it is the issue date and there is no
service period (what finalize filled in before the column existed), leaves a date of its own
and drafts unmarked, and goes down and up again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from invoicing import db
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import inspect, select

from tests.support.client import Client, line
from tests.support.databases import migrated_url
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_upgrade_marks_the_dates_finalize_filled_in(backend: str, tmp_path: Path) -> None:
    with migrated_url(backend, tmp_path, "invoicing_t_ddate") as url:
        engine = db.make_engine(url)
        try:
            client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
            client.setup_org()
            customer = client.customer()
            day = dt.date(2026, 3, 2)
            filled = client.finalized(customer, [line()], day)["id"]
            own = client.finalized(customer, [line()], day, delivery_date="2026-02-20")["id"]
            period = client.finalized(
                customer, [line()], day, service_period={"start": "2026-02-01", "end": "2026-03-02"}
            )["id"]
            draft = str(client.invoice(customer, [line()], delivery_date="2026-03-02"))
            cfg = db.alembic_config(url)
            command.downgrade(cfg, "0034_default_note")
            columns = {c["name"] for c in inspect(engine).get_columns("invoices")}
            assert "delivery_date_defaulted" not in columns
            command.upgrade(cfg, "head")
            with engine.connect() as conn:
                marked = {
                    str(iid): flag
                    for iid, flag in conn.execute(
                        select(Invoice.id, Invoice.delivery_date_defaulted).where(
                            Invoice.organization_id == client.org
                        )
                    )
                }
            assert marked == {filled: True, own: False, period: False, draft: False}
        finally:
            engine.dispose()
