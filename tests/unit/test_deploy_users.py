"""Each process logs in to RabbitMQ as its own user, and every user it uses exists in the
definitions with its permissions: deploy/rabbitmq/users.json, compose (one node and three),
Kubernetes (the processes' Secrets and the Messaging Topology Operator's User and Permission
resources). What the permissions allow and refuse on a real node:
tests/integration/test_rabbitmq_users.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from invoicing.workers.amqp import broker_urls

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
USERS = json.loads((DEPLOY / "rabbitmq" / "users.json").read_text())

#: compose service (k8s component) -> its RabbitMQ user
PROCESS_USERS = {
    "worker": "invoicing-worker",
    "relay": "invoicing-relay",
    "dead-letters": "invoicing-archive",
    "scheduler": "invoicing-scheduler",
    "publish": "invoicing-publisher",  # the tool service for upstream publishers and redrive
}
#: processes that never talk to RabbitMQ
NO_BROKER = {"web", "migrate"}


def verify(password_hash: str, password: str) -> bool:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt(4) + sha256(salt + password))."""
    raw = base64.b64decode(password_hash)
    return hashlib.sha256(raw[:4] + password.encode()).digest() == raw[4:]


def grants() -> dict[tuple[str, str], dict[str, str]]:
    return {(p["user"], p["vhost"]): p for p in USERS["permissions"]}


def credentials(urls: str) -> set[tuple[str, str, str]]:
    """(user, password, vhost) of every address."""
    out = set()
    for url in broker_urls(urls):
        parts = urlsplit(url)
        vhost = unquote(parts.path[1:]) or "/"
        out.add((unquote(parts.username or ""), unquote(parts.password or ""), vhost))
    return out


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_users_json_holds_one_user_per_process_and_no_full_rights() -> None:
    users = {u["name"]: u for u in USERS["users"]}
    assert set(users) == set(PROCESS_USERS.values())
    for user in users.values():
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert user["tags"] == []  # no management, no administrator
    topology = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    for user in users:
        grant = grants()[(user, "/")]
        for what in ("configure", "write", "read"):
            regex = grant[what]
            assert regex.startswith("^") and regex.endswith("$"), (user, what)
            # nothing outside the service's names (another application's queue, a server-named
            # queue, an exchange of RabbitMQ's own)
            for other in ("other.queue", "amq.gen-abc", "amq.topic", "invoicing", "invoicingx"):
                assert not re.match(regex, other), (user, what, other)
    # the worker declares the whole topology (Kubernetes imports no definitions)
    worker = grants()[("invoicing-worker", "/")]
    names = [q["name"] for q in topology["queues"]] + [e["name"] for e in topology["exchanges"]]
    assert all(re.match(worker["configure"], n) for n in names)
    # only the publishers may send commands (the worker's write on the invoicing.commands
    # queue, for its bindings, matches the exchange of the same name as well)
    senders = {u for (u, _), g in grants().items() if re.match(g["write"], "invoicing.commands")}
    assert senders == {"invoicing-publisher", "invoicing-scheduler", "invoicing-worker"}
    # only the archive reads dead letters, only the relay and the worker touch events
    readers = {u for (u, _), g in grants().items() if re.match(g["read"], "invoicing.dead-letters")}
    assert readers == {"invoicing-archive"}
    events = {u for (u, _), g in grants().items() if re.match(g["write"], "invoicing.events")}
    assert events == {"invoicing-relay"}


def check_credentials(process: str, urls: str) -> str:
    """The URLs log in as the process's own user, with the password users.json hashes, on a
    vhost the user has permissions on; returns the password."""
    users = {u["name"]: u for u in USERS["users"]}
    ((user, password, vhost),) = credentials(urls)
    assert user == PROCESS_USERS[process], process
    assert verify(users[user]["password_hash"], password), process
    assert (user, vhost) in grants(), process
    return password


def test_compose_gives_each_process_its_own_user() -> None:
    compose = load("compose.yaml")
    assert "INVOICING_AMQP_URL" not in compose["x-invoicing"]["environment"]
    services = compose["services"]
    for process in PROCESS_USERS:
        check_credentials(process, services[process]["environment"]["INVOICING_AMQP_URL"])
    for process in NO_BROKER:
        assert "INVOICING_AMQP_URL" not in services[process].get("environment", {}), process
    assert "--no-declare" in services["publish"]["command"]  # publishers declare nothing


def test_compose_cluster_gives_each_process_its_own_user_on_three_nodes() -> None:
    base = load("compose.yaml")["services"]
    services = load("compose.cluster.yaml")["services"]
    for process in PROCESS_USERS:
        urls = services[process]["environment"]["INVOICING_AMQP_URL"]
        assert len(broker_urls(urls)) == 3, process
        password = check_credentials(process, urls)
        assert password == check_credentials(
            process, base[process]["environment"]["INVOICING_AMQP_URL"]
        )
    for process in NO_BROKER:
        assert "INVOICING_AMQP_URL" not in services.get(process, {}).get("environment", {})
    nodes = services["rabbitmq"]["environment"]
    assert "RABBITMQ_DEFAULT_USER" not in nodes  # no full-rights user beside users.json


def k8s(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def test_k8s_gives_each_process_its_own_secret_and_user() -> None:
    secrets = {d["metadata"]["name"]: d["stringData"] for d in k8s("secret.example.yaml")}
    assert "INVOICING_AMQP_URL" not in secrets["invoicing"]  # shared by all, web included
    workloads = [d for name in ("pipeline.yaml", "web.yaml") for d in k8s(name) if "spec" in d]
    seen = set()
    for doc in workloads:
        if doc["kind"] not in ("Deployment", "CronJob", "Job"):
            continue
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        for c in containers(doc):
            env = {e["name"]: e for e in c.get("env", [])}
            for ref in c.get("envFrom", []):
                assert "INVOICING_AMQP_URL" not in secrets[ref["secretRef"]["name"]]
            if component in NO_BROKER:
                assert "INVOICING_AMQP_URL" not in env, component
                continue
            ref = env["INVOICING_AMQP_URL"]["valueFrom"]["secretKeyRef"]
            secret = secrets[ref["name"]]
            user = PROCESS_USERS[component]
            assert ref["name"] == f"invoicing-amqp-{user.removeprefix('invoicing-')}"
            assert secret["username"] == user
            assert credentials(secret[ref["key"]]) == {(user, secret["password"], "/")}
            assert len(broker_urls(secret[ref["key"]])) == 3
            seen.add(component)
    assert seen == set(PROCESS_USERS) - {"publish"}
    assert secrets["invoicing-amqp-publisher"]["username"] == "invoicing-publisher"


def test_k8s_users_and_permissions_are_those_of_users_json() -> None:
    docs = k8s("rabbitmq-users.yaml")
    secrets = {d["metadata"]["name"]: d["stringData"] for d in k8s("secret.example.yaml")}
    users = {}
    for d in docs:
        if d["kind"] == "User":
            secret = secrets[d["spec"]["importCredentialsSecret"]["name"]]
            users[secret["username"]] = d["spec"]
            assert d["spec"]["tags"] == []
    assert set(users) == set(PROCESS_USERS.values())
    permissions = {
        (d["spec"]["user"], d["spec"]["vhost"]): d["spec"]["permissions"]
        for d in docs
        if d["kind"] == "Permission"
    }
    assert permissions == {
        key: {w: g[w] for w in ("configure", "write", "read")} for key, g in grants().items()
    }
    for d in docs:
        assert d["spec"]["rabbitmqClusterReference"] == {"name": "invoicing-rabbitmq"}


def hash_password(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "rabbitmq" / "hash-password.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("password", ["s3cret", "pässwört with spaces"])
def test_hash_password_makes_a_hash_rabbitmq_accepts(password: str) -> None:
    done = hash_password("-", stdin=password + "\n")
    assert done.returncode == 0, done.stderr
    assert verify(done.stdout.strip(), password)
    assert not verify(done.stdout.strip(), password + "x")


def test_hash_password_never_takes_the_password_from_the_arguments() -> None:
    done = hash_password("s3cret")
    assert done.returncode == 2 and "never from the arguments" in done.stderr
    assert hash_password("-", stdin="").returncode == 1
