"""deploy/rabbitmq/rabbitmq.conf and definitions.json boot the RabbitMQ this machine runs.

A node of our own (own name, port, cookie and directories: tests/support/rabbitnodes.py) is
started with the shipped configuration, the definitions path pointed at the repository's file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.external import needs
from tests.support.rabbitnodes import DEPLOY_RABBITMQ as DEPLOY
from tests.support.rabbitnodes import Node, rabbit_sbin, rabbit_version, shipped_config

pytestmark = needs(rabbit_sbin() is not None, "needs RabbitMQ installed (its sbin scripts)")


def test_the_minimum_version_is_what_this_machine_runs_or_older() -> None:
    version = rabbit_version()
    assert version is not None and version >= (3, 10)
    assert "Minimum RabbitMQ version: 3.10" in (DEPLOY / "rabbitmq.conf").read_text()


def test_shipped_configuration_boots_and_loads_every_quorum_queue(tmp_path: Path) -> None:
    node = Node(1, tmp_path, prefix="invcfg", port_base=5840)
    node.write_config(shipped_config(tmp_path))
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
        users = {u["user"] for u in json.loads(node.ctl("list_users", "--formatter", "json"))}
        shipped = json.loads((DEPLOY / "users.json").read_text())
        assert {u["name"] for u in shipped["users"]} <= users
    finally:
        node.kill9()


def _members(node: Node) -> dict[str, int]:
    rows = json.loads(node.ctl("list_queues", "name", "members", "--formatter", "json"))
    return {r["name"]: len(r.get("members") or []) for r in rows}


def _leaders(node: Node) -> dict[str, str]:
    rows = json.loads(node.ctl("list_queues", "name", "leader", "--formatter", "json"))
    return {r["name"]: r["leader"] for r in rows}


def test_definitions_at_boot_replicate_after_the_grow_step(tmp_path: Path) -> None:
    """Three nodes boot with the shipped configuration: the queues the first node imports have
    one member; deploy/rabbitmq/grow-quorum-queues.sh puts them on all three nodes and spreads
    the leaders."""
    nodes = [Node(i, tmp_path, cluster_size=3, prefix="invgrow", port_base=5850) for i in (1, 2, 3)]
    try:
        for node in nodes:
            node.write_config(shipped_config(tmp_path))
        # the first node boots (and imports the definitions) before the others join, as a
        # StatefulSet's ordered start does
        nodes[0].start()
        nodes[0].await_startup(timeout=180)
        for node in nodes[1:]:
            node.start()
        for node in nodes[1:]:
            node.await_startup(timeout=180)
        status = json.loads(nodes[0].ctl("cluster_status", "--formatter", "json"))
        assert len(status["running_nodes"]) == 3
        definitions = json.loads((DEPLOY / "definitions.json").read_text())
        wanted = {q["name"] for q in definitions["queues"]}
        before = _members(nodes[0])
        assert {before[name] for name in wanted} == {1}  # what RabbitMQ does by itself

        env = nodes[0].env()
        sbin = rabbit_sbin()
        assert sbin is not None
        env["PATH"] = f"{sbin}:{env['PATH']}"
        subprocess.run([str(DEPLOY / "grow-quorum-queues.sh")], env=env, check=True, timeout=300)
        after = _members(nodes[0])
        assert {after[name] for name in wanted} == {3}
        leaders = [leader for name, leader in _leaders(nodes[0]).items() if name in wanted]
        assert len(set(leaders)) == 3, f"leaders not spread: {leaders}"

        subprocess.run([str(DEPLOY / "grow-quorum-queues.sh")], env=env, check=True, timeout=300)
        assert _members(nodes[0]) == after
    finally:
        for node in nodes:
            node.kill9()
