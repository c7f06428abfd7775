"""Build, validate and package e-invoices from an :class:`InvoiceState`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from invoicing.documents.einvoice.cii import (
    FACTURX_EN16931_GUIDELINE,
    XRECHNUNG_GUIDELINE,
    build_cii,
)
from invoicing.documents.einvoice.facturx import FACTURX_FILENAME, embed_facturx, extract_facturx
from invoicing.documents.einvoice.formats import EInvoice, EInvoiceFormat
from invoicing.documents.einvoice.prepare import prepare
from invoicing.documents.einvoice.ubl import (
    PEPPOL_CUSTOMIZATION,
    XRECHNUNG_CUSTOMIZATION,
    build_ubl,
)
from invoicing.documents.einvoice.validation import Report, ensure_valid
from invoicing.observability.metrics import DOCUMENT_RENDER, timed
from invoicing.schemas.events import InvoiceState


def _filename(state: InvoiceState, fmt: EInvoiceFormat) -> str:
    if fmt is EInvoiceFormat.ZUGFERD:
        return FACTURX_FILENAME
    number = re.sub(r"[^A-Za-z0-9._-]+", "_", state.number or str(state.id))
    return f"{number}.{fmt.filename_suffix}"


def build_einvoice(state: InvoiceState, fmt: EInvoiceFormat | str) -> EInvoice:
    """The XML of ``state`` in ``fmt`` (not validated). Raises ``DomainError`` for documents
    that cannot be e-invoices (quotes, drafts, missing addresses...)."""
    fmt = EInvoiceFormat(fmt)
    with timed(DOCUMENT_RENDER, kind=f"xml-{fmt.value}"):
        return _build_einvoice(state, fmt)


def _build_einvoice(state: InvoiceState, fmt: EInvoiceFormat) -> EInvoice:
    doc = prepare(state, fmt.value)
    if fmt is EInvoiceFormat.XRECHNUNG_CII:
        xml = build_cii(doc, XRECHNUNG_GUIDELINE)
    elif fmt is EInvoiceFormat.ZUGFERD:
        xml = build_cii(doc, FACTURX_EN16931_GUIDELINE)
    elif fmt is EInvoiceFormat.XRECHNUNG_UBL:
        xml = build_ubl(doc, XRECHNUNG_CUSTOMIZATION)
    else:  # prepare() checked both parties' participant ids
        xml = build_ubl(doc, PEPPOL_CUSTOMIZATION)
    return EInvoice(format=fmt, xml=xml, filename=_filename(state, fmt))


def build_validated_einvoice(
    state: InvoiceState, fmt: EInvoiceFormat | str
) -> tuple[EInvoice, Report]:
    """Build and validate with the official rules; ``DomainError`` listing the rule ids when
    the document fails (code ``einvoice_invalid``, one error per failed rule)."""
    einvoice = build_einvoice(state, fmt)
    report = ensure_valid(einvoice.xml, einvoice.profile)
    return einvoice, report


@dataclass(frozen=True)
class SendDocuments:
    """What to attach when sending: the PDF (the hybrid Factur-X PDF for ``zugferd``) and,
    for the pure-XML formats, the XML as a separate attachment."""

    pdf: bytes
    xml: EInvoice | None
    report: Report | None


def documents_for_sending(
    state: InvoiceState, fmt: EInvoiceFormat | str | None, pdf: bytes
) -> SendDocuments:
    """Everything the send handler attaches, validated; raises ``DomainError`` on failure.

    * ``None``: the PDF alone.
    * ``zugferd``: factur-x.xml embedded into ``pdf`` (which must be PDF/A-3b), then read
      back out of the hybrid PDF and compared byte for byte with the validated XML, so what
      leaves is exactly what was checked (a second Schematron run would cost ~130 ms and
      could only repeat the same verdict on the same bytes).
    * XRechnung / Peppol: the PDF plus the validated XML.
    """
    if fmt is None:
        return SendDocuments(pdf=pdf, xml=None, report=None)
    einvoice, report = build_validated_einvoice(state, fmt)
    if einvoice.format is not EInvoiceFormat.ZUGFERD:
        return SendDocuments(pdf=pdf, xml=einvoice, report=report)
    hybrid = embed_facturx(pdf, einvoice.xml, lang=state.locale)
    if extract_facturx(hybrid) != einvoice.xml:
        raise RuntimeError(
            "factur-x.xml read back from the hybrid PDF differs from the validated XML"
        )
    return SendDocuments(pdf=hybrid, xml=None, report=report)
