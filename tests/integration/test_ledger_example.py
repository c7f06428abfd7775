"""The issue's 19 %/7 % example, through commands, on SQLite and PostgreSQL.

An invoice of 1,000.00 at 19 % plus 1,000.00 at 7 % (VAT 190.00 + 70.00), credited by one line
of 1,000.00 at 19 %, then voided.

Before the per-group ledger (main at 0e137cd) the void's credit note spread the remaining
1,070.00 gross over the ORIGINAL groups: 473.45 net at 19 % (89.96 VAT) and 473.45 net at 7 %
(33.14 VAT), so 279.96 VAT was reversed at 19 % against 190.00 charged and 313.10 overall
against 260.00 invoiced. Now the void takes exactly what remains per group: nothing at 19 %,
1,000.00 net and 70.00 VAT at 7 %.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from alembic import command
from invoicing import db
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator

from tests.support.client import Client, line
from tests.support.fakes import fake_deps

D = Decimal


def _groups(doc: dict) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {g["rate"]: (g["taxable_amount"], g["tax_amount"]) for g in doc["tax_breakdown"]}


def test_credit_19_then_void_reverses_only_what_remains(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(
        cust, [line("Beratung", "1", "1000.00"), line("Buch", "1", "1000.00", tax_rate=7)]
    )
    assert _groups(inv) == {"19": ("1000.00", "190.00"), "7": ("1000.00", "70.00")}
    out = client.ok(
        "issue_credit_note",
        {"invoice_id": inv["id"], "lines": [line("Nachlass", "1", "1000.00")]},
    )
    first = out.events[0]["data"]["invoice"]
    assert _groups(first) == {"19": ("1000.00", "190.00")}
    out = client.ok("void_invoice", {"invoice_id": inv["id"]})
    assert [e["type"] for e in out.events] == ["credit_note.issued", "invoice.voided"]
    void_cn = out.events[0]["data"]["invoice"]
    print("void credit note groups:", _groups(void_cn))
    assert _groups(void_cn) == {"7": ("1000.00", "70.00")}
    voided = out.events[-1]["data"]["invoice"]
    reversed_tax = D(first["totals"]["tax_total"]) + D(void_cn["totals"]["tax_total"])
    assert reversed_tax == D("260.00")
    assert voided["totals"]["credited_amount"] == "2260.00"
    assert voided["totals"]["credited_net"] == "2000.00"
    assert voided["totals"]["open_amount"] == "0.00"
    ledger = {g["rate"]: g for g in voided["tax_ledger"]}
    assert ledger["19"]["credited_tax"] == "190.00" and ledger["19"]["open_tax"] == "0.00"
    assert ledger["7"]["credited_tax"] == "70.00" and ledger["7"]["open_net"] == "0.00"


def test_credit_rest_after_partial_credit_is_exact(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(
        cust, [line("Beratung", "1", "1000.00"), line("Buch", "1", "1000.00", tax_rate=7)]
    )
    client.ok(
        "issue_credit_note",
        {"invoice_id": inv["id"], "lines": [line("Nachlass", "1", "400.00")]},
    )
    out = client.ok("issue_credit_note", {"invoice_id": inv["id"]})
    rest = out.events[0]["data"]["invoice"]
    assert _groups(rest) == {"19": ("600.00", "114.00"), "7": ("1000.00", "70.00")}


def test_credit_line_in_a_group_the_invoice_lacks_is_rejected(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line("Beratung", "1", "1000.00")])
    errors = client.rejected(
        "issue_credit_note",
        {
            "invoice_id": inv["id"],
            "lines": [line("ok", "1", "10.00"), line("Buch", "1", "10.00", tax_rate=7)],
        },
    )
    assert errors[0]["code"] == "credit_group_unknown"
    assert errors[0]["source"]["pointer"] == "/payload/lines/1/tax_rate"
    assert "19" in errors[0]["meta"]["hint"]


def test_credit_beyond_the_group_remainder_is_rejected(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(
        cust, [line("Beratung", "1", "5000.00"), line("Buch", "1", "1000.00", tax_rate=7)]
    )
    errors = client.rejected(
        "issue_credit_note",
        {"invoice_id": inv["id"], "lines": [line("Buch", "1", "2000.00", tax_rate=7)]},
    )
    assert errors[0]["code"] == "credit_too_large"
    assert errors[0]["source"]["pointer"] == "/payload/lines/0/unit_price"
    assert "1000.00" in errors[0]["meta"]["hint"]


def test_migration_rebuilds_the_ledger_of_existing_credited_invoices(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
        client.setup_org()
        inv = client.finalized(
            client.customer(),
            [line("Beratung", "1", "1000.00"), line("Buch", "1", "1000.00", tax_rate=7)],
        )
        client.ok(
            "issue_credit_note",
            {"invoice_id": inv["id"], "lines": [line("Buch", "1", "100.00", tax_rate=7)]},
        )
        client.ok(
            "record_payment", {"invoice_id": inv["id"], "amount": "500", "date": "2026-04-01"}
        )
        client.ok(
            "record_payment", {"invoice_id": inv["id"], "amount": "1653", "date": "2026-04-03"}
        )
        before = client.state(inv["id"])
        assert before["status"] == "paid" and before["paid_on"] == "2026-04-03"
        command.downgrade(db.alembic_config(db_url), "0011_ledger-1")  # just below the ledger
        db.migrate(db_url)
        with client.bus.uow_factory() as uow:
            row = uow.session.get(Invoice, (client.org, uuid.UUID(inv["id"])))
            assert row is not None
            assert row.credited_net == D("100.00") and row.credited_amount == D("107.00")
            assert [m["groups"] for m in row.ledger] == [
                [{"category": "standard", "rate": "7", "net": "100.00", "tax": "7.00"}]
            ]
            assert row.paid_on is not None and row.paid_on.isoformat() == "2026-04-03"
    finally:
        engine.dispose()


def test_rest_with_rounding_difference_is_a_valid_einvoice(client: Client) -> None:
    """0.06 at 19 % has VAT 0.01; 0.03 credited takes 0.01; the rest, 0.03 net, has 0.00 VAT
    left (round(0.03 x 19 %) would be 0.01). The rest credit note is still valid EN 16931."""
    from invoicing.documents.einvoice import build_einvoice, validate
    from invoicing.schemas.events import InvoiceState

    from tests.support.client import DE_ORG
    from tests.support.external import require_rules

    client.setup_org({**DE_ORG, "email": "buchhaltung@kanzlei.example", "phone": "+49 221 1"})
    inv = client.finalized(
        client.customer(), [line("Kleinteil", "1", "0.06"), line("Buch", "1", "10.00", tax_rate=7)]
    )
    client.ok("issue_credit_note", {"invoice_id": inv["id"], "lines": [line("x", "1", "0.03")]})
    out = client.ok("issue_credit_note", {"invoice_id": inv["id"]})
    rest = out.events[0]["data"]["invoice"]
    assert _groups(rest) == {"19": ("0.03", "0.00"), "7": ("10.00", "0.70")}
    assert rest["totals"]["gross_total"] == "10.73"
    state = InvoiceState.model_validate(rest)
    require_rules()
    for fmt in ("xrechnung_cii", "xrechnung_ubl"):
        einvoice = build_einvoice(state, fmt)
        report = validate(einvoice.xml, einvoice.profile)
        assert report.valid, "\n".join(f"{f.rule}: {f.text}" for f in report.errors)


def test_gross_entry_credits_in_halves_take_what_was_entered(client: Client) -> None:
    """A gross-entry invoice of 100.00 (84.03 + 15.97 VAT) credited by two lines of 50.00
    gross: the first takes 42.02 + 7.98, so 42.01 + 7.99 = 50.00 remains, and the second must
    take exactly that. It was refused (credit_too_large: "42.02 net but 42.01 net remains",
    compared net to net although the user enters gross), and a second credit of 49.99 took
    the whole remaining VAT on top of its net and came out at 50.00, voiding the invoice with
    a cent more credited than entered."""
    cust = client.customer()
    inv = client.finalized(cust, [line("Ticket", "1", "100.00")], calculate_from_net=False)
    assert _groups(inv) == {"19": ("84.03", "15.97")}
    half = {"invoice_id": inv["id"], "lines": [line("Hälfte", "1", "50.00")]}
    first = client.ok("issue_credit_note", half).events[0]["data"]["invoice"]
    assert first["totals"]["gross_total"] == "50.00"
    out = client.ok("issue_credit_note", half)
    second = out.events[0]["data"]["invoice"]
    assert second["totals"]["gross_total"] == "50.00"
    assert _groups(second) == {"19": ("42.01", "7.99")}
    assert second["lines"][0]["net_amount"] == "42.01"
    voided = out.events[-1]["data"]["invoice"]
    assert voided["status"] == "void" and voided["totals"]["credited_amount"] == "100.00"
    assert voided["tax_ledger"][0]["credited_tax"] == "15.97"


def test_gross_entry_credit_a_cent_short_of_the_rest_keeps_the_cent(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line("Ticket", "1", "100.00")], calculate_from_net=False)
    half = {"invoice_id": inv["id"], "lines": [line("Hälfte", "1", "50.00")]}
    client.ok("issue_credit_note", half)
    almost = {"invoice_id": inv["id"], "lines": [line("Rest", "1", "49.99")]}
    out = client.ok("issue_credit_note", almost)
    second = out.events[0]["data"]["invoice"]
    assert second["totals"]["gross_total"] == "49.99"
    t = second["totals"]
    assert D(t["net_total"]) + D(t["tax_total"]) == D("49.99")
    assert sum(D(x["net_amount"]) for x in second["lines"]) == D(t["net_total"])
    state = out.events[-1]["data"]["invoice"]
    assert state["status"] != "void"
    assert state["totals"]["credited_amount"] == "99.99"
    assert state["totals"]["open_amount"] == "0.01"
    g = state["tax_ledger"][0]
    assert D(g["credited_net"]) <= D("84.03") and D(g["credited_tax"]) <= D("15.97")


def test_yen_credit_that_would_state_vat_without_net_is_refused(client: Client) -> None:
    """2 x 2 yen gross at 19 % (3 + 1 VAT), credited by 1 yen twice (1 + 0 each): 1 + 1
    remains. A third yen took the whole remaining net and with it the whole VAT, 0 + 1: a
    credit note whose 19 % group had taxable amount 0 and VAT 1 (off net x rate by a whole
    yen, beyond BR-S-09). It is refused, nothing is stored, and the rest is credited whole."""
    cust = client.customer()
    inv = client.finalized(
        cust,
        [line("Ticket", "2", "2")],
        calculate_from_net=False,
        currency="JPY",
        exchange_rate="0.0062",
    )
    assert _groups(inv) == {"19": ("3", "1")}
    one = {"invoice_id": inv["id"], "lines": [line("Teil", "1", "1")]}
    for _ in range(2):
        credit = client.ok("issue_credit_note", one).events[0]["data"]["invoice"]
        assert _groups(credit) == {"19": ("1", "0")}
    errors = client.rejected("issue_credit_note", one)
    assert errors[0]["code"] == "credit_not_splittable"
    assert errors[0]["source"]["pointer"] == "/payload/lines/0/unit_price"
    assert "2 gross (1 net, 1 VAT)" in errors[0]["meta"]["hint"]
    out = client.ok("issue_credit_note", {"invoice_id": inv["id"]})
    assert _groups(out.events[0]["data"]["invoice"]) == {"19": ("1", "1")}
    assert out.events[-1]["data"]["invoice"]["status"] == "void"
