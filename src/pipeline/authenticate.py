"""Authenticate (required, failing closed) and authorize a message.

The pipeline asks an ``Authenticator`` for the principal behind a message (from its credentials
and what the transport verified), then checks the grant for the message's organization and
scope. There is no default: every pipeline is built (``invoicing.bootstrap``) with one.

* ``TokenOrUserAuthenticator`` (the workers): ``credentials.token`` in the body -- a JWT signed
  with HS256 and the secret ``INVOICING_JWT_SECRET``; required claims ``sub`` and ``exp``, and
  ``orgs``: an object mapping organization ids (or ``"*"``) to scopes (``invoices:read``,
  ``invoices:write``, ``organizations:admin``)::

      {"sub": "billing-service", "exp": 1893456000,
       "orgs": {"11111111-1111-4111-8111-111111111111": ["invoices:write"]}}

  A token verified once is kept (up to ``TOKEN_CACHE_SIZE``, keyed by the whole signed token,
  so only a token that was verified can hit): a sender's later commands with the same token
  skip the HMAC and the claims parsing, and only its expiry is checked again on every use
  (the same ``exp`` + leeway test PyJWT makes). A worker verifies each token once, not once
  per command.

  Without credentials the transport's ``user_id`` is used: RabbitMQ refuses a message whose
  user_id differs from the connection's user, so the broker has verified it;
  ``INVOICING_AMQP_USER_GRANTS`` maps users to the same organization -> scopes grants. Anything
  else is rejected (``Forbidden``): missing, invalid, expired or insufficient credentials.
* ``LocalOperator``: whoever runs ``invoicing process`` or ``invoicing query`` on the database
  already holds every right over it; only ``bootstrap.local`` hands it out.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from invoicing.domain.errors import Forbidden

SCOPES = frozenset({"invoices:read", "invoices:write", "organizations:admin"})


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
        self, credentials: Mapping[str, Any] | None, transport: Mapping[str, Any] | None
    ) -> Principal:
        """Return the principal, or raise Forbidden saying why (missing, invalid, expired)."""
        ...


class LocalOperator:
    """The operator running ``invoicing process`` on the database: every grant."""

    def authenticate(
        self, credentials: Mapping[str, Any] | None, transport: Mapping[str, Any] | None
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


def _grants(raw: Any, where: str) -> dict[str, frozenset[str]]:
    if not isinstance(raw, dict):
        raise Forbidden(
            "invalid_credentials",
            f"{where} must map organizations to scopes",
            pointer="/credentials",
        )
    out: dict[str, frozenset[str]] = {}
    for org, scopes in raw.items():
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise Forbidden(
                "invalid_credentials",
                f"{where}[{org}] must be a list of scopes",
                pointer="/credentials",
            )
        out[str(org)] = frozenset(s for s in scopes if s in SCOPES)
    return out


class TokenOrUserAuthenticator:
    """The broker-facing authenticator used by the workers."""

    #: verified tokens kept; the oldest is dropped first when full
    TOKEN_CACHE_SIZE = 1024

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = "",
        leeway_s: int = 30,
        user_grants: dict[str, dict[str, list[str]]] | None = None,
    ) -> None:
        self.secret = secret
        self.issuer = issuer
        self.leeway_s = leeway_s
        self.user_grants = {u: _grants(g, f"grants of {u}") for u, g in (user_grants or {}).items()}
        #: token -> (its principal, the time after which it is expired: ``exp`` + leeway)
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._verified_lock = threading.Lock()

    def authenticate(
        self, credentials: Mapping[str, Any] | None, transport: Mapping[str, Any] | None
    ) -> Principal:
        token = credentials.get("token") if credentials else None
        if isinstance(token, str) and token:
            return self._from_token(token)
        user = (transport or {}).get("user_id")
        if isinstance(user, str) and user in self.user_grants:
            return Principal(f"amqp:{user}", self.user_grants[user])
        raise Forbidden(
            "missing_credentials",
            "the message carries no credentials (commands and queries both need them)",
            pointer="/credentials",
            hint='add "credentials": {"token": "<signed token>"}',
        )

    def _from_token(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._verify(token)  # an expired one raises here, as it did first
        with self._verified_lock:
            if len(self._verified) >= self.TOKEN_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The principal of a token PyJWT accepts, and when it expires (``exp`` + leeway)."""
        if not self.secret:
            raise Forbidden(
                "invalid_credentials",
                "token authentication is not configured",
                pointer="/credentials/token",
            )
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                leeway=self.leeway_s,
                issuer=self.issuer or None,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Forbidden(
                "expired_credentials",
                "the token has expired",
                pointer="/credentials/token",
                hint="request a fresh token",
            ) from None
        except jwt.InvalidTokenError as exc:
            raise Forbidden(
                "invalid_credentials",
                f"the token is not valid: {exc}",
                pointer="/credentials/token",
            ) from None
        principal = Principal(f"token:{claims['sub']}", _grants(claims.get("orgs", {}), "orgs"))
        return principal, float(int(claims["exp"]) + self.leeway_s)  # PyJWT: int(exp)


def issue_token(
    secret: str,
    subject: str,
    orgs: dict[str, list[str]],
    *,
    ttl_s: int = 3600,
    issuer: str = "",
) -> str:
    """Mint a token (for operators' tooling and tests)."""
    claims: dict[str, Any] = {
        "sub": subject,
        "orgs": orgs,
        "exp": int(time.time()) + ttl_s,
        "iat": int(time.time()),
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


def authenticate(
    authenticator: Authenticator,
    doc: Mapping[str, Any],
    transport: Mapping[str, Any] | None,
    organization_id: uuid.UUID,
    scope: str,
) -> Principal:
    """The pipeline step: who sent ``doc``, and may they act on ``organization_id`` with
    ``scope``? Raises ``Forbidden`` (pointer ``/credentials``) otherwise."""
    credentials = doc.get("credentials")
    try:
        principal = authenticator.authenticate(
            credentials if isinstance(credentials, Mapping) else None, transport
        )
    except Forbidden as exc:
        malformed = _malformed(credentials)
        if malformed is None or exc.errors[0].code != "missing_credentials":
            raise
        raise malformed from None
    authorize(principal, organization_id, scope)
    return principal


def _malformed(credentials: Any) -> Forbidden | None:
    """What is wrong with credentials that were sent but carry no usable token: the sender
    did send some, so "the command carries no credentials" would mislead."""
    example = 'send "credentials": {"token": "<signed token>"}'
    if credentials is None:
        return None
    if not isinstance(credentials, Mapping):
        return Forbidden(
            "invalid_credentials",
            "credentials must be an object holding the token",
            pointer="/credentials",
            hint=example,
        )
    if "token" in credentials:
        return Forbidden(
            "invalid_credentials",
            "the token must be a non-empty text (the signed token)",
            pointer="/credentials/token",
            hint=example,
        )
    return None
