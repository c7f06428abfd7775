"""RabbitMQ nodes of our own on loopback, for the cluster test and the deploy-config tests.

Each node runs the installed RabbitMQ's own scripts (not Debian's wrapper, which switches to the
``rabbitmq`` user and so to the machine node's cookie) with a node name, ports, cookie, data and
log directories of its own under a temporary directory. It never touches the machine's node.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "INVOICINGTESTNODESCOOKIE"
#: the shipped RabbitMQ configuration and definitions
DEPLOY_RABBITMQ = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq"


def rabbit_sbin() -> Path | None:
    found = sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/sbin"))
    return found[-1] if found else None


def rabbit_version() -> tuple[int, ...] | None:
    sbin = rabbit_sbin()
    if sbin is None:
        return None
    return tuple(int(p) for p in sbin.parent.name.removeprefix("rabbitmq_server-").split("."))


def prepare_home(base: Path) -> None:
    """A home directory holding the nodes' (and their CLI's) own Erlang cookie."""
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(COOKIE)
        cookie.chmod(0o400)


@dataclass
class Node:
    index: int
    base: Path
    cluster_size: int = 1
    prefix: str = "invcl"
    port_base: int = 5790

    @property
    def name(self) -> str:
        return f"{self.prefix}{self.index}@localhost"

    @property
    def port(self) -> int:
        return self.port_base + self.index

    @property
    def dir(self) -> Path:
        return self.base / f"{self.prefix}{self.index}"

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.base / "home"),
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",  # not the machine node's rabbitmq-env.conf
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_DIST_PORT": str(20000 + self.port),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def write_config(self, extra: str = "") -> None:
        """Listen on our own loopback port; with a cluster size above one, form the cluster at
        boot (classic peer discovery over the sibling nodes); ``extra`` is appended as is."""
        prepare_home(self.base)
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [f"listeners.tcp.default = 127.0.0.1:{self.port}", "loopback_users = none"]
        if self.cluster_size > 1:
            lines.append("cluster_formation.peer_discovery_backend = classic_config")
            lines += [
                f"cluster_formation.classic_config.nodes.{i} = {self.prefix}{i}@localhost"
                for i in range(1, self.cluster_size + 1)
            ]
        (self.dir / "rabbitmq.conf").write_text("\n".join(lines) + "\n" + extra)
        (self.dir / "enabled_plugins").write_text("[].\n")

    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 120) -> str:
        sbin = rabbit_sbin()
        if sbin is None:
            raise RuntimeError("RabbitMQ is not installed")
        out = subprocess.run(
            [str(sbin / tool), "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} on {self.name}: {out.stderr.strip()}")
        return out.stdout

    def start(self) -> None:
        sbin = rabbit_sbin()
        if sbin is None:
            raise RuntimeError("RabbitMQ is not installed")
        subprocess.run(
            [str(sbin / "rabbitmq-server"), "-detached"], env=self.env(), check=True, cwd=self.dir
        )

    def await_startup(self, timeout: float = 120) -> None:
        """Until the node runs; a node that died on boot raises with the end of its log."""
        deadline = time.time() + timeout
        while True:
            try:
                self.ctl("await_startup", "--timeout", "30", timeout=60)
                return
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                if time.time() > deadline:
                    raise RuntimeError(f"{self.name} did not start: {self.log_tail()}") from exc
                time.sleep(1)

    def log_tail(self, lines: int = 20) -> str:
        logs = sorted((self.dir / "log").glob("*.log")) if (self.dir / "log").exists() else []
        text = "".join(p.read_text(errors="replace") for p in logs if "upgrade" not in p.name)
        return "\n".join(text.splitlines()[-lines:])

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.dir / "pid").read_text().strip())
        return None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def kill9(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def shipped_config(base: Path) -> str:
    """The shipped rabbitmq.conf, its definitions directory laid out as compose and k8s mount
    it (definitions.json and users.json) under ``base``."""
    text = (DEPLOY_RABBITMQ / "rabbitmq.conf").read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.d" in text
    directory = base / "definitions.d"
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("definitions.json", "users.json"):
        (directory / name).write_bytes((DEPLOY_RABBITMQ / name).read_bytes())
    return text.replace("/etc/rabbitmq/definitions.d", str(directory))
