"""``INVOICING_METRICS_*`` and ``INVOICING_HEARTBEAT_*``."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore")

    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve /metrics on this port (empty: no metrics server); the worker's "
        "processes take this port and the next ones, one each",
    )
    metrics_addr: str = Field(default="127.0.0.1", description="0.0.0.0 in a container")
    heartbeat_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "invoicing-heartbeat",
        description="each process writes <role>-<pid>.beat here; `invoicing health --liveness` "
        "reads them",
    )
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    heartbeat_max_age_s: float = Field(
        default=60.0, gt=0, description="liveness fails when a live process's beat is older"
    )
    heartbeat_stuck_after_s: float = Field(
        default=900.0,
        gt=0,
        description="a process with one piece of work running longer than this stops beating",
    )
