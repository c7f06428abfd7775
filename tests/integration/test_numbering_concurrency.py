"""8 processes finalize 440 invoices of one organization at once on PostgreSQL.

Every 4th finalization first runs in a transaction that allocates a number and then rolls back
on purpose; the invoice is finalized for real afterwards. The numbers must end as exactly
1..440: no gap, no duplicate, number order = the order of the finalizations (their
``finalized_at``), and issue dates never go backwards along the numbers.
"""

from __future__ import annotations

import multiprocessing as mp
import uuid

import pytest
from invoicing import db
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tests.support.client import Client, line
from tests.support.fakes import fake_deps

PROCESSES = 8
INVOICES = 440


def _worker(url: str, org: str, ids: list[str], results: mp.Queue) -> None:  # type: ignore[type-arg]
    import invoicing.handlers  # noqa: F401
    from invoicing.handlers.lifecycle import finalize
    from invoicing.handlers.repository import get_invoice, get_organization
    from invoicing.handlers.unit_of_work import UnitOfWork

    engine = db.make_engine(url, pool_size=1)
    bus = Pipeline(engine, fake_deps(), LocalOperator())
    rolled_back = applied = 0
    for i, iid in enumerate(ids):
        if i % 4 == 0:  # allocate a number, then roll back on purpose
            while True:
                try:
                    with UnitOfWork.for_engine(engine) as uow:
                        org_row = get_organization(uow, uuid.UUID(org))
                        inv = get_invoice(uow, org_row.id, uuid.UUID(iid))
                        finalize(uow, bus.deps, org_row, inv)
                        uow.session.flush()
                        assert inv.number is not None
                        uow.rollback()
                        rolled_back += 1
                    break
                except OperationalError:
                    continue  # lock timeout: transient, try again
        while True:
            try:
                outcome = bus.handle_document(
                    {
                        "type": "finalize_invoice",
                        "command_id": str(uuid.uuid4()),
                        "organization_id": org,
                        "payload": {"invoice_id": iid},
                    }
                )
                assert outcome.status == "applied", outcome.errors
                applied += 1
                break
            except OperationalError:
                continue
    results.put((applied, rolled_back))
    engine.dispose()


@pytest.mark.slow
def test_gapless_numbers_under_concurrency(pg_url: str) -> None:
    engine = db.make_engine(pg_url)
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org()
    cust = client.customer()
    ids = [str(client.invoice(cust, [line()])) for _ in range(INVOICES)]
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(target=_worker, args=(pg_url, str(client.org), ids[k::PROCESSES], results))
        for k in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    totals = [results.get(timeout=5) for _ in procs]
    assert sum(a for a, _ in totals) == INVOICES
    deliberate = sum((len(ids[k::PROCESSES]) + 3) // 4 for k in range(PROCESSES))
    assert sum(r for _, r in totals) == deliberate
    with client.bus.uow_factory() as uow:
        rows = uow.session.execute(
            select(
                Invoice.sequence_number, Invoice.number, Invoice.finalized_at, Invoice.issue_date
            ).where(Invoice.organization_id == client.org)
        ).all()
    seqs = sorted(r.sequence_number for r in rows)
    assert seqs == list(range(1, INVOICES + 1)), "gap or duplicate in the numbers"
    assert len({r.number for r in rows}) == INVOICES
    by_number = sorted(rows, key=lambda r: r.sequence_number)
    assert [r.finalized_at for r in by_number] == sorted(r.finalized_at for r in rows)
    assert [r.issue_date for r in by_number] == sorted(r.issue_date for r in rows)
    print(
        f"\nnumbering: {INVOICES} invoices by {PROCESSES} processes, "
        f"{deliberate} deliberate rollbacks, numbers 1..{max(seqs)}, gaps 0, duplicates 0"
    )
    engine.dispose()
