"""The mail server is down when send_invoice arrives: the command is neither rejected nor
dead-lettered; it is retried through the delay queues and sends exactly one email once the
server is back (a real worker and relay, a real aiosmtpd server started late)."""

from __future__ import annotations

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


def test_send_waits_out_a_mail_server_outage(env: Env, tmp_path: Path) -> None:
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
    invoice = str(uuid.uuid4())
    pub.send(org.create_invoice(invoice))
    send = org.cmd("send_invoice", {"invoice_id": invoice, "to": ["kunde@acme.example"]})
    pub.send(send)
    # several attempts fail while the server is down (more than MAX_FAILURES)
    time.sleep(8)

    # the events exchange also carries what other tests' leftovers cause: look at ours only
    def ours(etype: str) -> list[dict[str, Any]]:
        return [e for e in col.of(etype) if e.get("organizationid") == org.id]

    col.drain(lambda ev: any(e["subject"] == invoice for e in ev), 30)
    assert not ours("invoice.sent") and not ours("command.rejected")
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        col.drain(
            lambda ev: any(e["type"] == "invoice.sent" and e["subject"] == invoice for e in ev),
            60,
        )
        time.sleep(3)  # any duplicate delivery would arrive by now
    finally:
        controller.stop()
    w.stop()
    r.stop()
    (sent,) = ours("invoice.sent")
    assert sent["subject"] == invoice and sent["data"]["delivery_status"] == "sent"
    assert len(inbox.messages) == 1, "exactly one email"
    assert inbox.messages[0]["Message-ID"] == sent["data"]["message_id"]
    assert not ours("command.rejected")
    assert send["command_id"] not in dead_letters(env, [send["command_id"]], timeout=1)
    attempts = env.sql(
        "SELECT attempts, status FROM email_deliveries WHERE command_id = %s::uuid",
        (send["command_id"],),
    )
    assert attempts[0][1] == "sent" and attempts[0][0] >= 3, attempts
    print(f"JEPSEN smtp.outage: lost=0 duplicated=0 attempts={attempts[0][0]} emails=1")
