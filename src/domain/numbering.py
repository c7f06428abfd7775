"""Number patterns such as ``RE-{YYYY}-{SEQ:3}``, ``INV-{YYYY}-{SEQ:4}`` or ``{SEQ}/{YYYY}``.

Placeholders: ``{YYYY}`` year, ``{YY}`` two-digit year, ``{MM}`` month, ``{SEQ}`` the sequence
number, ``{SEQ:n}`` zero-padded to at least n digits. Every pattern has exactly one SEQ.
The counter itself lives in the database (one row per organization, series and period, locked
by the finalizing transaction); this module only formats, recognises and orders numbers
(:func:`number_key`, the stored sort key ``invoices.number_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

_TOKEN = re.compile(r"\{(YYYY|YY|MM|SEQ(?::(\d{1,2}))?)\}")
#: a run of ASCII digits (``\d`` would take other scripts' digits too: those stay characters)
_DIGITS = re.compile(r"[0-9]+")
#: numbers are at most 36 characters (``invoices.number``, the commands' schemas)
NUMBER_LENGTH = 36
#: the longest key :func:`number_key` makes of a number of ``NUMBER_LENGTH`` characters: 18
#: digit runs of one digit each (two more characters each), one of them a leading zero (its
#: digit dropped), then the separator and one zero count per run
NUMBER_KEY_LENGTH = NUMBER_LENGTH + 2 * 18 - 1 + 1 + 18
#: before the zero counts: lower than every character a number can hold (C0 controls are
#: refused in every text, ``pipeline.validate``), so a key that ends before another's next
#: character sorts first, as a shorter text does
_ZEROS_FOLLOW = chr(1)


class Series(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    QUOTE = "quote"


#: the series an organization numbers in when it configures none (German: Rechnung,
#: Gutschrift, Angebot); also of every organization configured before the defaults followed the
#: country (its profile has no ``numbering_country``)
DEFAULT_PATTERNS: dict[Series, str] = {
    Series.INVOICE: "RE-{YYYY}-{SEQ:4}",
    Series.CREDIT_NOTE: "GS-{YYYY}-{SEQ:4}",
    Series.QUOTE: "AN-{YYYY}-{SEQ:4}",
}
#: the defaults of other countries (docs/design.md, "Numbers"). Belgium: one set for French and
#: Dutch alike, whatever the documents' language: F (facture / factuur), CN (creditnota, the
#: "credit note" both languages use in trade), OF (offre / offerte)
COUNTRY_PATTERNS: dict[str, dict[Series, str]] = {
    "BE": {
        Series.INVOICE: "F-{YYYY}-{SEQ:4}",
        Series.CREDIT_NOTE: "CN-{YYYY}-{SEQ:4}",
        Series.QUOTE: "OF-{YYYY}-{SEQ:4}",
    },
}


def default_pattern(series: Series, numbering_country: str | None) -> str:
    """The pattern of a series the organization configured none for: its numbering country's
    (``numbering_country``), the German one for a country without its own set and for an
    organization without a numbering country (configured before there was one)."""
    return COUNTRY_PATTERNS.get(numbering_country or "", DEFAULT_PATTERNS)[series]


def numbering_country(previous: str | None, country: str, has_numbered: bool) -> str:
    """Whose default series an organization numbers in, fixed when configure_organization
    stores its profile: its country's until it has taken a number; from the first number on
    the one it numbered with (``previous``; none: the German defaults every organization had
    before), so that a changed country or a new set of defaults never changes a series in use
    (its numbers would change their prefix within a year's counter)."""
    if not has_numbered:
        return country
    return previous or "DE"


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


def number_key(number: str) -> str:
    """The sort key of a document number: the numbering's order ("natural" order).

    Each run of ASCII digits compares by its numeric value (``RE-2026-9999`` before
    ``RE-2026-10000``, ``9/2026`` before ``10/2026``); every other character by its code point,
    as the text did, and a digit run sits among other characters where a digit would (after
    ``-`` and ``/``, before letters). Keys compare by code point as well (PostgreSQL: the
    column's collation is ``C``; SQLite: ``BINARY``), so the key orders alike on both backends.

    A digit run becomes the count of its significant digits (two digits, ``00`` for zero),
    then those digits: ``2026`` -> ``042026``, ``0042`` -> ``0242``, ``10000`` -> ``0510000``.
    The longest possible run has 36 digits, so two digits of length cover it with room to 99
    (a run longer than that raises ``ValueError``; no stored number can have one). Leading
    zeros do not change the value, so ``007`` and ``7`` would tie: the key then ends with
    ``chr(1)`` and the leading zeros of each run, one character each (``chr(48 + count)``), when
    any run has some. Equal values therefore order by their zeros, run by run, fewer first:
    ``7`` < ``07`` < ``007``, ``RE-7-007`` < ``RE-07-7``. Distinct numbers have distinct keys
    (the order is total and a number's alone, not its id's), and at most
    ``NUMBER_KEY_LENGTH`` characters for a number of 36.
    """
    zeros: list[str] = []

    def run(m: re.Match[str]) -> str:
        digits = m.group()
        significant = digits.lstrip("0")
        if len(significant) > 99:
            raise ValueError(f"a number's digit run of {len(digits)} digits is too long to order")
        zeros.append(chr(48 + len(digits) - len(significant)))
        return f"{len(significant):02d}{significant}"

    key = _DIGITS.sub(run, number)
    return key + _ZEROS_FOLLOW + "".join(zeros) if any(z != "0" for z in zeros) else key


def number_key_of(number: str | None) -> str | None:
    """:func:`number_key` of a document's number; None (a draft's) stays None."""
    return None if number is None else number_key(number)
