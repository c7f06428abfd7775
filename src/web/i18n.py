"""The page's own words (``web.*`` in the text catalog, src/texts) and the language choice for
pages without an invoice (404, 410, 429)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from invoicing.texts import LANGUAGES, section

LANGS = LANGUAGES


class _Words(Mapping[str, Mapping[str, str]]):
    """``WORDS[lang][key]``: the ``web.*`` texts of the catalog (src/texts), by language."""

    def __getitem__(self, lang: str) -> Mapping[str, str]:
        return section("web", lang)

    def __iter__(self) -> Iterator[str]:
        return iter(LANGS)

    def __len__(self) -> int:
        return len(LANGS)


WORDS: Final = _Words()


def negotiate(accept_language: str | None) -> str:
    """The first of de/en/fr/nl the browser asks for (by q-value), else English."""
    if not accept_language:
        return "en"
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower()[:2]
        if lang in LANGS and q > 0:
            choices.append((-q, index, lang))
    return min(choices)[2] if choices else "en"
