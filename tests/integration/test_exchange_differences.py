"""Foreign currency, point 7 of issue 10: a payment in the invoice currency received at another
rate than the invoice's frozen one records the realised exchange difference (event, state,
DATEV booking on Erträge / Aufwendungen aus Kursdifferenzen, checked strict), on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_write_offs_datev import DATEV, _export, dc  # noqa: F401
from tests.support.client import Client, line

D = Decimal


def _usd(c: Client, rate: str = "0.9000", net: str = "1000.00") -> dict[str, Any]:
    # 1,000.00 USD net at 19 %: 1,190.00 USD, at 0.9000 booked as 1,071.00 EUR
    return c.finalized(
        c.customer(),
        [line("Beratung", "1", net)],
        issue_date=dt.date(2025, 1, 10),
        currency="USD",
        exchange_rate=rate,
    )


def test_payment_at_another_rate_records_a_gain(dc: Client) -> None:  # noqa: F811
    inv = _usd(dc)
    assert inv["normalized"]["gross_total"] == "1071.00"
    out = dc.ok(
        "record_payment",
        {
            "invoice_id": inv["id"],
            "amount": "1190.00",
            "date": "2025-01-20",
            "exchange_rate": "0.9200",
        },
    )
    types = [e["type"] for e in out.events]
    assert types == ["payment.recorded", "invoice.paid", "payment.exchange_difference"]
    diff = out.events[-1]["data"]["exchange_difference"]
    assert diff == {
        "currency": "EUR",
        "amount": "1190.00",
        "invoice_rate": "0.9000",
        "payment_rate": "0.9200",
        "booked": "1071.00",
        "received": "1094.80",
        "difference": "23.80",
        "kind": "gain",
    }
    state = out.events[-1]["data"]["invoice"]
    n = state["normalized"]
    # the receivable is settled at the frozen rate; the gain is beside it
    assert (n["paid_amount"], n["open_amount"], n["exchange_difference"]) == (
        "1071.00",
        "0.00",
        "23.80",
    )
    assert state["payments"][0]["exchange_rate"] == "0.9200"
    assert state["payments"][0]["exchange_difference"] == "23.80"


def test_partial_payments_sum_their_differences_and_deleting_undoes(dc: Client) -> None:  # noqa: F811
    inv = _usd(dc)
    first = dc.ok(
        "record_payment",
        {
            "invoice_id": inv["id"],
            "amount": "500.00",
            "date": "2025-01-20",
            "exchange_rate": "0.88",
        },
    )
    pid = first.events[0]["data"]["payment"]["id"]
    assert first.events[-1]["data"]["exchange_difference"]["kind"] == "loss"
    assert first.events[-1]["data"]["exchange_difference"]["difference"] == "-10.00"
    # at the invoice's own rate: no difference, no event
    same = dc.ok(
        "record_payment",
        {"invoice_id": inv["id"], "amount": "100.00", "date": "2025-01-21", "exchange_rate": "0.9"},
    )
    assert [e["type"] for e in same.events] == ["payment.recorded"]
    n = same.events[0]["data"]["invoice"]["normalized"]
    assert (n["paid_amount"], n["exchange_difference"]) == ("540.00", "-10.00")
    out = dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    assert out.events[0]["data"]["payment"]["exchange_rate"] == "0.88"
    assert out.events[0]["data"]["invoice"]["normalized"]["exchange_difference"] == "0.00"


def test_exchange_rate_only_on_foreign_currency_invoices(dc: Client) -> None:  # noqa: F811
    inv = dc.finalized(dc.customer(), [line("Beratung", "1", "100.00")])
    errors = dc.rejected(
        "record_payment",
        {"invoice_id": inv["id"], "amount": "119.00", "date": "2025-01-20", "exchange_rate": "1.1"},
    )
    assert errors[0]["code"] == "invalid_attribute"
    assert errors[0]["source"]["pointer"] == "/payload/exchange_rate"
    assert "foreign-currency" in errors[0]["meta"]["hint"]
    errors = dc.rejected(
        "record_payment",
        {"invoice_id": inv["id"], "amount": "119.00", "date": "2025-01-20", "exchange_rate": "0"},
    )
    assert errors[0]["source"]["pointer"] == "/payload/exchange_rate"


@pytest.mark.parametrize(
    ("chart", "bank", "gain", "loss"),
    [("SKR03", "1200", "2660", "2150"), ("SKR04", "1800", "4840", "6880")],
)
def test_datev_books_the_difference(
    dc: Client,  # noqa: F811
    tmp_path: Path,
    chart: str,
    bank: str,
    gain: str,
    loss: str,
) -> None:
    dc.ok("configure_datev", {**DATEV, "chart": chart})
    won, lost = _usd(dc), _usd(dc)
    for inv, rate, day in ((won, "0.9200", "2025-01-20"), (lost, "0.8800", "2025-01-21")):
        dc.ok(
            "record_payment",
            {"invoice_id": inv["id"], "amount": "1190.00", "date": day, "exchange_rate": rate},
        )
    ex = _export(dc, tmp_path, include_payments=True)  # every batch passes the checker, strict
    rows = ex.rows()
    debtor_of = {r[10]: r[6] for r in rows if r[7] == "8400" or r[7] == "4400"}
    got = [(r[0], r[1], r[6], r[7], r[10]) for r in rows if r[7] != "8400" and r[7] != "4400"]
    w, lo = won["number"], lost["number"]
    assert got == [
        ("1094,80", "S", bank, debtor_of[w], w),  # what came in, at the payment's rate
        ("23,80", "S", debtor_of[w], gain, w),  # Debitor to Erträge aus Kursdifferenzen
        ("1047,20", "S", bank, debtor_of[lo], lo),
        ("23,80", "H", debtor_of[lo], loss, lo),  # Aufwendungen aus Kursdifferenzen to Debitor
    ]
    # per Debitor: invoice 1,071.00 S, payment and difference clear it to zero
    for number, debtor in debtor_of.items():
        balance = D(0)
        for r in rows:
            amount = D(r[0].replace(",", "."))
            if r[6] == debtor:
                balance += amount if r[1] == "S" else -amount
            elif r[7] == debtor:
                balance += -amount if r[1] == "S" else amount
        assert balance == 0, number
    assert ex.data["counts"]["exchange_differences"] == 2
    # marked: the unexported-only export of the period books them no second time
    again = _export(dc, tmp_path, scope="unexported")
    assert again.data["counts"]["exchange_differences"] == 0
    # without payments in the export, the difference is still booked (the bank side comes
    # from the bank statement at what came in)
    alone = _export(dc, tmp_path)
    assert alone.data["counts"]["exchange_differences"] == 2


def test_the_payment_that_settles_takes_up_the_groups_rounding_cent(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    # 100.07 USD net + 19.01 VAT at 0.9234: the groups convert to 92.40 + 17.55 = 109.95 EUR,
    # where 119.08 x 0.9234 = 109.96. Paid in full, each invoice is open for nothing in euros.
    dc.ok("configure_datev", DATEV)
    whole, halves = (_usd(dc, "0.9234", "100.07") for _ in range(2))
    assert whole["normalized"]["gross_total"] == "109.95"
    out = dc.ok(
        "record_payment",
        {
            "invoice_id": whole["id"],
            "amount": "119.08",
            "date": "2025-01-20",
            "exchange_rate": "0.95",
        },
    )
    diff = out.events[-1]["data"]["exchange_difference"]
    # what came in (113.13) less what it settles (109.95, not 109.96)
    assert (diff["booked"], diff["received"], diff["difference"]) == ("109.95", "113.13", "3.18")
    n = out.events[-1]["data"]["invoice"]["normalized"]
    assert (n["paid_amount"], n["open_amount"], n["exchange_difference"]) == (
        "109.95",
        "0.00",
        "3.18",
    )
    for day in ("2025-01-20", "2025-01-21"):
        out = dc.ok(
            "record_payment",
            {"invoice_id": halves["id"], "amount": "59.54", "date": day},
        )
    n = out.events[0]["data"]["invoice"]["normalized"]
    assert (n["paid_amount"], n["open_amount"]) == ("109.95", "0.00")

    rows = _export(dc, tmp_path, include_payments=True).rows()
    booked: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        booked.setdefault(r[10], []).append((r[0], r[13].split(" ")[0]))
    # the invoice's 109.95 as 109.94 + 0.01: DATEV takes its converted VAT 17.55 out of those,
    # where it would take 17.56 out of 109.95 (docs/datev.md, "VAT to the cent")
    assert [amount for amount, _ in booked[whole["number"]]] == [
        "109,94",
        "0,01",
        "113,13",
        "3,18",
    ]
    # 59.54 x 0.9234 = 54.98 twice would leave a cent: the second payment books 54.97
    assert [amount for amount, _ in booked[halves["number"]]] == [
        "109,94",
        "0,01",
        "54,98",
        "54,97",
    ]
