"""Any Unicode text renders: every script prints (fonts embedded, PDF/A-3b), a character no
font has prints as a visible U+FFFD, and nothing raises.

The Noto fonts come from ``scripts/ensure-fonts.sh`` (run by ``scripts/setup.sh``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest
import structlog
import typst
from invoicing.documents.einvoice import documents_for_sending, extract_facturx
from invoicing.documents.pdf import PdfRenderer
from invoicing.documents.pdf.engine import escape_typst
from invoicing.documents.pdf.fonts import (
    BODY_FAMILIES,
    DEFAULT_FONT_DIRS,
    EMBEDDED_COVERAGE,
    FALLBACKS,
    FontSet,
    discover,
    embedded_only,
)
from invoicing.schemas.events import InvoiceState

from tests.support import scenarios
from tests.support.external import require_rules, require_tool
from tests.support.scenarios import Core

#: one line per script the issue names (and the emoji that used to kill send_invoice)
SCRIPTS = {
    "latin": "Beratung Müßiggang œuvre Łódź",
    "greek": "Συμβουλευτικές υπηρεσίες",
    "cyrillic": "Консультационные услуги",
    "arabic": "خدمات استشارية",
    "hebrew": "שירותי ייעוץ",
    "cjk": "咨询服务 コンサルティング 컨설팅",
    "emoji": "Beleg 🧾 Team 👨\u200d👩\u200d👧 ❤\ufe0f 🇩🇪 👍🏽",
}

#: Egyptian hieroglyphs and a private-use character: in none of the document fonts
UNCOVERED = "\U00013000\ue000"


def _installed() -> bool:
    fonts = discover(DEFAULT_FONT_DIRS)
    return len(fonts.families) == len(FALLBACKS) + 2


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Core:
    return Core(tmp_path_factory.mktemp("fontcore"))


def _multiscript_invoice(core: Core) -> InvoiceState:
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **{**scenarios.DE_BUYER, "company": "株式会社 Ωmega — شركة 🧾"})
    lines = [
        {"description": text, "quantity": "1", "unit": "piece", "unit_price": "10.00"}
        for text in SCRIPTS.values()
    ]
    lines.append(
        {"description": f"Glyphe {UNCOVERED} fehlt", "quantity": "1", "unit_price": "1.00"}
    )
    return core.invoice(org, customer, lines, notes="Danke 🙏 شكرا תודה 谢谢")


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _fonts_in(pdf: bytes) -> dict[str, dict[str, bool]]:
    """Every font resource of the PDF: base name -> which font-file streams it embeds."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    found: dict[str, dict[str, bool]] = {}
    for page in reader.pages:
        resources = page["/Resources"].get_object()
        fonts = resources.get("/Font")
        if fonts is None:
            continue
        for ref in fonts.get_object().values():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            inner = descendants.get_object()[0].get_object() if descendants else font
            descriptor = inner.get("/FontDescriptor")
            files = descriptor.get_object().keys() if descriptor is not None else []
            name = str(inner.get("/BaseFont", font.get("/Subtype")))
            found[name] = {
                "embedded": any(k in files for k in ("/FontFile", "/FontFile2", "/FontFile3"))
                or font.get("/Subtype") == "/Type3",
            }
    return found


def test_every_script_renders_embedded_and_validates(core: Core) -> None:
    require_tool(_installed(), "Noto fonts missing: run scripts/ensure-fonts.sh")
    state = _multiscript_invoice(core)
    pdf = PdfRenderer().render(state)
    text = _text(pdf)
    for script in ("latin", "greek", "cyrillic", "cjk"):
        assert SCRIPTS[script] in text, script
    # right-to-left text: pypdf returns it in visual order, the letters are all there
    for script in ("arabic", "hebrew"):
        letters = {c for c in SCRIPTS[script] if not c.isspace()}
        assert letters <= set(text), script
    assert "\ufffd" in text  # the uncovered glyphs, visibly replaced
    fonts = _fonts_in(pdf)
    assert all(f["embedded"] for f in fonts.values()), fonts
    names = " ".join(fonts)
    # Latin, Greek, Cyrillic and Hebrew come from Libertinus; color emoji are Type 3 glyphs
    for family in ("LibertinusSerif", "NotoSansArabic", "NotoSansCJK", "Type3"):
        assert family in names, (family, names)
    # the same text in the e-invoice: the hybrid ZUGFeRD PDF passes the official rules
    require_rules()
    docs = documents_for_sending(state, "zugferd", pdf)
    assert docs.report is not None and docs.report.valid
    xml = extract_facturx(docs.pdf).decode("utf-8")
    for line in SCRIPTS.values():
        assert line in xml


def test_uncovered_characters_become_visible_replacements_without_the_noto_fonts(
    core: Core, tmp_path: Path
) -> None:
    """A machine without the fallback fonts still renders everything (emoji become U+FFFD)."""
    state = _multiscript_invoice(core)
    renderer = PdfRenderer(font_paths=[tmp_path])  # an empty folder: embedded fonts only
    assert renderer.fonts.families == ("Libertinus Serif", "DejaVu Sans Mono")
    text = _text(renderer.render(state))
    assert SCRIPTS["greek"] in text and SCRIPTS["cyrillic"] in text
    assert "🧾" not in text and "\ufffd" in text
    assert all(f["embedded"] for f in _fonts_in(renderer.render(state)).values())


def test_escape_replaces_only_what_no_font_covers() -> None:
    bare = embedded_only()
    assert escape_typst("Grüße €5 – Ω Ж", bare) == "Grüße €5 – Ω Ж"
    assert escape_typst("漢🧾", bare) == "\ufffd\ufffd"
    assert escape_typst("a\u200db\ufe0f", bare) == "a\u200db\ufe0f"  # ignorables pass
    assert escape_typst("#x", bare) == "\\#x"


def test_embedded_repertoire_is_really_printable() -> None:
    """Every character the embedded-only mode lets through compiles to PDF/A with no font but
    Typst's own (a PDF/A error here would mean EMBEDDED_COVERAGE promises too much)."""
    chars = "".join(chr(c) for c in sorted(EMBEDDED_COVERAGE) if chr(c).isprintable())
    compiler = typst.Compiler(
        font_paths=typst.Fonts(include_system_fonts=False), ignore_system_fonts=True
    )
    source = '#set text(font: "Libertinus Serif", fallback: false)\n' + escape_typst(
        chars, embedded_only()
    )
    pdf = compiler.compile(input=source.encode(), format="pdf", pdf_standards=["a-3b"])
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")


def test_a_glyph_typst_still_refuses_falls_back_instead_of_failing(
    core: Core, tmp_path: Path
) -> None:
    """Should a font's character map promise a glyph that Typst then cannot display, the
    document is rendered again with the embedded repertoire (and the failure logged)."""
    state = _multiscript_invoice(core)
    renderer = PdfRenderer(font_paths=[tmp_path])
    # a character map that lies: claims the receipt emoji, which no loaded font has
    renderer.fonts = FontSet(
        dirs=(), families=BODY_FAMILIES, coverage=EMBEDDED_COVERAGE | {ord("🧾")}
    )
    with pytest.raises(typst.TypstError):  # what the first attempt meets
        renderer._compile(renderer.source(state), state)
    with structlog.testing.capture_logs() as logs:
        pdf = renderer.render(state)
    assert "\ufffd" in _text(pdf) and "🧾" not in _text(pdf)
    assert [e["event"] for e in logs] == ["pdf_glyph_fallback"]
