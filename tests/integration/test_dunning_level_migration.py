"""Migration 0031_dunning_level on both backends: the upgrade fills ``invoices.dunning_level``
and ``dunned_on`` from the notices sent before it (the highest level and its day), leaves the
invoices never dunned at 0, and goes down and up again."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from invoicing import db
from invoicing.models import Invoice
from invoicing.models.dunning import DunningNotice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import insert, inspect, select

from tests.support.client import Client, line
from tests.support.databases import migrated_url
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_upgrade_fills_the_level_from_the_notices(backend: str, tmp_path: Path) -> None:
    with migrated_url(backend, tmp_path, "invoicing_t_dlevel") as url:
        engine = db.make_engine(url)
        try:
            client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
            client.setup_org()
            customer = client.customer()
            dunned, other = (
                client.finalized(customer, [line()], dt.date(2026, 1, 5))["id"] for _ in range(2)
            )
            with engine.begin() as conn:
                for level, day in ((1, dt.date(2026, 2, 1)), (2, dt.date(2026, 2, 15))):
                    conn.execute(
                        insert(DunningNotice).values(
                            organization_id=client.org,
                            invoice_id=uuid.UUID(dunned),
                            level=level,
                            command_id=uuid.uuid4(),
                            as_of=day,
                            sent_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
                            days_overdue=10,
                            currency="EUR",
                            open_amount=Decimal("119.00"),
                            fee=Decimal(0),
                            interest=Decimal(0),
                            message_id=f"<{level}@x>",
                            delivery_status="sent",
                        )
                    )
            cfg = db.alembic_config(url)
            command.downgrade(cfg, "0030_dunning_blocks")
            columns = {c["name"] for c in inspect(engine).get_columns("invoices")}
            assert not {"dunning_level", "dunned_on"} & columns
            command.upgrade(cfg, "head")
            with engine.connect() as conn:
                rows = dict(
                    (str(iid), (level, day))
                    for iid, level, day in conn.execute(
                        select(Invoice.id, Invoice.dunning_level, Invoice.dunned_on).where(
                            Invoice.organization_id == client.org
                        )
                    )
                )
            assert rows == {dunned: (2, dt.date(2026, 2, 15)), other: (0, None)}
        finally:
            engine.dispose()
