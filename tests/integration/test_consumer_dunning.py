"""The dunning of consumers through ``send_dunning_notices`` and the real delivery step (a real
SMTP server), on SQLite and PostgreSQL: a German consumer's default under § 286 BGB and a
Belgian consumer's debt under Book XIX of the Code of Economic Law (docs/dunning.md,
"Consumers"). The clock is set to each run's day, so a notice goes out on the day it is
dated, as the scheduler's daily run does."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_send_invoice as _send
from tests.integration.test_dunning import _pdf_text
from tests.integration.test_send_invoice import Sink, World, make_world, pdf_attachments
from tests.support import scenarios

pytestmark = pytest.mark.integration

smtp = _send.smtp
CENT = Decimal("0.01")


def at(w: World, day: str) -> None:
    """The world's clock at noon UTC of ``day`` (commands, deliveries and today)."""
    moment = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), tzinfo=dt.UTC)
    w.deps.clock = lambda: moment


def issue(w: World, day: str, customer: uuid.UUID | None = None) -> dict[str, Any]:
    """An invoice issued and marked sent on ``day`` (14 days' terms)."""
    at(w, day)
    inv = uuid.uuid4()
    line = {"description": "Beratung", "quantity": "2", "unit": "hours", "unit_price": "150.00"}
    out = w.run(
        "create_invoice",
        {
            "id": str(inv),
            "customer_id": str(customer or w.customer),
            "delivery_date": day,
            "lines": [line],
        },
    )
    assert out.status == "applied", out.errors
    out = w.run("finalize_invoice", {"invoice_id": str(inv), "issue_date": day})
    assert out.status == "applied", out.errors
    sent = w.run("mark_sent", {"invoice_id": str(inv), "sent_on": day})
    assert sent.status == "applied", sent.errors
    state: dict[str, Any] = sent.events[-1]["data"]["invoice"]
    return state


def dun(w: World, day: str) -> dict[str, dict[str, Any]]:
    """The notices of a run on ``day``, by invoice id (each checked against its email)."""
    at(w, day)
    before = len(w.sink.messages)
    out = w.run("send_dunning_notices", {"as_of": day})
    assert out.status == "applied", out.errors
    notices = {
        e["data"]["invoice"]["id"]: e["data"]["dunning"]
        for e in out.events
        if e["type"] == "dunning.notice_sent"
    }
    assert len(w.sink.messages) - before == len(notices)
    return notices


def interest(amount: Decimal, days: int, rate: str) -> str:
    return str((amount * days * Decimal(rate) / 100 / 365).quantize(CENT, ROUND_HALF_UP))


def email_of(w: World, number: str, title: str) -> tuple[str, str, str]:
    """The plain body, the notice PDF's text and the invoice PDF's text of a dunning email."""
    (msg,) = [
        m.message
        for m in w.sink.messages
        if number in str(m.message["Subject"]) and title in str(m.message["Subject"])
    ]
    body = msg.get_body(("plain",))
    assert body is not None
    notice, invoice = pdf_attachments(msg)
    return " ".join(body.get_content().split()), _pdf_text(notice), _pdf_text(invoice)


def test_a_german_consumer_is_dunned_from_the_start_of_default(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Two invoices of one consumer, both sent 3 February 2025, due 17 February. One was issued
    while the customer was recorded as a business: it carries no § 286 Abs. 3 note, and
    recording the customer as a consumer afterwards does not give it one. The other carries
    the note: its consumer is in default from 20 March (30 days after the due date, the
    invoice received on 6 February). Level 1 on 24 March: the noted invoice claims interest
    from 20 March; the other none (its default begins with this reminder). Level 2 on
    7 April: interest from 26 March (the reminder sent on the 24th, received the 25th) and the
    fee, which level 1 could not claim. Before, both claimed interest from 18 February."""
    w = make_world(db_url, smtp, tmp_path, buyer={"customer_type": "business"})
    statutory = {"interest": "statutory", "payment_days": 14}
    levels = [
        {"days_after_due": 35, **statutory},
        {"days_after_due": 49, "fee": "5.00", **statutory},
    ]
    assert w.run("configure_dunning", {"levels": levels}).status == "applied"
    plain = issue(w, "2025-02-03")
    assert plain["default_note"] is False
    customer = {
        **scenarios.DE_BUYER,
        "einvoice_format": "none",
        "id": str(w.customer),
        "customer_type": "consumer",
    }
    assert w.run("update_customer", customer).status == "applied"
    noted = issue(w, "2025-02-03")
    assert noted["default_note"] is True and noted["due_date"] == "2025-02-17"
    gross = Decimal(noted["totals"]["gross_total"])

    first = dun(w, "2025-03-24")
    assert first[plain["id"]]["interest"] == "0.00"
    assert first[plain["id"]]["interest_from"] is None
    assert first[plain["id"]]["interest_waived"] == "not_in_default"
    assert first[plain["id"]]["total_due"] == str(gross)
    got = first[noted["id"]]
    assert (got["interest_from"], got["interest_basis"]) == ("2025-03-20", "de_consumer")
    assert got["interest"] == interest(gross, 5, "7.27")  # 2.27 + 5, 20-24 March
    assert got["interest_waived"] is None

    body, notice, invoice = email_of(w, plain["number"], "Zahlungserinnerung")
    assert "Verzugszinsen" not in body and "Verzugszinsen" not in notice
    assert "§ 286 Abs. 3 BGB" not in invoice  # issued to a business: no note, then or now
    body, notice, invoice = email_of(w, noted["number"], "Zahlungserinnerung")
    assert "5 Prozentpunkte über dem Basiszinssatz (§ 288 Abs. 1 BGB)" in body
    assert "Hinweis nach § 286 Abs. 3 BGB" in invoice and "30 Tagen" in invoice

    second = dun(w, "2025-04-07")
    got = second[plain["id"]]
    assert (got["interest_from"], got["interest"]) == ("2025-03-26", interest(gross, 13, "7.27"))
    assert (got["fee"], got["fee_waived"]) == ("5.00", None)
    got = second[noted["id"]]
    assert (got["interest_from"], got["interest"]) == ("2025-03-20", interest(gross, 19, "7.27"))
    assert got["total_due"] == str(gross + Decimal("5.00") + Decimal(got["interest"]))


def _cap(balance: Decimal) -> Decimal:
    """The scale of art. XIX.4 WER, written out independently of the service's."""
    if balance <= 150:
        return Decimal(20)
    if balance <= 500:
        return (30 + (balance - 150) / 10).quantize(CENT, ROUND_FLOOR)
    return min(65 + (balance - 500) / 20, Decimal(2000)).quantize(CENT, ROUND_FLOOR)


def test_a_belgian_consumer_gets_a_free_first_reminder_14_days_and_capped_claims(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """A Belgian seller, a consumer, contracts with a damages and an interest clause; three
    levels with fees and 12 % interest. Level 1 (24 March 2025): no fee, no interest, the
    notice says until when the consumer may pay without costs (7 April: 14 days from the day
    after it was sent) and what will be claimed after; its deadline is not before that day.
    Level 2 (31 March): still within the 14 days: no fee, no interest. Level 3 (16 April):
    interest from 8 April at 11.5 % (2025-H1's cap, below the 12 % agreed), the fee cut to the
    scale. Before, level 1 claimed its fee and 12 % from the due date."""
    w = make_world(db_url, smtp, tmp_path)
    assert w.run("configure_organization", scenarios.BE_SELLER).status == "applied"
    buyer = {**scenarios.BE_BUYER, "customer_type": "consumer", "einvoice_format": "none"}
    out = w.run("create_customer", {"id": str(consumer := uuid.uuid4()), **buyer})
    assert out.status == "applied", out.errors
    fixed = {"interest_rate_per_year": "12", "payment_days": 10}
    settings = {
        "levels": [
            {"days_after_due": 7, "fee": "5.00", **fixed},
            {"days_after_due": 14, "fee": "15.00", **fixed},
            {"days_after_due": 30, "fee": "150.00", **fixed},
        ],
        "belgian_consumers": {"damages_clause": True, "interest_clause": True},
    }
    assert w.run("configure_dunning", settings).status == "applied"
    inv = issue(w, "2025-03-03", consumer)  # due 17 March
    gross = Decimal(inv["totals"]["gross_total"])
    cap = _cap(gross)
    assert (gross, cap) == (Decimal("363.00"), Decimal("51.30"))  # 30 + 10 % of 213

    (first,) = dun(w, "2025-03-24").values()
    assert (first["fee"], first["fee_waived"]) == ("0.00", "first_reminder")
    assert (first["interest"], first["interest_waived"]) == ("0.00", "first_reminder")
    assert first["free_until"] == "2025-04-07" and first["payment_deadline"] == "2025-04-07"
    assert first["announced_damages"] == str(min(cap, Decimal("165.00")))
    assert first["total_due"] == str(gross)
    body, notice, _ = email_of(w, inv["number"], "Betalingsherinnering")
    assert "tot en met 7 apr 2025 betalen zonder dat er kosten" in body
    assert "ten hoogste € 51,30" in body and "art. XIX.2" in notice
    assert "overeengekomen verwijlinteresten" in body

    (second,) = dun(w, "2025-03-31").values()
    assert (second["fee"], second["fee_waived"]) == ("0.00", "waiting_period")
    assert (second["interest"], second["interest_waived"]) == ("0.00", "waiting_period")
    assert second["free_until"] is None

    (third,) = dun(w, "2025-04-16").values()
    assert third["interest_from"] == "2025-04-08" and third["interest_basis"] == "be_consumer"
    assert third["interest_rate"] == "11.5" and third["interest"] == interest(gross, 9, "11.5")
    assert (third["fee"], third["fee_waived"]) == (str(cap), "cap")
    assert third["costs_capped"] == str(Decimal("150.00") - cap)
    assert third["total_due"] == str(gross + cap + Decimal(third["interest"]))
