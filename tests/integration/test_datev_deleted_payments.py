"""A payment that DATEV already has and that is deleted afterwards is reversed ("Storno") in the
export of the day it was deleted, so the Debitor account follows the invoice again; its own
booking stays in the export of its range. Before, the deleted payment stayed booked and the
invoice's Debitor account showed it paid. On SQLite and PostgreSQL, every batch through the
DATEV checker (strict)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoicing.models import DeletedPayment
from sqlalchemy import select

from tests.integration.test_exchange_differences import _usd
from tests.integration.test_write_offs_datev import DATEV, dc, unpack  # noqa: F401
from tests.support.client import Client, line

D = Decimal
JANUARY = ("2025-01-01", "2025-01-31")
FEBRUARY = ("2025-02-01", "2025-02-28")  # the clock of ``dc`` stands on 2025-02-10


def _export(c: Client, tmp_path: Path, days: tuple[str, str], **opts: Any) -> Any:
    out = c.ok("export_datev", {"date_from": days[0], "date_to": days[1], **opts})
    (event,) = out.events
    return unpack(event, tmp_path, c)


def _rows(ex: Any) -> list[tuple[str, str, str, str, str, str]]:
    """Amount, S/H, Konto, Gegenkonto, Belegdatum (DDMM), Buchungstext of each booking."""
    return [(r[0], r[1], r[6], r[7], r[9], r[13]) for r in ex.rows()]


def _balance(debtor: str, *exports: Any) -> Decimal:
    """The Debitor account's balance over the exports' bookings (S positive)."""
    total = D(0)
    for ex in exports:
        for r in ex.rows():
            amount = D(r[0].replace(",", "."))
            if r[6] == debtor:
                total += amount if r[1] == "S" else -amount
            elif r[7] == debtor:
                total += -amount if r[1] == "S" else amount
    return total


def _pay(c: Client, inv: dict[str, Any], amount: str, day: str, **extra: str) -> str:
    out = c.ok("record_payment", {"invoice_id": inv["id"], "amount": amount, "date": day, **extra})
    return str(out.events[0]["data"]["payment"]["id"])


def _euro_invoice(c: Client) -> dict[str, Any]:
    return c.finalized(
        c.customer(), [line("Beratung", "1", "100.00")], issue_date=dt.date(2025, 1, 10)
    )


def test_a_payment_deleted_after_its_export_is_reversed_on_the_day_of_the_deletion(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    dc.ok("configure_datev", DATEV)
    inv = _euro_invoice(dc)
    pid = _pay(dc, inv, "119.00", "2025-01-21")
    january = _export(dc, tmp_path, JANUARY, include_payments=True, scope="unexported")
    (invoice_row, payment_row) = _rows(january)
    debtor = invoice_row[2]
    assert payment_row[:4] == ("119,00", "S", "1200", debtor)
    assert _balance(debtor, january) == 0  # paid

    dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    february = _export(dc, tmp_path, FEBRUARY, include_payments=True, scope="unexported")
    ((amount, sh, konto, gegenkonto, day, text_),) = _rows(february)
    # bank (Haben) to Debitor: the money is taken back off the account, on the deletion's day
    assert (amount, sh, konto, gegenkonto, day) == ("119,00", "H", "1200", debtor, "1002")
    assert text_.startswith(f"Storno Zahlung {inv['number']} ")
    assert february.data["counts"]["payment_reversals"] == 1
    assert _balance(debtor, january, february) == D("119.00")  # open again, as the invoice

    # marked: not booked twice; a run of the whole month books it again, as it did
    assert _export(dc, tmp_path, FEBRUARY, include_payments=True, scope="unexported").rows() == []
    assert _rows(_export(dc, tmp_path, FEBRUARY, include_payments=True)) == _rows(february)
    # the payment's own booking stays in its month: January run again is what it was
    assert _rows(_export(dc, tmp_path, JANUARY, include_payments=True)) == _rows(january)


def test_a_payment_deleted_before_any_export_is_booked_nowhere(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    dc.ok("configure_datev", DATEV)
    inv = _euro_invoice(dc)
    pid = _pay(dc, inv, "50.00", "2025-01-21")
    dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    january = _export(dc, tmp_path, JANUARY, include_payments=True)
    february = _export(dc, tmp_path, FEBRUARY, include_payments=True)
    assert [r[5].split(" ")[0] for r in _rows(january)] == [inv["number"]]  # the invoice only
    assert _rows(february) == []
    debtor = _rows(january)[0][2]
    assert _balance(debtor, january, february) == D("119.00")


def test_an_export_without_payments_reverses_none(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    # the bank side comes from the bank statement: a payment DATEV never had is not reversed
    dc.ok("configure_datev", DATEV)
    inv = _euro_invoice(dc)
    pid = _pay(dc, inv, "119.00", "2025-01-21")
    _export(dc, tmp_path, JANUARY)
    dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    assert _export(dc, tmp_path, FEBRUARY, include_payments=True).rows() == []


def test_a_dollar_payment_and_its_exchange_difference_are_reversed(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    # 1,190.00 USD at 0.9000 (1,071.00 EUR), paid at 0.9200: 1,094.80 came in, 23.80 gained
    dc.ok("configure_datev", DATEV)
    inv = _usd(dc)
    pid = _pay(dc, inv, "1190.00", "2025-01-20", exchange_rate="0.9200")
    january = _export(dc, tmp_path, JANUARY, include_payments=True, scope="unexported")
    debtor = _rows(january)[0][2]
    assert [r[:2] for r in _rows(january)] == [("1071,00", "S"), ("1094,80", "S"), ("23,80", "S")]
    assert _balance(debtor, january) == 0

    dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    february = _export(dc, tmp_path, FEBRUARY, include_payments=True, scope="unexported")
    got = sorted(_rows(february), key=lambda r: r[5])
    assert [(r[0], r[1], r[4]) for r in got] == [("23,80", "H", "1002"), ("1094,80", "H", "1002")]
    assert got[0][5].startswith("Storno Kursgewinn ")
    assert got[1][5].startswith("Storno Zahlung ")
    assert february.data["counts"]["exchange_differences"] == 1
    assert _balance(debtor, january, february) == D("1071.00")  # the invoice's euro value


def test_a_settling_dollar_payment_deleted_takes_back_what_it_booked(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    # 119.08 USD whose groups convert to 109.95 EUR (a cent under 119.08 x 0.9234): the second
    # half settles the invoice and books 54.97; deleted, it takes back those 54.97, so the
    # Debitor holds what the first half left open (the ledger: 54.97 open). The invoice's
    # 109.95 is two rows: its converted VAT is 17.55 (19.01 USD x 0.9234), and DATEV would take
    # 17.56 out of 109.95 at 19 %; out of 109.94 and 0.01 it takes 17.55 (datev_vat.py)
    dc.ok("configure_datev", DATEV)
    inv = _usd(dc, "0.9234", "100.07")
    _pay(dc, inv, "59.54", "2025-01-20")
    second = _pay(dc, inv, "59.54", "2025-01-21")
    january = _export(dc, tmp_path, JANUARY, include_payments=True, scope="unexported")
    assert [r[0] for r in _rows(january)] == ["109,94", "0,01", "54,98", "54,97"]
    debtor = _rows(january)[0][2]

    out = dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": second})
    open_eur = out.events[0]["data"]["invoice"]["normalized"]["open_amount"]
    february = _export(dc, tmp_path, FEBRUARY, include_payments=True, scope="unexported")
    assert [(r[0], r[1]) for r in _rows(february)] == [("54,97", "H")]
    assert _balance(debtor, january, february) == D(open_eur) == D("54.97")


def test_a_customer_payment_deleted_after_its_export_reverses_each_allocation_and_its_credit(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    invs = [
        dc.finalized(cust, [line("Beratung", "1", price)], issue_date=dt.date(2025, 1, 10))
        for price in ("100.00", "200.00")
    ]
    pid = str(uuid.uuid4())
    dc.ok(
        "record_payment",
        {"customer_id": str(cust), "payment_id": pid, "amount": "400.00", "date": "2025-01-21"},
    )
    # 357.00 settles both invoices, 43.00 stay the customer's credit (booked GH-...)
    january = _export(dc, tmp_path, JANUARY, include_payments=True, scope="unexported")
    debtor = _rows(january)[0][2]
    assert _balance(debtor, january) == D("-43.00")
    dc.ok("delete_payment", {"payment_id": pid})
    february = _export(dc, tmp_path, FEBRUARY, include_payments=True, scope="unexported")
    got = sorted(_rows(february))
    assert [(r[0], r[1], r[4]) for r in got] == [
        ("119,00", "H", "1002"),
        ("238,00", "H", "1002"),
        ("43,00", "H", "1002"),
    ]
    assert got[2][5].startswith("Storno Guthaben ")
    assert _balance(debtor, january, february) == D("357.00")
    assert {r[5].split(" ")[2] for r in got[:2]} == {i["number"] for i in invs}
    # marked: not reversed twice; January run again books the payment and its credit as it did
    assert _export(dc, tmp_path, FEBRUARY, include_payments=True, scope="unexported").rows() == []
    assert sorted(_rows(_export(dc, tmp_path, JANUARY, include_payments=True))) == sorted(
        _rows(january)
    )


def test_an_application_of_credit_leaves_no_deleted_payment(
    dc: Client,  # noqa: F811
) -> None:
    # applied credit is never booked (exports/datev_credit.py): undone, nothing to reverse; a
    # payment of one invoice, deleted, is kept
    cust = dc.customer()
    dc.ok(
        "record_payment",
        {
            "customer_id": str(cust),
            "payment_id": str(uuid.uuid4()),
            "amount": "100.00",
            "date": "2025-01-21",
        },
    )
    inv = dc.finalized(cust, [line("Beratung", "1", "50.00")], issue_date=dt.date(2025, 1, 12))
    out = dc.ok("apply_customer_credit", {"customer_id": str(cust), "invoice_id": inv["id"]})
    applied = next(e for e in out.events if e["type"] == "payment.allocated")
    dc.ok(
        "delete_payment",
        {"invoice_id": inv["id"], "payment_id": applied["data"]["allocation"]["id"]},
    )
    paid = _pay(dc, inv, "59.50", "2025-01-22")
    dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": paid})
    with dc.bus.engine.connect() as conn:
        kept = conn.execute(
            select(DeletedPayment.id).where(DeletedPayment.organization_id == dc.org)
        ).scalars()
        assert [str(i) for i in kept] == [paid]


def test_a_dollar_payment_recorded_late_moves_no_cent_already_booked(
    dc: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    # two halves of 119.08 USD (109.95 EUR): the one of the 21st is exported first, alone
    # (59.54 x 0.9234 = 54.98); the one of the 20th is recorded afterwards. Taken in date
    # order it would be first and book 54.98, and the one DATEV has would have to be 54.97:
    # the Debitor would hold 109.96 against 109.95. What DATEV has stays (54.98), the late one
    # books what is left (54.97), and a run of the month again books what the first one did.
    dc.ok("configure_datev", DATEV)
    inv = _usd(dc, "0.9234", "100.07")
    _pay(dc, inv, "59.54", "2025-01-21")
    first = _export(dc, tmp_path, JANUARY, include_payments=True, scope="unexported")
    assert [r[0] for r in _rows(first)] == ["109,94", "0,01", "54,98"]  # 109.95: VAT 17.55
    debtor = _rows(first)[0][2]
    out = dc.ok(
        "record_payment", {"invoice_id": inv["id"], "amount": "59.54", "date": "2025-01-20"}
    )
    assert out.events[-1]["data"]["invoice"]["normalized"]["open_amount"] == "0.00"
    late = _export(dc, tmp_path, JANUARY, include_payments=True, scope="unexported")
    assert [(r[0], r[4]) for r in _rows(late)] == [("54,97", "2001")]
    assert _balance(debtor, first, late) == 0
    again = _export(dc, tmp_path, JANUARY, include_payments=True)
    assert sorted(r[0] for r in _rows(again)) == ["0,01", "109,94", "54,97", "54,98"]
    assert _balance(debtor, again) == 0


def test_a_deleted_payments_id_is_not_used_again(dc: Client) -> None:  # noqa: F811
    # an export may have booked it under that id and reverses it under that id: a new payment
    # under it would pass for exported, and its own deletion could not be kept
    inv = _euro_invoice(dc)
    pid = str(uuid.uuid4())
    payment = {"invoice_id": inv["id"], "payment_id": pid, "amount": "10.00", "date": "2025-01-21"}
    dc.ok("record_payment", payment)
    dc.ok("delete_payment", {"invoice_id": inv["id"], "payment_id": pid})
    again = dc.send("record_payment", payment)
    assert again.status == "rejected"
    assert again.errors[0]["code"] == "payment_exists"
    assert again.errors[0]["source"]["pointer"] == "/payload/payment_id"
    # a payment across invoices, deleted: its id neither
    cp = str(uuid.uuid4())
    across = {
        "customer_id": inv["customer_id"],
        "payment_id": cp,
        "amount": "5.00",
        "date": "2025-01-22",
    }
    dc.ok("record_payment", across)
    dc.ok("delete_payment", {"payment_id": cp})
    assert dc.send("record_payment", across).errors[0]["code"] == "payment_exists"
