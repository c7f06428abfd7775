"""The event types the code can emit are the contract's, both ways, read from the source.

tests/conftest.py checks every event the tests make against ``EVENT_DATA``, so an event type
missing from the contract shows only where a test happens to emit it; and nothing found a type
in the contract that no code emits any more. Here every call of an event builder (``Event``,
``LateEvent``, ``invoice_event``, ``settled_events``, ``credit_event``, ... : a callable whose
name holds "event") with a literal ``"<noun>.<verb>"`` type in ``src/`` (outside the schemas)
is read from the syntax tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from invoicing.schemas.events import EVENT_TYPES

SRC = Path(__file__).resolve().parents[2] / "src"
TYPE = re.compile(r"[a-z_]+\.[a-z_]+")


def _emitted() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if "schemas" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first, func = node.args[0], node.func
            name = getattr(func, "id", None) or getattr(func, "attr", "")
            if (
                "event" in name.lower()
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and TYPE.fullmatch(first.value)
            ):
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                found.setdefault(first.value, []).append(where)
    return found


def test_every_event_type_the_code_emits_is_in_the_contract_and_back() -> None:
    emitted = _emitted()
    assert len(emitted) > 40
    unknown = {t: w for t, w in emitted.items() if t not in EVENT_TYPES}
    assert unknown == {}, "emitted but not in EVENT_TYPES (and so not in docs/asyncapi.yaml)"
    never = [t for t in EVENT_TYPES if t not in emitted]
    assert never == [], "in the contract but emitted nowhere in src/"
