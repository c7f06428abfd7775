"""Delivery runners: threads of a worker process that run due delivery jobs, one per step.

A command commits its delivery job with its state change; these threads pick the jobs up
(``FOR UPDATE SKIP LOCKED``, so any number of runners in any number of worker processes share
the work and never take the same job) and run each as its own step
(:class:`invoicing.handlers.deliveries.Deliverer`). An idle runner looks for due jobs every
``delivery_poll_interval_s``; a busy one goes straight on to the next. Database errors are
logged and retried after the shared backoff (``invoicing.workers.backoff``): the job stays in
the table, claimed for at most ``delivery_lease_s``, and nothing is lost.
"""

from __future__ import annotations

import threading
import time

import structlog
from invoicing.handlers.deliveries import PURPOSES, Deliverer, StepResult
from invoicing.workers.backoff import Backoff
from prometheus_client import Counter, Histogram
from sqlalchemy import exc as sa_exc

log = structlog.get_logger("invoicing.deliveries")

DELIVERY_STEPS = Counter(
    "invoicing_delivery_steps",
    "Delivery steps run by the worker, by purpose (invoice, dunning, payment_confirmation) and "
    "outcome (done, failed, cancelled, retry, unavailable, lost).",
    ["purpose", "outcome"],
)
DELIVERY_DURATION = Histogram(
    "invoicing_delivery_step_duration_seconds",
    "Time of one delivery step (documents, SMTP, recording), by purpose.",
    ["purpose"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


def observe(result: StepResult, seconds: float) -> None:
    """Count one step (label values bounded: registered purposes, fixed outcomes)."""
    purpose = result.purpose if result.purpose in PURPOSES else "unknown"
    outcome = "unavailable" if result.unavailable else result.status
    DELIVERY_STEPS.labels(purpose, outcome).inc()
    DELIVERY_DURATION.labels(purpose).observe(seconds)


def is_transient(exc: BaseException) -> bool:
    """The database is unreachable or the connection broke: try again later."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


class DeliveryRunner:
    def __init__(
        self,
        deliverer: Deliverer,
        *,
        threads: int = 1,
        poll_interval_s: float = 0.5,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.deliverer = deliverer
        self.poll_interval_s = poll_interval_s
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.stop = stop or threading.Event()
        self.threads = [
            threading.Thread(target=self._loop, name=f"delivery-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        log.info("deliveries.started", threads=len(self.threads))

    def join(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def _loop(self) -> None:
        backoff = Backoff(self.backoff_base_s, self.backoff_max_s)
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                result = self.deliverer.run_one()
            except Exception as exc:
                if is_transient(exc):
                    log.warning("deliveries.transient_error", error=str(exc).splitlines()[0][:300])
                else:
                    log.error("deliveries.loop_error", exc_info=True)
                if backoff.wait(self.stop):
                    return
                continue
            backoff.reset()
            if result is None:
                self.stop.wait(self.poll_interval_s)
            else:
                observe(result, time.perf_counter() - started)
