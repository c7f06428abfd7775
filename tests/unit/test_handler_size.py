"""Handlers orchestrate, the domain decides: every ``@handles`` function stays short.

A handler loads, calls domain functions (``invoicing.domain``), saves and returns events; rules
live in the domain and are unit-tested there. This test fails when a handler grows beyond
``LIMIT`` lines (from ``def`` to its last line, docstring and comments included).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import invoicing.handlers  # noqa: F401  (registers every handler)
from invoicing.handlers.registry import HANDLERS

LIMIT = 35

#: Handlers still longer than LIMIT, with the length they may not exceed. Each is owned by
#: work in progress elsewhere; shrink it (move its rules into src/domain/), then delete its
#: line here. An entry that is no longer needed fails the test too, so the list only shrinks.
ALLOWED: dict[str, int] = {}


def handler_lengths() -> dict[str, tuple[int, str]]:
    """name -> (lines from ``def`` to the end, file:line) of every registered handler."""
    lengths: dict[str, tuple[int, str]] = {}
    trees: dict[Path, ast.Module] = {}
    for fn in HANDLERS.values():
        path = Path(inspect.getsourcefile(fn) or "")
        tree = trees.setdefault(path, ast.parse(path.read_text(encoding="utf-8")))
        (node,) = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == fn.__name__
        ]
        assert node.end_lineno is not None
        lengths[fn.__name__] = (node.end_lineno - node.lineno + 1, f"{path.name}:{node.lineno}")
    return lengths


def test_every_command_has_a_handler_that_is_measured() -> None:
    lengths = handler_lengths()
    assert len(lengths) == len(HANDLERS) >= 30


def test_handlers_are_short() -> None:
    too_long = {
        name: f"{where}: {n} lines"
        for name, (n, where) in handler_lengths().items()
        if n > ALLOWED.get(name, LIMIT)
    }
    assert not too_long, (
        f"handlers longer than {LIMIT} lines (move rules into src/domain/, loading and "
        f"saving into repository helpers): {too_long}"
    )


def test_the_allow_list_only_shrinks() -> None:
    lengths = handler_lengths()
    stale = [
        name for name, _ in ALLOWED.items() if name not in lengths or lengths[name][0] <= LIMIT
    ]
    assert not stale, f"these handlers are short now or gone; delete them from ALLOWED: {stale}"
