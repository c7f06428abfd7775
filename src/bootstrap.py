"""Composition root: build the engine, the collaborators and the pipeline once per process.

Nothing else builds infrastructure: handlers get their collaborators from ``Deps``, the pipeline
its authenticator from here. There is no default authenticator: the workers pass theirs
(tokens or the broker-verified AMQP user), the local CLI (``invoicing process``, ``invoicing
query``, ``invoicing scheduler --in-process``) asks for ``local()``, the operator's own access.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import invoicing.handlers
import invoicing.schemas  # noqa: F401  (registers command types)
from invoicing import db, logs
from invoicing.config import Settings, get_settings
from invoicing.handlers.deliveries import Deliverer, DeliveryPolicy
from invoicing.handlers.ports import Clock
from invoicing.handlers.registry import Deps, Event
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.mail.settings import SmtpSettings
from invoicing.pipeline import Pipeline, outbox
from invoicing.pipeline.authenticate import Authenticator, LocalOperator
from invoicing.pipeline.settings import InputSettings
from sqlalchemy import Engine
from sqlalchemy.engine import make_url


@dataclass
class App:
    settings: Settings
    engine: Engine
    pipeline: Pipeline
    deliverer: Deliverer  # the steps that send what commands left to deliver (emails)


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
        deps = build_deps(engine, settings.data_dir)
    inputs = inputs or InputSettings()
    pipeline = Pipeline(engine, deps, authenticator, limits=inputs.limits(), window=inputs.window())
    return App(settings, engine, pipeline, deliverer(pipeline, delivery_policy()))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_deps(
    engine: Engine,
    data_dir: Path,
    *,
    smtp: SmtpSettings | None = None,
    documents_dir: Path | None = None,
    template_dir: Path | None = None,
    export_dir: Path | None = None,
    clock: Clock | None = None,
) -> Deps:
    """The handlers' collaborators for ``engine``: SMTP from ``INVOICING_SMTP_*``, the document
    store (``INVOICING_DOCUMENTS_*``: bytes in the database by default, or files under
    ``data_dir``), the delivery journal (a separately
    committed ``email_deliveries`` row; delivery steps hold no transaction while they talk
    SMTP, so the same on PostgreSQL and SQLite)."""
    from invoicing.documents.pdf.engine import PdfRenderer
    from invoicing.documents.store import DocumentSettings, DocumentStore
    from invoicing.handlers.deliveries import DatabaseJournal
    from invoicing.handlers.sending import notify_payment
    from invoicing.mail.sender import SmtpSender
    from invoicing.mail.texts import MailTemplates

    documents = DocumentSettings()
    smtp = smtp or SmtpSettings()
    root = documents_dir or documents.root(data_dir)
    return Deps(
        clock=clock or _utcnow,
        mailer=SmtpSender(smtp),
        smtp_settings=smtp,
        document_store=DocumentStore(documents.backend, root),
        pdf_renderer=PdfRenderer(template_dir or documents.template_dir),
        mail_templates=MailTemplates(),
        delivery_journal=DatabaseJournal(engine),
        payment_notifier=notify_payment,
        export_dir=export_dir or data_dir / "exports",
    )


def delivery_policy() -> DeliveryPolicy:
    """The delivery steps retry like the worker: ``INVOICING_RETRY_*`` (docs/pipeline.md)."""
    from invoicing.workers.settings import get_pipeline_settings

    pipeline = get_pipeline_settings()
    return DeliveryPolicy(
        retry_delays_s=tuple(float(d) for d in pipeline.retry_delays_s),
        retry_unavailable_s=pipeline.retry_unavailable_s,
        max_failures=pipeline.max_failures,
        lease_s=pipeline.delivery_lease_s,
    )


def deliverer(pipeline: Pipeline, policy: DeliveryPolicy | None = None) -> Deliverer:
    """The delivery steps of ``pipeline``'s database (after-commit email, one job per step);
    their events go to the same outbox in the same envelope as the commands'."""
    clock = pipeline.deps.clock

    def write_events(
        uow: UnitOfWork,
        events: list[Event],
        *,
        organization_id: uuid.UUID,
        command_id: uuid.UUID,
        correlation_id: str | None,
        basis: uuid.UUID,
    ) -> list[dict[str, Any]]:
        return outbox.write(
            uow,
            events,
            org_id=organization_id,
            command_id=command_id,
            correlation_id=correlation_id,
            now=clock(),
            nonce=basis,
        )

    return Deliverer(pipeline.uow_factory, write_events, pipeline.deps, policy=policy)


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
