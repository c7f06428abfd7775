"""What a document SAYS equals what the books say: an oracle independent of the builders.

The sweep (tests/unit/test_einvoice_sweep.py) proves that each random e-invoice is valid,
i.e. agrees with itself; tests/unit/test_documents_matrix.py that each PDF carries its
mandatory mentions. Neither proves that the figures a document states are the figures of the
invoice it was made from. Here the same random documents (the sweep's generator, extended
below with languages, delivery dates and service periods, a second bank account, the
invoice's own buyer VAT number, payment terms, currencies of 0 and 3 minor units, standalone
credit notes and a credit of the rest after a partial credit) are checked three ways against
the ``InvoiceState`` the events carry and ``get_invoice`` returns:

* **the books themselves**: the totals recomputed from the lines per EN 16931 and
  docs/arithmetic.md (line bases and discounts, groups per category and rate, the document
  discount per group, one rounded tax per group, gross entry's exact split), the VAT in the
  accounting currency per group, and the ledger of the invoice after its payments and credit
  notes (credited, paid, open);
* **every e-invoice format of the seller's country**, parsed back with lxml and XPaths of our
  own per syntax (CII and UBL, from the EN 16931 semantic model, not from the builders):
  BT-106 ... BT-115, every VAT breakdown (BG-23), every document allowance (BG-20), every
  line (BT-126 ... BT-152), numbers, dates, currencies, parties' VAT ids, BG-3, payment
  means; each is also valid under the official rules;
* **the PDF's text** (pypdf): number and dates, each line's amount, every total, each tax
  group's rate, base and tax, the VAT in the accounting currency, paid and open amounts and
  the payment reference, formatted per language by a table of our own (not the service's
  formatter).

Seeded: a failure names its seed and document. ``SEEDS`` stays small for the suite; set
``DOCUMENT_FIGURES_SEEDS`` (e.g. 300) to sweep more locally.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
import zxingcpp
from babel.numbers import get_currency_symbol
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.documents.pdf import render_pdf
from invoicing.documents.pdf.view import build_view
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState, LineState
from lxml import etree
from PIL import Image, ImageDraw

from tests.support import scenarios
from tests.support.external import require_rules
from tests.unit.test_einvoice_sweep import FORMATS, REFUSALS, Sweep

SEEDS = int(os.environ.get("DOCUMENT_FIGURES_SEEDS", "3"))
DOCUMENTS = 16
LANGS = ("de", "en", "fr", "nl")
#: ISO 4217 minor units of the currencies generated here (our own table, not the service's)
MINOR_UNITS = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "HUF": 2, "JPY": 0, "KWD": 3}
#: a currency of more than two decimals has no EN 16931 e-invoice (BR-DEC-*): refused
E_REFUSALS = REFUSALS | {"einvoice_currency_decimals"}
SECOND_ACCOUNT = {
    "DE": {"id": "second", "iban": "DE02120300000000202051", "bic": "BYLADEM1001"},
    "BE": {"id": "second", "iban": "BE43068999999501", "bic": "GKCCBEBB"},
}
#: a buyer VAT id given on the invoice itself (``vat_number``), other than the customer's
OWN_VAT_NUMBER = {"DE": "DE129273398", "BE": "BE0403019261"}
#: EN 16931 BT-121 codes (VATEX) for the categories that need an exemption reason
VATEX = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


# ------------------------------------------------------------------------- the documents


class Books(Sweep):
    """The sweep's random documents, with what the sweep does not vary."""

    def __init__(self, core: scenarios.Core, seed: int) -> None:
        super().__init__(core, seed)
        #: what was open per tax group before each void_invoice (its credit note's id)
        self.open_before: dict[uuid.UUID, dict[Key, tuple[Decimal, Decimal]]] = {}
        self.written_off: dict[uuid.UUID, Decimal] = {}  # per invoice

    def organization(self, country: str) -> tuple[Any, dict[str, Any]]:
        if country not in self.orgs:
            seller = scenarios.DE_SELLER if country == "DE" else scenarios.BE_SELLER
            org = self.core.organization(**seller, bank_accounts=[SECOND_ACCOUNT[country]])
            domestic = scenarios.DE_BUYER if country == "DE" else scenarios.BE_BUYER
            buyers = {"domestic": domestic, "eu": scenarios.NL_BUYER, "us": scenarios.US_BUYER}
            customers = {k: self.core.customer(org, **b) for k, b in buyers.items()}
            self.orgs[country] = (org, customers)
        return self.orgs[country]

    def fields(self, country: str, buyer: str) -> dict[str, Any]:
        fields = super().fields(country, buyer)
        rng = self.rng
        fields["locale"] = rng.choice(LANGS)
        if "currency" not in fields and rng.random() < 0.15:  # 0 and 3 minor units
            fields.update(
                currency=rng.choice(["JPY", "KWD", "HUF"]),
                exchange_rate=rng.choice(["0.0061", "2.9871", "0.0025"]),
            )
        when = rng.random()
        if when < 0.3:
            fields["delivery_date"] = rng.choice(["2026-11-02", "2026-11-20", "2026-10-31"])
        elif when < 0.5:
            fields["service_period"] = {"start": "2026-10-01", "end": "2026-10-31"}
        if rng.random() < 0.2:
            fields["bank_account_id"] = SECOND_ACCOUNT[country]["id"]
        if rng.random() < 0.15 and buyer == "domestic":
            fields["vat_number"] = OWN_VAT_NUMBER[country]
        if rng.random() < 0.2:
            fields["payment_terms_days"] = rng.choice([0, 7, 30])
        return fields

    def followups(
        self, org: Any, invoice: InvoiceState, lines: list[dict[str, Any]]
    ) -> list[InvoiceState]:
        documents = super().followups(org, invoice, lines)
        rng = self.rng
        latest = current(self.core, invoice)  # a credit of all of it voided it
        if latest.normalized is not None and latest.totals.open_amount > 0 and rng.random() < 0.3:
            # money in at another rate than the invoice's: an exchange difference, the
            # document's figures unchanged
            part = r(latest.totals.open_amount / 4, latest.currency)
            if part > 0:
                outcome = self.core.run(
                    org,
                    "record_payment",
                    {
                        "invoice_id": str(invoice.id),
                        "amount": str(part),
                        "date": "2026-11-26",
                        "exchange_rate": str(latest.normalized.exchange_rate * Decimal("1.05")),
                    },
                )
                documents.append(latest := self.core.state(outcome))
        if latest.totals.open_amount > 0 and rng.random() < 0.15:  # a part written off
            part = r(latest.totals.open_amount / 5, latest.currency)
            if part > 0:
                with contextlib.suppress(scenarios.CommandRejected):
                    outcome = self.core.run(
                        org,
                        "write_off_invoice",
                        {
                            "invoice_id": str(invoice.id),
                            "amount": str(part),
                            "date": "2026-11-28",
                            "reason": "small_difference",
                        },
                    )
                    documents.append(latest := self.core.state(outcome))
                    self.written_off[invoice.id] = part
        if latest.totals.open_amount > 0 and rng.random() < 0.15:  # void: credits what is open
            ledger = current(self.core, invoice).tax_ledger
            with contextlib.suppress(scenarios.CommandRejected):
                outcome = self.core.run(
                    org, "void_invoice", {"invoice_id": str(invoice.id), "reason": "Storno"}
                )
                credit = self.core.state(outcome, "credit_note.issued")
                self.open_before[credit.id] = {
                    key(g.category, g.rate): (g.open_net, g.open_tax) for g in ledger
                }
                documents += [credit, self.core.state(outcome, "invoice.voided")]
                return documents
        last = documents[-1] if documents else invoice
        partial = (
            last.kind == "credit_note" and last.totals.gross_total != invoice.totals.gross_total
        )
        if partial and rng.random() < 0.4:
            with contextlib.suppress(scenarios.CommandRejected):  # credit the rest
                documents.append(self.core.credit_note(org, invoice, reason="Rest"))
        if rng.random() < 0.2:
            payload: dict[str, Any] = {
                "credit_note_id": str(uuid.uuid4()),
                "customer_id": str(invoice.customer_id),
                "reason": "Bonus",
                "issue_date": "2026-11-27",
                "currency": invoice.currency,
                "calculate_from_net": invoice.calculate_from_net,
                "lines": [{**line, "quantity": "1"} for line in lines[: rng.randint(1, 2)]],
            }
            if invoice.normalized is not None:
                payload["exchange_rate"] = str(invoice.normalized.exchange_rate)
            with contextlib.suppress(scenarios.CommandRejected):
                outcome = self.core.run(org, "issue_standalone_credit_note", payload)
                documents.append(self.core.state(outcome, "credit_note.issued"))
        return documents


def current(core: scenarios.Core, state: InvoiceState) -> InvoiceState:
    """The document as ``get_invoice`` returns it now."""
    reply = core.app.pipeline.query_document(
        {
            "type": "get_invoice",
            "organization_id": str(state.organization_id),
            "payload": {"invoice_id": str(state.id)},
        }
    )
    assert reply["status"] == "ok", reply["errors"]
    return InvoiceState.model_validate(reply["result"]["invoice"])


# ------------------------------------------------------------------------- arithmetic


def q(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def r(amount: Decimal, currency: str) -> Decimal:
    """Half up to the currency's minor unit, never a negative zero."""
    rounded = amount.quantize(q(currency), ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)


def largest_remainder(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """``total`` split pro rata over ``weights`` in minor units, the parts adding up to it:
    each part's floor, then a unit more for the largest fractions (ties to the first)."""
    unit = q(currency)
    units = int(total / unit)
    weight = sum(weights, Decimal(0))
    if weight == 0:  # groups adding up to nothing: all to the first (docs/arithmetic.md is
        return [total] + [Decimal(0) * unit] * (len(weights) - 1)  # silent; as the engine)
    exact = [units * w / weight for w in weights]
    floors = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: abs(left)]:
        floors[i] += 1 if left > 0 else -1
    return [f * unit for f in floors]


def exact_splits(gross: Decimal, rate: Decimal, currency: str) -> list[Decimal]:
    """Every tax t near gross x rate / (100 + rate) with round((gross - t) x rate) == t."""
    unit = q(currency)
    middle = r(gross * rate / (100 + rate), currency)
    return [
        t
        for t in (middle + k * unit for k in range(-2, 3))
        if r((gross - t) * rate / 100, currency) == t
    ]


Key = tuple[str, Decimal]


def key(category: str, rate: Decimal) -> Key:
    return (category, rate.normalize())


@dataclass
class Problems:
    """Every mismatch of one document, reported together."""

    where: str
    found: list[str] = field(default_factory=list)

    def same(self, what: str, said: Any, books: Any) -> None:
        if said != books:
            self.found.append(f"{what}: document says {said!r}, books say {books!r}")

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.found.append(what)

    def done(self) -> None:
        assert not self.found, self.where + "\n  " + "\n  ".join(self.found)


def check_arithmetic(
    state: InvoiceState, p: Problems, remaining: dict[Key, tuple[Decimal, Decimal]] | None = None
) -> None:
    """The totals recomputed from the lines (docs/arithmetic.md), and the VAT in the
    accounting currency. ``remaining``: for a credit note of an invoice, what it could take
    per group (net, VAT): what remained of the invoice, or for a void what was open."""
    cur = state.currency
    t = state.totals
    lines = sorted(state.lines, key=lambda ln: ln.position)
    gross_entry = not state.calculate_from_net
    keys: list[Key] = []
    members: dict[Key, list[LineState]] = {}
    for line in lines:
        k = key(line.tax_category, line.tax_rate)
        members.setdefault(k, [])
        if k not in keys:
            keys.append(k)
        members[k].append(line)
        exact = line.quantity * line.unit_price
        p.same(f"line {line.position} base", line.base_amount, r(exact, cur))
        disc = Decimal(0)
        if line.discount is not None:
            disc = (
                r(exact * line.discount.value / 100, cur)
                if line.discount.type == "percentage"
                else line.discount.value
            )
        p.same(f"line {line.position} discount", line.discount_amount, r(disc, cur))
        p.same(f"line {line.position} amount", line.amount, r(exact, cur) - r(disc, cur))
        if not gross_entry:
            p.same(f"line {line.position} net (BT-131)", line.net_amount, line.amount)
    amounts = [sum((ln.amount for ln in members[k]), Decimal(0)) for k in keys]
    discount = state.discount  # a credit note that mirrors its invoice repeats it
    if discount is not None and discount.type == "percentage":
        allowances = [r(a * discount.value / 100, cur) for a in amounts]
    elif discount is not None:
        allowances = largest_remainder(discount.value, amounts, cur)
    else:
        allowances = [Decimal(0)] * len(keys)
    groups = {key(g.category, g.rate): g for g in state.tax_breakdown}
    p.same("VAT groups", sorted(groups), sorted(keys))
    remaining = remaining or {}
    for k, amount, allowance in zip(keys, amounts, allowances, strict=True):
        g = groups.get(k)
        if g is None:
            continue
        rate = k[1]
        label = f"group {k[0]} {rate}"
        if not gross_entry:
            p.same(f"{label} lines net", g.lines_net, amount)
            p.same(f"{label} allowance (BT-92)", g.allowance, allowance)
            p.same(f"{label} taxable (BT-116)", g.taxable_amount, amount - allowance)
            expected_tax = r((amount - allowance) * rate / 100, cur)
        else:
            gross = amount - allowance
            p.same(f"{label} taxable + tax = gross", g.taxable_amount + g.tax_amount, gross)
            p.same(
                f"{label} lines net + allowance = taxable",
                g.lines_net - g.allowance,
                g.taxable_amount,
            )
            p.same(
                f"{label} lines net",
                sum((ln.net_amount for ln in members[k]), Decimal(0)),
                g.lines_net,
            )
            net_splits = exact_splits(amount, rate, cur)
            if rate == 0:
                p.same(f"{label} lines net (no VAT)", g.lines_net, amount)
            elif net_splits:
                p.check(
                    f"{label} lines net {g.lines_net} not an exact split of {amount}",
                    amount - g.lines_net in net_splits,
                )
            splits = exact_splits(gross, rate, cur)
            expected_tax = g.tax_amount
            if rate == 0:
                expected_tax = Decimal(0)
            elif splits:
                p.check(
                    f"{label} tax {g.tax_amount} not an exact split of {gross}",
                    g.tax_amount in splits,
                )
            else:  # no exact split: the tax extracted from the gross, a unit from exact
                p.check(
                    f"{label} tax {g.tax_amount} too far from {gross} x {rate}/(100+{rate})",
                    abs(g.tax_amount - gross * rate / (100 + rate)) < q(cur),
                )
        if k in remaining and state.kind == "credit_note":
            net_left, tax_left = remaining[k]
            whole = g.taxable_amount == net_left
            # docs/arithmetic.md: a credit of the whole remaining net of a group takes its
            # whole remaining VAT (a void: what is open of it); a partial one whose VAT
            # exceeds what remains is capped; in a currency without minor units a partial
            # credit may move a unit of VAT to keep its group creditable (its own VAT stays
            # within a unit of net x rate)
            if whole or abs(expected_tax) > abs(tax_left):
                expected_tax = tax_left
            elif MINOR_UNITS[cur] == 0 and g.tax_amount != expected_tax:
                p.check(
                    f"{label} credit VAT {g.tax_amount} a unit or more from net x rate",
                    abs(g.tax_amount - g.taxable_amount * rate / 100) < 1,
                )
                expected_tax = g.tax_amount
        p.same(f"{label} tax (BT-117)", g.tax_amount, expected_tax)
    p.same("BT-106", t.line_net_total, sum((ln.net_amount for ln in lines), Decimal(0)))
    p.same("BT-107", t.allowance_total, sum((g.allowance for g in groups.values()), Decimal(0)))
    p.same("BT-109", t.net_total, t.line_net_total - t.allowance_total)
    p.same(
        "BT-109 = sum of BT-116",
        t.net_total,
        sum((g.taxable_amount for g in groups.values()), Decimal(0)),
    )
    p.same("BT-110", t.tax_total, sum((g.tax_amount for g in groups.values()), Decimal(0)))
    p.same("BT-112", t.gross_total, t.net_total + t.tax_total)
    n = state.normalized
    if n is not None:  # each group converted on its own, the totals the sums of the parts
        base = "EUR"
        p.same("accounting currency", n.currency, base)
        converted = {
            key(g.category, g.rate): (
                r(g.taxable_amount * n.exchange_rate, base),
                r(g.tax_amount * n.exchange_rate, base),
            )
            for g in state.tax_breakdown
        }
        said = {key(g.category, g.rate): (g.taxable_amount, g.tax_amount) for g in n.tax_breakdown}
        p.same("groups in EUR", said, converted)
        p.same("BT-111", n.tax_total, sum((v[1] for v in converted.values()), Decimal(0)))
        p.same("net in EUR", n.net_total, sum((v[0] for v in converted.values()), Decimal(0)))


def check_ledger(
    invoice: InvoiceState,
    credits: Sequence[InvoiceState],
    paid: Decimal,
    written_off: Decimal,
    p: Problems,
) -> None:
    """The invoice after its payments, write-offs and credit notes: what it says is
    credited, written off, paid and open is what they were."""
    t = invoice.totals
    p.same("written off", t.written_off_amount, written_off)
    p.same("paid", t.paid_amount, paid)
    p.same("payments", sum((x.amount for x in invoice.payments), Decimal(0)), paid)
    p.same("credited", t.credited_amount, sum((c.totals.gross_total for c in credits), Decimal(0)))
    p.same("credited net", t.credited_net, sum((c.totals.net_total for c in credits), Decimal(0)))
    owed = t.gross_total - t.credited_amount - t.written_off_amount
    p.same("open", t.open_amount, max(owed - paid, Decimal(0)))
    per_group: dict[Key, list[Decimal]] = {}
    for c in credits:
        for g in c.tax_breakdown:
            sums = per_group.setdefault(key(g.category, g.rate), [Decimal(0), Decimal(0)])
            sums[0] += g.taxable_amount
            sums[1] += g.tax_amount
    for lg in invoice.tax_ledger:
        k = key(lg.category, lg.rate)
        credited = per_group.get(k, [Decimal(0), Decimal(0)])
        p.same(f"ledger {k} credited", [lg.credited_net, lg.credited_tax], credited)
        invoiced = {key(b.category, b.rate): b for b in invoice.tax_breakdown}[k]
        p.same(
            f"ledger {k} invoiced",
            [lg.invoiced_net, lg.invoiced_tax],
            [invoiced.taxable_amount, invoiced.tax_amount],
        )


# ------------------------------------------------------------------------- e-invoices


@dataclass
class Said:
    """What an e-invoice states, in EN 16931 terms."""

    number: str | None = None
    type_code: str | None = None
    issue_date: str | None = None
    due_date: str | None = None
    delivery_date: str | None = None
    period: tuple[str | None, str | None] | None = None
    currency: str | None = None
    tax_currency: str | None = None
    seller_name: str | None = None
    buyer_name: str | None = None
    seller_vat: str | None = None
    buyer_vat: str | None = None
    referenced: tuple[str | None, str | None] | None = None
    means: str | None = None
    iban: str | None = None
    payment_reference: str | None = None
    totals: dict[str, Decimal | None] = field(default_factory=dict)
    allowances: list[tuple[str, Decimal | None, Decimal]] = field(default_factory=list)
    charges: list[Decimal] = field(default_factory=list)
    groups: list[tuple[str, Decimal | None, Decimal, Decimal, str | None, str | None]] = field(
        default_factory=list
    )
    lines: list[dict[str, Any]] = field(default_factory=list)


def _one(node: Any, path: str) -> str | None:
    found = node.xpath(path, namespaces=NS)
    assert len(found) <= 1, (path, found)
    if not found:
        return None
    text = found[0] if isinstance(found[0], str) else found[0].text
    return None if text is None else str(text).strip()


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _date102(text: str | None) -> str | None:
    return None if text is None else f"{text[:4]}-{text[4:6]}-{text[6:8]}"


def read_cii(xml: bytes) -> Said:
    root = etree.fromstring(xml)
    doc = "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument"
    tx = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"
    agr, dlv, stl = (
        f"{tx}/ram:ApplicableHeaderTradeAgreement",
        f"{tx}/ram:ApplicableHeaderTradeDelivery",
        f"{tx}/ram:ApplicableHeaderTradeSettlement",
    )
    summ = f"{stl}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    said = Said(
        number=_one(root, f"{doc}/ram:ID"),
        type_code=_one(root, f"{doc}/ram:TypeCode"),
        issue_date=_date102(_one(root, f"{doc}/ram:IssueDateTime/udt:DateTimeString")),
        due_date=_date102(
            _one(
                root, f"{stl}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"
            )
        ),
        delivery_date=_date102(
            _one(
                root,
                f"{dlv}/ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime"
                "/udt:DateTimeString",
            )
        ),
        currency=_one(root, f"{stl}/ram:InvoiceCurrencyCode"),
        tax_currency=_one(root, f"{stl}/ram:TaxCurrencyCode"),
        seller_name=_one(root, f"{agr}/ram:SellerTradeParty/ram:Name"),
        buyer_name=_one(root, f"{agr}/ram:BuyerTradeParty/ram:Name"),
        seller_vat=_one(
            root, f"{agr}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"
        ),
        buyer_vat=_one(
            root, f"{agr}/ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"
        ),
        means=_one(root, f"{stl}/ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"),
        iban=_one(
            root,
            f"{stl}/ram:SpecifiedTradeSettlementPaymentMeans"
            "/ram:PayeePartyCreditorFinancialAccount/ram:IBANID",
        ),
        payment_reference=_one(root, f"{stl}/ram:PaymentReference"),
    )
    start = _one(root, f"{stl}/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString")
    end = _one(root, f"{stl}/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString")
    if start or end:
        said.period = (_date102(start), _date102(end))
    ref = root.xpath(f"{stl}/ram:InvoiceReferencedDocument", namespaces=NS)
    if ref:
        said.referenced = (
            _one(ref[0], "ram:IssuerAssignedID"),
            _date102(_one(ref[0], "ram:FormattedIssueDateTime/qdt:DateTimeString")),
        )
    cur, tax_cur = said.currency, said.tax_currency
    said.totals = {
        "BT-106": _dec(_one(root, f"{summ}/ram:LineTotalAmount")),
        "BT-107": _dec(_one(root, f"{summ}/ram:AllowanceTotalAmount")),
        "BT-108": _dec(_one(root, f"{summ}/ram:ChargeTotalAmount")),
        "BT-109": _dec(_one(root, f"{summ}/ram:TaxBasisTotalAmount")),
        "BT-110": _dec(_one(root, f"{summ}/ram:TaxTotalAmount[@currencyID='{cur}']")),
        "BT-111": _dec(_one(root, f"{summ}/ram:TaxTotalAmount[@currencyID='{tax_cur}']"))
        if tax_cur and tax_cur != cur
        else None,
        "BT-112": _dec(_one(root, f"{summ}/ram:GrandTotalAmount")),
        "BT-113": _dec(_one(root, f"{summ}/ram:TotalPrepaidAmount")),
        "BT-114": _dec(_one(root, f"{summ}/ram:RoundingAmount")),
        "BT-115": _dec(_one(root, f"{summ}/ram:DuePayableAmount")),
    }
    for ac in root.xpath(f"{stl}/ram:SpecifiedTradeAllowanceCharge", namespaces=NS):
        amount = _dec(_one(ac, "ram:ActualAmount"))
        assert amount is not None
        if _one(ac, "ram:ChargeIndicator/udt:Indicator") == "true":
            said.charges.append(amount)
            continue
        said.allowances.append(
            (
                _one(ac, "ram:CategoryTradeTax/ram:CategoryCode") or "",
                _dec(_one(ac, "ram:CategoryTradeTax/ram:RateApplicablePercent")),
                amount,
            )
        )
    for tax in root.xpath(f"{stl}/ram:ApplicableTradeTax", namespaces=NS):
        said.groups.append(
            (
                _one(tax, "ram:CategoryCode") or "",
                _dec(_one(tax, "ram:RateApplicablePercent")),
                _dec(_one(tax, "ram:BasisAmount")) or Decimal(0),
                _dec(_one(tax, "ram:CalculatedAmount")) or Decimal(0),
                _one(tax, "ram:ExemptionReason"),
                _one(tax, "ram:ExemptionReasonCode"),
            )
        )
    for item in root.xpath(f"{tx}/ram:IncludedSupplyChainTradeLineItem", namespaces=NS):
        st = "ram:SpecifiedLineTradeSettlement"
        said.lines.append(
            {
                "id": _one(item, "ram:AssociatedDocumentLineDocument/ram:LineID"),
                "quantity": _dec(_one(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")),
                "price": _dec(
                    _one(
                        item,
                        "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
                    )
                ),
                "base_quantity": _dec(
                    _one(
                        item,
                        "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity",
                    )
                ),
                "allowances": [
                    Decimal(a)
                    for a in item.xpath(
                        f"{st}/ram:SpecifiedTradeAllowanceCharge"
                        "[ram:ChargeIndicator/udt:Indicator='false']/ram:ActualAmount/text()",
                        namespaces=NS,
                    )
                ],
                "charges": [
                    Decimal(a)
                    for a in item.xpath(
                        f"{st}/ram:SpecifiedTradeAllowanceCharge"
                        "[ram:ChargeIndicator/udt:Indicator='true']/ram:ActualAmount/text()",
                        namespaces=NS,
                    )
                ],
                "net": _dec(
                    _one(
                        item,
                        f"{st}/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
                    )
                ),
                "category": _one(item, f"{st}/ram:ApplicableTradeTax/ram:CategoryCode"),
                "rate": _dec(_one(item, f"{st}/ram:ApplicableTradeTax/ram:RateApplicablePercent")),
            }
        )
    return said


def read_ubl(xml: bytes) -> Said:
    root = etree.fromstring(xml)
    credit = etree.QName(root).localname == "CreditNote"
    sup = "/*/cac:AccountingSupplierParty/cac:Party"
    cus = "/*/cac:AccountingCustomerParty/cac:Party"
    vat = "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID"
    said = Said(
        number=_one(root, "/*/cbc:ID"),
        type_code=_one(root, "/*/cbc:CreditNoteTypeCode" if credit else "/*/cbc:InvoiceTypeCode"),
        issue_date=_one(root, "/*/cbc:IssueDate"),
        # BT-9: cbc:DueDate in an Invoice; a CreditNote has it in PaymentMeans (Peppol BIS
        # and XRechnung's UBL CreditNote mapping)
        due_date=_one(
            root, "/*/cac:PaymentMeans/cbc:PaymentDueDate" if credit else "/*/cbc:DueDate"
        ),
        delivery_date=_one(root, "/*/cac:Delivery/cbc:ActualDeliveryDate"),
        currency=_one(root, "/*/cbc:DocumentCurrencyCode"),
        tax_currency=_one(root, "/*/cbc:TaxCurrencyCode"),
        seller_name=_one(root, f"{sup}/cac:PartyLegalEntity/cbc:RegistrationName"),
        buyer_name=_one(root, f"{cus}/cac:PartyLegalEntity/cbc:RegistrationName"),
        seller_vat=_one(root, f"{sup}/{vat}"),
        buyer_vat=_one(root, f"{cus}/{vat}"),
        means=_one(root, "/*/cac:PaymentMeans/cbc:PaymentMeansCode"),
        iban=_one(root, "/*/cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID"),
        payment_reference=_one(root, "/*/cac:PaymentMeans/cbc:PaymentID"),
    )
    start, end = (
        _one(root, "/*/cac:InvoicePeriod/cbc:StartDate"),
        _one(root, "/*/cac:InvoicePeriod/cbc:EndDate"),
    )
    if start or end:
        said.period = (start, end)
    ref = root.xpath("/*/cac:BillingReference/cac:InvoiceDocumentReference", namespaces=NS)
    if ref:
        said.referenced = (_one(ref[0], "cbc:ID"), _one(ref[0], "cbc:IssueDate"))
    cur, tax_cur = said.currency, said.tax_currency
    mt = "/*/cac:LegalMonetaryTotal"
    said.totals = {
        "BT-106": _dec(_one(root, f"{mt}/cbc:LineExtensionAmount")),
        "BT-107": _dec(_one(root, f"{mt}/cbc:AllowanceTotalAmount")),
        "BT-108": _dec(_one(root, f"{mt}/cbc:ChargeTotalAmount")),
        "BT-109": _dec(_one(root, f"{mt}/cbc:TaxExclusiveAmount")),
        "BT-110": _dec(_one(root, f"/*/cac:TaxTotal/cbc:TaxAmount[@currencyID='{cur}']")),
        "BT-111": _dec(_one(root, f"/*/cac:TaxTotal/cbc:TaxAmount[@currencyID='{tax_cur}']"))
        if tax_cur and tax_cur != cur
        else None,
        "BT-112": _dec(_one(root, f"{mt}/cbc:TaxInclusiveAmount")),
        "BT-113": _dec(_one(root, f"{mt}/cbc:PrepaidAmount")),
        "BT-114": _dec(_one(root, f"{mt}/cbc:PayableRoundingAmount")),
        "BT-115": _dec(_one(root, f"{mt}/cbc:PayableAmount")),
    }
    for ac in root.xpath("/*/cac:AllowanceCharge", namespaces=NS):
        amount = _dec(_one(ac, "cbc:Amount"))
        assert amount is not None
        if _one(ac, "cbc:ChargeIndicator") == "true":
            said.charges.append(amount)
            continue
        said.allowances.append(
            (
                _one(ac, "cac:TaxCategory/cbc:ID") or "",
                _dec(_one(ac, "cac:TaxCategory/cbc:Percent")),
                amount,
            )
        )
    for sub in root.xpath(
        f"/*/cac:TaxTotal[cbc:TaxAmount/@currencyID='{cur}']/cac:TaxSubtotal", namespaces=NS
    ):
        said.groups.append(
            (
                _one(sub, "cac:TaxCategory/cbc:ID") or "",
                _dec(_one(sub, "cac:TaxCategory/cbc:Percent")),
                _dec(_one(sub, "cbc:TaxableAmount")) or Decimal(0),
                _dec(_one(sub, "cbc:TaxAmount")) or Decimal(0),
                _one(sub, "cac:TaxCategory/cbc:TaxExemptionReason"),
                _one(sub, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
            )
        )
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
    qty_tag = "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity"
    for item in root.xpath(f"/*/{line_tag}", namespaces=NS):
        said.lines.append(
            {
                "id": _one(item, "cbc:ID"),
                "quantity": _dec(_one(item, qty_tag)),
                "price": _dec(_one(item, "cac:Price/cbc:PriceAmount")),
                "base_quantity": _dec(_one(item, "cac:Price/cbc:BaseQuantity")),
                "allowances": [
                    Decimal(a)
                    for a in item.xpath(
                        "cac:AllowanceCharge[cbc:ChargeIndicator='false']/cbc:Amount/text()",
                        namespaces=NS,
                    )
                ],
                "charges": [
                    Decimal(a)
                    for a in item.xpath(
                        "cac:AllowanceCharge[cbc:ChargeIndicator='true']/cbc:Amount/text()",
                        namespaces=NS,
                    )
                ],
                "net": _dec(_one(item, "cbc:LineExtensionAmount")),
                "category": _one(item, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
                "rate": _dec(_one(item, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
            }
        )
    return said


def compact(vat_id: str | None) -> str | None:
    return None if not vat_id else re.sub(r"[\s.\-/]", "", vat_id).upper()


def ogm(number: str) -> str:
    """The Belgian structured communication of an invoice number: its last ten digits and
    their remainder modulo 97 (97 for 0)."""
    digits = "".join(c for c in number if c.isdigit())[-10:].rjust(10, "0")
    check = int(digits) % 97 or 97
    whole = f"{digits}{check:02d}"
    return f"+++{whole[:3]}/{whole[3:7]}/{whole[7:]}+++"


def payment_reference(state: InvoiceState) -> str | None:
    """BT-83: the structured communication of a Belgian seller's EUR invoice, else the
    number (docs/einvoice.md)."""
    assert state.seller is not None and state.seller.address is not None
    belgian = state.seller.address.country_code == "BE"
    if belgian and state.currency == "EUR" and state.kind == "invoice":
        return ogm(state.number or "")
    return state.number


def check_einvoice(state: InvoiceState, said: Said, p: Problems) -> None:
    """Every figure of the e-invoice against the state."""
    seller, buyer = state.seller, state.buyer
    assert seller is not None and buyer is not None
    credit = state.kind == "credit_note"
    t = state.totals
    p.same("BT-1 number", said.number, state.number)
    p.same("BT-3 type", said.type_code, "381" if credit else "380")
    p.same("BT-2 issue date", said.issue_date, str(state.issue_date))
    p.same("BT-9 due date", said.due_date, str(state.due_date) if state.due_date else None)
    p.same(
        "BT-72 delivery date",
        said.delivery_date,
        str(state.delivery_date) if state.delivery_date else None,
    )
    period = None
    if state.service_period_start and state.service_period_end:
        period = (str(state.service_period_start), str(state.service_period_end))
    p.same("BG-14 period", said.period, period)
    p.same("BT-5 currency", said.currency, state.currency)
    p.same(
        "BT-6 VAT accounting currency",
        said.tax_currency,
        state.normalized.currency if state.normalized else None,
    )
    p.same("BT-27 seller", said.seller_name, seller.name)
    p.same("BT-44 buyer", said.buyer_name, buyer.name)
    # BR-O-02: a document not subject to VAT names neither party's VAT id
    not_subject = all(line.tax_code == "O" for line in state.lines)
    p.same("BT-31 seller VAT id", said.seller_vat, None if not_subject else compact(seller.vat_id))
    p.same("BT-48 buyer VAT id", said.buyer_vat, None if not_subject else compact(buyer.vat_id))
    if state.vat_number and not not_subject:  # the invoice's own VAT number (seed 001)
        p.same("BT-48 is the invoice's VAT number", said.buyer_vat, compact(state.vat_number))
    if credit and state.credited_invoice_id is not None:
        p.same(
            "BG-3 referenced invoice",
            said.referenced,
            (state.credited_invoice_number, str(state.credited_invoice_issue_date)),
        )
    else:
        p.same("BG-3 referenced invoice", said.referenced, None)
    p.same("BT-81 payment means", said.means, "58" if seller.iban else "1")
    p.same("BT-84 IBAN", said.iban, compact(seller.iban))
    p.same("BT-83 payment reference", said.payment_reference, payment_reference(state))
    zero = Decimal(0)
    paid = t.paid_amount if state.kind == "invoice" and t.paid_amount else None
    if state.kind == "invoice" and not (t.credited_amount or t.written_off_amount):
        # nothing but payments between the gross and what is open: the amount due is the
        # open amount the PDF prints (the credit balance of an overpayment aside)
        p.same("BT-115 = open amount", said.totals.get("BT-115"), t.open_amount - t.credit_balance)
    books = {
        "BT-106": t.line_net_total,
        # present with the allowances (BG-20); shares of opposite sign may add up to 0
        "BT-107": t.allowance_total
        if any(tb.allowance != 0 for tb in state.tax_breakdown)
        else None,
        "BT-108": None,  # the service has no document charges
        "BT-109": t.net_total,
        "BT-110": t.tax_total,
        "BT-111": state.normalized.tax_total if state.normalized else None,
        "BT-112": t.gross_total,
        # BT-113: an invoice's payments when it is built, as its PDF prints them; credit
        # notes and write-offs are not payments (docs/einvoice.md)
        "BT-113": paid,
        "BT-114": None,
        "BT-115": t.gross_total - (paid or 0),
    }
    for term, value in books.items():
        p.same(term, said.totals.get(term), value)
    # the XML's own sums, recomputed from what it states
    p.same(
        "BT-106 = sum of BT-131",
        said.totals["BT-106"],
        sum((ln["net"] or zero for ln in said.lines), zero),
    )
    p.same("charges", said.charges, [])
    allowances = sorted(
        (tb.code, None if tb.code == "O" else tb.rate.normalize(), tb.allowance)
        for tb in state.tax_breakdown
        if tb.allowance != 0
    )
    p.same(
        "BG-20 allowances",
        sorted((c, None if r_ is None else r_.normalize(), a) for c, r_, a in said.allowances),
        allowances,
    )
    groups = []
    for tb in state.tax_breakdown:
        reason = tb.exemption_reason if tb.code not in ("S", "Z") else None
        groups.append(
            (
                tb.code,
                tb.rate.normalize(),
                tb.taxable_amount,
                tb.tax_amount,
                reason,
                VATEX.get(tb.code),
            )
        )
        if tb.code in ("E", "AE", "K", "G", "O"):  # BR-x-10: a reason for the exemption
            p.check(f"group {tb.code} without an exemption reason", bool(tb.exemption_reason))
    p.same(
        "BG-23 breakdown",
        sorted(
            (c, None if r_ is None else r_.normalize(), b, x, rs, rc)
            for c, r_, b, x, rs, rc in said.groups
        ),
        sorted(groups, key=lambda g: (g[0], g[1], g[2], g[3], g[4] or "", g[5] or "")),
    )
    lines = sorted(state.lines, key=lambda ln: ln.position)
    p.same("line ids", [ln["id"] for ln in said.lines], [str(ln.position) for ln in lines])
    for line, got in zip(lines, said.lines, strict=False):
        where = f"line {line.position}"
        p.same(f"{where} BT-131", got["net"], line.net_amount)
        p.same(f"{where} BT-151", got["category"], line.tax_code)
        p.same(f"{where} BT-152", got["rate"], None if line.tax_code == "O" else line.tax_rate)
        p.same(f"{where} charges", got["charges"], [])
        qty, price, base_qty = got["quantity"], got["price"], got["base_quantity"] or Decimal(1)
        if qty is None or price is None:
            p.found.append(f"{where}: no quantity or price")
            continue
        p.check(f"{where} BT-146 price {price} negative (BR-27)", price >= 0)
        p.same(f"{where} |BT-129|", abs(qty), line.quantity)
        allowance = sum(got["allowances"], zero)
        stated = qty * price / base_qty - allowance
        # what quantity x price less the line allowance comes to must be the line net
        # (Peppol R120 allows 0.02; the service promises 0.01, docs/einvoice.md)
        p.check(
            f"{where}: {qty} x {price} - {allowance} = {stated}, not {line.net_amount}",
            abs(stated - line.net_amount) <= Decimal("0.01"),
        )
        if state.calculate_from_net:
            p.same(f"{where} BG-27 allowance", allowance, line.discount_amount)
            if abs(line.quantity * line.unit_price - line.base_amount) <= Decimal("0.01"):
                p.same(f"{where} BT-146 = the price entered", price, abs(line.unit_price))
        else:
            p.same(f"{where} BG-27 allowance (gross entry: inside BT-131)", allowance, zero)


def check_einvoices(state: InvoiceState, country: str, p: Problems) -> int:
    built = 0
    for fmt in FORMATS[country]:
        try:
            einvoice = build_einvoice(state, fmt)
        except DomainError as exc:
            codes = {e.code for e in exc.errors}
            p.check(f"{fmt} refused with {codes}", codes <= E_REFUSALS)
            continue
        report = validate(einvoice.xml, einvoice.profile)
        p.check(f"{fmt} invalid: {[f.rule for f in report.errors]}", report.valid)
        said = (
            read_cii(einvoice.xml)
            if fmt in ("xrechnung_cii", "zugferd")
            else read_ubl(einvoice.xml)
        )
        sub = Problems(p.where)
        check_einvoice(state, said, sub)
        p.found.extend(f"{fmt}: {x}" for x in sub.found)
        built += 1
    return built


# ------------------------------------------------------------------------- PDF


#: (group separator, decimal separator, pattern) per document language, from the
#: conventions of de-DE, en-GB, fr-BE and nl-BE; the pattern places sign, symbol, number
PRINTED = {
    "de": (".", ",", "{sign}{num} {sym}"),
    "en": (",", ".", "{sign}{sym}{num}"),
    "fr": (" ", ",", "{sign}{num} {sym}"),
    "nl": (".", ",", "{sym} {sign}{num}"),
}
BABEL_NAMES = {"de": "de_DE", "en": "en_GB", "fr": "fr_BE", "nl": "nl_BE"}
MONTHS = {
    # en-GB abbreviates September "Sept" (CLDR's en_GB medium dates: "4 Sept 2028"); the
    # invoices here are all of October and November, the dunning notices reach September
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec"],
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
    "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
}


def printed_number(value: Decimal, digits: int, lang: str) -> str:
    group, point, _ = PRINTED[lang]
    whole, _, fraction = f"{abs(value):,.{digits}f}".partition(".")
    text = whole.replace(",", group)
    return text + (point + fraction if digits else "")


def printed_money(value: Decimal, currency: str, lang: str) -> str:
    sym = str(get_currency_symbol(currency, BABEL_NAMES[lang]))
    num = printed_number(value, MINOR_UNITS[currency], lang)
    sign = "-" if value < 0 else ""
    return PRINTED[lang][2].format(sign=sign, num=num, sym=sym)


def printed_price(value: Decimal, currency: str, lang: str) -> str:
    """A unit price as entered: the currency's minor units, more where it has more
    significant decimals (100.00 entered in yen is 100 yen, printed without decimals)."""
    exponent = int(value.normalize().as_tuple().exponent)
    digits = max(MINOR_UNITS[currency], -exponent)
    sym = str(get_currency_symbol(currency, BABEL_NAMES[lang]))
    num = printed_number(value, digits, lang)
    return PRINTED[lang][2].format(sign="-" if value < 0 else "", num=num, sym=sym)


def printed_quantity(value: Decimal, lang: str) -> str:
    normal = value.normalize()
    return printed_number(normal, max(0, -int(normal.as_tuple().exponent)), lang)


def printed_date(value: dt.date, lang: str) -> str:
    if lang == "de":
        return value.strftime("%d.%m.%Y")
    month = MONTHS[lang][value.month - 1]
    return f"{value.day} {month} {value.year}"


def printed_rate(value: Decimal, lang: str) -> str:
    normal = value.normalize()
    text = printed_number(normal, max(0, -int(normal.as_tuple().exponent)), lang)
    return f"{text} %"


def pdf_text(pdf: bytes) -> str:
    raw = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(raw.replace("\u00a0", " ").replace("\u202f", " ").split())


def _occurs(text: str, figure: str) -> bool:
    """``figure`` in ``text``, not as part of a longer number."""
    pattern = r"(?<![\d.,])" + re.escape(figure) + r"(?![\d])"
    return re.search(pattern, text) is not None


def epc_fields(state: InvoiceState) -> list[str] | None:
    """The EPC QR code the PDF prints (the view's SVG, drawn and read back), as its lines."""
    svg = build_view(state)["payment"].get("qr_svg") or ""
    if not svg:
        return None
    box = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert box is not None
    scale = 4
    image = Image.new("L", (int(box[1]) * scale, int(box[2]) * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle((left, top, left + int(w) * scale - 1, top + scale - 1), fill=0)
    found = zxingcpp.read_barcode(image)
    assert found is not None and found.valid, "the QR code cannot be read"
    return bytes(found.bytes).decode("utf-8").split("\n")


def check_qr(state: InvoiceState, p: Problems) -> None:
    """EPC069-12: the transfer the QR code asks for is of the open amount, to the seller's
    account, with the payment reference; none when nothing is open or not in euros."""
    fields = epc_fields(state)
    seller = state.seller
    assert seller is not None
    due = state.totals.open_amount
    if state.kind != "invoice" or state.currency != "EUR" or not seller.iban or due <= 0:
        p.same("EPC QR code", fields, None)
        return
    if fields is None:
        p.found.append(f"no EPC QR code for an open amount of {due}")
        return
    p.same("EPC IBAN", fields[6], compact(seller.iban))
    p.same("EPC amount", fields[7], f"EUR{due}")
    p.same("EPC remittance", fields[10] if len(fields) > 10 else None, payment_reference(state))


def check_pdf(state: InvoiceState, p: Problems) -> None:
    lang = state.locale if state.locale in PRINTED else "en"
    text = pdf_text(render_pdf(state))
    cur = state.currency
    t = state.totals
    small_business = state.seller is not None and state.seller.small_business

    def shows(what: str, figure: str) -> None:
        p.check(f"PDF: {what} {figure!r} not printed", _occurs(text, figure))

    def money(what: str, value: Decimal) -> None:
        shows(what, printed_money(value, cur, lang))

    p.check(f"PDF: number {state.number} not printed", (state.number or "?") in text)
    assert state.issue_date is not None
    shows("issue date", printed_date(state.issue_date, lang))
    if state.kind == "invoice" and state.due_date is not None:
        shows("due date", printed_date(state.due_date, lang))
    for line in state.lines:
        row = " ".join(
            (
                printed_price(line.unit_price, cur, lang),
                *((printed_rate(line.tax_rate, lang),) if not small_business else ()),
                printed_money(line.amount, cur, lang),
            )
        )
        shows(f"line {line.position} price, rate and amount", row)
        shows(f"line {line.position} quantity", printed_quantity(line.quantity, lang))
    money("gross total", t.gross_total)
    if not small_business:
        money("net total", t.net_total)
        money("VAT total", t.tax_total)
        for g in state.tax_breakdown:
            row = " ".join(
                (
                    printed_rate(g.rate, lang),
                    printed_money(g.taxable_amount, cur, lang),
                    printed_money(g.tax_amount, cur, lang),
                )
            )
            shows(f"group {g.category} {g.rate}", row)
        n = state.normalized
        if n is not None:
            for ng in n.tax_breakdown:
                row = " ".join(
                    (
                        printed_rate(ng.rate, lang),
                        printed_money(ng.taxable_amount, n.currency, lang),
                        printed_money(ng.tax_amount, n.currency, lang),
                    )
                )
                shows(f"group {ng.category} {ng.rate} in {n.currency}", row)
            shows(
                "VAT total in the accounting currency", printed_money(n.tax_total, n.currency, lang)
            )
            rate = printed_quantity(n.exchange_rate, lang)
            shows("exchange rate", f"1 {cur} = {rate} {n.currency}")
            if n.exchange_rate_date is not None:
                shows("exchange rate date", printed_date(n.exchange_rate_date, lang))
    if t.allowance_total:
        money("lines' net total", t.line_net_total)
        money("document discount", t.allowance_total)
    if state.kind == "invoice":
        if t.paid_amount > 0:
            money("paid", t.paid_amount)
        if t.credited_amount > 0:
            money("credited", t.credited_amount)
        if t.paid_amount > 0 or t.credited_amount > 0:
            money("open amount", t.open_amount)
        reference = payment_reference(state) or ""
        p.check(f"PDF: payment reference {reference} not printed", reference in text)
    if state.kind == "credit_note" and state.credited_invoice_number:
        p.check("PDF: the credited invoice not named", state.credited_invoice_number in text)


# ------------------------------------------------------------------------- the sweep


def stories(books: Books, count: int) -> Iterator[tuple[int, str, list[InvoiceState]]]:
    for number in range(count):
        country, documents = books.documents()
        if documents:
            yield number, country, documents


def check_story(books: Books, documents: list[InvoiceState], where: str) -> list[InvoiceState]:
    """The invoice's relations (payments, credit notes, the ledger), checked; returns every
    state to check as a document: those the events carried and the invoice as it is now."""
    core, invoice = books.core, documents[0]
    credits = [
        d for d in documents if d.kind == "credit_note" and d.credited_invoice_id == invoice.id
    ]
    standalone = [d for d in documents if d.kind == "credit_note" and d.credited_invoice_id is None]
    payments = [d for d in documents if d.kind == "invoice" and d.payments]
    p = Problems(where + " (books)")
    before = invoice
    for d in documents:
        if d.kind == "invoice":
            before = d
        remaining = None
        if d.id in books.open_before:
            remaining = books.open_before[d.id]
        elif d in credits:
            remaining = {
                key(g.category, g.rate): (
                    g.invoiced_net - g.credited_net - g.written_off_net,
                    g.invoiced_tax - g.credited_tax - g.written_off_tax,
                )
                for g in before.tax_ledger
            }
        check_arithmetic(d, p, remaining)
        if d in credits and invoice.normalized is not None:
            p.same(
                "credit note's rate",
                d.normalized and d.normalized.exchange_rate,
                invoice.normalized.exchange_rate,
            )
        if d in credits:
            p.same("BG-3 number", d.credited_invoice_number, invoice.number)
            p.same("BG-3 date", d.credited_invoice_issue_date, invoice.issue_date)
            p.same("credit note currency", d.currency, invoice.currency)
            p.same("credit note buyer", d.buyer, invoice.buyer)
            # the invoice's state as the credit note left it (the ledger after it)
            before = before.model_copy(
                update={
                    "tax_ledger": [
                        g.model_copy(
                            update={
                                "credited_net": g.credited_net
                                + sum(
                                    (
                                        c.taxable_amount
                                        for c in d.tax_breakdown
                                        if key(c.category, c.rate) == key(g.category, g.rate)
                                    ),
                                    Decimal(0),
                                ),
                                "credited_tax": g.credited_tax
                                + sum(
                                    (
                                        c.tax_amount
                                        for c in d.tax_breakdown
                                        if key(c.category, c.rate) == key(g.category, g.rate)
                                    ),
                                    Decimal(0),
                                ),
                            }
                        )
                        for g in before.tax_ledger
                    ]
                }
            )
    now = current(core, invoice)
    paid = sum((x.amount for x in payments[-1].payments), Decimal(0)) if payments else Decimal(0)
    check_ledger(now, credits, paid, books.written_off.get(invoice.id, Decimal(0)), p)
    for d in documents:  # what get_invoice returns is what the last event said
        latest = current(core, d)
        for name in (
            "number",
            "issue_date",
            "due_date",
            "delivery_date",
            "lines",
            "tax_breakdown",
            "normalized",
            "seller",
            "buyer",
            "currency",
        ):
            if name == "normalized" and d.kind == "invoice":
                continue  # paid and credited amounts in EUR move on with later events
            p.same(f"get_invoice {name}", getattr(latest, name), getattr(d, name))
    for s in standalone:
        p.same("standalone credit note open", s.totals.open_amount, Decimal(0))
    p.done()
    return [*documents, now]


@pytest.mark.parametrize("seed", range(SEEDS))
def test_documents_state_the_figures_of_the_books(tmp_path: Path, seed: int) -> None:
    require_rules()
    core = scenarios.Core(tmp_path)
    books = Books(core, 1000 + seed)
    built = checked = 0
    for number, country, documents in stories(books, DOCUMENTS):
        where = f"seed {1000 + seed}, story {number} ({country})"
        for state in check_story(books, documents, where):
            p = Problems(f"{where}: {state.kind} {state.number} ({state.currency}, {state.locale})")
            built += check_einvoices(state, country, p)
            check_pdf(state, p)
            check_qr(state, p)
            p.done()
            checked += 1
    assert checked >= DOCUMENTS // 2 and built >= 1, (checked, built)
