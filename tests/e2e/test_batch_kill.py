"""Kill -9 of a worker in the middle of a batch (group commit, src/pipeline/batch.py).

40 create/finalize pairs of two organizations are queued, then a worker with 8 threads starts:
its transactions hold several commands; finalizes batch in a lane of their own and run in
organization order. The test holds the number series row of the organization that sorts last,
so a batch waits inside its transaction at that organization's first number; when finalizes
of the other organization ran before it in the batch (they took their numbers: the batch holds
that organization's series row, which a probe's ``FOR UPDATE NOWAIT`` finds locked), the
worker is killed there (else the test lets that batch through and waits for the next one).
Nothing of the killed batch may be committed, and after a restart every command must be
applied exactly once: one created and one finalized event per invoice in the outbox and on the
wire, each organization's numbers without a gap.
"""

from __future__ import annotations

import json
import time
import uuid

import psycopg

from tests.e2e.harness import (
    Collector,
    Env,
    Publisher,
    lock_waiters,
    relay,
    setup_org,
    terminate_backends,
    wait_for_topology,
    wait_until,
    worker,
)

PAIRS = 40


def _took_numbers_before_waiting(env: Env, other_id: str) -> bool:
    """Whether the worker transaction waiting on the held series row took numbers of the other
    organization first (a batch's numbers are taken at its end, in organization order, and
    its invoices' UPDATEs come after all of them): it then holds that organization's series
    row until it ends, and nothing else of the worker can (one numbering transaction at a
    time)."""
    with psycopg.connect(env.dsn) as probe:
        try:
            probe.execute(
                "SELECT 1 FROM number_series WHERE organization_id = %s FOR UPDATE NOWAIT",
                (other_id,),
            )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(env: Env) -> None:
    w = worker(env, "--threads", "2", INVOICING_LOCK_TIMEOUT_MS="120000")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    other, org = sorted((setup_org(env, pub, col), setup_org(env, pub, col)), key=lambda o: o.id)
    firsts = []
    for who in (org, other):  # its first finalize creates the organization's series row
        first = str(uuid.uuid4())
        pub.send(who.create_invoice(first))
        col.drain(lambda ev, first=first: any(e["subject"] == first for e in ev))
        pub.send(who.finalize(first))
        col.drain(
            lambda ev, first=first: any(
                e["type"] == "invoice.finalized" and e["subject"] == first for e in ev
            )
        )
        firsts.append(first)
    w.stop()
    invoices = [str(uuid.uuid4()) for _ in range(PAIRS // 2)]
    others = [str(uuid.uuid4()) for _ in range(PAIRS // 2)]
    with psycopg.connect(env.dsn) as holder:

        def hold() -> None:  # every finalize waits for the series row (it waits for a batch)
            holder.execute(
                "UPDATE number_series SET next_value = next_value WHERE organization_id = %s",
                (org.id,),
            )

        hold()
        for inv, oth in zip(invoices, others, strict=True):
            for who, iid in ((org, inv), (other, oth)):
                pub.send(who.create_invoice(iid))
                pub.send(who.finalize(iid))
        # one transaction at a time: while it waits, nothing else of the worker commits
        w = worker(
            env,
            "--threads",
            "8",
            "--batch",
            "32",
            INVOICING_LOCK_TIMEOUT_MS="120000",
            INVOICING_WORKER_BATCH_LEADERS="1",
        )
        for _ in range(30):
            wait_until(lambda: lock_waiters(env) >= 1, 60, "a batch waits on the series row")
            time.sleep(0.5)
            if _took_numbers_before_waiting(env, other.id):  # after the other's finalizes
                break
            holder.commit()  # it came first in its batch: let the batch through, wait again
            hold()
        else:
            raise AssertionError("no batch waited after other commands")
        committed_before = env.sql("SELECT count(*) FROM outbox")[0][0]
        w.kill9()
        terminate_backends(env, "invoicing")
        holder.rollback()
    time.sleep(0.5)
    after_kill = env.sql("SELECT count(*) FROM outbox")[0][0]
    assert after_kill == committed_before, "the killed batch committed nothing"
    w = worker(env, "--threads", "8")
    everyone = [*invoices, *firsts, *others]
    col.drain(
        lambda ev: {e["subject"] for e in ev if e["type"] == "invoice.finalized"} >= set(everyone),
        120,
    )
    time.sleep(1.0)  # any duplicate the relay would publish arrives too
    col.drain(lambda ev: True)
    w.stop()
    r.stop()
    # the worker says at its stop how its batches went (docs/pipeline.md, group commit)
    stopped = [json.loads(x) for x in w.text().splitlines() if '"worker.stopped"' in x]
    means = [x["batch_mean"] for x in stopped if x["batch_mean"] is not None]
    assert means and all(m >= 1 for m in means), stopped
    # the backlog left by the kill ran in batches of several commands
    assert sum(x["batches_without_savepoints"] + x["batches_run_again"] for x in stopped) >= 1
    rows = env.sql(
        "SELECT type, subject, count(*) FROM outbox "
        "WHERE type IN ('invoice.created', 'invoice.finalized') GROUP BY type, subject"
    )
    counts = {(t, s): n for t, s, n in rows}
    for inv in everyone:
        assert counts.get(("invoice.created", inv)) == 1, inv
        assert counts.get(("invoice.finalized", inv)) == 1, inv
    wire = [
        e for e in col.received if e["type"] == "invoice.finalized" and e["subject"] in everyone
    ]
    assert sorted(e["subject"] for e in wire) == sorted(everyone), "each finalized once on the wire"
    for who, expected in ((org, len(invoices) + 1), (other, len(others) + 1)):
        numbers = env.sql(
            "SELECT number FROM invoices WHERE organization_id = %s AND number IS NOT NULL",
            (who.id,),
        )
        seqs = sorted(int(n.rsplit("-", 1)[-1]) for (n,) in numbers)
        assert seqs == list(range(1, expected + 1)), "gapless, no duplicate"
    print(
        f"\nJEPSEN pipeline.worker-kill-mid-batch: lost=0 duplicated=0 "
        f"invoices={len(everyone)} numbers=1..{len(invoices) + 1} and 1..{len(others) + 1}"
    )
