"""Dunning against a REAL SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
from invoicing.documents.store import invoice_document_id, sha256_hex
from invoicing.handlers.dunning import dunning_levels, notices_of
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models.documents import EmailDelivery, StoredDocument
from invoicing.models.dunning import DunningNotice
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tests.integration import test_send_invoice as _send
from tests.integration.test_send_invoice import (
    CrashAfterAccept,
    Sink,
    World,
    make_world,
    pdf_attachments,
)
from tests.support.documents import export_file

pytestmark = pytest.mark.integration

# the real SMTP server of the send tests (db_url, both databases: tests/integration/conftest.py)
smtp = _send.smtp

SETTINGS: dict[str, Any] = {
    "currency": "EUR",
    "levels": [
        {"days_after_due": 7},
        {"days_after_due": 21, "fee": "5.00", "interest_rate_per_year": "9"},
        {
            "days_after_due": 35,
            "fee": "10.00",
            "texts": {
                "de": {
                    "subject": "{level_title}: Rechnung {number} ({total_due})",
                    "body": "Rechnung {number} ist seit {days_overdue} Tagen fällig.\n\n"
                    "Offen: {open_amount}, Gebühr: {fee}. {unknown_is_rejected}",
                }
            },
        },
    ],
    "bcc": ["mahnwesen@kanzlei.example"],
}


def configure(w: World, settings: dict[str, Any] | None = None) -> None:
    out = w.run("configure_dunning", settings or _valid(SETTINGS))
    assert out.status == "applied", out.errors


def _valid(settings: dict[str, Any]) -> dict[str, Any]:
    s = {**settings, "levels": [dict(level) for level in settings["levels"]]}
    texts = s["levels"][2]["texts"]["de"]
    s["levels"][2]["texts"] = {
        "de": {**texts, "body": texts["body"].replace(" {unknown_is_rejected}", "")}
    }
    return s


def finalized(w: World, issue_date: str) -> dict[str, Any]:
    inv = w.draft()
    out = w.run("finalize_invoice", {"invoice_id": str(inv), "issue_date": issue_date})
    assert out.status == "applied", out.errors
    state: dict[str, Any] = out.events[-1]["data"]["invoice"]
    return state


def dun(w: World, as_of: str, command_id: uuid.UUID | None = None) -> Any:
    out = w.run("send_dunning_notices", {"as_of": as_of}, command_id)
    assert out.status in ("applied", "duplicate"), out.errors
    return out


def test_configuration_is_validated(db_url: str, smtp: tuple[Sink, int], tmp_path: Path) -> None:
    w = make_world(db_url, smtp, tmp_path)
    bad = w.run("configure_dunning", SETTINGS)  # unknown placeholder
    assert bad.status == "rejected" and "unknown_is_rejected" in str(bad.errors)
    unordered = {"levels": [{"days_after_due": 14}, {"days_after_due": 7}]}
    assert w.run("configure_dunning", unordered).status == "rejected"
    sub_cent = {"levels": [{"days_after_due": 14, "fee": "2.505"}]}
    errors = w.run("configure_dunning", sub_cent).errors
    assert errors and "more decimals" in str(errors)
    # dunning before configuring is rejected and changes nothing
    early = w.run("send_dunning_notices", {"as_of": "2026-06-01"})
    assert early.status == "rejected" and early.errors[0]["code"] == "dunning_not_configured"
    configure(w)
    again = w.run("configure_dunning", {"levels": [{"days_after_due": 10}]})
    assert again.status == "applied"
    assert again.events[0]["type"] == "dunning_settings.configured"
    assert again.events[0]["data"]["version"] == 2


def test_levels_fees_interest_and_emails(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")  # due 2026-01-19 (14 days)
    assert a["due_date"] == "2026-01-19"
    paid = finalized(w, "2026-01-05")
    assert w.run("mark_paid", {"invoice_id": paid["id"]}).status == "applied"
    void = finalized(w, "2026-01-05")
    assert w.run("void_invoice", {"invoice_id": void["id"]}).status == "applied"
    w.draft()  # a draft has no due date and is never dunned
    later = finalized(w, "2026-02-20")  # not overdue yet in January/February
    gross = Decimal(a["totals"]["gross_total"])

    assert dun(w, "2026-01-25").events == []  # 6 days overdue: nothing due yet
    assert w.sink.messages == []

    cmd = uuid.uuid4()
    first = dun(w, "2026-01-26", cmd)  # 7 days: Zahlungserinnerung
    assert [e["type"] for e in first.events] == ["dunning.notice_sent"]
    event = first.events[0]["data"]
    assert event["invoice"]["id"] == a["id"]
    notice = event["dunning"]
    assert notice["level"] == 1 and notice["title"] == "Zahlungserinnerung"
    assert notice["fee"] == "0.00" and notice["interest"] == "0.00"
    assert notice["interest_rate"] is None and notice["interest_from"] is None
    assert notice["open_amount"] == str(gross) and notice["days_overdue"] == 7
    # the invoice shows its level from the notice's event on
    assert (event["invoice"]["dunning_level"], event["invoice"]["dunned_on"]) == (1, "2026-01-26")
    assert len(w.sink.messages) == 1
    got = w.sink.messages[0]
    msg = got.message
    assert msg["Subject"] == f"Zahlungserinnerung zu Rechnung {a['number']} von Kanzlei Müller GmbH"
    assert msg["Message-ID"] == event["message_id"]
    assert set(got.rcpt_tos) == {"buchhaltung@acme.example", "mahnwesen@kanzlei.example"}
    assert msg["Bcc"] is None
    body = msg.get_body(("plain",))
    assert body is not None and a["number"] in body.get_content()
    assert "Mahngebühr" not in body.get_content()
    notice_pdf, invoice_pdf = pdf_attachments(msg)  # the notice first, then the invoice
    assert "Zahlungserinnerung" in _pdf_text(notice_pdf)
    assert a["number"] in _pdf_text(invoice_pdf) and "Zahlungserinnerung" not in _pdf_text(
        invoice_pdf
    )

    # the same command again (redelivery after commit): no second email, no event
    again = dun(w, "2026-01-26", cmd)
    assert again.status == "duplicate" and len(w.sink.messages) == 1
    # a new command the next day: level 2 is not due yet, level 1 is never sent twice
    assert dun(w, "2026-01-27").events == []
    assert len(w.sink.messages) == 1

    second = dun(w, "2026-02-09")  # 21 days: 1. Mahnung with fee and interest
    assert [e["data"]["invoice"]["id"] for e in second.events] == [a["id"]]
    notice = second.events[0]["data"]["dunning"]
    interest = (gross * Decimal(9) / 100 * 21 / 365).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert notice["level"] == 2 and notice["title"] == "1. Mahnung"
    assert notice["fee"] == "5.00" and notice["interest"] == str(interest)
    # what a listener (accounting, a Mahnbescheid) claims the interest by: rate and first day
    assert (notice["interest_rate"], notice["interest_from"]) == ("9", "2026-01-20")
    assert notice["total_due"] == str(gross + Decimal("5.00") + interest)
    text = w.sink.messages[1].message.get_body(("plain",))
    assert text is not None
    assert "Mahngebühr: 5,00\xa0€" in text.get_content()
    assert "1. Mahnung" in w.sink.messages[1].message["Subject"]
    # the fee is reported, never added to the frozen invoice
    assert second.events[0]["data"]["invoice"]["totals"]["gross_total"] == str(gross)

    third = dun(w, "2026-02-23")  # 35 days: the organization's own German text
    assert len(third.events) == 1
    msg3 = w.sink.messages[2].message
    total = gross + Decimal("5.00") + Decimal("10.00")  # the 1. Mahnung's fee is carried
    assert msg3["Subject"].startswith(f"2. Mahnung: Rechnung {a['number']} (")
    assert str(total).replace(".", ",") in msg3["Subject"]
    body3 = msg3.get_body(("plain",))
    assert body3 is not None and "seit 35 Tagen fällig" in body3.get_content()

    # all levels done; the later invoice is now due for its first level only
    fourth = dun(w, "2026-06-01")
    assert [e["data"]["invoice"]["id"] for e in fourth.events] == [later["id"]]
    assert fourth.events[0]["data"]["dunning"]["level"] == 1
    # the level and the day of the last notice are in the state, the list's filters and sort
    shown = query(w, "get_invoice", {"invoice_id": a["id"]})["invoice"]
    assert (shown["dunning_level"], shown["dunned_on"]) == (3, "2026-02-23")

    def listed(flt: dict[str, Any], sort: list[str] | None = None) -> list[str]:
        payload: dict[str, Any] = {"filter": flt, "sort": sort or ["-dunning_level"]}
        return [i["id"] for i in query(w, "list_invoices", payload)["items"]]

    assert listed({"dunning_level": [3]}) == [a["id"]]
    assert listed({"dunning_level": [1, 2, 3]}) == [a["id"], later["id"]]
    assert paid["id"] in listed({"dunning_level": [0]})
    assert a["id"] not in listed({"dunning_level": [0]})
    assert listed({"dunned_on": {"lt": "2026-03-01"}}) == [a["id"]]
    assert listed({"dunned_on": {"gte": "2026-01-01"}}, ["dunned_on"]) == [a["id"], later["id"]]
    assert listed({"dunned_on": {"gte": "2026-01-01"}}, ["-dunned_on"]) == [later["id"], a["id"]]
    # the CSV export carries them too
    (exported,) = [e for e in w.run("export_csv", {}).events if e["type"] == "export.completed"]
    rows = csv.DictReader(io.StringIO(export_file(w.bus, w.org, exported).decode("utf-8")))
    levels = {r["id"]: (r["dunning_level"], r["dunned_on"]) for r in rows}
    assert levels[a["id"]] == ("3", "2026-02-23") and levels[paid["id"]] == ("0", "")
    # paying it leaves its history: the level stays
    assert w.run("mark_paid", {"invoice_id": a["id"]}).status == "applied"
    assert query(w, "get_invoice", {"invoice_id": a["id"]})["invoice"]["dunning_level"] == 3

    with UnitOfWork.for_engine(w.engine) as uow:
        levels = dunning_levels(uow.session, w.org)
        assert levels == {uuid.UUID(a["id"]): 3, uuid.UUID(later["id"]): 1}
        history = notices_of(uow.session, w.org, uuid.UUID(a["id"]))
        assert [n.level for n in history] == [1, 2, 3]
        assert [n.fee for n in history] == [Decimal("0.00"), Decimal("5.00"), Decimal("10.00")]
        assert history[1].interest == interest
        assert uuid.UUID(paid["id"]) not in levels and uuid.UUID(void["id"]) not in levels
        # the database refuses the same level twice for an invoice
        dup = history[0]
        row = {
            "organization_id": dup.organization_id,
            "invoice_id": dup.invoice_id,
            "level": 1,
            "command_id": uuid.uuid4(),
            "as_of": dt.date(2026, 7, 1),
            "sent_at": dt.datetime.now(dt.UTC),
            "days_overdue": 1,
            "currency": "EUR",
            "open_amount": Decimal(1),
            "fee": Decimal(0),
            "interest": Decimal(0),
            "message_id": "<x@y>",
            "delivery_status": "sent",
        }
        with pytest.raises(IntegrityError):
            uow.session.execute(insert(DunningNotice).values(**row))


def query(w: World, qtype: str, payload: dict[str, Any]) -> Any:
    reply = w.bus.query_document({"type": qtype, "organization_id": str(w.org), "payload": payload})
    assert reply["status"] == "ok", reply["errors"]
    return reply["result"]


def _pdf_text(pdf: bytes) -> str:
    raw = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(raw.replace("\u00a0", " ").replace("\u202f", " ").split())


def test_the_notice_pdf_is_attached_and_stored(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Each notice goes out with its own PDF (documents/pdf/dunning.py: the level's title, the
    overdue invoice, open amount, fee, interest, total due), before the invoice's PDF; the
    notice is stored like the invoice's documents, frozen once sent, and named with its
    SHA-256 in the event."""
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")  # due 2026-01-19
    gross = Decimal(a["totals"]["gross_total"])
    dun(w, "2026-01-26")  # level 1
    second = dun(w, "2026-02-09")  # level 2: 21 days, fee 5.00, interest 9 % p.a.
    (event,) = second.events
    notice = event["data"]["dunning"]
    message = w.sink.messages[1].message
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names == [f"1._Mahnung_{a['number']}.pdf", f"{a['number']}.pdf"]
    notice_pdf, invoice_pdf = pdf_attachments(message)
    got = _pdf_text(notice_pdf)
    assert "Kanzlei Müller GmbH" in got and "Acme AG" in got  # letterhead and address
    assert "1. Mahnung" in got and a["number"] in got
    for printed in (
        "Offener Betrag",
        f"{gross:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") + " €",
        "5,00 €",
        notice["interest"].replace(".", ",") + " €",
        notice["total_due"].replace(".", ",") + " €",
        "21",  # days overdue
        "betrachten Sie dieses Schreiben bitte als gegenstandslos",
    ):
        assert printed in got, printed
    assert "unterliegen nicht der Umsatzsteuer" in got  # fees and interest carry no VAT
    body = message.get_body(("plain",))
    assert body is not None and "Dieses Schreiben liegt als PDF bei." in body.get_content()
    documents = event["data"]["documents"]
    assert [d["kind"] for d in documents] == ["dunning-2", "pdf"]
    assert documents[0]["sha256"] == sha256_hex(notice_pdf)
    assert documents[0]["document_id"] == str(invoice_document_id(uuid.UUID(a["id"]), "dunning-2"))
    assert documents[1]["sha256"] == sha256_hex(invoice_pdf)
    with UnitOfWork.for_engine(w.engine) as uow:
        stored = uow.session.get(
            StoredDocument, (w.org, invoice_document_id(uuid.UUID(a["id"]), "dunning-2"))
        )
        assert stored is not None and stored.frozen and stored.media_type == "application/pdf"
        assert stored.sha256 == sha256_hex(notice_pdf) and stored.size == len(notice_pdf)
        assert w.deps.document_store.get(uow.session, w.org, uuid.UUID(a["id"]), "dunning-2")
        first = uow.session.get(
            StoredDocument, (w.org, invoice_document_id(uuid.UUID(a["id"]), "dunning-1"))
        )
        assert first is not None and first.frozen
    english = make_world(db_url, smtp, tmp_path / "en", buyer={"locale": "en"})
    configure(english)
    b = finalized(english, "2026-01-05")
    dun(english, "2026-01-26")
    last = english.sink.messages[-1].message
    names = [part.get_filename() for part in last.iter_attachments()]
    assert names == [f"Payment_reminder_{b['number']}.pdf", f"{b['number']}.pdf"]
    assert "Payment reminder" in _pdf_text(pdf_attachments(last)[0])


def test_payment_stops_dunning_and_english_texts(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path, buyer={"locale": "en", "given_name": "Jane"})
    configure(w)
    a = finalized(w, "2026-01-05")
    b = finalized(w, "2026-01-05")
    first = dun(w, "2026-01-26")
    assert len(first.events) == 2
    subjects = sorted(m.message["Subject"] for m in w.sink.messages)
    assert subjects == sorted(
        f"Payment reminder: invoice {n} from Kanzlei Müller GmbH"
        for n in (a["number"], b["number"])
    )
    # b is paid in part, a in full: only b is dunned further
    w.run("mark_paid", {"invoice_id": a["id"]})
    assert (
        w.run(
            "record_payment", {"invoice_id": b["id"], "amount": "10.00", "date": "2026-01-30"}
        ).status
        == "applied"
    )
    second = dun(w, "2026-02-09")
    assert [e["data"]["invoice"]["id"] for e in second.events] == [b["id"]]
    notice = second.events[0]["data"]["dunning"]
    assert notice["title"] == "First reminder"
    gross = Decimal(b["totals"]["gross_total"])
    assert Decimal(notice["open_amount"]) == gross - 10
    # interest on what was open each day: 20-29 January (10 days) on the gross, 30 January
    # (the payment's day) to 9 February (11 days) on the rest (docs/dunning.md, "Interest")
    interest = ((gross * 10 + (gross - 10) * 11) * Decimal(9) / 100 / 365).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert notice["interest"] == str(interest)
    assert notice["total_due"] == str(gross - 10 + Decimal("5.00") + interest)


def test_crash_after_smtp_acceptance_sends_no_second_notice(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    finalized(w, "2026-01-05")
    cmd = uuid.uuid4()
    real = w.deps.mailer
    w.deps.mailer = CrashAfterAccept(real)
    with pytest.raises(KeyboardInterrupt):
        dun(w, "2026-01-26", cmd)
    assert len(w.sink.messages) == 1  # the server has it; the step died before recording it
    w.deps.mailer = real
    redelivered = dun(w, "2026-01-26", cmd)  # the job again (as after the lease ran out)
    assert redelivered.status == "duplicate"
    assert len(w.sink.messages) == 1  # no second email
    data = redelivered.events[0]["data"]
    assert data["delivery_status"] == "uncertain"
    assert data["message_id"] == w.sink.messages[0].message["Message-ID"]
    with UnitOfWork.for_engine(w.engine) as uow:
        rows = (
            uow.session.execute(select(EmailDelivery).where(EmailDelivery.purpose == "dunning"))
            .scalars()
            .all()
        )
        assert [r.status for r in rows] == ["uncertain"]
        notices = uow.session.execute(select(DunningNotice)).scalars().all()
        assert [(n.level, n.delivery_status) for n in notices] == [(1, "uncertain")]


def test_an_invoice_with_nothing_left_to_pay_takes_no_place_in_a_run(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Written off in full, an invoice stays finalized with nothing open: a run of one notice
    duns the other invoice, which is owed (before, the written-off one took the run's only
    place and its notice was dropped at delivery: nobody was dunned)."""
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    gone = finalized(w, "2026-01-05")  # due first: first in line
    owed = finalized(w, "2026-01-06")
    out = w.run(
        "write_off_invoice",
        {
            "invoice_id": gone["id"],
            "write_off_id": str(uuid.uuid4()),
            "reason": "uncollectible",
            "date": "2026-01-20",
        },
    )
    assert out.status == "applied", out.errors
    run = w.run("send_dunning_notices", {"as_of": "2026-01-27", "max_notices": 1})
    assert run.status == "applied", run.errors
    assert [e["data"]["invoice"]["id"] for e in run.events] == [owed["id"]]


def test_own_texts_state_a_fee_and_interest_of_nothing_as_zero(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """An organization's own text names ``{fee}`` and ``{interest}`` on a level without them
    (or an invoice in another currency, whose fee is waived): they read as zero amounts. They
    were empty (the default template's signal to leave the line out), so the debtor read
    'Mahngebühr: , Verzugszinsen: .'."""
    w = make_world(db_url, smtp, tmp_path)
    body = (
        "Offen: {open_amount}, Mahngebühr: {fee}, Verzugszinsen: {interest}, "
        "zu zahlen: {total_due}."
    )
    own = {"de": {"subject": "{level_title} {number}: {fee} Gebühr", "body": body}}
    configure(w, {"currency": "EUR", "levels": [{"days_after_due": 7, "texts": own}]})
    a = finalized(w, "2026-01-05")
    assert dun(w, "2026-01-26").events
    msg = w.sink.messages[0].message
    assert msg["Subject"] == f"Zahlungserinnerung {a['number']}: 0,00 € Gebühr"  # a header
    text = msg.get_body(("plain",))
    assert text is not None
    amount = Decimal(a["totals"]["gross_total"])
    shown = f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") + "\xa0€"
    assert (
        f"Offen: {shown}, Mahngebühr: 0,00\xa0€, Verzugszinsen: 0,00\xa0€, zu zahlen: {shown}."
        in text.get_content()
    )


def test_statutory_interest_flat_compensation_deadline_and_refusals(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """§ 288 BGB from a business (the buyer has a VAT id): base rate + 9 points by half-year,
    the EUR 40 flat compensation, a new deadline. The half-year from 2026-07-01 is not in the
    shipped table: the notice is refused (partial command.rejected), never sent with a guessed
    rate, until the organization supplies the rate. A run dated in the future and a block that
    ended in the past are rejected at their pointers."""
    w = make_world(db_url, smtp, tmp_path)
    level = {"days_after_due": 7, "interest": "statutory", "flat_compensation": True}
    configure(w, {"levels": [{**level, "payment_days": 14}]})
    a = finalized(w, "2026-06-01")  # due 2026-06-15
    refused = dun(w, "2026-07-10")
    (rejected,) = refused.events
    assert rejected["type"] == "command.rejected" and rejected["data"]["partial"] is True
    (error,) = rejected["data"]["errors"]
    assert error["code"] == "dunning_interest_unavailable" and "2026-07-01" in error["detail"]
    assert "reference_rates" in error["detail"] and w.sink.messages == []

    rates = [{"half_year": "2026-07-01", "rate": "1.27"}]
    configure(w, {"levels": [{**level, "payment_days": 14}], "reference_rates": rates})
    (sent,) = dun(w, "2026-07-10").events
    notice = sent["data"]["dunning"]
    gross = Decimal(a["totals"]["gross_total"])
    interest = (gross * 25 * Decimal("10.27") / 100 / 365).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (notice["interest_basis"], notice["interest_rate"]) == ("de_business", "10.27")
    assert [(p["from"], p["to"], p["rate"]) for p in notice["interest_periods"]] == [
        ("2026-06-16", "2026-06-30", "10.27"),
        ("2026-07-01", "2026-07-10", "10.27"),
    ]
    assert notice["interest"] == str(interest) and notice["flat_compensation"] == "40.00"
    assert notice["payment_deadline"] == "2026-07-24"
    assert notice["total_due"] == str(gross + Decimal("40.00") + interest)
    body = w.sink.messages[0].message.get_body(("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    assert "9 Prozentpunkte über dem Basiszinssatz (§ 288 Abs. 2 BGB)" in text
    assert "Verzugspauschale (§ 288 Abs. 5 BGB): 40,00 €" in text and "24.07.2026" in text
    got = _pdf_text(pdf_attachments(w.sink.messages[0].message)[0])
    assert "§ 288 Abs. 2 BGB" in got and "40,00 €" in got

    future = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    ahead = w.run("send_dunning_notices", {"as_of": future})
    assert ahead.status == "rejected" and ahead.errors[0]["source"]["pointer"] == "/payload/as_of"
    past = w.run("block_dunning", {"invoice_id": a["id"], "until": "2026-01-31"})
    assert past.status == "rejected" and past.errors[0]["source"]["pointer"] == "/payload/until"
    # a future day is refused whether or not dunning is enabled (before, a disabled
    # organization's run answered nothing, as if the day were fine)
    configure(w, {"levels": [level], "enabled": False})
    off = w.run("send_dunning_notices", {"as_of": future})
    assert off.status == "rejected" and off.errors[0]["source"]["pointer"] == "/payload/as_of"
