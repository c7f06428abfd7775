"""``domain.numbering.number_key``: the numbering's order of document numbers (digit runs by
their value, everything else by code point), the key ``invoices.number_key`` stores and
``number`` / ``-number`` sort by; and ``handlers.numbering.set_number`` as the one place that
sets a number, so that no number is ever stored without its key."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import invoicing
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from invoicing.domain.numbering import (
    DEFAULT_PATTERNS,
    NUMBER_KEY_LENGTH,
    NUMBER_LENGTH,
    NumberPattern,
    number_key,
    number_key_of,
)

from tests.support.numbers import natural

#: what numbers are made of: ASCII digits and separators, letters in and beyond ASCII, digits of
#: other scripts (characters here, not digit runs), a tab (the lowest character a text may
#: hold), characters beyond the Basic Multilingual Plane
ALPHABET = "0123456789" + "0000111999" + "-/ ._#AZaz" + "ÄÖÜäöüßÉé" + "٣３\t€😀"
NUMBERS = st.text(alphabet=ALPHABET, max_size=NUMBER_LENGTH)


def test_runs_of_digits_compare_by_their_value() -> None:
    assert number_key("RE-2026-9999") < number_key("RE-2026-10000")
    assert number_key("9/2026") < number_key("10/2026")
    assert number_key("RE-2026-0999") < number_key("RE-2026-1000") < number_key("RE-2026-10000")
    assert number_key("RE-2025-99999") < number_key("RE-2026-1")
    assert number_key("M-2") < number_key("M-10") < number_key("M-10a") < number_key("M-10b")
    assert number_key("0") < number_key("1") < number_key("9") < number_key("10")


def test_everything_else_is_the_text_order() -> None:
    """Without digits the key is the number itself; a digit run stays where a digit sorts."""
    for text in ("RE-A", "GS", "Rechnung Ä", "ÖKO", "", "😀"):
        assert number_key(text) == text
    assert number_key("RE 1") < number_key("RE-1") < number_key("RE/1") < number_key("RE1")
    assert number_key("RE1") < number_key("REA")  # a digit before letters, as in the text
    assert number_key("RE-1") < number_key("RE-1-A")  # a prefix first


def test_leading_zeros_give_a_total_order() -> None:
    """Equal values differ by their leading zeros, run by run, fewer first: distinct numbers
    never share a key, so their order is theirs alone (not their ids')."""
    ordered = ["7", "07", "007", "RE-7-007", "RE-07-7", "RE-07-07", "0", "00"]
    assert sorted(ordered[:3], key=number_key) == ["7", "07", "007"]
    assert sorted(ordered[3:6], key=number_key) == ["RE-7-007", "RE-07-7", "RE-07-07"]
    assert sorted(["00", "0", "1"], key=number_key) == ["0", "00", "1"]
    assert len({number_key(n) for n in ordered}) == len(ordered)


def test_the_keys_are_pinned() -> None:
    """The encoding is stored (``invoices.number_key``, filled by migration 0029_number_key):
    changing it needs a migration that fills the column again."""
    assert number_key("RE-2026-9999") == "RE-042026-049999"
    assert number_key("RE-2026-10000") == "RE-042026-0510000"
    assert number_key("RE-2026-0042") == "RE-042026-0242\x0102"
    assert number_key("10/2026") == "0210/042026"
    assert number_key("007") == "017\x012"
    assert number_key("Ä-٣") == "Ä-٣"
    assert number_key_of(None) is None
    assert number_key_of("7") == "017"


@settings(max_examples=400, deadline=None)
@given(NUMBERS, NUMBERS)
@example("RE-2026-9999", "RE-2026-10000")
@example("7", "07")
@example("RE-1", "RE-1\t")
@example("1", "1\t")
@example("0", "")
def test_the_key_orders_as_the_numbering_does(a: str, b: str) -> None:
    ka, kb = number_key(a), number_key(b)
    assert (ka < kb) == (natural(a) < natural(b))
    assert (ka == kb) == (a == b)  # one key per number: a total order of the numbers
    assert number_key(a) == ka  # the same every time


@settings(max_examples=300, deadline=None)
@given(NUMBERS)
@example("0" + "-1" * 17 + "-")  # 18 runs, one of them a zero: the longest key
@example("0-" * 17 + "00")
@example("9" * 36)
def test_the_key_fits_its_column(number: str) -> None:
    assert len(number_key(number)) <= NUMBER_KEY_LENGTH


def test_the_longest_key_is_the_columns_width() -> None:
    longest = "0" + "-1" * 17 + "-"  # 36 characters, 18 runs, one leading zero
    assert len(longest) == NUMBER_LENGTH
    assert len(number_key(longest)) == NUMBER_KEY_LENGTH == 90


def test_a_run_too_long_to_measure_is_refused() -> None:
    """No stored number has one (36 characters at most); the function says so rather than
    order it wrongly."""
    assert number_key("1" * 99) == "99" + "1" * 99
    with pytest.raises(ValueError, match="too long"):
        number_key("1" * 100)


PATTERNS = [
    *DEFAULT_PATTERNS.values(),
    "RE-{YYYY}-{SEQ:3}",
    "INV-{YYYY}-{SEQ:4}",
    "{SEQ}/{YYYY}",
    "{YYYY}{MM}{SEQ:2}",
    "R{YY}-{MM}-{SEQ}",
    "Rechnung Nr. {SEQ} vom {YYYY}",
    "Fäktür-{YY}/{SEQ:6}",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_is_ordered_by_its_sequence(pattern: str) -> None:
    """Within a period, across every padding width the counter outgrows."""
    p = NumberPattern(pattern)
    day = dt.date(2026, 3, 14)
    seqs = [1, 2, 9, 10, 11, 99, 100, 999, 1000, 9999, 10000, 10001, 99999, 100000, 1234567]
    numbers = [p.format(seq, day) for seq in seqs]
    assert sorted(numbers, key=number_key) == numbers
    if pattern.startswith(("RE-{YYYY}", "INV-{YYYY}", "GS-", "AN-")):  # the year first
        later = [p.format(seq, day.replace(year=2027)) for seq in seqs]
        assert sorted(later + numbers, key=number_key) == numbers + later


def test_without_yearly_reset_too() -> None:
    p = NumberPattern("{SEQ}", yearly_reset=False)
    numbers = [p.format(seq, dt.date(2026, 1, 1)) for seq in (1, 9, 10, 100, 10**9)]
    assert sorted(numbers, key=number_key) == numbers


# ------------------------------------------------------------------- the one place it is set

SRC = Path(invoicing.__file__).parent


def _assigned(node: ast.AST) -> list[ast.Attribute]:
    """The ``x.number`` / ``x.number_key`` attributes an assignment target writes (not an
    object's own ``self.number``: no class of a document sets its own; ``queries.filters``'
    ``FieldAccess.number`` is a custom field's number)."""
    if isinstance(node, ast.Attribute) and node.attr in ("number", "number_key"):
        own = isinstance(node.value, ast.Name) and node.value.id == "self"
        return [] if own else [node]
    if isinstance(node, ast.Tuple | ast.List | ast.Starred):
        elts = [node.value] if isinstance(node, ast.Starred) else node.elts
        return [a for elt in elts for a in _assigned(elt)]
    return []


def _setters(tree: ast.AST) -> list[int]:
    lines: list[int] = []
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "set_number":
            allowed |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in ("number", "number_key")
        ):
            lines.append(node.lineno)
        lines += [a.lineno for t in targets for a in _assigned(t)]
    return [line for line in lines if line not in allowed]


def test_only_set_number_sets_a_number() -> None:
    """A number set anywhere else would be stored without its key (and sort as a draft's)."""
    found = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts
        for line in _setters(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == [], "set the number with handlers.numbering.set_number"


def test_the_guard_sees_an_assignment() -> None:
    tree = ast.parse(
        "inv.number = 'x'\na.number, b = 1, 2\nsetattr(inv, 'number_key', None)\n"
        "def set_number(inv, n):\n    inv.number, inv.number_key = n, n\n"
    )
    assert _setters(tree) == [1, 2, 3]
