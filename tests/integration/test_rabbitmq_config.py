"""deploy/rabbitmq/rabbitmq.conf and definitions.json boot the RabbitMQ this machine runs.

A node of our own (own name, port, cookie and directories: tests/support/rabbitnodes.py) is
started with the shipped configuration, the definitions path pointed at the repository's file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.rabbitnodes import Node, rabbit_sbin, rabbit_version

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq"

pytestmark = pytest.mark.skipif(rabbit_sbin() is None, reason="RabbitMQ is not installed")


def shipped_config() -> str:
    text = (DEPLOY / "rabbitmq.conf").read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.json" in text
    return text.replace("/etc/rabbitmq/definitions.json", str(DEPLOY / "definitions.json"))


def test_the_minimum_version_is_what_this_machine_runs_or_older() -> None:
    version = rabbit_version()
    assert version is not None and version >= (3, 10)
    assert "Minimum RabbitMQ version: 3.10" in (DEPLOY / "rabbitmq.conf").read_text()


def test_shipped_configuration_boots_and_loads_every_quorum_queue(tmp_path: Path) -> None:
    node = Node(1, tmp_path, prefix="invcfg", port_base=5840)
    node.write_config(shipped_config())
    node.start()
    try:
        node.await_startup(timeout=90)
        queues = {
            q["name"]: q["type"]
            for q in json.loads(node.ctl("list_queues", "name", "type", "--formatter", "json"))
        }
        definitions = json.loads((DEPLOY / "definitions.json").read_text())
        wanted = {q["name"] for q in definitions["queues"]}
        assert wanted and wanted <= set(queues)
        assert {queues[name] for name in wanted} == {"quorum"}
    finally:
        node.kill9()
