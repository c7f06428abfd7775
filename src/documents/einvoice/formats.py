"""E-invoice formats, their syntax and validation profile, and how one is chosen."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from invoicing.documents.einvoice.validation import Profile
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState, Party


class EInvoiceFormat(StrEnum):
    """The values of the customer's ``einvoice_format`` (``"none"`` means no e-invoice)."""

    XRECHNUNG_CII = "xrechnung_cii"
    XRECHNUNG_UBL = "xrechnung_ubl"
    ZUGFERD = "zugferd"
    PEPPOL = "peppol"

    @property
    def syntax(self) -> str:
        return "cii" if self in (EInvoiceFormat.XRECHNUNG_CII, EInvoiceFormat.ZUGFERD) else "ubl"

    @property
    def profile(self) -> Profile:
        return _PROFILES[self]

    @property
    def display_name(self) -> str:
        """The format's name as the customer knows it (email texts): a proper name, the same
        in every language."""
        return {
            EInvoiceFormat.XRECHNUNG_CII: "XRechnung (CII)",
            EInvoiceFormat.XRECHNUNG_UBL: "XRechnung (UBL)",
            EInvoiceFormat.ZUGFERD: "ZUGFeRD",
            EInvoiceFormat.PEPPOL: "Peppol BIS Billing 3.0",
        }[self]

    @property
    def filename_suffix(self) -> str:
        return {
            EInvoiceFormat.XRECHNUNG_CII: "xrechnung-cii.xml",
            EInvoiceFormat.XRECHNUNG_UBL: "xrechnung-ubl.xml",
            EInvoiceFormat.ZUGFERD: "factur-x.xml",
            EInvoiceFormat.PEPPOL: "peppol.xml",
        }[self]


_PROFILES = {
    EInvoiceFormat.XRECHNUNG_CII: Profile.XRECHNUNG_CII,
    EInvoiceFormat.XRECHNUNG_UBL: Profile.XRECHNUNG_UBL,
    EInvoiceFormat.ZUGFERD: Profile.FACTURX_EN16931,
    EInvoiceFormat.PEPPOL: Profile.PEPPOL_UBL,
}

NONE = "none"


@dataclass(frozen=True)
class EInvoice:
    """One built e-invoice (not yet validated unless it came from ``build_validated``)."""

    format: EInvoiceFormat
    xml: bytes
    filename: str
    media_type: str = "application/xml"

    @property
    def profile(self) -> Profile:
        return self.format.profile


def consumer_buyer(buyer: Party) -> bool:
    """A private person: the customer's ``customer_type`` says ``consumer``, or it says nothing
    and the customer has no company name, VAT id, Peppol participant id, buyer reference (a
    German public buyer's Leitweg-ID, BT-10) or register entry. In doubt a business (the
    organization's default e-invoice goes out as before)."""
    if buyer.customer_type in ("business", "consumer"):
        return buyer.customer_type == "consumer"
    return not (
        buyer.company
        or buyer.vat_id
        or buyer.peppol_id
        or buyer.buyer_reference
        or buyer.registration
    )


def select_format(
    state: InvoiceState, organization_default: str | None = None
) -> EInvoiceFormat | None:
    """The format for this document: the buyer snapshot's ``einvoice_format``, else, for a
    business buyer, the organization default; ``None`` (or ``"none"``) means no e-invoice is
    produced. The organization's default is for business customers only: the Belgian and the
    German e-invoicing mandates concern supplies between businesses, and a consumer has no
    Peppol participant id (Peppol documents to consumers were refused with
    ``peppol_buyer_endpoint_missing`` until session 40). A consumer gets an e-invoice only when
    its own ``einvoice_format`` asks for one (:func:`consumer_buyer`).

    Raises ``DomainError`` for an unknown format name.
    """
    buyer = state.buyer
    chosen = buyer.einvoice_format if buyer is not None else None
    if chosen is None:
        if buyer is not None and consumer_buyer(buyer):
            return None
        chosen = organization_default
    if chosen is None or chosen == NONE:
        return None
    try:
        return EInvoiceFormat(chosen)
    except ValueError as exc:
        raise DomainError(
            "unknown_einvoice_format",
            f"{chosen} is not an e-invoice format",
            pointer="/einvoice_format",
            hint="use one of " + ", ".join(f.value for f in EInvoiceFormat) + " or none",
        ) from exc
