"""Composition root: build the engine, the collaborators and the pipeline once per process.

Nothing else builds infrastructure: handlers get their collaborators from ``Deps``, the pipeline
its authenticator from here. There is no default authenticator: the workers pass theirs
(tokens or the broker-verified AMQP user), the local CLI (``invoicing process``, ``invoicing
query``, ``invoicing scheduler --in-process``) asks for ``local()``, the operator's own access.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import invoicing.handlers
import invoicing.schemas  # noqa: F401  (registers command types)
from invoicing import db, logs
from invoicing.config import Settings, get_settings
from invoicing.handlers.ports import Clock, Journal
from invoicing.handlers.registry import Deps
from invoicing.mail.settings import SmtpSettings
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
        deps = build_deps(engine, settings.data_dir)
    inputs = inputs or InputSettings()
    pipeline = Pipeline(engine, deps, authenticator, limits=inputs.limits(), window=inputs.window())
    return App(settings, engine, pipeline)


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
    """The handlers' collaborators for ``engine``: SMTP from ``INVOICING_SMTP_*``, documents
    under ``data_dir`` (``INVOICING_DOCUMENTS_*``), the delivery journal of the backend (a
    separately committed row on PostgreSQL, an fsync'd file next to the documents on SQLite,
    whose single writer lock the command's transaction holds)."""
    from invoicing.documents.pdf.engine import PdfRenderer
    from invoicing.documents.store import DocumentSettings, DocumentStore
    from invoicing.handlers.sending import DatabaseJournal, FileJournal, notify_payment
    from invoicing.mail.sender import SmtpSender
    from invoicing.mail.texts import MailTemplates

    documents = DocumentSettings()
    smtp = smtp or SmtpSettings()
    root = documents_dir or documents.root(data_dir)
    journal: Journal = (
        DatabaseJournal(engine)
        if engine.dialect.name == "postgresql"
        else FileJournal(root / ".deliveries")
    )
    return Deps(
        clock=clock or _utcnow,
        mailer=SmtpSender(smtp),
        smtp_settings=smtp,
        document_store=DocumentStore(root),
        pdf_renderer=PdfRenderer(template_dir or documents.template_dir),
        mail_templates=MailTemplates(),
        delivery_journal=journal,
        payment_notifier=notify_payment,
        export_dir=export_dir or data_dir / "exports",
    )


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
