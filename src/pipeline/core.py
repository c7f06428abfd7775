"""The pipeline every command and query goes through, whatever carried it.

commands: decode -> authenticate -> validate -> (inbox, handler, outbox in ONE transaction)
queries:  decode -> authenticate -> validate -> the query function in one read-only transaction

A body that cannot be decoded, a failed authentication and a business or validation failure
change nothing and yield one ``command.rejected`` event (a query: an error reply); a body
without a readable command and organization id yields an unaddressable rejection, which a
worker dead-letters with ``Outcome.dead_letter_reason``. Infrastructure failures (database
down, deadlock, lock timeout) propagate to the caller, which retries; they never become
rejections. ``RetryLater`` asks the caller to run the command again later.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import structlog
from invoicing import logs
from invoicing.domain.errors import DomainError, NotFound
from invoicing.handlers.registry import (
    HANDLERS,
    NUMBER_AT_END,
    TAKES_NUMBER,
    Deps,
    Event,
    follow_ups,
    runs_alone,
)
from invoicing.handlers.registry import prefetch as registry_prefetch
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.pipeline import inbox, outbox, validate
from invoicing.pipeline.authenticate import Authenticator, authenticate
from invoicing.pipeline.batch import BatchBroken, GroupCommit, Scope
from invoicing.pipeline.decode import (
    Decoded,
    Limits,
    Undecodable,
    as_bytes,
    check_limits,
    decode,
    object_depth,
    peek_identity,
)
from invoicing.pipeline.envelope import Reply, cloud_event, event_id
from invoicing.pipeline.errors import Rejected, error, from_domain, from_validation
from invoicing.pipeline.validate import DateWindow
from invoicing.queries.dispatch import execute as run_read
from invoicing.queries.dispatch import read_only
from invoicing.schemas.commands import COMMAND_TYPES, Command
from invoicing.schemas.common import storable
from invoicing.schemas.queries import QUERY_TYPES, Query
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

log = structlog.get_logger("invoicing.pipeline")

#: what a transport verified about a message (``user_id``, ``queue``, ``message_id``, ...)
Transport = Mapping[str, Any]

#: namespace of the event ids of rejections derived from a body (a redelivery: the same id)
_BODY_NAMESPACE = uuid.UUID("0f6c4d52-2a57-4f55-9a43-6a8c2b1d7e10")


class RetryLater(Exception):
    """The command refers to something that does not exist yet; run it again later."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Outcome:
    status: Literal["applied", "duplicate", "rejected"]
    command_id: str | None = None
    command_type: str | None = None
    organization_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: set when the rejection could not be addressed to an organization (nothing committed):
    #: a worker dead-letters the body with this reason (header ``x-invoicing-reason``)
    dead_letter_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """A command that passed decoding, authentication and validation (``Pipeline.admit``):
    what runs next, and the identity its log lines carry."""

    context: dict[str, Any]
    command: Command
    digest: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A body refused before it ran (``Pipeline.admit``); ``record`` records the rejection
    (inbox and ``command.rejected``, in a transaction of its own) and returns its outcome."""

    context: dict[str, Any]
    record: Callable[[], Outcome]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:200]


def _type_detail(value: Any, kind: str) -> str:
    """What is wrong with a message's ``type``: absent (or null) is blank, as any missing
    field; never Python's ``None`` in a text for JSON clients."""
    if value is None:
        return "can't be blank"
    return f"{_text(value)!r} is not a {kind} type"


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        deps: Deps,
        authenticator: Authenticator,
        *,
        limits: Limits | None = None,
        window: DateWindow | None = None,
    ) -> None:
        self.engine = engine
        self.reads = read_only(engine)
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
        self.deps = deps
        self.authenticator = authenticator
        self.limits = limits or Limits()
        self.window = window or DateWindow()
        #: group commit (``enable_batching``): the workers' threads share transactions
        self.group: GroupCommit | None = None

    def enable_batching(self, max_batch: int, leaders: int = 1, optimistic: bool = True) -> None:
        """Commands submitted by concurrent threads while a transaction of this process is
        running join the next one, up to ``max_batch`` each, a savepoint per command
        (``invoicing.pipeline.batch``; ``optimistic``: first without savepoints, again with
        them when a command has to be undone). ``max_batch`` 1 turns it off."""
        self.group = (
            GroupCommit(
                self,
                max_batch,
                leaders,
                takes_number=lambda c: type(c) in TAKES_NUMBER,
                optimistic=optimistic,
                number_at_end=lambda c: type(c) in NUMBER_AT_END,
                prefetch=registry_prefetch,
                alone=runs_alone,
            )
            if max_batch > 1
            else None
        )

    def uow_factory(self) -> UnitOfWork:
        """A new unit of work (one transaction) on this pipeline's database."""
        return UnitOfWork(self._sessions)

    # ------------------------------------------------------------------ commands

    def handle_raw(
        self,
        raw: bytes | str,
        transport: Transport | None = None,
        *,
        retry_missing: bool = False,
        decoded: Decoded | None = None,
    ) -> Outcome:
        """The entry point of a transport: one message body in, its outcome out. Raises
        ``RetryLater`` (only with ``retry_missing``) and infrastructure errors. ``decoded``:
        the same body already decoded by the transport (its limits are checked here again)."""
        return self.settle(self.admit(raw, transport, decoded=decoded), retry_missing)

    def handle_document(
        self, doc: Any, transport: Transport | None = None, *, retry_missing: bool = False
    ) -> Outcome:
        """A command already decoded in this process (the scheduler, tests)."""
        if object_depth(doc, self.limits.max_depth) > self.limits.max_depth:
            return self._unaddressable([self._too_deep()])
        return self.settle(self._admit_document(doc, transport), retry_missing)

    def admit(
        self,
        raw: bytes | str,
        transport: Transport | None = None,
        *,
        decoded: Decoded | None = None,
    ) -> Admitted | Refused:
        """Decode, authenticate and validate one body; nothing is written yet: the command
        to run, or the rejection to record (:meth:`settle` does either)."""
        body = as_bytes(raw)
        try:
            if decoded is not None and decoded.body == body:
                check_limits(body, self.limits)
                doc = decoded.document
            else:
                doc = decode(body, self.limits)
        except Undecodable as exc:
            return Refused({}, partial(self._undecodable, raw, exc.error))
        # a body without the bytes that could make an unwritable character is not walked
        return self._admit_document(doc, transport, validate.plainly_writable(body))

    def settle(self, admitted: Admitted | Refused, retry_missing: bool = False) -> Outcome:
        """Run an admitted command in its transaction (:meth:`execute`), or record a refusal
        (each in its own transaction); every log line meanwhile carries the command's identity."""
        with logs.bound(**admitted.context):
            if isinstance(admitted, Refused):
                return admitted.record()
            return self.execute(
                admitted.command, digest=admitted.digest, retry_missing=retry_missing
            )

    def _admit_document(
        self, doc: Any, transport: Transport | None, plain: bool = False
    ) -> Admitted | Refused:
        context: dict[str, Any] = {}
        if isinstance(doc, dict):
            payload: dict[str, Any] = doc["payload"] if isinstance(doc.get("payload"), dict) else {}
            invoice_id = payload.get("invoice_id") or (
                payload.get("id") if str(doc.get("type", "")).endswith("_invoice") else None
            )
            context = {
                "command_id": _text(doc.get("command_id")),
                "organization_id": _text(doc.get("organization_id")),
                "command_type": _text(doc.get("type")),
                "invoice_id": _text(invoice_id),
            }
        with logs.bound(**context):
            checked = self._check(doc, transport, plain)
        if isinstance(checked, tuple):
            return Admitted(context, *checked)
        return Refused(context, checked)

    def _check(
        self, doc: Any, transport: Transport | None, plain: bool
    ) -> tuple[Command, str] | Callable[[], Outcome]:
        """The validated command and its payload's digest, or how to record its rejection."""
        if not isinstance(doc, dict):
            return partial(
                self._unaddressable,
                [
                    error(
                        "422",
                        "invalid_document",
                        "Invalid Document",
                        "a command must be a JSON object",
                        "",
                        "send one JSON object per command (docs/asyncapi.yaml)",
                    )
                ],
            )
        ctype, cid, org = doc.get("type"), doc.get("command_id"), doc.get("organization_id")
        try:
            command_id, org_id = uuid.UUID(str(cid)), uuid.UUID(str(org))
        except ValueError:
            errors = [
                error(
                    "422",
                    "invalid_attribute",
                    "Invalid Attribute",
                    "can't be blank" if value in (None, "") else f"{_text(value)} is not a UUID",
                    f"/{name}",
                    "send a UUID such as 3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
                )
                for name, value in (("command_id", cid), ("organization_id", org))
                if not _is_uuid(value)
            ]
            return partial(
                self._unaddressable, errors, _text(ctype) if isinstance(ctype, str) else None
            )
        model = COMMAND_TYPES.get(ctype) if isinstance(ctype, str) else None
        # authenticate before anything is recorded: an unauthorized sender must not be able
        # to claim a command id of the tenant (the inbox) or learn about its data
        try:
            authenticate(
                self.authenticator,
                doc,
                transport,
                org_id,
                model.scope if model else "invoices:write",
            )
        except DomainError as exc:
            log.warning("command.unauthorized", reason=exc.errors[0].detail)
            return partial(
                self._reject, command_id, org_id, ctype, from_domain(exc, ""), digest=None
            )
        mismatch = validate.routing_mismatch(ctype, transport)
        if mismatch is not None:  # nothing recorded: a corrected re-send with this id runs
            return partial(self._reject, command_id, org_id, ctype, [mismatch], digest=None)
        digest = inbox.canonical_hash(doc.get("payload"))
        try:
            if model is None:
                raise Rejected(
                    [
                        error(
                            "422",
                            "unknown_command",
                            "Unknown Command",
                            _type_detail(ctype, "command"),
                            "/type",
                            "one of: " + ", ".join(sorted(COMMAND_TYPES)),
                        )
                    ]
                )
            if not plain:
                validate.characters(doc)
            command = validate.model(model, doc)
            self.window.check(command, self.deps.today())
        except Rejected as exc:
            return partial(self._reject, command_id, org_id, ctype, exc.errors, digest=digest)
        return command, digest

    def execute(
        self, command: Command, *, digest: str | None = None, retry_missing: bool = False
    ) -> Outcome:
        """Run a validated (and authorized) command in one transaction -- its own, or, with
        group commit on (the workers), a savepoint of a transaction it shares with the commands
        other threads of this process submit meanwhile (``invoicing.pipeline.batch``)."""
        digest = digest or inbox.canonical_hash(command.model_dump(mode="json")["payload"])
        if self.group is not None:
            return self.group.run(command, digest, retry_missing)
        with self.uow_factory() as uow:
            outcome = self.run_in(uow, command, digest, retry_missing, nested=False)
            if outcome.status != "duplicate":
                uow.commit()
        self.log_outcome(outcome)
        return outcome

    def run_in(
        self,
        uow: UnitOfWork,
        command: Command,
        digest: str,
        retry_missing: bool,
        *,
        nested: bool,
        optimistic: bool = False,
        claimed: bool = False,
    ) -> Outcome:
        """The command (inbox, handler, outbox) inside ``uow``'s open transaction, which the
        caller commits: in a savepoint of it (``nested``, a batch) or as the transaction's only
        command. A rejection undoes the command's writes first and records the rejection in
        their place; ``RetryLater`` and every other exception leave nothing of the command
        behind (``BatchBroken`` when even that failed: the transaction is lost).

        ``optimistic``: one of a batch's commands without a savepoint; whatever would undo it
        raises ``NeedsSavepoints`` instead (the batch then runs again with savepoints).
        ``claimed``: the caller claimed the command's id in this transaction already
        (``inbox.claim_all``)."""
        handler = HANDLERS[type(command)]
        scope = Scope(uow, nested, optimistic)
        try:
            seen = None
            if not claimed:
                seen = inbox.claim(
                    uow,
                    org_id=command.organization_id,
                    command_id=command.command_id,
                    command_type=command.type,
                    digest=digest,
                    now=self.deps.now(),
                )
            if seen is not None:
                scope.undo()  # release the claim's wait before recording anything else
                return self._seen(command, seen, digest, uow, nested)
            events = handler(command, uow, self.deps)
            events += follow_ups(command, uow, self.deps, events)
            rows = self._outbox(uow, command, events, defer=nested or optimistic)
            scope.done()
        except NotFound as exc:
            scope.undo()
            if retry_missing:
                raise RetryLater(exc) from exc
            return self._reject_domain(command, exc, digest, uow, nested)
        except DomainError as exc:
            scope.undo()
            return self._reject_domain(command, exc, digest, uow, nested)
        except IntegrityError:
            scope.undo()
            twin = inbox.seen(uow, command.organization_id, command.command_id)
            if twin is not None:
                return self._seen(command, twin, digest, uow, nested)
            raise
        except BatchBroken:
            raise
        except Exception:
            scope.undo()
            raise
        return Outcome(
            "applied",
            str(command.command_id),
            command.type,
            str(command.organization_id),
            events=rows,
        )

    @staticmethod
    def log_outcome(outcome: Outcome) -> None:
        """The log line of a committed outcome (rejections are logged when recorded)."""
        if outcome.status != "applied" or not log.is_enabled_for(logging.INFO):
            return
        invoice_ids = sorted({str(r["subject"]) for r in outcome.events if r.get("subject")})
        log.info(
            "command.applied",
            command_id=outcome.command_id,
            organization_id=outcome.organization_id,
            command_type=outcome.command_type,
            events=len(outcome.events),
            invoice_ids=invoice_ids[:20],
        )

    def _outbox(
        self, uow: UnitOfWork, command: Command, events: list[Event], *, defer: bool
    ) -> list[Any]:
        """The command's events into the outbox; in a batch (``defer``) with the events of
        the batch's other commands, in one statement before the commit (the inbox claimed
        this command's id, so its event ids cannot clash with rows already there)."""
        return outbox.write(
            uow,
            events,
            org_id=command.organization_id,
            command_id=command.command_id,
            correlation_id=command.correlation_id,
            now=self.deps.now(),
            defer=defer,
        )

    # ------------------------------------------------------------------ command outcomes

    def _seen(
        self,
        command: Command,
        seen: inbox.Seen,
        digest: str,
        uow: UnitOfWork | None = None,
        nested: bool = False,
    ) -> Outcome:
        """A command id recorded before: a duplicate when the type and the payload are the
        same (Stripe's semantics: the same key for another endpoint or other parameters is an
        error, never the first request's result), else an ``idempotency_conflict``."""
        seen_hash, seen_type = seen
        if seen_hash == digest and seen_type == command.type:
            log.info(
                "command.duplicate",
                command_id=str(command.command_id),
                organization_id=str(command.organization_id),
            )
            return Outcome(
                "duplicate", str(command.command_id), command.type, str(command.organization_id)
            )
        errors = [
            error(
                "409",
                "idempotency_conflict",
                "Conflict",
                f"command {command.command_id} was already used for another command "
                "(another type or payload)",
                "/command_id",
                "use a new command_id for a new command",
            )
        ]
        return self._reject(
            command.command_id,
            command.organization_id,
            command.type,
            errors,
            digest=None,
            uow=uow,
            nested=nested,
        )

    def _reject_domain(
        self,
        command: Command,
        exc: DomainError,
        digest: str,
        uow: UnitOfWork | None = None,
        nested: bool = False,
    ) -> Outcome:
        return self._reject(
            command.command_id,
            command.organization_id,
            command.type,
            from_domain(exc),
            digest=digest,
            uow=uow,
            nested=nested,
        )

    def _reject(
        self,
        command_id: uuid.UUID,
        org_id: uuid.UUID,
        ctype: Any,
        errors: list[dict[str, Any]],
        *,
        digest: str | None,
        nonce: uuid.UUID | None = None,
        uow: UnitOfWork | None = None,
        nested: bool = False,
    ) -> Outcome:
        """Record the rejection (inbox, when the sender was authorized) and its event: in
        ``uow``'s transaction when given (the caller commits), else in a transaction of its
        own."""
        # the refused input it names (a type, a pointer made of a key) written storably
        recorded_type = storable(_text(ctype))
        command_type = recorded_type if isinstance(ctype, str) else None
        errors = storable(errors)
        event = Event(
            "command.rejected",
            str(command_id),
            {"command_type": command_type, "command_id": str(command_id), "errors": errors},
        )
        duplicate = Outcome("duplicate", str(command_id), command_type, str(org_id))
        if uow is None:
            with self.uow_factory() as own:
                outcome = self._reject(
                    command_id, org_id, ctype, errors, digest=digest, nonce=nonce, uow=own
                )
                if outcome.status == "rejected":
                    own.commit()
            return outcome
        log.warning(
            "command.rejected",
            command_id=str(command_id),
            organization_id=str(org_id),
            command_type=command_type,
            errors=[_text(e["detail"]) for e in errors][:5],
        )
        scope = Scope(uow, nested)
        try:
            if digest is not None and not inbox.record_rejection(
                uow,
                org_id=org_id,
                command_id=command_id,
                command_type=recorded_type,
                digest=digest,
                now=self.deps.now(),
            ):
                scope.undo()
                return duplicate
            rows = outbox.write(
                uow,
                [event],
                org_id=org_id,
                command_id=command_id,
                correlation_id=None,
                now=self.deps.now(),
                nonce=None if digest else nonce or uuid.uuid4(),
            )
            scope.done()
        except IntegrityError:  # a concurrent twin, or the same body's event already
            scope.undo()
            return duplicate
        return Outcome(
            "rejected", str(command_id), command_type, str(org_id), events=rows, errors=errors
        )

    def _too_deep(self) -> dict[str, Any]:
        return error(
            "400",
            "too_deep",
            "Nested Too Deeply",
            f"the document nests arrays and objects deeper than {self.limits.max_depth} levels",
            "",
            "send the documented command shape (docs/asyncapi.yaml)",
        )

    def _undecodable(self, raw: bytes | str, err: dict[str, Any]) -> Outcome:
        """A body that is no acceptable JSON: a ``command.rejected`` for its organization when
        the command and organization ids can be read without decoding it, else unaddressable."""
        ident = peek_identity(raw, max_bytes=self.limits.max_bytes)
        cid, org, ctype = (
            ident.get("command_id"),
            ident.get("organization_id"),
            ident.get("type"),
        )
        with logs.bound(command_id=cid, organization_id=org, command_type=ctype):
            log.warning("command.undecodable", code=err["code"], reason=err["detail"])
            if not (_is_uuid(cid) and _is_uuid(org)):
                return self._unaddressable([err], ctype, cid, org)
            body = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
            # the event id follows the body: a redelivery of the same body is a duplicate
            nonce = uuid.uuid5(_BODY_NAMESPACE, hashlib.sha256(body).hexdigest())
            return self._reject(
                uuid.UUID(str(cid)), uuid.UUID(str(org)), ctype, [err], digest=None, nonce=nonce
            )

    def _unaddressable(
        self,
        errors: list[dict[str, Any]],
        ctype: str | None = None,
        cid: Any = None,
        org: Any = None,
    ) -> Outcome:
        """No valid command or organization id: nothing to record, the event is only returned.
        What it names of the input is written storably, as a recorded rejection's is (the
        dead letter's reason is escaped again where every reason is, ``Outbound``: a no-op)."""
        errors, ctype = storable(errors), storable(ctype)
        cid, org = storable(_text(cid)), storable(_text(org))
        # each error with its pointer: "can't be blank" alone does not say what is missing
        details = "; ".join(
            f"{e['source']['pointer']}: {_text(e['detail'])}"
            if e.get("source", {}).get("pointer")
            else str(_text(e["detail"]))
            for e in errors
        )
        log.warning("command.unaddressable", errors=[_text(e["detail"]) for e in errors][:5])
        rejected = Event(
            "command.rejected",
            None,
            {"command_type": ctype, "command_id": cid, "errors": errors},
        )
        event = cloud_event(
            rejected,
            id_=event_id(rejected, 0, command_id=None),  # no command id: a random basis
            org_id=None,
            command_id=None,
            correlation_id=None,
            now=self.deps.now(),
        )
        return Outcome(
            "rejected",
            cid,
            ctype,
            org,
            events=[event],
            errors=errors,
            dead_letter_reason=f"undecodable: {details}",
        )

    # ------------------------------------------------------------------ queries

    def query_raw(self, raw: bytes | str, transport: Transport | None = None) -> dict[str, Any]:
        """One query body in, its ``QueryReply`` (JSON-ready) out; never raises for a bad
        query, only for infrastructure failures (the caller retries)."""
        return self.answer_raw(raw, transport).as_dict()

    def answer_raw(self, raw: bytes | str, transport: Transport | None = None) -> Reply:
        """As :meth:`query_raw`, the reply still holding its result model (``Reply.as_json``
        serializes it once: what the worker publishes)."""
        try:
            doc = decode(raw, self.limits)
        except Undecodable as exc:
            ident = peek_identity(raw, max_bytes=self.limits.max_bytes)
            log.warning("query.undecodable", code=exc.error["code"], reason=exc.error["detail"])
            return Reply.to(ident, errors=[exc.error])
        plain = validate.plainly_writable(as_bytes(raw))
        return self.answer_document(doc, transport, plain=plain)

    def query_document(self, doc: Any, transport: Transport | None = None) -> dict[str, Any]:
        return self.answer_document(doc, transport).as_dict()

    def answer_document(
        self, doc: Any, transport: Transport | None = None, *, plain: bool = False
    ) -> Reply:
        """``plain``: the body the document was decoded from holds no character
        :func:`validate.characters` refuses (``validate.plainly_writable``), so the document
        is not walked for one."""
        if object_depth(doc, self.limits.max_depth) > self.limits.max_depth:
            return Reply.to({}, errors=[self._too_deep()])
        if not isinstance(doc, dict):
            return Reply.to(
                {},
                errors=[
                    error(
                        "422",
                        "invalid_document",
                        "Invalid Document",
                        "a query must be a JSON object",
                        "/type",
                        "send one JSON object per query (docs/asyncapi.yaml)",
                    )
                ],
            )
        try:
            return Reply.to(doc, result=self._query(doc, transport, plain))
        except Rejected as exc:
            return Reply.to(doc, errors=exc.errors)

    def _query(
        self, doc: dict[str, Any], transport: Transport | None, plain: bool = False
    ) -> BaseModel:
        qtype = doc.get("type")
        model = QUERY_TYPES.get(qtype) if isinstance(qtype, str) else None
        # the organization and the grant first: an unauthorized requester learns nothing
        try:
            probe = Query.model_validate(
                {
                    "type": qtype if isinstance(qtype, str) else "",
                    "organization_id": doc.get("organization_id"),
                    "payload": None,
                }
            )
        except ValidationError as exc:
            errors = from_validation(exc)
            only_org = [e for e in errors if e["source"]["pointer"] == "/organization_id"]
            raise Rejected(only_org or errors) from None
        try:
            authenticate(self.authenticator, doc, transport, probe.organization_id, Query.scope)
        except DomainError as exc:
            log.warning(
                "query.unauthorized",
                organization_id=str(probe.organization_id),
                query_type=_text(qtype),
                reason=exc.errors[0].detail,
            )
            raise Rejected(from_domain(exc)) from None
        if model is None:
            raise Rejected(
                [
                    error(
                        "422",
                        "unknown_query",
                        "Unknown Query",
                        _type_detail(qtype, "query"),
                        "/type",
                        "one of: " + ", ".join(sorted(QUERY_TYPES)),
                    )
                ]
            )
        if not plain:  # as for commands: a NUL or a lone surrogate cannot reach the database
            validate.characters(doc, query=True)
        query = validate.model(model, doc)
        try:
            result = run_read(query, self.reads, self.deps.document_store)
        except DomainError as exc:
            raise Rejected(from_domain(exc)) from None
        return result


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return value is not None
