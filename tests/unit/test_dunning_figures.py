"""What a dunning notice's PDF SAYS equals what its event and the books say.

tests/integration/test_dunning_walks.py holds every ``dunning.notice_sent`` EVENT to an
independent computation; tests/unit/test_documents_matrix.py and test_pdf_kinds.py check that a
notice carries its mentions. Nothing held the notice PDF's figures to the event. Here random
notices are made through the real core -- ``configure_organization``, ``create_customer``,
``create_invoice``/``finalize_invoice``, payments, credit notes and write-offs,
``configure_dunning`` and ``send_dunning_notices`` -- and the real dunning delivery step (a
recording mailer instead of SMTP), and every notice is checked three ways:

* **the books**: the open amount recomputed from what this test did to the invoice (gross less
  payments, credit notes and write-offs), the days overdue from the run's date and the due
  date, the level's fee (none in a currency other than the settings'), simple act/365 interest
  on what was open each day since the due date (the reductions from their own day on, summed
  day by day here) half-up to the minor unit (docs/dunning.md), and the total;
* **the event** ``dunning.notice_sent`` (level, title, as_of, days overdue, currency and each
  amount) and ``get_invoice``;
* **the PDF itself** (the stored ``dunning-<level>`` document, which must be the email's
  attachment byte for byte): title, invoice number, issue and due date, the notice's date,
  days overdue, the invoice total, open amount, fee, interest with its rate, total due, the
  parties, the seller's VAT id, IBAN/BIC, the payment reference (Belgian structured
  communication in EUR), the no-VAT note on fees and interest (docs/legal-mentions.md), and
  the EPC QR code as printed (rasterized by poppler, read back by zxing): the total due, to the
  invoice's account, with the reference; none outside EUR. Figures are formatted per language
  by the invoice oracle's own tables (tests/unit/test_document_figures.py), not the service's.

Seeded: a failure names its seed and notice. ``SEEDS`` stays small for the suite; set
``DUNNING_FIGURES_SEEDS`` (e.g. 40) to sweep more locally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import random
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from invoicing import bootstrap, db
from invoicing.config import Settings
from invoicing.documents.store import Document
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.schemas.events import InvoiceState
from invoicing.texts import section, text

from tests.support import scenarios
from tests.support.external import require_tool
from tests.support.fakes import RecordingMailer
from tests.support.qr import printed_qr
from tests.unit.test_document_figures import (
    MINOR_UNITS,
    SECOND_ACCOUNT,
    Problems,
    _occurs,
    compact,
    current,
    ogm,
    pdf_text,
    printed_date,
    printed_money,
    printed_rate,
    r,
)

SEEDS = int(os.environ.get("DUNNING_FIGURES_SEEDS", "2"))
STORIES = 6
LANGS = ("de", "en", "fr", "nl")
#: the level titles of docs/dunning.md (our own table, not the catalog)
TITLES = {
    "de": ("Zahlungserinnerung", "1. Mahnung", "2. Mahnung"),
    "en": ("Payment reminder", "First reminder", "Second reminder"),
    "fr": ("Rappel de paiement", "1er rappel", "2e rappel"),
    "nl": ("Betalingsherinnering", "1e aanmaning", "2e aanmaning"),
}
#: fees and interest are damages, no VAT (docs/legal-mentions.md gives the German wording
#: verbatim; the others are the catalog's translations of it)
NO_VAT_DE = (
    "Mahngebühren und Verzugszinsen sind Schadensersatz und unterliegen nicht der Umsatzsteuer"
)
RATES = [None, Decimal(0), Decimal("5.12"), Decimal(9), Decimal("11.27"), Decimal("9.5")]
RATES += [Decimal("8.1234"), Decimal("0.01"), Decimal(100)]  # 100: the highest accepted


@dataclass
class Story:
    """One invoice and what was done to it, as this test knows it."""

    org: uuid.UUID
    country: str
    lang: str
    currency: str
    invoice: InvoiceState
    levels: list[dict[str, Any]]
    settings_currency: str
    account: dict[str, Any]  # the account the invoice names (IBAN, BIC)
    attach_pdf: bool
    reduced: Decimal = Decimal(0)  # paid, credited and written off so far
    #: each payment, credit note and write-off: its day and what it took off
    reductions: list[tuple[dt.date, Decimal]] = field(default_factory=list)
    fees: Decimal = Decimal(0)  # the fees of the notices sent so far (carried into the next)


class Dunner:
    """The core on SQLite with a recording mailer: commands and their delivery steps."""

    def __init__(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/dunning-{uuid.uuid4().hex[:8]}.sqlite3"
        engine = db.make_engine(url)
        db.migrate(url)
        self.mailer = RecordingMailer()
        # the stories dun up to 2029: a clock after them (a run's as_of may not be in the
        # future, handlers/dunning.py)
        deps = dataclasses.replace(
            bootstrap.build_deps(engine, tmp_path, documents_dir=tmp_path / "docs"),
            mailer=self.mailer,
            clock=lambda: dt.datetime(2031, 1, 1, 12, tzinfo=dt.UTC),
        )
        self.app = bootstrap.local(
            Settings(database_url=url), deps=deps, migrate=False, configure_logging=False
        )
        self.core = scenarios.Core.__new__(scenarios.Core)
        self.core.app = self.app

    def run(self, org: uuid.UUID, type_: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The command, then its deliveries (as ``invoicing process`` does): every event."""
        outcome = self.core.run(org, type_, payload)
        events = list(outcome.events)
        if outcome.command_id:
            for step in self.app.deliverer.run_for_command(org, uuid.UUID(outcome.command_id)):
                events.extend(step.events)
        return events

    def document(self, org: uuid.UUID, invoice_id: uuid.UUID, kind: str) -> Document | None:
        with UnitOfWork.for_engine(self.app.engine) as uow:
            return self.app.pipeline.deps.document_store.get(uow.session, org, invoice_id, kind)


def attachments(message: EmailMessage) -> list[tuple[str, bytes]]:
    return [
        (part.get_filename() or "", part.get_content())
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


def reference_of(state: InvoiceState) -> str:
    """What the payer writes on the transfer: a Belgian seller's EUR invoice has the structured
    communication, any other the invoice number (docs/legal-mentions.md, docs/einvoice.md)."""
    assert state.seller is not None and state.seller.address is not None
    if state.seller.address.country_code == "BE" and state.currency == "EUR":
        return ogm(state.number or "")
    return state.number or ""


class Stories:
    def __init__(self, dunner: Dunner, seed: int) -> None:
        self.d = dunner
        self.rng = random.Random(seed)
        self.seed = seed

    def settings(self, invoice_currency: str) -> tuple[list[dict[str, Any]], str]:
        rng = self.rng
        # fees are in the settings' currency; an invoice in another one gets none
        currency = "EUR" if rng.random() < 0.8 else rng.choice(["USD", invoice_currency])
        days = sorted(rng.sample([1, 3, 7, 14, 21, 30, 35, 60, 90, 200], 3))
        levels: list[dict[str, Any]] = []
        for n, after in enumerate(days):
            level: dict[str, Any] = {"days_after_due": after}
            if (n and rng.random() < 0.7) or rng.random() < 0.2:
                fee = Decimal(rng.choice(["2.50", "5.00", "10.00", "40.00", "0.00", "1.999"]))
                level["fee"] = str(r(fee, currency))  # at most the currency's minor units
            rate = rng.choice(RATES)
            if rate is not None and (n or rng.random() < 0.3):
                level["interest_rate_per_year"] = str(rate)
            levels.append(level)
        return levels, currency

    def story(self, number: int) -> Story:
        rng, d = self.rng, self.d
        country = rng.choice(["DE", "BE"])
        seller = scenarios.DE_SELLER if country == "DE" else scenarios.BE_SELLER
        org = d.core.organization(**seller, bank_accounts=[SECOND_ACCOUNT[country]])
        lang = rng.choice(LANGS)
        buyer = scenarios.DE_BUYER if country == "DE" else scenarios.BE_BUYER
        customer = d.core.customer(org, **{**buyer, "locale": lang, "einvoice_format": "none"})
        fields: dict[str, Any] = {"payment_terms_days": rng.choice([0, 7, 14, 30])}
        currency = "EUR"
        if rng.random() < 0.3:  # 0 and 3 minor units, and HUF (2 in ISO 4217, 0 in CLDR)
            currency = rng.choice(["USD", "CHF", "JPY", "KWD", "HUF"])
            fields |= {"currency": currency, "exchange_rate": rng.choice(["0.91", "0.0061"])}
        levels, settings_currency = self.settings(currency)
        attach_pdf = rng.random() < 0.3
        d.run(
            org,
            "configure_dunning",
            {"levels": levels, "currency": settings_currency, "attach_pdf": attach_pdf},
        )
        # the main account's BIC is the one the service derives from its IBAN (no BIC given)
        account = {"iban": seller["iban"], "bic": None}
        if rng.random() < 0.2:
            fields["bank_account_id"] = SECOND_ACCOUNT[country]["id"]
            account = SECOND_ACCOUNT[country]
        # issue dates around the leap day of 2028 and ordinary years
        issue = rng.choice(
            [
                dt.date(2026, 11, 20),
                dt.date(2027, 12, 15),
                dt.date(2028, 2, 10),
                dt.date(2027, 3, 1),
            ]
        )
        price = rng.choice(["100.00", "1234.56", "19.99", "87654.32", "0.99"])
        lines = [
            {"description": "Beratung", "quantity": str(rng.randint(1, 9)), "unit_price": price},
            {"description": "Material", "quantity": "1", "unit_price": "33.33", "tax_rate": "7"}
            if country == "DE"
            else {"description": "Matériel", "quantity": "3", "unit_price": "12.10"},
        ]
        invoice = d.core.invoice(
            org, customer, lines, issue_date=issue, delivery_date=issue.isoformat(), **fields
        )
        if "bank_account_id" not in fields:
            assert invoice.seller is not None
            account["bic"] = invoice.seller.bic
        s = Story(
            org, country, lang, currency, invoice, levels, settings_currency, account, attach_pdf
        )
        self.reduce(s, issue)
        return s

    def reduce(self, s: Story, day: dt.date) -> None:
        """A partial payment, credit note or write-off, at random."""
        rng, d = self.rng, self.d
        owed = s.invoice.totals.gross_total - s.reduced
        if owed <= 0:
            return
        kind = rng.choice(["none", "none", "pay", "credit", "write_off"])
        part = r(owed * Decimal(rng.choice(["0.1", "0.37", "0.5"])), s.currency)
        if kind == "none" or part <= 0:
            return
        if kind == "pay":
            payload: dict[str, Any] = {"invoice_id": str(s.invoice.id), "amount": str(part)}
            if s.currency != "EUR":
                payload["exchange_rate"] = str(s.invoice.normalized.exchange_rate)  # type: ignore[union-attr]
            d.run(s.org, "record_payment", {**payload, "date": day.isoformat()})
            s.reduced += part
            s.reductions.append((day, part))
        elif kind == "write_off":
            payload = {"invoice_id": str(s.invoice.id), "amount": str(part)}
            d.run(
                s.org,
                "write_off_invoice",
                {**payload, "date": day.isoformat(), "reason": "small_difference"},
            )
            s.reduced += part
            s.reductions.append((day, part))
        else:
            line = {"description": "Nachlass", "quantity": "1", "unit_price": "10.00"}
            if s.country == "DE":
                line["tax_rate"] = "7"
            with contextlib.suppress(scenarios.CommandRejected):
                credit = d.core.credit_note(
                    s.org, s.invoice, lines=[line], reason="Kulanz", issue_date=day
                )
                s.reduced += credit.totals.gross_total
                s.reductions.append((day, credit.totals.gross_total))

    def walk(self, s: Story, check: Callable[[dict[str, Any], EmailMessage, dt.date], None]) -> int:
        """Runs until every level was sent, each some random days after it is due; ``check``
        each notice at once (a payment may follow it)."""
        rng, d = self.rng, self.d
        assert s.invoice.due_date is not None
        due = s.invoice.due_date
        sent = 0
        day = due
        for n, level in enumerate(s.levels):
            earliest = due + dt.timedelta(days=level["days_after_due"])
            if n:
                gap = level["days_after_due"] - s.levels[n - 1]["days_after_due"]
                earliest = max(earliest, day + dt.timedelta(days=gap))
            day = earliest + dt.timedelta(days=rng.choice([0, 0, 1, 5, 40, 366]))
            events = d.run(s.org, "send_dunning_notices", {"as_of": day.isoformat()})
            notices = [e for e in events if e["type"] == "dunning.notice_sent"]
            assert len(notices) == 1, (self.seed, [e["type"] for e in events])
            check(notices[0]["data"], d.mailer.sent[-1][0], day)
            sent += 1
            if rng.random() < 0.4:
                self.reduce(s, day)
        return sent


def check_notice(
    d: Dunner,
    s: Story,
    data: dict[str, Any],
    message: EmailMessage,
    as_of: dt.date,
    tmp_path: Path,
    p: Problems,
) -> None:
    inv = s.invoice
    cur, lang = s.currency, s.lang
    assert inv.due_date is not None and inv.issue_date is not None
    notice = data["dunning"]
    level = int(notice["level"])
    cfg = s.levels[level - 1]

    # ---------------------------------------------------------------- the books, independently
    owed = inv.totals.gross_total - s.reduced
    days = (as_of - inv.due_date).days
    fee = Decimal(cfg.get("fee", "0")) if cur == s.settings_currency else Decimal(0)
    fee = r(fee, cur)
    rate = Decimal(cfg["interest_rate_per_year"]) if "interest_rate_per_year" in cfg else None
    # each day in default on what was open at its end (docs/dunning.md, "Interest")
    day_sum = Decimal(0)
    for n in range(1, days + 1):
        day = inv.due_date + dt.timedelta(days=n)
        taken = sum((a for when, a in s.reductions if when <= day), Decimal(0))
        day_sum += max(inv.totals.gross_total - taken, Decimal(0))
    interest = r(day_sum * (rate or 0) / 100 / 365, cur)
    earlier = s.fees
    s.fees += fee
    total = owed + earlier + fee + interest  # the earlier notices' fees are carried
    now = current(d.core, inv)
    p.same("get_invoice open amount", now.totals.open_amount, owed)

    # ---------------------------------------------------------------- the event
    plain = f"{{:.{MINOR_UNITS[cur]}f}}"
    p.same("event as_of", notice["as_of"], as_of.isoformat())
    p.same("event title", notice["title"], TITLES[lang][level - 1])
    p.same("event days overdue", notice["days_overdue"], days)
    p.same("event currency", notice["currency"], cur)
    p.same("event open amount", notice["open_amount"], plain.format(owed))
    p.same("event fee", notice["fee"], plain.format(fee))
    p.same("event interest", notice["interest"], plain.format(interest))
    charged = rate is not None and interest != 0
    p.same("event interest rate", notice["interest_rate"], str(rate) if charged else None)
    first_day = (inv.due_date + dt.timedelta(days=1)).isoformat() if charged else None
    p.same("event interest from", notice["interest_from"], first_day)
    p.same("event total due", notice["total_due"], plain.format(total))
    p.same("event earlier costs", notice["earlier_costs"], plain.format(earlier))
    waived = "currency" if cur != s.settings_currency and Decimal(cfg.get("fee", "0")) else None
    p.same("event fee waived", notice["fee_waived"], waived)
    p.same("event invoice open amount", data["invoice"]["totals"]["open_amount"], str(owed))

    # ---------------------------------------------------------------- the PDF
    refs = {doc["kind"]: doc for doc in data["documents"]}
    p.check(f"no stored dunning-{level} document: {list(refs)}", f"dunning-{level}" in refs)
    stored = d.document(s.org, inv.id, f"dunning-{level}")
    assert stored is not None, p.where
    p.same("stored notice's SHA-256", stored.sha256, refs[f"dunning-{level}"]["sha256"])
    p.check("the stored notice is frozen", stored.frozen)
    pdf = stored.content
    mailed = attachments(message)
    p.check("the notice is the email's first PDF", bool(mailed) and mailed[0][1] == pdf)
    p.same("PDFs attached", len(mailed), 2 if s.attach_pdf else 1)
    if s.attach_pdf and len(mailed) == 2:  # then the invoice's own frozen PDF
        own = d.document(s.org, inv.id, "pdf")
        p.check(
            "the invoice's frozen PDF attached second",
            own is not None and own.content == mailed[1][1],
        )
    got = pdf_text(pdf)
    t = section("pdf", lang)

    def shows(what: str, figure: str) -> None:
        p.check(f"PDF: {what} {figure!r} not printed", _occurs(got, figure))

    def no_row(what: str, label: str) -> None:
        """No row ``label`` followed by an amount (the label's words may well occur in the
        no-VAT note: "Aanmaningskosten en verwijlintresten zijn ...")."""
        row = re.escape(label) + r"\s+(?:[^\w\s]+\s*|[A-Z]{3}\s+)?-?\d"
        p.check(f"PDF: {what} {label!r} printed", re.search(row, got) is None)

    p.check(f"PDF: title {TITLES[lang][level - 1]!r}", TITLES[lang][level - 1] in got)
    p.check(f"PDF: invoice number {inv.number}", (inv.number or "?") in got)
    shows("invoice date", printed_date(inv.issue_date, lang))
    shows("due date", printed_date(inv.due_date, lang))
    shows("notice date", printed_date(as_of, lang))
    # the overdue invoice's row: number, date, due date, days overdue, invoice total
    row = " ".join(
        (
            inv.number or "?",
            printed_date(inv.issue_date, lang),
            printed_date(inv.due_date, lang),
            str(days),
            printed_money(inv.totals.gross_total, cur, lang),
        )
    )
    shows("overdue invoice row", row)
    open_label = " ".join(t["open_amount"].split())
    shows("open amount", f"{open_label} {printed_money(owed, cur, lang)}")
    fee_label = " ".join(t["dunning_fee"].split())
    if fee:
        shows("fee", f"{fee_label} {printed_money(fee, cur, lang)}")
    else:
        no_row("fee row", fee_label)
    if interest:
        assert rate is not None
        label = " ".join(t["dunning_interest"].format(rate=printed_rate(rate, lang)[:-2]).split())
        shows("interest with its rate", f"{label} {printed_money(interest, cur, lang)}")
    else:
        head = " ".join(t["dunning_interest"].split("{rate}")[0].split())  # "Verzugszinsen ("
        p.check("PDF: interest row printed", re.search(re.escape(head) + r"\s*\d", got) is None)
    total_label = " ".join(t["total_due"].split())
    shows("total due", f"{total_label} {printed_money(total, cur, lang)}")
    if level > 1:  # "seit {days} Tagen"
        shows("days overdue in the letter", str(days))
    seller, buyer = inv.seller, inv.buyer
    assert seller is not None and buyer is not None
    p.check("PDF: seller", seller.name in got)
    p.check("PDF: buyer", buyer.name in got)
    p.check("PDF: seller VAT id", bool(seller.vat_id) and (seller.vat_id or "") in got)
    p.check("PDF: no VAT breakdown", " ".join(t["tax_breakdown"].split()) not in got)
    no_vat = " ".join(t["dunning_no_vat"].split())
    if lang == "de":
        p.same("German no-VAT wording", no_vat.rstrip("."), NO_VAT_DE)
    p.same("PDF: no-VAT note on fees and interest", no_vat in got, bool(fee or interest or earlier))
    if earlier:
        label = " ".join(t["dunning_earlier_costs"].split())
        shows("earlier costs", f"{label} {printed_money(earlier, cur, lang)}")
    p.check("PDF: already-paid note", " ".join(text("dunning.already_paid", lang).split()) in got)
    iban, bic = s.account["iban"], s.account.get("bic")
    p.same("the invoice's account", (compact(seller.iban), seller.bic), (iban, bic))
    p.check(f"PDF: IBAN {iban}", iban in got.replace(" ", ""))
    p.check(f"PDF: BIC {bic}", not bic or bic in got)
    reference = reference_of(inv)
    p.check(f"PDF: payment reference {reference}", reference in got)
    # the email that carries it says the same (src/mail/templates/dunning.body.j2)
    body = message.get_body(("plain",))
    mail = " ".join((body.get_content() if body is not None else "").split())
    p.check("mail subject: title and number", TITLES[lang][level - 1] in str(message["Subject"]))
    p.check("mail subject: number", (inv.number or "?") in str(message["Subject"]))
    figures = [("open amount", owed), ("fee", fee), ("interest", interest)]
    figures += [("total due", total)] if fee or interest else []
    for what, value in figures:
        if value:
            printed = printed_money(value, cur, lang)
            p.check(f"mail: {what} {printed!r} not stated", _occurs(mail, printed))
    p.check(f"mail: IBAN {iban}", iban in mail.replace(" ", ""))
    p.check(f"mail: reference {reference}", reference in mail)
    if shutil.which("pdftoppm"):
        codes = printed_qr(pdf, tmp_path)
        if cur != "EUR":
            p.same("EPC QR code outside EUR", codes, [])
        elif len(codes) != 1:
            p.found.append(f"{len(codes)} QR codes printed, one expected")
        else:
            epc = codes[0]
            p.same("EPC IBAN", epc[6], iban)
            p.same("EPC BIC", epc[4], bic or "")
            p.same("EPC amount (total due)", epc[7], f"EUR{total}")
            p.same("EPC remittance", epc[10] if len(epc) > 10 else None, reference)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_dunning_notices_state_the_figures_of_the_event(tmp_path: Path, seed: int) -> None:
    require_tool(
        shutil.which("pdftoppm") is not None,
        "pdftoppm (poppler-utils) not installed: run scripts/ensure-browser.sh",
    )
    d = Dunner(tmp_path)
    stories = Stories(d, 7000 + seed)
    checked = 0
    for number in range(STORIES):
        s = stories.story(number)

        def check(
            data: dict[str, Any],
            message: EmailMessage,
            as_of: dt.date,
            s: Story = s,
            number: int = number,
        ) -> None:
            where = (
                f"seed {7000 + seed}, story {number} ({s.country}, {s.lang}, {s.currency}, "
                f"levels {s.levels}): {data['invoice']['number']} level "
                f"{data['dunning']['level']} on {as_of}"
            )
            p = Problems(where)
            check_notice(d, s, data, message, as_of, tmp_path, p)
            p.done()

        checked += stories.walk(s, check)
    assert checked >= STORIES


class CrashAfterAccept:
    """The server accepts the notice, then the step dies before recording it."""

    def __init__(self, inner: RecordingMailer) -> None:
        self.inner = inner

    def send(self, message: EmailMessage, envelope_from: str, recipients: list[str]) -> Any:
        self.inner.send(message, envelope_from, recipients)
        raise KeyboardInterrupt("the worker died between the server's acceptance and the commit")


@pytest.mark.parametrize("paid", ["500.00", "1190.00"])
def test_an_uncertain_notice_records_what_was_sent(tmp_path: Path, paid: str) -> None:
    """docs/dunning.md: the stored notice is "the one that was sent", and the event and
    ``dunning_notices`` state its figures. When the step dies after the server accepted the
    notice and a payment is recorded before another step takes the job over, the takeover
    sends nothing (``uncertain``) and, until this was fixed, computed the figures again and
    rendered and froze a new PDF: the customer held a notice for the whole amount, the event,
    ``dunning_notices`` and the archive one for the rest. It now records the figures and the
    file of the attempt that may have reached the server. Paid in full meanwhile, the job was
    cancelled ("no longer open") and the notice the customer holds was never recorded."""
    d = Dunner(tmp_path)
    org = d.core.organization(**scenarios.DE_SELLER)
    customer = d.core.customer(org, **{**scenarios.DE_BUYER, "einvoice_format": "none"})
    level = {"days_after_due": 7, "fee": "5.00", "interest_rate_per_year": "9"}
    d.run(org, "configure_dunning", {"levels": [level], "attach_pdf": False})
    line = {"description": "Beratung", "quantity": "1", "unit_price": "1000.00"}
    inv = d.core.invoice(org, customer, [line], issue_date=dt.date(2026, 1, 5))
    deps = d.app.pipeline.deps
    deps.mailer = CrashAfterAccept(d.mailer)
    run = {
        "type": "send_dunning_notices",
        "command_id": str(uuid.uuid4()),
        "organization_id": str(org),
        "payload": {"as_of": "2026-03-01"},
    }
    assert d.app.pipeline.handle_document(run).status == "applied"
    with pytest.raises(KeyboardInterrupt):
        d.app.deliverer.run_for_command(org, uuid.UUID(run["command_id"]))
    (sent,) = d.mailer.sent
    sent_pdf = attachments(sent[0])[0][1]
    d.run(org, "record_payment", {"invoice_id": str(inv.id), "amount": paid, "date": "2026-03-02"})
    # and the rate is raised meanwhile: the event states the 9 % the notice claimed
    raised = {"levels": [{**level, "interest_rate_per_year": "11"}], "attach_pdf": False}
    d.run(org, "configure_dunning", raised)
    deps.mailer = d.mailer
    assert d.app.pipeline.handle_document(run).status == "duplicate"
    steps = d.app.deliverer.run_for_command(org, uuid.UUID(run["command_id"]))
    (event,) = [e for s in steps for e in s.events if e["type"] == "dunning.notice_sent"]
    assert len(d.mailer.sent) == 1 and event["data"]["delivery_status"] == "uncertain"
    assert inv.totals.gross_total == Decimal("1190.00")
    stored = d.document(org, inv.id, "dunning-1")
    assert stored is not None
    said = pdf_text(sent_pdf)
    owed = inv.totals.gross_total
    assert _occurs(said, printed_money(owed, "EUR", "de"))  # what the customer holds
    assert event["data"]["dunning"]["open_amount"] == str(owed)
    assert event["data"]["dunning"]["interest_rate"] == "9"
    assert stored.content == sent_pdf
