"""The event contract held to the code: every event the in-process pipeline writes is checked
against its ``data`` model (``invoicing.schemas.event_data.EVENT_DATA``).

An event matches when its data validates and carries no member the model does not declare, at
any depth (members typed ``dict[str, Any]`` -- a configuration echoed, ``custom_fields``,
``meta`` -- are data, free). ``install`` wraps the CloudEvent builder where the pipeline calls
it (the outbox, and the rejection of an unaddressable command); tests/conftest.py fails the
test in which an event did not match, naming its type and the JSON pointer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from invoicing.handlers.registry import LateEvent
from invoicing.schemas.event_data import EVENT_DATA
from pydantic import BaseModel, ValidationError

#: where the pipeline builds its CloudEvents (module, name)
BUILDERS = (
    ("invoicing.pipeline.outbox", "cloud_event"),
    ("invoicing.pipeline.core", "cloud_event"),
)


def _pointer(parts: tuple[Any, ...] | list[Any], root: str = "/data") -> str:
    return root + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _undeclared(given: Any, read: Any, path: list[Any], root: str = "/data") -> Iterator[str]:
    """The members of ``given`` that reading it with the model dropped (``read``: the model's
    dump of it, members set only)."""
    if isinstance(given, dict) and isinstance(read, dict):
        for key, value in given.items():
            if key not in read:
                yield _pointer([*path, key], root)
            else:
                yield from _undeclared(value, read[key], [*path, key], root)
    elif isinstance(given, list) and isinstance(read, list):
        for i, (value, back) in enumerate(zip(given, read, strict=False)):
            yield from _undeclared(value, back, [*path, i], root)


def _against(model: type[BaseModel], data: Any, label: str, root: str) -> list[str]:
    """``data`` read with ``model``: what fails to validate, and every member it does not
    declare, by JSON pointer below ``root`` (empty: it matches)."""
    try:
        read = model.model_validate(data)
    except ValidationError as exc:
        return [
            f"{label} {_pointer(list(e['loc']), root)}: {e['msg']} (given {e.get('input')!r:.80})"
            for e in exc.errors()
        ]
    dumped = read.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return [
        f"{label} {p}: a member {model.__name__} does not declare"
        for p in _undeclared(data, dumped, [], root)
    ]


def mismatches(event: dict[str, Any]) -> list[str]:
    """What is wrong with ``event`` against its data model (empty: it matches)."""
    etype = event.get("type")
    model = EVENT_DATA.get(str(etype))
    if model is None:
        return [f"{etype}: not an event type of EVENT_DATA"]
    return _against(model, event.get("data"), str(etype), "/data")


def reply_mismatches(reply: dict[str, Any]) -> list[str]:
    """What is wrong with a query ``reply`` against the contract: the ``QueryReply`` envelope
    and, when its status is ok, its ``result`` against the query type's result model
    (``RESULT_TYPES``), members undeclared at any depth included (empty: it matches)."""
    from invoicing.schemas.documents import RESULT_TYPES  # with get_document's results
    from invoicing.schemas.queries import QueryReply

    qtype = reply.get("type")
    try:
        QueryReply.model_validate(reply)
    except ValidationError as exc:
        return [
            f"reply to {qtype} /{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        ]
    if reply.get("status") != "ok":
        return []
    model = RESULT_TYPES.get(str(qtype))
    if model is None:
        return [f"reply to {qtype}: not a query type of RESULT_TYPES"]
    return _against(model, reply.get("result"), f"reply to {qtype}", "/result")


class Recorder:
    """Collects the mismatches of the events built since the last ``take``."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.checked = 0
        self.seconds = 0.0  # spent checking (the check's cost, tests/conftest.py reports it)

    def wrap(self, build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def checked(*args: Any, **kwargs: Any) -> dict[str, Any]:
            event = build(*args, **kwargs)
            if args and isinstance(args[0], LateEvent):
                return event  # a placeholder: its completed event is built (and checked) later
            start = time.perf_counter()
            self.found += mismatches(event)
            self.seconds += time.perf_counter() - start
            self.checked += 1
            return event

        checked.__wrapped__ = build  # type: ignore[attr-defined]
        return checked

    def wrap_answer(self, answer: Callable[..., Any]) -> Callable[..., Any]:
        """``Pipeline.answer_document`` checked: an ok reply's result is the model the
        contract names for its query type (``RESULT_TYPES``, the AsyncAPI's ``x-result``)."""
        from invoicing.schemas.documents import RESULT_TYPES

        def checked(*args: Any, **kwargs: Any) -> Any:
            reply = answer(*args, **kwargs)
            if reply.result is not None:
                qtype = reply.envelope.get("type")
                named = RESULT_TYPES.get(str(qtype))
                if type(reply.result) is not named:
                    got = type(reply.result).__name__
                    want = named.__name__ if named else "nothing (not in RESULT_TYPES)"
                    self.found.append(f"reply to {qtype}: result {got}, the contract says {want}")
            return reply

        checked.__wrapped__ = answer  # type: ignore[attr-defined]
        return checked

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found
