"""The mail server is down when send_invoice and send_dunning_notices arrive: the commands
commit at once (the draft is finalized, the delivery jobs recorded); nothing is rejected or
dead-lettered; the worker's delivery runner retries each delivery and sends exactly one email
per delivery once the server is back (a real worker and relay, a real aiosmtpd server started
late)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.e2e.harness import (
    Collector,
    Env,
    Publisher,
    dead_letters,
    relay,
    setup_org,
    wait_for_topology,
    worker,
)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_send_and_dunning_wait_out_a_mail_server_outage(env: Env, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens here yet: connection refused
    w = worker(
        env,
        "--threads",
        "2",
        INVOICING_DATA_DIR=str(tmp_path / "data"),
        INVOICING_SMTP_HOST="127.0.0.1",
        INVOICING_SMTP_PORT=str(port),
        INVOICING_SMTP_SECURITY="none",
        INVOICING_SMTP_SENDER="rechnung@e2e.example",
        INVOICING_RETRY_DELAYS_S="[1, 2]",
        INVOICING_MAX_FAILURES="2",  # a bug would be dead after 2 failures: an outage is not
    )
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    pub.send(org.cmd("configure_dunning", {"levels": [{"days_after_due": 7}]}))
    # issued 40 days ago, due 14 days later: level 1 (7 days after due) is due by today. A run
    # dated after today is refused (send_dunning_notices checks as_of against the calendar),
    # so the dates follow the clock; UTC's day is never after the organization's (Berlin)
    today = dt.datetime.now(dt.UTC).date()
    overdue = str(uuid.uuid4())
    pub.send(org.create_invoice(overdue))
    issued = (today - dt.timedelta(days=40)).isoformat()
    pub.send(org.cmd("finalize_invoice", {"invoice_id": overdue, "issue_date": issued}))
    invoice = str(uuid.uuid4())
    pub.send(org.create_invoice(invoice))
    send = org.cmd("send_invoice", {"invoice_id": invoice, "to": ["kunde@acme.example"]})
    dun = org.cmd("send_dunning_notices", {"as_of": today.isoformat()})

    # the events exchange also carries what other tests' leftovers cause: look at ours only
    def ours(etype: str) -> list[dict[str, Any]]:
        return [e for e in col.of(etype) if e.get("organizationid") == org.id]

    col.drain(
        lambda ev: any(e["type"] == "invoice.finalized" and e["subject"] == overdue for e in ev),
        60,
    )
    pub.send(send)
    pub.send(dun)
    # the draft is finalized by the delivery step before it reaches the (absent) mail server
    col.drain(
        lambda ev: any(e["type"] == "invoice.finalized" and e["subject"] == invoice for e in ev),
        60,
    )
    # several attempts fail while the server is down (more than MAX_FAILURES)
    time.sleep(8)
    col.drain(lambda ev: True, 5)  # whatever was published meanwhile
    assert not ours("invoice.sent") and not ours("dunning.notice_sent")
    assert not ours("command.rejected") and not ours("invoice.delivery_failed")
    jobs = env.sql(
        "SELECT purpose, status, attempts FROM delivery_jobs WHERE organization_id = %s::uuid",
        (org.id,),
    )
    assert sorted((p, s) for p, s, _ in jobs) == [("dunning", "pending"), ("invoice", "pending")]
    assert all(a >= 3 for _, _, a in jobs), jobs
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        col.drain(
            lambda ev: bool(ours("invoice.sent")) and bool(ours("dunning.notice_sent")),
            60,
        )
        time.sleep(3)  # any duplicate delivery would arrive by now
    finally:
        controller.stop()
    w.stop()
    r.stop()
    (sent,) = ours("invoice.sent")
    (notice,) = ours("dunning.notice_sent")
    assert sent["subject"] == invoice and sent["data"]["delivery_status"] == "sent"
    assert notice["subject"] == overdue and notice["data"]["dunning"]["level"] == 1
    assert len(inbox.messages) == 2, "exactly one email per delivery"
    assert {m["Message-ID"] for m in inbox.messages} == {
        sent["data"]["message_id"],
        notice["data"]["message_id"],
    }
    assert not ours("command.rejected") and not ours("invoice.delivery_failed")
    ids = [send["command_id"], dun["command_id"]]
    assert not set(ids) & set(dead_letters(env, ids, timeout=1))
    attempts = env.sql(
        "SELECT purpose, attempts, status FROM email_deliveries WHERE organization_id = %s::uuid",
        (org.id,),
    )
    assert sorted(p for p, _, _ in attempts) == ["dunning", "invoice"]
    assert all(status == "sent" and n >= 3 for _, n, status in attempts), attempts
    jobs = env.sql("SELECT status FROM delivery_jobs WHERE organization_id = %s::uuid", (org.id,))
    assert [s for (s,) in jobs] == ["done", "done"]
    print(f"JEPSEN smtp.outage: lost=0 duplicated=0 attempts={attempts} emails=2")
