"""Composition root: build the engine, the collaborators and the pipeline once per process.

Nothing else builds infrastructure: handlers get their collaborators from ``Deps``, the pipeline
its authenticator from here. There is no default authenticator: the workers pass theirs
(tokens or the broker-verified AMQP user), the local CLI (``invoicing process``, ``invoicing
query``, ``invoicing scheduler --in-process``) asks for ``local()``, the operator's own access.
"""

from __future__ import annotations

from dataclasses import dataclass

import invoicing.handlers
import invoicing.schemas  # noqa: F401  (registers command types)
from invoicing import db, logs
from invoicing.config import Settings, get_settings
from invoicing.handlers.registry import Deps
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import Authenticator, LocalOperator
from invoicing.pipeline.settings import InputSettings
from sqlalchemy import Engine
from sqlalchemy.engine import make_url


@dataclass
class App:
    settings: Settings
    engine: Engine
    pipeline: Pipeline


def build(
    settings: Settings | None = None,
    *,
    authenticator: Authenticator,
    deps: Deps | None = None,
    inputs: InputSettings | None = None,
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
    inputs = inputs or InputSettings()
    pipeline = Pipeline(engine, deps, authenticator, limits=inputs.limits(), window=inputs.window())
    return App(settings, engine, pipeline)


def local(
    settings: Settings | None = None,
    *,
    deps: Deps | None = None,
    migrate: bool | None = None,
    configure_logging: bool = True,
) -> App:
    """The application for the operator's own CLI on the database: every grant."""
    return build(
        settings,
        authenticator=LocalOperator(),
        deps=deps,
        migrate=migrate,
        configure_logging=configure_logging,
    )
