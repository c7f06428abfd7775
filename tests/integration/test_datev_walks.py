"""A random month of bookkeeping, exported to DATEV, on SQLite and PostgreSQL.

150 commands drawn at random (seeded): invoices for German, Belgian and US customers in every
tax category those meet (19 %, 7 %, exempt, zero, reverse charge, intra-EU, export, not
subject to VAT), some in US dollars; payments of the open amount, half of it or more (kept as
credit), payments across a customer's invoices, credit notes, write-offs and their reversals,
voids and deleted payments, the calendar moving on. Then one export of the whole period with
payments:

- every Buchungsstapel passes ../shared/datev/datev_check.py --strict;
- for every invoice and VAT rate, the VAT DATEV takes out of the rows on automatic accounts
  (round_half_up(gross x r / (100 + r)) per row) is the VAT the ledger still holds: invoiced
  less credited and written off (in euros for a dollar invoice), so DATEV's VAT and revenue
  accounts hold the ledger's figures to the cent;
- for every invoice, its bookings on the debtor's account (debit on the debtor as account,
  credit where the debtor is the contra account, by its number in Belegfeld 1) add up to what
  the invoice still has open less what was overpaid: the export books every cent the ledger
  holds, and nothing twice. A dollar invoice is compared with the ledger's amounts in euros at
  its frozen rate (payments received at another rate book the exchange difference the ledger
  states), so a settled one closes to the cent however its groups and payments were rounded;
- exported month by month, the period books exactly the same rows;
- exported every few days while the month goes on (only what no export had yet), some payments
  recorded up to a week late, the exports together hold what the ledger holds per invoice,
  payments deleted after their export reversed on the day they were deleted.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import random
import uuid
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.integration.test_exports_datev import BE_ADDRESS, _split, check
from tests.support.client import Client, line
from tests.support.documents import export_file
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

STEPS = 150
CENT = Decimal("0.01")
US_ADDRESS = {
    "street_address": "1 Main Street",
    "zip_code": "10001",
    "city": "New York",
    "country_code": "US",
}
CATEGORIES = {
    "de": [("standard", "19"), ("standard", "7"), ("exempt", "0"), ("reverse_charge", "0")],
    "be": [("intra_eu", "0"), ("reverse_charge", "0"), ("standard", "19")],
    "us": [("export", "0"), ("outside_scope", "0"), ("standard", "19")],
}
KINDS = ["create", "create", "pay", "pay", "credit", "write_off", "void", "pay_across", "unpay"]
KINDS += ["reverse_write_off"]


class Month:
    def __init__(
        self, engine: Engine, seed: int, tmp_path: Path, *, backdate: bool = False
    ) -> None:
        self.rng = random.Random(seed)
        #: payments dated up to a week back now and then (recorded late), and then more
        #: dollar invoices
        self.backdate = backdate
        self.dollars = 0.6 if backdate else 0.2
        self.now = dt.datetime(2025, 1, 2, 9, 0, tzinfo=dt.UTC)
        deps = fake_deps(clock=lambda: self.now, export_dir=tmp_path / "exports")
        self.client = c = Client(Pipeline(engine, deps, LocalOperator()))
        c.setup_org()
        c.ok("configure_datev", {"consultant_number": 29098, "client_number": 55003})
        self.customers = {
            "de": str(c.customer()),
            "be": str(
                c.customer(
                    company="Brasserie Lumière SRL",
                    vat_id="BE 0477.472.701",
                    address=BE_ADDRESS,
                    locale="fr",
                )
            ),
            "us": str(c.customer(company="Globex Corp", address=US_ADDRESS, locale="en")),
        }
        self.invoices: list[tuple[str, str, str]] = []  # id, customer kind, currency
        self.write_offs: dict[str, list[str]] = collections.defaultdict(list)

    def amount(self) -> str:
        cents = self.rng.choice([1, 100, 9999, 11900, self.rng.randint(1, 50_000)])
        return str(Decimal(cents) / 100)

    def lines(self, customer: str) -> list[dict[str, Any]]:
        rng = self.rng
        first = rng.choice(CATEGORIES[customer])
        groups = [first]
        if rng.random() < 0.3 and first[0] != "outside_scope":  # O stands alone (EN 16931)
            groups.append(rng.choice([g for g in CATEGORIES[customer] if g[0] != "outside_scope"]))
        return [
            line(
                rng.choice(["Beratung", "Lizenz", "Versand"]),
                rng.choice(["1", "2", "0.5", "3.25"]),
                self.amount(),
                tax_category=category,
                tax_rate=rate,
            )
            for category, rate in groups
        ]

    def step(self, day: dt.date) -> None:
        rng, c, today = self.rng, self.client, day.isoformat()
        kind = rng.choice(KINDS)
        if kind == "create" or not self.invoices:
            who = rng.choice(["de", "de", "be", "us"])
            fields: dict[str, Any] = {}
            if rng.random() < self.dollars:
                fields = {"currency": "USD", "exchange_rate": rng.choice(["0.9234", "1.1"])}
            iid = str(uuid.uuid4())
            payload = {"id": iid, "customer_id": self.customers[who], "lines": self.lines(who)}
            if self.send("create_invoice", {**payload, **fields}) and self.send(
                "finalize_invoice", {"invoice_id": iid, "issue_date": today}
            ):
                self.invoices.append((iid, who, fields.get("currency", "EUR")))
            return
        iid, who, currency = rng.choice(self.invoices)
        state = c.state(iid)
        open_ = Decimal(state["totals"]["open_amount"])
        if kind == "pay":
            amount = rng.choice([open_, (open_ / 2).quantize(Decimal("0.01")), open_ + 5])
            if amount > 0:
                keep = {"keep_overpayment_as_credit": True} if amount > open_ else {}
                if currency != "EUR" and rng.random() < 0.4:  # received at another rate
                    keep["exchange_rate"] = rng.choice(["0.9", "0.95", "1.05"])
                paid = today
                if self.backdate and rng.random() < 0.4:
                    issued = dt.date.fromisoformat(state["issue_date"])
                    paid = max(issued, day - dt.timedelta(days=rng.randint(1, 7))).isoformat()
                self.send(
                    "record_payment",
                    {"invoice_id": iid, "amount": str(amount), "date": paid, **keep},
                )
        elif kind == "pay_across":
            payload = {"customer_id": self.customers[who], "amount": self.amount()}
            self.send("record_payment", {**payload, "date": today})
        elif kind == "credit":
            first = state["lines"][0]
            credit = line(
                "Nachlass",
                "1",
                self.amount(),
                tax_category=first["tax_category"],
                tax_rate=first["tax_rate"],
            )
            payload = {"invoice_id": iid, "issue_date": today, "reason": "Kulanz"}
            self.send("issue_credit_note", {**payload, "lines": [credit]})
        elif kind == "write_off":
            wid = str(uuid.uuid4())
            payload = {"invoice_id": iid, "write_off_id": wid, "date": today}
            if self.send("write_off_invoice", {**payload, "reason": "uncollectible"}):
                self.write_offs[iid].append(wid)
        elif kind == "reverse_write_off":
            if self.write_offs[iid]:
                wid = rng.choice(self.write_offs[iid])
                payload = {"invoice_id": iid, "write_off_id": wid, "date": today}
                self.send("reverse_write_off", payload)
        elif kind == "void":
            self.send("void_invoice", {"invoice_id": iid, "reason": "Fehler"})
        elif state["payments"]:
            payment = state["payments"][0]["id"]
            self.send("delete_payment", {"invoice_id": iid, "payment_id": payment})

    def send(self, ctype: str, payload: dict[str, Any]) -> bool:
        outcome = self.client.send(ctype, payload)
        assert outcome.status in ("applied", "rejected"), (ctype, outcome)
        assert all(e["code"] != "internal_error" for e in outcome.errors), (ctype, outcome)
        return outcome.status == "applied"


def _bookings(content: bytes, folder: Path) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        zf.extractall(folder)
    rows: list[list[str]] = []
    batches = sorted(folder.glob("EXTF_Buchungsstapel*"))
    assert batches
    for batch in batches:
        check(batch)  # datev_check.py --strict
        for raw in batch.read_bytes().decode("cp1252").split("\r\n")[2:]:
            if raw:
                rows.append(
                    [f[1:-1].replace('""', '"') if f.startswith('"') else f for f in _split(raw)]
                )
    return rows


def _is_debtor(account: str) -> bool:
    return len(account) == 5 and account.startswith("1")  # 10000-19999 (SKR03 debtors)


#: SKR03's automatic accounts with VAT that these months book on: revenue at 19 % and 7 %,
#: Forderungsverluste at 19 % and 7 %
TAXED = {"8400": Decimal(19), "8300": Decimal(7), "2406": Decimal(19), "2401": Decimal(7)}
#: the same accounts of SKR04
TAXED_SKR04 = {"4400": Decimal(19), "4300": Decimal(7), "6936": Decimal(19), "6931": Decimal(7)}
#: BU-Schlüssel (field 9) that make DATEV take VAT out of a row on any account
BU_RATES = {"3": Decimal(19), "2": Decimal(7)}


def _datev_vat(
    rows: list[list[str]], taxed: dict[str, Decimal] = TAXED
) -> dict[tuple[str, Decimal], Decimal]:
    """The VAT DATEV books per (Belegfeld 1, rate): out of each row's gross on an automatic
    account of ``taxed`` or with a BU key, round_half_up(gross x r / (100 + r)), owed (+) when
    the Debitor is debited."""
    vat: dict[tuple[str, Decimal], Decimal] = collections.defaultdict(Decimal)
    for row in rows:
        rate = BU_RATES.get(row[8]) or taxed.get(row[7])
        if rate is None or not _is_debtor(row[6]):
            continue
        gross = Decimal(row[0].replace(",", "."))
        tax = (gross * rate / (100 + rate)).quantize(CENT, ROUND_HALF_UP)
        vat[(row[10], rate)] += tax if row[1] == "S" else -tax
    return vat


def _ledger_vat(state: dict[str, Any]) -> dict[tuple[str, Decimal], Decimal]:
    """The VAT an invoice still owes per (number, rate) by its ledger: invoiced less credited
    and written off, in euros (a dollar invoice's groups converted at its frozen rate, what its
    credit notes and write-offs took converted as one sum); nothing when voided without a
    credit note (the export reverses it whole)."""
    rate = Decimal(state["normalized"]["exchange_rate"]) if state["normalized"] else None

    def conv(amount: Decimal) -> Decimal:
        return amount if rate is None else (amount * rate).quantize(CENT, ROUND_HALF_UP)

    credited = any(e["kind"] == "credit" for e in state["ledger_entries"])
    owed: dict[tuple[str, Decimal], Decimal] = collections.defaultdict(Decimal)
    for g in state["tax_ledger"]:
        key = (state["number"], Decimal(g["rate"]))
        if state["status"] == "void" and not credited:
            owed[key] += 0
            continue
        taken = Decimal(g["credited_tax"]) + Decimal(g["written_off_tax"])
        owed[key] += conv(Decimal(g["invoiced_tax"])) - conv(taken)
    return owed


@pytest.mark.parametrize("seed", range(6))
def test_a_random_month_exports_every_cent_once(engine: Engine, tmp_path: Path, seed: int) -> None:
    month = Month(engine, seed, tmp_path)
    day = dt.date(2025, 1, 2)
    for _ in range(STEPS):
        day += dt.timedelta(days=month.rng.choice([0, 1, 1, 2]))
        month.now = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
        month.step(day)
    c = month.client
    month.now += dt.timedelta(days=1)
    payload = {"date_from": "2025-01-01", "date_to": day.isoformat(), "include_payments": True}
    out = c.ok("export_datev", payload)
    (event,) = out.events
    folder = tmp_path / "export"
    folder.mkdir()
    rows = _bookings(export_file(c.bus, c.org, event), folder)
    # month by month, the export books what one export of the whole period books: a
    # movement's value depends on the history before it, not on the export's range
    monthly: list[list[str]] = []
    first = dt.date(2025, 1, 1)
    while first <= day:
        last = min((first + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1), day)
        payload = {"date_from": first.isoformat(), "date_to": last.isoformat()}
        (part,) = c.ok("export_datev", {**payload, "include_payments": True}).events
        if part["data"]["counts"]["bookings"]:  # a quiet month has no batch to check
            (folder := tmp_path / f"export-{first:%m}").mkdir()
            monthly += _bookings(export_file(c.bus, c.org, part), folder)
        first = last + dt.timedelta(days=1)
    assert collections.Counter(map(tuple, monthly)) == collections.Counter(map(tuple, rows))

    balance: dict[str, Decimal] = collections.defaultdict(Decimal)
    exchange: dict[str, Decimal] = collections.defaultdict(Decimal)  # gains less losses
    for row in rows:
        amount = Decimal(row[0].replace(",", ".")) * (1 if row[1] == "S" else -1)
        account, contra, document = row[6], row[7], row[10]
        if _is_debtor(account):
            balance[document] += amount
        if _is_debtor(contra):
            balance[document] -= amount
        if row[13].startswith(("Kursgewinn", "Kursverlust")):
            exchange[document] += amount
    vat = _datev_vat(rows)
    currencies = collections.Counter(currency for _, _, currency in month.invoices)
    assert currencies["EUR"] >= 10 and currencies["USD"] >= 3, currencies
    for iid, _, currency in month.invoices:
        state = c.state(iid)
        totals, normalized = state["totals"], state["normalized"]
        credit = Decimal(totals["credit_balance"])
        if currency == "EUR":
            still = Decimal(totals["open_amount"]) - credit
        else:  # in euros at the frozen rate: the ledger's normalized amounts
            # money rounds half up (docs/arithmetic.md); Decimal's own default is half even
            credit = (credit * Decimal(normalized["exchange_rate"])).quantize(CENT, ROUND_HALF_UP)
            still = Decimal(normalized["open_amount"]) - credit
            # the realised exchange differences are those the ledger states
            assert exchange[state["number"]] == Decimal(normalized["exchange_difference"])
        assert balance[state["number"]] == still, (state["number"], state["status"], totals)
        # DATEV's VAT account holds, per invoice and rate, the VAT the ledger still has: every
        # row on an automatic account takes out of its gross what the ledger says (datev_vat.py)
        for key, owed in _ledger_vat(state).items():
            if key[1] > 0:
                assert vat.get(key, Decimal(0)) == owed, (key, state["status"], state["tax_ledger"])
    assert out.events[0]["data"]["counts"]["vat_differences"] == 0


def _debtor_balances(rows: list[list[str]]) -> dict[str, Decimal]:
    balance: dict[str, Decimal] = collections.defaultdict(Decimal)
    for row in rows:
        amount = Decimal(row[0].replace(",", ".")) * (1 if row[1] == "S" else -1)
        if _is_debtor(row[6]):
            balance[row[10]] += amount
        if _is_debtor(row[7]):
            balance[row[10]] -= amount
    return balance


@pytest.mark.parametrize("seed", range(6))
def test_a_random_month_exported_as_it_goes_books_every_cent_once(
    engine: Engine, tmp_path: Path, seed: int
) -> None:
    """The same kind of month, exported every few days (``scope: unexported``, with payments)
    while it goes on, some payments recorded up to a week late: what the exports booked
    together is what the ledger holds per invoice, though payments were deleted and write-offs
    reversed after their export (reversals on the day of the change, never a second booking).
    (A dollar payment dated before one of the same invoice already exported is rare here:
    ``test_datev_deleted_payments`` pins that one.)"""
    month = Month(engine, 1000 + seed, tmp_path, backdate=True)
    c, day, rows = month.client, dt.date(2025, 1, 2), []

    def export(n: int) -> None:
        payload = {"date_from": "2025-01-01", "date_to": day.isoformat(), "scope": "unexported"}
        (event,) = c.ok("export_datev", {**payload, "include_payments": True}).events
        if event["data"]["counts"]["bookings"]:
            (folder := tmp_path / f"export-{n}").mkdir()
            rows.extend(_bookings(export_file(c.bus, c.org, event), folder))

    for step in range(STEPS):
        day += dt.timedelta(days=month.rng.choice([0, 1, 1, 2]))
        month.now = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
        month.step(day)
        if step % 7 == 6:
            export(step)
    export(STEPS)
    deleted_after_export = sum(1 for r in rows if r[13].startswith("Storno Zahlung"))
    balance = _debtor_balances(rows)
    vat = _datev_vat(rows)
    for iid, _, currency in month.invoices:
        state = c.state(iid)
        totals, normalized = state["totals"], state["normalized"]
        credit = Decimal(totals["credit_balance"])
        if currency == "EUR":
            still = Decimal(totals["open_amount"]) - credit
        else:
            # money rounds half up (docs/arithmetic.md); Decimal's own default is half even
            credit = (credit * Decimal(normalized["exchange_rate"])).quantize(CENT, ROUND_HALF_UP)
            still = Decimal(normalized["open_amount"]) - credit
        assert balance[state["number"]] == still, (state["number"], state["status"], totals)
        for key, owed in _ledger_vat(state).items():  # the VAT too, export by export
            if key[1] > 0:
                assert vat.get(key, Decimal(0)) == owed, (key, state["status"], state["tax_ledger"])
    # every seed deletes at least one payment that an export had booked (1 to 7 of them)
    assert deleted_after_export >= 1
