"""Jinja2 templates of Typst markup, compiled to PDF/A-3b by Typst.

Escaping (the Typst equivalent of HTML autoescape): the Jinja environment's ``finalize`` hook
runs on EVERY ``{{ ... }}`` output and backslash-escapes each ASCII punctuation character for
Typst markup, so customer text such as ``#import``, ``*bold*``, ``// comment``, ``]`` or
``{{ 7*7 }}`` is printed literally and can never become markup or code. Only values wrapped in
:class:`Typst` (produced by the ``tstr`` filter or by this module) pass through unchanged.
Customer text is data, never template source, so Jinja expressions inside it are not evaluated
either. Templates run in Jinja's immutable sandbox, because organizations may supply their own.

Template lookup: ``<template_dir>/<organization_id>/<kind>.typ.j2`` (and any file it includes
or extends) first, then the built-in templates in this package's ``templates/`` folder.
"""

from __future__ import annotations

import datetime as dt
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final
from uuid import UUID

import typst
from invoicing.documents.pdf.view import build_view
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


def escape_typst(value: object) -> Typst:
    """Plain text -> Typst markup that prints exactly that text."""
    if isinstance(value, Typst):
        return value
    text = "" if value is None else str(value)
    return Typst(text.replace("\r\n", "\n").replace("\r", "\n").translate(_ESCAPES))


def typst_string(value: object) -> Typst:
    """A Typst string literal (for function arguments such as the document title)."""
    text = "" if value is None else str(value)
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return Typst(f'"{escaped}"')


def _finalize(value: object) -> object:
    return escape_typst(value)


def make_environment(loader: BaseLoader) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=False,  # HTML escaping is wrong for Typst; _finalize escapes every output
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    env.filters["tstr"] = typst_string
    return env


class PdfRenderer:
    """Renders documents; one per process (the Typst compiler keeps its fonts loaded).

    ``template_dir``: root of per-organization overrides (``<template_dir>/<org id>/``).
    ``font_paths``: extra font folders; system fonts are ignored so that output does not depend
    on the machine (Typst's embedded Libertinus Serif and DejaVu Sans Mono are used).
    """

    def __init__(
        self, template_dir: Path | None = None, font_paths: list[Path] | None = None
    ) -> None:
        self.template_dir = template_dir
        fonts = typst.Fonts(
            include_system_fonts=False,
            include_embedded_fonts=True,
            font_paths=[str(p) for p in (font_paths or [])],
        )
        self._compiler = typst.Compiler(font_paths=fonts, ignore_system_fonts=True)
        self._lock = threading.Lock()  # one compiler: serialize compiles within a process
        self._builtin = make_environment(FileSystemLoader(str(BUILTIN_TEMPLATES)))
        self._envs: dict[Path, ImmutableSandboxedEnvironment] = {}

    def environment(self, organization_id: UUID | None) -> ImmutableSandboxedEnvironment:
        if self.template_dir is None or organization_id is None:
            return self._builtin
        org_dir = self.template_dir / str(organization_id)
        if not org_dir.is_dir():
            return self._builtin
        env = self._envs.get(org_dir)
        if env is None:
            loader = ChoiceLoader(
                [FileSystemLoader(str(org_dir)), FileSystemLoader(str(BUILTIN_TEMPLATES))]
            )
            env = self._envs[org_dir] = make_environment(loader)
        return env

    def source(self, state: InvoiceState) -> str:
        """The Typst source for ``state`` (exposed for tests and template authors)."""
        env = self.environment(state.organization_id)
        template = env.get_template(f"{state.kind}.typ.j2")
        return template.render(build_view(state))

    def render(self, state: InvoiceState) -> bytes:
        source = self.source(state)
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
