"""write_off_invoice and reverse_write_off through commands (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from tests.support.client import Client, line

D = Decimal
#: the invoices' issue date: on or before every payment, write-off and credit of these tests (a
#: correction cannot precede the invoice it corrects: src/domain/corrections.py)
ISSUED = dt.date(2026, 4, 1)


def _mixed(client: Client) -> dict:  # type: ignore[type-arg]
    return client.finalized(
        client.customer(),
        [line("Beratung", "1", "1000.00"), line("Buch", "1", "1000.00", tax_rate=7)],
        issue_date=ISSUED,
    )


def test_uncollectible_rest_corrects_vat_per_group_and_can_be_reversed(client: Client) -> None:
    inv = _mixed(client)
    iid = inv["id"]
    client.ok("record_payment", {"invoice_id": iid, "amount": "1130.00", "date": "2026-04-01"})
    wid = str(uuid.uuid4())
    out = client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "write_off_id": wid, "date": "2026-09-30", "reason": "uncollectible"},
    )
    # what was paid now settles what is owed: paid (on the payment's date), nothing open
    assert [e["type"] for e in out.events] == ["invoice.written_off", "invoice.paid"]
    assert out.events[-1]["data"]["invoice"]["paid_on"] == "2026-04-01"
    event = out.events[0]["data"]
    assert event["write_off"]["gross"] == "1130.00"
    # the open half per rate: 500.00 + 95.00 at 19 %, 500.00 + 35.00 at 7 %
    assert {(g["rate"], g["net"], g["tax"]) for g in event["write_off"]["groups"]} == {
        ("19", "500.00", "95.00"),
        ("7", "500.00", "35.00"),
    }
    state = event["invoice"]
    assert state["totals"]["written_off_amount"] == "1130.00"
    assert state["totals"]["open_amount"] == "0.00" and state["overdue"] is False
    ledger = {g["rate"]: g for g in state["tax_ledger"]}
    assert ledger["19"]["written_off_tax"] == "95.00" and ledger["7"]["open_tax"] == "0.00"
    assert state["ledger_entries"][0]["kind"] == "write_off"
    assert state["ledger_entries"][0]["date"] == "2026-09-30"
    errors = client.rejected(
        "record_payment", {"invoice_id": iid, "amount": "1130.00", "date": "2026-10-05"}
    )
    assert "reverse_write_off" in errors[0]["meta"]["hint"]
    out = client.ok(
        "reverse_write_off", {"invoice_id": iid, "write_off_id": wid, "date": "2026-10-05"}
    )
    back = out.events[0]["data"]["invoice"]
    assert out.events[0]["type"] == "invoice.write_off_reversed"
    assert back["totals"]["open_amount"] == "1130.00" and back["status"] == "partially_paid"
    assert back["totals"]["written_off_amount"] == "0.00"
    out = client.ok(
        "record_payment", {"invoice_id": iid, "amount": "1130.00", "date": "2026-10-05"}
    )
    assert out.events[-1]["type"] == "invoice.paid"
    assert out.events[-1]["data"]["invoice"]["paid_on"] == "2026-10-05"
    errors = client.rejected(
        "reverse_write_off", {"invoice_id": iid, "write_off_id": wid, "date": "2026-10-06"}
    )
    assert errors[0]["code"] == "already_reversed"


def test_written_off_money_is_not_kept_as_credit(client: Client) -> None:
    """Money beyond the open amount of a written-off invoice is the written-off amount arriving
    (§ 17 Abs. 2 Nr. 1 Satz 2 UStG: the VAT is corrected again): it is refused even with
    keep_overpayment_as_credit. It was accepted: the invoice of 119.00 written off in full
    became paid with 119.00 written off, 119.00 paid and 119.00 as the customer's credit, its
    19.00 VAT still corrected."""
    cust = client.customer()
    inv = client.finalized(cust, [line(unit_price="100.00")], issue_date=ISSUED)
    iid = inv["id"]
    wid = str(uuid.uuid4())
    client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "write_off_id": wid, "date": "2026-09-30", "reason": "uncollectible"},
    )
    payment = {"invoice_id": iid, "amount": "119.00", "date": "2026-10-05"}
    errors = client.rejected("record_payment", {**payment, "keep_overpayment_as_credit": True})
    assert (
        errors[0]["code"] == "overpayment" and errors[0]["source"]["pointer"] == "/payload/amount"
    )
    assert "reverse_write_off" in errors[0]["meta"]["hint"]
    state = client.state(iid)
    assert state["totals"]["paid_amount"] == "0.00" and state["totals"]["credit_balance"] == "0.00"
    client.ok("reverse_write_off", {"invoice_id": iid, "write_off_id": wid, "date": "2026-10-05"})
    out = client.ok(
        "record_payment", {**payment, "amount": "120.00", "keep_overpayment_as_credit": True}
    )
    paid = out.events[-1]["data"]["invoice"]
    assert paid["status"] == "paid" and paid["totals"]["written_off_amount"] == "0.00"
    assert paid["totals"]["credit_balance"] == "1.00"


def test_small_difference_settles_the_invoice(client: Client) -> None:
    inv = client.finalized(client.customer(), [line(unit_price="100.00")], issue_date=ISSUED)
    iid = inv["id"]
    client.ok("record_payment", {"invoice_id": iid, "amount": "118.95", "date": "2026-04-01"})
    out = client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "date": "2026-04-02", "reason": "small_difference"},
    )
    types = [e["type"] for e in out.events]
    assert types == ["invoice.written_off", "invoice.paid"]
    paid = out.events[-1]["data"]["invoice"]
    assert paid["status"] == "paid" and paid["paid_on"] == "2026-04-01"
    # 0.05 gross at 19 %: 0.04 net + 0.01 VAT corrected
    assert out.events[0]["data"]["write_off"]["groups"] == [
        {"category": "standard", "rate": "19", "net": "0.04", "tax": "0.01"}
    ]


def test_partial_write_off_is_pro_rata_and_bounded(client: Client) -> None:
    inv = _mixed(client)
    iid = inv["id"]
    errors = client.rejected(
        "write_off_invoice",
        {"invoice_id": iid, "amount": "2260.01", "date": "2026-04-02", "reason": "uncollectible"},
    )
    assert errors[0]["code"] == "write_off_too_large"
    assert errors[0]["source"]["pointer"] == "/payload/amount"
    out = client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "amount": "226.00", "date": "2026-04-02", "reason": "cash_discount"},
    )
    groups = out.events[0]["data"]["write_off"]["groups"]
    assert {(g["rate"], g["net"], g["tax"]) for g in groups} == {
        ("19", "100.00", "19.00"),
        ("7", "100.00", "7.00"),
    }
    state = out.events[0]["data"]["invoice"]
    assert state["status"] == "finalized" and state["totals"]["open_amount"] == "2034.00"
    # a credit of the rest now takes what remains after the write-off, per group
    out = client.ok("issue_credit_note", {"invoice_id": iid})
    rest = out.events[0]["data"]["invoice"]
    assert {(g["rate"], g["taxable_amount"], g["tax_amount"]) for g in rest["tax_breakdown"]} == {
        ("19", "900.00", "171.00"),
        ("7", "900.00", "63.00"),
    }


def test_drafts_and_settled_invoices_cannot_be_written_off(client: Client) -> None:
    cust = client.customer()
    draft = client.invoice(cust, [line()])
    errors = client.rejected(
        "write_off_invoice",
        {"invoice_id": str(draft), "date": "2026-04-02", "reason": "uncollectible"},
    )
    assert errors[0]["code"] == "invalid_state"
    inv = client.finalized(cust, [line()], issue_date=ISSUED)
    client.ok("mark_paid", {"invoice_id": inv["id"]})
    errors = client.rejected(
        "write_off_invoice",
        {"invoice_id": inv["id"], "date": "2026-04-02", "reason": "uncollectible"},
    )
    assert errors[0]["code"] == "nothing_open"


def test_belgian_seller_recovers_vat_only_once_the_loss_is_established(client: Client) -> None:
    """art. 77 § 1, 7° Code TVA: insolvency, a loss shown definitive, or unpaid a year after the
    due date (src/domain/writeoff_rules.py); a German seller's event names § 17 UStG."""
    import datetime as dt

    from tests.support.client import BE_ORG

    client.setup_org(BE_ORG)
    inv = client.finalized(
        client.customer(),
        [line("Advies", "1", "1000.00", tax_rate=21)],
        issue_date=dt.date(2025, 1, 10),
        due_date="2025-02-09",
    )
    iid = inv["id"]
    errors = client.rejected(
        "write_off_invoice",
        {"invoice_id": iid, "amount": "100.00", "date": "2025-12-31", "reason": "uncollectible"},
    )
    assert errors[0]["code"] == "vat_not_recoverable"
    assert errors[0]["source"]["pointer"] == "/payload/reason"
    assert "from 2026-02-09" in errors[0]["meta"]["hint"]
    out = client.ok(
        "write_off_invoice",
        {
            "invoice_id": iid,
            "amount": "121.00",
            "date": "2025-12-31",
            "reason": "uncollectible",
            "ground": "insolvency",
        },
    )
    data = out.events[0]["data"]["write_off"]
    assert data["vat_rule"]["code"] == "be_insolvency" and data["ground"] == "insolvency"
    assert (data["net"], data["tax"]) == ("100.00", "21.00")
    out = client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "amount": "121.00", "date": "2026-02-09", "reason": "uncollectible"},
    )
    assert out.events[0]["data"]["write_off"]["vat_rule"]["code"] == "be_unpaid_one_year"
    out = client.ok(
        "write_off_invoice",
        {"invoice_id": iid, "amount": "1.00", "date": "2025-03-01", "reason": "small_difference"},
    )
    assert out.events[0]["data"]["write_off"]["vat_rule"]["code"] == "be_price_reduction"
    assert out.events[0]["data"]["invoice"]["totals"]["written_off_amount"] == "243.00"


def test_german_write_off_names_its_rule(client: Client) -> None:
    inv = _mixed(client)
    out = client.ok(
        "write_off_invoice",
        {"invoice_id": inv["id"], "date": "2026-09-30", "reason": "uncollectible"},
    )
    assert out.events[0]["data"]["write_off"]["vat_rule"] == {
        "code": "de_uncollectible",
        "law": "§ 17 Abs. 2 Nr. 1 UStG",
    }


def test_yen_rest_after_two_write_offs_is_a_valid_credit_note(client: Client) -> None:
    """The case hypothesis found (tests/unit/test_ledger_properties.py), through commands: two
    write-offs of a JPY invoice, then the rest credited; the credit note's VAT stays within one
    yen of net x rate, so the official rules accept it (BR-S-09)."""
    from invoicing.documents.einvoice import build_einvoice, validate
    from invoicing.schemas.events import InvoiceState

    from tests.support.client import DE_ORG
    from tests.support.external import require_rules

    client.setup_org({**DE_ORG, "email": "buchhaltung@kanzlei.example", "phone": "+49 221 1"})
    inv = client.finalized(
        client.customer(),
        [line("Probe", "1", "0")] * 6
        + [line("Muster", "0.1", "25"), line("Beratung", "49", "209")],
        issue_date=ISSUED,
        currency="JPY",
        exchange_rate="0.0062",
        calculate_from_net=False,
    )
    iid = inv["id"]
    assert (inv["tax_breakdown"][0]["taxable_amount"], inv["tax_breakdown"][0]["tax_amount"]) == (
        "8608",
        "1636",
    )
    taken = []
    for amount in ("615", "96"):
        out = client.ok(
            "write_off_invoice",
            {"invoice_id": iid, "amount": amount, "date": "2026-06-30", "reason": "uncollectible"},
        )
        (group,) = out.events[0]["data"]["write_off"]["groups"]
        taken.append((group["net"], group["tax"]))
    assert taken == [("517", "98"), ("80", "16")]  # the second moved a yen to keep the rest
    out = client.ok("issue_credit_note", {"invoice_id": iid})
    cn = out.events[0]["data"]["invoice"]
    (g,) = cn["tax_breakdown"]
    assert (g["taxable_amount"], g["tax_amount"]) == ("8011", "1522")  # 1521.09 exactly
    assert abs(D(g["tax_amount"]) - D(g["taxable_amount"]) * 19 / 100) < 1
    require_rules()
    for fmt in ("xrechnung_cii", "xrechnung_ubl"):
        einvoice = build_einvoice(InvoiceState.model_validate(cn), fmt)
        report = validate(einvoice.xml, einvoice.profile)
        assert report.valid, (fmt, [f"{f.rule}: {f.text}" for f in report.errors])
