"""CPU per list page (and per ``get_invoice``): the Core read path against the ORM path it
replaced.

    python benchmarks/list_cpu.py [--database invoicing_bench_reads] [--rounds 40]

In one process, on the database of ``benchmarks/queries.py`` (made by it; not changed here),
each list query of the mix is answered alternately by ``queries.invoices.list_invoices`` (the
page as Core rows, ``queries/rows.py``) and by the ORM path it replaced (``select(Invoice)``,
selectin lines and payments, ``invoice_state`` of the entities), each in a fresh session and
serialized to the reply's JSON. It prints the medians of the process time (CPU of this process:
robust against other load on the machine) and the wall time per page, and checks that both
paths give the same JSON. ``Pipeline.answer_raw`` (the whole service side of a query but the
AMQP hops) is timed for the Core path beside them. The last row is ``get_invoice`` of the
newest invoice, Core rows (since session 8) against the ORM entity it loaded before.

    python benchmarks/list_cpu.py --instructions [--rounds 10]

counts instead the machine instructions of ``Pipeline.answer_raw`` with the reply's JSON per
query of the same mix (valgrind's callgrind, counting only around those calls; about a
minute with ``--rounds 10``): the same build gives the same count whatever the host's speed
and other load, where the process time of a page moved twofold between runs on one host
(session 23). It counts the service's process only, not PostgreSQL's work; compare two
builds in one run each. The collector is set up as in a worker process
(``gc_pauses.settle``: start-up objects frozen, the young generation's threshold raised),
which the CPU-time comparison above leaves as it is.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_profile import callgrind, under_callgrind
from invoicing import bootstrap
from invoicing.config import Settings
from invoicing.handlers.views import invoice_state
from invoicing.models import Customer, Invoice
from invoicing.queries.common import dialect_of, organization_calendar, paginate
from invoicing.queries.filters import invoice_conditions, invoice_order
from invoicing.queries.invoices import get_invoice, list_invoices
from invoicing.schemas.queries import (
    COUNT_LIMIT,
    GetInvoice,
    InvoiceList,
    InvoiceResult,
    ListInvoices,
)
from invoicing.workers import gc_pauses
from queries_data import ORG
from sqlalchemy import and_, select, text
from sqlalchemy.orm import Session

from queries import PG, customer

MIX: list[tuple[str, dict[str, Any]]] = [
    ("newest first", {}),
    ("page 40 (-issue_date)", {"sort": ["-issue_date"], "page": 40}),
    ("open by due date", {"filter": {"status": ["open"]}, "sort": ["due_date"]}),
    ("of a customer", {"filter": {"customer_id": [customer(17)]}, "sort": ["-issue_date"]}),
]


def orm_list_invoices(query: ListInvoices, session: Session) -> InvoiceList:
    """The ORM path the list reads had before: entities, selectin collections."""
    p = query.payload
    dialect = dialect_of(session)
    cal = organization_calendar(session, query.organization_id)
    conditions = invoice_conditions(p.filter, dialect, query.organization_id, cal)
    stmt = (
        select(Invoice)
        .outerjoin(
            Customer,
            and_(
                Customer.organization_id == Invoice.organization_id,
                Customer.id == Invoice.customer_id,
            ),
        )
        .where(Invoice.organization_id == query.organization_id, *conditions)
        .order_by(*invoice_order(list(p.sort), dialect))
    )
    limit = None if p.exact_total else COUNT_LIMIT
    rows, info = paginate(session, stmt, p.page, p.page_size, count_limit=limit)
    return InvoiceList(items=[invoice_state(row[0]) for row in rows], page=info)


def orm_get_invoice(query: GetInvoice, session: Session) -> InvoiceResult:
    """The ORM path get_invoice had before session 8: the entity, selectin collections."""
    stmt = select(Invoice).where(
        Invoice.organization_id == query.organization_id, Invoice.id == query.payload.invoice_id
    )
    return InvoiceResult(invoice=invoice_state(session.execute(stmt).scalar_one()))


def timed(fn: Callable[[], str]) -> tuple[float, float, str]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000, out


def measure(app: Any, name: str, payload: dict[str, Any], rounds: int) -> None:
    kind = "get_invoice" if "invoice_id" in payload else "list_invoices"
    model: Any = GetInvoice if kind == "get_invoice" else ListInvoices
    query = model.model_validate({"organization_id": ORG, "payload": payload})
    raw = json.dumps({"type": kind, "organization_id": ORG, "payload": payload})
    core_path: Any = get_invoice if kind == "get_invoice" else list_invoices
    orm_path: Any = orm_get_invoice if kind == "get_invoice" else orm_list_invoices

    def core() -> str:
        with Session(app.engine) as session, session.begin():
            return str(core_path(query, session).model_dump_json())

    def orm() -> str:
        with Session(app.engine) as session, session.begin():
            return str(orm_path(query, session).model_dump_json())

    def service() -> str:
        return str(app.pipeline.answer_raw(raw).as_json().decode())

    for _ in range(3):  # warm-up: statement caches, connections
        assert core() == orm(), f"{name}: the paths differ"
        service()
    t: dict[str, list[tuple[float, float]]] = {"orm": [], "core": [], "service": []}
    for _ in range(rounds):
        for key, fn in (("orm", orm), ("core", core), ("service", service)):
            cpu, wall, _out = timed(fn)
            t[key].append((cpu, wall))

    def med(key: str, i: int) -> float:
        return statistics.median(v[i] for v in t[key])

    print(
        f"| {name} | {med('orm', 0):.1f} | {med('core', 0):.1f} | "
        f"{1 - med('core', 0) / med('orm', 0):.0%} | {med('orm', 1):.1f} | "
        f"{med('core', 1):.1f} | {med('service', 0):.1f} |"
    )


def instructions(app: Any, payloads: list[tuple[str, dict[str, Any]]], rounds: int) -> None:
    """Under callgrind (``--counting``): each query's ``answer_raw`` and reply JSON counted
    ``rounds`` times after a warm-up, the counts of each query dumped to a file of its own."""
    for _name, payload in payloads:
        kind = "get_invoice" if "invoice_id" in payload else "list_invoices"
        raw = json.dumps({"type": kind, "organization_id": ORG, "payload": payload})
        for _ in range(3):
            reply = app.pipeline.answer_raw(raw)
            assert reply.status == "ok", reply.envelope
            reply.as_json()
        callgrind("dump")  # what ran before: left out
        callgrind("on")
        for _ in range(rounds):
            app.pipeline.answer_raw(raw).as_json()
        callgrind("off")
        callgrind("dump")


def count(argv: list[str], payloads: list[tuple[str, dict[str, Any]]], rounds: int) -> None:
    """This script again under callgrind, and the instructions per query of each dump."""
    stdout, out = under_callgrind(__file__, [*argv, "--counting"])
    dumps = sorted(out.parent.glob(f"{out.name}.*"), key=lambda f: int(f.name.rsplit(".", 1)[1]))
    totals = []
    for dump in dumps:
        found = re.search(r"^totals: (\d+)", dump.read_text(), re.MULTILINE)
        totals.append(int(found.group(1)) if found else 0)
    counted = totals[1::2]  # each query: a dump of its warm-up, then one of its rounds
    if len(counted) != len(payloads):
        raise SystemExit(f"{len(dumps)} dumps in {out.parent}, expected {2 * len(payloads)}")
    print(stdout.strip())
    print("| query | instructions per query (answer_raw and the reply's JSON) |")
    print("|---|---:|")
    for (name, _), total in zip(payloads, counted, strict=True):
        print(f"| {name} | {total / rounds:,.0f} |")
    print(f"callgrind profiles (callgrind_annotate): {out.parent}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="invoicing_bench_reads")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instructions per query under valgrind's callgrind instead of CPU time",
    )
    parser.add_argument("--counting", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    app = bootstrap.local(
        Settings(database_url=f"{PG}/{args.database}"), migrate=False, configure_logging=False
    )
    newest_sql = "SELECT id FROM invoices WHERE organization_id = :o ORDER BY created_at DESC"
    with app.engine.connect() as conn:
        newest = conn.execute(text(f"{newest_sql} LIMIT 1"), {"o": ORG}).scalar_one()
    payloads = [*MIX, ("get_invoice", {"invoice_id": str(newest)})]
    if args.instructions:
        app.engine.dispose()
        argv = [a for a in sys.argv[1:] if a != "--instructions"]
        count(argv, payloads, args.rounds)
        return
    if args.counting:
        gc_pauses.settle()  # as a worker process does before it takes work
        instructions(app, payloads, args.rounds)
        app.engine.dispose()
        return
    print("| query | ORM cpu | Core cpu | saved | ORM wall | Core wall | answer_raw cpu |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, payload in payloads:
        measure(app, name, payload, args.rounds)
    app.engine.dispose()


if __name__ == "__main__":
    main()
