"""Pipeline benchmark: create+finalize pairs through RabbitMQ to the events they cause.

    python benchmarks/pipeline.py --pairs 300

1. peak: publish create_invoice commands open-loop (plain pika; what is due goes out in one
   AMQP transaction, up to 32 creates at a time, so that the load generator is not the bound);
   each finalize_invoice is published as soon as its invoice.created event arrives. Reports
   commands/s and p50/p99 latency from publish to the event it causes. The publisher and the
   event consumer run on the same cores as the pipeline.
2. half rate: the same at half the measured peak command rate (latency under moderate load).
3. raw limit, same machine, same run, same durability, no framework: K plain pika consumers
   (K = worker processes) each taking up to B messages, one fsync'd psycopg transaction per
   batch with a savepoint per command (inbox, state and outbox rows; pipeline mode), a multiple
   ack after the commit, and a relay publishing the outbox in AMQP-transaction batches to a
   quorum queue. Measured from the first take to the last event published.
4. in-process CPU: ``invoicing process`` over N create/finalize commands, CPU seconds of that
   process per command (startup subtracted), on PostgreSQL and on SQLite, up to 100 commands
   per transaction (its default ``--batch``); and on PostgreSQL with ``--batch 1``. The median
   of ``--cpu-runs`` (3) runs, with their range.
5. drained, measured as the raw limit is: ``--drain-pairs`` (default: ``--raw-pairs``, the
   same backlog) creates and then their finalizes wait in the command queue before the workers
   and the relay start; from the first command taken to the last event published, with no load
   generator running meanwhile. The ratio is printed for this figure (like for like) and for
   the peak.
6. the latency curve: ``--curve-pairs`` pairs (default 150) at each of ``--curve`` fractions of
   the peak (default 10 %, 20 %, 30 %, 40 %), p50/p99, how busy the machine was and the CPU per
   command (workers / relay / PostgreSQL / broker / machine, as in 7.): the load up to which a
   latency aim holds on this machine, beside the half-peak figure.
7. CPU seconds per command the worker processes, the relay, PostgreSQL's backends and
   RabbitMQ spent during the peak run, and the whole machine (from /proc; robust against other
   load on the machine, unlike the rates); and the whole machine's CPU per command during the
   raw limit -- the two machine figures say how much more work a command of the pipeline is.
   Beside them, at the peak, at half of it and (the machine's only) on the curve: the context
   switches per command of the same parts (every thread, /proc; the machine's from /proc/stat).
   Each is a thread that stopped to wait (or was put aside) and mostly another one woken: how
   many hand-offs a command pays. At a moderate load every command pays its own, two to three
   times as many as at the peak, where a batch shares them (docs/pipeline.md, session 18).

8. at rest: the CPU the worker processes, the relay, PostgreSQL, RabbitMQ and the whole machine
   use per second with no load (``--rest-seconds``, default 10, right after the history):
   what a command at a low rate shares, and what an idle service costs (its threads' timed
   waits: docs/pipeline.md, session 20).

Before measuring, ``--history`` pairs (default 2,000) go through the pipeline and the database is
analyzed: what a running service's database looks like. A freshly migrated one plans its key
lookups while the tables are empty, as sequential scans, and the plans cached by the workers'
connections (psycopg prepares a statement on its fifth run; the foreign-key checks keep theirs)
stay so until autovacuum's first ANALYZE of the table, up to a minute later: each finalize then
read every invoice of the table several times (docs/pipeline.md, session 10).

The workers commit the commands of their threads together (group commit, a savepoint per
command, src/pipeline/batch.py): ``--threads`` and ``--worker-batch`` bound the batch,
``--worker-batch 1`` turns it off.

The last line names the broker's Erlang schedulers (online of made): the broker's and the
machine's figures depend on them, and on a host of two cores the project's scripts run it on
one (scripts/ensure-services.sh; docs/operations.md, "RabbitMQ on a small host"). The raw limit
runs on the same broker in the same run.

``--orgs N`` spreads the pairs over N organizations (default 1). Gapless numbering serializes
the finalizes of one organization (its series row stays locked to the commit), which the raw
limit does not model; with several organizations their finalizes can commit side by side.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.harness import (
    BIN,
    PG_ADMIN,
    Collector,
    Env,
    Org,
    Proc,
    Publisher,
    create_env,
    destroy_env,
    relay,
    setup_org,
    stop_all,
    wait_for_topology,
    worker,
)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants that are alive now, from /proc."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        stack += [int(c) for c in children]
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants so far, from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _named(names: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of ``/proc/<pid>/stat`` after its name) of every process whose name is
    one of ``names`` (the database's backends, the broker); processes that ended in between
    are missed."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[1] in names:
            yield int(entry.name), tail.split()


def comm_cpu(names: tuple[str, ...]) -> float:
    """CPU seconds so far (user + system) of every process whose name is one of ``names``."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum((int(fields[11]) + int(fields[12])) / tick for _pid, fields in _named(names))


def _task_switches(pid: int) -> int:
    """Context switches (voluntary and not) of every thread of ``pid`` so far."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in lines if "ctxt_switches" in line)
    return total


def tree_switches(pid: int) -> int:
    """Context switches so far of a process and its descendants, every thread (/proc)."""
    return sum(_task_switches(current) for current in process_tree(pid))


def comm_switches(names: tuple[str, ...]) -> int:
    """Context switches so far of every process named one of ``names``, every thread."""
    return sum(_task_switches(pid) for pid, _fields in _named(names))


def machine_switches() -> int:
    """Context switches of the whole machine so far (/proc/stat ``ctxt``): each is a thread
    that stopped to wait or was put aside, and most a wake-up of another."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("ctxt "):
            return int(line.split()[1])
    return 0


def wakeups(procs: list[Proc]) -> list[int]:
    """Context switches so far of the worker processes, the relay, PostgreSQL, RabbitMQ and
    the whole machine: the parts as ``CPU per command`` splits them."""
    return [
        *(tree_switches(p.pid) for p in procs),
        comm_switches(("postgres",)),
        comm_switches(("beam.smp",)),
        machine_switches(),
    ]


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat), for figures that
    include processes which come and go (the raw limit's database backends)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def parts_cpu(procs: list[Proc]) -> list[float]:
    """CPU seconds so far of each process tree in ``procs``, PostgreSQL and RabbitMQ."""
    return [*(tree_cpu(p.pid) for p in procs), comm_cpu(("postgres",)), comm_cpu(("beam.smp",))]


def at_rest(procs: list[Proc], seconds: float) -> list[float]:
    """CPU seconds per second of each process tree in ``procs``, PostgreSQL, RabbitMQ and the
    whole machine while nothing is published (after a second for the last work to settle)."""
    time.sleep(1.0)
    parts, machine, started = parts_cpu(procs), machine_cpu(), time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    used = [(b - a) / elapsed for a, b in zip(parts, parts_cpu(procs), strict=True)]
    return [*used, (machine_cpu() - machine) / elapsed]


def broker_schedulers() -> str:
    """How many Erlang schedulers the broker runs on (of how many): on this 2-core machine the
    project's scripts put it on one (scripts/ensure-services.sh; docs/operations.md, "RabbitMQ
    on a small host"), and the figures of the broker and the machine depend on it."""
    ask = "{erlang:system_info(schedulers_online), erlang:system_info(schedulers)}."
    out = subprocess.run(
        ["rabbitmqctl", "-q", "eval", ask], capture_output=True, text=True, check=False
    ).stdout.strip()
    online, _, made = out.strip("{}").partition(",")
    return f"{online} online of {made}" if made else "unknown (rabbitmqctl did not answer)"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] * 1000


#: the most creates published in one transaction at the peak (finalizes join them as their
#: invoices' events arrive)
PUBLISH_CHUNK = 32


class BatchPublisher:
    """The load generator's publisher: what is due goes out in one AMQP transaction (persistent,
    mandatory, routed by type), one round trip for the lot. A confirmed publish waited for one
    at a time (the e2e harness's ``Publisher``) costs about 1.8 ms of wall time here, and at the
    peak that publisher was busy two thirds of the run: it measured itself as much as the
    pipeline (session 15)."""

    def __init__(self, env: Env) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(env.amqp_url))
        self.channel = self.conn.channel()
        self.channel.tx_select()

    def send(self, commands: list[dict[str, Any]]) -> None:
        for command in commands:
            self.channel.basic_publish(
                "invoicing.commands",
                command["type"],
                json.dumps(command).encode(),
                pika.BasicProperties(
                    delivery_mode=2,
                    content_type="application/json",
                    message_id=command["command_id"],
                ),
                mandatory=True,
            )
        self.channel.tx_commit()

    def close(self) -> None:
        self.conn.close()


def run_pipeline(
    env: Env, orgs: list[Org], pairs: int, rate: float | None
) -> tuple[float, list[float]]:
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    done = threading.Event()
    lock = threading.Lock()
    invoices = [str(uuid.uuid4()) for _ in range(pairs)]
    owner = {inv: orgs[i % len(orgs)] for i, inv in enumerate(invoices)}  # round robin
    pending_finalize: list[str] = []
    cond = threading.Condition(lock)

    def consume() -> None:
        conn = pika.BlockingConnection(pika.URLParameters(env.amqp_url))
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "invoicing.events", "invoice.created")
        ch.queue_bind(q, "invoicing.events", "invoice.finalized")
        ready.set()
        got = 0
        for method, props, _body in ch.consume(q, auto_ack=True, inactivity_timeout=0.05):
            if method is None:
                if done.is_set():
                    break
                continue
            now = time.perf_counter()
            # the CloudEvents attributes the relay also sets as the message's type and headers
            # (relay.properties_for): no decoding of the 4 KB document per event
            key = (props.type, props.headers["ce_subject"])
            with cond:
                if key in sent:
                    latencies.append(now - sent.pop(key))
                    got += 1
                    if key[0] == "invoice.created":
                        pending_finalize.append(key[1])
                        cond.notify()
            if got == 2 * pairs:
                with cond:
                    done.set()
                    cond.notify()
        conn.close()

    ready = threading.Event()
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    ready.wait()
    pub = BatchPublisher(env)
    interval = 2.0 / rate if rate else 0.0  # a pair is two commands
    start = time.perf_counter()
    next_at = start
    i = 0
    while i < pairs or not done.is_set():
        with cond:
            fins = list(pending_finalize)
            pending_finalize.clear()
        batch = [owner[inv].finalize(inv) for inv in fins]
        due = []
        while i < pairs and len(due) < PUBLISH_CHUNK and time.perf_counter() >= next_at:
            due.append(invoices[i])
            i += 1
            next_at += interval
        batch += [owner[inv].create_invoice(inv) for inv in due]
        if batch:
            now = time.perf_counter()
            with cond:
                for inv in fins:
                    sent[("invoice.finalized", inv)] = now
                for inv in due:
                    sent[("invoice.created", inv)] = now
            pub.send(batch)
        else:  # asleep until the next create is due, a created event or the last event
            with cond:
                if not pending_finalize and not done.is_set():
                    due_in = next_at - time.perf_counter() if i < pairs else 0.05
                    cond.wait(min(max(due_in, 0.0), 0.05))
        if time.perf_counter() - start > 600:
            raise SystemExit("benchmark timed out")
    elapsed = time.perf_counter() - start
    t.join(5)
    pub.close()
    return 2 * pairs / elapsed, latencies


def run_drain(
    env: Env, orgs: list[Org], pairs: int, start: Callable[[], list[Proc]]
) -> tuple[float, list[float], list[Proc]]:
    """The pipeline measured as the raw limit is: ``pairs`` creates, then their finalizes,
    waiting in the command queue before the workers start (``start``: the workers and the
    relay), from the first command taken to the last event published, with no load generator
    on the machine meanwhile. Returns commands/s, the CPU seconds per command over that span
    of the workers, the relay, PostgreSQL, RabbitMQ and the whole machine (since session 25:
    what bounds the drain), and the processes started."""
    invoices = [str(uuid.uuid4()) for _ in range(pairs)]
    owner = {inv: orgs[i % len(orgs)] for i, inv in enumerate(invoices)}
    commands = [owner[inv].create_invoice(inv) for inv in invoices]
    commands += [owner[inv].finalize(inv) for inv in invoices]
    pub = BatchPublisher(env)
    for k in range(0, len(commands), 200):
        pub.send(commands[k : k + 200])
    pub.close()
    ids = [uuid.UUID(c["command_id"]) for c in commands]
    with psycopg.connect(env.dsn, autocommit=True) as db:
        row = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
        outbox_before = row[0] if row else 0
        procs = start()
        deadline = time.monotonic() + 600
        # The observer polls by the outbox's keys only: a poll that matched the inbox against
        # every command id (an array of 3,000 UUIDs sent and parsed, a scan of the inbox) cost
        # a few ms of both cores' time every 20 ms, counted in the drain (session 17).
        # The first commit, a batch after the first take: the machine's CPU from here (the
        # processes' start-up is not in it; the rate is timed by the database's timestamps)
        while not db.execute(
            "SELECT 1 FROM outbox WHERE id > %s LIMIT 1", (outbox_before,)
        ).fetchone():
            if time.monotonic() > deadline:
                raise SystemExit("drain: no command was taken")
            time.sleep(0.005)
        machine_before, parts_before = machine_cpu(), parts_cpu(procs)
        while True:  # every command's event written (one each) and published
            left = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
            if left and left[0] == 0:
                written = db.execute(
                    "SELECT count(*) FROM outbox WHERE id > %s", (outbox_before,)
                ).fetchone()
                if written and written[0] >= len(ids):
                    break
            if time.monotonic() > deadline:
                raise SystemExit("drain: timed out")
            time.sleep(0.02)
        machine = machine_cpu() - machine_before
        parts = [b - a for a, b in zip(parts_before, parts_cpu(procs), strict=True)]
        done = db.execute(
            "SELECT count(*) FROM processed_commands WHERE command_id = ANY(%s)", (ids,)
        ).fetchone()
        if not done or done[0] != len(ids):
            raise SystemExit(f"drain: {done and done[0]} of {len(ids)} commands processed")
        first, last = db.execute(
            "SELECT (SELECT min(processed_at) FROM processed_commands WHERE command_id = ANY(%s)),"
            " (SELECT max(published_at) FROM outbox WHERE id > %s)",
            (ids, outbox_before),
        ).fetchone() or (None, None)
    elapsed = (last - first).total_seconds()
    return len(ids) / elapsed, [c / len(ids) for c in (*parts, machine)], procs


RAW_SQL = """
CREATE TABLE IF NOT EXISTS raw_inbox (command_id uuid PRIMARY KEY, hash text);
CREATE TABLE IF NOT EXISTS raw_state (id uuid PRIMARY KEY, doc jsonb);
CREATE TABLE IF NOT EXISTS raw_outbox (id bigserial PRIMARY KEY, event_id uuid, payload jsonb,
  published_at timestamptz);
CREATE INDEX IF NOT EXISTS raw_outbox_unpublished ON raw_outbox (id) WHERE published_at IS NULL;
"""


def raw_consumer(dsn: str, amqp_url: str, batch: int, expected: int, counter: Any) -> None:
    """Up to ``batch`` messages per fsync'd transaction, a savepoint per command (inbox, state
    and outbox rows), psycopg pipeline mode for the round trips, one multiple-ack after commit."""
    db = psycopg.connect(dsn)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=2 * batch)
    pending: list[tuple[int, bytes]] = []

    def flush() -> None:
        with db.transaction(), db.pipeline():
            for _tag, body in pending:
                cmd = json.loads(body)
                payload = cmd["payload"]
                event = {"id": str(uuid.uuid4()), "type": "raw", "data": payload}
                try:
                    with db.transaction():  # the savepoint: one command fails alone
                        db.execute(
                            "INSERT INTO raw_inbox VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            (cmd["command_id"], "h"),
                        )
                        db.execute(
                            "INSERT INTO raw_state VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
                            "SET doc = excluded.doc",
                            (payload.get("id") or payload.get("invoice_id"), body.decode()),
                        )
                        db.execute(
                            "INSERT INTO raw_outbox (event_id, payload) VALUES (%s, %s)",
                            (event["id"], json.dumps(event)),
                        )
                except psycopg.Error:
                    continue
        ch.basic_ack(pending[-1][0], multiple=True)
        with counter.get_lock():
            counter.value += len(pending)
        pending.clear()

    for method, _props, body in ch.consume("bench.raw", inactivity_timeout=0.005):
        if method is not None:
            pending.append((method.delivery_tag, body))
            if len(pending) < batch:
                continue
        if pending:
            flush()
        elif counter.value >= expected:
            break
    conn.close()
    db.close()


def raw_relay(dsn: str, amqp_url: str, batch: int, expected: int, published: Any) -> None:
    """The outbox to the topic exchange in AMQP-transaction batches (one round trip a batch),
    marked published in the same database transaction that selected them."""
    db = psycopg.connect(dsn)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.tx_select()
    while published.value < expected:
        with db.transaction():
            rows = db.execute(
                "SELECT id, payload FROM raw_outbox WHERE published_at IS NULL ORDER BY id "
                "LIMIT %s FOR UPDATE SKIP LOCKED",
                (batch,),
            ).fetchall()
            if not rows:
                time.sleep(0.002)
                continue
            for _id, payload in rows:
                ch.basic_publish(
                    "bench.raw.events",
                    "raw",
                    json.dumps(payload).encode(),
                    pika.BasicProperties(delivery_mode=2, message_id=payload["id"]),
                )
            ch.tx_commit()  # the broker has taken the whole batch (quorum queue: replicated)
            db.execute(
                "UPDATE raw_outbox SET published_at = now() WHERE id = ANY(%s)",
                ([r[0] for r in rows],),
            )
        with published.get_lock():
            published.value += len(rows)
    conn.close()
    db.close()


def run_raw(
    env: Env, org: Org, pairs: int, processes: int, batch: int
) -> tuple[float, float, float]:
    """The machine's raw limit: commands/s from the first take to the last event published,
    and CPU seconds per command of its consumers and relay, and of the whole machine."""
    with psycopg.connect(env.dsn, autocommit=True) as db:
        db.execute(RAW_SQL)
        db.execute("TRUNCATE raw_inbox, raw_state, raw_outbox")
    conn = pika.BlockingConnection(pika.URLParameters(env.amqp_url))
    ch = conn.channel()
    ch.queue_declare("bench.raw", durable=True, arguments={"x-queue-type": "quorum"})
    ch.exchange_declare("bench.raw.events", "topic", durable=True)
    ch.queue_declare("bench.raw.sink", durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_bind("bench.raw.sink", "bench.raw.events", "#")
    ch.queue_purge("bench.raw.sink")
    ch.tx_select()
    for k in range(pairs):
        inv = str(uuid.uuid4())
        for cmd in (org.create_invoice(inv), org.finalize(inv)):
            ch.basic_publish(
                "", "bench.raw", json.dumps(cmd).encode(), pika.BasicProperties(delivery_mode=2)
            )
        if k % 200 == 199:
            ch.tx_commit()
    ch.tx_commit()
    conn.close()
    expected = 2 * pairs
    counter = multiprocessing.Value("i", 0)
    published = multiprocessing.Value("i", 0)
    procs = [
        multiprocessing.Process(
            target=raw_consumer, args=(env.dsn, env.amqp_url, batch, expected, counter)
        )
        for _ in range(processes)
    ]
    procs.append(
        multiprocessing.Process(
            target=raw_relay, args=(env.dsn, env.amqp_url, 500, expected, published)
        )
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = machine_cpu()
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    machine = machine_cpu() - machine_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    if published.value < expected:
        raise SystemExit(f"raw limit: only {published.value} of {expected} events published")
    return expected / elapsed, own_cpu / expected, machine / expected


def run_in_process_cpu(env: Env, commands: int) -> tuple[float, float, float]:
    """``invoicing process`` over ``commands`` create/finalize commands on PostgreSQL: CPU
    seconds of that process per command, startup excluded (a run of the setup lines alone is
    subtracted), and the same on the embedded SQLite default (both with the default
    ``--batch``), and on PostgreSQL with ``--batch 1`` (a transaction per command)."""
    org = Org()
    setup = [org.configure(), org.create_customer()]
    body = []
    for _ in range(commands // 2):
        inv = str(uuid.uuid4())
        body += [org.create_invoice(inv), org.finalize(inv)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "setup.jsonl").write_text("".join(json.dumps(c) + "\n" for c in setup))
        (base / "all.jsonl").write_text("".join(json.dumps(c) + "\n" for c in setup + body))
        runs = [(env.dsn, "100"), (f"sqlite:///{base / 'cpu.sqlite3'}", "100"), (env.dsn, "1")]
        for url, batch in runs:
            cpu = []
            for name in ("setup.jsonl", "all.jsonl"):
                db_url = url if url.startswith("sqlite") else _fresh_pg(env, name)
                penv = env.process_env(DATABASE_URL=db_url, INVOICING_LOG_LEVEL="WARNING")
                if not db_url.startswith("sqlite"):
                    subprocess.run([BIN, "migrate"], env=penv, check=True, capture_output=True)
                else:
                    Path(db_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run(
                    [BIN, "process", "--batch", batch, str(base / name)],
                    env=penv,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            results.append((cpu[1] - cpu[0]) / len(body))
    return results[0], results[1], results[2]


def _fresh_pg(env: Env, tag: str) -> str:
    name = f"{env.db_name}_cpu_{tag.split('.')[0]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop_cpu_dbs(env: Env) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as db:
        for tag in ("setup", "all"):
            db.execute(f'DROP DATABASE IF EXISTS "{env.db_name}_cpu_{tag}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (and raw K)")
    parser.add_argument(
        "--threads",
        type=int,
        default=64,
        help="per worker process (the service's default is 4; docs/operations.md, Throughput); "
        "the largest batch is the smaller of this and --worker-batch",
    )
    parser.add_argument("--worker-batch", type=int, default=32, help="INVOICING_WORKER_BATCH")
    parser.add_argument(
        "--worker-leaders",
        type=int,
        default=2,
        help="INVOICING_WORKER_BATCH_LEADERS (default: the service's default, 2)",
    )
    parser.add_argument("--batch", type=int, default=100, help="raw limit: messages per batch")
    parser.add_argument("--raw-pairs", type=int, default=5000)
    parser.add_argument(
        "--drain-pairs",
        type=int,
        default=None,
        help="pairs waiting in the queue before the workers start (measured as the raw limit; "
        "default: --raw-pairs, the raw limit's backlog)",
    )
    parser.add_argument("--cpu-commands", type=int, default=2000)
    parser.add_argument(
        "--cpu-runs", type=int, default=3, help="in-process runs; the median is reported"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=2000,
        help="pairs run (and the database analyzed) before measuring: a running service's "
        "tables, not a fresh database's (whose key lookups are planned as sequential scans "
        "until autovacuum's first ANALYZE)",
    )
    parser.add_argument(
        "--rest-seconds",
        type=float,
        default=10.0,
        help="seconds measured at rest (no load) after the history: CPU per second of each part",
    )
    parser.add_argument(
        "--low-rate",
        type=float,
        default=10.0,
        help="commands/s of a light run (100 pairs): the latency floor of the path itself",
    )
    parser.add_argument(
        "--curve",
        default="0.1,0.2,0.3,0.4",
        help="fractions of the peak offered for the latency curve (comma-separated; empty: none)",
    )
    parser.add_argument("--curve-pairs", type=int, default=150, help="pairs per curve point")
    parser.add_argument(
        "--half-rate",
        type=float,
        default=None,
        help="commands/s offered instead of half the peak: two builds compared at one load",
    )
    parser.add_argument(
        "--orgs",
        type=int,
        default=1,
        help="organizations the pairs are spread over (round robin); each has its own number "
        "series, whose row lock serializes its finalizes",
    )
    args = parser.parse_args()
    if args.drain_pairs is None:  # like for like: the same backlog as the raw limit's
        args.drain_pairs = args.raw_pairs
    os.environ.setdefault("E2E_REPORT", "/dev/null")
    env = create_env(Path("/tmp"))
    procs = []
    quiet = {"INVOICING_LOG_LEVEL": "WARNING"}

    def start_worker() -> Proc:
        return worker(
            env,
            "--processes",
            str(args.processes),
            "--threads",
            str(args.threads),
            INVOICING_WORKER_BATCH=str(args.worker_batch),
            INVOICING_WORKER_BATCH_LEADERS=str(args.worker_leaders),
            **quiet,
        )

    try:
        procs.append(start_worker())
        procs.append(relay(env, **quiet))
        wait_for_topology(env)
        pub, col = Publisher(env), Collector(env)
        orgs = [setup_org(env, pub, col) for _ in range(args.orgs)]
        org = orgs[0]
        # the service as it runs: a history of invoices, and the statistics autovacuum keeps
        run_pipeline(env, orgs, args.history, None)
        env.sql("ANALYZE")
        rest = at_rest(procs, args.rest_seconds)
        before = [tree_cpu(p.pid) for p in procs]
        db_before, broker_before = comm_cpu(("postgres",)), comm_cpu(("beam.smp",))
        machine_before, switches_before = machine_cpu(), wakeups(procs)
        peak, lat = run_pipeline(env, orgs, args.pairs, None)
        after = wakeups(procs)
        switches = [(b - a) / (2 * args.pairs) for a, b in zip(switches_before, after, strict=True)]
        db_cpu = (comm_cpu(("postgres",)) - db_before) / (2 * args.pairs)
        broker_cpu = (comm_cpu(("beam.smp",)) - broker_before) / (2 * args.pairs)
        machine = (machine_cpu() - machine_before) / (2 * args.pairs)
        worker_cpu, relay_cpu = (
            (tree_cpu(p.pid) - b) / (2 * args.pairs) for p, b in zip(procs, before, strict=True)
        )
        offered = args.half_rate or peak / 2
        half_started, machine_half = time.perf_counter(), machine_cpu()
        procs_half = [tree_cpu(p.pid) for p in procs]
        db_half, broker_half = comm_cpu(("postgres",)), comm_cpu(("beam.smp",))
        switches_half_before = wakeups(procs)
        half, lat_half = run_pipeline(env, orgs, args.pairs // 2, offered)
        switches_half = [
            (b - a) / (2 * (args.pairs // 2))
            for a, b in zip(switches_half_before, wakeups(procs), strict=True)
        ]
        # how busy the 2 cores were meanwhile: queueing, not the path, makes a p99 above the
        # light run's once this nears 1; small batches cost more per command than the peak's
        busy_half = (machine_cpu() - machine_half) / (time.perf_counter() - half_started)
        busy_half /= os.cpu_count() or 1
        n_half = 2 * (args.pairs // 2)
        cpu_half = [
            *((tree_cpu(p.pid) - b) / n_half for p, b in zip(procs, procs_half, strict=True)),
            (comm_cpu(("postgres",)) - db_half) / n_half,
            (comm_cpu(("beam.smp",)) - broker_half) / n_half,
            (machine_cpu() - machine_half) / n_half,
        ]
        _low, lat_low = run_pipeline(env, orgs, 100, args.low_rate)
        curve = []
        for fraction in (float(f) for f in args.curve.split(",") if f.strip()):
            started, machine_at = time.perf_counter(), machine_cpu()
            parts = parts_cpu(procs)
            switched = machine_switches()
            _rate, lat_at = run_pipeline(env, orgs, args.curve_pairs, peak * fraction)
            woke = (machine_switches() - switched) / (2 * args.curve_pairs)
            seconds, spent = time.perf_counter() - started, machine_cpu() - machine_at
            per = [
                (b - a) / (2 * args.curve_pairs)
                for a, b in zip(parts, parts_cpu(procs), strict=True)
            ]
            per.append(spent / (2 * args.curve_pairs))
            busy = spent / seconds / (os.cpu_count() or 1)
            curve.append((fraction, peak * fraction, lat_at, busy, per, woke))
        for p in procs:
            p.stop()
        drain, drain_cpu, procs = run_drain(
            env, orgs, args.drain_pairs, lambda: [start_worker(), relay(env, **quiet)]
        )
        for p in procs:
            p.stop()
        raw, raw_cpu, raw_machine_cpu = run_raw(
            env, org, args.raw_pairs, args.processes, args.batch
        )
        # the median of --cpu-runs runs (this machine's CPU time per command moves by a fifth
        # from one run to the next); each run measures the three variants one after another
        runs = [run_in_process_cpu(env, args.cpu_commands) for _ in range(args.cpu_runs)]
        cpu_pg, cpu_sqlite, cpu_pg_alone = (statistics.median(r[i] for r in runs) for i in range(3))
        spread = [
            f"{min(r[i] for r in runs) * 1000:.2f}-{max(r[i] for r in runs) * 1000:.2f}"
            for i in range(3)
        ]
        _drop_cpu_dbs(env)
        rows = [
            (
                f"pipeline peak (create+finalize pairs, {args.orgs} organization"
                f"{'s' if args.orgs > 1 else ''})",
                f"{peak:.0f} commands/s",
            ),
            ("  publish->event at peak", f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms"),
            (
                f"  at half the peak ({offered:.0f}/s offered)"
                if not args.half_rate
                else f"  at a set load ({offered:.0f}/s offered, --half-rate)",
                f"{half:.0f} commands/s, p50 {pct(lat_half, 50):.1f} ms, "
                f"p99 {pct(lat_half, 99):.1f} ms, machine busy {busy_half:.0%}",
            ),
            (
                f"  at a light load ({args.low_rate:.0f}/s offered, 100 pairs)",
                f"p50 {pct(lat_low, 50):.1f} ms, p99 {pct(lat_low, 99):.1f} ms, "
                f"fastest {min(lat_low) * 1000:.1f} ms",
            ),
            *(
                (
                    f"  at {fraction:.0%} of the peak ({rate:.0f}/s offered, "
                    f"{args.curve_pairs} pairs)",
                    f"p50 {pct(at, 50):.1f} ms, p99 {pct(at, 99):.1f} ms, machine busy {busy:.0%}, "
                    "CPU per command " + " / ".join(f"{c * 1000:.2f}" for c in per) + " ms, "
                    f"{woke:.0f} context switches",
                )
                for fraction, rate, at, busy, per, woke in curve
            ),
            (
                f"raw limit ({args.processes} batched consumers, B={args.batch}, tx relay)",
                f"{raw:.0f} commands/s",
            ),
            (
                "  CPU per command: consumers and relay / whole machine",
                f"{raw_cpu * 1000:.2f} / {raw_machine_cpu * 1000:.2f} ms",
            ),
            (
                f"pipeline drained ({args.drain_pairs} pairs queued, as the raw limit)",
                f"{drain:.0f} commands/s, machine CPU {drain_cpu[-1] * 1000:.2f} ms/command",
            ),
            (
                "ratio pipeline/raw: drained (like for like) / peak",
                f"{drain / raw:.3f} / {peak / raw:.3f}",
            ),
            (
                "CPU per command at peak: workers / relay / PostgreSQL / broker / machine",
                f"{worker_cpu * 1000:.2f} / {relay_cpu * 1000:.2f} / {db_cpu * 1000:.2f} / "
                f"{broker_cpu * 1000:.2f} / {machine * 1000:.2f} ms",
            ),
            (
                "  the same at half the peak (or --half-rate)",
                " / ".join(f"{c * 1000:.2f}" for c in cpu_half) + " ms",
            ),
            (
                "  the same drained",
                " / ".join(f"{c * 1000:.2f}" for c in drain_cpu) + " ms",
            ),
            (
                "context switches per command at peak: workers / relay / PostgreSQL / broker / "
                "machine",
                " / ".join(f"{c:.1f}" for c in switches),
            ),
            (
                "  the same at half the peak (or --half-rate)",
                " / ".join(f"{c:.1f}" for c in switches_half),
            ),
            (
                f"in-process CPU ({args.cpu_commands} commands, PostgreSQL)",
                f"{cpu_pg * 1000:.2f} ms/command (runs {spread[0]})",
            ),
            (
                "in-process CPU (same, SQLite)",
                f"{cpu_sqlite * 1000:.2f} ms/command (runs {spread[1]})",
            ),
            (
                "in-process CPU (PostgreSQL, --batch 1: a transaction per command)",
                f"{cpu_pg_alone * 1000:.2f} ms/command (runs {spread[2]})",
            ),
            (
                f"at rest ({args.rest_seconds:.0f} s, no load): workers / relay / PostgreSQL / "
                "broker / machine",
                " / ".join(f"{c:.3f}" for c in rest) + " cores",
            ),
            ("median publish->event at peak", f"{statistics.median(lat) * 1000:.1f} ms"),
            ("the broker's Erlang schedulers", broker_schedulers()),
        ]
        width = max(len(r[0]) for r in rows)
        for name, value in rows:
            print(f"{name.ljust(width)}  {value}")
    finally:
        stop_all()  # every worker and relay started, also those of a drain that failed
        destroy_env(env)


if __name__ == "__main__":
    main()
