"""Pipeline benchmark: create+finalize pairs through RabbitMQ to the events they cause.

    python benchmarks/pipeline.py --pairs 300

1. peak: publish create_invoice commands open-loop (plain pika, confirms); each
   finalize_invoice is published as soon as its invoice.created event arrives. Reports
   commands/s and p50/p99 latency from publish to the event it causes.
2. half rate: the same at half the measured peak command rate (latency under moderate load).
3. raw limit, same machine, same run: plain pika consumers (as many processes as the workers)
   doing the same inserts (inbox row, state row, outbox row) in one psycopg transaction per
   command and a confirmed publish of the event -- no framework.
It prints the ratio pipeline/raw.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import pika
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.harness import (
    Collector,
    Env,
    Org,
    Publisher,
    create_env,
    destroy_env,
    relay,
    setup_org,
    wait_for_topology,
    worker,
)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] * 1000


def run_pipeline(env: Env, org: Org, pairs: int, rate: float | None) -> tuple[float, list[float]]:
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    done = threading.Event()
    lock = threading.Lock()
    invoices = [str(uuid.uuid4()) for _ in range(pairs)]
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
        for method, _props, body in ch.consume(q, auto_ack=True, inactivity_timeout=0.05):
            if method is None:
                if done.is_set():
                    break
                continue
            now = time.perf_counter()
            ev = json.loads(body)
            key = (ev["type"], ev["subject"])
            with cond:
                if key in sent:
                    latencies.append(now - sent.pop(key))
                    got += 1
                    if ev["type"] == "invoice.created":
                        pending_finalize.append(ev["subject"])
                        cond.notify()
            if got == 2 * pairs:
                done.set()
        conn.close()

    ready = threading.Event()
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    ready.wait()
    pub = Publisher(env)
    interval = 2.0 / rate if rate else 0.0  # a pair is two commands
    start = time.perf_counter()
    next_at = start
    i = 0
    while i < pairs or not done.is_set():
        with cond:
            fins = list(pending_finalize)
            pending_finalize.clear()
        for inv in fins:
            cmd = org.finalize(inv)
            with cond:
                sent[("invoice.finalized", inv)] = time.perf_counter()
            pub.send(cmd)
        if i < pairs and time.perf_counter() >= next_at:
            inv = invoices[i]
            with cond:
                sent[("invoice.created", inv)] = time.perf_counter()
            pub.send(org.create_invoice(inv))
            i += 1
            next_at += interval
        elif not fins:
            with cond:
                cond.wait(0.002)
        if time.perf_counter() - start > 600:
            raise SystemExit("benchmark timed out")
    elapsed = time.perf_counter() - start
    t.join(5)
    pub.close()
    return 2 * pairs / elapsed, latencies


RAW_SQL = """
CREATE TABLE IF NOT EXISTS raw_inbox (command_id uuid PRIMARY KEY, hash text);
CREATE TABLE IF NOT EXISTS raw_state (id uuid PRIMARY KEY, doc jsonb);
CREATE TABLE IF NOT EXISTS raw_outbox (id bigserial PRIMARY KEY, event_id uuid, payload jsonb,
  published_at timestamptz);
"""


def raw_consumer(env_dsn: str, amqp_url: str, expected: int, counter: object) -> None:
    db = psycopg.connect(env_dsn)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=8)
    out = conn.channel()
    out.confirm_delivery()
    for method, _props, body in ch.consume("bench.raw", inactivity_timeout=2):
        if method is None:
            break
        cmd = json.loads(body)
        with db.transaction():
            db.execute(
                "INSERT INTO raw_inbox VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (cmd["command_id"], "h"),
            )
            db.execute(
                "INSERT INTO raw_state VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
                "SET doc = excluded.doc",
                (cmd["payload"].get("id") or cmd["payload"].get("invoice_id"), body.decode()),
            )
            event = {"id": str(uuid.uuid4()), "type": "raw", "data": cmd["payload"]}
            db.execute(
                "INSERT INTO raw_outbox (event_id, payload) VALUES (%s, %s)",
                (event["id"], json.dumps(event)),
            )
        out.basic_publish(
            "bench.raw.events",
            "raw",
            json.dumps(event).encode(),
            pika.BasicProperties(delivery_mode=2, message_id=event["id"]),
            mandatory=True,
        )
        ch.basic_ack(method.delivery_tag)
        with counter.get_lock():  # type: ignore[attr-defined]
            counter.value += 1  # type: ignore[attr-defined]
            if counter.value >= expected:  # type: ignore[attr-defined]
                break
    conn.close()
    db.close()


def run_raw(env: Env, org: Org, pairs: int, processes: int) -> float:
    with psycopg.connect(env.dsn, autocommit=True) as db:
        db.execute(RAW_SQL)
    conn = pika.BlockingConnection(pika.URLParameters(env.amqp_url))
    ch = conn.channel()
    ch.queue_declare("bench.raw", durable=True, arguments={"x-queue-type": "quorum"})
    ch.exchange_declare("bench.raw.events", "topic", durable=True)
    ch.queue_declare("bench.raw.sink", durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_bind("bench.raw.sink", "bench.raw.events", "#")
    ch.confirm_delivery()
    for _ in range(pairs):
        inv = str(uuid.uuid4())
        for cmd in (org.create_invoice(inv), org.finalize(inv)):
            ch.basic_publish(
                "", "bench.raw", json.dumps(cmd).encode(), pika.BasicProperties(delivery_mode=2)
            )
    conn.close()
    counter = multiprocessing.Value("i", 0)
    procs = [
        multiprocessing.Process(
            target=raw_consumer, args=(env.dsn, env.amqp_url, 2 * pairs, counter)
        )
        for _ in range(processes)
    ]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return counter.value / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("E2E_REPORT", "/dev/null")
    env = create_env(Path("/tmp"))
    procs = []
    try:
        procs.append(
            worker(
                env,
                "--processes",
                str(args.processes),
                "--threads",
                str(args.threads),
                INVOICING_LOG_LEVEL="WARNING",
            )
        )
        procs.append(relay(env, INVOICING_LOG_LEVEL="WARNING"))
        wait_for_topology(env)
        pub, col = Publisher(env), Collector(env)
        org = setup_org(env, pub, col)
        run_pipeline(env, org, 20, None)  # warm-up
        peak, lat = run_pipeline(env, org, args.pairs, None)
        half, lat_half = run_pipeline(env, org, args.pairs // 2, peak / 2)
        for p in procs:
            p.stop()
        raw = run_raw(env, org, args.pairs, args.processes)
        print(
            f"pipeline peak: {peak:.0f} commands/s, publish->event p50 {pct(lat, 50):.1f} ms, "
            f"p99 {pct(lat, 99):.1f} ms ({len(lat)} events)"
        )
        print(
            f"pipeline at half rate ({peak / 2:.0f}/s): {half:.0f} commands/s, "
            f"p50 {pct(lat_half, 50):.1f} ms, p99 {pct(lat_half, 99):.1f} ms"
        )
        print(f"raw limit (pika + psycopg, {args.processes} processes): {raw:.0f} commands/s")
        print(f"ratio pipeline/raw: {peak / raw:.2f}")
        print(f"median latency all: {statistics.median(lat) * 1000:.1f} ms")
    finally:
        for p in procs:
            p.stop()
        destroy_env(env)


if __name__ == "__main__":
    main()
