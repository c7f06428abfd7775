"""qrmask: the QR data mask is exactly segno's choice, and every mask's penalty equals segno's.

The oracle is segno itself: while ``segno.make`` runs, ``segno.encoder.evaluate_mask`` is
wrapped to record ``segno.encoder.mask_scores`` of each matrix segno evaluates (masks 0..7, in
order), so a divergence shows per mask and per penalty rule, not only when it flips the winner.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import segno
import segno.encoder
from invoicing.documents.pdf import qrmask
from invoicing.documents.pdf.payment import display_ogm, epc_payload, qr_svg

Scores = tuple[int, int, int, int]

_enc: Any = segno.encoder

# EPC fields allow the Latin character set; UTF-8 payloads carry any of these.
_LATIN = string.ascii_letters + string.digits + " .,-&'/()+:?"
_ACCENTS = "äöüÄÖÜßéèêàçñÑÆæØøÅåŁłŒœŽžČčĞğİıÐðÞþ€"
_IBANS = [
    "BE71 0961 2345 6769",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "AT61 1904 3002 3457 3201",
    "LU28 0019 4006 4475 0000",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
    "LC55 HEMM 0001 0001 0012 0012 0002 3015",
]


@contextmanager
def recording_segno() -> Iterator[list[Scores]]:
    """Collects ``mask_scores`` of every matrix segno's mask selection evaluates."""
    recorded: list[Scores] = []
    original_scores: Callable[..., Sequence[int]] = _enc.mask_scores

    def evaluate(matrix: Any, width: int, height: int) -> int:
        scores = tuple(original_scores(matrix, width, height))
        assert len(scores) == 4
        recorded.append((scores[0], scores[1], scores[2], scores[3]))
        return sum(scores)

    with mock.patch.object(segno.encoder, "evaluate_mask", evaluate):
        yield recorded


def segno_choice(payload: str) -> tuple[int, int, list[Scores]]:
    """Version, chosen mask and the 8 recorded penalties of segno's automatic selection."""
    with recording_segno() as recorded:
        qr = segno.make(payload, error="m", micro=False, boost_error=False, encoding="utf-8")
    assert len(recorded) == 8, "segno's mask evaluation was not observed"
    return qr.version, qr.mask, list(recorded)


def _text(rnd: random.Random, low: int, high: int, accents: float = 0.15) -> str:
    chars = [
        rnd.choice(_ACCENTS) if rnd.random() < accents else rnd.choice(_LATIN)
        for _ in range(rnd.randint(low, high))
    ]
    return "".join(chars).strip() or "x"


def _amount(rnd: random.Random) -> Decimal:
    digits = rnd.randint(0, 9)
    cents = rnd.randint(1, 99) if digits == 0 else rnd.randint(0, 10**digits * 100 - 1)
    return min(Decimal(max(cents, 1)) / 100, Decimal("999999999.99"))


def real_payloads(count: int, seed: int) -> list[str]:
    """Payloads from ``epc_payload``: names, IBANs, amounts, BIC or not, OGM/RF/free text."""
    rnd = random.Random(seed)
    payloads = []
    for n in range(count):
        kind = n % 4
        reference = text = None
        if kind == 0:
            text = display_ogm(f"{rnd.randint(2020, 2030)}-{rnd.randint(1, 999999):06d}")
        elif kind == 1:
            reference = f"RF{rnd.randint(10, 99)}{rnd.randint(1, 10 ** rnd.randint(3, 21))}"
        elif kind == 2:
            text = _text(rnd, 1, 140)
        payloads.append(
            epc_payload(
                name=_text(rnd, 1, 70, accents=rnd.choice([0.0, 0.1, 0.5])),
                iban=rnd.choice(_IBANS),
                amount=_amount(rnd),
                bic=rnd.choice([None, "GKCCBEBB", "COBADEFFXXX", "BNPAFRPPXXX"]),
                reference=reference,
                text=text,
            )
        )
    return payloads


def raw_payloads(count: int, seed: int) -> list[str]:
    """EPC-shaped and free strings of every length up to the EPC maximum (versions 1-17)."""
    rnd = random.Random(seed)
    payloads = []
    for n in range(count):
        if n % 2:
            fields = ["BCD", "002", "1", "SCT", _text(rnd, 0, 11), _text(rnd, 1, 70)]
            fields += [_text(rnd, 15, 34), f"EUR{_amount(rnd)}", "", "", _text(rnd, 0, 140)]
            payloads.append("\n".join(fields)[: rnd.randint(1, 331)])
        else:
            payloads.append(_text(rnd, 1, rnd.choice([10, 40, 120, 331]), accents=0.3))
    return payloads


FIXED_PAYLOADS = [
    "Müller",
    "a",
    "0123456789",  # numeric mode
    "HELLO WORLD $%*+-./:",  # alphanumeric mode
    "BCD\n002\n1\nSCT\n\nMüller GmbH\nDE89370400440532013000\nEUR0.01",
    epc_payload(
        name="Müller & Söhne GmbH",
        iban="BE71 0961 2345 6769",
        amount=Decimal("1234.56"),
        bic="GKCCBEBB",
        text=display_ogm("2024-000123"),
    ),
    epc_payload(
        name="Ä" * 70,
        iban="BE71096123456769",
        amount=Decimal("999999999.99"),
        bic="GKCCBEBBXXX",
        text="ü" * 140,
    ),
]

PAYLOADS = FIXED_PAYLOADS + real_payloads(300, seed=20240611) + raw_payloads(240, seed=7)


def test_payload_set() -> None:
    assert len(PAYLOADS) >= 500
    assert len(set(PAYLOADS)) > 500


def test_every_mask_score_and_the_choice_equal_segno() -> None:
    versions: set[int] = set()
    mismatches = []
    for payload in PAYLOADS:
        version, mask, segno_scores = segno_choice(payload)
        versions.add(version)
        ours = qrmask.mask_scores(payload)
        chosen = qrmask.best_mask(payload)
        if ours is None or list(ours) != segno_scores or chosen != mask:
            mismatches.append((payload, version, mask, chosen, segno_scores, ours))
        else:
            assert [sum(s) for s in ours] == [sum(s) for s in segno_scores]
    assert not mismatches, f"{len(mismatches)} of {len(PAYLOADS)} differ; first: {mismatches[0]}"
    assert versions >= set(range(1, 18)), sorted(versions)


@pytest.mark.parametrize("byte_length", [600, 700, 1000, 1400, 2300])
def test_large_versions_equal_segno(byte_length: int) -> None:
    # Beyond EPC sizes: more alignment patterns, version information areas, other remainders.
    payload = _text(random.Random(byte_length), byte_length, byte_length, accents=0.0)
    version, mask, segno_scores = segno_choice(payload)
    assert version >= 18
    assert list(qrmask.mask_scores(payload) or ()) == segno_scores
    assert qrmask.best_mask(payload) == mask


def _random_matrix(rnd: random.Random, size: int) -> tuple[bytearray, ...]:
    density = rnd.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
    return tuple(bytearray(int(rnd.random() < density) for _ in range(size)) for _ in range(size))


# Finder-like patterns with their neighbourhoods: at the edge, 1-3 modules from it, light on one
# side, and overlapping chains (second pattern 4 or 6 modules later) that segno skips.
_PLANTED = [
    bytes(map(int, bits))
    for bits in [
        "1011101",
        "00001011101",
        "10111010000",
        "0000101110100001",
        "10111011101",
        "000010111011101",
        "101110111010000",
        "1011101011101",
        "00001011101011101",
        "10111010111010000",
        "1011101110111011101",
        "0000101110111011101",
        "1011101011101011101",
        "10111011101011101",
        "01011101",
        "001011101",
        "0001011101",
        "1001011101",
        "10111010",
        "101110100",
        "1011101000",
    ]
]


def _planted_matrix(rnd: random.Random, size: int) -> tuple[bytearray, ...]:
    matrix = _random_matrix(rnd, size)
    for _ in range(rnd.randint(1, 40)):
        pattern = rnd.choice(_PLANTED)
        line = rnd.randrange(size)
        last = size - len(pattern)
        start = min(rnd.choice([0, 1, 2, 3, last, rnd.randrange(last)]), last)
        if rnd.random() < 0.5:
            matrix[line][start : start + len(pattern)] = pattern
        else:
            for k, value in enumerate(pattern):
                matrix[start + k][line] = value
    return matrix


def test_matrix_scores_equal_segno_on_synthetic_matrices() -> None:
    rnd = random.Random(18004)
    for n in range(1500):
        size = rnd.choice([21, 25, 29, 41, 45, 57, 77])
        matrix = _planted_matrix(rnd, size) if n % 3 else _random_matrix(rnd, size)
        expected = tuple(_enc.mask_scores(matrix, size, size))
        assert qrmask.matrix_scores(matrix) == expected, [bytes(row).hex() for row in matrix]


def test_n3_overlap_and_edge_cases_equal_segno() -> None:
    size = 21
    for pattern in _PLANTED:
        for start in range(size - len(pattern) + 1):
            for background in (0, 1):
                matrix = tuple(bytearray([background] * size) for _ in range(size))
                matrix[10][start : start + len(pattern)] = pattern
                for k, value in enumerate(pattern):
                    matrix[start + k][4] = value
                expected = tuple(_enc.mask_scores(matrix, size, size))
                assert qrmask.matrix_scores(matrix) == expected, (pattern, start, background)


def test_n3_skips_the_overlapping_pattern_like_segno() -> None:
    # Two finder-like patterns 4 modules apart, light before the first and after the second:
    # segno counts the first (light before) and resumes its search after it, so the second is
    # not counted although it has 4 light modules after it.
    size = 21
    matrix = tuple(bytearray(size) for _ in range(size))
    matrix[10][2:17] = bytes(map(int, "000010111011101"))
    matrix[10][17:] = bytes(4)
    assert _enc.mask_scores(matrix, size, size)[2] == 40
    assert qrmask.matrix_scores(matrix)[2] == 40


def test_n4_in_integers_equals_segnos_float_expression() -> None:
    for size in range(21, 178, 4):
        area = size * size
        for dark in range(area + 1):
            # segno 1.6 mask_scores: float(dark) / size**2, then 10 * int(abs(pct * 100 - 50) / 5)
            expected = 10 * int(abs(float(dark) / area * 100 - 50) / 5)
            assert qrmask._n4(dark, area) == expected, (size, dark)


def _segno_svg(payload: str) -> str:
    qr = segno.make(payload, error="m", micro=False, boost_error=False, encoding="utf-8")
    svg: str = qr.svg_inline(scale=4, border=4, dark="#000", light="#fff")
    if "xmlns=" not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return svg


def test_qr_svg_equals_segno_with_automatic_mask() -> None:
    payloads = FIXED_PAYLOADS + real_payloads(40, seed=99) + raw_payloads(20, seed=98)
    masks = set()
    for payload in payloads:
        assert qr_svg(payload) == _segno_svg(payload), payload
        masks.add(qrmask.best_mask(payload))
    assert len(masks) >= 6  # the set exercises most masks, not one winner
