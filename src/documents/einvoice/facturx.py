"""ZUGFeRD / Factur-X: embed the CII XML into a PDF/A-3 and read it back.

The PDF must already be real PDF/A-3b (the renderer's job): factur-x writes the embedded
file ``factur-x.xml`` with ``/AFRelationship /Alternative``, the ``/AF`` array and the
Factur-X XMP extension schema, and stamps ``pdfaid:part=3`` into the XMP whether or not the
PDF really conforms. PDF/A conformance itself is not checked here (that needs veraPDF).
"""

from __future__ import annotations

import io
from typing import Any

FACTURX_FILENAME = "factur-x.xml"


def embed_facturx(
    pdf: bytes, xml: bytes, *, lang: str | None = None, metadata: dict[str, str] | None = None
) -> bytes:
    """Return the hybrid PDF: ``pdf`` with ``xml`` embedded as Factur-X EN 16931.

    ``xml`` must have been validated already (see ``validation.ensure_valid`` with profile
    ``facturx_en16931``); factur-x's own checks are off (its Schematron step silently passes
    when its HTTP Saxon server is absent).
    """
    import facturx  # type: ignore[import-untyped]

    kwargs: dict[str, Any] = {
        "flavor": "factur-x",
        "level": "en16931",
        "check_xsd": False,
        "check_schematron": False,
        "afrelationship": "alternative",
    }
    if lang:
        kwargs["lang"] = lang
    if metadata:
        kwargs["pdf_metadata"] = metadata
    result = facturx.generate_from_binary(pdf, xml, **kwargs)
    if not isinstance(result, bytes):
        raise TypeError("factur-x returned no PDF bytes")
    return result


def extract_facturx(pdf: bytes) -> bytes:
    """The embedded Factur-X / ZUGFeRD XML of a hybrid PDF (``ValueError`` when absent)."""
    import facturx

    filename, xml = facturx.get_xml_from_pdf(io.BytesIO(pdf), check_xsd=False)
    if not xml:
        raise ValueError("the PDF carries no Factur-X / ZUGFeRD XML")
    if filename != FACTURX_FILENAME:
        raise ValueError(f"the embedded XML is named {filename!r}, not {FACTURX_FILENAME!r}")
    return bytes(xml)
