"""A command retried through the delay queues exists once at any time (no copy amplification).

With the default delays (1, 5, 30 s) a "not there yet" command is retried after 1 s, then 5 s,
then rejected once its bound has passed. A delay selector RabbitMQ does not match on (an x-*
header in a headers exchange) once routed every copy into every delay queue, so each retry
multiplied the message.
"""

from __future__ import annotations

import json
import time
import uuid

from tests.e2e.harness import Env, Publisher, token, wait_for_topology, wait_until, worker


def test_retried_command_is_never_copied(env: Env) -> None:
    w = worker(env, "--threads", "4", INVOICING_RETRY_MISSING_S="3")
    wait_for_topology(env)
    org = str(uuid.uuid4())
    doc = {
        "type": "finalize_invoice",
        "command_id": str(uuid.uuid4()),
        "organization_id": org,
        "payload": {"invoice_id": str(uuid.uuid4())},
        "credentials": {"token": token({org: ["invoices:write"]})},
    }
    Publisher(env).send(doc)
    wait_until(
        lambda: bool(
            env.sql("SELECT 1 FROM processed_commands WHERE command_id = %s", (doc["command_id"],))
        ),
        30,
        "the rejection after the retry bound",
    )
    time.sleep(2)  # any stray copy would arrive from the 1 s delay queue by now
    w.stop()
    events = [json.loads(x) for x in w.text().splitlines() if x.startswith("{")]
    mine = [e for e in events if e.get("command_id") == doc["command_id"]]
    kinds = [e["event"] for e in mine if e["event"].startswith("command.")]
    assert kinds.count("command.retry_later") == 2, kinds
    assert kinds.count("command.rejected") == 1, kinds
    assert "command.duplicate" not in kinds, kinds
