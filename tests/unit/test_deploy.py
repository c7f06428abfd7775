"""deploy/: the manifests validate, the stack is complete, RabbitMQ knows the service's user."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30.0"


#: the broker's own manifests (the RabbitMQ Cluster Operator's custom resource and its grow
#: Job, the Messaging Topology Operator's users and permissions): checked by
#: tests/unit/test_deploy_cluster.py and test_deploy_users.py; kubernetes-validate has no schema
#: for the operators' CRDs
BROKER_MANIFESTS = {"rabbitmq-cluster.yaml", "rabbitmq-users.yaml"}


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name in BROKER_MANIFESTS:
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs.append((path.name, doc))
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "doc"), k8s_documents(), ids=lambda v: str(v)[:40])
def test_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, True)  # strict: no unknown fields


def test_k8s_runs_every_process_with_probes_requests_and_pinned_images() -> None:
    docs = [d for _, d in k8s_documents()]
    components = {
        d["metadata"]["labels"].get("app.kubernetes.io/component")
        for d in docs
        if d["kind"] in ("Deployment", "CronJob", "Job")
    }
    assert components == {"worker", "relay", "dead-letters", "scheduler", "web", "migrate"}
    kinds = {d["kind"] for d in docs}
    assert {"PersistentVolumeClaim", "Ingress", "Service", "CronJob"} <= kinds
    for d in docs:
        if d["kind"] not in ("Deployment", "CronJob", "Job"):
            continue
        for c in pod_spec(d)["containers"]:
            assert re.fullmatch(r"invoicing:\d+\.\d+\.\d+", c["image"]), c["image"]
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            if d["kind"] == "Deployment":
                live, ready = c["livenessProbe"], c["readinessProbe"]
                if c["name"] == "web":
                    assert live["httpGet"]["path"] == "/healthz"
                    assert ready["httpGet"]["path"] == "/readyz"
                else:  # heartbeat, never the broker: an outage must not restart every worker
                    assert live["exec"]["command"] == ["invoicing", "health", "--liveness"]
                    assert ready["exec"]["command"] == ["invoicing", "health"]
                mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
                assert "/var/lib/invoicing" in mounts  # documents and exports on the PVC
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert paths == {"/i/", "/static/"}  # no /metrics, /healthz, /readyz from outside


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_compose_runs_every_process_and_mounts_nothing_outside_the_repository() -> None:
    services = compose()["services"]
    assert {
        "postgres",
        "rabbitmq",
        "migrate",
        "worker",
        "relay",
        "scheduler",
        "dead-letters",
        "web",
    } <= set(services)
    for name, svc in services.items():
        assert not str(svc.get("image", "")).endswith(":latest"), name
        assert ":" in svc.get("image", "x:"), name
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                resolved = (DEPLOY / source).resolve()
                assert resolved.is_relative_to(ROOT), (name, volume)
                assert resolved.exists(), (name, volume)


def test_compose_web_does_not_take_the_client_address_from_the_client() -> None:
    """compose publishes the page's port to the host, with no proxy in front, and trusted
    X-Forwarded-For from every peer ('*'): uvicorn then takes its first address, which the client
    writes itself, so one client got a fresh rate-limit bucket with every request."""
    import asyncio

    from invoicing.web.settings import WebSettings
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    web = compose()["services"]["web"]
    assert web["ports"], "the page is published directly: nothing in front sets the header"
    trusted = web.get("environment", {}).get(
        "INVOICING_WEB_FORWARDED_ALLOW_IPS", WebSettings().forwarded_allow_ips
    )
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    async def request(peer: str, forwarded_for: str) -> None:
        scope = {
            "type": "http",
            "scheme": "http",
            "client": (peer, 40000),
            "headers": [(b"x-forwarded-for", forwarded_for.encode())],
        }
        await ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, None, None)  # type: ignore[arg-type]

    for n in range(3):
        asyncio.run(request("198.51.100.7", f"203.0.113.{n}"))
    assert seen == ["198.51.100.7"] * 3


def _verify(password_hash: str, password: str) -> bool:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt(4) + sha256(salt + password))."""
    raw = base64.b64decode(password_hash)
    salt, digest = raw[:4], raw[4:]
    return hashlib.sha256(salt + password.encode()).digest() == digest


def test_rabbitmq_definitions_hold_the_users_and_permissions_the_processes_use() -> None:
    rabbit = compose()["services"]["rabbitmq"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in rabbit["volumes"] if v.startswith(".")}
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    # the classic key: it takes a directory on 3.10 (definitions.local.path refuses one there)
    directory = re.search(r"^load_definitions\s*=\s*(\S+)", conf, re.M)
    assert directory
    files = {
        target: json.loads((DEPLOY / source).read_text())
        for target, source in mounted.items()
        if target.startswith(directory.group(1) + "/") and target.endswith(".json")
    }
    assert len(files) == 2  # the topology and the users
    users = {u["name"]: u for f in files.values() for u in f.get("users", [])}
    permissions = {
        (p["user"], p["vhost"]): p for f in files.values() for p in f.get("permissions", [])
    }
    amqp_urls = {
        svc["environment"]["INVOICING_AMQP_URL"]
        for svc in compose()["services"].values()
        if "INVOICING_AMQP_URL" in svc.get("environment", {})
    }
    assert len(amqp_urls) >= 5  # one user per process (tests/unit/test_deploy_users.py)
    for url in amqp_urls:
        parsed = urllib.parse.urlparse(url)
        vhost = urllib.parse.unquote(parsed.path[1:]) or "/"
        user = users[parsed.username or ""]
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert _verify(user["password_hash"], parsed.password or "")
        assert (parsed.username, vhost) in permissions
    assert {v["name"] for f in files.values() for v in f.get("vhosts", [])} == {"/"}


def test_dockerfile_installs_the_lock_as_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim", text, re.M)
    assert "pip install --require-hashes --no-deps -r requirements.lock" in text
    assert (ROOT / "requirements.lock").exists()
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*invoicing\", \"health\", \"--liveness\"", text, re.M)
    assert "COPY --from=rules" in text  # the rule sets are in the image, no mount needed


def _web_options(command: list[str]) -> dict[str, Any]:
    """The options ``invoicing web`` takes from ``command``, parsed by the CLI itself (an
    option the code does not have fails here, as it would in the container)."""
    import typer
    from invoicing.cli import app

    assert command[:2] == ["invoicing", "web"], command
    group = typer.main.get_command(app)
    parent = group.make_context("invoicing", ["web"], resilient_parsing=True)
    web = group.get_command(parent, "web")  # type: ignore[attr-defined]
    assert web is not None
    return dict(web.make_context("web", command[2:], parent=parent).params)


def test_web_readiness_and_metrics_are_not_on_the_published_port() -> None:
    """/readyz and /metrics were served on the page's port, which compose publishes to the
    world; they are on the operator port now, which compose does not publish and no k8s Service
    exposes. The container's liveness check still reaches /healthz on the page's port."""
    from invoicing.web.settings import WebSettings

    web = compose()["services"]["web"]
    options = _web_options(web["command"])
    page = options["port"] or WebSettings().port
    operator = options["operator_port"] or WebSettings().operator_port
    assert page != operator
    assert options["operator_host"] == "0.0.0.0"  # a Prometheus service scrapes web:8081
    published = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in web["ports"]}
    assert published == {page}, published
    probe = " ".join(web["healthcheck"]["test"])
    assert f"127.0.0.1:{page}/healthz" in probe

    (deployment,) = [
        d
        for _, d in k8s_documents()
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "invoicing-web"
    ]
    (container,) = pod_spec(deployment)["containers"]
    options = _web_options(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": options["port"], "operator": options["operator_port"]}
    assert container["readinessProbe"]["httpGet"]["port"] == "operator"
    assert options["operator_host"] == "0.0.0.0"  # the kubelet probes the pod's address
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(
        options["operator_port"]
    )
    services = [d for _, d in k8s_documents() if d["kind"] == "Service"]
    exposed = {p["targetPort"] for s in services for p in s["spec"]["ports"]}
    assert "operator" not in exposed and options["operator_port"] not in exposed
