"""The page's own words (``web.*`` in the text catalog, src/texts) and the language choice for
pages without an invoice (404, 410, 429)."""

from __future__ import annotations

import re
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


#: RFC 9110 §12.4.2: 0 to 1 with at most three decimals (not "inf", "nan" or "1e400")
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
#: a subtag ends the primary one; "_" too, which some clients send (de_DE)
_SUBTAG = re.compile(r"[-_]")


def _weight(params: list[str]) -> float:
    """The ``q`` parameter (its name case-insensitive); 1 without one, 0 if it is malformed."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0


def negotiate(accept_language: str | None) -> str:
    """The first of de/en/fr/nl the browser asks for (by q-value), else English. A range names
    a language by its primary subtag (``de-AT``, also ``de_AT``), not by the first two letters
    of another (``frr``, North Frisian, is not French)."""
    if not accept_language:
        return "en"
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, *params = part.split(";")
        q = _weight(params)
        lang = _SUBTAG.split(tag.strip().lower(), maxsplit=1)[0]
        if lang in LANGS and q > 0:
            choices.append((-q, index, lang))
    return min(choices)[2] if choices else "en"
