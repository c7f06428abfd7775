"""Jinja2 templates of Typst markup, compiled to PDF/A-3b by Typst.

Escaping (the Typst equivalent of HTML autoescape): the Jinja environment's ``finalize`` hook
runs on EVERY ``{{ ... }}`` output and backslash-escapes each ASCII punctuation character for
Typst markup, so customer text such as ``#import``, ``*bold*``, ``// comment``, ``]`` or
``{{ 7*7 }}`` is printed literally and can never become markup or code. Only values wrapped in
:class:`Typst` (produced by the ``tstr`` filter or by this module) pass through unchanged.
Customer text is data, never template source, so Jinja expressions inside it are not evaluated
either. Templates run in Jinja's immutable sandbox, because organizations may supply their own.

Fonts (``fonts.py``): every escaped character that none of the document's fonts can print
becomes U+FFFD, so a PDF/A render never fails on a missing glyph; should Typst still refuse a
character (a combination no font shapes), the document is rendered once more with only the
embedded fonts' repertoire, and the failure is logged.

Template lookup: ``<template_dir>/<organization_id>/<kind>.typ.j2`` (and any file it includes
or extends) first, then the built-in templates in this package's ``templates/`` folder.
"""

from __future__ import annotations

import datetime as dt
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import structlog
import typst
from invoicing.documents.pdf.fonts import REPLACEMENT, FontSet, discover, embedded_only
from invoicing.documents.pdf.fonts import font_dirs_from_env as font_dirs_from_env
from invoicing.documents.pdf.view import build_view
from invoicing.observability.metrics import DOCUMENT_RENDER, timed
from invoicing.schemas.events import InvoiceState
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
PDF_STANDARD: Final = "a-3b"
_SPECIAL = frozenset(string.punctuation)
log = structlog.get_logger("invoicing.documents")


class Typst(str):
    """Text that is already valid Typst markup (not escaped again)."""

    __slots__ = ()


_ESCAPES: dict[int, str | None] = {
    **{ord(ch): "\\" + ch for ch in _SPECIAL},
    ord("\n"): "\\\n",  # a Typst line break
    ord("\t"): " ",
    # other control characters have no place on paper
    **{c: None for c in (*range(32), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"},
}


class _EscapeTable(dict[int, str | None]):
    """``str.translate`` table: Typst escapes, and U+FFFD for what the fonts cannot print
    (decided once per character and remembered)."""

    def __init__(self, fonts: FontSet) -> None:
        super().__init__(_ESCAPES)
        self._fonts = fonts

    def __missing__(self, key: int) -> str | None:
        char = chr(key)
        value = char if self._fonts.covers(char) else REPLACEMENT
        self[key] = value
        return value


_TABLES: dict[FontSet, _EscapeTable] = {}


def _table(fonts: FontSet) -> _EscapeTable:
    table = _TABLES.get(fonts)
    if table is None:
        table = _TABLES[fonts] = _EscapeTable(fonts)
    return table


def escape_typst(value: object, fonts: FontSet | None = None) -> Typst:
    """Plain text -> Typst markup that prints exactly that text (characters that ``fonts``
    cannot print become U+FFFD; without ``fonts``, those of the default renderer)."""
    if isinstance(value, Typst):
        return value
    text = "" if value is None else str(value)
    table = _table(fonts or discover(font_dirs_from_env()))
    return Typst(text.replace("\r\n", "\n").replace("\r", "\n").translate(table))


def typst_string(value: object) -> Typst:
    """A Typst string literal (for function arguments such as the document title)."""
    text = "" if value is None else str(value)
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return Typst(f'"{escaped}"')


def font_list(fonts: FontSet) -> Typst:
    """The Typst array of font families for ``#set text(font: ...)``."""
    return Typst("(" + ", ".join(typst_string(f) for f in fonts.families) + ",)")


def make_environment(loader: BaseLoader, fonts: FontSet) -> ImmutableSandboxedEnvironment:
    table = _table(fonts)

    def finalize(value: object) -> object:
        # runs for every {{ }} of a document (~120 for 3 lines): the line-break normalisation
        # only where there is a CR
        if isinstance(value, Typst):
            return value
        text = "" if value is None else str(value)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return Typst(text.translate(table))

    env = ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=False,  # HTML escaping is wrong for Typst; finalize escapes every output
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    env.filters["tstr"] = typst_string
    env.globals["fonts"] = font_list(fonts)
    return env


class PdfRenderer:
    """Renders documents; one per process (the Typst compiler keeps its fonts loaded).

    ``template_dir``: root of per-organization overrides (``<template_dir>/<org id>/``).
    ``font_paths``: folders searched for the fallback fonts (``fonts.py``; default
    ``INVOICING_FONT_DIRS`` or the Debian Noto folders). System fonts are otherwise ignored so
    that output does not depend on what else the machine has installed.
    """

    def __init__(
        self, template_dir: Path | None = None, font_paths: list[Path] | None = None
    ) -> None:
        self.template_dir = template_dir
        dirs = tuple(font_paths) if font_paths is not None else font_dirs_from_env()
        self.fonts = discover(dirs)
        self._fallback_fonts = embedded_only()
        typst_fonts = typst.Fonts(
            include_system_fonts=False,
            include_embedded_fonts=True,
            font_paths=[str(p) for p in self.fonts.dirs],
        )
        self._compiler = typst.Compiler(font_paths=typst_fonts, ignore_system_fonts=True)
        self._lock = threading.Lock()  # one compiler: serialize compiles within a process
        self._envs: dict[tuple[Path | None, bool], ImmutableSandboxedEnvironment] = {}

    def environment(
        self, organization_id: UUID | None, *, embedded_fonts_only: bool = False
    ) -> ImmutableSandboxedEnvironment:
        org_dir: Path | None = None
        if self.template_dir is not None and organization_id is not None:
            candidate = self.template_dir / str(organization_id)
            if candidate.is_dir():
                org_dir = candidate
        key = (org_dir, embedded_fonts_only)
        env = self._envs.get(key)
        if env is None:
            builtin = FileSystemLoader(str(BUILTIN_TEMPLATES))
            loader: BaseLoader = (
                builtin
                if org_dir is None
                else ChoiceLoader([FileSystemLoader(str(org_dir)), builtin])
            )
            fonts = self._fallback_fonts if embedded_fonts_only else self.fonts
            env = self._envs[key] = make_environment(loader, fonts)
        return env

    def source(
        self,
        state: InvoiceState,
        *,
        embedded_fonts_only: bool = False,
        template: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> str:
        """The Typst source for ``state`` (exposed for tests and template authors):
        ``<template or state.kind>.typ.j2`` over ``view`` (default: ``build_view(state)``)."""
        env = self.environment(state.organization_id, embedded_fonts_only=embedded_fonts_only)
        compiled = env.get_template(f"{template or state.kind}.typ.j2")
        return compiled.render(view if view is not None else build_view(state))

    def render(
        self,
        state: InvoiceState,
        *,
        template: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> bytes:
        """The PDF/A-3b of ``state``; ``template``/``view`` render another document about it
        (a dunning notice: ``invoicing.documents.pdf.dunning``)."""
        with timed(DOCUMENT_RENDER, kind=template or "pdf"):
            return self._render(state, template=template, view=view)

    def _render(
        self, state: InvoiceState, *, template: str | None, view: dict[str, Any] | None
    ) -> bytes:
        try:
            return self._compile(self.source(state, template=template, view=view), state)
        except typst.TypstError as exc:
            if "could not be displayed" not in str(exc):
                raise
            # a character the fonts map but cannot shape in its context: print the document
            # with the embedded fonts' repertoire only (everything else becomes U+FFFD)
            log.warning(
                "pdf_glyph_fallback",
                invoice_id=str(state.id),
                error=str(exc),
            )
            fallback = self.source(state, embedded_fonts_only=True, template=template, view=view)
            return self._compile(fallback, state)

    def _compile(self, source: str, state: InvoiceState) -> bytes:
        stamp = state.finalized_at or state.created_at
        with self._lock:
            pdf = self._compiler.compile(
                input=source.encode("utf-8"),
                format="pdf",
                pdf_standards=[PDF_STANDARD],
                timestamp=_utc(stamp),
                pdf_tags=True,
            )
        if not isinstance(pdf, bytes):
            raise RuntimeError("typst returned no PDF")
        return pdf


def _utc(value: dt.datetime) -> dt.datetime:
    value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value.replace(microsecond=0)


_default: PdfRenderer | None = None
_default_lock = threading.Lock()


def default_renderer() -> PdfRenderer:
    """The process-wide renderer with the built-in templates only."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PdfRenderer()
        return _default


def render_pdf(state: InvoiceState, *, renderer: PdfRenderer | None = None) -> bytes:
    """The PDF/A-3b of an invoice, credit note or quote (ready for factur-x to embed XML)."""
    return (renderer or default_renderer()).render(state)


Renderer = Callable[[InvoiceState], bytes]
__all__ = ["PdfRenderer", "Renderer", "Typst", "escape_typst", "render_pdf", "typst_string"]
