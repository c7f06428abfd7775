"""Hostile deliveries against a real worker, relay and dead-letter archive.

* A body nested 10,000 deep is dead-lettered the first time it is seen (no requeue, no crash
  loop) and the archive stores it and keeps running.
* A command published with a routing key other than its ``type`` is rejected with a pointer to
  ``/type`` and a hint, and not executed; nothing is recorded, so a corrected re-send with the
  same command id runs.
* No log line of the worker or the archive carries a credential or a whole body.
"""

from __future__ import annotations

import json
import time
import uuid

from tests.e2e.harness import (
    Collector,
    Env,
    Proc,
    Publisher,
    relay,
    setup_org,
    token,
    wait_for_topology,
    wait_until,
    worker,
)

MARKER = "BODY-MARKER-" + uuid.uuid4().hex


def _archived(env: Env, message_id: str) -> list[tuple[str, bytes]]:
    return [
        (str(r[0]), bytes(r[1]))
        for r in env.sql(
            "SELECT reason, body FROM dead_letters WHERE message_id = %s", (message_id,)
        )
    ]


def test_deep_bodies_die_once_and_routing_keys_must_match_the_type(env: Env) -> None:
    w = worker(env, "--threads", "2")
    r = relay(env)
    archive = Proc(env, "archive", ["dead-letters", "archive"])
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    secret = token({"*": ["invoices:write"]})
    try:
        org = setup_org(env, pub, col)
        deep = {
            "deep-array": b"[" * 10_000 + b"]" * 10_000,
            "deep-object": (
                b'{"credentials": {"token": "'
                + secret.encode()
                + b'"}, "m": "'
                + MARKER.encode()
                + b'", "a":'
                + b'{"a":' * 10_000
                + b"1"
                + b"}" * 10_001
            ),
        }
        ids = {kind: f"{kind}-{uuid.uuid4()}" for kind in deep}
        for kind, body in deep.items():
            pub.send_raw(body, "create_invoice", message_id=ids[kind])

        # --- routing key and type disagree: rejected, not executed, nothing recorded
        invoice_id = str(uuid.uuid4())
        send = org.cmd("send_invoice", {"invoice_id": invoice_id})
        pub.send_raw(json.dumps(send).encode(), "finalize_invoice", message_id=send["command_id"])
        create = org.create_invoice(invoice_id)
        create["credentials"] = {"token": secret}
        create["payload"]["lines"][0]["description"] = MARKER
        pub.send_raw(
            json.dumps(create).encode(), "finalize_invoice", message_id=create["command_id"]
        )
        col.drain(
            lambda ev: (
                {send["command_id"], create["command_id"]}
                <= {e["subject"] for e in ev if e["type"] == "command.rejected"}
            ),
            60,
        )
        for cmd, ctype in ((send, "send_invoice"), (create, "create_invoice")):
            [event] = [e for e in col.of("command.rejected") if e["subject"] == cmd["command_id"]]
            [error] = event["data"]["errors"]
            assert error["code"] == "routing_mismatch", error
            assert error["source"]["pointer"] == "/type"
            assert "routing key" in error["meta"]["hint"]
            assert ctype in error["detail"] and "finalize_invoice" in error["detail"]
            assert not env.sql(
                "SELECT 1 FROM processed_commands WHERE command_id = %s", (cmd["command_id"],)
            )
        assert not env.sql("SELECT 1 FROM invoices WHERE id = %s", (invoice_id,))
        # corrected, with the same command id: it runs
        pub.send(create)
        col.drain(
            lambda ev: any(
                e["type"] == "invoice.created" and e["subject"] == invoice_id for e in ev
            ),
            60,
        )

        # --- deep bodies: dead-lettered once, archived, nobody crashed
        wait_until(lambda: all(_archived(env, i) for i in ids.values()), 60, "deep bodies archived")
        for kind, message_id in ids.items():
            [(reason, body)] = _archived(env, message_id)
            assert reason.startswith("undecodable"), reason
            assert body == deep[kind]
        time.sleep(1.0)  # a redelivery (crash loop) would show by now
        lines = [json.loads(x) for x in w.text().splitlines() if x.startswith("{")]
        for message_id in ids.values():
            mine = [e for e in lines if e.get("message_id") == message_id]
            events = [e["event"] for e in mine]
            assert events.count("command.dead_lettered") == 1, events
            assert not {"delivery.requeued", "command.failed_retry", "command.isolated"} & set(
                events
            ), events
            [dead] = [e for e in mine if e["event"] == "command.dead_lettered"]
            assert dead["kind"] == "undecodable"
        assert w.popen.poll() is None and archive.popen.poll() is None
    finally:
        pub.close()
        w.stop()
        r.stop()
        archive.stop()
    for proc in (w, archive):
        text = proc.text()
        assert MARKER not in text, "a log line carries a whole body"
        assert secret not in text, "a log line carries a credential"
        assert "[[[[[[[[" not in text and '{"a":{"a":' not in text
        assert "Traceback" not in text
    assert "dead_letter.archived" in archive.text()
