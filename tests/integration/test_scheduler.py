"""The scheduler: one check_overdue per organization and day, whatever runs how often."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pika
import pytest
from invoicing import db
from invoicing.pipeline import Pipeline
from invoicing.workers.scheduler import publish_via_broker, run, scheduled_commands

from tests.e2e.harness import Env, module_env
from tests.support.client import BE_ORG, DE_ORG, Client, line


def test_command_ids_are_per_organization_type_and_day() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    day = dt.date(2026, 3, 1)
    first = scheduled_commands([a, b], day, ["check_overdue"])
    assert [d["organization_id"] for d in first] == [str(a), str(b)]
    assert scheduled_commands([a, b], day, ["check_overdue"]) == first
    later = scheduled_commands([a], day + dt.timedelta(days=1), ["check_overdue"])
    assert later[0]["command_id"] != first[0]["command_id"]
    assert first[0]["payload"] == {"as_of": "2026-03-01"}
    with pytest.raises(ValueError, match="not a command"):
        scheduled_commands([a], day, ["no_such_command"])


def test_ticks_in_process_flag_overdue_once(bus: Pipeline) -> None:
    client = Client(bus)
    client.setup_org()
    cust = client.customer()
    inv = client.finalized(cust, [line()], issue_date=dt.date(2026, 1, 5))
    outcomes: list[Any] = []

    def submit(docs: list[dict[str, Any]]) -> None:
        outcomes.extend(
            bus.handle_document(d) for d in docs if d["organization_id"] == str(client.org)
        )

    clock = lambda: dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC)  # noqa: E731
    for _ in range(3):  # three ticks (or three schedulers) on the same day
        run(bus.engine, submit, types=["check_overdue"], interval_s=0, once=True, clock=clock)
    assert [o.status for o in outcomes] == ["applied", "duplicate", "duplicate"]
    assert [e["subject"] for e in outcomes[0].events] == [inv["id"]]
    assert outcomes[0].events[0]["type"] == "invoice.overdue"


def test_each_organization_is_scheduled_for_its_own_calendar_day(bus: Pipeline) -> None:
    """At 23:30 UTC on 31 December it is already 1 January in Berlin and Brussels: their
    overdue checks and dunning runs are as of the new year's day (the command id of that day),
    where a UTC organization's are still as of the old one's; New York is five hours behind."""
    orgs = {
        "de": ({**DE_ORG}, "2027-01-01"),
        "be": ({**BE_ORG}, "2027-01-01"),
        "utc": ({**DE_ORG, "timezone": "UTC"}, "2026-12-31"),
        "ny": ({**DE_ORG, "timezone": "America/New_York"}, "2026-12-31"),
    }
    clients = {}
    for key, (profile, _) in orgs.items():
        clients[key] = Client(bus)
        clients[key].setup_org(profile)
    docs: list[dict[str, Any]] = []
    clock = lambda: dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # noqa: E731
    run(bus.engine, docs.extend, types=["check_overdue"], interval_s=0, once=True, clock=clock)
    by_org = {d["organization_id"]: d for d in docs}
    for key, (_, day) in orgs.items():
        doc = by_org[str(clients[key].org)]
        assert doc["payload"]["as_of"] == day, key
        expected = scheduled_commands(
            [clients[key].org], dt.date.fromisoformat(day), ["check_overdue"]
        )
        assert doc == expected[0], key
    # four hours later New York's day has not changed either; Berlin's command repeats its id
    later = lambda: dt.datetime(2027, 1, 1, 3, 30, tzinfo=dt.UTC)  # noqa: E731
    again: list[dict[str, Any]] = []
    run(bus.engine, again.extend, types=["check_overdue"], interval_s=0, once=True, clock=later)
    by_org_later = {d["organization_id"]: d for d in again}
    assert by_org_later[str(clients["ny"].org)]["payload"]["as_of"] == "2026-12-31"
    assert by_org_later[str(clients["utc"].org)]["payload"]["as_of"] == "2027-01-01"
    de = str(clients["de"].org)
    assert by_org_later[de]["command_id"] == by_org[de]["command_id"]


env = module_env("scheduler")


def test_publishes_signed_commands_to_the_commands_exchange(env: Env) -> None:
    from invoicing.pipeline.authenticate import TokenOrUserAuthenticator
    from invoicing.workers.settings import PipelineSettings
    from invoicing.workers.topology import COMMANDS_EXCHANGE, declare

    settings = PipelineSettings(
        amqp_url=env.amqp_url, jwt_secret="scheduler-test-secret-of-32-bytes-or-more"
    )
    conn = pika.BlockingConnection(pika.URLParameters(env.amqp_url))
    channel = conn.channel()
    declare(channel, settings)
    probe = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(probe, COMMANDS_EXCHANGE, "check_overdue")
    org = uuid.uuid4()
    docs = scheduled_commands([org], dt.date(2026, 2, 1), ["check_overdue"])
    publish_via_broker(docs, env.amqp_url, settings.jwt_secret)
    _, props, body = next(channel.consume(probe, inactivity_timeout=10))
    channel.cancel()
    conn.close()
    sent = json.loads(body)
    assert props.message_id == docs[0]["command_id"] and props.delivery_mode == 2
    assert {k: v for k, v in sent.items() if k != "credentials"} == docs[0]
    principal = TokenOrUserAuthenticator(settings.jwt_secret).authenticate(
        sent["credentials"], None
    )
    assert principal.allows(org, "invoices:write")
    assert not principal.allows(uuid.uuid4(), "invoices:write")


def test_in_process_cli_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/s.sqlite3"
    db.migrate(url)
    result = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "scheduler", "--once", "--in-process"],
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "scheduled=0" in result.stderr


def test_dunning_is_scheduled_only_where_configured(bus: Pipeline) -> None:
    from invoicing.workers.scheduler import organizations

    plain, dunned, disabled = Client(bus), Client(bus), Client(bus)
    for c in (plain, dunned, disabled):
        c.setup_org()
    dunned.ok("configure_dunning", {"levels": [{"days_after_due": 7}]})
    disabled.ok("configure_dunning", {"levels": [{"days_after_due": 7}], "enabled": False})
    per_type = organizations(bus.engine, ["check_overdue", "send_dunning_notices"])
    assert {plain.org, dunned.org, disabled.org} <= set(per_type["check_overdue"])
    assert dunned.org in per_type["send_dunning_notices"]
    assert plain.org not in per_type["send_dunning_notices"]
    assert disabled.org not in per_type["send_dunning_notices"]
    docs = scheduled_commands(per_type, dt.date(2026, 3, 1), ["send_dunning_notices"])
    mine = [d for d in docs if d["organization_id"] == str(dunned.org)]
    assert mine[0]["payload"] == {"as_of": "2026-03-01", "max_notices": 1000}
    assert bus.handle_document(mine[0]).status == "applied"
