"""QR codes as printed: a PDF's first page rasterized by poppler (``pdftoppm``, installed by
scripts/ensure-browser.sh) and read back with zxing, as a phone's banking app would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import zxingcpp


def printed_qr(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    """Every QR code on the PDF's first page as printed (150 dpi, grey), each as its lines."""
    path = tmp_path / "printed.pdf"
    path.write_bytes(pdf)
    cmd = ["pdftoppm", "-gray", "-r", "150", "-singlefile", str(path), str(tmp_path / "page")]
    subprocess.run(cmd, check=True)
    magic, width, height, maxval, pixels = (tmp_path / "page.pgm").read_bytes().split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"  # one byte of grey a pixel
    view = zxingcpp.ImageView(pixels, int(width), int(height), zxingcpp.ImageFormat.Lum)
    found = zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode)
    return [bytes(f.bytes).decode("utf-8").split("\n") for f in found]
