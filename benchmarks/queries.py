"""Read benchmark: list queries, open items and get_invoice over request/reply on a large
organization, beside the same SQL through plain psycopg in the same run.

    python benchmarks/queries.py                       # 1,000,000 invoices of 1,000 customers
    python benchmarks/queries.py --rounds 50 --drop    # ... and drop the database afterwards

1. Data: the database ``invoicing_bench_reads`` (kept between runs; ``--regenerate`` makes it
   anew, ``--drop`` removes it at the end) holds N invoices of C customers of one organization,
   made with generate_series (benchmarks/queries_data.py).
2. Service: one ``invoicing worker --queues queries`` process (2 threads) on a vhost of its own;
   a plain pika requester publishes each query to ``invoicing.queries`` with an exclusive reply
   queue and waits for the reply (one in flight: latency, not throughput). Includes decoding, JWT
   authentication, validation, the read-only transaction, ORM loading, the reply document and
   both AMQP hops.
3. Raw: the SQL statements the service runs for the very same query (captured once from
   SQLAlchemy's cursor and from the statements run on the driver's cursor), replayed with
   plain psycopg in one transaction, rows fetched.
4. Hops: the transport alone. A plain pika process (no dramatiq, no pipeline, no database)
   consumes a queue declared with the arguments of ``invoicing.queries``, decodes each request
   and answers it with the very reply the service gave to that query (same bytes, same AMQP
   properties, confirmed and mandatory as the worker's), then acks; the same requester asks it
   the same documents. What the hops cost is what any worker behind this broker pays; the
   service's own part of a query is about its rpc minus its hops.
All three run interleaved, round by round, so they share the machine's noise. It prints p50/p99 per
query and for all list queries together, and the ratio raw/service of the p50s; beside them the
median CPU time the worker's processes spent on one query (every thread, from
``/proc/<pid>/task/<tid>/schedstat``, nanoseconds): robust against other load on the machine,
unlike the latencies, and what the service adds on its side of the hops.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pika
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import QUERIES_QUEUE, queues
from queries_data import ORG, generate

from pipeline import process_tree
from tests.e2e.harness import BIN, Env, stop_all, token, wait_for_topology, worker

PG = "postgresql://postgres@127.0.0.1:5432"
AS_OF = "2025-12-31"


def customer(c: int) -> str:
    import hashlib

    return str(uuid.UUID(hashlib.md5(f"cust{c}".encode()).hexdigest()))


def invoice(i: int) -> str:
    import hashlib

    return str(uuid.UUID(hashlib.md5(f"inv{i}".encode()).hexdigest()))


#: full_query words that each match 5 % of the organization (50,000 invoices): the worst case
BROAD = "list full_query broad"


def _list(flt: dict[str, Any], *sort: str, **more: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"filter": flt, **more}
    if sort:
        payload["sort"] = list(sort)
    return payload


def workload(invoices: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, query type, payload): the mix, each a different way to read the list."""
    mid = invoices // 2
    priority = [{"field_id": "priority", "operator": "=", "value": 3}]
    return [
        ("list newest first", "list_invoices", {}),
        ("list page 40", "list_invoices", _list({}, "-issue_date", page=40)),
        ("list open by due date", "list_invoices", _list({"status": ["open"]}, "due_date")),
        (
            "list of a customer",
            "list_invoices",
            _list({"customer_id": [customer(17)]}, "-issue_date"),
        ),
        (
            "list last quarter",
            "list_invoices",
            _list({"issue_date": "last_quarter", "as_of": AS_OF}, "-number"),
        ),
        (
            "list amount range",
            "list_invoices",
            _list({"gross_total": {"gte": "1000", "lt": "1010"}}, "-gross_total"),
        ),
        (
            "list creator unpaid",
            "list_invoices",
            _list({"creator_id": "p-7", "payment_status": ["unpaid"]}, "-due_date"),
        ),
        ("list full_query number", "list_invoices", _list({"full_query": f"{mid:07d}"[:6]})),
        ("list full_query PO", "list_invoices", _list({"full_query": "PO-4711"})),
        (
            "list full_query customer",
            "list_invoices",
            _list({"full_query": "Nordwind Bau 220"}, "-created_at"),
        ),
        (BROAD, "list_invoices", _list({"full_query": "nordwind arbeitsrecht"}, "-created_at")),
        (
            "list custom field",
            "list_invoices",
            _list(
                {"custom_fields": priority, "customer_id": [customer(3)]},
                "-custom_fields.priority",
                "-created_at",
            ),
        ),
        (
            "list exact total",
            "list_invoices",
            _list({"status": ["paid"]}, "-created_at", exact_total=True),
        ),
        (
            "open items overdue",
            "open_items",
            # customer 17's 1,000 invoices are sent and all but the newest overdue (until
            # session 16 this was customer 42, whose invoices are all void: an empty answer)
            {"as_of": AS_OF, "overdue_only": True, "customer_id": [customer(17)]},
        ),
        ("get_invoice", "get_invoice", {"invoice_id": invoice(mid + 7)}),
    ]


# ----------------------------------------------------------------------------- database


def ensure_database(name: str, invoices: int, customers: int, regenerate: bool) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and regenerate:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    env = {"DATABASE_URL": f"{PG}/{name}", "PATH": str(Path(BIN).parent)}
    subprocess.run([BIN, "migrate"], env=env, check=True, capture_output=True)
    with psycopg.connect(f"{PG}/{name}") as conn:
        have = conn.execute("SELECT count(*) FROM invoices").fetchone()
    if have and have[0] == invoices:
        print(f"using {name}: {invoices:,} invoices", flush=True)
        return
    if have and have[0]:
        raise SystemExit(f"{name} holds {have[0]:,} invoices, not {invoices:,}: use --regenerate")
    print(f"generating {invoices:,} invoices of {customers:,} customers in {name} ...", flush=True)
    seconds = generate(f"{PG}/{name}", invoices, customers)
    print(f"generated in {seconds:.0f} s", flush=True)


# ----------------------------------------------------------------------------- raw SQL


def capture_sql(dsn: str, qtype: str, payload: dict[str, Any]) -> list[tuple[str, Any]]:
    """The statements the service runs for this query: those SQLAlchemy runs (its
    ``before_cursor_execute`` event) and those compiled once and run on the driver's cursor
    (``invoicing.handlers.statements``: a list page's lines and payments)."""
    from invoicing.db import make_engine
    from invoicing.handlers import statements as prepared
    from invoicing.queries import execute
    from invoicing.queries.dispatch import read_only
    from invoicing.schemas.queries import QUERY_TYPES
    from sqlalchemy import event

    engine = make_engine(dsn)
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    def on_cursor(_engine: Any, _cursor: Any, statement: str, parameters: Any) -> None:
        statements.append((statement, parameters))  # nothing else runs meanwhile

    query = QUERY_TYPES[qtype].model_validate(
        {"type": qtype, "organization_id": ORG, "payload": payload}
    )
    reads = read_only(engine)  # as the service reads: its BEGIN is not a cursor statement
    execute(query, reads)  # warm the pool and the caches
    statements.clear()
    event.listen(engine, "before_cursor_execute", record)  # fires for ``reads`` too
    with prepared.observe(on_cursor):
        execute(query, reads)
    engine.dispose()
    return [(s, p) for s, p in statements if not s.lstrip().upper().startswith("SELECT 1")]


def run_raw(conn: psycopg.Connection[Any], statements: list[tuple[str, Any]]) -> float:
    started = time.perf_counter()
    with conn.cursor() as cur:
        for statement, parameters in statements:
            cur.execute(statement, parameters)  # type: ignore[arg-type]
            if cur.description:
                cur.fetchall()
    # as the service ends its read-only transaction: COMMIT (a ROLLBACK would make psycopg
    # forget the connection's prepared statements, docs/pipeline.md "Prepared statements")
    conn.commit()
    return time.perf_counter() - started


# ----------------------------------------------------------------------------- request/reply


HOPS_QUEUE = "bench.hops"


def hops_responder(url: str, replies: dict[str, bytes], ready: Any) -> None:
    """The transport alone (a process of its own, as the worker is): consume ``HOPS_QUEUE``,
    decode the request, publish the service's reply to that query (header ``x-bench-query``)
    to ``reply_to``, wait for the broker's confirm, ack. Runs until it is terminated."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    channel, out = conn.channel(), conn.channel()
    out.confirm_delivery()  # basic_publish now returns once the broker confirmed
    arguments = next(q.arguments for q in queues(PipelineSettings()) if q.name == QUERIES_QUEUE)
    channel.queue_declare(HOPS_QUEUE, durable=True, arguments=arguments)
    channel.basic_qos(prefetch_count=2)
    ready.set()
    for method, props, body in channel.consume(HOPS_QUEUE):
        json.loads(body)  # the worker decodes every request before anything else
        out.basic_publish(
            "",
            props.reply_to,
            replies[props.headers["x-bench-query"]],
            pika.BasicProperties(
                content_type="application/json",
                correlation_id=props.correlation_id,
                message_id=str(uuid.uuid4()),
                delivery_mode=1,
                app_id="invoicing",
                type="query_reply",
            ),
            mandatory=True,
        )
        channel.basic_ack(method.delivery_tag)


class Requester:
    """Plain pika, an exclusive reply queue, one query in flight."""

    def __init__(self, env: Env) -> None:
        # no heartbeats: the raw runs in between keep this thread away from the connection
        url = env.amqp_url.replace("heartbeat=10", "heartbeat=0")
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.reply: dict[str, Any] | None = None
        self.body = b""
        self.expected = ""
        self.reply_to = self.ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.ch.basic_consume(self.reply_to, self._on_reply, auto_ack=True)

    def _on_reply(self, _ch: Any, _method: Any, props: Any, body: bytes) -> None:
        if props.correlation_id == self.expected:
            self.reply, self.body = json.loads(body), body

    def ask(
        self, doc: dict[str, Any], timeout: float = 60, *, hops: str = ""
    ) -> tuple[float, dict[str, Any]]:
        """Publish ``doc`` and wait for its reply; ``hops``: to the plain responder instead,
        which answers with the service's reply to the query of that name."""
        self.expected, self.reply = str(uuid.uuid4()), None
        body = json.dumps(doc).encode()
        started = time.perf_counter()
        self.ch.basic_publish(
            "",
            HOPS_QUEUE if hops else QUERIES_QUEUE,
            body,
            pika.BasicProperties(
                content_type="application/json",
                correlation_id=self.expected,
                reply_to=self.reply_to,
                headers={"x-bench-query": hops} if hops else None,
            ),
        )
        deadline = started + timeout
        while self.reply is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no reply to {doc['type']}")
            self.conn.process_data_events(time_limit=0.05)
        return time.perf_counter() - started, self.reply

    def close(self) -> None:
        self.conn.close()


# ----------------------------------------------------------------------------- report


def worker_cpu(pid: int) -> float:
    """Seconds on a CPU so far of every thread of ``pid`` and of its descendants (the worker's
    parent and its worker processes), nanosecond resolution (``schedstat``'s first field)."""
    total = 0
    for current in process_tree(pid):
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended meanwhile
    return total / 1e9


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="invoicing_bench_reads")
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=30, help="runs of each query and path")
    parser.add_argument("--regenerate", action="store_true", help="make the data anew")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()

    ensure_database(args.database, args.invoices, args.customers, args.regenerate)
    dsn = f"{PG}/{args.database}"
    mix = workload(args.invoices)
    captured = {name: capture_sql(dsn, qtype, payload) for name, qtype, payload in mix}

    vhost = f"invoicing_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
    )
    env = Env(args.database, vhost, Path(tempfile.mkdtemp(prefix="bench-queries-")))
    rpc: dict[str, list[float]] = {name: [] for name, _, _ in mix}
    raw: dict[str, list[float]] = {name: [] for name, _, _ in mix}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in mix}
    hops: dict[str, list[float]] = {name: [] for name, _, _ in mix}
    responder = None
    try:
        served = worker(env, "--processes", "1", "--threads", "2", "--queues", "queries")
        wait_for_topology(env, queue="invoicing.queries", consumed=True)
        requester = Requester(env)
        credentials = {"token": token({ORG: ["invoices:read"]})}
        conn = psycopg.connect(dsn)
        # begun as the service's reads are (queries.dispatch.read_only): one BEGIN statement
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        docs = {
            name: {
                "type": qtype,
                "organization_id": ORG,
                "credentials": credentials,
                "payload": payload,
            }
            for name, qtype, payload in mix
        }
        replies: dict[str, bytes] = {}
        for name in docs:  # warm up both paths, and check every query answers
            _, reply = requester.ask(docs[name])
            if reply["status"] != "ok":
                raise SystemExit(f"{name}: {reply['errors']}")
            replies[name] = requester.body
            run_raw(conn, captured[name])
        spawn = multiprocessing.get_context("spawn")
        ready = spawn.Event()
        responder = spawn.Process(target=hops_responder, args=(env.amqp_url, replies, ready))
        responder.start()
        if not ready.wait(60):
            raise SystemExit("the plain responder did not start")
        for name in docs:  # warm up the hops
            requester.ask(docs[name], hops=name)
        for _round in range(args.rounds):
            for name in docs:
                before = worker_cpu(served.pid)
                rpc[name].append(requester.ask(docs[name])[0])
                cpu[name].append((worker_cpu(served.pid) - before) * 1000)
                raw[name].append(run_raw(conn, captured[name]))
                hops[name].append(requester.ask(docs[name], hops=name)[0])
        requester.close()
        conn.close()
    finally:
        if responder is not None:
            responder.terminate()
            responder.join(10)
        stop_all()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)
        if args.drop:
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')  # type: ignore[arg-type]

    print(
        f"\n{args.invoices:,} invoices of {args.customers:,} customers, one organization; "
        f"{args.rounds} rounds per query; ms\n"
    )
    print(
        "hops: the same documents through a plain pika responder that answers each with the "
        "service's reply (the transport alone);\nrpc-hops: what the service adds to the hops "
        "(decoding, authentication, validation, SQL, the reply's document)\n"
    )
    header = f"{'query':<26} {'statements':>10} {'rpc p50':>8} {'rpc p99':>8} {'raw p50':>8} "
    print(
        header + f"{'raw p99':>8} {'raw/rpc':>8} {'worker CPU':>10} {'reply KB':>8} "
        f"{'hops p50':>8} {'rpc-hops':>8}"
    )

    def row(
        name: str,
        service: list[float],
        plain: list[float],
        spent: list[float],
        transport: list[float],
        statements: str,
        size: str,
    ) -> None:
        print(
            f"{name:<26} {statements:>10} {pct(service, 50):>8.1f} {pct(service, 99):>8.1f} "
            f"{pct(plain, 50):>8.1f} {pct(plain, 99):>8.1f} "
            f"{statistics.median(plain) / statistics.median(service):>8.2f} "
            f"{statistics.median(spent):>10.2f} {size:>8} {pct(transport, 50):>8.1f} "
            f"{pct(service, 50) - pct(transport, 50):>8.1f}"
        )

    for name, _, _ in mix:
        size = f"{len(replies[name]) / 1000:.0f}"
        row(name, rpc[name], raw[name], cpu[name], hops[name], str(len(captured[name])), size)
    lists = [name for name, qtype, _ in mix if qtype == "list_invoices"]
    for title, names in (
        ("all list queries", lists),
        ("list queries but broad", [n for n in lists if n != BROAD]),
    ):
        row(
            title,
            [v for n in names for v in rpc[n]],
            [v for n in names for v in raw[n]],
            [v for n in names for v in cpu[n]],
            [v for n in names for v in hops[n]],
            "",
            "",
        )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"\nload average at the end: {' '.join(load)} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
