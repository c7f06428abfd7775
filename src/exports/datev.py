"""DATEV EXTF writer: "Buchungsstapel" (category 21, format version 13) and
"Debitoren/Kreditoren" (category 16, format version 5), header version 700.

Bytes: Windows-1252, CRLF after every line, ``;`` between fields, text in double quotes with
inner quotes doubled, numbers unquoted with a decimal comma. Every booking row has all 125
columns. Rows are formatted one at a time and written in chunks, so memory stays flat however
many bookings flow through (see :func:`write_batches`). Rules and sources:
../shared/reference/datev.md.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from invoicing.exports.settings import DatevSettings

ENCODING = "cp1252"
CRLF = "\r\n"
MAX_BOOKINGS = 99_999
CENT = Decimal("0.01")

# ----------------------------------------------------------------------------- column headings


def _booking_columns() -> tuple[str, ...]:
    cols = [
        "Umsatz (ohne Soll/Haben-Kz)",
        "Soll/Haben-Kennzeichen",
        "WKZ Umsatz",
        "Kurs",
        "Basis-Umsatz",
        "WKZ Basis-Umsatz",
        "Konto",
        "Gegenkonto (ohne BU-Schlüssel)",
        "BU-Schlüssel",
        "Belegdatum",
        "Belegfeld 1",
        "Belegfeld 2",
        "Skonto",
        "Buchungstext",
        "Postensperre",
        "Diverse Adressnummer",
        "Geschäftspartnerbank",
        "Sachverhalt",
        "Zinssperre",
        "Beleglink",
    ]
    for i in range(1, 9):
        cols += [f"Beleginfo - Art {i}", f"Beleginfo - Inhalt {i}"]
    cols += [
        "KOST1 - Kostenstelle",
        "KOST2 - Kostenstelle",
        "Kost-Menge",
        "EU-Land u. UStID (Bestimmung)",
        "EU-Steuersatz (Bestimmung)",
        "Abw. Versteuerungsart",
        "Sachverhalt L+L",
        "Funktionsergänzung L+L",
        "BU 49 Hauptfunktionstyp",
        "BU 49 Hauptfunktionsnummer",
        "BU 49 Funktionsergänzung",
    ]
    for i in range(1, 21):
        cols += [f"Zusatzinformation - Art {i}", f"Zusatzinformation- Inhalt {i}"]
    cols += [
        "Stück",
        "Gewicht",
        "Zahlweise",
        "Forderungsart",
        "Veranlagungsjahr",
        "Zugeordnete Fälligkeit",
        "Skontotyp",
        "Auftragsnummer",
        "Buchungstyp",
        "USt-Schlüssel (Anzahlungen)",
        "EU-Land (Anzahlungen)",
        "Sachverhalt L+L (Anzahlungen)",
        "EU-Steuersatz (Anzahlungen)",
        "Erlöskonto (Anzahlungen)",
        "Herkunft-Kz",
        "Buchungs GUID",
        "KOST-Datum",
        "SEPA-Mandatsreferenz",
        "Skontosperre",
        "Gesellschaftername",
        "Beteiligtennummer",
        "Identifikationsnummer",
        "Zeichnernummer",
        "Postensperre bis",
        "Bezeichnung SoBil-Sachverhalt",
        "Kennzeichen SoBil-Buchung",
        "Festschreibung",
        "Leistungsdatum",
        "Datum Zuord. Steuerperiode",
        "Fälligkeit",
        "Generalumkehr (GU)",
        "Steuersatz",
        "Land",
        "Abrechnungsreferenz",
        "BVV-Position",
        "EU-Land u. UStID (Ursprung)",
        "EU-Steuersatz (Ursprung)",
        "Abw. Skontokonto",
    ]
    return tuple(cols)


def _debtor_columns() -> tuple[str, ...]:
    cols = [
        "Konto",
        "Name (Adressatentyp Unternehmen)",
        "Unternehmensgegenstand",
        "Name (Adressatentyp natürl. Person)",
        "Vorname (Adressatentyp natürl. Person)",
        "Name (Adressatentyp keine Angabe)",
        "Adressatentyp",
        "Kurzbezeichnung",
        "EU-Land",
        "EU-UStID",
        "Anrede",
        "Titel/Akad. Grad",
        "Adelstitel",
        "Namensvorsatz",
        "Adressart",
        "Straße",
        "Postfach",
        "Postleitzahl",
        "Ort",
        "Land",
        "Versandzusatz",
        "Adresszusatz",
        "Abweichende Anrede",
        "Abw. Zustellbezeichnung 1",
        "Abw. Zustellbezeichnung 2",
        "Kennz. Korrespondenzadresse",
        "Adresse Gültig von",
        "Adresse Gültig bis",
        "Telefon",
        "Bemerkung (Telefon)",
        "Telefon GL",
        "Bemerkung (Telefon GL)",
        "E-Mail",
        "Bemerkung (E-Mail)",
        "Internet",
        "Bemerkung (Internet)",
        "Fax",
        "Bemerkung (Fax)",
        "Sonstige",
        "Bemerkung (Sonstige)",
    ]

    def bank(i: int) -> list[str]:
        return [
            f"Bankleitzahl {i}",
            f"Bankbezeichnung {i}",
            f"Bank-Kontonummer {i}",
            f"Länderkennzeichen {i}",
            f"IBAN-Nr. {i}",
            "Leerfeld",
            f"SWIFT-Code {i}",
            f"Abw. Kontoinhaber {i}",
            f"Kennz. Hauptbankverb. {i}",
            f"Bankverb {i} Gültig von",
            f"Bankverb {i} Gültig bis",
        ]

    for i in range(1, 6):
        cols += bank(i)
    cols += [
        "Leerfeld",
        "Briefanrede",
        "Grußformel",
        "Kunden-/Lief.-Nr.",
        "Steuernummer",
        "Sprache",
        "Ansprechpartner",
        "Vertreter",
        "Sachbearbeiter",
        "Diverse-Konto",
        "Ausgabeziel",
        "Währungssteuerung",
        "Kreditlimit (Debitor)",
        "Zahlungsbedingung",
        "Fälligkeit in Tagen (Debitor)",
        "Skonto in Prozent (Debitor)",
        "Kreditoren-Ziel 1 Tg.",
        "Kreditoren-Skonto 1 %",
        "Kreditoren-Ziel 2 Tg.",
        "Kreditoren-Skonto 2 %",
        "Kreditoren-Ziel 3 Brutto Tg.",
        "Kreditoren-Ziel 4 Tg.",
        "Kreditoren-Skonto 4 %",
        "Kreditoren-Ziel 5 Tg.",
        "Kreditoren-Skonto 5 %",
        "Mahnung",
        "Kontoauszug",
        "Mahntext 1",
        "Mahntext 2",
        "Mahntext 3",
        "Kontoauszugstext",
        "Mahnlimit Betrag",
        "Mahnlimit %",
        "Zinsberechnung",
        "Mahnzinssatz 1",
        "Mahnzinssatz 2",
        "Mahnzinssatz 3",
        "Lastschrift",
        "Verfahren",
        "Mandantenbank",
        "Zahlungsträger",
    ]
    cols += [f"Indiv. Feld {i}" for i in range(1, 16)]
    cols += [
        "Abweichende Anrede (Rechnungsadresse)",
        "Adressart (Rechnungsadresse)",
        "Straße (Rechnungsadresse)",
        "Postfach (Rechnungsadresse)",
        "Postleitzahl (Rechnungsadresse)",
        "Ort (Rechnungsadresse)",
        "Land (Rechnungsadresse)",
        "Versandzusatz (Rechnungsadresse)",
        "Adresszusatz (Rechnungsadresse)",
        "Abw. Zustellbezeichnung 1 (Rechnungsadresse)",
        "Abw. Zustellbezeichnung 2 (Rechnungsadresse)",
        "Adresse Gültig von (Rechnungsadresse)",
        "Adresse Gültig bis (Rechnungsadresse)",
    ]
    for i in range(6, 11):
        cols += bank(i)
    cols += ["Nummer Fremdsystem", "Insolvent"]
    cols += [f"SEPA-Mandatsreferenz {i}" for i in range(1, 11)]
    cols += [
        "Verknüpftes OPOS-Konto",
        "Mahnsperre bis",
        "Lastschriftsperre bis",
        "Zahlungssperre bis",
        "Gebührenberechnung",
        "Mahngebühr 1",
        "Mahngebühr 2",
        "Mahngebühr 3",
        "Pauschalberechnung",
        "Verzugspauschale 1",
        "Verzugspauschale 2",
        "Verzugspauschale 3",
        "Alternativer Suchname",
        "Status",
        "Anschrift manuell geändert (Korrespondenzadresse)",
        "Anschrift individuell (Korrespondenzadresse)",
        "Anschrift manuell geändert (Rechnungsadresse)",
        "Anschrift individuell (Rechnungsadresse)",
        "Fristberechnung bei Debitor",
        "Mahnfrist 1",
        "Mahnfrist 2",
        "Mahnfrist 3",
        "Letzte Frist",
    ]
    return tuple(cols)


BOOKING_COLUMNS = _booking_columns()
DEBTOR_COLUMNS = _debtor_columns()
assert len(BOOKING_COLUMNS) == 125, len(BOOKING_COLUMNS)
assert len(DEBTOR_COLUMNS) == 254, len(DEBTOR_COLUMNS)

# ----------------------------------------------------------------------------- field formatting

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SPACES = re.compile(r" {2,}")
_BELEG_DROP = re.compile(r"[^A-Za-z0-9$&%*+\-/]")
_BELEG_OK = re.compile(r"^[A-Za-z0-9$&%*+\-/]{0,36}$")
_TRANSLIT = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
_TYPO = {
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\u2044": "/",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ħ": "h",
    "Ħ": "H",
    "ı": "i",
}


def fmt_amount(value: Decimal) -> str:
    """``1190,00``: half-up to cents, decimal comma, no sign, no thousands separator."""
    text = str(value.quantize(CENT, rounding=ROUND_HALF_UP))
    return text.replace(".", ",")


def ttmm(day: dt.date) -> str:
    return f"{day.day:02d}{day.month:02d}"


def ttmmjjjj(day: dt.date) -> str:
    return f"{day.day:02d}{day.month:02d}{day.year:04d}"


def yyyymmdd(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cp1252_char(ch: str) -> str:
    if ch in _TYPO:
        return _TYPO[ch]
    try:
        ch.encode(ENCODING)
        return ch
    except UnicodeEncodeError:
        pass
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    try:
        kept.encode(ENCODING)
        return kept
    except UnicodeEncodeError:
        return "?"


@lru_cache(maxsize=65_536)
def clean_text(text: str, limit: int) -> str:
    """A DATEV text value: no control characters, cp1252 only, at most ``limit`` characters.

    Line breaks and tabs become spaces; characters Windows-1252 lacks are transliterated
    (``ł`` -> ``l``) or become ``?``; € „ “ – stay (cp1252 has them, latin-1 would not).
    """
    if not text:
        return ""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        if text.isascii():
            return text[:limit].rstrip()
        try:
            text.encode(ENCODING)
            return text[:limit].rstrip()
        except UnicodeEncodeError:
            pass
    value = _CONTROL.sub(" ", text)
    try:
        value.encode(ENCODING)
    except UnicodeEncodeError:
        value = "".join(_cp1252_char(ch) for ch in value)
    value = _SPACES.sub(" ", value).strip()
    return value[:limit].rstrip()


def sanitize_belegfeld(number: str, limit: int = 36) -> str:
    """Belegfeld 1/2: only ``A-Z a-z 0-9 $ & % * + - /``; the tail is kept when too long.

    Umlauts are transliterated, ``_ . space`` become ``-``, anything else is dropped. The same
    function is used for invoices, credit notes and payments so that OPOS matching works.
    """
    if _BELEG_OK.match(number) and len(number) <= limit:
        return number
    value = "".join(_TRANSLIT.get(ch, ch) for ch in number)
    value = "".join(_cp1252_char(ch) if ord(ch) > 127 else ch for ch in value)
    value = re.sub(r"[_. ]", "-", value)
    value = _BELEG_DROP.sub("", value)
    return value[-limit:]


_VAT_RE = re.compile(r"^[A-Z]{2}[A-Z0-9+*]{2,13}$")


def compact_vat_id(vat_id: str | None) -> str | None:
    """``BE 0123.456.749`` -> ``BE0123456749``; Greece ``GR`` -> ``EL``; None when malformed."""
    if not vat_id:
        return None
    value = re.sub(r"[\s.\-/]", "", vat_id).upper()
    if value.startswith("GR"):
        value = "EL" + value[2:]
    ok = _VAT_RE.match(value) and len(value) <= 15 and any(c.isdigit() for c in value[2:])
    return value if ok else None


# ----------------------------------------------------------------------------- bookings


@dataclass(slots=True)
class Booking:
    """One row of a Buchungsstapel. ``amount`` is positive; the direction is ``sh``."""

    amount: Decimal
    sh: str  # "S" | "H" (refers to ``konto``)
    konto: str
    gegenkonto: str
    date: dt.date  # Belegdatum
    belegfeld1: str
    text: str
    bu_key: str = ""
    eu_vat_id: str | None = None
    service_date: dt.date | None = None  # Leistungsdatum (115) and Steuerperiode (116)
    info: tuple[str, str] | None = None  # Beleginfo Art 1 / Inhalt 1


def signed(amount: Decimal, debit_when_positive: bool = True) -> tuple[Decimal, str]:
    """A signed amount as DATEV's (positive amount, S/H) pair."""
    if amount < 0:
        return -amount, "H" if debit_when_positive else "S"
    return amount, "S" if debit_when_positive else "H"


# Separators between the fields a booking may fill (1-14, 21-22, 40, 114-116): DATEV reads by
# position, so every row carries all 125 fields. Precomputed gaps keep formatting cheap.
_GAP_14_21 = ";" * 7
_GAP_22_40 = ";" * 18
_GAP_40_114 = ";" * 74
_GAP_116_END = ";" * 9
assert 7 + 1 + 18 + 74 + 1 + 1 + 9 == 125 - 14


class RowFormatter:
    """Formats :class:`Booking` objects as complete 125-field lines (with CRLF)."""

    def __init__(self, settings: DatevSettings) -> None:
        self.currency = quote(settings.currency)
        self.lock = "1" if settings.lock_batches else "0"
        self._short: dict[dt.date, str] = {}
        self._long: dict[dt.date, str] = {}

    def line(self, b: Booking) -> str:
        short = self._short.get(b.date)
        if short is None:
            short = self._short[b.date] = ttmm(b.date)
        text = b.text
        head = (
            f'{fmt_amount(b.amount)};"{b.sh}";{self.currency};;;;{b.konto};{b.gegenkonto};'
            f'"{b.bu_key}";{short};"{b.belegfeld1}";"";;'
            + (quote(text) if '"' in text else f'"{text}"')
        )
        info = b.info
        mid = f'"{info[0]}";"{info[1]}"' if info is not None else ";"
        if info is not None and ('"' in info[0] or '"' in info[1]):
            mid = f"{quote(info[0])};{quote(info[1])}"
        vat = f'"{b.eu_vat_id}"' if b.eu_vat_id else ""
        if b.service_date is not None:
            long = self._long.get(b.service_date)
            if long is None:
                long = self._long[b.service_date] = ttmmjjjj(b.service_date)
            tail = f"{self.lock};{long};{long}"
        else:
            tail = f"{self.lock};;"
        return f"{head}{_GAP_14_21}{mid}{_GAP_22_40}{vat}{_GAP_40_114}{tail}{_GAP_116_END}" + CRLF


# ----------------------------------------------------------------------------- header lines


def created_stamp(now: dt.datetime) -> str:
    """``Erzeugt am``: 17 digits, YYYYMMDDHHMMSSmmm."""
    return now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"


def batch_label(settings: DatevSettings, start: dt.date, end: dt.date) -> str:
    """Bezeichnung (≤ 30, ``[\\w.-/ ]``), e.g. ``Rechnungsausgang 01/2025``."""
    if (start.year, start.month) == (end.year, end.month):
        period = f"{start.month:02d}/{start.year}"
    elif start.year == end.year:
        period = f"{start.month:02d}-{end.month:02d}/{end.year}"
    else:
        period = f"{start.month:02d}/{start.year}-{end.month:02d}/{end.year}"
    return f"{settings.label} {period}"[:30]


def booking_header(settings: DatevSettings, now: dt.datetime, start: dt.date, end: dt.date) -> str:
    fields = [
        '"EXTF"',
        "700",
        "21",
        '"Buchungsstapel"',
        "13",
        created_stamp(now),
        "",
        quote(settings.origin),
        '""',
        '""',
        str(settings.consultant_number),
        str(settings.client_number),
        yyyymmdd(settings.fiscal_year_start(start)),
        str(settings.account_length),
        yyyymmdd(start),
        yyyymmdd(end),
        quote(batch_label(settings, start, end)),
        '""',
        "1",
        "0",
        "1" if settings.lock_batches else "0",
        quote(settings.currency),
        "",
        '""',
        "",
        "",
        quote(settings.skr),
        "",
        "",
        '""',
        '""',
    ]
    assert len(fields) == 31
    return ";".join(fields) + CRLF


def debtor_header(settings: DatevSettings, now: dt.datetime, fiscal_start: dt.date) -> str:
    fields = [
        '"EXTF"',
        "700",
        "16",
        '"Debitoren/Kreditoren"',
        "5",
        created_stamp(now),
        "",
        quote(settings.origin),
        '""',
        '""',
        str(settings.consultant_number),
        str(settings.client_number),
        yyyymmdd(fiscal_start),
        str(settings.account_length),
        "",
        "",
        '""',
        '""',
        "",
        "",
        "",
        '""',
        "",
        '""',
        "",
        "",
        quote(settings.skr),
        "",
        "",
        '""',
        '""',
    ]
    assert len(fields) == 31
    return ";".join(fields) + CRLF


def headings_line(columns: tuple[str, ...]) -> str:
    return ";".join(columns) + CRLF


# ----------------------------------------------------------------------------- periods


def segments(
    settings: DatevSettings, start: dt.date, end: dt.date, monthly: bool = False
) -> list[tuple[dt.date, dt.date]]:
    """Split ``start..end`` so that no batch crosses a fiscal year or a calendar year.

    DATEV needs Datum vom/bis inside one Wirtschaftsjahr; batches across calendar years are
    reported to be rejected (#REW04404), so both boundaries split. ``monthly`` splits further
    into one batch per month (DATEV's recommendation of one file per booking period).
    """
    out: list[tuple[dt.date, dt.date]] = []
    cur = start
    while cur <= end:
        fy = settings.fiscal_year_start(cur)
        next_fy = _add_year(fy)
        stop = min(end, next_fy - dt.timedelta(days=1), dt.date(cur.year, 12, 31))
        if monthly:
            nm = dt.date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
            stop = min(stop, nm - dt.timedelta(days=1))
        out.append((cur, stop))
        cur = stop + dt.timedelta(days=1)
    return out


def _add_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


# ----------------------------------------------------------------------------- file writing


@dataclass
class BatchFile:
    path: Path
    start: dt.date
    end: dt.date
    bookings: int


@dataclass
class WriteStats:
    files: list[BatchFile] = field(default_factory=list)
    bookings: int = 0


class _Part:
    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self.fh = path.open("wb")
        self.fh.write((header + headings_line(BOOKING_COLUMNS)).encode(ENCODING))
        self.count = 0
        self.buf: list[str] = []

    def flush(self) -> None:
        if self.buf:
            self.fh.write("".join(self.buf).encode(ENCODING, errors="replace"))
            self.buf.clear()

    def close(self) -> None:
        self.flush()
        self.fh.flush()
        self.fh.close()


def write_batches(
    directory: Path,
    settings: DatevSettings,
    now: dt.datetime,
    start: dt.date,
    end: dt.date,
    groups: Iterable[list[Booking]],
    stats: WriteStats,
    max_bookings: int = MAX_BOOKINGS,
    chunk: int = 2_000,
) -> None:
    """Write the bookings of one period (``start..end``) as one or more EXTF files.

    ``groups`` yields the rows of one document at a time (an invoice's rows per tax rate stay
    in one file). A new file starts before ``max_bookings`` would be exceeded. Nothing is
    written for a period without bookings (DATEV rejects empty batches).
    """
    fmt = RowFormatter(settings)
    header = booking_header(settings, now, start, end)
    part: _Part | None = None
    number = 0
    base = f"EXTF_Buchungsstapel_{yyyymmdd(start)}_{yyyymmdd(end)}"

    def open_part() -> _Part:
        nonlocal number
        number += 1
        return _Part(directory / f"{base}_{number:03d}.csv", header)

    def close_part(p: _Part) -> None:
        p.close()
        stats.files.append(BatchFile(p.path, start, end, p.count))

    for group in groups:
        if not group:
            continue
        if len(group) > max_bookings:
            raise ValueError("one document has more rows than a batch may hold")
        if part is None:
            part = open_part()
        elif part.count + len(group) > max_bookings:
            close_part(part)
            part = open_part()
        for b in group:
            part.buf.append(fmt.line(b))
        part.count += len(group)
        stats.bookings += len(group)
        if len(part.buf) >= chunk:
            part.flush()
    if part is not None:
        close_part(part)


@dataclass(slots=True)
class Debtor:
    """One row of the Debitoren/Kreditoren file."""

    account: int
    name: str
    is_person: bool = False
    given_name: str = ""
    family_name: str = ""
    vat_id: str | None = None
    street: str = ""
    zip_code: str = ""
    city: str = ""
    country: str = ""
    email: str = ""
    customer_number: str = ""
    language: str = ""


_LANGUAGES = {"de": "1", "fr": "4", "en": "5", "nl": "9"}


def debtor_line(d: Debtor) -> str:
    row = [""] * 254
    row[0] = str(d.account)
    if d.is_person and d.family_name:
        row[3] = quote(clean_text(d.family_name, 30))
        row[4] = quote(clean_text(d.given_name, 30))
        row[6] = '"1"'
    else:
        row[1] = quote(clean_text(d.name, 50))
        row[6] = '"2"'
    row[7] = quote(clean_text(d.name, 15))
    vat = compact_vat_id(d.vat_id)
    if vat:
        row[8] = quote(vat[:2])
        row[9] = quote(vat[2:][:13])
    if d.street or d.city or d.zip_code:
        row[14] = '"STR"'
        row[15] = quote(clean_text(d.street, 36))
        row[17] = quote(clean_text(d.zip_code, 10))
        row[18] = quote(clean_text(d.city, 30))
    if d.country:
        row[19] = quote(clean_text(d.country, 2))
    if d.email:
        row[32] = quote(clean_text(d.email, 60))
    if d.customer_number:
        row[98] = quote(clean_text(d.customer_number, 15))
    if d.language in _LANGUAGES:
        row[100] = _LANGUAGES[d.language]
    return ";".join(row) + CRLF


def write_debtors(
    path: Path,
    settings: DatevSettings,
    now: dt.datetime,
    fiscal_start: dt.date,
    debtors: Iterable[Debtor],
) -> int:
    count = 0
    with path.open("wb") as fh:
        fh.write(
            (debtor_header(settings, now, fiscal_start) + headings_line(DEBTOR_COLUMNS)).encode(
                ENCODING
            )
        )
        for d in debtors:
            fh.write(debtor_line(d).encode(ENCODING, errors="replace"))
            count += 1
    return count


def iter_lines(path: Path) -> Iterator[str]:
    """Decode an EXTF file (for tests and tools)."""
    with path.open("rb") as fh:
        for raw in fh:
            yield raw.decode(ENCODING).rstrip("\r\n")
