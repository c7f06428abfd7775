"""Decode a message body: size and nesting limits first, then JSON with exact decimals.

Nothing here recurses over the input: the nesting depth is measured on the raw bytes (strings
are skipped and the brackets counted with bytes operations in C) before the JSON parser sees
the body, so a body nested 10,000 deep is refused with a reason instead of
raising ``RecursionError``. ``peek_identity`` reads the top-level ``command_id``,
``organization_id`` and ``type`` (and ``payload.invoice_id``) from bodies that cannot be decoded
at all, so that even those can be answered with an addressed ``command.rejected``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from typing import Any

_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_DELTA = [0] * 256
for _open in b"[{":
    _DELTA[_open] = 1
for _close in b"]}":
    _DELTA[_close] = -1
#: a JSON string (or everything from an unterminated quote to the end: it never fails, so every
#: quote is consumed once, linear on any input) or a structural character
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)|[\[\]{}:,]', re.DOTALL)


@dataclass(frozen=True)
class Limits:
    """What a body may be; set from ``INVOICING_MAX_BODY_BYTES`` / ``INVOICING_MAX_DEPTH``."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32


@dataclass(frozen=True)
class Decoded:
    """A body and the document :func:`decode` made of it, for a later step that would decode
    the same body again (the worker reads a delivery's identity first, the pipeline the whole
    command after it): ``Pipeline.handle_raw(..., decoded=...)`` checks its own limits on the
    body and takes the document instead of decoding it once more."""

    body: bytes
    document: Any


class Undecodable(Exception):
    """The body is not a JSON document the pipeline accepts; ``error`` says why and what to do."""

    def __init__(self, code: str, title: str, detail: str, hint: str, status: str = "400") -> None:
        super().__init__(detail)
        self.error: dict[str, Any] = {
            "status": status,
            "code": code,
            "title": title,
            "detail": detail,
            "source": {"pointer": ""},
            "meta": {"hint": hint},
        }


def as_bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (brackets inside strings ignored).

    Linear, in C, without recursion; on invalid JSON an approximation that never raises and is
    exact for the valid prefix the JSON parser would read. Escapes pair from the left, so after
    dropping escaped backslashes and escaped quotes every quote left opens or closes a string:
    every second piece between quotes is outside of strings."""
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(plain.split(b'"')[::2])
    skeleton = outside.translate(None, _NOT_BRACKETS)
    if not skeleton:
        return 0
    return max(0, max(accumulate(map(_DELTA.__getitem__, skeleton))))


def object_depth(value: Any, limit: int) -> int:
    """Nesting depth of a decoded document (iterative); stops counting above ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children)
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names are unique. With a name twice, parsers disagree on which
    value counts (Python's keeps the last, others the first), so a document read one way by an
    upstream check and another way here -- two "lines" of which the second is empty -- is
    refused rather than guessed (RFC 8259 section 4: names SHOULD be unique)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        names = [name for name, _ in pairs]
        twice = next(name for i, name in enumerate(names) if name in names[:i])
        raise ValueError(f"the member {twice!r} appears twice in one object")
    return members


def check_limits(raw: bytes, limits: Limits) -> None:
    if len(raw) > limits.max_bytes:
        raise Undecodable(
            "body_too_large",
            "Body Too Large",
            f"the message body has {len(raw)} bytes; at most {limits.max_bytes} are accepted",
            "split the work into several commands (an invoice has at most a few thousand lines)",
            status="413",
        )
    if raw.count(b"[") + raw.count(b"{") <= limits.max_depth:
        return  # cannot nest deeper than it has brackets
    depth = nesting_depth(raw)
    if depth > limits.max_depth:
        raise Undecodable(
            "too_deep",
            "Nested Too Deeply",
            f"the message nests arrays and objects {depth} deep; at most {limits.max_depth} "
            "levels are accepted",
            "send the documented command shape (docs/asyncapi.yaml); no command nests deeper "
            "than a few levels",
        )


def decode(raw: bytes | str, limits: Limits) -> Any:
    """The JSON document in ``raw``; every number with a fraction or exponent is an exact
    ``Decimal`` (never a float), ``NaN``/``Infinity`` and a member name twice in one object
    are refused. Raises ``Undecodable``."""
    body = as_bytes(raw)
    check_limits(body, limits)
    try:
        return json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_no_constants,
            object_pairs_hook=_unique_members,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise Undecodable(
            "invalid_json",
            "Invalid JSON",
            f"the message is not JSON: {str(exc)[:200]}",
            "send one JSON object per command, UTF-8 encoded",
        ) from None


# ----------------------------------------------------------------------------- identity

_TOP = frozenset({"command_id", "organization_id", "type", "query_id", "correlation_id"})
_IN_PAYLOAD = frozenset({"invoice_id", "id"})


def _text(token: bytes) -> str | None:
    if len(token) < 2 or not token.endswith(b'"') or len(token) > 300:
        return None
    try:
        value = json.loads(token)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def _tokens(raw: bytes) -> Iterator[bytes]:
    for match in _TOKENS.finditer(raw):
        yield match.group()


def identity_of(doc: Any) -> dict[str, str]:
    """What :func:`peek_identity` reads, from an already decoded document."""
    if not isinstance(doc, dict):
        return {}
    found = {k: v for k in _TOP if isinstance(v := doc.get(k), str) and len(v) <= 300}
    payload = doc.get("payload")
    if isinstance(payload, dict):
        invoice = payload.get("invoice_id")
        if invoice is None and found.get("type", "").endswith("_invoice"):
            invoice = payload.get("id")
        if isinstance(invoice, str) and len(invoice) <= 300:
            found["invoice_id"] = invoice
    return found


def peek_identity(raw: bytes | str, *, max_bytes: int = 1024 * 1024) -> dict[str, str]:
    """Top-level ``command_id``, ``organization_id``, ``type``, ``query_id``, ``correlation_id``
    and ``payload.invoice_id`` (or ``payload.id``) as far as they are plain strings, read from
    the first ``max_bytes`` of any body without decoding it (and without recursion). Never
    raises; a value that is not a string is left out."""
    body = as_bytes(raw)
    if len(body) <= max_bytes:
        try:
            doc = decode(body, Limits(max_bytes=max_bytes))
        except Undecodable:
            pass
        else:
            return identity_of(doc)
    body = body[:max_bytes]
    found: dict[str, str] = {}
    # one entry per open container: its bracket and the key it sits under in its parent
    stack: list[tuple[bytes, str | None]] = []
    key: str | None = None
    expecting_key = False
    for token in _tokens(body):
        first = token[:1]
        if first in (b"{", b"["):
            stack.append((first, key))
            key, expecting_key = None, first == b"{"
        elif first in (b"}", b"]"):
            if stack:
                stack.pop()
            key, expecting_key = None, False
        elif first == b",":
            key, expecting_key = None, bool(stack) and stack[-1][0] == b"{"
        elif first == b":":
            expecting_key = False
        elif expecting_key:
            key, expecting_key = _text(token), False
        elif key is not None:
            depth = len(stack)
            if depth == 1 and key in _TOP:
                value = _text(token)
                if value is not None:
                    found.setdefault(key, value)
            elif depth == 2 and stack[1][1] == "payload" and key in _IN_PAYLOAD:
                value = _text(token)
                if value is not None:
                    found.setdefault(f"payload.{key}", value)
            key = None
    invoice = found.pop("payload.invoice_id", None) or (
        found.get("payload.id") if found.get("type", "").endswith("_invoice") else None
    )
    found.pop("payload.id", None)
    if invoice is not None:
        found["invoice_id"] = invoice
    return found
