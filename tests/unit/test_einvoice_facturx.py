"""ZUGFeRD / Factur-X: the XML embedded in a PDF/A-3b as factur-x.xml (Alternative), read back
and validated again; and what the send handler attaches per format."""

from __future__ import annotations

import io

import pytest
import typst
from invoicing.documents.einvoice import (
    EInvoiceFormat,
    build_einvoice,
    documents_for_sending,
    embed_facturx,
    extract_facturx,
    validate,
)
from invoicing.documents.einvoice.prepare import prepare
from invoicing.documents.einvoice.ubl import XRECHNUNG_CUSTOMIZATION, build_ubl
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState
from pypdf import PdfReader

from tests.support import scenarios
from tests.support.external import require_rules


def _pdfa3(title: str) -> bytes:
    """A real PDF/A-3b page (Typst), standing in for the PDF renderer's output."""
    source = f'#set document(title: "{title}")\n= {title}\nRechnung'.encode()
    pdf = typst.compile(source, format="pdf", pdf_standards=["a-3b"])
    assert isinstance(pdf, bytes)
    return pdf


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> scenarios.Core:
    return scenarios.Core(tmp_path_factory.mktemp("einvoice-facturx"))


@pytest.fixture(scope="module")
def de_invoice(core: scenarios.Core) -> InvoiceState:
    return scenarios.german_domestic(core)


@pytest.fixture(scope="module")
def de_credit_note(core: scenarios.Core) -> InvoiceState:
    return scenarios.german_credit_note(core)


def _attachment_dict(pdf: bytes) -> tuple[str, dict[str, object]]:
    reader = PdfReader(io.BytesIO(pdf))
    names = reader.trailer["/Root"]["/Names"]["/EmbeddedFiles"]["/Names"]
    filename = str(names[0])
    spec = names[1].get_object()
    return filename, dict(spec)


@pytest.mark.parametrize("scenario", ["de_invoice", "de_credit_note"])
def test_embedded_xml_round_trips_and_is_valid(
    request: pytest.FixtureRequest, scenario: str
) -> None:
    state: InvoiceState = request.getfixturevalue(scenario)
    einvoice = build_einvoice(state, "zugferd")
    assert einvoice.filename == "factur-x.xml"
    hybrid = embed_facturx(_pdfa3(state.number or ""), einvoice.xml, lang=state.locale)

    filename, spec = _attachment_dict(hybrid)
    assert filename == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Alternative"
    reader = PdfReader(io.BytesIO(hybrid))
    root = reader.trailer["/Root"]
    assert "/AF" in root
    xmp = root["/Metadata"].get_object().get_data()
    assert b"factur-x.xml" in xmp and b"EN 16931" in xmp
    assert b"pdfaid:part" in xmp or b"<pdfaid:part>" in xmp

    extracted = extract_facturx(hybrid)
    assert extracted == einvoice.xml
    require_rules()
    assert validate(extracted, einvoice.profile).valid


def test_extract_from_plain_pdf_fails() -> None:
    with pytest.raises(ValueError):
        extract_facturx(_pdfa3("ohne XML"))


def test_documents_for_sending_per_format(de_invoice: InvoiceState, core: scenarios.Core) -> None:
    require_rules()
    pdf = _pdfa3(de_invoice.number or "")

    plain = documents_for_sending(de_invoice, None, pdf)
    assert plain.pdf == pdf and plain.xml is None and plain.report is None

    hybrid = documents_for_sending(de_invoice, EInvoiceFormat.ZUGFERD, pdf)
    assert hybrid.xml is None and hybrid.report is not None and hybrid.report.valid
    assert extract_facturx(hybrid.pdf) == build_einvoice(de_invoice, "zugferd").xml

    for fmt in ("xrechnung_cii", "xrechnung_ubl"):
        docs = documents_for_sending(de_invoice, fmt, pdf)
        assert docs.pdf == pdf
        assert docs.xml is not None and docs.xml.format.value == fmt
        assert docs.xml.filename == f"{de_invoice.number}.{fmt.replace('_', '-')}.xml"
        assert docs.report is not None and docs.report.valid

    be = scenarios.belgian_domestic(core)
    docs = documents_for_sending(be, "peppol", pdf)
    assert docs.xml is not None and docs.xml.filename.endswith(".peppol.xml")

    # an organization without phone and e-mail cannot send XRechnung (BR-DE-2/6/7): blocked
    # before the XML is built, each missing item named with its rule and whom to configure
    org = core.organization(**{**scenarios.DE_SELLER, "phone": None, "email": None})
    customer = core.customer(org, **scenarios.DE_BUYER)
    bare = core.invoice(
        org, customer, [{"description": "Beratung", "quantity": "1", "unit_price": "10"}]
    )
    with pytest.raises(DomainError) as caught:
        documents_for_sending(bare, "xrechnung_ubl", pdf)
    errors = caught.value.errors
    assert [(e.code, e.pointer) for e in errors] == [
        ("einvoice_seller_contact_missing", "/invoice_id"),
        ("einvoice_seller_contact_missing", "/invoice_id"),
    ]
    assert "BR-DE-6" in errors[0].detail and "BR-DE-7" in errors[1].detail
    assert all("configure_organization" in (e.hint or "") for e in errors)
    # built without the check, the official rules refuse the same document (BR-DE-*)
    xml = build_ubl(prepare(bare), XRECHNUNG_CUSTOMIZATION)
    report = validate(xml, EInvoiceFormat.XRECHNUNG_UBL.profile)
    assert not report.valid and any(rule.startswith("BR-DE-") for rule in report.rule_ids)
