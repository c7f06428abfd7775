"""``INVOICING_WEB_*``: the hosted invoice page's settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_WEB_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8080, ge=1, le=65535)
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
