"""What the pipeline accepts (environment, prefix ``INVOICING_``; docs/pipeline.md)."""

from __future__ import annotations

from invoicing.pipeline.decode import Limits
from invoicing.pipeline.validate import DateWindow
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InputSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore")

    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest message body accepted (bytes)"
    )
    max_depth: int = Field(
        default=32, ge=4, le=256, description="deepest nesting of arrays and objects accepted"
    )
    date_min_year: int = Field(default=2000, ge=1900, description="earliest year of any date")
    date_max_years_ahead: int = Field(
        default=5, ge=0, le=100, description="latest date: this many years after today"
    )

    def limits(self) -> Limits:
        return Limits(max_bytes=self.max_body_bytes, max_depth=self.max_depth)

    def window(self) -> DateWindow:
        return DateWindow(min_year=self.date_min_year, years_ahead=self.date_max_years_ahead)
