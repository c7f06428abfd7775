"""EN 16931 e-invoices: XRechnung 3.0 (CII, UBL), ZUGFeRD / Factur-X EN 16931, Peppol BIS 3.0.

Entry points for the send path::

    fmt = select_format(state, organization_default)        # None: no e-invoice
    docs = documents_for_sending(state, fmt, pdf_bytes)       # DomainError when invalid
    # attach docs.pdf (hybrid for zugferd) and docs.xml (XRechnung / Peppol) if not None

See docs/einvoice.md for the field mapping and what is validated.
"""

from invoicing.documents.einvoice.build import (
    SendDocuments,
    build_einvoice,
    build_validated_einvoice,
    documents_for_sending,
)
from invoicing.documents.einvoice.facturx import embed_facturx, extract_facturx
from invoicing.documents.einvoice.formats import EInvoice, EInvoiceFormat, select_format
from invoicing.documents.einvoice.prepare import (
    check_currencies,
    check_einvoice,
    currency_errors,
    einvoice_errors,
    payment_reference,
    structured_communication,
)
from invoicing.documents.einvoice.validation import (
    Finding,
    Profile,
    Report,
    RulesNotFound,
    Severity,
    ensure_valid,
    get_validator,
    rules_available,
    validate,
)

__all__ = [
    "EInvoice",
    "EInvoiceFormat",
    "Finding",
    "Profile",
    "Report",
    "RulesNotFound",
    "SendDocuments",
    "Severity",
    "build_einvoice",
    "build_validated_einvoice",
    "check_currencies",
    "check_einvoice",
    "currency_errors",
    "documents_for_sending",
    "einvoice_errors",
    "embed_facturx",
    "ensure_valid",
    "extract_facturx",
    "get_validator",
    "payment_reference",
    "rules_available",
    "select_format",
    "structured_communication",
    "validate",
]
