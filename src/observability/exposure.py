"""``/metrics`` over HTTP for the long-running processes (worker, relay, dead-letter archive,
scheduler); ``invoicing web`` serves it on its own port instead.

Worker processes: ``invoicing worker --processes N`` forks N processes, each with its own
registry. Each takes the first free port of ``INVOICING_METRICS_PORT`` ..
``INVOICING_METRICS_PORT + N - 1`` (a restarted process gets the port its predecessor freed),
so Prometheus scrapes N targets per worker container (deploy/k8s/pipeline.yaml lists them).
Prometheus' multiprocess mode was the alternative; it was not chosen because it needs a shared
writable directory cleaned between runs, a parent that serves the aggregate, and gauges with
per-mode aggregation, while N targets need nothing but the port range.
"""

from __future__ import annotations

import os

import structlog
from invoicing.observability.settings import ObservabilitySettings
from prometheus_client import Info, start_http_server

log = structlog.get_logger("invoicing.metrics")

PROCESS = Info("invoicing_process", "Which invoicing process this is")


def start_metrics_server(
    role: str, *, tries: int = 1, settings: ObservabilitySettings | None = None
) -> int | None:
    """Serve this process's registry; return the port, or None when metrics are off.

    ``tries`` consecutive ports are tried from ``INVOICING_METRICS_PORT`` (one per worker
    process); raises ``OSError`` when all of them are taken.
    """
    settings = settings or ObservabilitySettings()
    PROCESS.info({"role": role, "pid": str(os.getpid())})
    if settings.metrics_port is None:
        return None
    last: OSError | None = None
    for port in range(settings.metrics_port, settings.metrics_port + max(1, tries)):
        try:
            start_http_server(port, addr=settings.metrics_addr)
        except OSError as exc:
            last = exc
            continue
        log.info("metrics.serving", role=role, port=port, addr=settings.metrics_addr)
        return port
    raise OSError(
        f"no free metrics port in {settings.metrics_port}..{settings.metrics_port + tries - 1} "
        f"({last}); set INVOICING_METRICS_PORT to a free range"
    )
