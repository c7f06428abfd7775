"""PDF/A-3b structure checks we can make without veraPDF, on the plain and the hybrid PDF.

veraPDF (the reference validator) is not available offline here; these checks cover the parts
of ISO 19005-3 that our own code influences: output intent with an ICC profile, XMP
identification, every font embedded, no encryption, document information consistent with the
XMP, and for ZUGFeRD the associated file with its relationship.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import facturx  # type: ignore[import-untyped]
import pikepdf
import pytest
from invoicing.documents.einvoice import build_einvoice, embed_facturx
from invoicing.documents.pdf import PdfRenderer
from lxml import etree  # type: ignore[import-untyped]

from tests.support import scenarios


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    core = scenarios.Core(Path(tmp_path_factory.mktemp("pdfa")))
    state = scenarios.german_domestic(core)
    plain = PdfRenderer().render(state)
    hybrid = embed_facturx(plain, build_einvoice(state, "zugferd").xml, lang="de")
    yield {"plain": plain, "hybrid": hybrid}


def _fonts(doc: pikepdf.Pdf) -> Iterator[Any]:
    for page in doc.pages:
        resources = page.obj.get("/Resources", {})
        for font in resources.get("/Font", {}).values():
            if font.get("/Subtype") == "/Type0":
                yield from font["/DescendantFonts"]
            else:
                yield font


@pytest.mark.parametrize("which", ["plain", "hybrid"])
def test_pdfa3b_structure(pdfs: dict[str, bytes], which: str) -> None:
    with pikepdf.open(io.BytesIO(pdfs[which])) as doc:
        assert not doc.is_encrypted
        intents = doc.Root.get("/OutputIntents")
        assert intents is not None and len(intents) >= 1
        assert any(i.get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in i for i in intents)
        with doc.open_metadata(set_pikepdf_as_editor=False) as xmp:
            assert xmp.get("pdfaid:part") == "3"
            assert xmp.get("pdfaid:conformance") == "B"
            if which == "hybrid":
                assert xmp.get("dc:title") == str(doc.docinfo["/Title"])
        fonts = list(_fonts(doc))
        assert fonts, "the invoice uses fonts"
        for font in fonts:
            descriptor = font.get("/FontDescriptor")
            assert descriptor is not None, font
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), (
                f"font {font.get('/BaseFont')} is not embedded"
            )


def test_hybrid_carries_the_xml_as_alternative(pdfs: dict[str, bytes]) -> None:
    with pikepdf.open(io.BytesIO(pdfs["hybrid"])) as doc:
        (spec,) = list(doc.Root.AF)
        assert spec.AFRelationship == "/Alternative"
        assert str(spec.F) == str(spec.UF) == "factur-x.xml"
        stream = spec.EF.F
        assert stream.Subtype == "/text/xml" and int(stream.Params.Size) > 0
        assert "factur-x.xml" in doc.attachments
    # the renderer's pages are untouched by the embedding
    with (
        pikepdf.open(io.BytesIO(pdfs["plain"])) as a,
        pikepdf.open(io.BytesIO(pdfs["hybrid"])) as b,
    ):
        assert len(a.pages) == len(b.pages)
        assert [p.Contents.read_bytes() for p in a.pages] == [
            p.Contents.read_bytes() for p in b.pages
        ]


def test_hybrid_is_an_incremental_update_of_the_rendered_pdf(pdfs: dict[str, bytes]) -> None:
    plain, hybrid = pdfs["plain"], pdfs["hybrid"]
    # the renderer's file is the first revision, byte for byte; one update follows it
    assert hybrid.startswith(plain)
    update = hybrid[len(plain) :]
    assert update.count(b"\nxref\n") == 1 and update.endswith(b"%%EOF\n")
    previous = int(plain.rsplit(b"startxref", 1)[1].split()[0])
    with pikepdf.open(io.BytesIO(hybrid)) as doc, pikepdf.open(io.BytesIO(plain)) as first:
        # qpdf finds every object where the cross-reference section says it is
        assert doc.check_pdf_syntax() == []
        assert int(doc.trailer.Prev) == previous
        # ISO 32000-1 14.4: the identifier's first half stays, the second names the revision
        assert bytes(doc.trailer.ID[0]) == bytes(first.trailer.ID[0])
        assert bytes(doc.trailer.ID[1]) != bytes(first.trailer.ID[1])
        # PDF/A: metadata streams are not filtered; the catalog keeps the renderer's entries
        assert "/Filter" not in doc.Root.Metadata.stream_dict
        for key in ("/Pages", "/OutputIntents", "/StructTreeRoot", "/MarkInfo"):
            assert key in doc.Root, key
        with doc.open_metadata(set_pikepdf_as_editor=False) as xmp:
            fx = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"
            assert xmp.get(f"{fx}DocumentFileName") == "factur-x.xml"
            assert xmp.get(f"{fx}ConformanceLevel") == "EN 16931"
            assert xmp.get(f"{fx}DocumentType") == "INVOICE"


def test_hybrid_reads_back_with_the_factur_x_library(pdfs: dict[str, bytes]) -> None:
    filename, xml = facturx.get_xml_from_pdf(pdfs["hybrid"], check_xsd=True)
    assert filename == "factur-x.xml"
    assert facturx.get_level(etree.fromstring(xml)) == "en16931"


def test_embedding_is_deterministic(pdfs: dict[str, bytes], tmp_path: Path) -> None:
    core = scenarios.Core(tmp_path)
    state = scenarios.german_domestic(core)
    xml = build_einvoice(state, "zugferd").xml
    assert embed_facturx(pdfs["plain"], xml, lang="de") == embed_facturx(
        pdfs["plain"], xml, lang="de"
    )
