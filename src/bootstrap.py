"""Composition root: build the engine, the collaborators and the bus once per process."""

from __future__ import annotations

from dataclasses import dataclass

import invoicing.handlers
import invoicing.schemas  # noqa: F401  (registers command types)
from invoicing import db, logs
from invoicing.config import Settings, get_settings
from invoicing.handlers.auth import Authenticator
from invoicing.handlers.bus import MessageBus
from invoicing.handlers.registry import Deps
from sqlalchemy import Engine
from sqlalchemy.engine import make_url


@dataclass
class App:
    settings: Settings
    engine: Engine
    bus: MessageBus


def build(
    settings: Settings | None = None,
    *,
    authenticator: Authenticator | None = None,
    deps: Deps | None = None,
    migrate: bool | None = None,
    configure_logging: bool = True,
) -> App:
    settings = settings or get_settings()
    if configure_logging:
        logs.configure(settings.log_format, settings.log_level)
    url = settings.effective_database_url()
    engine = db.make_engine(
        url,
        lock_timeout_ms=settings.lock_timeout_ms,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    embedded = make_url(url).get_backend_name() == "sqlite"
    if migrate if migrate is not None else embedded:
        db.migrate(url)
    if deps is None:
        from invoicing.handlers.sending import sending_services

        deps = Deps(services=sending_services(settings.data_dir))
    return App(settings, engine, MessageBus(engine, deps, authenticator))
