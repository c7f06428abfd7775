"""DATEV's VAT account ends where the ledger does, to the cent, after corrections.

DATEV takes a booking's VAT out of its gross on an automatic account (round_half_up(gross x r /
(100 + r))). A credit note, void or write-off that takes what remains of a tax group carries
the VAT that remains there, which can be a cent away from that; such a row is booked as two or
three rows whose extracted VAT adds up to the ledger's (src/exports/datev_vat.py). Here the
VAT that DATEV would book from each export (every batch through the DATEV checker, strict) is
compared with the ledger's, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_datev_walks import TAXED, TAXED_SKR04, _datev_vat, _ledger_vat
from tests.integration.test_write_offs_datev import DATEV, dc, unpack  # noqa: F401
from tests.support.client import Client, line

pytestmark = pytest.mark.integration

D = Decimal
CENT = D("0.01")
WINTER = ("2025-01-01", "2025-02-28")
TODAY = "2025-02-10"  # the clock of ``dc``: credit notes are numbered in date order


def _export(c: Client, tmp_path: Path) -> Any:
    out = c.ok("export_datev", {"date_from": WINTER[0], "date_to": WINTER[1]})
    (event,) = out.events
    return unpack(event, tmp_path, c)


def _invoice(c: Client, net: str, rate: str, **fields: Any) -> dict[str, Any]:
    return c.finalized(
        c.customer(),
        [line("Beratung", "1", net, tax_rate=rate)],
        issue_date=dt.date(2025, 1, 10),
        **fields,
    )


def _credit(c: Client, inv: dict[str, Any], net: str, rate: str, day: str) -> None:
    payload = {"invoice_id": inv["id"], "issue_date": day, "reason": "Kulanz"}
    c.ok("issue_credit_note", {**payload, "lines": [line("Nachlass", "1", net, tax_rate=rate)]})


def _totals(
    by_doc: dict[tuple[str, Decimal], Decimal], whole: bool
) -> dict[tuple[str, Decimal], Decimal]:
    """VAT per (Belegfeld 1, rate), or per rate alone (``whole``), without zeros."""
    out: dict[tuple[str, Decimal], Decimal] = collections.defaultdict(Decimal)
    for (number, rate), value in by_doc.items():
        out[("" if whole else number, rate)] += value
    return {key: value for key, value in out.items() if value}


def _revenue(rows: list[list[str]], account: str) -> tuple[Decimal, Decimal]:
    """(net, VAT) DATEV books on ``account`` (revenue: owed when the Debitor is debited)."""
    rate = {**TAXED, "4400": D(19)}[account]
    net = vat = D(0)
    for r in rows:
        if r[7] != account:
            continue
        gross = D(r[0].replace(",", ".")) * (1 if r[1] == "S" else -1)
        tax = (gross * rate / (100 + rate)).quantize(CENT, ROUND_HALF_UP)
        net, vat = net + gross - tax, vat + tax
    return net, vat


@pytest.mark.parametrize(("chart", "revenue"), [("SKR03", "8400"), ("SKR04", "4400")])
def test_a_void_after_two_credit_notes_leaves_no_cent_on_the_vat_account(
    dc: Client,  # noqa: F811
    tmp_path: Path,
    chart: str,
    revenue: str,
) -> None:
    # docs/datev.md: 37.16 net at 19 % (VAT 7.06, 44.22), credit notes of 7.99 (1.52, 9.51) and
    # 8.87 (1.69, 10.56) net; the void credits the rest: 20.30 net, VAT 3.85, 24.15. DATEV
    # would take 3.86 out of 24.15; out of 24.14 and 0.01 it takes 3.85 and 0.00
    dc.ok("configure_datev", {**DATEV, "chart": chart})
    inv = _invoice(dc, "37.16", "19")
    _credit(dc, inv, "7.99", "19", "2025-01-20")
    _credit(dc, inv, "8.87", "19", "2025-01-25")
    dc.ok("void_invoice", {"invoice_id": inv["id"], "reason": "Storniert"})
    ex = _export(dc, tmp_path)
    rows = ex.rows()
    assert [(r[0], r[1], r[7]) for r in rows] == [
        ("44,22", "S", revenue),
        ("9,51", "H", revenue),
        ("10,56", "H", revenue),
        ("24,14", "H", revenue),
        ("0,01", "H", revenue),
    ]
    # the two rows of the last credit note are one document: same Belegfeld and date, the
    # second's text marked as the VAT's rounding
    assert rows[3][9:13] == rows[4][9:13]
    assert rows[4][13] == f"USt-Rundung {rows[3][13]}"[:60].rstrip()
    assert rows[3][13].startswith("Gutschrift ")
    assert _revenue(rows, revenue) == (D(0), D(0))
    assert ex.data["counts"]["vat_splits"] == 1
    assert ex.data["counts"]["vat_differences"] == 0
    assert ex.data["counts"]["credit_notes"] == 3  # documents, not rows


#: how the tax advisor set the client up: SKR03 defaults; SKR04 with its own numbers on
#: credit notes; revenue on accounts DATEV does not treat as automatic, taxed by BU keys
SETUPS: dict[str, tuple[dict[str, Any], dict[str, Decimal]]] = {
    "skr03": ({}, TAXED),
    "skr04": ({"chart": "SKR04", "credit_note_reference": "own_number"}, TAXED_SKR04),
    "bu_keys": (
        {
            "revenue_accounts": [
                {"category": "standard", "rate": "19", "account": "8401", "bu_key": "3"},
                {"category": "standard", "rate": "7", "account": "8301", "bu_key": "2"},
            ],
            "automatic_accounts": ["2401", "2406"],
        },
        TAXED,
    ),
}


@pytest.mark.parametrize("setup", SETUPS)
@pytest.mark.parametrize("seed", range(2))
def test_random_corrections_book_the_ledgers_vat(
    dc: Client,  # noqa: F811
    tmp_path: Path,
    seed: int,
    setup: str,
) -> None:
    """Invoices at 19 % and 7 % in euros and dollars, each corrected at random: a partial
    credit note then a void, a partial payment then a write-off of the rest (sometimes
    reversed), two partial credit notes. Per invoice and rate, the VAT DATEV takes out of the
    export's rows is what the ledger still owes."""
    rng = random.Random(seed)
    settings, taxed = SETUPS[setup]
    dc.ok("configure_datev", {**DATEV, **settings})
    invoices: list[str] = []
    for _ in range(12):
        rate = rng.choice(["19", "7"])
        net = D(rng.randint(100, 99_999)) / 100
        fields: dict[str, Any] = {}
        if rng.random() < 0.35:
            fields = {"currency": "USD", "exchange_rate": rng.choice(["0.9234", "1.0871"])}
        inv = _invoice(dc, str(net), rate, **fields)
        invoices.append(inv["id"])
        part = str((net * D(rng.randint(5, 60)) / 100).quantize(CENT))
        kind = rng.choice(["credit_void", "write_off", "credits"])
        if kind == "credit_void":
            _credit(dc, inv, part, rate, TODAY)
            dc.ok("void_invoice", {"invoice_id": inv["id"], "reason": "Storniert"})
        elif kind == "write_off":
            gross = D(inv["totals"]["gross_total"])
            paid = str((gross * D(rng.randint(5, 60)) / 100).quantize(CENT))
            dc.ok("record_payment", {"invoice_id": inv["id"], "amount": paid, "date": TODAY})
            wid = str(uuid.uuid4())
            base = {"invoice_id": inv["id"], "write_off_id": wid}
            dc.ok("write_off_invoice", {**base, "date": TODAY, "reason": "uncollectible"})
            if rng.random() < 0.3:
                dc.ok("reverse_write_off", {**base, "date": TODAY})
        else:
            _credit(dc, inv, part, rate, TODAY)
            _credit(dc, inv, str((net * D("0.2")).quantize(CENT)), rate, TODAY)
    ex = _export(dc, tmp_path)
    vat = _datev_vat(ex.rows(), taxed)
    if setup == "bu_keys":  # every taxed revenue row carries its key
        assert {r[8] for r in ex.rows() if r[7] in ("8401", "8301")} == {"2", "3"}
    owed: dict[tuple[str, Decimal], Decimal] = collections.defaultdict(Decimal)
    for iid in invoices:
        for key, value in _ledger_vat(dc.state(iid)).items():
            owed[key] += value
    # credit notes under their own numbers (own_number): the VAT per rate of the whole export
    whole = settings.get("credit_note_reference") == "own_number"
    assert _totals(vat, whole) == _totals(owed, whole)
    assert ex.data["counts"]["vat_differences"] == 0


def test_a_dollar_invoice_books_its_converted_vat_and_its_credit_notes_take_all_of_it(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    # 100.07 USD net at 19 %: 19.01 USD VAT, at 0.9234 92.40 + 17.55 = 109.95 EUR. DATEV would
    # take 17.56 out of 109.95: booked as 109.94 and 0.01 it takes 17.55, the ledger's BT-111.
    # A credit note of 33.33 USD net (6.33 VAT, 5.85 EUR of the VAT converted as a running sum),
    # then the void: DATEV's 8400 ends at 0.00 net and 0.00 VAT
    dc.ok("configure_datev", DATEV)
    inv = _invoice(dc, "100.07", "19", currency="USD", exchange_rate="0.9234")
    assert inv["normalized"]["tax_total"] == "17.55"
    first = _export(dc, tmp_path)
    assert [(r[0], r[1]) for r in first.rows()] == [("109,94", "S"), ("0,01", "S")]
    assert _revenue(first.rows(), "8400") == (D("92.40"), D("17.55"))

    _credit(dc, inv, "33.33", "19", "2025-01-20")
    _, vat = _revenue(_export(dc, tmp_path).rows(), "8400")
    assert vat == D("17.55") - D("5.85")  # 6.33 USD x 0.9234 = 5.845...
    dc.ok("void_invoice", {"invoice_id": inv["id"], "reason": "Storniert"})
    assert _revenue(_export(dc, tmp_path).rows(), "8400") == (D(0), D(0))
