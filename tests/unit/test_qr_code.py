"""The EPC QR code: level M, no Micro QR, the smallest version that holds the payload, the
mask chosen by the writer itself, a standalone SVG of the right size that scans to the payload.

The symbol is made by Zint (inside zxing-cpp's writer); it is decoded here by zxing-cpp's own
reader, a separate implementation, from the SVG as drawn and from the printed PDF."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.payment import (
    display_ogm,
    epc_payload,
    payment_qr,
    qr_code,
    qr_svg,
)

from tests.support import scenarios
from tests.support.external import require_tool
from tests.support.qr import printed_qr
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


def _svg_modules(svg: str) -> tuple[int, list[list[bool]]]:
    """The module grid the SVG draws (quiet zone included): (side, rows of dark flags)."""
    (side,) = {int(v) for v in re.findall(r'viewBox="0 0 (\d+) (\d+)"', svg)[0]}
    grid = [[False] * side for _ in range(side)]
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", svg):
        for i in range(int(w)):
            assert not grid[int(y)][int(x) + i], "runs overlap"
            grid[int(y)][int(x) + i] = True
    return side, grid


def _scan_svg(svg: str) -> zxingcpp.Barcode:
    side, grid = _svg_modules(svg)
    scale = 4
    gray = b"".join(
        bytes(0 if dark else 255 for dark in row for _ in range(scale))
        for row in grid
        for _ in range(scale)
    )
    (found,) = _decode(gray, side * scale, side * scale)
    return found


@pytest.mark.parametrize("payload", PAYLOADS)
def test_symbol(payload: str) -> None:
    qr = qr_code(payload)
    assert qr.format == zxingcpp.BarcodeFormat.QRCode  # model 2, never a Micro QR
    assert qr.ec_level == "M"
    found = _scan_svg(qr_svg(payload))
    version = int(found.extra["Version"])
    assert 0 <= int(found.extra["DataMask"]) <= 7
    # the smallest version: the same payload at one version less does not fit
    if version > 1:
        with pytest.raises(Exception, match="Input too long"):
            zxingcpp.create_barcode(
                payload.encode("utf-8"),
                zxingcpp.BarcodeFormat.QRCode,
                ec_level="M",
                version=version - 1,
            )
    svg = qr_svg(payload)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    side = 17 + 4 * version + 2 * 4  # modules of the version plus the 4-module quiet zones
    assert f'viewBox="0 0 {side} {side}"' in svg
    assert f'width="{side * 4}" height="{side * 4}"' in svg
    # the quiet zone is white
    _, grid = _svg_modules(svg)
    assert not any(grid[y][x] for y in range(side) for x in range(side) if min(x, y) < 4)
    assert not any(grid[y][x] for y in range(side) for x in range(side) if max(x, y) >= side - 4)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_svg_draws_the_writers_bitmap_as_maximal_runs(payload: str) -> None:
    """Every dark module of zxing-cpp's bitmap and nothing else, one rectangle per maximal
    horizontal run, in row order then left to right (the path as it was drawn with a regular
    expression per row before the faster split)."""
    image = qr_code(payload).to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape
    modules = memoryview(image).tobytes()  # type: ignore[arg-type]
    expected = "".join(
        f"M{run.start() + 4} {y + 4}h{run.end() - run.start()}v1h-{run.end() - run.start()}z"
        for y in range(height)
        for run in re.finditer(rb"\x00+", modules[y * width : (y + 1) * width])
    )
    (drawn,) = re.findall(r'<path fill="#000" d="([^"]*)"/>', qr_svg(payload))
    assert drawn == expected


def test_rendering_is_deterministic() -> None:
    assert qr_svg(PAYLOADS[1]) == qr_svg(PAYLOADS[1])


def _decode(gray: bytes, width: int, height: int) -> list[zxingcpp.Barcode]:
    view = zxingcpp.ImageView(gray, width, height, zxingcpp.ImageFormat.Lum)
    return list(zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_symbol_scans_to_the_payload(payload: str) -> None:
    """The SVG as drawn decodes to the payload's UTF-8 bytes, without an ECI designator
    (``]Q1``), error correction M."""
    found = _scan_svg(qr_svg(payload))
    assert found.bytes == payload.encode("utf-8")
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
    (payload,) = printed_qr(render_pdf(state), tmp_path)
    assert payload[:3] == ["BCD", "002", "1"]
    assert payload[6] == "DE89370400440532013000"
    assert payload[7] == f"EUR{state.totals.open_amount}"
    assert payload[-1] == state.number


def test_no_qr_code_beyond_what_the_standard_can_ask_for(tmp_path: Path) -> None:
    """EPC069-12 carries at most 999,999,999.99 EUR: an invoice whose open amount is more is
    rendered without a QR code (its bank details stay printed), where its PDF failed before
    (found by a PDF sweep of random documents, session 31)."""
    seller = {"name": "Kanzlei", "iban": "DE89370400440532013000", "bic": None, "text": "RE-1"}
    assert payment_qr(**seller, amount=Decimal("999999999.99")).startswith("<svg")
    assert payment_qr(**seller, amount=Decimal("1000000000.00")) == ""
    assert payment_qr(**seller, amount=Decimal("0")) == ""
    core = Core(tmp_path)
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    line = {"description": "Anlage", "quantity": "10000", "unit_price": "99999.99"}
    state = core.invoice(org, customer, [line])
    assert state.totals.open_amount == Decimal("1189999881.00")
    assert render_pdf(state).startswith(b"%PDF")
