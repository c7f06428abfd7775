"""Pipeline configuration (environment, prefix ``INVOICING_``); documented in docs/pipeline.md."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the name of the query queue in ``INVOICING_WORKER_QUEUES`` / ``--queues``
QUERIES_WORKLOAD = "queries"


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore")

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=30",
        description="RabbitMQ URL (vhost URL-encoded, e.g. %2F for /); several nodes: full URLs "
        "separated by commas or whitespace, tried in turn from a random one",
    )
    # --- authentication
    jwt_secret: str = Field(default="", description="HS256 secret for command tokens")
    jwt_issuer: str = Field(default="", description="required `iss` claim when set")
    jwt_leeway_s: int = Field(default=30, description="clock skew allowed on `exp`")
    amqp_user_grants: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description='broker-verified AMQP user_id -> {organization id or "*": [scopes]} (JSON)',
    )
    # --- worker
    worker_processes: int = Field(default=1, ge=1, le=64)
    worker_threads: int = Field(default=4, ge=1, le=64)
    worker_prefetch: int = Field(default=0, ge=0, description="per queue; 0 = 2 x threads")
    worker_batch: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="group commit: at most this many commands share a transaction (a savepoint "
        "each only when one of them has to be undone), bounded by the threads of the process; "
        "1 = a transaction per command",
    )
    worker_batch_leaders: int = Field(
        default=2,
        ge=1,
        le=64,
        description="group commit: transactions running at once per process (their round "
        "trips overlap); each takes the commands waiting when it starts",
    )
    worker_queues: str = Field(
        default="", description="comma-separated workloads (and `queries`); empty = all"
    )
    shutdown_timeout_s: float = Field(default=60.0, description="SIGTERM: finish in-flight work")
    worker_middleware: str = Field(
        default="",
        description="extra dramatiq middleware appended after the policies: comma-separated "
        "`module:factory` names (the tests load their fault injection this way)",
    )
    # --- failure classes
    transient_backoff_base_s: float = Field(
        default=0.2, gt=0, description="the shared backoff (src/workers/backoff.py): first wait"
    )
    transient_backoff_max_s: float = Field(
        default=10.0, gt=0, description="the shared backoff: longest wait"
    )
    transient_hold_s: float = Field(
        default=300.0,
        description="how long one delivery retries a transient error in place before it is "
        "re-published to a delay queue (must stay far below RabbitMQ's consumer_timeout)",
    )
    retry_missing_s: float = Field(
        default=120.0, description="how long a command naming a missing invoice is retried"
    )
    retry_unavailable_s: float = Field(
        default=86400.0,
        description="how long a command whose outside service (the mail server) is unreachable "
        "is retried through the delay queues before it is dead-lettered",
    )
    retry_delays_s: list[int] = Field(
        default_factory=lambda: [1, 5, 30], description="delay queues (seconds), capped backoff"
    )
    retry_store: Literal["database", "broker"] = Field(
        default="database",
        description="where delayed retries wait: `database` (scheduled_commands, republished by "
        "the worker; survives a broker node loss) or `broker` (the TTL delay queues)",
    )
    retry_poll_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="how often a worker process republishes due retries"
    )
    retry_overdue_s: float = Field(
        default=5.0, gt=0, description="a delayed retry this long past due counts as overdue"
    )
    max_crash_attempts: int = Field(
        default=3, ge=1, description="redelivered starts before a crash-looping message is dead"
    )
    max_failures: int = Field(
        default=5, ge=1, description="unexpected handler errors before dead-lettering"
    )
    delivery_limit: int = Field(default=20, description="quorum x-delivery-limit (backstop)")
    # --- deliveries (email after the commit: src/workers/deliveries.py)
    delivery_threads: int = Field(
        default=1,
        ge=0,
        le=16,
        description="delivery runner threads per worker process serving "
        "the documents workload (0 = none)",
    )
    delivery_poll_interval_s: float = Field(
        default=0.5, gt=0, description="how often an idle delivery runner looks for due jobs"
    )
    delivery_lease_s: float = Field(
        default=600.0,
        gt=0,
        description="a claimed delivery job becomes due again after this long (a runner died)",
    )
    # --- relay
    relay_batch_size: int = Field(default=200, ge=1)
    relay_poll_interval_s: float = Field(default=1.0, gt=0, description="polling fallback")
    relay_confirm_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("amqp_url")
    @classmethod
    def _broker_addresses(cls, value: str) -> str:
        from invoicing.workers.amqp import broker_urls

        broker_urls(value)  # raises ValueError naming the address that is wrong
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: str) -> str:
        # RFC 7518 3.2: an HS256 key must be at least 256 bits; empty = tokens disabled
        if value and len(value.encode()) < 32:
            raise ValueError("INVOICING_JWT_SECRET must be at least 32 bytes (RFC 7518 3.2)")
        return value

    @field_validator("amqp_user_grants", mode="before")
    @classmethod
    def _grants_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def _wanted(self) -> list[str]:
        from invoicing.workers.topology import WORKLOADS

        wanted = [w.strip() for w in self.worker_queues.split(",") if w.strip()]
        known = {*WORKLOADS, QUERIES_WORKLOAD}
        unknown = set(wanted) - known
        if unknown:
            raise ValueError(f"unknown workloads {sorted(unknown)}; known: {sorted(known)}")
        return wanted

    def workloads(self) -> list[str]:
        """The command workloads this worker consumes (all when none are named)."""
        from invoicing.workers.topology import WORKLOADS

        wanted = self._wanted()
        return [w for w in wanted if w in WORKLOADS] if wanted else list(WORKLOADS)

    def serves_queries(self) -> bool:
        """Whether this worker answers ``invoicing.queries`` (yes unless queues are named
        and ``queries`` is not among them)."""
        wanted = self._wanted()
        return not wanted or QUERIES_WORKLOAD in wanted


@lru_cache(maxsize=1)
def get_pipeline_settings() -> PipelineSettings:
    return PipelineSettings()
