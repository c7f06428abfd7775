"""The one catalog of customer-facing texts, in de, en, fr and nl (gettext through Babel).

Every text a customer or their accountant reads comes from here: PDF labels (``pdf.*``),
legal notes (``legal.*``), e-invoice notes (``einvoice.*``), email and dunning texts
(``mail.*``, ``dunning.*``) and DATEV booking texts (``datev.*``). The message ids are
symbolic keys; each language's ``locales/<lang>/LC_MESSAGES/invoicing.po`` holds the wording,
and the committed ``invoicing.mo`` is its compiled form (``python -m invoicing.texts.compile``
after editing a ``.po``; tests/unit/test_texts_catalog.py fails while an ``.mo`` is stale or a
key is missing in a language).

``text(key, lang, **values)`` formats with ``str.format`` placeholders (``{number}``). A key
that does not exist is an error (``KeyError``), never the key printed on paper.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Final

LANGUAGES: Final = ("de", "en", "fr", "nl")
DEFAULT_LANGUAGE: Final = "en"
DOMAIN: Final = "invoicing"
LOCALES: Final = Path(__file__).parent / "locales"


def language(lang: str | None) -> str:
    """``lang`` if the catalog has it, else English."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def catalog(lang: str) -> Mapping[str, str]:
    """Every key of ``lang`` -> its text (read once per process from the compiled catalog)."""
    from babel.messages.mofile import read_mo

    path = LOCALES / language(lang) / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_mo(fh) if m.id}


def text(key: str, lang: str | None, /, **values: object) -> str:
    """The text ``key`` in ``lang`` (English for other languages), placeholders filled."""
    template = catalog(language(lang))[key]
    return template.format(**values) if values else template


def section(prefix: str, lang: str | None) -> dict[str, str]:
    """Every text under ``prefix.`` in ``lang``, keyed by the rest of the key
    (``section("pdf", "de")["invoice"] == "Rechnung"``); a fresh dict the caller may change."""
    return dict(_section(prefix, language(lang)))


@functools.cache
def _section(prefix: str, lang: str) -> Mapping[str, str]:
    """Picked out of the catalog once per process (every document asks for its labels)."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in catalog(lang).items() if k.startswith(start)}


def has(key: str) -> bool:
    return key in catalog(DEFAULT_LANGUAGE)


__all__ = ["LANGUAGES", "catalog", "has", "language", "section", "text"]
