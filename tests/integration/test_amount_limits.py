"""Amounts a command may carry, multiplied or summed beyond what a document can hold: a
rejection (``amount_too_large``), never an internal error, on SQLite and PostgreSQL; and
sums beyond what a command carries answered.

Each number of a command has at most 15 integer digits, but a quantity times a unit price, a
document's sum or its amounts at an exchange rate may have 30: ``decimal`` rounds such a
product to its 28 digits without complaint and then raises ``InvalidOperation`` when the
amount is rounded to the cent. Before, a line of 10^14 x 10^12, an invoice converted at a rate
of 10^15 and an overpayment kept as credit at such a rate failed as internal errors (a worker
retries those), and an invoice of three lines of 10^15 - 1 was issued with a gross that no
payment can carry. The limit is 10^14 (``domain.calc.AMOUNT_LIMIT``): SQLite's money keys
(64-bit integers of 10^-4 units) are exact up to 9.2 x 10^14 only, and the differential walk
saw a void invoice of 999,000,000,000,000.00 open on SQLite and settled on PostgreSQL. Found
while choosing the differential walk's hostile values, and by the walk
(tests/integration/test_backend_differential.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.client import Client, line

pytestmark = pytest.mark.integration

BIG = "999999999999999"  # the largest whole number a command carries: beyond the limit


def _refused(client: Client, ctype: str, payload: dict[str, Any], pointer: str) -> None:
    (error,) = client.rejected(ctype, payload)
    assert (error["code"], error["source"]["pointer"]) == ("amount_too_large", pointer), error


@pytest.mark.parametrize(
    ("lines", "fields", "pointer"),
    [
        ([line("x", "100000000000000", "999999999999.99")], {}, "/payload/lines/0"),
        ([line("x", "1", "40000000000000")] * 3, {}, "/payload/lines"),
        ([line("x", "9", "10000000000000")], {}, "/payload/lines"),  # the VAT pushes it over
        ([line("x", "1", "999000000000000")], {}, "/payload/lines/0"),  # inexact on SQLite
        (
            [line("x", "1", "999999999999.99")],
            {"currency": "USD", "exchange_rate": BIG},
            "/payload/exchange_rate",
        ),
    ],
    ids=["line", "sum", "gross", "sqlite-key", "converted"],
)
def test_a_document_beyond_the_limit_is_refused(
    client: Client, lines: list[dict[str, Any]], fields: dict[str, Any], pointer: str
) -> None:
    customer = client.customer()
    payload = {"id": str(uuid.uuid4()), "customer_id": str(customer), "lines": lines, **fields}
    _refused(client, "create_invoice", payload, pointer)
    assert client.count_invoices() == 0


def test_a_draft_grown_beyond_the_limit_is_refused(client: Client) -> None:
    customer = client.customer()
    iid = client.invoice(customer, [line("x", "1", "50000000000000")])
    _refused(
        client,
        "add_line",
        {"invoice_id": str(iid), "line": line("y", "1", "40000000000000")},
        "/payload/line",  # the line that made the document's gross total too large
    )


def test_a_payment_beyond_the_limit_or_worth_too_much_at_its_rate_is_refused(
    client: Client,
) -> None:
    customer = client.customer()
    iid = client.invoice(customer, [line("x", "1", "100.00")], currency="USD", exchange_rate="0.9")
    client.ok("finalize_invoice", {"invoice_id": str(iid)})
    payment = {"invoice_id": str(iid), "date": "2026-01-05", "keep_overpayment_as_credit": True}
    _refused(client, "record_payment", {**payment, "amount": BIG}, "/payload/amount")
    _refused(
        client,
        "record_payment",
        {**payment, "amount": "90000000000000", "exchange_rate": BIG},
        "/payload/exchange_rate",
    )
    across = {"customer_id": str(customer), "amount": BIG, "date": "2026-01-05"}
    _refused(client, "record_payment", across, "/payload/amount")
    client.ok("record_payment", {**payment, "amount": "119.00", "exchange_rate": "0.95"})


@pytest.mark.parametrize(
    ("flt", "matches"),
    [
        ({"gross_total": {"gt": BIG}}, False),
        ({"gross_total": {"lt": f"-{BIG}.9999999999"}}, False),
        ({"gross_total": {"lte": BIG}}, True),
        ({"open_amount": {"in": [BIG, "119.00"]}}, True),
        ({"paid_amount": {"not_eq": BIG}}, True),
        ({"net_total_min": f"-{BIG}", "net_total_max": BIG}, True),
    ],
)
def test_a_money_filter_at_the_contract_s_edge_is_answered(
    client: Client, flt: dict[str, Any], matches: bool
) -> None:
    """A filter value of 15 integer digits is 10^19 and more in the 10^-4 units of SQLite's
    money keys, which its driver refused (``OverflowError``: an internal error on SQLite alone,
    in ``list_invoices`` and in ``export_csv``)."""
    iid = client.invoice(client.customer(), [line("x", "1", "100.00")])
    client.ok("finalize_invoice", {"invoice_id": str(iid)})
    reply = client.bus.query_document(
        {"type": "list_invoices", "organization_id": str(client.org), "payload": {"filter": flt}}
    )
    assert reply["status"] == "ok", reply["errors"]
    assert [item["id"] for item in reply["result"]["items"]] == ([str(iid)] if matches else [])
    (event,) = client.ok("export_csv", {"filters": flt}).events
    assert event["data"]["counts"]["invoices"] == int(matches)


def test_sums_beyond_what_a_command_carries_are_answered(client: Client) -> None:
    """Each document and payment stays below 10^14, their sums need not: open_items' total
    per currency and a customer's unapplied credit were validated as command values (at most
    15 integer digits), and the answer failed as an internal error."""
    customer, other = client.customer(), client.customer()
    for _ in range(13):
        iid = client.invoice(customer, [line("x", "1", "70000000000000")])  # 83.3 x 10^12
        client.ok("finalize_invoice", {"invoice_id": str(iid)})
    across = {"customer_id": str(other), "amount": "99000000000000", "date": "2026-01-05"}
    for _ in range(11):
        client.ok("record_payment", across)  # no invoice: all of it unapplied credit
    reply = client.bus.query_document({"type": "open_items", "organization_id": str(client.org)})
    assert reply["status"] == "ok", reply["errors"]
    result = reply["result"]
    assert result["totals"] == [{"currency": "EUR", "amount": "1082900000000000.00", "count": 13}]
    credit = [(c["customer_id"], c["amount"]) for c in result["unapplied_credit"]]
    assert credit == [(str(other), "1089000000000000.00")]
