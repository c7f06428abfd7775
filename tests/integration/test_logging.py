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


def test_every_line_is_json_stdlib_records_included(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """alembic's records (stdlib logging) and a library's error inside a command are JSON lines
    with the same fields and the command's bound context."""
    migrate = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "migrate"],
        capture_output=True,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    raw = [x for x in migrate.stderr.splitlines() if x.strip()]
    # every line but the command's own one-line report is a JSON log line
    assert [x for x in raw if not x.startswith("{")] == [raw[-1]]
    assert raw[-1].startswith("migrated ")
    lines = [json.loads(x) for x in raw[:-1]]
    alembic = [x for x in lines if x.get("logger", "").startswith("alembic")]
    assert alembic and all(x["level"] == "info" and "timestamp" in x for x in alembic)
    assert any("Running upgrade" in x["event"] for x in alembic)
    # alembic's two lines of every run ("Context impl ...", "Will assume ...") are dropped: a
    # second migrate, with nothing to apply, prints only its report
    assert not any(x["event"].startswith(("Context impl", "Will assume")) for x in alembic)
    again = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "migrate"],
        capture_output=True,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    assert [x for x in again.stderr.splitlines() if x.strip()] == [raw[-1]]

    code = (
        "import logging, structlog\n"
        "from invoicing import logs\n"
        "logs.configure('json', 'INFO')\n"
        "logs.add_processor(lambda _l, _m, ev: {**ev, 'redacted': True})\n"
        "with structlog.contextvars.bound_contextvars(command_id='c-1', command_type='x',"
        " organization_id='o-1'):\n"
        "    try:\n"
        "        raise ConnectionError('broker gone')\n"
        "    except ConnectionError:\n"
        "        logging.getLogger('pika.adapters').error('connection lost', exc_info=True)\n"
        "    logging.getLogger('dramatiq.worker').info('worker ready')\n"
        "    logging.getLogger('pika').info('chatter')\n"
        "    structlog.get_logger('invoicing').info('command.applied')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    records = [json.loads(x) for x in run.stderr.splitlines() if x.strip()]
    assert [r["event"] for r in records] == ["connection lost", "worker ready", "command.applied"]
    for r in records:
        assert (r["command_id"], r["command_type"], r["organization_id"]) == ("c-1", "x", "o-1")
        assert r["redacted"] is True  # an added processor runs on both paths
    assert (
        records[0]["logger"] == "pika.adapters"
        and "ConnectionError: broker gone" in (records[0]["exception"])
    )
