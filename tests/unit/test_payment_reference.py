"""The Belgian structured communication's rule (domain.payment_reference): which documents get
one, the value derived from the number, the candidates after a collision, normalization."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoicing.documents.einvoice.prepare import payment_reference, prepare
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.payment import payment_qr
from invoicing.documents.pdf.view import build_view
from invoicing.domain import payment_reference as rules
from invoicing.domain.errors import DomainError
from invoicing.handlers.sending import mail_context
from invoicing.schemas.filters import InvoiceFilter
from pydantic import ValidationError
from stdnum.be import ogm_vcs

from tests.support import scenarios
from tests.unit.test_pdf_overrides import text_of


def test_which_documents_get_one() -> None:
    assert rules.gets_structured_communication("invoice", "EUR", "BE")
    assert not rules.gets_structured_communication("credit_note", "EUR", "BE")
    assert not rules.gets_structured_communication("quote", "EUR", "BE")
    assert not rules.gets_structured_communication("invoice", "USD", "BE")
    assert not rules.gets_structured_communication("invoice", "EUR", "DE")
    assert not rules.gets_structured_communication("invoice", "EUR", None)


def test_derived_from_the_numbers_last_ten_digits() -> None:
    assert rules.derive("F-2026-0001") == "+++002/0260/00196+++"
    assert rules.derive("RE20260001") == rules.derive("GS-2026-0001")  # same digits, same value
    long = rules.derive("INV-2026-12345678901")
    assert ogm_vcs.compact(long) == "2345678901" + ogm_vcs.calc_check_digits("2345678901")
    with pytest.raises(DomainError) as caught:
        rules.derive("ABC")
    assert caught.value.errors[0].code == "payment_reference_impossible"


def test_candidates_start_with_the_derived_value_then_keep_the_numbers_digits() -> None:
    first = rules.candidates("F-2026-0001", 0, 100)
    assert first[0] == rules.derive("F-2026-0001")
    assert first[1] == "+++012/0260/00180+++"  # disambiguator 01 in the leading digits
    assert first[99] == "+++992/0260/00164+++"  # 9920260001 mod 97 = 64
    for c in first:
        assert ogm_vcs.is_valid(c)
        assert ogm_vcs.compact(c)[2:10] == "20260001"  # the number's digits stay visible
    assert len(set(first)) == 100


def test_candidates_are_distinct_valid_and_skip_zero() -> None:
    many = rules.candidates("F-2026-0001", 0, 1000)
    assert len(set(many)) == 1000
    assert all(ogm_vcs.is_valid(c) for c in many)
    assert rules.candidates("F-2026-0001", 100, 3) == many[100:103]
    # 9 900 000 000 + 1 * 10**8 would be 0 mod 10**10: not an OGM, skipped
    wrapped = rules.candidates("9900000000", 0, 3)
    assert "+++000/0000/00097+++" not in wrapped
    assert [ogm_vcs.compact(c)[:10] for c in wrapped] == ["9900000000", "0100000000", "0200000000"]
    assert rules.candidates("no digits") == []


def test_the_mapping_is_one_to_one() -> None:
    """candidate(i) for i < 10**10 covers every ten-digit value once: checked on a window
    that crosses the point where the leading digits start over (i = 100)."""
    base = 20260001
    values = [(base + (i % 100) * 10**8 + i // 100) % 10**10 for i in range(250)]
    assert len(set(values)) == 250


def test_first_free() -> None:
    choices = rules.candidates("F-2026-0001", 0, 3)
    assert rules.first_free(choices, set()) == choices[0]
    assert rules.first_free(choices, {choices[0]}) == choices[1]
    assert rules.first_free(choices, set(choices)) is None


@pytest.mark.parametrize(
    "written",
    [
        "+++002/0260/00196+++",
        "***002/0260/00196***",
        "002/0260/00196",
        "002026000196",
        " 002 0260 00196 ",
        "002.0260.00196",
    ],
)
def test_normalize_accepts_what_payers_write(written: str) -> None:
    assert rules.normalize(written) == "+++002/0260/00196+++"


@pytest.mark.parametrize(
    "written",
    ["+++002/0260/00197+++", "00202600019", "0020260001966", "F-2026-0001", "", "٠٠٢٠٢٦٠٠٠١٩٦"],
)
def test_normalize_refuses_what_is_no_structured_communication(written: str) -> None:
    assert rules.normalize(written) is None


def test_list_filter_normalizes_and_refuses() -> None:
    f = InvoiceFilter.model_validate({"payment_reference": "002026000196"})
    assert f.payment_reference == "+++002/0260/00196+++"
    with pytest.raises(ValidationError) as caught:
        InvoiceFilter.model_validate({"payment_reference": "+++002/0260/00197+++"})
    assert caught.value.errors()[0]["loc"] == ("payment_reference",)


def test_every_renderer_reads_the_stored_reference(tmp_path: Path) -> None:
    """A Belgian invoice whose stored communication is not the one its number gives (another
    document held that): BT-83, the PDF's reference, its EPC QR code and the email all carry
    the stored one. Without one stored (finalized before migration 0035) they derive it from
    the number as before."""
    finalized = scenarios.belgian_domestic(scenarios.Core(tmp_path))
    assert finalized.number is not None
    assert finalized.payment_reference == rules.derive(finalized.number)  # stored at finalize
    derived = finalized.model_copy(update={"payment_reference": None})
    assert payment_reference(derived) == rules.derive(derived.number)
    other = rules.candidates(derived.number)[1]
    state = derived.model_copy(update={"payment_reference": other})
    assert payment_reference(state) == other
    assert prepare(state).payment_reference == other
    view = build_view(state)
    assert view["payment"]["reference"] == other and view["payment"]["structured"]
    seller = state.seller
    assert seller is not None and seller.iban
    qr = payment_qr(
        name=seller.name,
        iban=seller.iban,
        bic=seller.bic,
        amount=state.totals.open_amount,
        text=other,
    )
    assert view["payment"]["qr_svg"] == qr
    assert build_view(derived)["payment"]["qr_svg"] != qr
    assert mail_context(state, "fr")["reference"] == other
    assert rules.derive(derived.number) in text_of(render_pdf(derived)).replace(" ", "")
    assert other in text_of(render_pdf(state)).replace(" ", "")
