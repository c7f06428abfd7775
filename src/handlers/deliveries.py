"""Deliveries: what a command leaves to be sent, done after its commit, one email per step.

A command that has something to deliver (``send_invoice``, each notice of
``send_dunning_notices``, the confirmation of ``mark_paid``) calls :func:`schedule` in its own
transaction: one ``delivery_jobs`` row beside its state change and events. Nothing is rendered,
validated or sent there. :class:`Deliverer` then runs one job per step, outside any command's
transaction (docs/sending.md, "Deliveries"):

1. **claim** (short transaction): the due job, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a
   no-op on SQLite, whose writers are serialized anyway); its ``next_attempt_at`` moves to
   ``now + lease`` and a fresh ``claim_token`` marks this runner as the holder.
2. **prepare** (the purpose's :class:`Purpose.prepare`): for a draft invoice, build and
   validate the e-invoice of the would-be document with a provisional number *before* the
   finalizing transaction, then finalize (the number is allocated last, and only if the
   validated content is what gets finalized); render and store the documents (rendering runs
   outside any transaction; the rows are written in a short one); compose the email.
3. **send**: record ``sending`` in the journal (``email_deliveries``, committed on its own),
   then SMTP, with no transaction open. A journal row already ``sending`` or ``sent`` means an
   earlier attempt may have reached the server: no second email (``uncertain``).
4. **record** (short transaction, the invoice row locked for milliseconds): the job is done,
   the purpose's state change (``sent_at``, the dunning level ...) and its outcome event
   (``invoice.sent``, ``dunning.notice_sent``, ``payment.confirmation_sent``) go to the outbox.

A mail server that is down (``ServiceUnavailable``) puts the job back with capped backoff for up
to ``retry_unavailable_s``; a refusal (5xx), an e-invoice that fails the official rules or any
other business error fails the job at once with ``invoice.delivery_failed`` (purpose, reason,
errors). Unexpected errors are retried ``max_failures`` times, then fail the job the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import structlog
from invoicing.documents.store import Document
from invoicing.domain.errors import DomainError, NotFound, ServiceUnavailable
from invoicing.handlers.ports import DeliveryRecord
from invoicing.handlers.registry import Deps, Event, invoice_event
from invoicing.handlers.repository import get_invoice
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state
from invoicing.mail.message import OutgoingMail, build_message
from invoicing.mail.sender import MailPermanentError, MailTransientError
from invoicing.models import Invoice
from invoicing.models.deliveries import PENDING, DeliveryJob
from invoicing.models.documents import EmailDelivery
from invoicing.observability.metrics import DELIVERIES
from invoicing.schemas.events import InvoiceState
from sqlalchemy import Engine, Select, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

try:  # the e-invoice package is optional at import time (PDF-only sending without it)
    from invoicing.documents import einvoice as _einvoice
except ImportError:  # pragma: no cover - exercised only in a tree without src/documents/einvoice
    _einvoice = None  # type: ignore[assignment]

log = structlog.get_logger("invoicing.deliveries")

_DELIVERIES: Table = EmailDelivery.__table__  # type: ignore[assignment]

DONE, FAILED, CANCELLED = "done", "failed", "cancelled"


# ----------------------------------------------------------------------------- collaborators


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries of a delivery step (the worker's ``INVOICING_RETRY_*`` settings)."""

    retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0)
    retry_unavailable_s: float = 86400.0
    max_failures: int = 5
    lease_s: float = 600.0  # far above SMTP timeout + rendering: a live claim never expires

    def delay(self, attempts: int) -> float:
        delays = self.retry_delays_s or (30.0,)
        return delays[min(max(attempts, 1) - 1, len(delays) - 1)]


class EventWriter(Protocol):
    """Appends events to the outbox in ``uow``, in the pipeline's envelope (wired in
    ``invoicing.bootstrap.deliverer`` over ``invoicing.pipeline.outbox.write``); event ids
    derive from ``basis``, one per step and transaction."""

    def __call__(
        self,
        uow: UnitOfWork,
        events: list[Event],
        *,
        organization_id: uuid.UUID,
        command_id: uuid.UUID,
        correlation_id: str | None,
        basis: uuid.UUID,
    ) -> list[dict[str, Any]]: ...


# ----------------------------------------------------------------------------- scheduling


def job_id_for(organization_id: uuid.UUID, command_id: uuid.UUID, name: str) -> uuid.UUID:
    """The id of a command's delivery job ``name``: the same for a redelivered command, and
    another organization's command with the same id (command ids are unique per
    organization) gets another one."""
    return uuid.uuid5(command_id, f"{organization_id}:{name}")


def delivery_id_for(organization_id: uuid.UUID, delivery_key: uuid.UUID, purpose: str) -> uuid.UUID:
    """The id of an ``email_deliveries`` journal row (looked up by its unique key, the
    organization, the delivery key and the purpose: rows written before the organization
    was part of the id are found the same way)."""
    return uuid.uuid5(delivery_key, f"{organization_id}:delivery:{purpose}")


def schedule(
    uow: UnitOfWork,
    *,
    job_id: uuid.UUID,
    organization_id: uuid.UUID,
    invoice_id: uuid.UUID,
    purpose: str,
    command_id: uuid.UUID,
    correlation_id: str | None,
    payload: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Record a delivery job in the command's transaction (it commits with the command)."""
    uow.session.add(
        DeliveryJob(
            id=job_id,
            organization_id=organization_id,
            invoice_id=invoice_id,
            purpose=purpose,
            command_id=command_id,
            correlation_id=correlation_id,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )


def pending_invoices(
    uow: UnitOfWork, organization_id: uuid.UUID, purpose: str, invoice_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """The invoices among ``invoice_ids`` with a pending job of ``purpose``."""
    if not invoice_ids:
        return set()
    rows = uow.session.execute(
        select(DeliveryJob.invoice_id).where(
            DeliveryJob.organization_id == organization_id,
            DeliveryJob.purpose == purpose,
            DeliveryJob.status == PENDING,
            DeliveryJob.invoice_id.in_(invoice_ids),
        )
    )
    return {row[0] for row in rows}


def due_job(now: dt.datetime) -> Select[DeliveryJob]:
    """The job due first that no other runner holds: one probe of the partial index
    ``ix_delivery_jobs_due`` (pending rows only), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL."""
    return (
        select(DeliveryJob)
        .where(DeliveryJob.status == PENDING, DeliveryJob.next_attempt_at <= now)
        .order_by(DeliveryJob.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# ----------------------------------------------------------------------------- journal


class DatabaseJournal:
    """The journal (``Deps.delivery_journal``): the ``email_deliveries`` row, committed on its
    own before the SMTP conversation.

    A delivery step holds no transaction while it talks SMTP, so this works the same on
    PostgreSQL and SQLite (no journal file beside SQLite any more)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def begin(self, record: DeliveryRecord, now: dt.datetime) -> str | None:
        table = _DELIVERIES
        with self.engine.begin() as conn:
            row = conn.execute(
                select(table.c.status, table.c.attempts)
                .where(*journal_key(record.organization_id, record.command_id, record.purpose))
                .with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    insert(table).values(
                        id=record.id,
                        organization_id=record.organization_id,
                        invoice_id=record.invoice_id,
                        command_id=record.command_id,
                        purpose=record.purpose,
                        message_id=record.message_id,
                        sender=record.sender,
                        recipients=record.recipients,
                        subject=record.subject,
                        attachments=record.attachments,
                        status="sending",
                        attempts=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return None
            if row.status == "failed":
                conn.execute(
                    update(table)
                    .where(*journal_key(record.organization_id, record.command_id, record.purpose))
                    .values(status="sending", attempts=row.attempts + 1, updated_at=now)
                )
            return str(row.status)

    def finish(self, record: DeliveryRecord, status: str, error: str | None) -> None:
        table = _DELIVERIES
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(*journal_key(record.organization_id, record.command_id, record.purpose))
                .values(status=status, error=error, updated_at=dt.datetime.now(dt.UTC))
            )


def journal_key(
    organization_id: uuid.UUID, delivery_key: uuid.UUID, purpose: str
) -> tuple[Any, ...]:
    """A journal row by its unique key (``uq`` of organization, delivery key, purpose), not by
    its id: rows written before the organization was part of the id are found the same way."""
    table = _DELIVERIES
    return (
        table.c.organization_id == organization_id,
        table.c.command_id == delivery_key,
        table.c.purpose == purpose,
    )


# ----------------------------------------------------------------------------- step types


@dataclass(frozen=True)
class Claim:
    """A claimed job: what the step knows about it (detached from any session)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    invoice_id: uuid.UUID
    purpose: str
    command_id: uuid.UUID
    correlation_id: str | None
    payload: dict[str, Any]
    attempts: int
    created_at: dt.datetime
    token: uuid.UUID


@dataclass(frozen=True)
class Prepared:
    """What a purpose hands to the send: the email (None: documents only, nothing to send),
    its key and what the event reports."""

    mail: OutgoingMail | None
    delivery_key: uuid.UUID  # the journal's command id (and the seed of the Message-ID)
    documents: list[Document]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivered:
    message_id: str
    status: str  # sent | uncertain
    recipients: dict[str, list[str]]
    refused: list[str]


#: a purpose that only stores documents (``share``): no email, no journal row
NOTHING_SENT = Delivered("", "none", {}, [])


class Skip(Exception):
    """Nothing to deliver any more (a dunned invoice was paid meanwhile): cancel the job."""


@dataclass
class StepResult:
    job_id: uuid.UUID
    purpose: str
    status: Literal["done", "failed", "cancelled", "retry", "lost"]
    events: list[dict[str, Any]] = field(default_factory=list)
    unavailable: bool = False  # retried because an outside service (the mail server) is down
    error: str | None = None


class StepContext:
    """What a purpose's ``prepare``/``record`` may use: units of work, collaborators, clock."""

    def __init__(self, deliverer: Deliverer) -> None:
        self._d = deliverer
        self.deps = deliverer.deps
        self.clock = deliverer.deps.clock
        self.emitted: list[dict[str, Any]] = []  # events committed by the step before its end

    def now(self) -> dt.datetime:
        return self.clock()

    def uow(self) -> UnitOfWork:
        return self._d.uow_factory()

    def write_events(
        self, uow: UnitOfWork, claim: Claim, events: list[Event], tag: str
    ) -> list[dict[str, Any]]:
        """Events of an intermediate transaction of the step (the finalize of a draft); the
        caller commits, then adds them to ``emitted`` to report them with the step's result."""
        return self._d.write_events(
            uow,
            events,
            organization_id=claim.organization_id,
            command_id=claim.command_id,
            correlation_id=claim.correlation_id,
            basis=uuid.uuid5(claim.id, tag),
        )

    def owns(self, uow: UnitOfWork, claim: Claim) -> bool:
        """Lock the job row; True while it is still pending and claimed by this step."""
        job = uow.session.get(DeliveryJob, claim.id, with_for_update=True)
        return job is not None and job.status == PENDING and job.claim_token == claim.token


class Purpose(Protocol):
    def prepare(self, ctx: StepContext, claim: Claim) -> Prepared: ...

    def record(
        self,
        ctx: StepContext,
        uow: UnitOfWork,
        claim: Claim,
        inv: Invoice,
        prepared: Prepared,
        delivered: Delivered,
    ) -> list[Event]: ...


PURPOSES: dict[str, Purpose] = {}
#: the command types that may record delivery jobs (``invoicing process`` looks for jobs only
#: after these, so every other command costs no extra round trip)
SCHEDULING_COMMANDS: set[str] = set()


def purpose(name: str, *, scheduled_by: tuple[str, ...]) -> Callable[[type[Any]], type[Any]]:
    """Register the step implementation of one delivery purpose and the commands that
    record its jobs."""

    def register(cls: type[Any]) -> type[Any]:
        if name in PURPOSES:
            raise RuntimeError(f"two delivery purposes named {name!r}")
        PURPOSES[name] = cls()
        SCHEDULING_COMMANDS.update(scheduled_by)
        return cls

    return register


# ----------------------------------------------------------------------------- documents


def safe_name(number: str | None, fallback: uuid.UUID) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", number or str(fallback))


@dataclass(frozen=True)
class Attachments:
    documents: list[Document]
    einvoice_format: str | None
    note: str | None  # why no e-invoice was attached, when the format asked for one


def einvoice_format(state: InvoiceState, org_default: Any, attach_xml: bool) -> Any:
    """The e-invoice format to attach (None: PDF only)."""
    if not attach_xml or state.kind == "quote" or _einvoice is None:
        return None
    return _einvoice.select_format(state, org_default)


def einvoice_name(fmt: str | None) -> str:
    """The attached e-invoice's format as the email names it ("" for none)."""
    if not fmt or _einvoice is None:
        return ""
    return _einvoice.EInvoiceFormat(fmt).display_name


def einvoice_precheck(state: InvoiceState, org_default: Any, attach_xml: bool) -> None:
    """What is known of the e-invoice before it is built, checked in the command (before any
    number): whether EN 16931 can carry the document's currency (``einvoice_currency_decimals``
    for KWD, BHD, ...), lines not subject to VAT beside others (``einvoice_not_subject_mixed``),
    for XRechnung the seller contact's telephone and e-mail (``einvoice_seller_contact_missing``)
    and, for Peppol, both parties' participant ids (``einvoice.check_einvoice``)."""
    fmt = einvoice_format(state, org_default, attach_xml)
    if fmt is None:
        return
    assert _einvoice is not None
    _einvoice.check_einvoice(state, fmt.value)


def validate_would_be(state: InvoiceState, fmt: Any) -> str:
    """Build and validate the e-invoice of ``state`` (DomainError listing the failed rules);
    returns a fingerprint of its content with the number left out."""
    assert _einvoice is not None
    _einvoice.build_validated_einvoice(state, fmt)
    return content_fingerprint(state, fmt)


def content_fingerprint(state: InvoiceState, fmt: Any) -> str:
    """SHA-256 of the e-invoice XML with a fixed number: equal content, equal fingerprint.
    The number has a digit other than zero: a Belgian seller's payment reference (BT-83) is
    made of the number's digits, and none can be made of "0" (every send of a Belgian draft
    with an e-invoice failed here after its validation had passed)."""
    assert _einvoice is not None
    anonymous = state.model_copy(update={"number": "1"})
    return hashlib.sha256(_einvoice.build_einvoice(anonymous, fmt).xml).hexdigest()


def documents_for(
    ctx: StepContext,
    organization_id: uuid.UUID,
    invoice_id: uuid.UUID,
    *,
    attach_xml: bool,
    org_default_format: Any,
) -> Attachments:
    """The frozen PDF (hybrid Factur-X for ``zugferd``) and the validated XML.

    Stored ones are served unchanged; missing ones are rendered and validated with no
    transaction open, then recorded in a short transaction (a concurrent step that stored the
    same kind first wins: frozen documents are never replaced)."""
    store = ctx.deps.document_store
    with ctx.uow() as uow:
        inv = uow.session.get(Invoice, (organization_id, invoice_id))
        if inv is None:
            raise NotFound("invoice_not_found", f"invoice {invoice_id} does not exist")
        state = invoice_state(inv)
        frozen = inv.status != "draft"
        fmt = einvoice_format(state, org_default_format, attach_xml)
        kinds = ["pdf"]
        if fmt is not None:
            kinds.append(
                "facturx-pdf" if fmt is _einvoice.EInvoiceFormat.ZUGFERD else f"xml-{fmt.value}"
            )
        stored = {k: store.get(uow.session, organization_id, invoice_id, k) for k in kinds}
    have = {k: d for k, d in stored.items() if d is not None and d.frozen}
    base = safe_name(state.number, state.id)
    produced: dict[str, tuple[str, bytes]] = {}  # kind -> (filename, content)
    plain = have["pdf"].content if "pdf" in have else None
    if plain is None:
        plain = ctx.deps.pdf_renderer.render(state)
        produced["pdf"] = (f"{base}.pdf", plain)
    if fmt is not None and kinds[1] not in have:
        built = _einvoice.documents_for_sending(state, fmt, plain)  # validates
        if fmt is _einvoice.EInvoiceFormat.ZUGFERD:
            produced["facturx-pdf"] = (f"{base}.pdf", built.pdf)
        else:
            if built.xml is None:
                raise RuntimeError(f"the {fmt.value} builder returned no XML")
            produced[kinds[1]] = (built.xml.filename, built.xml.xml)
    if produced:
        with ctx.uow() as uow:
            for kind, (filename, content) in produced.items():
                media = "application/xml" if filename.endswith(".xml") else "application/pdf"
                have[kind] = store.obtain(
                    uow.session,
                    org_id=organization_id,
                    invoice_id=invoice_id,
                    kind=kind,
                    filename=filename,
                    media_type=media,
                    frozen=frozen,
                    produce=lambda content=content: content,  # type: ignore[misc]
                    now=ctx.now(),
                )
            uow.commit()
    if fmt is None:
        note = "e-invoice builder not installed: PDF only" if attach_xml and not _einvoice else None
        return Attachments([have["pdf"]], None, note)
    if fmt is _einvoice.EInvoiceFormat.ZUGFERD:
        return Attachments([have["facturx-pdf"]], fmt.value, None)
    return Attachments([have["pdf"], have[kinds[1]]], fmt.value, None)


# ----------------------------------------------------------------------------- the step


def _reason(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]


class Deliverer:
    """Runs delivery jobs, one per step (workers: ``invoicing.workers.deliveries``;
    ``invoicing process``: the jobs of each command right after it)."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        write_events: EventWriter,
        deps: Deps,
        *,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.write_events = write_events
        self.deps = deps
        self.policy = policy or DeliveryPolicy()
        self.journal = deps.delivery_journal

    def clock(self) -> dt.datetime:
        return self.deps.now()

    # ------------------------------------------------------------------ entry points

    def run_one(self) -> StepResult | None:
        """Claim the job due first (skipping those another runner holds) and run it."""
        claim = self._claim()
        return None if claim is None else self._run(claim)

    @staticmethod
    def may_schedule(command_type: str | None) -> bool:
        """Whether a command of this type may have recorded delivery jobs."""
        return command_type in SCHEDULING_COMMANDS

    def run_for_command(
        self, organization_id: uuid.UUID, command_id: uuid.UUID
    ) -> list[StepResult]:
        """``invoicing process``: each pending job of one command once, due or not (the
        process is the only runner of its database)."""
        with self.uow_factory() as uow:
            ids = list(
                uow.session.execute(
                    select(DeliveryJob.id)
                    .where(
                        DeliveryJob.organization_id == organization_id,
                        DeliveryJob.command_id == command_id,
                        DeliveryJob.status == PENDING,
                    )
                    .order_by(DeliveryJob.created_at, DeliveryJob.id)
                ).scalars()
            )
        results = []
        for job_id in ids:
            claim = self._claim(job_id=job_id)
            if claim is not None:
                results.append(self._run(claim))
        return results

    def run_pending(self, *, due_only: bool = True, limit: int = 1000) -> list[StepResult]:
        """Every pending job once (``invoicing deliver``), at most ``limit``."""
        with self.uow_factory() as uow:
            stmt = select(DeliveryJob.id).where(DeliveryJob.status == PENDING)
            if due_only:
                stmt = stmt.where(DeliveryJob.next_attempt_at <= self.clock())
            ids = list(
                uow.session.execute(
                    stmt.order_by(DeliveryJob.next_attempt_at).limit(limit)
                ).scalars()
            )
        results = []
        for job_id in ids:
            claim = self._claim(job_id=job_id)
            if claim is not None:
                results.append(self._run(claim))
        return results

    # ------------------------------------------------------------------ claim

    def _claim(self, *, job_id: uuid.UUID | None = None) -> Claim | None:
        now = self.clock()
        with self.uow_factory() as uow:
            stmt = (
                due_job(now)
                if job_id is None
                else select(DeliveryJob)
                .where(DeliveryJob.status == PENDING, DeliveryJob.id == job_id)
                .with_for_update(skip_locked=True)
            )
            job = uow.session.execute(stmt).scalar_one_or_none()
            if job is None:
                # ended with COMMIT, not ROLLBACK: it wrote nothing either way, and psycopg
                # forgets a connection's prepared statements at every ROLLBACK (docs/pipeline.md,
                # "Prepared statements"), those of the commands sharing the pool too
                uow.session.commit()
                return None
            token = uuid.uuid4()
            job.claim_token, job.attempts = token, job.attempts + 1
            job.next_attempt_at = now + dt.timedelta(seconds=self.policy.lease_s)
            job.updated_at = now
            claim = Claim(
                job.id,
                job.organization_id,
                job.invoice_id,
                job.purpose,
                job.command_id,
                job.correlation_id,
                dict(job.payload),
                job.attempts,
                job.created_at,
                token,
            )
            uow.commit()
        return claim

    # ------------------------------------------------------------------ run

    def _run(self, claim: Claim) -> StepResult:
        ctx = StepContext(self)
        bound = log.bind(
            delivery_id=str(claim.id),
            purpose=claim.purpose,
            organization_id=str(claim.organization_id),
            invoice_id=str(claim.invoice_id),
            command_id=str(claim.command_id),
            attempt=claim.attempts,
        )
        impl = PURPOSES.get(claim.purpose)
        try:
            if impl is None:
                raise RuntimeError(f"no delivery purpose {claim.purpose!r} is registered")
            prepared = impl.prepare(ctx, claim)
            delivered = self._send(claim, prepared) if prepared.mail else NOTHING_SENT
            result = self._record(ctx, impl, claim, prepared, delivered)
        except Skip as exc:
            result = self._close(claim, CANCELLED, str(exc), None)
        except ServiceUnavailable as exc:
            waited = (self.clock() - claim.created_at).total_seconds()
            if waited >= self.policy.retry_unavailable_s:
                err = DomainError(
                    "service_unavailable",
                    f"the mail server stayed unavailable for {waited:.0f} s: {exc}",
                    hint="check the SMTP settings and the server, then send again",
                )
                result = self._close(claim, FAILED, str(exc), err)
            else:
                result = self._retry(claim, _reason(exc))
                result.unavailable = True
                bound.warning("delivery.unavailable", reason=str(exc)[:300])
        except DomainError as exc:
            result = self._close(claim, FAILED, str(exc), exc)
        except Exception as exc:  # a bug or a broken store: bounded retries, then failed
            bound.error("delivery.error", exc_info=True)
            if claim.attempts >= self.policy.max_failures:
                err = DomainError(
                    "delivery_error",
                    f"the delivery failed {claim.attempts} times: {_reason(exc)}",
                    hint="see the worker log for the traceback; send again once fixed",
                )
                result = self._close(claim, FAILED, _reason(exc), err)
            else:
                result = self._retry(claim, _reason(exc))
        result.events[:0] = ctx.emitted
        bound.info("delivery.step", status=result.status, events=len(result.events))
        return result

    def _send(self, claim: Claim, prepared: Prepared) -> Delivered:
        """At most once per (delivery key, purpose): the journal first, then SMTP."""
        mail = prepared.mail
        assert mail is not None
        recipients = {"to": mail.to, "cc": mail.cc, "bcc": mail.bcc}
        record = DeliveryRecord(
            id=delivery_id_for(claim.organization_id, prepared.delivery_key, claim.purpose),
            organization_id=claim.organization_id,
            invoice_id=claim.invoice_id,
            command_id=prepared.delivery_key,
            purpose=claim.purpose,
            message_id=mail.message_id,
            sender=mail.sender,
            recipients=recipients,
            subject=mail.subject[:1000],
            attachments=[{"filename": d.filename, "sha256": d.sha256} for d in prepared.documents],
        )
        previous = self.journal.begin(record, self.clock())
        if previous not in (None, "failed"):
            status = "sent" if previous == "sent" else "uncertain"
            if status == "uncertain":  # an earlier attempt died while handing it over
                DELIVERIES.labels(purpose=claim.purpose, outcome="uncertain").inc()
            return Delivered(record.message_id, status, recipients, [])
        try:
            refused = self.deps.mailer.send(
                build_message(mail), mail.sender, mail.envelope_recipients
            )
        except MailPermanentError as exc:
            self.journal.finish(record, "failed", str(exc)[:2000])
            DELIVERIES.labels(purpose=claim.purpose, outcome="failed").inc()
            raise DomainError(
                "delivery_failed",
                f"the mail server refused the message: {exc}",
                pointer="/payload/to" if exc.recipients else "/payload",
                hint="check the recipients' addresses"
                if exc.recipients
                else "the mail server refused the session or the message: check the SMTP "
                "settings (INVOICING_SMTP_*: credentials, security) and the server's policy, "
                "then send again with a new command_id; nothing was sent",
            ) from exc
        except MailTransientError:
            self.journal.finish(record, "failed", None)
            DELIVERIES.labels(purpose=claim.purpose, outcome="failed").inc()
            raise
        DELIVERIES.labels(purpose=claim.purpose, outcome="sent").inc()
        return Delivered(record.message_id, "sent", recipients, sorted(refused))

    def _record(
        self,
        ctx: StepContext,
        impl: Purpose,
        claim: Claim,
        prepared: Prepared,
        delivered: Delivered,
    ) -> StepResult:
        now = self.clock()
        with self.uow_factory() as uow:
            if not ctx.owns(uow, claim):
                return StepResult(claim.id, claim.purpose, "lost")
            key = journal_key(claim.organization_id, prepared.delivery_key, claim.purpose)
            row = uow.session.execute(select(EmailDelivery).where(*key)).scalar_one_or_none()
            if row is not None:
                row.status, row.updated_at = delivered.status, now
                row.error = (
                    f"refused: {', '.join(delivered.refused)}" if delivered.refused else None
                )
                if delivered.status == "uncertain":
                    row.error = (
                        "a previous attempt may have been accepted by the server; not sent again"
                    )
                row.sent_at = now if delivered.status == "sent" else None
            inv = get_invoice(uow, claim.organization_id, claim.invoice_id, include_deleted=True)
            events = impl.record(ctx, uow, claim, inv, prepared, delivered)
            job = uow.session.get(DeliveryJob, claim.id)
            assert job is not None
            job.status, job.finished_at, job.updated_at = DONE, now, now
            job.claim_token, job.last_error = None, None
            rows = self.write_events(
                uow,
                events,
                organization_id=claim.organization_id,
                command_id=claim.command_id,
                correlation_id=claim.correlation_id,
                basis=claim.id,
            )
            try:
                uow.commit()
            except IntegrityError:
                uow.rollback()
                raise
        return StepResult(claim.id, claim.purpose, "done", rows)

    def _retry(self, claim: Claim, error: str) -> StepResult:
        now = self.clock()
        delay = self.policy.delay(claim.attempts)
        with self.uow_factory() as uow:
            job = uow.session.get(DeliveryJob, claim.id, with_for_update=True)
            if job is None or job.status != PENDING or job.claim_token != claim.token:
                return StepResult(claim.id, claim.purpose, "lost")
            job.next_attempt_at = now + dt.timedelta(seconds=delay)
            job.claim_token, job.last_error, job.updated_at = None, error, now
            uow.commit()
        return StepResult(claim.id, claim.purpose, "retry", error=error)

    def _close(
        self, claim: Claim, status: str, error: str, failure: DomainError | None
    ) -> StepResult:
        """Fail or cancel the job; a failure is published as ``invoice.delivery_failed``."""
        now = self.clock()
        with self.uow_factory() as uow:
            job = uow.session.get(DeliveryJob, claim.id, with_for_update=True)
            if job is None or job.status != PENDING or job.claim_token != claim.token:
                return StepResult(claim.id, claim.purpose, "lost")
            job.status, job.finished_at, job.updated_at = status, now, now
            job.claim_token, job.last_error = None, error[:4000]
            rows: list[dict[str, Any]] = []
            if failure is not None:
                event = self._failure_event(uow, claim, failure, now)
                rows = self.write_events(
                    uow,
                    [event],
                    organization_id=claim.organization_id,
                    command_id=claim.command_id,
                    correlation_id=claim.correlation_id,
                    basis=claim.id,
                )
            uow.commit()
        log.warning(
            "delivery.closed",
            delivery_id=str(claim.id),
            purpose=claim.purpose,
            status=status,
            reason=error[:300],
        )
        return StepResult(
            claim.id,
            claim.purpose,
            "failed" if status == FAILED else "cancelled",
            rows,
            error=error,
        )

    def _failure_event(
        self, uow: UnitOfWork, claim: Claim, failure: DomainError, now: dt.datetime
    ) -> Event:
        errors = [
            {
                "status": e.status,
                "code": e.code,
                "title": e.title or "Delivery Failed",
                "detail": e.detail,
                "source": {"pointer": _payload_pointer(e.pointer)},
                **({"meta": {"hint": e.hint}} if e.hint else {}),
            }
            for e in failure.errors
        ]
        extra: dict[str, Any] = {
            "purpose": claim.purpose,
            "delivery_id": str(claim.id),
            "reason": failure.errors[0].code if failure.errors else "delivery_failed",
            "detail": str(failure)[:2000],
            "errors": errors,
            "attempts": claim.attempts,
        }
        if claim.purpose == "dunning":
            extra["dunning"] = {"level": claim.payload.get("level")}
        try:
            inv = get_invoice(uow, claim.organization_id, claim.invoice_id, include_deleted=True)
        except NotFound:
            return Event("invoice.delivery_failed", str(claim.invoice_id), extra)
        return invoice_event("invoice.delivery_failed", inv, now, **extra)


def _payload_pointer(pointer: str) -> str:
    """Pointers are relative to the causing command's payload, as in ``command.rejected``."""
    if not pointer or pointer.startswith(("/payload", "/organization_id", "/command_id")):
        return pointer
    return f"/payload{pointer}"
