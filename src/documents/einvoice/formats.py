"""E-invoice formats, their syntax and validation profile, and how one is chosen."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from invoicing.documents.einvoice.validation import Profile
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState


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


def select_format(
    state: InvoiceState, organization_default: str | None = None
) -> EInvoiceFormat | None:
    """The format for this document: the buyer snapshot's ``einvoice_format``, else the
    organization default; ``None`` (or ``"none"``) means no e-invoice is produced.

    Raises ``DomainError`` for an unknown format name.
    """
    chosen = state.buyer.einvoice_format if state.buyer is not None else None
    if chosen is None:
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
