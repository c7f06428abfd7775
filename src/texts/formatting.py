"""Numbers, money and dates for people, per document language (Babel, CLDR patterns).

Money prints with exactly the currency's ISO 4217 minor units (``domain.money.minor_units``):
Babel's own currency digits come from CLDR, which differs for some currencies (HUF, IDR, COP,
IQD: 0 in CLDR), so the locale's currency pattern is used with the ISO fraction digits.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Final

from babel import Locale
from babel.numbers import NumberPattern, get_currency_symbol, parse_pattern
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


def _format(value: Decimal, currency: str, lang: str, digits: int) -> str:
    # what babel.numbers.format_currency(value, currency, format=pattern_text(...), locale=...,
    # currency_digits=False) does, without parsing the pattern again on every call
    return str(
        _pattern(lang, digits, currency).apply(
            value, babel_locale(lang), currency=currency, currency_digits=False
        )
    )


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


__all__ = ["BABEL_LOCALE", "babel_locale", "money", "price"]
