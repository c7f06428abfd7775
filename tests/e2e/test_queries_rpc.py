"""Request/reply queries over RabbitMQ: a real worker process answers plain pika requesters.

The data is created by commands through the same worker; the queries go to the queue
``invoicing.queries`` on the default exchange with ``reply_to`` + ``correlation_id``, once with
an exclusive auto-delete reply queue and once with direct reply-to (``amq.rabbitmq.reply-to``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import pika
import pytest

from tests.e2e.harness import (
    Collector,
    Env,
    Org,
    Publisher,
    check_reply,
    connect,
    dead_letters,
    relay,
    setup_org,
    token,
    wait_for_topology,
    worker,
)
from tests.support.external import needs_rabbitmq

pytestmark = [pytest.mark.e2e, needs_rabbitmq]

QUEUE = "invoicing.queries"


class Requester:
    """A plain pika RPC client: one channel, confirms, replies matched by correlation_id."""

    def __init__(self, env: Env, *, direct: bool) -> None:
        self.conn = connect(env)
        self.ch = self.conn.channel()
        self.replies: dict[str, tuple[Any, dict[str, Any]]] = {}
        if direct:
            self.reply_to = "amq.rabbitmq.reply-to"  # consume before publishing, same channel
        else:
            self.reply_to = self.ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.ch.basic_consume(self.reply_to, self._on_reply, auto_ack=True)
        self.ch.confirm_delivery()

    def _on_reply(self, _ch: Any, _method: Any, props: Any, body: bytes) -> None:
        reply = json.loads(body)
        check_reply(reply)
        self.replies[str(props.correlation_id)] = (props, reply)

    def send(self, doc: dict[str, Any] | bytes, *, reply_to: str | None = "") -> str:
        correlation_id = str(uuid.uuid4())
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.ch.basic_publish(
            "",
            QUEUE,
            body,
            pika.BasicProperties(
                content_type="application/json",
                correlation_id=correlation_id,
                reply_to=self.reply_to if reply_to == "" else reply_to,
                message_id=correlation_id,
            ),
            mandatory=True,
        )
        return correlation_id

    def wait(self, correlation_ids: list[str], timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not set(correlation_ids) <= set(self.replies):
            assert time.monotonic() < deadline, (
                f"no reply for {set(correlation_ids) - set(self.replies)}"
            )
            self.conn.process_data_events(time_limit=0.2)
        out = []
        for c in correlation_ids:
            props, reply = self.replies[c]
            assert props.correlation_id == c
            out.append(reply)
        return out

    def ask(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.wait([self.send(doc)])[0]

    def close(self) -> None:
        self.conn.close()


def query(
    org: Org, qtype: str, payload: dict[str, Any], tok: str | None = "read"
) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": qtype, "organization_id": org.id, "payload": payload}
    if tok == "read":
        doc["credentials"] = {"token": token({org.id: ["invoices:read"]})}
    elif tok is not None:
        doc["credentials"] = {"token": tok}
    return doc


def writes(env: Env) -> tuple[int, ...]:
    """Row counts of every table a write path touches, and the database's insert counter."""
    counts = env.sql(
        "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM processed_commands), "
        "(SELECT count(*) FROM delivery_attempts), (SELECT count(*) FROM invoices)"
    )[0]
    return tuple(int(c) for c in counts)


def test_queries_answered_over_rabbitmq(env: Env) -> None:
    w = worker(env, "--threads", "2")
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    inv1, inv2 = str(uuid.uuid4()), str(uuid.uuid4())
    pub.send(org.create_invoice(inv1))
    pub.send(org.create_invoice(inv2))
    col.drain(
        lambda ev: {inv1, inv2} <= {e["subject"] for e in ev if e["type"] == "invoice.created"}
    )
    pub.send(org.finalize(inv1))
    col.drain(lambda ev: any(e["type"] == "invoice.finalized" and e["subject"] == inv1 for e in ev))
    pub.send(org.cmd("export_csv", {}))
    col.drain(lambda ev: any(e["type"] == "export.completed" for e in ev))
    ref = next(e for e in col.received if e["type"] == "export.completed")["data"]["document"]
    before = writes(env)

    rpc = Requester(env, direct=False)
    direct = Requester(env, direct=True)
    try:
        # --- get_invoice / list_invoices / next_number, on an exclusive auto-delete reply queue
        got = rpc.ask(query(org, "get_invoice", {"invoice_id": inv1}))
        assert got["status"] == "ok", got
        assert got["result"]["invoice"]["id"] == inv1
        assert got["result"]["invoice"]["number"] == "RE-2026-0001"
        assert got["result"]["invoice"]["totals"]["gross_total"] == "892.50"
        by_number = rpc.ask(query(org, "get_invoice", {"number": "RE-2026-0001"}))
        assert by_number["result"]["invoice"]["id"] == inv1

        listed = rpc.ask(query(org, "list_invoices", {"sort": ["created_at"]}))
        assert listed["status"] == "ok", listed
        assert {i["id"] for i in listed["result"]["items"]} == {inv1, inv2}
        assert listed["result"]["page"]["total"] == 2
        drafts = rpc.ask(query(org, "list_invoices", {"filter": {"status": ["draft"]}}))
        assert [i["id"] for i in drafts["result"]["items"]] == [inv2]

        nxt = direct.ask(query(org, "next_number", {"series": "invoice", "date": "2026-11-20"}))
        assert nxt["status"] == "ok", nxt
        assert nxt["result"]["number"] == "RE-2026-0002"

        # --- the export's file, stored by the worker, read in chunks of 100 bytes from here
        content, offset = b"", 0
        while True:
            payload = {"document_id": ref["document_id"], "offset": offset, "limit": 100}
            chunk = rpc.ask(query(org, "get_document", payload))
            assert chunk["status"] == "ok", chunk
            content += base64.b64decode(chunk["result"]["content"]["data"])
            if chunk["result"]["content"]["eof"]:
                break
            offset = chunk["result"]["content"]["next_offset"]
        assert hashlib.sha256(content).hexdigest() == ref["sha256"] and offset > 0
        assert b"RE-2026-0001" in content

        # --- many in flight at once on direct reply-to: each reply matches its correlation_id
        cids = {
            direct.send(query(org, "get_invoice", {"invoice_id": i})): i for i in [inv1, inv2] * 5
        }
        for cid, reply in zip(cids, direct.wait(list(cids)), strict=True):
            assert reply["result"]["invoice"]["id"] == cids[cid]

        # --- credentials: missing, wrong organization, write-only scope, not a token
        other = str(uuid.uuid4())
        denied = {
            "missing": query(org, "get_invoice", {"invoice_id": inv1}, tok=None),
            "other-org": query(
                org, "get_invoice", {"invoice_id": inv1}, tok=token({other: ["invoices:read"]})
            ),
            "no-read-scope": query(
                org, "list_invoices", {}, tok=token({org.id: ["invoices:write"]})
            ),
            "garbage": query(org, "list_invoices", {}, tok="not.a.token"),
        }
        codes = {}
        for name, doc in denied.items():
            reply = rpc.ask(doc)
            assert reply["status"] == "error" and reply["result"] is None, (name, reply)
            assert reply["errors"][0]["status"] == "403", (name, reply)
            codes[name] = reply["errors"][0]["code"]
        assert codes == {
            "missing": "missing_credentials",
            "other-org": "forbidden",
            "no-read-scope": "forbidden",
            "garbage": "invalid_credentials",
        }, codes
        # the other organization's token sees nothing of this organization, even by number
        stranger = rpc.ask(
            {
                "type": "list_invoices",
                "organization_id": other,
                "credentials": {"token": token({other: ["invoices:read"]})},
                "payload": {},
            }
        )
        assert stranger["status"] == "ok" and stranger["result"]["items"] == []

        # --- bad documents are answered, not dropped
        not_json = rpc.wait([rpc.send(b"this is not json {")])[0]
        assert not_json["status"] == "error"
        unknown = rpc.ask(query(org, "frobnicate", {}))
        assert unknown["errors"][0]["code"] == "unknown_query", unknown

        # --- no reply_to: dead-lettered with the reason; a vanished reply queue: dropped
        lost = rpc.send(query(org, "list_invoices", {}), reply_to=None)
        gone = rpc.send(query(org, "list_invoices", {}), reply_to=f"gone.{uuid.uuid4()}")
        after = rpc.ask(query(org, "next_number", {"date": "2026-11-20"}))
        assert after["result"]["number"] == "RE-2026-0002"  # the worker is not stuck
        assert gone not in rpc.replies
        dead = dead_letters(env, [lost], timeout=30)
        assert lost in dead, dead
        reason = str(dead[lost]["headers"].get("x-invoicing-reason"))
        assert "reply_to" in reason and dead[lost]["headers"]["x-invoicing-queue"] == QUEUE
    finally:
        rpc.close()
        direct.close()

    assert writes(env) == before, "a query wrote to the database"
    ch = connect(env).channel()
    assert ch.queue_declare(QUEUE, passive=True).method.message_count == 0
    w.stop()
    r.stop()
    log = w.text()
    assert '"query.answered"' in log and '"query.reply_unroutable"' in log
    assert "reply_to" in log and '"command.dead_lettered"' in log
