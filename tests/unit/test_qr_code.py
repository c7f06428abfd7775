"""The EPC QR code: level M, no Micro QR, the smallest version that holds the payload, the
mask chosen by segno itself, a standalone SVG of the right size."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import segno
import zxingcpp
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.payment import display_ogm, epc_payload, qr_code, qr_svg

from tests.support import scenarios
from tests.support.external import require_tool
from tests.support.scenarios import Core

PAYLOADS = [
    epc_payload(name="Kanzlei Müller GmbH", iban="DE89370400440532013000", amount=Decimal("1.5")),
    epc_payload(
        name="Müller & Söhne GmbH",
        iban="BE71 0961 2345 6769",
        amount=Decimal("1234.56"),
        bic="GKCCBEBB",
        text=display_ogm("2024-000123"),
    ),
    epc_payload(  # the longest payload EPC069-12 allows
        name="Ä" * 70,
        iban="BE71096123456769",
        amount=Decimal("999999999.99"),
        bic="GKCCBEBBXXX",
        text="ü" * 140,
    ),
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_symbol(payload: str) -> None:
    qr = qr_code(payload)
    assert qr.error == "M" and not qr.is_micro
    assert 0 <= qr.mask <= 7
    # the smallest version: the same payload at one version less does not fit
    if isinstance(qr.version, int) and qr.version > 1:
        with pytest.raises(segno.DataOverflowError):
            segno.make(
                payload,
                error="m",
                micro=False,
                version=qr.version - 1,
                boost_error=False,
                encoding="utf-8",
            )
    svg = qr_svg(payload)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    side = (qr.symbol_size(scale=4, border=4))[0]
    assert re.search(rf'width="{side}"', svg), svg[:200]


def test_rendering_is_deterministic() -> None:
    assert qr_svg(PAYLOADS[1]) == qr_svg(PAYLOADS[1])


def _decode(gray: bytes, width: int, height: int) -> list[zxingcpp.Barcode]:
    view = zxingcpp.ImageView(gray, width, height, zxingcpp.ImageFormat.Lum)
    return list(zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_symbol_scans_to_the_payload(payload: str) -> None:
    """Decoded by a second, independent implementation (zxing-cpp): UTF-8 bytes in byte
    mode without ECI (``]Q1``), error correction M."""
    gray = b"".join(
        bytes(0 if dark else 255 for dark in row)
        for row in qr_code(payload).matrix_iter(scale=4, border=4)
    )
    side = int(len(gray) ** 0.5)
    (found,) = _decode(gray, side, side)
    assert found.bytes.decode("utf-8") == payload
    assert found.ec_level == "M" and found.symbology_identifier == "]Q1"


def test_the_printed_qr_code_scans(tmp_path: Path) -> None:
    """The QR code as printed in the PDF (rasterized by poppler at 150 dpi) scans to the EPC
    payload of the invoice."""
    require_tool(
        shutil.which("pdftoppm") is not None,
        "pdftoppm (poppler-utils) not installed: run scripts/ensure-browser.sh",
    )
    core = Core(tmp_path)
    state = scenarios.german_domestic(core)
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(render_pdf(state))
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "150", "-singlefile", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    raw = (tmp_path / "page.pgm").read_bytes()
    magic, width, height, maxval, pixels = raw.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    (found,) = _decode(pixels, int(width), int(height))
    payload = found.bytes.decode("utf-8").split("\n")
    assert payload[:3] == ["BCD", "002", "1"]
    assert payload[6] == "DE89370400440532013000"
    assert payload[7] == f"EUR{state.totals.open_amount}"
    assert payload[-1] == state.number
