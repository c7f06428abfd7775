"""Fast choice of the QR data mask, exactly the one segno would choose.

ISO/IEC 18004 7.8.3: the encoder applies each of the 8 data masks and keeps the one with the
lowest penalty (N1 runs, N2 2x2 blocks, N3 finder-like patterns, N4 dark proportion). segno does
this in pure Python, module by module (``find_and_apply_best_mask``/``mask_scores``), which is
~85 % of a GiroCode's cost. Here the same matrix segno evaluates is built with segno's own
encoder functions (data encoding, Reed-Solomon, function patterns; the codeword placement is read
off segno's ``add_codewords`` once per size), and the penalties of all 8 masks are computed on
the whole matrix at once with big-int bit operations.
:func:`best_mask` is then passed to ``segno.make(..., mask=...)``, so segno still encodes and
writes the final symbol; only the evaluation is replaced.

Equality with segno (1.6) is the contract, including its particular choices:

* The matrix is evaluated before format/version information is written: those areas hold 0
  (light), and so does the dark module at ``(-8, 8)``.
* N1: a run of ``L >= 5`` same-coloured modules in a row or column scores ``L - 2``.
* N2: 3 per 2x2 same-coloured block (overlapping blocks counted).
* N3: 40 per ``1011101`` in a row or column whose next 4 modules on at least one side are all
  light, counting only modules inside the symbol (a pattern at the edge qualifies, and so does
  one 1-3 modules from the edge with those modules light). After a counted pattern at ``p`` the
  search resumes at ``p + 7``, so overlapping patterns at ``p + 4`` and ``p + 6`` are not
  counted (this changes some mask's N3 for ~9 % of the test payloads).
* N4: ``10 * floor(|100 * dark / n² - 50| / 5)``; computed here with integers, which gives the
  same value as segno's float expression for every odd ``n`` (no exact boundary is reachable;
  the tests check every size and dark count).
* Ties keep the lowest mask number.

Per symbol size, the 8 data masks and segno's codeword placement are turned into bit masks and
gathers once per process (cached; 9 ms for version 6, 54 ms for version 17); per payload, segno
encodes the message (data, Reed-Solomon) and the 8 evaluations take ~0.1 ms (version 6)
instead of segno's ~4.6 ms.

tests/unit/test_qr_mask.py checks the choice and the 4 penalties of every mask against segno
for several hundred payloads, and the penalties against ``segno.encoder.mask_scores`` on
synthetic matrices built to exercise the N3 edge and overlap cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any, NamedTuple

import segno.consts
import segno.encoder

# segno.encoder and segno.consts are not public API and carry no annotations (segno ships
# py.typed with stubs for its public interface only); both are bound once as Any. pyproject.toml
# pins segno's minor series, and the tests compare with segno for every mask.
_enc: Any = segno.encoder
_consts: Any = segno.consts

_MASK_COUNT = 8
_BITS = bytes.maketrans(b"\x00\x01", b"01")


class _Geometry(NamedTuple):
    """Bit layout of an n x n matrix as two ints, one row-major, one column-major.

    Module ``(i, j)`` of the row-major int is bit ``i * stride + j``; the column-major int of
    the same matrix uses ``j * stride + i``. ``stride = n + 4`` leaves 4 light padding bits after
    each line so that shifted reads never run from one line into the next.
    """

    size: int
    stride: int
    pad: bytes
    pairs: int  # bits (line, k) with k <= n - 2: k and k + 1 are both inside the line
    sevens: int  # bits (line, k) with k <= n - 7: a 7-module pattern fits from k


class _Layout(NamedTuple):
    """Per QR Code size: segno's codeword placement as gathers and the 8 data masks as ints."""

    geometry: _Geometry
    data_modules: int  # modules segno's add_codewords fills (message bits incl. remainder)
    gather_rows: Callable[[bytes], tuple[int, ...]]
    gather_cols: Callable[[bytes], tuple[int, ...]]
    masks_rows: tuple[int, ...]
    masks_cols: tuple[int, ...]


def _bits(lines: Sequence[bytes], pad: bytes) -> int:
    """The 0/1 bytes ``lines`` as one int, module k of line l at bit ``l * stride + k``."""
    joined = pad.join(lines) + pad
    return int(joined[::-1].translate(_BITS), 2)


def _template(size: int) -> Any:
    """segno's matrix before codeword placement: timing, finder and alignment patterns, format
    and version areas reserved as 0, every other module 0x2 (to be filled with the message)."""
    matrix = _enc.make_matrix(size, size)
    _enc.add_finder_patterns(matrix, size, size)
    _enc.add_alignment_patterns(matrix, size, size)
    return matrix


def _placement(size: int) -> list[list[int]]:
    """Per module, the index of the message bit segno's ``add_codewords`` puts there (-1: not a
    data module). Read off segno's own placement: one pass per bit of the index."""
    template = _template(size)
    count = sum(row.count(0x2) for row in template)
    index = [[-1 if value != 0x2 else 0 for value in row] for row in template]
    for bit in range(max(count - 1, 1).bit_length()):
        matrix = _template(size)
        _enc.add_codewords(matrix, bytes((k >> bit) & 1 for k in range(count)), (size - 17) // 4)
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                if index[i][j] >= 0:
                    index[i][j] |= value << bit
    placed = sorted(k for row in index for k in row if k >= 0)
    if placed != list(range(count)):  # pragma: no cover - segno's placement changed shape
        raise RuntimeError("segno's codeword placement is not a permutation of the message")
    return index


@cache
def _geometry(size: int) -> _Geometry:
    stride = size + 4
    pad = bytes(stride - size)
    ones = b"\x01"
    return _Geometry(
        size=size,
        stride=stride,
        pad=pad,
        pairs=_bits([ones * (size - 1) + bytes(1)] * size, pad),
        sevens=_bits([ones * (size - 6) + bytes(6)] * size, pad),
    )


@cache
def _layout(size: int) -> _Layout:
    geometry = _geometry(size)
    pad = geometry.pad
    template = _template(size)
    if any(v not in (0, 1, 2) for row in template for v in row):  # pragma: no cover
        raise RuntimeError("unexpected module value in segno's function patterns")
    placement = _placement(size)
    count = sum(k >= 0 for row in placement for k in row)
    # Gathers from ``message bits + b"\x00\x01"``: data modules take their message bit,
    # function modules and padding the constant 0 or 1; reversed for ``int(..., 2)``.
    cells = [
        [placement[i][j] if placement[i][j] >= 0 else count + template[i][j] for j in range(size)]
        for i in range(size)
    ]
    light = [count] * len(pad)
    rows_order = [k for row in cells for k in (*row, *light)]
    cols_order = [k for col in zip(*cells, strict=True) for k in (*col, *light)]
    # The encoding region exactly as segno's find_and_apply_best_mask determines it: modules
    # still 0x2 after the function patterns and reserved areas are drawn, minus the dark module.
    template[-8][8] = 0x1
    region = [[template[i][j] > 0x1 for j in range(size)] for i in range(size)]
    masks_rows = []
    masks_cols = []
    for condition in _enc.get_data_mask_functions(False):
        rows = [
            bytes(int(region[i][j] and bool(condition(i, j))) for j in range(size))
            for i in range(size)
        ]
        masks_rows.append(_bits(rows, pad))
        masks_cols.append(_bits([bytes(col) for col in zip(*rows, strict=True)], pad))
    return _Layout(
        geometry=geometry,
        data_modules=count,
        gather_rows=itemgetter(*reversed(rows_order)),
        gather_cols=itemgetter(*reversed(cols_order)),
        masks_rows=tuple(masks_rows),
        masks_cols=tuple(masks_cols),
    )


def _lines_n1_n3(lines: int, geometry: _Geometry) -> tuple[int, int]:
    """N1 and N3 of all rows (or all columns) held in ``lines``."""
    # same[k]: module k equals module k + 1 (same line)
    same = ~(lines ^ (lines >> 1)) & geometry.pairs
    # run5[k]: modules k..k+4 have one colour; a maximal run of L >= 5 holds L - 4 of them
    run5 = same & (same >> 1) & (same >> 2) & (same >> 3)
    starts = run5 & ~(same << 1)  # the first window of each run
    n1 = run5.bit_count() + 2 * starts.bit_count()  # (L - 4) + 2 = L - 2 per run

    light = ~lines
    finder = (
        lines
        & (light >> 1)
        & (lines >> 2)
        & (lines >> 3)
        & (lines >> 4)
        & (light >> 5)
        & (lines >> 6)
        & geometry.sevens
    )
    if not finder:
        return n1, 0
    pair = lines | (lines << 1)  # pair[k]: module k or k - 1 dark
    dark_before = (pair << 1) | (pair << 3)  # any of k-4..k-1 dark (padding is light)
    dark_after = (pair >> 8) | (pair >> 10)  # any of k+7..k+10 dark
    counted = finder & ~(dark_before & dark_after)
    if not counted & ((counted << 4) | (counted << 6)):
        return n1, 40 * counted.bit_count()
    # Rare: a qualifying pattern 4 or 6 modules after another one. segno resumes its search
    # 7 modules after a counted pattern, so walk them in order.
    n3 = 0
    last = -7
    while counted:
        low = counted & -counted
        position = low.bit_length() - 1
        if position - last >= 7:
            n3 += 40
            last = position
        counted ^= low
    return n1, n3


def _scores(rows: int, cols: int, geometry: _Geometry) -> tuple[int, int, int, int]:
    """``(N1, N2, N3, N4)`` of the matrix given row-major and column-major."""
    n1_rows, n3_rows = _lines_n1_n3(rows, geometry)
    n1_cols, n3_cols = _lines_n1_n3(cols, geometry)
    same = ~(rows ^ (rows >> 1)) & geometry.pairs
    vertical = ~(rows ^ (rows >> geometry.stride))
    n2 = 3 * (same & (same >> geometry.stride) & vertical).bit_count()  # 2x2 blocks
    return n1_rows + n1_cols, n2, n3_rows + n3_cols, _n4(rows.bit_count(), geometry.size**2)


def _n4(dark: int, area: int) -> int:
    """10 per full 5 % that the dark proportion deviates from 50 %, in integers."""
    return 10 * (abs(20 * dark - 10 * area) // area)


def matrix_scores(matrix: Sequence[bytes | bytearray]) -> tuple[int, int, int, int]:
    """``(N1, N2, N3, N4)`` of a square 0/1 matrix, as ``segno.encoder.mask_scores`` computes."""
    size = len(matrix)
    rows = [bytes(row) for row in matrix]
    if size < 7 or any(len(row) != size or row.translate(None, b"\x00\x01") for row in rows):
        raise ValueError("matrix must be square (at least 7 x 7) and hold only 0 and 1")
    geometry = _geometry(size)
    cols = [bytes(col) for col in zip(*rows, strict=True)]
    return _scores(_bits(rows, geometry.pad), _bits(cols, geometry.pad), geometry)


def _message(payload: str) -> tuple[int, bytes]:
    """Version and final message bits (data and error correction codewords, remainder bits).

    The steps of ``segno.make(payload, error="m", micro=False, boost_error=False,
    encoding="utf-8")`` up to codeword placement, with segno's functions: byte mode in UTF-8, no
    ECI, smallest QR Code version at level M.
    """
    error = _enc.normalize_errorlevel("m")
    segments = _enc.prepare_data(payload, None, "utf-8")
    version: int = _enc.find_version(segments, error, eci=False, micro=False)
    buff = _enc.Buffer()
    ver_range = _enc.version_range(version)
    for segment in segments:
        _enc.write_segment(buff, segment, None, ver_range, False)
    capacity = _consts.SYMBOL_CAPACITY[version][error]
    _enc.write_terminator(buff, capacity, None, len(buff))
    _enc.write_padding_bits(buff, version, len(buff))
    _enc.write_pad_codewords(buff, version, capacity, len(buff))
    return version, bytes(_enc.make_final_message(version, error, buff).getbits())


def mask_scores(payload: str) -> tuple[tuple[int, int, int, int], ...] | None:
    """``(N1, N2, N3, N4)`` for masks 0..7, or None if the message does not fit the layout."""
    version, message = _message(payload)
    layout = _layout(_enc.calc_matrix_size(version))
    if len(message) != layout.data_modules or message.translate(None, b"\x00\x01"):
        return None  # not expected for any QR version; let segno decide
    source = message + b"\x00\x01"
    base_rows = int(bytes(layout.gather_rows(source)).translate(_BITS), 2)
    base_cols = int(bytes(layout.gather_cols(source)).translate(_BITS), 2)
    return tuple(
        _scores(base_rows ^ layout.masks_rows[k], base_cols ^ layout.masks_cols[k], layout.geometry)
        for k in range(_MASK_COUNT)
    )


def best_mask(payload: str) -> int | None:
    """The data mask segno would choose for ``payload`` (lowest total penalty, first on ties).

    None only if the matrix could not be evaluated here; segno then chooses itself.
    """
    scores = mask_scores(payload)
    if scores is None:
        return None
    totals = [sum(score) for score in scores]
    return totals.index(min(totals))
