"""Reliability scenarios (A4.8) with real worker and relay processes, published with plain pika.

Each prints a ``JEPSEN <scenario>: lost=0 duplicated=0 unexpected=0 recovered=N`` line.
duplicated counts *effects* that happened twice (two invoices, two numbers, two distinct
events for one change); re-deliveries of the same event id are allowed and reported as
``redelivered_same_event_id``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import pytest

from tests.e2e.harness import (
    Collector,
    Env,
    Publisher,
    check_effects,
    dead_letters,
    lock_waiters,
    relay,
    report,
    setup_org,
    terminate_backends,
    token,
    wait_for_topology,
    wait_until,
    worker,
)
from tests.support.external import needs_rabbitmq

pytestmark = [pytest.mark.e2e, needs_rabbitmq]


def finalized_numbers(env: Env, org_id: str) -> list[int]:
    rows = env.sql(
        "SELECT sequence_number FROM invoices WHERE organization_id = %s "
        "AND sequence_number IS NOT NULL ORDER BY sequence_number",
        (org_id,),
    )
    return [r[0] for r in rows]


def test_a_worker_killed_before_and_after_commit(env: Env) -> None:
    w = worker(env, "--threads", "2", INVOICING_LOCK_TIMEOUT_MS="120000")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    inv1, inv2 = str(uuid.uuid4()), str(uuid.uuid4())
    pub.send(org.create_invoice(inv1))
    pub.send(org.create_invoice(inv2))
    col.drain(
        lambda ev: (
            len([e for e in ev if e["type"] == "invoice.created" and e["subject"] in (inv1, inv2)])
            == 2
        )
    )

    # --- before commit: the worker is inside the transaction, blocked on the invoice row lock
    with __import__("psycopg").connect(env.dsn) as locker:
        locker.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (inv1,))
        fin1 = org.finalize(inv1)
        pub.send(fin1)
        wait_until(lambda: lock_waiters(env) >= 1, 30, "worker blocked inside its transaction")
        w.kill9()
        terminate_backends(env, "invoicing")  # the dead worker's session
        locker.rollback()
    w.stop()
    # --- after commit, before ack: the worker pauses after its commit and is killed there
    fin2 = org.finalize(inv2)
    w = worker(
        env,
        "--threads",
        "2",
        INVOICING_FAULTS=json.dumps({"pause_after_commit": [fin2["command_id"]], "pause_s": 120}),
    )
    col.drain(
        lambda ev: any(e["type"] == "invoice.finalized" and e["subject"] == inv1 for e in ev), 60
    )
    pub.send(fin2)
    wait_until(
        lambda: bool(
            env.sql("SELECT 1 FROM processed_commands WHERE command_id = %s", (fin2["command_id"],))
        ),
        30,
        "commit of the second finalize",
    )
    w.kill9()
    w.stop()
    w = worker(env, "--threads", "2")
    col.drain(
        lambda ev: any(e["type"] == "invoice.finalized" and e["subject"] == inv2 for e in ev), 60
    )
    wait_until(lambda: "command.duplicate" in w.text(), 30, "redelivery acked as duplicate")
    w.stop()
    r.stop()

    outbox = env.sql(
        "SELECT subject, count(*) FROM outbox WHERE organization_id = %s "
        "AND type = 'invoice.finalized' GROUP BY subject",
        (org.id,),
    )
    per_invoice = {s: c for s, c in outbox}
    numbers = finalized_numbers(env, org.id)
    events = [e for e in col.of("invoice.finalized") if e["organizationid"] == org.id]
    lost = sum(1 for i in (inv1, inv2) if per_invoice.get(i, 0) == 0)
    duplicated = sum(c - 1 for c in per_invoice.values()) + (len(numbers) - len(set(numbers)))
    unexpected = len({e["subject"] for e in events} - {inv1, inv2})
    line = report(
        "a.worker-kill-before-and-after-commit",
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
        recovered=2,
        numbers=numbers,
    )
    assert (lost, duplicated, unexpected) == (0, 0, 0), line
    assert numbers == [1, 2], line


def test_b_relay_killed_between_confirm_and_mark(env: Env) -> None:
    w = worker(env, "--threads", "2")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    r.stop()
    created = {str(uuid.uuid4()) for _ in range(20)}
    for inv in created:
        pub.send(org.create_invoice(inv))
    wait_until(
        lambda: (
            env.sql("SELECT count(*) FROM invoices WHERE organization_id = %s", (org.id,))[0][0]
            == 20
        ),
        60,
        "20 invoices committed",
    )
    w.stop()
    import psycopg

    with psycopg.connect(env.dsn) as locker:
        locked = locker.execute(
            "SELECT id FROM outbox WHERE published_at IS NULL FOR UPDATE"
        ).fetchall()
        r = relay(env)
        # the relay publishes, gets its confirms, then blocks marking the rows
        col.drain(
            lambda ev: (
                len(
                    [
                        e
                        for e in ev
                        if e["type"] == "invoice.created" and e["organizationid"] == org.id
                    ]
                )
                >= 20
            ),
            60,
        )
        wait_until(lambda: lock_waiters(env, "invoicing-relay") >= 1, 30, "relay marking")
        r.kill9()
        terminate_backends(env, "invoicing-relay")
        locker.rollback()
    r.stop()
    unpublished = env.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
    r = relay(env)
    col.drain(
        lambda ev: (
            len([e for e in ev if e["type"] == "invoice.created" and e["organizationid"] == org.id])
            >= 40
        ),
        60,
    )
    wait_until(
        lambda: env.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0] == 0,
        30,
        "outbox drained",
    )
    r.stop()
    assert unpublished >= len(locked) > 0
    check_effects(
        env, org, created, col, "b.relay-kill-between-confirm-and-mark", recovered=len(locked)
    )


def test_c_same_command_twice_at_once(env: Env) -> None:
    w1 = worker(env, "--threads", "2", INVOICING_LOCK_TIMEOUT_MS="60000")
    w2 = worker(env, "--threads", "2", INVOICING_LOCK_TIMEOUT_MS="60000")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    created = {str(uuid.uuid4()) for _ in range(30)}
    for inv in created:
        cmd = org.create_invoice(inv)
        pub.send(cmd)
        pub.send(cmd)  # the same command again, concurrently
    col.drain(lambda ev: {e["subject"] for e in ev if e["type"] == "invoice.created"} >= created)
    # forced overlap: both deliveries of one finalize wait inside their transactions
    target = sorted(created)[0]
    import psycopg

    with psycopg.connect(env.dsn) as locker:
        locker.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (target,))
        fin = org.finalize(target)
        pub.send(fin)
        pub.send(fin)
        wait_until(lambda: lock_waiters(env) >= 2, 30, "both deliveries in flight")
        locker.rollback()
    col.drain(
        lambda ev: any(e["type"] == "invoice.finalized" and e["subject"] == target for e in ev)
    )
    time.sleep(1.5)
    for p in (w1, w2, r):
        p.stop()
    finalized = env.sql(
        "SELECT count(*) FROM outbox WHERE type='invoice.finalized' AND subject = %s", (target,)
    )[0][0]
    assert finalized == 1
    assert finalized_numbers(env, org.id) == [1]
    check_effects(
        env,
        org,
        created,
        col,
        "c.same-command-twice-at-once",
        recovered=0,
        duplicate_deliveries=62,
        finalize_effects=finalized,
    )


def test_f_eight_processes_finalize_gapless(env: Env) -> None:
    w = worker(env, "--threads", "4")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    invoices = [str(uuid.uuid4()) for _ in range(48)]
    for inv in invoices:
        pub.send(org.create_invoice(inv))
    col.drain(
        lambda ev: {e["subject"] for e in ev if e["type"] == "invoice.created"} >= set(invoices), 90
    )
    w.stop()
    w8 = worker(env, "--processes", "8", "--threads", "2")
    time.sleep(6)  # let all eight processes connect, so the finalizes really race
    for inv in invoices:
        pub.send(org.finalize(inv))
    col.drain(
        lambda ev: {e["subject"] for e in ev if e["type"] == "invoice.finalized"} >= set(invoices),
        120,
    )
    w8.stop()
    r.stop()
    numbers = finalized_numbers(env, org.id)
    expected = list(range(1, len(invoices) + 1))
    lost = len(set(expected) - set(numbers))
    duplicated = len(numbers) - len(set(numbers))
    unexpected = len(set(numbers) - set(expected))
    pids = {
        json.loads(line).get("pid") for line in w8.text().splitlines() if '"worker.started"' in line
    }
    line = report(
        "f.eight-processes-gapless",
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
        recovered=0,
        finalized=len(numbers),
        processes=len(pids),
    )
    assert numbers == expected, line


def test_g_poison_messages(env: Env) -> None:
    crash_cmd_id, bug_cmd_id = str(uuid.uuid4()), str(uuid.uuid4())
    faults = json.dumps({"kill": [crash_cmd_id], "raise": [bug_cmd_id]})
    w = worker(
        env,
        "--processes",
        "2",
        "--threads",
        "2",
        INVOICING_FAULTS=faults,
        INVOICING_RETRY_DELAYS_S="[1]",
        INVOICING_MAX_FAILURES="3",
        INVOICING_MAX_CRASH_ATTEMPTS="2",
        INVOICING_RETRY_MISSING_S="3",
    )
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    poison = {
        "not-json": b"this is not json {",
        "not-an-object": b"[1, 2, 3]",
        "no-ids": json.dumps({"type": "create_invoice", "payload": {}}).encode(),
    }
    ids = {}
    for kind, body in poison.items():
        ids[kind] = f"poison-{kind}-{uuid.uuid4()}"
        pub.send_raw(body, "create_invoice", message_id=ids[kind])
    crash = org.create_invoice(command_id=crash_cmd_id)
    bug = org.create_invoice(command_id=bug_cmd_id)
    pub.send(crash)
    pub.send(bug)
    # rejected at once, acked, not dead: unknown type, schema-invalid, missing invoice
    unknown = org.cmd("frobnicate_invoice", {})
    invalid = org.create_invoice()
    invalid["payload"]["lines"][0]["quantity"] = "lots"
    missing = org.finalize(str(uuid.uuid4()))
    for c in (unknown, invalid, missing):
        pub.send(c)
    created = {str(uuid.uuid4()) for _ in range(30)}
    for inv in created:
        pub.send(org.create_invoice(inv))
    expect_rejected = {unknown["command_id"], invalid["command_id"], missing["command_id"]}
    try:
        col.drain(
            lambda ev: (
                expect_rejected <= {e["subject"] for e in ev if e["type"] == "command.rejected"}
                and created <= {e["subject"] for e in ev if e["type"] == "invoice.created"}
            ),
            90,
        )
    except AssertionError as exc:  # say which command is missing and what was dead-lettered
        names = {unknown["command_id"]: "unknown", invalid["command_id"]: "invalid"}
        names |= {missing["command_id"]: "missing", crash_cmd_id: "crash", bug_cmd_id: "bug"}
        seen = {e["subject"] for e in col.of("command.rejected")}
        letters = dead_letters(env, [*ids.values(), crash_cmd_id, bug_cmd_id], timeout=10)
        why = {names.get(k, k): v["headers"].get("x-invoicing-reason") for k, v in letters.items()}
        not_rejected = sorted(names[c] for c in expect_rejected - seen)
        raise AssertionError(f"{exc}; not rejected: {not_rejected}; dead letters: {why}") from exc
    dead = dead_letters(env, [*ids.values(), crash_cmd_id, bug_cmd_id], timeout=90)
    w.stop()
    r.stop()
    reasons = {k: str(v["headers"].get("x-invoicing-reason", "")) for k, v in dead.items()}
    missing_dead = {*ids.values(), crash_cmd_id, bug_cmd_id} - set(dead)
    assert not missing_dead, (missing_dead, reasons, w.text()[-3000:])
    # no bystander of the killed processes was taken for the crash loop (the session's vhost
    # may hold other tests' dead letters: only this organization's commands count)
    bystanders = set(dead) - {*ids.values(), crash_cmd_id, bug_cmd_id}
    assert not {k for k in bystanders if org.id.encode() in dead[k]["body"]}, reasons
    assert "crash loop" in reasons[crash_cmd_id]
    assert "injected handler fault" in reasons[bug_cmd_id]
    assert all(reasons[i].startswith("undecodable") for i in ids.values()), reasons
    in_db = {r[0] for r in env.sql("SELECT command_id::text FROM processed_commands")}
    assert crash_cmd_id not in in_db and bug_cmd_id not in in_db
    rejections = {e["id"]: e for e in col.of("command.rejected") if e["subject"] in expect_rejected}
    assert sorted(e["subject"] for e in rejections.values()) == sorted(expect_rejected)
    rejected_codes = Counter(
        err["code"] for e in rejections.values() for err in e["data"]["errors"]
    )
    # the finalize is rejected once its retry window (RETRY_MISSING_S) ran out
    assert rejected_codes["unknown_command"] == 1, rejected_codes
    assert rejected_codes["invoice_not_found"] == 1, rejected_codes
    check_effects(
        env,
        org,
        created,
        col,
        "g.poison-messages",
        recovered=0,
        dead_lettered=len(dead),
        rejected=len(expect_rejected),
    )


def test_auth_missing_invalid_expired_insufficient(env: Env) -> None:
    w = worker(env, "--threads", "2")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    other = str(uuid.uuid4())
    cases = {
        "missing": org.create_invoice(tok=None),
        "invalid": org.create_invoice(tok=token({org.id: ["invoices:write"]}, secret="wrong" * 8)),
        "expired": org.create_invoice(tok=token({org.id: ["invoices:write"]}, ttl=-3600)),
        "insufficient": org.create_invoice(tok=token({org.id: ["invoices:read"]})),
        "other-org": org.create_invoice(tok=token({other: ["invoices:write"]})),
        "garbage": org.create_invoice(tok="not.a.token"),
    }
    for c in cases.values():
        pub.send(c)
    want = {c["command_id"] for c in cases.values()}
    col.drain(lambda ev: want <= {e["subject"] for e in ev if e["type"] == "command.rejected"})
    w.stop()
    r.stop()
    codes = {}
    for name, c in cases.items():
        ev = next(e for e in col.of("command.rejected") if e["subject"] == c["command_id"])
        codes[name] = ev["data"]["errors"][0]["code"]
        assert ev["data"]["errors"][0]["status"] == "403"
    assert codes == {
        "missing": "missing_credentials",
        "invalid": "invalid_credentials",
        "expired": "expired_credentials",
        "insufficient": "forbidden",
        "other-org": "forbidden",
        "garbage": "invalid_credentials",
    }, codes
    ids = [c["payload"]["id"] for c in cases.values()]
    assert env.sql("SELECT count(*) FROM invoices WHERE id = ANY(%s::uuid[])", (ids,))[0][0] == 0
    assert (
        env.sql(
            "SELECT count(*) FROM processed_commands WHERE command_id = ANY(%s::uuid[])",
            ([c["command_id"] for c in cases.values()],),
        )[0][0]
        == 0
    )
