"""SMTP settings from the environment (prefix ``INVOICING_SMTP_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_SMTP_", extra="ignore")

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (port 587), tls = implicit TLS (465), none"
    )
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    sender: str = Field(
        default="invoices@localhost", description="envelope sender and From address"
    )
    sender_name: str | None = Field(
        default=None, description="From display name; default: the document's seller name"
    )
    reply_to_organization: bool = Field(
        default=True,
        description="Reply-To: the issuer's email when it has one (a subsidiary's for its "
        "invoices)",
    )
    message_id_domain: str | None = Field(
        default=None, description="right-hand side of Message-IDs; default: the sender's domain"
    )
    local_hostname: str | None = Field(default=None, description="EHLO name")
    verify_tls: bool = Field(
        default=True,
        description="verify the server certificate and host name; false only for test setups",
    )
    ca_file: str | None = Field(
        default=None, description="CA bundle (PEM) trusted instead of the system's CAs"
    )

    def id_domain(self) -> str:
        if self.message_id_domain:
            return self.message_id_domain
        return self.sender.rsplit("@", 1)[-1] if "@" in self.sender else "localhost"
