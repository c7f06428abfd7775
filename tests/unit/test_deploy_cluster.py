"""The cluster deploy files say what docs/deploy.md says (read as text: no YAML parser in the
test environment).

* compose: three nodes that find each other by the names their hostnames give them, the grow
  step once all three run, and every process of compose.yaml that talks to RabbitMQ given the
  three addresses (each with its own user: test_deploy_users.py);
* k8s: a three-replica ``RabbitmqCluster`` with partition handling, a disruption budget of one,
  and the grow step as a Job whose script is the repository's;
* the address lists in both parse into three nodes (``broker_urls``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from invoicing.workers.amqp import broker_urls

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GROW = (DEPLOY / "rabbitmq" / "grow-quorum-queues.sh").read_text()


def services(compose: str) -> dict[str, str]:
    """Top-level service name -> its block of text."""
    body = compose.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    out: dict[str, str] = {}
    for m in re.finditer(r"^  ([a-z0-9-]+):\n((?:    .*\n|\n)*)", body + "\n", re.MULTILINE):
        out[m.group(1)] = m.group(2)
    return out


def folded(text: str, key: str) -> str:
    """A ``key: >-`` folded scalar, joined with spaces as YAML does."""
    m = re.search(rf"^(\s*){key}: >-\n((?:\1  .*\n)+)", text, re.MULTILINE)
    assert m, f"{key} is not a folded scalar"
    return " ".join(line.strip() for line in m.group(2).splitlines())


def test_compose_cluster_forms_three_nodes_and_grows_the_queues() -> None:
    text = (DEPLOY / "compose.cluster.yaml").read_text()
    svc = services(text)
    nodes = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    conf = (DEPLOY / "rabbitmq" / "cluster.conf").read_text()
    assert re.findall(r"classic_config\.nodes\.\d = rabbit@(\S+)", conf) == nodes
    for name in nodes:
        assert f"hostname: {name}\n" in svc[name]
        assert "./rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/" in svc[name]
        assert "./rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/" in svc[name]
    assert "<<: *node" in svc["rabbitmq-2"] and "<<: *node" in svc["rabbitmq-3"]
    assert "RABBITMQ_ERLANG_COOKIE" in text.split("\nservices:\n")[0]  # one cookie for all
    grow = svc["rabbitmq-grow"]
    assert "grow-quorum-queues.sh" in grow and "RABBITMQ_NODENAME: rabbit@rabbitmq" in grow
    assert "<<: *cluster-deps" in grow and 'restart: "no"' in grow


def test_compose_cluster_gives_every_broker_process_the_three_addresses() -> None:
    base = services((DEPLOY / "compose.yaml").read_text())
    text = (DEPLOY / "compose.cluster.yaml").read_text()
    svc = services(text)
    processes = [
        name
        for name, block in base.items()
        if "<<: *invoicing" in block and "INVOICING_AMQP_URL" in block
    ]
    assert {"worker", "relay", "dead-letters", "scheduler", "publish"} <= set(processes)
    for name in processes:
        m = re.search(r"environment: \*(amqp-[a-z]+)", svc.get(name, ""))
        assert m, f"{name} keeps the single address"
        urls = broker_urls(folded(text.split(f"&{m.group(1)}\n", 1)[1], "INVOICING_AMQP_URL"))
        assert [re.search(r"@([^:/]+)", u).group(1) for u in urls] == [  # type: ignore[union-attr]
            "rabbitmq",
            "rabbitmq-2",
            "rabbitmq-3",
        ]


def test_k8s_three_node_cluster_with_partition_handling_and_a_budget() -> None:
    text = (DEPLOY / "k8s" / "rabbitmq-cluster.yaml").read_text()
    cluster = text.split("kind: RabbitmqCluster\n", 1)[1].split("\n---\n", 1)[0]
    assert re.search(r"^  replicas: 3$", cluster, re.MULTILINE)
    assert "cluster_partition_handling = pause_minority" in cluster
    assert "consumer_timeout = 1800000" in cluster
    assert "requiredDuringSchedulingIgnoredDuringExecution" in cluster
    budget = text.split("kind: PodDisruptionBudget\n", 1)[1].split("\n---\n", 1)[0]
    assert "maxUnavailable: 1" in budget
    image = re.search(r"image: rabbitmq:(\d+)\.(\d+)", cluster)
    assert image and (int(image.group(1)), int(image.group(2))) >= (3, 10)


def test_k8s_grow_job_runs_the_repository_script() -> None:
    text = (DEPLOY / "k8s" / "rabbitmq-cluster.yaml").read_text()
    m = re.search(r"  grow-quorum-queues.sh: \|\n((?:    .*\n|\n)+)", text)
    assert m, "the ConfigMap holds the grow script"
    assert textwrap.dedent(m.group(1)) == GROW
    job = text.split("kind: Job\n", 1)[1]
    assert 'command: ["sh", "/grow/grow-quorum-queues.sh"]' in job
    assert "secretName: invoicing-rabbitmq-erlang-cookie" in job
    assert "rabbit@invoicing-rabbitmq-server-0.invoicing-rabbitmq-nodes.$(POD_NAMESPACE)" in job


def test_k8s_address_list_names_the_three_pods() -> None:
    text = (DEPLOY / "k8s" / "rabbitmq-cluster.yaml").read_text()
    lines = re.findall(r"^#\s+(amqp://\S+)$", text, re.MULTILINE)
    urls = broker_urls(" ".join(lines))
    hosts = [re.search(r"@([^:/]+)", u).group(1) for u in urls]  # type: ignore[union-attr]
    assert hosts == [f"invoicing-rabbitmq-server-{i}.invoicing-rabbitmq-nodes" for i in range(3)]


def test_deploy_docs_cover_sizing_growing_restarts_and_watching() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for heading in ("Sizing", "Adding a node", "Rolling restarts", "What to watch"):
        assert re.search(rf"^#+ {heading}", doc, re.MULTILINE), heading
    for name in (
        "grow-quorum-queues.sh",
        "compose.cluster.yaml",
        "rabbitmq-cluster.yaml",
        "invoicing_retry_overdue",
    ):
        assert name in doc, name
