"""Number patterns such as ``RE-{YYYY}-{SEQ:3}``, ``INV-{YYYY}-{SEQ:4}`` or ``{SEQ}/{YYYY}``.

Placeholders: ``{YYYY}`` year, ``{YY}`` two-digit year, ``{MM}`` month, ``{SEQ}`` the sequence
number, ``{SEQ:n}`` zero-padded to at least n digits. Every pattern has exactly one SEQ.
The counter itself lives in the database (one row per organization, series and period, locked
by the finalizing transaction); this module only formats and recognises numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

_TOKEN = re.compile(r"\{(YYYY|YY|MM|SEQ(?::(\d{1,2}))?)\}")


class Series(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    QUOTE = "quote"


DEFAULT_PATTERNS: dict[Series, str] = {
    Series.INVOICE: "RE-{YYYY}-{SEQ:4}",
    Series.CREDIT_NOTE: "GS-{YYYY}-{SEQ:4}",
    Series.QUOTE: "AN-{YYYY}-{SEQ:4}",
}


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class NumberPattern:
    pattern: str
    yearly_reset: bool = True

    def __post_init__(self) -> None:
        seqs = [m for m in _TOKEN.finditer(self.pattern) if m.group(1).startswith("SEQ")]
        if len(seqs) != 1:
            raise PatternError(
                f"pattern {self.pattern!r} must contain exactly one {{SEQ}} or {{SEQ:n}}"
            )
        leftover = _TOKEN.sub("", self.pattern)
        if "{" in leftover or "}" in leftover:
            raise PatternError(
                f"pattern {self.pattern!r} has an unknown placeholder; "
                "use {YYYY}, {YY}, {MM}, {SEQ} or {SEQ:n}"
            )
        if len(self.pattern) > 30:
            raise PatternError("a pattern must be at most 30 characters")
        if self.yearly_reset and "{YYYY}" not in self.pattern and "{YY}" not in self.pattern:
            raise PatternError(
                f"pattern {self.pattern!r} restarts yearly but has no {{YYYY}} or {{YY}}: "
                "numbers of different years would collide"
            )

    def period(self, on: date) -> str:
        """The counter's period key: the year when the series restarts yearly, else ''."""
        return str(on.year) if self.yearly_reset else ""

    def format(self, seq: int, on: date) -> str:
        def sub(m: re.Match[str]) -> str:
            token = m.group(1)
            if token == "YYYY":
                return f"{on.year:04d}"
            if token == "YY":
                return f"{on.year % 100:02d}"
            if token == "MM":
                return f"{on.month:02d}"
            width = int(m.group(2) or 1)
            return f"{seq:0{width}d}"

        return _TOKEN.sub(sub, self.pattern)

    def regex(self) -> re.Pattern[str]:
        """A regex matching every number this pattern can produce."""
        out: list[str] = []
        pos = 0
        for m in _TOKEN.finditer(self.pattern):
            out.append(re.escape(self.pattern[pos : m.start()]))
            token = m.group(1)
            if token == "YYYY":
                out.append(r"\d{4}")
            elif token in ("YY", "MM"):
                out.append(r"\d{2}")
            else:
                out.append(r"\d{%d,}" % int(m.group(2) or 1))
            pos = m.end()
        out.append(re.escape(self.pattern[pos:]))
        return re.compile("".join(out))

    def could_produce(self, number: str) -> bool:
        return self.regex().fullmatch(number) is not None
