"""Foreign currency: the rate and its date frozen at finalize, amounts in the organization's
currency beside the invoice's (parts add up there too), and the VAT total in the seller's
currency in the e-invoice (EN 16931 BT-6 / BT-111), valid under the official rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support.client import DE_ORG, Client, line
from tests.support.external import require_rules

D = Decimal


def _usd_invoice(client: Client) -> dict:  # type: ignore[type-arg]
    client.setup_org({**DE_ORG, "email": "buchhaltung@kanzlei.example", "phone": "+49 221 1"})
    return client.finalized(
        client.customer(),
        [line("Consulting", "3", "333.33"), line("Book", "1", "19.99", tax_rate=7)],
        issue_date=dt.date(2026, 3, 2),
        currency="USD",
        exchange_rate="0.9137",
    )


def test_normalized_amounts_are_frozen_and_add_up(client: Client) -> None:
    inv = _usd_invoice(client)
    n = inv["normalized"]
    assert n["currency"] == "EUR" and n["exchange_rate"] == "0.9137"
    assert n["exchange_rate_date"] == "2026-03-02"  # the issue date when none was given
    # 999.99 USD -> 913.69 EUR net at 19 %, VAT 190.00 USD -> 173.60 EUR
    groups = {g["rate"]: (g["taxable_amount"], g["tax_amount"]) for g in n["tax_breakdown"]}
    assert groups == {"19": ("913.69", "173.60"), "7": ("18.26", "1.28")}
    assert D(n["tax_total"]) == sum(D(t) for _, t in groups.values()) == D("174.88")
    assert D(n["net_total"]) + D(n["tax_total"]) == D(n["gross_total"])
    assert n["open_amount"] == n["gross_total"]
    out = client.ok(
        "record_payment", {"invoice_id": inv["id"], "amount": "500.00", "date": "2026-03-20"}
    )
    paid = out.events[0]["data"]["invoice"]["normalized"]
    assert paid["paid_amount"] == "456.85"
    assert D(paid["open_amount"]) == D(paid["gross_total"]) - D("456.85")
    errors = client.rejected("update_invoice", {"id": inv["id"], "exchange_rate": "1.2"})
    assert errors[0]["code"] == "invalid_state"  # frozen with the content


def test_credit_note_keeps_the_invoice_rate(client: Client) -> None:
    inv = _usd_invoice(client)
    out = client.ok("issue_credit_note", {"invoice_id": inv["id"], "issue_date": "2026-04-15"})
    cn = out.events[0]["data"]["invoice"]
    assert cn["normalized"]["exchange_rate"] == "0.9137"
    assert cn["normalized"]["exchange_rate_date"] == "2026-03-02"
    assert cn["normalized"]["tax_total"] == inv["normalized"]["tax_total"]
    assert out.events[-1]["data"]["invoice"]["normalized"]["open_amount"] == "0.00"


@pytest.mark.parametrize("fmt", ["xrechnung_cii", "xrechnung_ubl", "zugferd"])
def test_einvoice_states_vat_in_the_sellers_currency(client: Client, fmt: str) -> None:
    inv = _usd_invoice(client)
    einvoice = build_einvoice(InvoiceState.model_validate(inv), fmt)
    root = etree.fromstring(einvoice.xml)
    amounts = {
        el.get("currencyID"): el.text
        for el in root.iter()
        if etree.QName(el).localname in ("TaxTotalAmount", "TaxAmount")
        and el.getparent() is not None
        and etree.QName(el.getparent()).localname
        in ("SpecifiedTradeSettlementHeaderMonetarySummation", "TaxTotal")
    }
    assert amounts == {"USD": "191.40", "EUR": "174.88"}
    codes = [el.text for el in root.iter() if etree.QName(el).localname == "TaxCurrencyCode"]
    assert codes == ["EUR"]
    require_rules()
    report = validate(einvoice.xml, einvoice.profile)
    assert report.valid, "\n".join(f"{f.rule}: {f.text}" for f in report.errors)


@pytest.mark.parametrize("lang", ["de", "en", "fr", "nl"])
def test_pdf_states_vat_in_the_sellers_currency(client: Client, lang: str) -> None:
    """The PDF prints what the e-invoice states as BT-6/BT-111: each VAT group converted at the
    frozen rate, and their sum as the VAT total in EUR, with the rate and its date."""
    import io

    import pypdf
    from invoicing.documents.pdf import render_pdf
    from invoicing.texts import section
    from invoicing.texts.formatting import money

    inv = _usd_invoice(client)
    state = InvoiceState.model_validate({**inv, "locale": lang})
    pdf = render_pdf(state)
    raw = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    got = " ".join(raw.replace("\u00a0", " ").replace("\u202f", " ").split())

    def plain(value: str) -> str:
        return " ".join(value.replace("\u00a0", " ").replace("\u202f", " ").split())

    t = section("pdf", lang)
    assert plain(t["vat_in_currency"].format(currency="EUR")) in got
    total = plain(t["vat_total_in_currency"].format(currency="EUR"))
    # the parts (173.60 + 1.28) and the total 174.88 in EUR, as the e-invoice's BT-111
    for amount in ("913.69", "173.60", "18.26", "1.28", "931.95"):
        assert plain(money(D(amount), "EUR", lang)) in got, amount
    assert f"{total} {plain(money(D('931.95'), 'EUR', lang))} " in got
    assert plain(money(D("174.88"), "EUR", lang)) in got.split(total, 1)[1]
    assert "1 USD = 0" in got and "9137 EUR" in got
    einvoice = build_einvoice(state, "zugferd")
    root = etree.fromstring(einvoice.xml)
    bt111 = [
        el.text
        for el in root.iter()
        if etree.QName(el).localname == "TaxTotalAmount" and el.get("currencyID") == "EUR"
    ]
    assert bt111 == ["174.88"]
