"""Labels and layout fixes: reduced rates, the Dutch page footer, § 19 documents."""

from __future__ import annotations

import io

import pypdf
import pytest
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.view import build_view

from tests.support import scenarios
from tests.support.scenarios import Core


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Core:
    return Core(tmp_path_factory.mktemp("fixescore"))


def _text(pdf: bytes) -> str:
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.replace("\u00a0", " ").split())


@pytest.mark.parametrize(
    ("lang", "standard", "reduced"),
    [
        ("de", "Regelsteuersatz", "Ermäßigter Steuersatz"),
        ("en", "Standard rate", "Reduced rate"),
        ("fr", "Taux normal", "Taux réduit"),
        ("nl", "Normaal tarief", "Verlaagd tarief"),
    ],
)
def test_reduced_rates_are_labelled_reduced(
    core: Core, lang: str, standard: str, reduced: str
) -> None:
    german = scenarios.german_domestic(core).model_copy(update={"locale": lang})  # 19 % + 7 %
    belgian = scenarios.belgian_domestic(core).model_copy(update={"locale": lang})  # 21 % + 6 %
    for state, full, low in ((german, "19", "7"), (belgian, "21", "6")):
        labels = {g["rate"].split("\u00a0")[0]: g["label"] for g in build_view(state)["breakdown"]}
        assert labels == {full: standard, low: reduced}, labels
        text = _text(render_pdf(state))
        assert reduced in text and standard in text


def test_dutch_footer_is_complete(core: Core) -> None:
    state = scenarios.belgian_domestic(core).model_copy(update={"locale": "nl"})
    assert "Pagina 1 van 1" in _text(render_pdf(state))
    many = scenarios.many_lines(core, 60).model_copy(update={"locale": "nl"})
    pdf = render_pdf(many)
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert pages > 1
    text = _text(pdf)
    for page in range(1, pages + 1):
        assert f"Pagina {page} van {pages}" in text


@pytest.mark.parametrize("lang", ["de", "en", "fr", "nl"])
def test_small_business_documents_have_no_vat_columns(core: Core, lang: str) -> None:
    state = scenarios.small_business_19(core).model_copy(update={"locale": lang})
    text = _text(render_pdf(state))
    labels = build_view(state)["t"]
    for absent in ("tax_rate", "tax_breakdown", "tax_total", "gross_total", "amount_net"):
        assert labels[absent] not in text, absent
    assert "0 %" not in text
    assert labels["total"] in text and text.count("§ 19 UStG") == 1
