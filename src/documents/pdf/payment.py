"""Payment details printed on documents: Belgian structured communication and the EPC QR code.

* Structured communication (OGM/VCS, ``+++123/4567/89012+++``): assigned at finalize and
  stored (``InvoiceState.payment_reference``, ``domain.payment_reference``: unique per
  organization); the PDF, the email, the QR code and BT-83 all read it through
  ``invoicing.documents.einvoice.prepare.payment_reference``, so they and the bank statement
  agree. :func:`display_ogm` is the communication derived from a number alone (the first
  choice at finalize, and what documents finalized before it was stored carry).
* EPC QR code ("GiroCode", EPC069-12 version 002): the SEPA credit-transfer payload for EUR
  documents with an open amount, encoded at error-correction level M and drawn as SVG by
  zxing-cpp's writer (``create_barcode`` / ``to_svg``, its public API; the symbol itself is
  made by the Zint library inside it). The payload goes in as its UTF-8 bytes, without an ECI
  designator (EPC069-12 names the character set in the payload's third line); Zint picks the
  smallest version, splits the data into numeric, alphanumeric and byte segments, and chooses
  the data mask itself (ISO/IEC 18004: the mask with the lowest penalty). In C this takes
  about 0.3 ms, where segno, pure Python, took 5-6 ms for the same symbol (docs/pdf.md).
"""

from __future__ import annotations

from decimal import Decimal

import zxingcpp
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


def payment_qr(*, name: str, iban: str, bic: str | None, amount: Decimal, text: str | None) -> str:
    """The EPC QR code (SVG) asking for a transfer of ``amount`` EUR, or "" when the standard
    cannot ask for it: nothing to pay, or more than ``EPC_MAX_AMOUNT`` (999,999,999.99; the
    bank details printed beside it stay). Before session 31 such a document failed to render
    at all (``epc_payload`` refuses the amount; found by a PDF sweep of random documents)."""
    if amount <= 0 or amount > EPC_MAX_AMOUNT:
        return ""
    return qr_svg(epc_payload(name=name, iban=iban, bic=bic, amount=amount, text=text))


def qr_code(payload: str) -> zxingcpp.Barcode:
    """The EPC QR symbol: a QR Code model 2 (never a Micro QR) at error correction M
    (EPC069-12), holding the payload's UTF-8 bytes; version, segments and mask chosen by the
    library."""
    return zxingcpp.create_barcode(
        payload.encode("utf-8"), zxingcpp.BarcodeFormat.QRCode, ec_level="M"
    )


#: the writer's bitmap as dark (0, black) and light (255) modules only
_LIGHT = bytes([0] + [255] * 255)
QUIET_ZONE = 4  # modules of white around the symbol (ISO/IEC 18004: at least 4)
MODULE_SIZE = 4  # SVG user units per module


def qr_svg(payload: str) -> str:
    """The payload as a standalone SVG: black modules on white, a 4-module quiet zone, 4 user
    units per module (Typst scales it to its printed width).

    Drawn from the writer's module bitmap: one path, a rectangle per horizontal run of dark
    modules (zxing-cpp's own ``to_svg`` goes through Zint's vector renderer, which took as
    long as encoding the symbol)."""
    image = qr_code(payload).to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape
    # one byte per module, row by row, 0 = dark (the image exports the buffer protocol; its
    # stubs declare only the equivalent __array_interface__)
    modules = memoryview(image).tobytes().translate(_LIGHT)  # type: ignore[arg-type]
    if len(modules) != width * height:
        raise RuntimeError(f"QR bitmap of {len(modules)} bytes for {width}x{height} modules")
    # the runs of dark modules of a row are the non-empty pieces between its light modules;
    # the x and width parts of the commands are made once per symbol, not once per run
    at_x = [f"M{x + QUIET_ZONE} " for x in range(width)]
    bar = [f"h{w}v1h-{w}z" for w in range(width + 1)]
    runs: list[str] = []
    for y in range(height):
        row_y = str(y + QUIET_ZONE)
        x = 0
        for piece in modules[y * width : (y + 1) * width].split(b"\xff"):
            if piece:
                runs.append(at_x[x] + row_y + bar[len(piece)])
                x += len(piece)
            x += 1
    view_w, view_h = width + 2 * QUIET_ZONE, height + 2 * QUIET_ZONE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{view_w * MODULE_SIZE}" '
        f'height="{view_h * MODULE_SIZE}" viewBox="0 0 {view_w} {view_h}">'
        f'<rect width="{view_w}" height="{view_h}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )
