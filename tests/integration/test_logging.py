"""Log lines are JSON when not on a terminal, bound to command, organization and invoice."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid


def test_json_logs_bound_to_command_organization_and_invoice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    org, inv = str(uuid.uuid4()), str(uuid.uuid4())
    docs = [
        {
            "type": "configure_organization",
            "command_id": str(uuid.uuid4()),
            "organization_id": org,
            "payload": {
                "name": "X GmbH",
                "address": {"country_code": "DE"},
                "default_tax_rate": 19,
            },
        },
        {
            "type": "create_invoice",
            "command_id": str(uuid.uuid4()),
            "organization_id": org,
            "payload": {"id": inv, "lines": [{"description": "A", "quantity": 1, "unit_price": 1}]},
        },
        {
            "type": "finalize_invoice",
            "command_id": str(uuid.uuid4()),
            "organization_id": org,
            "payload": {"invoice_id": inv},
        },
    ]
    result = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "process", "-"],
        input="\n".join(json.dumps(d) for d in docs) + "\n",
        capture_output=True,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    lines = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    by_event = {(x["event"], x.get("command_type")): x for x in lines}
    created = by_event[("command.applied", "create_invoice")]
    assert created["organization_id"] == org and created["invoice_id"] == inv
    assert created["command_id"] == docs[1]["command_id"]
    rejected = by_event[("command.rejected", "finalize_invoice")]  # no customer yet
    assert rejected["invoice_id"] == inv and rejected["level"] == "warning"
    assert all("timestamp" in x and "level" in x for x in lines)
