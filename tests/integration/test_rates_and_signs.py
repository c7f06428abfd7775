"""Tax rates by law and the sign of an invoice, through commands (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from tests.support.client import DE_ORG, Client, line


def test_fraction_rate_is_rejected_with_percent_hint(client: Client) -> None:
    cust = client.customer()
    before = client.snapshot()
    payload = {"id": "7f0a9a3e-1c41-4a55-9d1e-0f2a2e5b7c01", "customer_id": str(cust)}
    errors = client.rejected(
        "create_invoice", {**payload, "lines": [line(), line("x", tax_rate="0.19")]}
    )
    assert errors[0]["code"] == "invalid_tax_rate"
    assert errors[0]["source"]["pointer"] == "/payload/lines/1/tax_rate"
    assert errors[0]["meta"]["hint"] == "rates are percentages: did you mean 19?"
    assert client.snapshot() == before


def test_german_seller_cannot_charge_12(client: Client) -> None:
    iid = client.invoice(client.customer(), [line()])
    errors = client.rejected(
        "add_line", {"invoice_id": str(iid), "line": line("Buch", tax_rate=12)}
    )
    assert errors[0]["source"]["pointer"] == "/payload/line/tax_rate"
    assert "19, 7" in errors[0]["detail"]


def test_2020_cut_rates_by_delivery_date(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(
        cust,
        [line("Beratung", tax_rate=16), line("Buch", tax_rate=5)],
        issue_date=dt.date(2021, 1, 15),
        delivery_date="2020-11-30",
    )
    assert [g["rate"] for g in inv["tax_breakdown"]] == ["16", "5"]
    errors = client.rejected(
        "create_invoice",
        {
            "id": "1d9e7e56-0f0c-4d4b-9a57-5d7f5b3b7e02",
            "customer_id": str(cust),
            "delivery_date": "2021-01-02",
            "lines": [line(tax_rate=16)],
        },
    )
    assert "2020-07-01 to 2020-12-31" in errors[0]["meta"]["hint"]


def test_finalize_rechecks_with_the_final_tax_point(client: Client) -> None:
    cust = client.customer()
    iid = client.invoice(cust, [line(tax_rate=16)], delivery_date="2020-10-01")
    client.ok("update_invoice", {"id": str(iid), "delivery_date": "2026-01-10"})
    errors = client.rejected("finalize_invoice", {"invoice_id": str(iid)})
    assert errors[0]["code"] == "invalid_tax_rate"
    assert errors[0]["detail"].startswith("line 1:")
    assert "delivery_date" in errors[0]["meta"]["hint"]


def test_an_organization_adds_a_rate_explicitly(client: Client) -> None:
    client.setup_org({**DE_ORG, "extra_tax_rates": [{"rate": 12, "valid_from": "2026-01-01"}]})
    inv = client.finalized(client.customer(), [line(tax_rate=12)], issue_date=dt.date(2026, 2, 1))
    assert inv["tax_breakdown"][0]["rate"] == "12"


def test_default_rate_is_checked_at_configuration(client: Client) -> None:
    errors = client.rejected("configure_organization", {**DE_ORG, "default_tax_rate": "0.19"})
    assert errors[0]["source"]["pointer"] == "/payload/default_tax_rate"
    assert errors[0]["meta"]["hint"] == "rates are percentages: did you mean 19?"


def test_a_german_organization_states_vat_in_euros(client: Client) -> None:
    """default_currency is the currency a foreign-currency document states its VAT in
    (BT-6/BT-111, the PDF's "VAT in EUR"): a German seller's is EUR (Directive 2006/112/EC
    art. 230). Before, USD was accepted and its USD invoices stated no VAT in euros at all."""
    errors = client.rejected("configure_organization", {**DE_ORG, "default_currency": "USD"})
    assert errors[0]["source"]["pointer"] == "/payload/default_currency"
    assert "exchange_rate" in errors[0]["meta"]["hint"]
    client.setup_org(DE_ORG)
    inv = client.finalized(client.customer(), [line()], currency="USD", exchange_rate="0.9234")
    assert inv["normalized"]["currency"] == "EUR"


def test_categories_without_tax_keep_zero(client: Client) -> None:
    cust = client.customer(vat_id="ATU13585627")
    inv = client.finalized(
        cust,
        [line(tax_category="reverse_charge", tax_rate=0), line(tax_category="export", tax_rate=0)],
    )
    assert [g["tax_amount"] for g in inv["tax_breakdown"]] == ["0.00", "0.00"]
    errors = client.rejected(
        "create_invoice",
        {
            "id": "2c1f3a4b-5d6e-4f70-8a9b-0c1d2e3f4a03",
            "lines": [line(tax_category="export", tax_rate=19)],
        },
    )
    assert errors[0]["source"]["pointer"] == "/payload/lines/0/tax_rate"


def test_negative_invoice_is_rejected_with_a_hint(client: Client) -> None:
    iid = client.invoice(client.customer(), [line(unit_price="-50.00")])
    errors = client.rejected("finalize_invoice", {"invoice_id": str(iid)})
    assert errors[0]["code"] == "negative_total"
    assert "issue_credit_note" in errors[0]["meta"]["hint"]
    client.setup_org({**DE_ORG, "allow_negative_totals": True})
    out = client.ok("finalize_invoice", {"invoice_id": str(iid)})
    assert out.events[0]["data"]["invoice"]["totals"]["gross_total"] == "-59.50"


def test_zero_and_mixed_sign_invoices_are_allowed(client: Client) -> None:
    inv = client.finalized(
        client.customer(), [line(unit_price="100.00"), line("Anzahlung", unit_price="-40.00")]
    )
    assert inv["totals"]["gross_total"] == "71.40"
