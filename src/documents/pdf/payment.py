"""Payment details printed on documents: Belgian structured communication and the EPC QR code.

* Structured communication (OGM/VCS, ``+++123/4567/89012+++``): computed by
  ``invoicing.documents.einvoice.prepare.structured_communication`` (python-stdnum, derived
  deterministically from the invoice number), the same function that fills BT-83, so the PDF,
  the e-invoice and the bank statement always agree. :func:`display_ogm` adds the ``+++``.
* EPC QR code ("GiroCode", EPC069-12 version 002): the SEPA credit-transfer payload, encoded
  and rendered as SVG by segno at error-correction level M, for EUR documents with an open
  amount. segno chooses the data mask itself (ISO/IEC 18004: the mask with the lowest
  penalty), through its public API only.
"""

from __future__ import annotations

from decimal import Decimal

import segno
from invoicing.documents.einvoice.prepare import structured_communication
from stdnum.be import ogm_vcs

EPC_MAX_AMOUNT = Decimal("999999999.99")


def display_ogm(invoice_number: str) -> str:
    """``+++ddd/dddd/ddddd+++`` for ``invoice_number`` (valid per ``stdnum.be.ogm_vcs``)."""
    return f"+++{ogm_vcs.format(ogm_vcs.validate(structured_communication(invoice_number)))}+++"


def _epc_text(value: str, limit: int) -> str:
    """One EPC field: a single line (CR/LF would shift every following field), trimmed."""
    return " ".join(value.split())[:limit]


def epc_payload(
    *,
    name: str,
    iban: str,
    amount: Decimal,
    bic: str | None = None,
    reference: str | None = None,
    text: str | None = None,
) -> str:
    """The EPC069-12 v002 payload (UTF-8, SEPA credit transfer).

    ``reference`` is an ISO 11649 creditor reference (RF...), the EPC's structured field;
    ``text`` is the unstructured remittance information (at most 140 characters). The Belgian
    structured communication is sent as text ``+++...+++``, which Belgian banking apps recognise.
    """
    if amount <= 0 or amount > EPC_MAX_AMOUNT:
        raise ValueError(f"EPC QR amount must be between 0.01 and {EPC_MAX_AMOUNT}")
    if reference and text:
        raise ValueError("give either a structured reference or a text, not both")
    fields = [
        "BCD",
        "002",
        "1",  # UTF-8
        "SCT",
        _epc_text(bic or "", 11),
        _epc_text(name, 70),
        "".join(iban.split()).upper(),
        f"EUR{amount.quantize(Decimal('0.01'))}",
        "",  # purpose
        _epc_text(reference or "", 35),
        _epc_text(text or "", 140),
    ]
    while fields and fields[-1] == "":
        fields.pop()
    return "\n".join(fields)


def qr_code(payload: str) -> segno.QRCode:
    """The EPC QR symbol: error correction M (EPC069-12), never a Micro QR, UTF-8."""
    return segno.make(payload, error="m", micro=False, boost_error=False, encoding="utf-8")


def qr_svg(payload: str) -> str:
    """The payload as a standalone SVG (black modules, no XML declaration, 4-module quiet zone)."""
    svg: str = qr_code(payload).svg_inline(scale=4, border=4, dark="#000", light="#fff")
    if "xmlns=" not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return svg
