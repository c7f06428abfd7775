"""An accounting listener that knows the service only by its contract (docs/asyncapi.yaml and
the event descriptions of docs/pipeline.md), fed the events of a rich lifecycle in the order the
relay publishes them (the outbox by id), on SQLite and PostgreSQL: two VAT groups and a document
discount, partial payments, a payment deleted, partial and full credit notes, a write-off and
its reversal, a dollar invoice paid at another rate, written off and credited, a change of
recipient, a payment across invoices with credit left, that credit applied, a dunning notice
with a fee, a void; and a Belgian invoice at 21 % and 6 %.

It books what each event says moved (a payment's amount, a credit note's groups, a write-off's
groups, and for a foreign-currency invoice each ledger movement's VAT in the organization's
currency), never the totals the event's invoice carries, and after every step its books must
agree with the invoice each event carries and with the service's own answers (``get_invoice``,
``list_invoices``, ``open_items``): per invoice the open, paid, credited, written-off and
overpaid amounts and the VAT per group; per customer and currency the balance (open items less
unapplied credit less the invoices' ``credit_balance``, which ``open_items`` leaves out). Every
event is also held to the contract as a listener reads it: its message schema in the AsyncAPI
document (``jsonschema``, formats checked), the CloudEvents attributes the contract documents
(a unique id, ``source``, ``subject``, ``time``, ``datacontenttype``, ``organizationid``,
``commandid``), and ``sequence`` gapless from 1 per invoice in the order of publication. Each
command is delivered twice: the second is a duplicate and adds no event. The last event of
each invoice equals what ``get_invoice`` answers.

It found (session 40) that the VAT of a dollar invoice's credits and write-offs in euros was
in no event: a listener booking a credit note's own ``normalized`` VAT and converting a
write-off's itself kept 0.01 EUR of VAT on the voided invoice (docs/arithmetic.md, "Exchange
rates").
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from invoicing import bootstrap
from invoicing.models import OutboxEvent
from invoicing.pipeline.bulk import Bulk
from sqlalchemy import select

from tests.support.client import BE_ORG, Client, line

D = Decimal
ZERO = D("0")
CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
RECEIVABLE = ("finalized", "sent", "partially_paid", "paid")


@functools.cache
def _contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@functools.cache
def _validator(event_type: str) -> jsonschema.Draft202012Validator | None:
    """The JSON schema of the event's message in the contract, formats checked."""
    contract = _contract()
    message = contract["components"]["messages"].get(f"event.{event_type}")
    if message is None:
        return None
    schema = {**message["payload"], "components": contract["components"]}
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


@dataclass
class Books:
    """One invoice as the listener booked it, from the movements the events state."""

    customer: str | None
    currency: str
    gross: Decimal = ZERO
    paid: Decimal = ZERO
    credited: Decimal = ZERO
    written_off: Decimal = ZERO
    #: (category, rate) -> VAT charged less VAT credited and written off
    vat: dict[tuple[str, Decimal], Decimal] = field(default_factory=dict)
    #: the organization's currency: what was booked of the receivable so far
    rate: Decimal | None = None
    entries: int = 0
    #: realised exchange differences: booked as the change of the invoice's sum, and as the
    #: payment.exchange_difference events stated them (payment id -> difference)
    exchange_difference: Decimal = ZERO
    stated: dict[str, Decimal] = field(default_factory=dict)
    vat_org: dict[tuple[str, Decimal], Decimal] = field(default_factory=dict)
    receivable: bool = False

    @property
    def open(self) -> Decimal:
        """What the customer owes (never below zero; only a receivable)."""
        if not self.receivable:
            return ZERO
        return max(self.gross - self.credited - self.written_off - self.paid, ZERO)

    @property
    def owed_back(self) -> Decimal:
        """What the customer paid beyond what the invoice still claims."""
        if self.gross == 0:
            return ZERO
        return max(self.paid - (self.gross - self.credited - self.written_off), ZERO)


class Listener:
    """Consumes CloudEvents; keeps books per invoice and per customer."""

    def __init__(self, organization: uuid.UUID) -> None:
        self.organization = str(organization)
        self.books: dict[str, Books] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.sequences: dict[str, int] = {}
        self.ids: set[str] = set()
        self.credit: dict[tuple[str, str], Decimal] = collections.defaultdict(lambda: ZERO)
        self.findings: list[str] = []
        self.seen: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ the contract

    def _schema_errors(self, event: dict[str, Any]) -> list[str]:
        validator = _validator(event["type"])
        if validator is None:
            return [f"{event['type']}: no such event in the contract"]
        return [
            f"{event['type']} /{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(event)
        ]

    def _envelope(self, event: dict[str, Any]) -> None:
        found = self.findings
        kind = event["type"]
        self.ids.add(event["id"])
        if event.get("source") != f"urn:invoicing:organization:{self.organization}":
            found.append(f"{kind}: source {event.get('source')}")
        if event.get("organizationid") != self.organization:
            found.append(f"{kind}: organizationid {event.get('organizationid')}")
        if event.get("datacontenttype") != "application/json":
            found.append(f"{kind}: datacontenttype {event.get('datacontenttype')}")
        when = dt.datetime.fromisoformat(event["time"])
        if when.utcoffset() is None:
            found.append(f"{kind}: time {event['time']} without a zone")
        invoice = event["data"].get("invoice")
        if invoice is not None:
            subject = event.get("subject")
            if subject != invoice["id"]:
                found.append(f"{kind}: subject {subject} is not its invoice {invoice['id']}")
            expected = self.sequences.get(invoice["id"], 0) + 1
            if event.get("sequence") != expected:
                found.append(
                    f"{kind} of {invoice['number']}: sequence {event.get('sequence')}, "
                    f"expected {expected}"
                )
            if invoice.get("sequence") != event.get("sequence"):
                found.append(f"{kind}: invoice.sequence {invoice.get('sequence')} != envelope")
            self.sequences[invoice["id"]] = int(event.get("sequence") or 0)

    # ------------------------------------------------------------------ the books

    def consume(self, event: dict[str, Any]) -> None:
        if event["id"] in self.ids:  # the outbox holds each event once
            self.findings.append(f"{event['type']}: id {event['id']} twice")
            return
        self.seen.append(event)
        self.findings += self._schema_errors(event)
        self._envelope(event)
        data, kind = event["data"], event["type"]
        invoice = data.get("invoice")
        if invoice is not None:
            self._track(kind, invoice)
        if kind == "invoice.finalized" and invoice["kind"] == "invoice":
            self._issued(invoice)
        elif kind == "payment.recorded":
            self._paid(data["payment"], +1)
        elif kind == "payment.allocated":
            self._paid(data["allocation"], +1)
        elif kind == "payment.deleted":
            self._paid(data["payment"], -1)
        elif kind == "credit_note.issued" and data.get("credited_invoice_id"):
            self._credited(data["credited_invoice_id"], invoice)
        elif kind in ("invoice.written_off", "invoice.write_off_reversed"):
            self._written_off(invoice["id"], data["write_off"])
        elif kind == "payment.exchange_difference":
            stated = data["exchange_difference"]["difference"]
            self.books[invoice["id"]].stated[data["payment"]["id"]] = D(stated)
        elif kind.startswith("customer_credit."):
            self.credit[(data["customer_id"], data["currency"])] = D(data["balance"])
        if invoice is not None and invoice["id"] in self.books:
            self._vat_in_organization_currency(invoice)
            self._agrees_with_its_invoice(kind, invoice)

    def _track(self, kind: str, invoice: dict[str, Any]) -> None:
        before = self.snapshots.get(invoice["id"])
        self.snapshots[invoice["id"]] = invoice
        books = self.books.get(invoice["id"])
        if books is not None:
            books.receivable = invoice["status"] in RECEIVABLE
        if books is not None and before is not None and books.rate is not None:
            # what the invoice's sum moved since its previous event (docs/arithmetic.md)
            books.exchange_difference += D(invoice["normalized"]["exchange_difference"]) - D(
                before["normalized"]["exchange_difference"]
            )

    def _issued(self, invoice: dict[str, Any]) -> None:
        books = Books(invoice["customer_id"], invoice["currency"], receivable=True)
        books.gross = D(invoice["totals"]["gross_total"])
        for g in invoice["tax_breakdown"]:
            books.vat[(g["category"], D(g["rate"]))] = D(g["tax_amount"])
        normalized = invoice.get("normalized")
        if normalized is not None:
            books.rate = D(normalized["exchange_rate"])
            for g in normalized["tax_breakdown"]:
                books.vat_org[(g["category"], D(g["rate"]))] = D(g["tax_amount"])
        self.books[invoice["id"]] = books

    def _paid(self, payment: dict[str, Any], sign: int) -> None:
        self.books[payment["invoice_id"]].paid += sign * D(payment["amount"])

    def _credited(self, invoice_id: str, note: dict[str, Any]) -> None:
        books = self.books[invoice_id]
        books.credited += D(note["totals"]["gross_total"])
        for g in note["tax_breakdown"]:
            key = (g["category"], D(g["rate"]))
            books.vat[key] = books.vat.get(key, ZERO) - D(g["tax_amount"])

    def _written_off(self, invoice_id: str, write_off: dict[str, Any]) -> None:
        books = self.books[invoice_id]
        sign = 1 if write_off["kind"] == "write_off" else -1
        books.written_off += sign * D(write_off["gross"])
        if books.rate is not None and write_off.get("normalized") is None:
            self.findings.append(f"{write_off['kind']} {write_off['id']}: no normalized VAT")
        for g in write_off["groups"]:
            key = (g["category"], D(g["rate"]))
            books.vat[key] = books.vat.get(key, ZERO) - sign * D(g["tax"])

    def _vat_in_organization_currency(self, invoice: dict[str, Any]) -> None:
        """A foreign-currency invoice's VAT in the organization's currency (what a German
        VAT return states): each new movement of its ledger by the VAT it moved there."""
        books = self.books[invoice["id"]]
        if books.rate is None:
            return
        for entry in invoice["ledger_entries"][books.entries :]:
            sign = -1 if entry["kind"] == "write_off_reversal" else 1
            vat = entry.get("normalized")
            if vat is not None:
                moved = {(g["category"], D(g["rate"])): D(g["tax"]) for g in vat["groups"]}
            elif entry["kind"] == "credit":  # the credit note's own conversion
                note = self.snapshots[entry["document_id"]]["normalized"]
                moved = {
                    (g["category"], D(g["rate"])): D(g["tax_amount"]) for g in note["tax_breakdown"]
                }
            else:  # converted by the listener at the frozen rate
                moved = {
                    (g["category"], D(g["rate"])): (D(g["tax"]) * books.rate).quantize(D("0.01"))
                    for g in entry["groups"]
                }
            for key, tax in moved.items():
                books.vat_org[key] = books.vat_org.get(key, ZERO) - sign * tax
        books.entries = len(invoice["ledger_entries"])
        for key, left in books.vat.items():
            if left == 0 and books.vat_org.get(key):
                self.findings.append(
                    f"{invoice['number']} {key}: no VAT left in {invoice['currency']}, "
                    f"{books.vat_org[key]} left in the organization's currency"
                )

    def _agrees_with_its_invoice(self, kind: str, invoice: dict[str, Any]) -> None:
        mine = self.figures(invoice["id"])
        theirs = figures_of(invoice)
        if mine != theirs:
            self.findings.append(
                f"{kind} of {invoice['number']}: booked {mine}, its invoice says {theirs}"
            )

    # ------------------------------------------------------------------ what it knows

    def figures(self, invoice_id: str) -> dict[str, Any]:
        b = self.books[invoice_id]
        return {
            "exchange_difference": b.exchange_difference if b.rate is not None else None,
            "vat_org": dict(sorted(b.vat_org.items(), key=str)),
            "open": b.open,
            "owed_back": b.owed_back,
            "paid": b.paid,
            "credited": b.credited,
            "written_off": b.written_off,
            "vat": {k: v for k, v in sorted(b.vat.items())},
        }

    def balances(self) -> dict[tuple[str, str], Decimal]:
        """Per customer and currency: what is open less what the customer paid beyond what
        an invoice still claims and less the customer's unapplied credit."""
        out: dict[tuple[str, str], Decimal] = collections.defaultdict(lambda: ZERO)
        for b in self.books.values():
            if b.customer is not None and (b.open or b.owed_back):
                out[(b.customer, b.currency)] += b.open - b.owed_back
        for key, amount in self.credit.items():
            if amount:
                out[key] -= amount
        return dict(out)


def figures_of(invoice: dict[str, Any]) -> dict[str, Any]:
    """The same figures from an invoice as the contract documents it (totals, tax_ledger)."""
    t = invoice["totals"]
    vat = {
        (g["category"], D(g["rate"])): D(g["invoiced_tax"])
        - D(g["credited_tax"])
        - D(g["written_off_tax"])
        for g in invoice["tax_ledger"]
    }
    n = invoice.get("normalized") or {}
    vat_org = {
        (g["category"], D(g["rate"])): D(g["remaining_tax"]) for g in n.get("tax_ledger", [])
    }
    if n and not vat_org:
        vat_org = {"tax_ledger": "missing"}  # type: ignore[dict-item]
    return {
        "exchange_difference": D(n["exchange_difference"]) if n else None,
        "vat_org": dict(sorted(vat_org.items(), key=str)),
        "open": D(t["open_amount"]),
        "owed_back": D(t["credit_balance"]),
        "paid": D(t["paid_amount"]),
        "credited": D(t["credited_amount"]),
        "written_off": D(t["written_off_amount"]),
        "vat": dict(sorted(vat.items())),
    }


# ----------------------------------------------------------------------------- the harness


class Audit:
    """Runs commands through the client, feeds the listener what the outbox got, compares."""

    def __init__(self, client: Client, *, as_a_file: bool = False) -> None:
        self.client = client
        self.listener = Listener(client.org)
        self.read_upto = 0
        self.step = ""
        #: collect the commands instead, for ``invoicing process`` to run them as a file
        self.as_a_file = as_a_file
        self.file: list[dict[str, Any]] = []

    def outbox(self) -> list[dict[str, Any]]:
        with self.client.bus.uow_factory() as uow:
            rows = uow.session.execute(
                select(OutboxEvent.payload)
                .where(OutboxEvent.organization_id == self.client.org)
                .order_by(OutboxEvent.id)
            ).scalars()
            return list(rows)

    def run(self, step: str, ctype: str, payload: dict[str, Any], **kw: Any) -> list[Any]:
        self.step = step
        if self.as_a_file:
            self.file.append(self.client.doc(ctype, payload, **kw))
            return []
        self.feed()  # what came before (customers made through the client)
        out = self.client.ok(ctype, payload, **kw)
        fresh = self.feed()
        # what the command answered is what the outbox got, in that order (nothing lost)
        assert [e["id"] for e in out.events] == [e["id"] for e in fresh], step
        for event in fresh:
            if event.get("commandid") != self.client.sent[-1]["command_id"]:
                self.listener.findings.append(f"{step}: {event['type']} commandid")
        # the same command again (a redelivery) is a duplicate and adds no event
        again = self.client.bus.handle_document(self.client.sent[-1])
        assert again.status == "duplicate" and not self.feed(), step
        self.compare()
        return fresh

    def feed(self) -> list[dict[str, Any]]:
        rows = self.outbox()
        fresh = rows[self.read_upto :]
        self.read_upto = len(rows)
        for event in fresh:
            self.listener.consume(event)
        return fresh

    def compare(self) -> None:
        """The listener's books against the service's answers."""
        found = self.listener.findings
        answer = self.client.answer
        for iid in self.listener.books:
            mine = self.listener.figures(iid)
            state = answer("get_invoice", {"invoice_id": iid})["invoice"]
            if figures_of(state) != mine:
                theirs = figures_of(state)
                found.append(f"{self.step}: {state['number']}: booked {mine}, get_invoice {theirs}")
            if state != self.listener.snapshots[iid]:
                diff = {
                    k: (v, self.listener.snapshots[iid].get(k))
                    for k, v in state.items()
                    if self.listener.snapshots[iid].get(k) != v
                }
                found.append(f"{self.step}: {state['number']}: get_invoice != last event: {diff}")
        listed = answer("list_invoices", {"filter": {"kind": ["invoice"]}, "page_size": 100})
        balances: dict[tuple[str, str], Decimal] = collections.defaultdict(lambda: ZERO)
        for state in listed["items"]:
            # an invoice's credit_balance is the customer's too, but open_items leaves it out
            key = (state["customer_id"], state["currency"])
            balances[key] -= D(state["totals"]["credit_balance"])
            booked = self.listener.books.get(state["id"])
            if booked is not None and figures_of(state) != self.listener.figures(state["id"]):
                found.append(f"{self.step}: {state['number']}: list_invoices disagrees")
        items = answer("open_items", {"page_size": 100})
        theirs = {i["invoice"]["id"]: D(i["open_amount"]) for i in items["items"]}
        mine = {i: b.open for i, b in self.listener.books.items() if b.open}
        if theirs != mine:
            found.append(f"{self.step}: open_items {theirs} != booked {mine}")
        for i in items["items"]:
            balances[(i["invoice"]["customer_id"], i["invoice"]["currency"])] += D(i["open_amount"])
        for c in items["unapplied_credit"]:
            balances[(c["customer_id"], c["currency"])] -= D(c["amount"])
        theirs_b = {k: v for k, v in balances.items() if v}
        if theirs_b != self.listener.balances():
            found.append(f"{self.step}: balances {theirs_b} != booked {self.listener.balances()}")


def _days(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


def test_an_accounting_listener_books_what_the_events_say(client: Client) -> None:
    audit = Audit(client)
    _german_lifecycle(audit)
    kinds = collections.Counter(e["type"] for e in audit.listener.seen)
    assert kinds["dunning.notice_sent"] == 1 and kinds["credit_note.issued"] == 5, kinds
    assert kinds["customer_credit.applied"] == 1 and kinds["payment.exchange_difference"] == 1
    assert audit.listener.findings == [], "\n".join(audit.listener.findings)


def test_the_same_lifecycle_as_a_file_through_invoicing_process(client: Client) -> None:
    """``invoicing process`` runs the file's commands several to a transaction (a finalize's
    number and event completed at the end of its batch); the listener reads the same."""
    audit = Audit(client, as_a_file=True)
    _german_lifecycle(audit)
    bodies = [json.dumps(doc).encode() for doc in audit.file]
    results = Bulk(client.bus, 100).run(bodies)
    assert [getattr(r, "status", r) for r in results] == ["applied"] * len(bodies)
    audit.feed()
    audit.compare()
    again = Bulk(client.bus, 100).run(bodies)  # the file again: duplicates, no event
    assert [getattr(r, "status", r) for r in again] == ["duplicate"] * len(bodies)
    assert not audit.feed()
    kinds = collections.Counter(e["type"] for e in audit.listener.seen)
    assert kinds["credit_note.issued"] == 5 and kinds["customer_credit.applied"] == 1, kinds
    assert audit.listener.findings == [], "\n".join(audit.listener.findings)


def _german_lifecycle(audit: Audit) -> None:
    client = audit.client
    first, second = client.customer(), client.customer()
    iid = str(uuid.uuid4())
    lines = [line("Beratung", "2", "500.00"), line("Buch", "3", "20.00", tax_rate=7)]
    discount = {"type": "percentage", "value": "10"}
    payload = {"id": iid, "customer_id": str(first), "lines": lines, "discount": discount}
    audit.run("create", "create_invoice", payload)
    audit.run("finalize", "finalize_invoice", {"invoice_id": iid, "issue_date": _days(60)})
    pay = {"invoice_id": iid, "amount": "300.00", "date": _days(50)}
    audit.run("pay 300", "record_payment", pay)
    pid = str(uuid.uuid4())
    pay = {"invoice_id": iid, "payment_id": pid, "amount": "100.00", "date": _days(49)}
    audit.run("pay 100", "record_payment", pay)
    audit.run("delete 100", "delete_payment", {"invoice_id": iid, "payment_id": pid})
    credit = {"description": "Nachlass", "quantity": "1", "unit_price": "100.00", "tax_rate": 19}
    audit.run("credit", "issue_credit_note", {"invoice_id": iid, "lines": [credit]})
    wid = str(uuid.uuid4())
    off = {"invoice_id": iid, "write_off_id": wid, "date": _days(0), "reason": "uncollectible"}
    audit.run("write off 50", "write_off_invoice", {**off, "amount": "50.00"})
    back = {"invoice_id": iid, "write_off_id": wid, "date": _days(0)}
    audit.run("reverse", "reverse_write_off", back)

    # a foreign currency: USD at 0.9, paid in part at 0.95, the rest credited (void)
    usd = str(uuid.uuid4())
    lines = [line("Consulting", "3", "333.33"), line("Book", "1", "19.99", tax_rate=7)]
    payload = {"id": usd, "customer_id": str(first), "lines": lines}
    audit.run("usd", "create_invoice", {**payload, "currency": "USD", "exchange_rate": "0.9137"})
    audit.run("usd finalize", "finalize_invoice", {"invoice_id": usd, "issue_date": _days(40)})
    pay = {"invoice_id": usd, "amount": "500.00", "date": _days(30), "exchange_rate": "0.95"}
    audit.run("usd pay", "record_payment", pay)
    credit = {"description": "Refund", "quantity": "1", "unit_price": "10.00", "tax_rate": 7}
    audit.run("usd credit", "issue_credit_note", {"invoice_id": usd, "lines": [credit]})
    off = {"invoice_id": usd, "date": _days(0), "reason": "uncollectible", "amount": "33.33"}
    audit.run("usd write off", "write_off_invoice", off)
    audit.run("usd credit rest", "issue_credit_note", {"invoice_id": usd})

    # change of recipient: the original credited in full, a new draft for the other customer
    orig, new = str(uuid.uuid4()), str(uuid.uuid4())
    payload = {"id": orig, "customer_id": str(first), "lines": [line("Y", "1", "100.00")]}
    audit.run("orig", "create_invoice", payload)
    audit.run("orig finalize", "finalize_invoice", {"invoice_id": orig, "issue_date": _days(5)})
    swap = {"invoice_id": orig, "customer_id": str(second), "new_invoice_id": new}
    audit.run("change recipient", "change_recipient", swap)
    audit.run("new finalize", "finalize_invoice", {"invoice_id": new})

    # a payment across the second customer's invoices, more than they owe: credit kept
    pay = {"customer_id": str(second), "amount": "150.00", "date": _days(0)}
    audit.run("across", "record_payment", pay)
    # the credit left (31.00) applied to the next invoice, the rest marked paid
    later = str(uuid.uuid4())
    payload = {"id": later, "customer_id": str(second), "lines": [line("Z", "1", "50.00")]}
    audit.run("later", "create_invoice", payload)
    audit.run("later finalize", "finalize_invoice", {"invoice_id": later})
    apply = {"customer_id": str(second), "invoice_id": later, "date": _days(0)}
    audit.run("apply credit", "apply_customer_credit", apply)
    audit.run("mark paid", "mark_paid", {"invoice_id": later})

    # dunning of the first invoice (a fee that never changes it), then its void
    dunning = {"levels": [{"days_after_due": 7, "fee": "5.00"}]}
    audit.run("dunning settings", "configure_dunning", dunning)
    audit.run("dun", "send_dunning_notices", {"as_of": _days(0)})
    if not audit.as_a_file:  # the notice's delivery step, as a worker's runner takes it
        steps = bootstrap.deliverer(client.bus).run_for_command(
            client.org, uuid.UUID(client.sent[-1]["command_id"])
        )
        assert [s.status for s in steps] == ["done"]
        audit.feed()
        audit.compare()
    audit.run("void", "void_invoice", {"invoice_id": iid})


def test_a_belgian_listener_books_21_and_6(bus: Any) -> None:
    client = Client(bus)
    client.setup_org(BE_ORG)
    audit = Audit(client)
    cust = client.customer(locale="nl")
    iid = str(uuid.uuid4())
    lines = [line("Advies", "4", "125.00"), line("Boek", "2", "30.00", tax_rate=6)]
    payload = {"id": iid, "customer_id": str(cust), "lines": lines}
    audit.run(
        "create", "create_invoice", {**payload, "discount": {"type": "amount", "value": "20"}}
    )
    audit.run("finalize", "finalize_invoice", {"invoice_id": iid, "issue_date": _days(20)})
    audit.run("pay", "record_payment", {"invoice_id": iid, "amount": "200.00", "date": _days(10)})
    credit = {"description": "Korting", "quantity": "1", "unit_price": "10.00", "tax_rate": 6}
    audit.run("credit", "issue_credit_note", {"invoice_id": iid, "lines": [credit]})
    off = {"invoice_id": iid, "date": _days(0), "reason": "uncollectible", "amount": "25.00"}
    audit.run("write off", "write_off_invoice", {**off, "ground": "insolvency"})
    audit.run("void", "void_invoice", {"invoice_id": iid})
    assert audit.listener.findings == [], "\n".join(audit.listener.findings)


def test_a_late_payment_moves_an_earlier_ones_exchange_difference(client: Client) -> None:
    """The realised exchange difference of a payment follows the cumulative conversion in date
    order: a payment dated before it and recorded after it moves it by a cent, with no event
    of its own (docs/arithmetic.md, "Realised exchange differences"). The listener books the
    change of ``normalized.exchange_difference`` between the invoice's events and agrees with
    the service; the ``payment.exchange_difference`` events alone would be a cent off."""
    audit = Audit(client)
    usd = str(uuid.uuid4())
    lines = [line("Consulting", "1", "59.50")]  # 70.81 USD, 65.38 EUR (gross x rate: 65.39)
    payload = {"id": usd, "customer_id": str(client.customer()), "lines": lines}
    audit.run("usd", "create_invoice", {**payload, "currency": "USD", "exchange_rate": "0.9234"})
    audit.run("finalize", "finalize_invoice", {"invoice_id": usd, "issue_date": _days(30)})
    pay = {"invoice_id": usd, "amount": "35.00", "date": _days(10), "exchange_rate": "0.95"}
    audit.run("at 0.95", "record_payment", pay)
    books = audit.listener.books[usd]
    assert books.exchange_difference == D("0.93") == sum(books.stated.values())
    pay = {"invoice_id": usd, "amount": "35.81", "date": _days(20)}
    fresh = audit.run("earlier, recorded later", "record_payment", pay)
    assert [e["type"] for e in fresh] == ["payment.recorded", "invoice.paid"]
    assert books.exchange_difference == D("0.94")
    assert sum(books.stated.values()) == D("0.93")  # what the events alone stated
    assert audit.listener.findings == [], "\n".join(audit.listener.findings)
