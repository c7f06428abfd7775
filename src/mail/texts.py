"""Default subjects and bodies (Jinja2 over the text catalog), and the HTML part (autoescape ON).

Subjects and text bodies are plain-text templates in ``templates/``, one per purpose for every
language: their words come from the catalog (``invoicing.texts``, keys ``mail.*`` and
``dunning.*``) through ``t(key, **values)``, bound to the email's language. A directory given
to :class:`MailTemplates` may hold ``<lang>/<purpose>.subject.j2`` (or a language-neutral
``<purpose>.subject.j2``) to replace a default. The HTML part is
``templates/layout.html.j2`` with autoescaping, fed with the text body's paragraphs, so customer
text (a company name ``<script>``, a body the caller wrote) is always escaped in HTML. Texts a
caller supplies in the command are used verbatim, never compiled as templates: ``{{ 7*7 }}`` in a
subject stays ``{{ 7*7 }}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoicing.texts import LANGUAGES, language, text
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"
LANGS = LANGUAGES


@dataclass(frozen=True)
class MailTexts:
    subject: str
    text: str
    html: str


class MailTemplates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        loaders = [FileSystemLoader(str(directory))]
        if directory != TEMPLATES:
            loaders.append(FileSystemLoader(str(TEMPLATES)))
        self.env = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def _render(self, lang: str, name: str, context: dict[str, Any]) -> str:
        template = self.env.select_template([f"{lang}/{name}", name])
        return template.render(context).strip()

    @staticmethod
    def _with_texts(lang: str, context: dict[str, Any]) -> dict[str, Any]:
        """The template context plus ``t`` and the sentence pieces built from the catalog."""

        def t(key: str, **values: object) -> str:
            return text(key, lang, **values)

        iban, reference = context.get("iban"), context.get("reference")
        title = str(context.get("title", ""))
        return {
            **context,
            "t": t,
            "pay_to": " " + text("mail.pay_to", lang, iban=iban) if iban else "",
            "quoting": " " + text("mail.quoting", lang, reference=reference) if reference else "",
            # a title inside a sentence: German nouns keep their capital
            "document": title if lang == "de" else title[:1].lower() + title[1:],
        }

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
        lang = language(lang)
        values = self._with_texts(lang, context)
        subject_text = subject if subject else self._render(lang, f"{purpose}.subject.j2", values)
        body_text = body if body else self._render(lang, f"{purpose}.body.j2", values)
        return MailTexts(subject_text, body_text, self.html(body_text, lang, subject_text))
