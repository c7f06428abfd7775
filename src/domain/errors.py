"""Domain errors: what was wrong, where (a JSON pointer), and what to do."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

#: pointers that name the envelope of a message rather than its payload
ENVELOPE = (
    "/payload",
    "/credentials",
    "/type",
    "/command_id",
    "/organization_id",
    "/query_id",
    "/correlation_id",
)


def error_object(
    status: str, code: str, title: str, detail: str, pointer: str, hint: str = ""
) -> dict[str, Any]:
    """``{status, code, title, detail, source: {pointer}, meta: {hint}}``: the one shape of an
    error in events and replies (``invoicing.pipeline.errors`` translates everything to it)."""
    out: dict[str, Any] = {
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "source": {"pointer": pointer},
    }
    if hint:
        out["meta"] = {"hint": hint}
    return out


#: what to do, for an error that does not say it itself (every error object has a hint)
DEFAULT_HINTS = {
    "403": "use credentials granted for this organization and scope",
    "404": "check the id: it must name something of this organization; send the command that "
    "creates it first",
    "409": "the document's state does not allow this: read it (get_invoice) and send a "
    "command that fits its state",
    "422": "correct the value; the schema is in docs/asyncapi.yaml",
}


def default_hint(status: str) -> str:
    return DEFAULT_HINTS.get(status, "see docs/asyncapi.yaml")


@dataclass(frozen=True)
class ErrorDetail:
    """One error in the shape of the seeds' 422 bodies."""

    code: str
    detail: str
    pointer: str = ""
    status: str = "422"
    title: str = ""
    hint: str = ""

    def as_json(self, prefix: str = "/payload") -> dict[str, Any]:
        """The error object; the pointer is relative to ``prefix`` (the payload) unless it
        names the envelope."""
        pointer = self.pointer if self.pointer.startswith(ENVELOPE) else f"{prefix}{self.pointer}"
        title = self.title or "Invalid Attribute"
        return error_object(self.status, self.code, title, self.detail, pointer, self.hint)


class DomainError(Exception):
    """A business-rule or validation failure: the command is rejected and nothing changes.

    ``pointer`` is relative to the command's payload (``/lines/2/quantity``); the bus prefixes
    ``/payload`` when it builds the ``command.rejected`` event.
    """

    status = "422"
    title = "Invalid Attribute"

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        pointer: str = "",
        hint: str = "",
        status: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.errors = [
            ErrorDetail(
                code=code,
                detail=detail,
                pointer=pointer,
                status=status or self.status,
                title=title or self.title,
                hint=hint,
            )
        ]

    @classmethod
    def many(cls, errors: list[ErrorDetail]) -> DomainError:
        exc = cls(errors[0].code, errors[0].detail, pointer=errors[0].pointer)
        exc.errors = list(errors)
        return exc

    def repointed(self, prefix: str, to: str) -> DomainError:
        """The same errors, those pointing at or under ``prefix`` pointing at ``to`` instead
        (a rule checked on a document that the command's own field made fail)."""

        def moved(pointer: str) -> str:
            return to if pointer == prefix or pointer.startswith(prefix + "/") else pointer

        out = DomainError.many([replace(e, pointer=moved(e.pointer)) for e in self.errors])
        out.status, out.title = self.status, self.title
        return out


class InvalidState(DomainError):
    """The document is in a state that forbids the command (editing a finalized invoice...)."""

    status = "409"
    title = "Invalid State"


class NotFound(DomainError):
    """The referenced object does not exist in this organization (yet).

    Workers retry these for a bounded time, because commands can arrive out of order.
    """

    status = "404"
    title = "Not Found"


class Forbidden(DomainError):
    status = "403"
    title = "Forbidden"


class Conflict(DomainError):
    status = "409"
    title = "Conflict"


class ServiceUnavailable(Exception):
    """An outside service (the mail server) cannot be reached right now.

    Not a rejection and not a bug. Email is sent by delivery steps after the commit: there the
    job is put back with capped backoff for up to ``INVOICING_RETRY_UNAVAILABLE_S``, then it
    fails with ``invoice.delivery_failed``. Should a command raise it, the worker re-publishes
    the command to the delay queues for as long, then dead-letters it for an operator.
    """
