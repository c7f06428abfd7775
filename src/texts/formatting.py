"""Numbers, money and dates for people, per document language (Babel, CLDR patterns).

Money prints with exactly the currency's ISO 4217 minor units (``domain.money.minor_units``):
Babel's own currency digits come from CLDR, which differs for some currencies (HUF, IDR, COP,
IQD: 0 in CLDR), so the locale's currency pattern is used with the ISO fraction digits.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    NumberPattern,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    parse_pattern,
)
from invoicing.domain.money import minor_units, round_money

#: Babel locale per document language (Belgian French/Dutch conventions).
BABEL_LOCALE: Final = {"de": "de_DE", "en": "en_GB", "fr": "fr_BE", "nl": "nl_BE"}


@functools.cache
def babel_locale(lang: str) -> Locale:
    """Parsed once per process (Babel parses a locale given by name on every call)."""
    return Locale.parse(BABEL_LOCALE.get(lang, "en_GB"))


@functools.cache
def pattern_text(lang: str, digits: int) -> str:
    """The locale's currency pattern with exactly ``digits`` fraction digits."""
    pattern = str(babel_locale(lang).currency_formats["standard"].pattern)
    fraction = "0" + ("." + "0" * digits if digits else "")
    parts = pattern.split(";")
    return ";".join(re.sub(r"0(\.0+)?(?![0-9])", fraction, part, count=1) for part in parts)


@functools.cache
def _pattern(lang: str, digits: int, currency: str) -> NumberPattern:
    """:func:`pattern_text` parsed once, with the currency's symbol already in place.

    Babel's ``NumberPattern.apply`` looks up the currency's display name for every call
    (half the cost of formatting an amount), even where the pattern shows only its symbol;
    with the symbol written into the pattern as quoted literal text, that lookup never runs.
    Patterns with the code or name (``¤¤``, ``¤¤¤``) or symbols that pattern syntax could
    misread are left as they are. tests/unit/test_currency_units.py compares the result with
    ``babel.numbers.format_currency`` for every ISO 4217 currency in every language."""
    text = pattern_text(lang, digits)
    symbol = str(get_currency_symbol(currency, babel_locale(lang)))
    if "¤¤" not in text and not set(symbol) & set("';%‰¤"):
        text = text.replace("¤", f"'{symbol}'")
    return parse_pattern(text)


_QUOTED = re.compile(r"'([^']*)'")
_NUMBER = "\x00"  # where the number goes between prefix and suffix (never in a pattern)


@dataclass(frozen=True)
class _Plain:
    """A number pattern with its locale's symbols, for patterns that only place a number
    between literal text (no currency sign left, no scientific notation or significant
    digits, no scaling; decimal and group symbols without quotes). For those it does what
    ``NumberPattern.apply`` does (babel 2.x, numbering system ``latn``), step for step, without
    looking up the locale's symbols and the quantum again for every amount: babel's own steps
    took ~20 us per amount, a 3-line invoice prints ~30 of them. Anything else goes to
    ``apply``; tests/unit/test_currency_units.py compares both for every currency, language
    and a range of values."""

    pattern: NumberPattern
    locale: Locale
    prefix: tuple[str, str]
    suffix: tuple[str, str]
    group: str
    decimal: str

    def apply(self, value: Decimal, *, quantize: bool = True) -> str:
        if not value.is_finite():
            return str(self.pattern.apply(value, self.locale, decimal_quantization=quantize))
        negative = int(value.is_signed())
        value = abs(value).normalize()
        low, high = self.pattern.frac_prec
        if not quantize:  # babel: the precision of the number where it has more
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent < 0:
                high = max(high, -exponent)
        whole, _, fraction = f"{value.quantize(Decimal(10) ** -high):f}".partition(".")
        if len(whole) < self.pattern.int_prec[0]:
            whole = "0" * (self.pattern.int_prec[0] - len(whole)) + whole
        size, grouped = self.pattern.grouping[0], ""
        while len(whole) > size:
            grouped = self.group + whole[-size:] + grouped
            whole = whole[:-size]
            size = self.pattern.grouping[1]
        number = whole + grouped
        fraction = fraction or "0"
        if len(fraction) < low:
            fraction += "0" * (low - len(fraction))
        if not (high == 0 or (low == 0 and int(fraction) == 0)):
            while len(fraction) > low and fraction[-1] == "0":
                fraction = fraction[:-1]
            number += self.decimal + fraction
        return self.prefix[negative] + number + self.suffix[negative]


@functools.cache
def _plain(pattern: NumberPattern, lang: str) -> _Plain | None:
    locale = babel_locale(lang)
    group = str(get_group_symbol(locale, numbering_system="latn"))
    decimal = str(get_decimal_symbol(locale, numbering_system="latn"))
    affixes = "".join((*pattern.prefix, *pattern.suffix))
    if (
        pattern.scale
        or pattern.exp_prec
        or "@" in pattern.pattern
        or pattern.number_pattern == ""
        or "¤" in affixes
        or _NUMBER in affixes
        or "'" in group + decimal
        or not all(pattern.grouping)
    ):
        return None

    def unquoted(negative: int) -> tuple[str, str]:
        # babel removes the quotes from prefix + number + suffix; a number has no quote, so
        # the same happens around a placeholder
        text = pattern.prefix[negative] + _NUMBER + pattern.suffix[negative]
        before, after = _QUOTED.sub(lambda m: m.group(1) or "'", text).split(_NUMBER)
        return before, after

    (pos_prefix, pos_suffix), (neg_prefix, neg_suffix) = unquoted(0), unquoted(1)
    return _Plain(
        pattern, locale, (pos_prefix, neg_prefix), (pos_suffix, neg_suffix), group, decimal
    )


def _format(value: Decimal, currency: str, lang: str, digits: int) -> str:
    # what babel.numbers.format_currency(value, currency, format=pattern_text(...), locale=...,
    # currency_digits=False) does, without parsing the pattern again on every call
    pattern = _pattern(lang, digits, currency)
    plain = _plain(pattern, lang)
    if plain is not None:
        return plain.apply(value)
    return str(pattern.apply(value, babel_locale(lang), currency=currency, currency_digits=False))


@functools.cache
def _decimal_pattern(lang: str) -> NumberPattern:
    return parse_pattern(babel_locale(lang).decimal_formats[None])


def decimal(value: Decimal, lang: str) -> str:
    """A number with the language's decimal pattern, every decimal it has kept: what
    ``babel.numbers.format_decimal(value, locale=..., decimal_quantization=False)`` gives."""
    pattern = _decimal_pattern(lang)
    plain = _plain(pattern, lang)
    if plain is not None:
        return plain.apply(value, quantize=False)
    return str(pattern.apply(value, babel_locale(lang), decimal_quantization=False))


def money(value: Decimal, currency: str, lang: str) -> str:
    """An amount rounded (half up) to the currency's ISO 4217 minor units."""
    digits = minor_units(currency)
    return _format(round_money(value, currency), currency, lang, digits)


def price(value: Decimal, currency: str, lang: str) -> str:
    """A unit price exactly as entered: the currency's minor units at least, and every further
    decimal the price has (0.335 EUR -> 0,335 €; 12.3455 KWD -> 12,3455 KWD)."""
    exponent = value.normalize().as_tuple().exponent
    extra = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return _format(value, currency, lang, max(minor_units(currency), extra))


def date(value: dt.date, lang: str) -> str:
    """A date as the documents of ``lang`` write it (de 04.12.2026, en 4 Dec 2026, fr
    4 déc. 2026, nl 4 dec 2026): Babel's medium format, as the PDF prints it."""
    return str(format_date(value, format="medium", locale=babel_locale(lang)))


__all__ = ["BABEL_LOCALE", "babel_locale", "date", "decimal", "money", "price"]
