"""The command pipeline shared by ``invoicing process`` and the RabbitMQ workers.

decode -> authenticate -> validate -> (inbox, handler, outbox in ONE transaction) -> outcome.
A business or validation failure changes nothing and yields one ``command.rejected`` event.
Infrastructure failures (database down, deadlock, lock timeout) propagate to the caller, which
retries; they never become rejections.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import structlog
from invoicing.domain.errors import DomainError, ErrorDetail, NotFound
from invoicing.handlers.auth import Authenticator, LocalOperator, authorize
from invoicing.handlers.registry import HANDLERS, Deps, Event
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import OutboxEvent, ProcessedCommand
from invoicing.schemas.commands import COMMAND_TYPES, Command
from invoicing.schemas.common import unwritable_characters
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

log = structlog.get_logger("invoicing.bus")


class RetryLater(Exception):
    """The command refers to something that does not exist yet; retry it later."""

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


def _error_json(e: ErrorDetail, prefix: str = "/payload") -> dict[str, Any]:
    pointer = (
        e.pointer
        if e.pointer.startswith(
            ("/payload", "/credentials", "/type", "/command_id", "/organization_id")
        )
        else f"{prefix}{e.pointer}"
    )
    out: dict[str, Any] = {
        "status": e.status,
        "code": e.code,
        "title": e.title or "Invalid Attribute",
        "detail": e.detail,
        "source": {"pointer": pointer},
    }
    if e.hint:
        out["meta"] = {"hint": e.hint}
    return out


_MESSAGES = {
    "missing": "can't be blank",
    "extra_forbidden": "is not a known attribute",
}


def _hint(kind: str, ctx: dict[str, Any], field: str) -> str:
    """What to do about a schema error (``meta.hint``)."""
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return f"give {field} a value"
    if kind == "string_too_long":
        return f"shorten it to at most {ctx.get('max_length')} characters"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": "above",
            "greater_than_equal": "at least",
            "less_than": "below",
            "less_than_equal": "at most",
        }[kind]
        value = next(iter(ctx.values()), "")
        return f"send a value {bound} {value}"
    if kind == "extra_forbidden":
        return "remove it: the command's fields are in docs/asyncapi.yaml"
    if kind in ("uuid_parsing", "uuid_type"):
        return "send a UUID such as 3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    if kind.startswith(("date_", "datetime_")):
        return "send an ISO 8601 date such as 2026-11-21"
    if kind in ("literal_error", "enum"):
        return f"use one of {ctx.get('expected')}"
    if kind in ("decimal_parsing", "decimal_type", "value_error") and "decimal" in field:
        return 'send a JSON number or a decimal string such as "12.50"'
    if kind == "list_type":
        return "send a JSON array"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "send a JSON object"
    return "correct the value; the schema is in docs/asyncapi.yaml"


def _pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False):
        pointer = "/" + "/".join(str(part) for part in err["loc"])
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind in _MESSAGES:
            detail = _MESSAGES[kind]
        elif kind == "string_too_short" and ctx.get("min_length") == 1:
            detail = "can't be blank"
        elif kind == "string_too_long":
            detail = f"is too long (maximum is {ctx.get('max_length')} characters)"
        else:
            detail = str(err["msg"]).removeprefix("Value error, ")
        field = str(err["loc"][-1]) if err["loc"] else "the document"
        hint_field = "decimal" if "decimal" in detail or "binary float" in detail else field
        out.append(
            {
                "status": "422",
                "code": "invalid_attribute",
                "title": "Invalid Attribute",
                "detail": detail,
                "source": {"pointer": pointer},
                "meta": {"hint": _hint(kind, ctx, hint_field)},
            }
        )
    return out


def routing_mismatch(ctype: Any, transport: dict[str, Any] | None) -> dict[str, Any] | None:
    """The error when the transport routed the command by another type than its body names
    (``transport["expected_type"]``: the routing key it was published with)."""
    expected = (transport or {}).get("expected_type")
    if expected is None or expected == ctype:
        return None
    shown = ctype if isinstance(ctype, str) else None
    return {
        "status": "422",
        "code": "routing_mismatch",
        "title": "Routing Key Mismatch",
        "detail": f"published with routing key {str(expected)[:100]!r}, but the command's type "
        f"is {str(shown)[:100]!r}; it was not executed",
        "source": {"pointer": "/type"},
        "meta": {
            "hint": "publish every command with its own `type` as the routing key "
            "(the routing key picks the queue, the type picks the handler)"
        },
    }


def canonical_hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_json(raw: bytes | str) -> Any:
    """JSON with every number parsed exactly (no float ever)."""
    return json.loads(raw, parse_float=Decimal)


class MessageBus:
    def __init__(
        self, engine: Engine, deps: Deps | None = None, authenticator: Authenticator | None = None
    ) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
        self.deps = deps or Deps()
        self.authenticator = authenticator or LocalOperator()

    def uow_factory(self) -> UnitOfWork:
        """A new unit of work (one transaction) on this bus's database."""
        return UnitOfWork(self._sessions)

    # ------------------------------------------------------------------ entry points

    def handle_raw(
        self,
        raw: bytes | str,
        transport: dict[str, Any] | None = None,
        *,
        retry_missing: bool = False,
    ) -> Outcome:
        try:
            doc = parse_json(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._unaddressable(
                [
                    {
                        "status": "400",
                        "code": "invalid_json",
                        "title": "Invalid JSON",
                        "detail": f"the message is not JSON: {exc}",
                        "source": {"pointer": ""},
                        "meta": {"hint": "send one JSON object per command"},
                    }
                ]
            )
        return self.handle_document(doc, transport, retry_missing=retry_missing)

    def handle_document(
        self, doc: Any, transport: dict[str, Any] | None = None, *, retry_missing: bool = False
    ) -> Outcome:
        """Every log line written while the command is handled carries its identity."""
        context: dict[str, Any] = {}
        if isinstance(doc, dict):
            payload: dict[str, Any] = doc["payload"] if isinstance(doc.get("payload"), dict) else {}
            invoice_id = payload.get("invoice_id") or (
                payload.get("id") if str(doc.get("type", "")).endswith("_invoice") else None
            )
            context = {
                "command_id": str(doc.get("command_id")),
                "organization_id": str(doc.get("organization_id")),
                "command_type": doc.get("type"),
                "invoice_id": None if invoice_id is None else str(invoice_id),
            }
        with structlog.contextvars.bound_contextvars(**context):
            return self._handle_document(doc, transport, retry_missing=retry_missing)

    def _handle_document(
        self, doc: Any, transport: dict[str, Any] | None = None, *, retry_missing: bool = False
    ) -> Outcome:
        if not isinstance(doc, dict):
            return self._unaddressable(
                [
                    {
                        "status": "422",
                        "code": "invalid_document",
                        "title": "Invalid Document",
                        "detail": "a command must be a JSON object",
                        "source": {"pointer": ""},
                    }
                ]
            )
        ctype, cid, org = doc.get("type"), doc.get("command_id"), doc.get("organization_id")
        try:
            command_id, org_id = uuid.UUID(str(cid)), uuid.UUID(str(org))
        except ValueError:
            errors = []
            for name, value in (("command_id", cid), ("organization_id", org)):
                try:
                    uuid.UUID(str(value))
                except ValueError:
                    errors.append(
                        {
                            "status": "422",
                            "code": "invalid_attribute",
                            "title": "Invalid Attribute",
                            "detail": "can't be blank"
                            if value in (None, "")
                            else f"{value} is not a UUID",
                            "source": {"pointer": f"/{name}"},
                        }
                    )
            return self._unaddressable(errors, ctype if isinstance(ctype, str) else None, cid, org)
        bound = log.bind(
            command_id=str(command_id), organization_id=str(org_id), command_type=ctype
        )
        # authenticate before anything is recorded: an unauthorized sender must not be able
        # to claim a command id of the tenant (the inbox) or learn about its data
        model = COMMAND_TYPES.get(ctype) if isinstance(ctype, str) else None
        try:
            credentials = doc.get("credentials")
            principal = self.authenticator.authenticate(
                credentials if isinstance(credentials, dict) else None, transport
            )
            authorize(principal, org_id, model.scope if model else "invoices:write")
        except DomainError as exc:
            bound.warning("command.unauthorized", reason=exc.errors[0].detail)
            return self._reject(
                command_id, org_id, ctype, [_error_json(e, "") for e in exc.errors], digest=None
            )
        mismatch = routing_mismatch(ctype, transport)
        if mismatch is not None:  # nothing recorded: a corrected re-send with this id runs
            return self._reject(command_id, org_id, ctype, [mismatch], digest=None)
        digest = canonical_hash(doc.get("payload"))
        if model is None:
            return self._reject(
                command_id,
                org_id,
                ctype,
                [
                    {
                        "status": "422",
                        "code": "unknown_command",
                        "title": "Unknown Command",
                        "detail": f"{ctype!r} is not a command type",
                        "source": {"pointer": "/type"},
                        "meta": {"hint": "one of: " + ", ".join(sorted(COMMAND_TYPES))},
                    }
                ],
                digest=digest,
            )
        unwritable = unwritable_characters(doc)
        if unwritable:
            return self._reject(
                command_id,
                org_id,
                ctype,
                [
                    {
                        "status": "422",
                        "code": "invalid_attribute",
                        "title": "Invalid Attribute",
                        "detail": f"contains {char}, a character no invoice document (PDF, "
                        "e-invoice XML, email) can carry",
                        "source": {"pointer": pointer},
                        "meta": {"hint": "remove it; tabs and line breaks (\\n, \\r) are allowed"},
                    }
                    for pointer, char in unwritable
                ],
                digest=digest,
            )
        try:
            command = model.model_validate(doc)
        except ValidationError as exc:
            return self._reject(command_id, org_id, ctype, _pydantic_errors(exc), digest=digest)
        return self.execute(command, digest=digest, retry_missing=retry_missing)

    def execute(
        self, command: Command, *, digest: str | None = None, retry_missing: bool = False
    ) -> Outcome:
        """Run a validated (and authorized) command in one transaction."""
        digest = digest or canonical_hash(command.model_dump(mode="json")["payload"])
        handler = HANDLERS[type(command)]
        bound = log.bind(
            command_id=str(command.command_id),
            organization_id=str(command.organization_id),
            command_type=command.type,
        )
        with self.uow_factory() as uow:
            # claim the command id: one statement; a concurrent twin waits on the key until the
            # first commits (then it sees a conflict) or rolls back (then it claims the id)
            insert = pg_insert if uow.dialect == "postgresql" else sqlite_insert
            claimed = uow.session.execute(
                insert(ProcessedCommand)
                .values(
                    organization_id=command.organization_id,
                    command_id=command.command_id,
                    command_type=command.type,
                    payload_hash=digest,
                    outcome="applied",
                    processed_at=self.deps.now(),
                )
                .on_conflict_do_nothing()
                .returning(ProcessedCommand.command_id)
            ).first()
            if claimed is None:
                seen_hash = uow.session.execute(
                    select(ProcessedCommand.payload_hash).where(
                        ProcessedCommand.organization_id == command.organization_id,
                        ProcessedCommand.command_id == command.command_id,
                    )
                ).scalar_one()
                uow.rollback()  # release the transaction before recording anything else
                return self._seen(command, seen_hash, digest)
            try:
                events = handler(command, uow, self.deps)
                rows = self._write_outbox(uow, command, events)
                uow.commit()
            except NotFound as exc:
                uow.rollback()
                if retry_missing:
                    raise RetryLater(exc) from exc
                return self._reject_domain(command, exc, digest)
            except DomainError as exc:
                uow.rollback()
                return self._reject_domain(command, exc, digest)
            except IntegrityError:
                uow.rollback()
                with self.uow_factory() as check:
                    twin = check.session.get(
                        ProcessedCommand, (command.organization_id, command.command_id)
                    )
                    twin_hash = twin.payload_hash if twin is not None else None
                if twin_hash is not None:
                    return self._seen(command, twin_hash, digest)
                raise
        invoice_ids = sorted({str(r["subject"]) for r in rows if r.get("subject")})
        bound.info("command.applied", events=len(rows), invoice_ids=invoice_ids[:20])
        return Outcome(
            "applied",
            str(command.command_id),
            command.type,
            str(command.organization_id),
            events=rows,
        )

    # ------------------------------------------------------------------ outcomes

    def _seen(self, command: Command, seen_hash: str, digest: str) -> Outcome:
        if seen_hash == digest:
            log.info(
                "command.duplicate",
                command_id=str(command.command_id),
                organization_id=str(command.organization_id),
            )
            return Outcome(
                "duplicate", str(command.command_id), command.type, str(command.organization_id)
            )
        errors = [
            {
                "status": "409",
                "code": "idempotency_conflict",
                "title": "Conflict",
                "detail": f"command {command.command_id} was already used with a different payload",
                "source": {"pointer": "/command_id"},
                "meta": {"hint": "use a new command_id for a new command"},
            }
        ]
        return self._reject(
            command.command_id, command.organization_id, command.type, errors, digest=None
        )

    def _reject_domain(self, command: Command, exc: DomainError, digest: str) -> Outcome:
        return self._reject(
            command.command_id,
            command.organization_id,
            command.type,
            [_error_json(e) for e in exc.errors],
            digest=digest,
        )

    def _reject(
        self,
        command_id: uuid.UUID,
        org_id: uuid.UUID,
        ctype: Any,
        errors: list[dict[str, Any]],
        *,
        digest: str | None,
    ) -> Outcome:
        """Record the rejection (inbox, when the sender was authorized) and its event."""
        log.warning(
            "command.rejected",
            command_id=str(command_id),
            organization_id=str(org_id),
            command_type=ctype,
            errors=[e["detail"] for e in errors][:5],
        )
        event = Event(
            "command.rejected",
            str(command_id),
            {
                "command_type": ctype if isinstance(ctype, str) else None,
                "command_id": str(command_id),
                "errors": errors,
            },
        )
        with self.uow_factory() as uow:
            if digest is not None:
                if uow.session.get(ProcessedCommand, (org_id, command_id)) is not None:
                    return Outcome("duplicate", str(command_id), ctype, str(org_id))
                uow.session.add(
                    ProcessedCommand(
                        organization_id=org_id,
                        command_id=command_id,
                        command_type=str(ctype)[:60],
                        payload_hash=digest,
                        outcome="rejected",
                        processed_at=self.deps.now(),
                    )
                )
            rows = self._write_outbox(
                uow,
                None,
                [event],
                org_id=org_id,
                command_id=command_id,
                rejected_nonce=None if digest else uuid.uuid4(),
            )
            try:
                uow.commit()
            except IntegrityError:
                uow.rollback()
                return Outcome("duplicate", str(command_id), ctype, str(org_id))
        return Outcome(
            "rejected",
            str(command_id),
            ctype if isinstance(ctype, str) else None,
            str(org_id),
            events=rows,
            errors=errors,
        )

    def _unaddressable(
        self,
        errors: list[dict[str, Any]],
        ctype: str | None = None,
        cid: Any = None,
        org: Any = None,
    ) -> Outcome:
        """No valid command or organization id: nothing to record, the event is only returned."""
        log.warning("command.undecodable", errors=[e["detail"] for e in errors])
        event = self._cloud_event(
            Event(
                "command.rejected",
                None,
                {
                    "command_type": ctype,
                    "command_id": None if cid is None else str(cid),
                    "errors": errors,
                },
            ),
            org_id=None,
            command_id=None,
            correlation_id=None,
            index=0,
            nonce=uuid.uuid4(),
        )
        return Outcome(
            "rejected",
            None if cid is None else str(cid),
            ctype,
            None if org is None else str(org),
            events=[event],
            errors=errors,
        )

    # ------------------------------------------------------------------ outbox

    def _cloud_event(
        self,
        event: Event,
        *,
        org_id: uuid.UUID | None,
        command_id: uuid.UUID | None,
        correlation_id: str | None,
        index: int,
        nonce: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        basis = nonce or command_id or uuid.uuid4()
        event_id = uuid.uuid5(basis, f"{index}:{event.type}:{event.subject}")
        return {
            "specversion": "1.0",
            "id": str(event_id),
            "source": f"urn:invoicing:organization:{org_id}" if org_id else "urn:invoicing",
            "type": event.type,
            "subject": event.subject,
            "time": self.deps.now().isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "dataschemaversion": 1,
            "organizationid": str(org_id) if org_id else None,
            "commandid": str(command_id) if command_id else None,
            "correlationid": correlation_id,
            "sequence": event.sequence,
            "data": event.data,
        }

    def _write_outbox(
        self,
        uow: UnitOfWork,
        command: Command | None,
        events: list[Event],
        *,
        org_id: uuid.UUID | None = None,
        command_id: uuid.UUID | None = None,
        rejected_nonce: uuid.UUID | None = None,
    ) -> list[dict[str, Any]]:
        org_id = command.organization_id if command else org_id
        command_id = command.command_id if command else command_id
        correlation = command.correlation_id if command else None
        rows: list[dict[str, Any]] = []
        for i, event in enumerate(events):
            ce = self._cloud_event(
                event,
                org_id=org_id,
                command_id=command_id,
                correlation_id=correlation,
                index=i,
                nonce=rejected_nonce,
            )
            uow.session.add(
                OutboxEvent(
                    event_id=uuid.UUID(ce["id"]),
                    organization_id=org_id,
                    type=event.type,
                    subject=event.subject,
                    sequence=event.sequence,
                    payload=ce,
                    created_at=self.deps.now(),
                )
            )
            rows.append(ce)
        uow.session.flush()
        return rows
