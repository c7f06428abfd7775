"""Rows whose VAT DATEV extracts to the ledger's cent (src/exports/datev_vat.py) and the VAT
of a foreign-currency invoice's corrections in euros (domain.fx.ledger_vat_values)."""

from __future__ import annotations

import random
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from invoicing.domain.fx import ledger_vat_values, reversal_id
from invoicing.exports.datev_vat import extraction

D = Decimal
CENT = D("0.01")


def extracted(gross: Decimal, rate: Decimal) -> Decimal:
    return extraction(rate).vat(gross)


def split_gross(gross: Decimal, vat: Decimal, rate: Decimal) -> list[Decimal]:
    return extraction(rate).split(gross, vat)


def _datev(gross: Decimal, rate: Decimal) -> Decimal:
    """DATEV's extraction as the reference states it, in plain Decimal arithmetic."""
    return (gross * rate / (100 + rate)).quantize(CENT, ROUND_HALF_UP)


@pytest.mark.parametrize("rate", [D(19), D(7), D("5.5"), D(21)])
def test_extracted_is_datevs_rounding(rate: Decimal) -> None:
    rng = random.Random(str(rate))
    for cents in [1, 2, 5, 50, 119, 107, *[rng.randint(1, 10**9) for _ in range(2000)]]:
        gross = D(cents) / 100
        assert extracted(gross, rate) == _datev(gross, rate)
        assert extracted(-gross, rate) == -_datev(gross, rate)


def test_the_documented_example_is_two_rows() -> None:
    # docs/datev.md: the rest of 37.16 net after credit notes of 7.99 and 8.87 net is 20.30 net
    # and 3.85 VAT, 24.15 gross, out of which DATEV would take 3.86
    assert extracted(D("24.15"), D(19)) == D("3.86")
    assert split_gross(D("24.15"), D("3.85"), D(19)) == [D("24.14"), D("0.01")]
    assert split_gross(D("-24.15"), D("-3.85"), D(19)) == [D("-24.14"), D("-0.01")]


def test_a_gross_that_round_trips_stays_one_row() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        rate = rng.choice([D(19), D(7)])
        net = D(rng.randint(1, 5_000_000)) / 100
        vat = (net * rate / 100).quantize(CENT, ROUND_HALF_UP)  # an invoice's group
        assert split_gross(net + vat, vat, rate) == [net + vat]
    assert split_gross(D("100.00"), D(0), D(0)) == [D("100.00")]  # no VAT to extract


@pytest.mark.parametrize("off", [1, -1, 2, -2])
def test_a_split_adds_up_and_extracts_the_vat(off: int) -> None:
    rng = random.Random(off)
    rows: dict[int, int] = {}
    for _ in range(3000):
        rate = rng.choice([D(19), D(7), D(16), D(5), D(21), D("5.5")])
        gross = D(rng.randint(300, 5_000_000)) / 100 * rng.choice([1, -1])
        vat = _datev(gross, rate) + off * CENT * (1 if gross > 0 else -1)
        pieces = split_gross(gross, vat, rate)
        assert sum(pieces) == gross
        assert sum(_datev(p, rate) for p in pieces) == vat, (gross, vat, rate, pieces)
        assert len(set(pieces)) == len(pieces)  # no two identical rows
        assert all((p > 0) == (gross > 0) and p != 0 for p in pieces)  # one direction
        assert pieces[0] == max(pieces, key=abs)
        rows[len(pieces)] = rows.get(len(pieces), 0) + 1
    # a cent takes two or three rows (rarely four), two cents four to six (rarely seven)
    assert max(rows) <= (4 if abs(off) == 1 else 7), rows


def test_no_split_where_none_can_exist() -> None:
    # a cent of gross holds no VAT at 19 %; a VAT above the gross or of the other sign is no
    # VAT DATEV could book: DATEV's own figure stands (the export counts it)
    assert split_gross(D("0.01"), D("0.01"), D(19)) == [D("0.01")]
    assert split_gross(D("10.00"), D("10.01"), D(19)) == [D("10.00")]
    assert split_gross(D("10.00"), D("-1.60"), D(19)) == [D("10.00")]


def _move(kind: str, tax: str, doc: uuid.UUID, rate: str = "19") -> dict[str, object]:
    group = {"category": "standard", "rate": rate, "net": "0", "tax": tax}
    return {"kind": kind, "date": "2025-01-20", "document_id": str(doc), "groups": [group]}


def test_corrections_of_a_dollar_invoice_take_its_converted_vat_as_a_running_sum() -> None:
    # 19.01 USD VAT at 0.9234: 17.55 EUR (17.553...). Credit notes taking 1.05, 1.05, 1.05 and
    # 15.86 USD of it, converted one by one, would be 0.97 x 3 + 14.65 = 17.56: a cent more
    # than the invoice's. The running sum gives each what it moved: together 17.55
    rate = D("0.9234")
    docs = [uuid.uuid4() for _ in range(4)]
    ledger = [
        _move("credit", "1.05", docs[0]),
        _move("credit", "1.05", docs[1]),
        _move("credit", "1.05", docs[2]),
        _move("credit", "15.86", docs[3]),
    ]
    values = ledger_vat_values(ledger, rate, "EUR")
    key = ("standard", D(19))
    moved = [values[str(d)][key] for d in docs]
    one_by_one = [(D(t) * rate).quantize(CENT, ROUND_HALF_UP) for t in ("1.05",) * 3 + ("15.86",)]
    assert sum(moved) == (D("19.01") * rate).quantize(CENT, ROUND_HALF_UP) == D("17.55")
    assert sum(one_by_one) == D("17.56")
    assert moved == [D("0.97"), D("0.97"), D("0.97"), D("14.64")]


def test_a_reversed_write_off_gives_back_what_it_took() -> None:
    rate = D("1.0871")
    credit, write_off = uuid.uuid4(), uuid.uuid4()
    ledger = [
        _move("credit", "3.33", credit),
        _move("write_off", "5.55", write_off),
        _move("write_off_reversal", "5.55", write_off),
    ]
    values = ledger_vat_values(ledger, rate, "EUR")
    key = ("standard", D(19))
    took = values[str(write_off)][key]
    back = values[str(reversal_id(write_off))][key]
    assert took == back > 0  # in the sign of each movement's own amount
    assert values[str(credit)][key] == D("3.62")  # 3.33 x 1.0871 = 3.620...


@pytest.mark.parametrize("rate", [D(19), D(7), D("5.5")])
def test_round_trips_is_the_extraction(rate: Decimal) -> None:
    ex = extraction(rate)
    rng = random.Random(int(rate * 10))
    for _ in range(5000):
        gross = D(rng.randint(-(10**8), 10**8)) / 100
        vat = _datev(abs(gross), rate) * (1 if gross >= 0 else -1)
        for off in (D(0), CENT, -CENT):
            assert ex.round_trips(gross, vat + off) == (off == 0), (gross, vat, off)
