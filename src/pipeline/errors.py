"""The one error translator: every rejection (command or query) as ``{status, code, title,
detail, source: {pointer}, meta: {hint}}`` -- what was wrong, where, and what to do."""

from __future__ import annotations

import json
import re
from typing import Any

from invoicing.domain.errors import DomainError, default_hint, error_object
from pydantic import ValidationError

#: pydantic adds the branch of a union (``str``, ``list[...]``) to an error's location
_UNION_BRANCH = re.compile(r"^(str|int|bool|float|decimal|none)$|\[")

_MESSAGES = {
    "missing": "can't be blank",
    "extra_forbidden": "is not a known attribute",
}


class Rejected(Exception):
    """A message the pipeline refuses; ``errors`` are the translated error objects."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("detail")) for e in errors))
        self.errors = errors


#: the one error shape (defined beside ``ErrorDetail``, so that handlers can use it too)
error = error_object


def from_domain(exc: DomainError, prefix: str = "/payload") -> list[dict[str, Any]]:
    """A domain error's objects; pointers are relative to the payload unless they name the
    envelope; every one says what to do (``meta.hint``)."""
    out = []
    for e in exc.errors:
        item = e.as_json(prefix)
        if "meta" not in item:
            item["meta"] = {"hint": default_hint(e.status)}
        out.append(item)
    return out


def hint(kind: str, ctx: dict[str, Any], field: str) -> str:
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
        return "remove it: the message's fields are in docs/asyncapi.yaml"
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
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "send a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "send true or false"
    if kind in ("string_type", "string_pattern_mismatch"):
        return "send a string in the documented format (docs/asyncapi.yaml)"
    return "correct the value; the schema is in docs/asyncapi.yaml"


def from_validation(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors, each with a JSON pointer into the message and a hint."""
    out = []
    for err in exc.errors(include_url=False):
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
        # the location of a model-level check ends in the model; unions add their branch
        parts = [str(part) for part in err["loc"] if not _UNION_BRANCH.search(str(part))]
        field = parts[-1] if parts else "the document"
        hint_field = "decimal" if "decimal" in detail or "binary float" in detail else field
        advice = hint(kind, ctx, hint_field)
        code = "invalid_attribute"
        if kind == "list_type" and isinstance(err.get("input"), str | int | float | bool):
            # a single value where a list goes (``"status": "open"``): the list it meant
            advice = f"send a JSON array, e.g. [{_short_json(err['input'])}]"
        elif "code" in ctx and "hint" in ctx:  # a domain rule checked in validation
            code, advice = str(ctx["code"]), str(ctx["hint"])
        out.append(
            error(
                "422",
                code,
                "Invalid Attribute",
                detail,
                "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts),
                advice,
            )
        )
    return out


def _short_json(value: str | int | float | bool) -> str:
    """``value`` as JSON, a long string cut (the hint echoes what was sent)."""
    if isinstance(value, str):
        return json.dumps(value[:40] + ("…" if len(value) > 40 else ""), ensure_ascii=False)
    return json.dumps(value)
