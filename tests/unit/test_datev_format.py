"""DATEV formatting rules, settings and the file writer (no database)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from invoicing.exports.datev import (
    BOOKING_COLUMNS,
    Booking,
    WriteStats,
    booking_header,
    clean_text,
    compact_vat_id,
    fmt_amount,
    sanitize_belegfeld,
    segments,
    ttmm,
    write_batches,
)
from invoicing.exports.settings import DatevSettings
from pydantic import ValidationError

from tests.support.external import require_external

CHECKER = Path(__file__).resolve().parents[2].parent / "shared" / "datev" / "datev_check.py"
S = DatevSettings(consultant_number=29098, client_number=55003)
NOW = dt.datetime(2025, 2, 3, 10, 15, 0, 123456, tzinfo=dt.UTC)


def check(path: Path) -> None:
    require_external(
        CHECKER.exists(), f"DATEV checker not found at {CHECKER}; format check skipped"
    )
    proc = subprocess.run(
        [sys.executable, str(CHECKER), str(path), "--strict"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1190"), "1190,00"),
        (Decimal("0.005"), "0,01"),
        (Decimal("1234567.891"), "1234567,89"),
        (Decimal("99.994"), "99,99"),
    ],
)
def test_amounts_have_a_decimal_comma_and_two_places(value: Decimal, text: str) -> None:
    assert fmt_amount(value) == text


def test_belegdatum_is_ttmm_with_leading_zeros() -> None:
    assert ttmm(dt.date(2025, 1, 5)) == "0501"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("RE-2025-001", "RE-2025-001"),
        ("RE 2025.001_ä", "RE-2025-001-ae"),
        ("Rechnung: Nr;5 €", "Rechnung-Nr5-"),
        ("$&%*+-/abc", "$&%*+-/abc"),
        ("X" * 30 + "-2025-000123", ("X" * 30 + "-2025-000123")[-36:]),
    ],
)
def test_belegfeld_is_sanitized_and_keeps_the_tail(number: str, expected: str) -> None:
    assert sanitize_belegfeld(number) == expected
    assert len(sanitize_belegfeld(number)) <= 36


def test_texts_are_cp1252_without_control_characters() -> None:
    assert clean_text("Müller\r\nGmbH\t€ „x“ – y", 60) == "Müller GmbH € „x“ – y"
    assert clean_text("Łódź  Straße", 60) == "Lódz Straße"
    assert clean_text("ä" * 80, 60) == "ä" * 60
    assert clean_text("日本", 60) == "??"
    clean_text("Müller\r\nGmbH\t€ „x“ – y", 60).encode("cp1252")


def test_vat_ids_are_compacted() -> None:
    assert compact_vat_id("BE 0477.472.701") == "BE0477472701"
    assert compact_vat_id("GR 123456789") == "EL123456789"
    assert compact_vat_id("not a vat id") is None
    assert compact_vat_id(None) is None


def test_header_has_31_fields_and_columns_are_125() -> None:
    header = booking_header(S, NOW, dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    assert header.endswith("\r\n")
    fields = header[:-2].split(";")
    assert len(fields) == 31
    assert fields[:6] == ['"EXTF"', "700", "21", '"Buchungsstapel"', "13", "20250203101500123"]
    assert fields[16] == '"Rechnungsausgang 01/2025"' and fields[26] == '"03"'
    assert len(BOOKING_COLUMNS) == 125 and BOOKING_COLUMNS[113] == "Festschreibung"


def test_segments_split_at_fiscal_and_calendar_years() -> None:
    july = DatevSettings(consultant_number=29098, client_number=1, fiscal_year_start_month=7)
    assert segments(july, dt.date(2025, 6, 15), dt.date(2026, 7, 2)) == [
        (dt.date(2025, 6, 15), dt.date(2025, 6, 30)),
        (dt.date(2025, 7, 1), dt.date(2025, 12, 31)),
        (dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
        (dt.date(2026, 7, 1), dt.date(2026, 7, 2)),
    ]
    assert len(segments(S, dt.date(2025, 1, 1), dt.date(2025, 12, 31), monthly=True)) == 12
    assert july.fiscal_year_start(dt.date(2026, 3, 1)) == dt.date(2025, 7, 1)


def test_settings_validation_and_account_mapping() -> None:
    with pytest.raises(ValidationError, match="debtor range"):
        DatevSettings(consultant_number=29098, client_number=1, debtor_range_start=9000)
    with pytest.raises(ValidationError, match="Sachkontenlänge"):
        DatevSettings(consultant_number=29098, client_number=1, bank_account="123456")
    with pytest.raises(ValidationError, match="BU-Schlüssel"):
        DatevSettings(
            consultant_number=29098,
            client_number=1,
            revenue_accounts=[{"category": "standard", "rate": "19", "account": "8200"}],
        )
    custom = DatevSettings(
        consultant_number=29098,
        client_number=1,
        revenue_accounts=[
            {"category": "standard", "rate": "19", "account": "8200", "bu_key": "3"},
            {"category": "reverse_charge", "account": "8337"},
            {"category": "reverse_charge", "region": "eu", "account": "8336"},
        ],
    )
    assert custom.revenue_account("standard", "19.00", "domestic").bu_key == "3"
    assert custom.revenue_account("reverse_charge", "0", "eu").account == "8336"
    assert custom.revenue_account("reverse_charge", "0", "third_country").account == "8337"
    assert S.revenue_account("standard", "7", "domestic").account == "8300"
    assert S.region_of("BE") == "eu" and S.region_of("CH") == "third_country"
    assert S.region_of(None) == "domestic"
    skr04 = DatevSettings(consultant_number=29098, client_number=1, chart="SKR04", account_length=5)
    assert skr04.debtor_range == (100000, 699999) and skr04.bank == "1800"


def _booking(i: int, **over: object) -> Booking:
    values: dict[str, object] = dict(
        amount=Decimal("119.00") + i,
        sh="S",
        konto="10000",
        gegenkonto="8400",
        date=dt.date(2025, 1, 1 + i % 28),
        belegfeld1=f"RE-{i}",
        text=f'Text "{i}"; €',
    )
    values.update(over)
    return Booking(**values)  # type: ignore[arg-type]


def test_writer_output_passes_the_checker_and_splits(tmp_path: Path) -> None:
    stats = WriteStats()
    groups = [[_booking(i)] for i in range(7)] + [
        [
            _booking(
                99,
                sh="H",
                gegenkonto="8336",
                eu_vat_id="BE0477472701",
                info=("Gutschriftsnummer", "GS-1"),
                service_date=dt.date(2025, 1, 3),
            )
        ]
    ]
    write_batches(
        tmp_path, S, NOW, dt.date(2025, 1, 1), dt.date(2025, 1, 31), groups, stats, max_bookings=3
    )
    assert [f.bookings for f in stats.files] == [3, 3, 2] and stats.bookings == 8
    for f in stats.files:
        check(f.path)
        raw = f.path.read_bytes()
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    last = stats.files[-1].path.read_bytes().decode("cp1252").split("\r\n")[-2]
    assert last.count(";") == 124 + 1  # one ';' inside the quoted text
    assert '"Text ""99""; €"' in last and '"BE0477472701"' in last and ";03012025;03012025;" in last


def test_no_file_for_a_period_without_bookings(tmp_path: Path) -> None:
    stats = WriteStats()
    write_batches(tmp_path, S, NOW, dt.date(2025, 1, 1), dt.date(2025, 1, 31), iter([]), stats)
    assert stats.files == [] and list(tmp_path.iterdir()) == []
