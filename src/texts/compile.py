"""Compile the ``.po`` catalogs to ``.mo`` (``python -m invoicing.texts.compile``).

The ``.mo`` files are committed so that a wheel or a checkout needs no build step;
tests/unit/test_texts_catalog.py checks that each one holds exactly the texts of its ``.po``.
A catalog whose texts did not change is not rewritten (Babel stamps the compile time into the
header, which would otherwise change the bytes on every run).
"""

from __future__ import annotations

import io
import sys

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from invoicing.texts import DOMAIN, LANGUAGES, LOCALES


def po_texts(lang: str) -> dict[str, str]:
    """key -> text of ``lang``'s ``.po`` (fuzzy entries are an error, not skipped)."""
    po = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as fh:
        messages = read_po(fh, locale=lang, domain=DOMAIN)
    fuzzy = [str(m.id) for m in messages if m.id and m.fuzzy]
    if fuzzy:
        raise ValueError(f"{po}: fuzzy entries {fuzzy}; review them and drop the flag")
    return {str(m.id): str(m.string) for m in messages if m.id}


def mo_texts(lang: str) -> dict[str, str]:
    """key -> text of ``lang``'s committed ``.mo``."""
    with (LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_mo(fh) if m.id}


def compiled(lang: str) -> bytes:
    po = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as fh:
        messages = read_po(fh, locale=lang, domain=DOMAIN)
    po_texts(lang)  # refuses fuzzy entries
    buffer = io.BytesIO()
    write_mo(buffer, messages)
    return buffer.getvalue()


def main() -> int:
    for lang in LANGUAGES:
        mo = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo.is_file() and mo_texts(lang) == po_texts(lang):
            continue
        mo.write_bytes(compiled(lang))
        print(f"compiled {mo}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
