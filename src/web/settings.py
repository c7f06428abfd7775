"""``INVOICING_WEB_*``: the hosted invoice page's settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_WEB_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="address the page listens on")
    port: int = Field(default=8080, ge=1, le=65535, description="the page's (public) port")
    operator_host: str = Field(
        default="127.0.0.1",
        description="address of the operator listener (/healthz, /readyz, /metrics): loopback "
        "unless told otherwise, whatever the page's host (a container sets 0.0.0.0 for its "
        "probes and scrapes, as INVOICING_METRICS_ADDR)",
    )
    operator_port: int = Field(
        default=8081,
        ge=1,
        le=65535,
        description="port of the operator listener: /readyz and /metrics are served there only, "
        "never on the page's port (publish or route only the page's)",
    )
    hsts: bool = Field(
        default=True,
        description="send Strict-Transport-Security on answers to HTTPS requests (uvicorn's "
        "scheme: X-Forwarded-Proto of a proxy in forwarded_allow_ips); never over plain HTTP",
    )
    hsts_max_age: int = Field(
        default=31_536_000,
        ge=0,
        description="its max-age in seconds (one year; 0 tells browsers to forget it)",
    )
    database_url: str = Field(
        default="",
        description="a read-only role's URL; empty: DATABASE_URL (sessions are read-only anyway)",
    )
    rate_per_minute: float = Field(
        default=60.0, gt=0, description="requests per client address and minute (token bucket)"
    )
    rate_burst: int = Field(default=20, ge=1, description="requests a client may make at once")
    miss_floor_ms: int = Field(
        default=60,
        ge=0,
        description="unknown, revoked and expired tokens answer after at least this long, so "
        "that response time does not tell them apart",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="proxies whose X-Forwarded-For names the client (uvicorn); '*' behind an "
        "ingress that always sets it",
    )
