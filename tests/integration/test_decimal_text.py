"""A decimal in exponent notation or a negative zero reads back as PostgreSQL keeps it, on both
backends.

SQLite has no decimal type: ``ExactDecimal`` stores the decimal's text there. It stored
``str(value)``, which keeps what PostgreSQL's NUMERIC drops: a quantity sent as ``"1E+2"``
read back as ``1E+2`` on SQLite and ``100`` on PostgreSQL, a unit price of ``"-0"`` as ``-0``
and ``0``: the documents, and the events of a later finalize, differed between the backends. Found
by the differential walk (tests/integration/test_backend_differential.py).
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.client import Client, line

pytestmark = pytest.mark.integration


def test_a_line_reads_back_in_positional_notation_without_a_negative_zero(client: Client) -> None:
    customer = client.customer()
    iid = client.invoice(
        customer,
        [
            line("Stunden", "1E+2", "1.50E+1"),
            line("Gratis", "1", "-0"),
            line("Rabatt", "2.0E+0", "-0.00"),
        ],
    )
    client.ok("finalize_invoice", {"invoice_id": str(iid)})
    doc = client.answer("get_invoice", {"invoice_id": str(iid)})["invoice"]
    assert [(x["quantity"], x["unit_price"]) for x in doc["lines"]] == [
        ("100", "15.0"),
        ("1", "0"),
        ("2.0", "0.00"),
    ]
    assert doc["totals"]["net_total"] == "1500.00"


def test_the_events_carry_a_decimal_as_every_read_gives_it_back(client: Client) -> None:
    """``invoice.created`` repeated ``1E+2`` and ``-0`` as sent while ``get_invoice`` gave
    ``100`` and ``0``: the contract's decimals take the databases' form at the door now."""
    customer = client.customer()
    lines = [line("Stunden", "1E+2", "1.50E+1"), line("Gratis", "1", "-0")]
    iid = str(uuid.uuid4())
    out = client.ok("create_invoice", {"id": iid, "customer_id": str(customer), "lines": lines})
    created = out.events[0]["data"]["invoice"]["lines"]
    doc = client.answer("get_invoice", {"invoice_id": iid})["invoice"]["lines"]
    pairs = [(x["quantity"], x["unit_price"]) for x in created]
    assert pairs == [(x["quantity"], x["unit_price"]) for x in doc] == [("100", "15.0"), ("1", "0")]
