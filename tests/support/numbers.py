"""The numbering's order of document numbers spelled out for the tests' oracles, independently
of the stored key's encoding (``domain.numbering.number_key``)."""

from __future__ import annotations

import re

Natural = tuple[list[tuple[int, ...]], list[int]]


def natural(number: str) -> Natural:
    """Tokens compared in turn: a run of ASCII digits as a digit that carries its value (so it
    sits among other characters where a digit does), any other character by its code point;
    then, for numbers of equal value, the leading zeros of each run, fewer first."""
    tokens: list[tuple[int, ...]] = []
    zeros: list[int] = []
    for m in re.finditer(r"[0-9]+|[^0-9]", number):
        token = m.group()
        if token[0] in "0123456789":
            tokens.append((ord("0"), int(token)))
            zeros.append(len(token) - len(token.lstrip("0")))
        else:
            tokens.append((ord(token),))
    return tokens, zeros
