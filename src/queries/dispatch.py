"""Serving queries: validate, authenticate, run in one read-only transaction, reply.

``handle_query`` is what the request/reply consumer calls with the decoded message body; it
never raises for a bad query (the reply carries ``errors`` shaped like command rejections),
only for infrastructure failures, which the consumer retries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import structlog
from invoicing.domain.errors import DomainError, ErrorDetail
from invoicing.handlers.auth import Authenticator, LocalOperator, authorize
from invoicing.queries import billing, customers, invoices
from invoicing.schemas.common import ErrorItem
from invoicing.schemas.queries import QUERY_TYPES, Query, QueryReply, Result
from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = structlog.get_logger("invoicing.queries")

Runner = Callable[[Any, Session], Result]

RUNNERS: dict[str, Runner] = {
    "get_invoice": invoices.get_invoice,
    "list_invoices": invoices.list_invoices,
    "open_items": invoices.open_items,
    "next_number": invoices.next_number,
    "list_payments": invoices.list_payments,
    "list_trash": invoices.list_trash,
    "preview_billable_entries": billing.preview_billable_entries,
    "get_customer": customers.get_customer,
    "list_customers": customers.list_customers,
}


def run_query(query: Query, session: Session) -> Result:
    """Run a validated query in the caller's session (confined to query.organization_id)."""
    return RUNNERS[query.type](query, session)


#: pydantic adds the branch of a union (``str``, ``list[...]``) to an error's location
_UNION_BRANCH = re.compile(r"^(str|int|bool|float|decimal|none)$|\[")
_ENVELOPE = ("/type", "/organization_id", "/credentials", "/query_id", "/correlation_id")


def _error(e: ErrorDetail) -> dict[str, Any]:
    pointer = (
        e.pointer if e.pointer.startswith((*_ENVELOPE, "/payload")) else f"/payload{e.pointer}"
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


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind == "missing":
            detail = "can't be blank"
        elif kind == "extra_forbidden":
            detail = "is not a known attribute"
        elif kind == "string_too_short" and ctx.get("min_length") == 1:
            detail = "can't be blank"
        else:
            detail = str(err["msg"]).removeprefix("Value error, ")
        # the location of a model-level check ends in the model; unions add their branch
        parts = [str(part) for part in err["loc"] if not _UNION_BRANCH.search(str(part))]
        out.append(
            {
                "status": "422",
                "code": "invalid_attribute",
                "title": "Invalid Attribute",
                "detail": detail,
                "source": {"pointer": "/" + "/".join(parts)},
            }
        )
    return out


def _reply(
    doc: dict[str, Any],
    *,
    result: Result | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    def text_of(name: str) -> str | None:
        value = doc.get(name)
        return None if value is None else str(value)

    reply = QueryReply(
        type=str(doc.get("type") or ""),
        status="error" if errors else "ok",
        query_id=text_of("query_id"),
        correlation_id=text_of("correlation_id"),
        organization_id=text_of("organization_id"),
        result=None if result is None else result.model_dump(mode="json"),
        errors=[ErrorItem.model_validate(e) for e in errors or []],
    )
    return reply.model_dump(mode="json", exclude_none=False)


def _error_item(
    status: str, code: str, title: str, detail: str, pointer: str, hint: str = ""
) -> dict[str, Any]:
    return _error(ErrorDetail(code, detail, pointer, status, title, hint))


def handle_query(
    doc: Any,
    engine: Engine,
    authenticator: Authenticator | None = None,
    transport: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer one query document with a ``QueryReply`` as JSON-ready dict."""
    if not isinstance(doc, dict):
        return _reply(
            {},
            errors=[
                _error_item(
                    "422",
                    "invalid_document",
                    "Invalid Document",
                    "a query must be a JSON object",
                    "/type",
                )
            ],
        )
    authenticator = authenticator or LocalOperator()
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
        errors = [
            e for e in _validation_errors(exc) if e["source"]["pointer"] == "/organization_id"
        ]
        return _reply(doc, errors=errors or _validation_errors(exc))
    try:
        credentials = doc.get("credentials")
        principal = authenticator.authenticate(
            credentials if isinstance(credentials, dict) else None, transport
        )
        authorize(principal, probe.organization_id, Query.scope)
    except DomainError as exc:
        log.warning(
            "query.unauthorized",
            organization_id=str(probe.organization_id),
            query_type=qtype,
            reason=exc.errors[0].detail,
        )
        return _reply(doc, errors=[_error(e) for e in exc.errors])
    if model is None:
        return _reply(
            doc,
            errors=[
                _error_item(
                    "422",
                    "unknown_query",
                    "Unknown Query",
                    f"{qtype!r} is not a query type",
                    "/type",
                    "one of: " + ", ".join(sorted(QUERY_TYPES)),
                )
            ],
        )
    try:
        query = model.model_validate(doc)
    except ValidationError as exc:
        return _reply(doc, errors=_validation_errors(exc))
    try:
        result = execute(query, engine)
    except DomainError as exc:
        return _reply(doc, errors=[_error(e) for e in exc.errors])
    return _reply(doc, result=result)


def execute(query: Query, engine: Engine) -> Result:
    """One read-only transaction (REPEATABLE READ on PostgreSQL: count and page agree)."""
    with Session(engine) as session:
        try:
            if engine.dialect.name == "postgresql":
                session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            return run_query(query, session)
        finally:
            session.rollback()
