"""The service's Prometheus metrics (prometheus_client, default registry).

The worker's own command metrics (``invoicing_commands_total``, ``..._command_duration_seconds``,
``..._transient_retries_total``, ``..._dead_letters_total``) live in
``invoicing.workers.metrics``; everything else is defined here, once per process. Label values
are bounded sets (command or query types, outcomes, document kinds, route names), never ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

#: document work ranges from milliseconds (XML) to seconds (a PDF with a font cache miss)
DOCUMENT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

DELIVERIES = Counter(
    "invoicing_deliveries",
    "Emails handed to the mail server, by purpose and outcome (sent | failed | uncertain)",
    ["purpose", "outcome"],
)
RELAY_PUBLISHED = Counter(
    "invoicing_relay_published",
    "Outbox events published to the events exchange and confirmed by the broker",
)
GC_PAUSES = Histogram(
    "invoicing_gc_pause_seconds",
    "Full (generation 2) collections of the garbage collector in a worker or relay process, "
    "every thread of the process stopped meanwhile (invoicing.workers.gc_pauses)",
    buckets=FAST_BUCKETS[:8],
)
DEAD_LETTERS_ARCHIVED = Counter(
    "invoicing_dead_letters_archived",
    "Dead-lettered messages moved into the dead_letters table, by reason",
    ["reason"],
)
DOCUMENT_RENDER = Histogram(
    "invoicing_document_render_seconds",
    "Time to produce one document (pdf, facturx-pdf, xml-<format>)",
    ["kind"],
    buckets=DOCUMENT_BUCKETS,
)
DOCUMENT_VALIDATION = Histogram(
    "invoicing_document_validation_seconds",
    "Time to validate one e-invoice against its official rule sets, by format",
    ["format"],
    buckets=DOCUMENT_BUCKETS,
)
QUERY_DURATION = Histogram(
    "invoicing_query_duration_seconds",
    "Time to answer one query document, by query type and status (ok | error)",
    ["type", "status"],
    buckets=FAST_BUCKETS,
)
WEB_REQUESTS = Counter(
    "invoicing_web_requests",
    "Requests to the hosted invoice page, by route name and HTTP status",
    ["route", "status"],
)
WEB_REQUEST_DURATION = Histogram(
    "invoicing_web_request_duration_seconds",
    "Time to answer one request of the hosted invoice page, by route name",
    ["route"],
    buckets=FAST_BUCKETS,
)


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    """Observe the block's wall time in ``histogram`` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(**labels).observe(time.perf_counter() - start)


def dead_letter_reason(reason: str) -> str:
    """A bounded label for a dead letter's free-text reason (src/workers/processor.py words)."""
    text = reason.lower()
    for prefix, label in (
        ("undecodable", "undecodable"),
        ("handler failed", "handler_failed"),
        ("redelivered and restarted", "poison"),
        ("an outside service stayed unavailable", "service_unavailable"),
        ("broker dead-lettered", "broker"),
    ):
        if text.startswith(prefix):
            if label == "broker":
                for cause in ("expired", "maxlen", "delivery_limit", "rejected"):
                    if cause in text:
                        return f"broker_{cause}"
            return label
    return "other"
