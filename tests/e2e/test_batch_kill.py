"""Kill -9 of a worker in the middle of a batch (group commit, src/pipeline/batch.py).

40 create/finalize pairs and the finalizes of two held invoices (gate, blocker) are queued,
then a worker with 8 threads starts: its transactions hold several commands, a savepoint each.
The test holds both invoices' rows, so a batch waits inside its transaction after other
commands of it have run (their savepoints hold row locks and XIDs: checked in pg_locks). The
worker is killed there. Nothing of that batch may be committed, and after a restart every
command must be applied exactly once: one created and one finalized event per invoice in the
outbox and on the wire, the numbers 1..42 without a gap.
"""

from __future__ import annotations

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


def _waiting_batch(env: Env) -> int:
    """Subtransactions (savepoints that wrote) of the worker transaction waiting on a lock:
    each holds its own XID, kept until the top transaction ends (0 when none waits)."""
    rows = env.sql(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE a.datname = %s AND a.application_name = 'invoicing' "
        "AND a.wait_event_type = 'Lock' AND l.locktype = 'transactionid' AND l.granted",
        (env.db_name,),
    )
    return int(rows[0][0])


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(env: Env) -> None:
    w = worker(env, "--threads", "2", INVOICING_LOCK_TIMEOUT_MS="120000")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    gate, blocker = str(uuid.uuid4()), str(uuid.uuid4())
    pub.send(org.create_invoice(gate))
    pub.send(org.create_invoice(blocker))
    col.drain(lambda ev: {e["subject"] for e in ev} >= {gate, blocker})
    w.stop()
    invoices = [str(uuid.uuid4()) for _ in range(PAIRS)]
    with psycopg.connect(env.dsn) as holds_gate, psycopg.connect(env.dsn) as holds_blocker:
        holds_gate.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (gate,))
        holds_blocker.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (blocker,))
        # the gate's finalize holds its batch while the next messages queue behind it; they
        # then form one batch in which the blocker's finalize waits after several commands
        pub.send(org.finalize(gate))
        for inv in invoices[:3]:
            pub.send(org.create_invoice(inv))
            pub.send(org.finalize(inv))
        pub.send(org.finalize(blocker))
        for inv in invoices[3:]:
            pub.send(org.create_invoice(inv))
            pub.send(org.finalize(inv))
        w = worker(env, "--threads", "8", "--batch", "32", INVOICING_LOCK_TIMEOUT_MS="120000")
        wait_until(lambda: lock_waiters(env) >= 1, 60, "a batch waits on a held row")
        time.sleep(1.0)  # the other threads' commands queue behind the waiting batch
        if _waiting_batch(env) < 3:  # the gate's finalize waits first in its batch: let it go
            holds_gate.rollback()
            wait_until(lambda: _waiting_batch(env) >= 3, 60, "a batch waits after commands")
        in_batch = _waiting_batch(env)
        committed_before = env.sql(
            "SELECT count(*) FROM outbox WHERE organization_id = %s", (org.id,)
        )[0][0]
        w.kill9()
        terminate_backends(env, "invoicing")
        holds_gate.rollback()
        holds_blocker.rollback()
    time.sleep(0.5)
    after_kill = env.sql("SELECT count(*) FROM outbox WHERE organization_id = %s", (org.id,))[0][0]
    assert after_kill == committed_before, "the killed batch committed nothing"
    w = worker(env, "--threads", "8")
    everyone = [*invoices, gate, blocker]
    col.drain(
        lambda ev: {e["subject"] for e in ev if e["type"] == "invoice.finalized"} >= set(everyone),
        120,
    )
    time.sleep(1.0)  # any duplicate the relay would publish arrives too
    col.drain(lambda ev: True)
    w.stop()
    r.stop()
    rows = env.sql(
        "SELECT type, subject, count(*) FROM outbox WHERE organization_id = %s "
        "AND type IN ('invoice.created', 'invoice.finalized') GROUP BY type, subject",
        (org.id,),
    )
    counts = {(t, s): n for t, s, n in rows}
    for inv in everyone:
        assert counts.get(("invoice.created", inv)) == 1, inv
        assert counts.get(("invoice.finalized", inv)) == 1, inv
    wire = [
        e for e in col.received if e["type"] == "invoice.finalized" and e["subject"] in everyone
    ]
    assert sorted(e["subject"] for e in wire) == sorted(everyone), "each finalized once on the wire"
    numbers = env.sql(
        "SELECT number FROM invoices WHERE organization_id = %s AND number IS NOT NULL",
        (org.id,),
    )
    seqs = sorted(int(n.rsplit("-", 1)[-1]) for (n,) in numbers)
    assert seqs == list(range(1, PAIRS + 3)), "gapless, no duplicate"
    print(
        f"\nJEPSEN pipeline.worker-kill-mid-batch: lost=0 duplicated=0 batch_xids={in_batch} "
        f"invoices={len(everyone)} numbers=1..{len(seqs)}"
    )
