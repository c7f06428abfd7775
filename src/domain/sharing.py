"""Share-link rules: how a token is made and stored, when it expires, when it opens a document.

The token is ``secrets.token_urlsafe(32)`` (256 bits); only its SHA-256 is stored, so a stored
value never opens anything by itself. A share opens its document until it is revoked or the
day after ``expires_on`` on the organization's calendar (``web.shares.resolve`` gives the
day).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from invoicing.domain.errors import DomainError

TOKEN_BYTES = 32
#: longer strings are never tokens (token_urlsafe(32) is 43 characters); not even hashed
MAX_TOKEN_LENGTH = 128
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and the SHA-256 that is stored for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def check_expiry(expires_on: dt.date | None, today: dt.date) -> None:
    """A link may expire today at the earliest (it opens through ``expires_on``)."""
    if expires_on is not None and expires_on < today:
        raise DomainError("invalid_attribute", "expires_on is in the past", pointer="/expires_on")


def plausible(token: str) -> bool:
    """Whether a string can be a token at all: 1 to ``MAX_TOKEN_LENGTH`` characters of the
    URL-safe base64 alphabet (what ``token_urlsafe`` makes)."""
    return len(token) <= MAX_TOKEN_LENGTH and _TOKEN.fullmatch(token) is not None


def expired(expires_on: dt.date | None, today: dt.date) -> bool:
    """Whether a share is past its last day (it opens through ``expires_on``)."""
    return expires_on is not None and today > expires_on
