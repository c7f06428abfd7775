"""Payment details printed on documents: Belgian structured communication and the EPC QR code.

* Structured communication (OGM/VCS, ``+++123/4567/89012+++``): 10 base digits and 2 check
  digits (base mod 97, 0 -> 97), computed with python-stdnum. It is derived deterministically
  from the invoice number, so the PDF, the e-invoice (BT-83) and the bank statement agree and a
  re-render gives the same reference.
* EPC QR code ("GiroCode", EPC069-12 version 002): the SEPA credit-transfer payload, rendered
  as SVG with segno at error-correction level M, for EUR documents with an open amount.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import segno
from stdnum.be import ogm_vcs

EPC_MAX_AMOUNT = Decimal("999999999.99")


def ogm_base(invoice_number: str) -> str:
    """The 10 base digits for an invoice number.

    The number's digits are used as they are when there are at most 10 of them (RE-2026-0042 ->
    0020260042), which keeps the reference readable; longer numbers are hashed into 10 digits.
    The result is never all zeros (banks reject 000/0000/00097).
    """
    digits = "".join(ch for ch in invoice_number if ch.isdigit())
    if not digits or len(digits) > 10 or int(digits) == 0:
        digest = hashlib.sha256(invoice_number.encode("utf-8")).digest()
        digits = str(int.from_bytes(digest[:8], "big") % 10**10 or 1)
    return digits.zfill(10)


def structured_communication(invoice_number: str) -> str:
    """``+++XXX/XXXX/XXXXX+++`` for ``invoice_number`` (valid per ``stdnum.be.ogm_vcs``)."""
    base = ogm_base(invoice_number)
    number = base + ogm_vcs.calc_check_digits(base)
    return f"+++{ogm_vcs.format(ogm_vcs.validate(number))}+++"


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


def qr_svg(payload: str) -> str:
    """The payload as a standalone SVG (black modules, no XML declaration, 4-module quiet zone)."""
    qr = segno.make(payload, error="m", micro=False, boost_error=False, encoding="utf-8")
    svg: str = qr.svg_inline(scale=4, border=4, dark="#000", light="#fff")
    if "xmlns=" not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return svg
