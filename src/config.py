"""Configuration from the environment (pydantic-settings). See the README's reference table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore")

    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "INVOICING_DATABASE_URL"),
        description="SQLAlchemy URL; empty: the embedded SQLite file in data_dir",
    )
    data_dir: Path = Field(default=Path("var"), description="embedded database, documents")
    log_format: str = Field(default="auto", description="auto | json | console")
    log_level: str = "INFO"
    lock_timeout_ms: int = Field(default=5000, description="PostgreSQL lock_timeout per command")
    statement_timeout_ms: int = Field(default=30000)

    def effective_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'invoicing.sqlite3').as_posix()}"


def normalize_database_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
