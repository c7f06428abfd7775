"""The fonts a document is set in, and which characters they can print.

Typst's embedded fonts (Libertinus Serif, DejaVu Sans Mono) cover Latin, Greek and Cyrillic.
Customer text may hold any script, so the renderer falls back through Noto fonts installed by
``scripts/ensure-fonts.sh`` (Debian ``fonts-noto-core``, ``fonts-noto-cjk``,
``fonts-noto-color-emoji``): Noto Sans (Latin, Greek, Cyrillic), Noto Sans Arabic, Noto Sans
Hebrew, Noto Sans CJK, Noto Sans Symbols and Noto Color Emoji. Typst embeds (a subset of)
every font it uses, as PDF/A-3b requires.

A PDF/A file must not show a character with no glyph (Typst refuses to write one). So every
customer text is checked against the union of the character maps of the fonts found here;
a character none of them covers prints as U+FFFD (``�``), visibly, and the render goes on.
Without the Noto fonts only the embedded fonts' conservative repertoire below is used.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog

log = structlog.get_logger("invoicing.documents")

#: Where the Debian packages put the Noto fonts; ``INVOICING_FONT_DIRS`` (os.pathsep-separated)
#: replaces this list.
DEFAULT_FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/opentype/noto"),
)

#: The body font (embedded in Typst, so documents render the same on every machine for text
#: it covers) and the monospace font Typst falls back to.
BODY_FAMILIES: Final = ("Libertinus Serif", "DejaVu Sans Mono")

#: Fallback fonts in the order Typst tries them: (family, file name).
FALLBACKS: Final = (
    ("Noto Sans", "NotoSans-Regular.ttf"),
    ("Noto Sans Arabic", "NotoSansArabic-Regular.ttf"),
    ("Noto Sans Hebrew", "NotoSansHebrew-Regular.ttf"),
    ("Noto Sans CJK SC", "NotoSansCJK-Regular.ttc"),
    ("Noto Sans Symbols", "NotoSansSymbols-Regular.ttf"),
    ("Noto Sans Symbols 2", "NotoSansSymbols2-Regular.ttf"),
    ("Noto Sans Math", "NotoSansMath-Regular.ttf"),
    ("Noto Color Emoji", "NotoColorEmoji.ttf"),
)

REPLACEMENT: Final = "\ufffd"


def _ranges(*spans: tuple[int, int]) -> frozenset[int]:
    return frozenset(cp for lo, hi in spans for cp in range(lo, hi + 1))


#: What Typst's embedded Libertinus Serif prints (measured with Typst 0.15.2, one character at
#: a time with no other font; tests/unit/test_pdf_fonts.py compiles all of it again): Latin
#: (Latin-1, Extended-A/B and Additional), combining diacritics, Greek, Cyrillic, punctuation,
#: common currency and letterlike symbols, arrows, and U+FFFD itself.
EMBEDDED_COVERAGE: Final = _ranges(
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x300, 0x36F),
    (0x374, 0x375),
    (0x37A, 0x37E),
    (0x384, 0x38A),
    (0x38C, 0x38C),
    (0x38E, 0x3A1),
    (0x3A3, 0x3CE),
    (0x3D0, 0x3E1),
    (0x3F0, 0x3F6),
    (0x3F8, 0x3F9),
    (0x3FB, 0x3FB),
    (0x3FD, 0x477),
    (0x47C, 0x47F),
    (0x483, 0x483),
    (0x48C, 0x4C4),
    (0x4C7, 0x4CC),
    (0x4D0, 0x4F9),
    (0x1E00, 0x1EFF),
    (0x2010, 0x2027),
    (0x2030, 0x2037),
    (0x2039, 0x203E),
    (0x2044, 0x2044),
    (0x20A2, 0x20A4),
    (0x20A7, 0x20A8),
    (0x20AB, 0x20AC),
    (0x20AF, 0x20AF),
    (0x20B1, 0x20B1),
    (0x20B9, 0x20B9),
    (0x20BF, 0x20BF),
    (0x2103, 0x2103),
    (0x2116, 0x2116),
    (0x2122, 0x2122),
    (0x2126, 0x2126),
    (0x2190, 0x219B),
    (0x2212, 0x2212),
    (0xFFFD, 0xFFFD),
)

#: Default-ignorable code points that shaping consumes without a glyph of their own (joiners,
#: variation selectors, emoji tag characters, marks of text direction); they pass through.
#: The bidirectional embedding/override/isolate controls never reach a document: commands
#: holding them are rejected (``invoicing.schemas.common.unwritable_characters``).
IGNORABLE: Final = _ranges(
    (0x200B, 0x200F),
    (0x2060, 0x2060),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF),
)


@dataclass(frozen=True)
class FontSet:
    """Font folders for Typst, the fallback chain for ``#set text(font: ...)`` and the
    characters they cover."""

    dirs: tuple[Path, ...]
    families: tuple[str, ...]
    coverage: frozenset[int] = field(repr=False)

    def covers(self, char: str) -> bool:
        cp = ord(char)
        return cp in self.coverage or cp in IGNORABLE


def font_dirs_from_env() -> tuple[Path, ...]:
    value = os.environ.get("INVOICING_FONT_DIRS")
    if value is None:
        return DEFAULT_FONT_DIRS
    return tuple(Path(p) for p in value.split(os.pathsep) if p)


def _find(dirs: Iterable[Path], name: str) -> Path | None:
    for folder in dirs:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _character_map(path: Path, family: str) -> frozenset[int]:
    """The code points ``path`` maps to glyphs (for a collection: the member ``family``)."""
    from fontTools.ttLib import TTCollection, TTFont

    if path.suffix.lower() == ".ttc":
        collection = TTCollection(str(path), lazy=True)
        for font in collection.fonts:
            if font["name"].getBestFamilyName() == family:
                return frozenset(font.getBestCmap() or {})
        return frozenset(collection.fonts[0].getBestCmap() or {})
    return frozenset(TTFont(str(path), lazy=True).getBestCmap() or {})


@functools.cache
def discover(dirs: tuple[Path, ...]) -> FontSet:
    """The fonts found in ``dirs`` (cached per process: reading the character maps of the CJK
    collection takes ~0.1 s)."""
    families: list[str] = [BODY_FAMILIES[0]]
    coverage: set[int] = set(EMBEDDED_COVERAGE)
    used_dirs: list[Path] = []
    for family, name in FALLBACKS:
        path = _find(dirs, name)
        if path is None:
            continue
        try:
            cmap = _character_map(path, family)
        except Exception as exc:  # an unreadable font is skipped, never fatal
            log.warning("font_unreadable", path=str(path), error=str(exc))
            continue
        families.append(family)
        coverage.update(cmap)
        if path.parent not in used_dirs:
            used_dirs.append(path.parent)
    families.append(BODY_FAMILIES[1])
    return FontSet(dirs=tuple(used_dirs), families=tuple(families), coverage=frozenset(coverage))


def embedded_only() -> FontSet:
    """Typst's embedded fonts alone (the safety net of a render that still failed)."""
    return FontSet(dirs=(), families=BODY_FAMILIES, coverage=EMBEDDED_COVERAGE)


__all__ = [
    "EMBEDDED_COVERAGE",
    "FALLBACKS",
    "REPLACEMENT",
    "FontSet",
    "discover",
    "embedded_only",
    "font_dirs_from_env",
]
