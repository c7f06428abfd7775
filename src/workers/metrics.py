"""The worker's Prometheus metrics (prometheus_client, default registry).

Updated by the ``Metrics`` middleware (commands, durations, dead letters) and by the transient
retry policy (retries, as they happen). Exposing them over HTTP is the job of the process that
serves ``/metrics``; this module only defines them.

Label values are bounded: ``type`` is a known command or query type, or ``unknown`` (a body
names whatever it likes, and every distinct label value is a new time series).
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "invoicing_commands",
    "Deliveries finished by the worker, by command (or query) type and outcome "
    "(applied, duplicate, rejected, retry, dead, requeued, answered, unanswered).",
    ["type", "outcome"],
)
COMMAND_DURATION = Histogram(
    "invoicing_command_duration_seconds",
    "Time from the start of a delivery to its outcome (incl. in-place transient retries).",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
TRANSIENT_RETRIES = Counter(
    "invoicing_transient_retries",
    "In-place retries after a transient infrastructure error (database down, deadlock, ...).",
    ["type"],
)
DEAD_LETTERS = Counter(
    "invoicing_dead_letters",
    "Messages the worker dead-lettered (confirmed), by reason "
    "(undecodable, crash_loop, handler_failed, service_unavailable, no_reply_to).",
    ["reason"],
)
RETRY_OVERDUE = Gauge(
    "invoicing_retry_overdue",
    "Delayed retries (scheduled_commands) more than INVOICING_RETRY_OVERDUE_S past due, as "
    "the worker process last counted them: above 0 means retries are stuck.",
    multiprocess_mode="max",
)
RETRY_OVERDUE_SECONDS = Gauge(
    "invoicing_retry_overdue_seconds",
    "How long the oldest overdue delayed retry has been due (0 when none is overdue).",
    multiprocess_mode="max",
)

UNKNOWN = "unknown"


@lru_cache(maxsize=1)
def _known_types() -> frozenset[str]:
    import invoicing.schemas  # noqa: F401  (registers every command type)
    from invoicing.schemas.commands import COMMAND_TYPES
    from invoicing.schemas.queries import QUERY_TYPES

    return frozenset(COMMAND_TYPES) | frozenset(QUERY_TYPES)


def type_label(value: object) -> str:
    """A command or query type as a label value: known types as they are, else ``unknown``."""
    return value if isinstance(value, str) and value in _known_types() else UNKNOWN
