"""Validate a decoded document: the pydantic model of its type, characters no document can
carry, and dates outside a sane window (a typo such as 9999-12-31 would overflow the date
arithmetic of due dates, dunning and DATEV later)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_args, get_origin

from invoicing.pipeline.errors import Rejected, error, from_validation
from invoicing.schemas.common import unwritable_characters
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def model(schema: type[M], doc: Mapping[str, Any]) -> M:
    try:
        return schema.model_validate(doc)
    except ValidationError as exc:
        raise Rejected(from_validation(exc)) from None


#: where, in a UTF-8 JSON body, a string can get a character ``unwritable_characters`` looks
#: for: a ``\u`` escape (any character), a ``\b`` or ``\f`` escape (U+0008, U+000C), or the
#: UTF-8 bytes of U+202A-U+202E, U+2066-U+2069, U+FFFE/U+FFFF and of surrogates (the decoder
#: passes them through). A C0 control cannot stand in a string unescaped (the strict JSON
#: decoder refuses it).
_MAYBE_UNWRITABLE = re.compile(
    rb"\\[ubf]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]|\xef\xbf[\xbe\xbf]|\xed[\xa0-\xbf]"
)


def plainly_writable(body: bytes) -> bool:
    """True when the document decoded from ``body`` cannot hold a character
    :func:`characters` refuses: a UTF-8 body (the JSON decoder's choice for anything without
    a byte order mark or a NUL in its first bytes) with none of the bytes that could make one.
    False only means the decoded document has to be walked."""
    if body[:3] == b"\xef\xbb\xbf" or body[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\0" in body[:4]:
        return False
    if body.isascii() and b"\\" not in body:  # the common body: two scans in C, no regex
        return True
    return _MAYBE_UNWRITABLE.search(body) is None


def characters(doc: Any, *, query: bool = False) -> None:
    """XML 1.0 cannot carry C0 controls (other than tab, LF, CR) or lone surrogates; the
    bidirectional overrides and isolates can disguise text.

    ``query``: ``doc`` is a query, which stores nothing. The same characters are refused:
    what the service stores cannot hold them (its commands refuse them), and a NUL or a lone
    surrogate could not even be sent to the database to compare with."""
    unwritable = unwritable_characters(doc)
    if unwritable:
        detail = (
            "a character the service refuses in everything it stores, so a query cannot ask "
            "for it either"
            if query
            else "a character no invoice document (PDF, e-invoice XML, email) can carry (a "
            "control character or a bidirectional override that can disguise text)"
        )
        raise Rejected(
            [
                error(
                    "422",
                    "invalid_attribute",
                    "Invalid Attribute",
                    f"contains {char}, {detail}",
                    pointer,
                    "remove it; tabs and line breaks (\\n, \\r) are allowed, and so are "
                    "right-to-left text and the marks U+200E/U+200F",
                )
                for pointer, char in unwritable
            ]
        )


def _shift_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class DateWindow:
    """Every date in a command lies from 1 January ``min_year`` to ``years_ahead`` years after
    today (``INVOICING_DATE_MIN_YEAR``, ``INVOICING_DATE_MAX_YEARS_AHEAD``)."""

    min_year: int = 2000
    years_ahead: int = 5

    def bounds(self, today: dt.date) -> tuple[dt.date, dt.date]:
        return dt.date(self.min_year, 1, 1), _shift_years(today, self.years_ahead)

    def check(self, document: BaseModel, today: dt.date) -> None:
        """Raise ``Rejected`` for every date or timestamp in ``document`` outside the window."""
        first, last = self.bounds(today)
        errors = []
        stack: list[tuple[Any, str]] = [(document, "")]
        while stack:
            value, pointer = stack.pop()
            if isinstance(value, BaseModel):
                # only the fields whose type can hold a date (a line of 30 is not walked)
                for name, key in _dated_fields(type(value)):
                    stack.append((getattr(value, name), f"{pointer}/{key}"))
            elif isinstance(value, list | tuple):
                stack.extend((item, f"{pointer}/{i}") for i, item in enumerate(value))
            elif isinstance(value, dict):
                stack.extend((item, f"{pointer}/{_escape(str(k))}") for k, item in value.items())
            elif isinstance(value, dt.date):
                day = value.date() if isinstance(value, dt.datetime) else value
                if not first <= day <= last:
                    errors.append(
                        error(
                            "422",
                            "date_out_of_range",
                            "Invalid Attribute",
                            f"{value.isoformat()} is outside the accepted dates "
                            f"{first.isoformat()} to {last.isoformat()}",
                            pointer,
                            f"send a date from {first.isoformat()} to {last.isoformat()} "
                            "(ISO 8601, e.g. 2026-11-21); check the year for a typo",
                        )
                    )
        if errors:
            raise Rejected(sorted(errors, key=lambda e: str(e["source"]["pointer"])))


def routing_mismatch(ctype: Any, transport: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The error when the transport routed the command by another type than its body names
    (``transport["expected_type"]``: the routing key it was published with)."""
    expected = (transport or {}).get("expected_type")
    if expected is None or expected == ctype:
        return None
    if ctype is None:
        named = "the command has no type"
    elif isinstance(ctype, str):
        named = f"the command's type is {ctype[:100]!r}"
    else:
        named = f"the command's type is {json.dumps(ctype, default=str)[:100]}, not a text"
    return error(
        "422",
        "routing_mismatch",
        "Routing Key Mismatch",
        f"published with routing key {str(expected)[:100]!r}, but {named}; it was not executed",
        "/type",
        "publish every command with its own `type` as the routing key "
        "(the routing key picks the queue, the type picks the handler)",
    )


def _may_hold_date(annotation: Any, seen: set[type]) -> bool:
    """Whether a value of this type can be or contain a date (``Any``: yes)."""
    if annotation is Any or annotation is object:
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, dt.date):
            return True
        if issubclass(annotation, BaseModel):
            if annotation in seen:
                return False  # a cycle: its other fields decide
            seen.add(annotation)
            return any(
                _may_hold_date(info.annotation, seen) for info in annotation.model_fields.values()
            )
        if get_origin(annotation) is None:
            return False
    return any(_may_hold_date(arg, seen) for arg in get_args(annotation) if arg is not ...)


@functools.cache
def _dated_fields(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(attribute, escaped JSON key) of each field of ``model`` that can hold a date."""
    return tuple(
        (name, _escape(info.alias or name))
        for name, info in model.model_fields.items()
        if _may_hold_date(info.annotation, {model})
    )
