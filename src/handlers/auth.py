"""Who may send a command: principals and their grants.

The bus asks an ``Authenticator`` for the principal behind a command (from its credentials and
what the transport verified), then checks the grant for the command's organization and scope.
``LocalOperator`` is used by ``invoicing process``: whoever runs the CLI against the database
already holds every right over it. The broker-facing authenticator lives in invoicing.workers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from invoicing.domain.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    name: str
    #: organization id (or "*") -> scopes
    grants: dict[str, frozenset[str]] = field(default_factory=dict)

    def allows(self, organization_id: uuid.UUID, scope: str) -> bool:
        for key in (str(organization_id), "*"):
            scopes = self.grants.get(key, frozenset())
            if scope in scopes or "*" in scopes:
                return True
        return False


class Authenticator(Protocol):
    def authenticate(
        self, credentials: dict[str, Any] | None, transport: dict[str, Any] | None
    ) -> Principal:
        """Return the principal, or raise Forbidden saying why (missing, invalid, expired)."""
        ...


class LocalOperator:
    """The operator running ``invoicing process`` on the database: every grant."""

    def authenticate(
        self, credentials: dict[str, Any] | None, transport: dict[str, Any] | None
    ) -> Principal:
        return Principal("local-operator", {"*": frozenset({"*"})})


def authorize(principal: Principal, organization_id: uuid.UUID, scope: str) -> None:
    if not principal.allows(organization_id, scope):
        raise Forbidden(
            "forbidden",
            f"{principal.name} has no {scope} grant for organization {organization_id}",
            pointer="/credentials",
            hint="use credentials granted for this organization and scope",
        )
