"""Metrics exposure and heartbeat for the long-running pipeline processes.

``start_process_observability(role)`` is called once by each process (relay, dead-letter
archive, scheduler; the worker through :func:`start_worker_observability`, which also hooks
the heartbeat into dramatiq's message hooks so that a command running longer than
``INVOICING_HEARTBEAT_STUCK_AFTER_S`` stops the beat).
"""

from __future__ import annotations

import threading
from typing import Any

from dramatiq.middleware import Middleware
from invoicing.observability.exposure import start_metrics_server
from invoicing.observability.heartbeat import Heartbeat, start_heartbeat
from invoicing.observability.settings import ObservabilitySettings


def start_process_observability(
    role: str, *, tries: int = 1, settings: ObservabilitySettings | None = None
) -> Heartbeat:
    settings = settings or ObservabilitySettings()
    start_metrics_server(role, tries=tries, settings=settings)
    return start_heartbeat(role, settings)


class HeartbeatMiddleware(Middleware):
    """Tracks each message a worker thread processes as one piece of heartbeat work."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat
        self._local = threading.local()

    def before_process_message(self, broker: Any, message: Any) -> None:
        self._local.key = self.heartbeat.begin()

    def _done(self) -> None:
        key = getattr(self._local, "key", None)
        if key is not None:
            self.heartbeat.end(key)
            self._local.key = None

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self._done()

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self._done()


def start_worker_observability(broker: Any, processes: int) -> Heartbeat:
    """For one worker process: its metrics port (one of ``processes`` consecutive ports) and
    its heartbeat, tracked per message."""
    heartbeat = start_process_observability("worker", tries=processes)
    broker.add_middleware(HeartbeatMiddleware(heartbeat))
    return heartbeat
