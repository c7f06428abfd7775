"""The text catalog: every key in every language, compiled catalogs current, and no text
dictionaries left in the code."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from invoicing.texts import DOMAIN, LANGUAGES, LOCALES, catalog, section, text
from invoicing.texts.compile import mo_texts, po_texts

SRC = Path(__file__).resolve().parents[2] / "src"


def _po(lang: str) -> dict[str, str]:
    with (LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_exists_in_every_language_with_the_same_placeholders() -> None:
    english = _po("en")
    assert len(english) > 100
    for lang in LANGUAGES:
        texts = _po(lang)
        assert set(texts) == set(english), (
            lang,
            sorted(set(english) ^ set(texts)),
        )
        empty = [k for k, v in texts.items() if not v.strip()]
        assert not empty, (lang, empty)
        for key, value in texts.items():
            assert _fields(value) == _fields(english[key]), (lang, key, value)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogs_are_current(lang: str) -> None:
    assert mo_texts(lang) == po_texts(lang), (
        f"{lang}: invoicing.mo is stale; run python -m invoicing.texts.compile"
    )
    assert dict(catalog(lang)) == _po(lang)


def test_lookup() -> None:
    assert text("pdf.invoice", "de") == "Rechnung"
    assert text("pdf.invoice", "xx") == "Invoice"  # unknown language: English
    assert section("pdf", "nl")["invoice"] == "Factuur"
    assert text("einvoice.payment_terms", "fr", date="2026-12-01").endswith("2026-12-01.")
    with pytest.raises(KeyError):
        text("pdf.no_such_label", "de")


#: dictionaries keyed by language codes that are not texts (Babel locale names, DATEV codes)
NOT_TEXTS = {
    ("texts/formatting.py", "BABEL_LOCALE"),
    ("exports/datev.py", "_LANGUAGES"),
}


def test_no_text_dictionaries_outside_the_catalog() -> None:
    """A dict literal keyed by "de", "fr" and "nl" is a text table that belongs in the .po."""
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign | ast.AnnAssign):
                continue
            value = node.value
            if not isinstance(value, ast.Dict):
                continue
            keys = {k.value for k in value.keys if isinstance(k, ast.Constant)}
            if {"de", "fr", "nl"} <= keys:
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                name = target.id if isinstance(target, ast.Name) else ast.unparse(target)
                rel = path.relative_to(SRC).as_posix()
                if (rel, name) not in NOT_TEXTS:
                    found.append(f"{rel}: {name}")
    assert not found, found


#: the first sentence after the salutation ("Guten Tag," / "Dear customer," ...), in emails
#: and on the dunning notice
AFTER_GREETING = (
    "mail.invoice.attached",
    "mail.payment_confirmation.received",
    "dunning.first",
    "dunning.later",
)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_sentence_after_the_salutation_starts_as_the_language_writes_it(lang: str) -> None:
    """German goes on in lower case after "Guten Tag,"; English, French and Dutch letters
    start the body with a capital ("Dear Jane Doe, / Please find attached ...")."""
    for key in AFTER_GREETING:
        first = _po(lang)[key][0]
        assert first.islower() if lang == "de" else first.isupper(), (lang, key)
