"""Printed labels of the documents: the ``pdf.*`` texts of the catalog (``invoicing.texts``).

Amounts, dates and numbers are formatted with Babel (``view.py``); the words live in the
catalog's ``.po`` files, not here.
"""

from __future__ import annotations

from invoicing.texts import LANGUAGES, formatting, section, text

LOCALES = LANGUAGES

#: Babel locale per document language (defined with the other formats in invoicing.texts)
BABEL_LOCALE = formatting.BABEL_LOCALE

#: Unit names as sent by clients (and UN/ECE rec. 20 codes) -> label key.
UNIT_KEYS = {
    "hours": "unit_hours",
    "hour": "unit_hours",
    "h": "unit_hours",
    "HUR": "unit_hours",
    "day": "unit_day",
    "days": "unit_day",
    "DAY": "unit_day",
    "piece": "unit_piece",
    "pieces": "unit_piece",
    "C62": "unit_piece",
    "H87": "unit_piece",
    "month": "unit_month",
    "months": "unit_month",
    "MON": "unit_month",
    "km": "unit_km",
    "KMT": "unit_km",
    "flat": "unit_flat",
    "LS": "unit_flat",
}


def labels(locale: str) -> dict[str, str]:
    """Every ``pdf.*`` text of ``locale`` (English for other languages), without the prefix."""
    return section("pdf", locale)


def unit_label(unit: str, locale: str) -> str:
    key = UNIT_KEYS.get(unit)
    return text(f"pdf.{key}", locale) if key else unit
