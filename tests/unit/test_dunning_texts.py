"""Default dunning texts in every language, level titles, placeholders (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from invoicing.documents.pdf.dunning import level_title
from invoicing.domain.dunning import fill
from invoicing.mail.texts import LANGS, MailTemplates
from invoicing.schemas.dunning import DunningSettings
from invoicing.texts import text
from pydantic import ValidationError


def _context(level: int, lang: str, fee: str = "") -> dict[str, Any]:
    return {
        "level": level,
        "level_title": level_title(level, lang),
        "number": "RE-2026-007",
        "issue_date": "05.01.2026",
        "due_date": "19.01.2026",
        "days_overdue": 21,
        "gross_total": "1.190,00 €",
        "open_amount": "1.190,00 €",
        "fee": fee,
        "interest": "",
        "total_due": "1.195,00 €",
        "seller_name": "Kanzlei <Müller>",
        "contact_name": "Jane",
        "iban": "DE89370400440532013000",
        "reference": "RE-2026-007",
        "attached": True,
        "notice_attached": True,
        "title": "Rechnung",
        "document_article": "unsere Rechnung",
        "einvoice": "",
    }


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_every_language_renders_every_level(lang: str, level: int) -> None:
    texts = MailTemplates().compose("dunning", lang, _context(level, lang, fee="5,00 €"))
    assert "RE-2026-007" in texts.subject and level_title(level, lang) in texts.subject
    assert "5,00 €" in texts.text and "1.195,00 €" in texts.text
    assert "Kanzlei &lt;Müller&gt;" in texts.html  # escaped in HTML
    # the notice's own PDF and the invoice's are both announced
    assert text("dunning.notice_attached", lang) in texts.text
    assert text("dunning.attached", lang) in texts.text
    no_fee = MailTemplates().compose("dunning", lang, _context(level, lang))
    assert "5,00 €" not in no_fee.text and "1.195,00 €" not in no_fee.text


def test_level_titles() -> None:
    assert [level_title(n, "de") for n in (1, 2, 3)] == [
        "Zahlungserinnerung",
        "1. Mahnung",
        "2. Mahnung",
    ]
    assert [level_title(n, "en") for n in (1, 2, 3)] == [
        "Payment reminder",
        "First reminder",
        "Second reminder",
    ]
    assert level_title(2, "fr") == "1er rappel" and level_title(3, "fr") == "2e rappel"
    assert level_title(1, "nl") == "Betalingsherinnering" and level_title(2, "nl") == "1e aanmaning"


def test_placeholders_are_filled_once_and_never_interpreted() -> None:
    values = {"number": "{fee}", "fee": "5,00 €"}
    assert fill("Rechnung {number}, Gebühr {fee} {{ 7*7 }}", values) == (
        "Rechnung {fee}, Gebühr 5,00 € {{ 7*7 }}"
    )
    with pytest.raises(ValidationError, match="unknown placeholder"):
        DunningSettings.model_validate(
            {"levels": [{"days_after_due": 7, "texts": {"de": {"body": "{password}"}}}]}
        )
