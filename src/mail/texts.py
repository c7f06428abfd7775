"""Default subjects and bodies per language (Jinja2), and the HTML part (autoescape ON).

Subjects and text bodies are plain-text templates in ``templates/<lang>/``; the HTML part is
``templates/layout.html.j2`` with autoescaping, fed with the text body's paragraphs, so customer
text (a company name ``<script>``, a body the caller wrote) is always escaped in HTML. Texts a
caller supplies in the command are used verbatim, never compiled as templates: ``{{ 7*7 }}`` in a
subject stays ``{{ 7*7 }}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"
LANGS = ("de", "en", "fr", "nl")


@dataclass(frozen=True)
class MailTexts:
    subject: str
    text: str
    html: str


class MailTemplates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(directory)),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(context).strip()

    def html(self, text: str, lang: str, title: str) -> str:
        paragraphs = [p.splitlines() for p in text.replace("\r\n", "\n").split("\n\n") if p]
        return self.env.get_template("layout.html.j2").render(
            lang=lang, title=title, paragraphs=paragraphs
        )

    def compose(
        self,
        purpose: str,
        lang: str,
        context: dict[str, Any],
        *,
        subject: str | None = None,
        body: str | None = None,
    ) -> MailTexts:
        """Subject and body: the caller's own texts when given, else the language defaults."""
        lang = lang if lang in LANGS else "en"
        subject_text = subject if subject else self._render(f"{lang}/{purpose}.subject.j2", context)
        body_text = body if body else self._render(f"{lang}/{purpose}.body.j2", context)
        return MailTexts(subject_text, body_text, self.html(body_text, lang, subject_text))
