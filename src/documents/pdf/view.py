"""The printable view of an ``InvoiceState``: every value formatted for the document's language.

Templates receive only this view (plain strings, lists and dicts), never the domain object, so
an organization's template override cannot reach anything else. Customer text stays plain text
here; escaping is the template engine's job (``engine.py``), done on every ``{{ }}`` output.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.dates import format_date
from invoicing.documents.einvoice.prepare import payment_reference as bt83_reference
from invoicing.documents.legal import document_notes
from invoicing.documents.pdf.i18n import BABEL_LOCALE, labels, unit_label
from invoicing.documents.pdf.payment import payment_qr
from invoicing.domain.tax import standard_rate
from invoicing.schemas.events import InvoiceState, Party
from invoicing.texts import formatting

ZERO = Decimal(0)


@functools.cache
def _babel_locale(name: str) -> Locale:
    """Parsed once per process: Babel parses a locale given by name on every call, which was
    half the cost of formatting an amount."""
    return Locale.parse(name)


@dataclass(frozen=True)
class Formatter:
    locale: str
    currency: str

    @property
    def babel(self) -> Locale:
        return _babel_locale(BABEL_LOCALE.get(self.locale, "en_GB"))

    def money(self, value: Decimal) -> str:
        return formatting.money(value, self.currency, self.locale)

    def price(self, value: Decimal) -> str:
        """A unit price exactly as entered (0.335 EUR prints 0,335 €, 12.3455 KWD
        12,3455 KWD), so quantity x price multiplies out to the printed amount and matches
        the e-invoice's BT-146 (``einvoice.prepare.price``)."""
        return formatting.price(value, self.currency, self.locale)

    def number(self, value: Decimal) -> str:
        # quantities keep their own precision (1.5 h, 0.25 days), without trailing zeros
        normalized = value.normalize()
        if normalized == normalized.to_integral():
            normalized = normalized.quantize(Decimal(1))
        return formatting.decimal(normalized, self.locale)

    def rate(self, value: Decimal) -> str:
        return self.number(value) + "\u00a0%"

    def date(self, value: dt.date | None) -> str:
        return "" if value is None else str(format_date(value, format="medium", locale=self.babel))


def _address_lines(party: Party) -> list[str]:
    lines: list[str] = []
    addr = party.address
    if addr is None:
        return lines
    if addr.name and addr.name != party.name:
        lines.append(addr.name)
    for part in (addr.street_address, addr.additional_line):
        if part:
            lines.append(part)
    city = " ".join(p for p in (addr.zip_code, addr.city) if p)
    if city:
        lines.append(city)
    lines.append(addr.country_code)
    return lines


def _party(party: Party | None) -> dict[str, Any]:
    if party is None:
        return {"name": "", "address": [], "contact_name": ""}
    person = " ".join(p for p in (party.given_name, party.family_name) if p)
    return {
        "name": party.name,
        "contact_name": person if party.company and person and person != party.name else "",
        "address": _address_lines(party),
        "country": party.address.country_code if party.address else "",
        "vat_id": party.vat_id or "",
        "tax_number": party.tax_number or "",
        "registration": party.registration or "",
        "managing_directors": party.managing_directors or "",
        "email": party.email or "",
        "phone": party.phone or "",
        "website": party.website or "",
        "iban": _iban(party.iban),
        "bic": party.bic or "",
        "bank_name": party.bank_name or "",
        "buyer_reference": party.buyer_reference or "",
    }


def _block(text: str | None) -> list[str]:
    """A free-text block as its non-empty lines."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _iban(iban: str | None) -> str:
    if not iban:
        return ""
    compact = "".join(iban.split()).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def is_belgian_seller(state: InvoiceState) -> bool:
    seller = state.seller
    return bool(seller and seller.address and seller.address.country_code == "BE")


def payment_reference(state: InvoiceState) -> str | None:
    """What the payer writes on the transfer (BT-83): for Belgian sellers in EUR the structured
    communication ``+++123/4567/89012+++``, else the invoice number."""
    if state.number is None or state.kind != "invoice":
        return None
    return bt83_reference(state)  # the stored structured communication (or as it was derived)


def _accounting(
    state: InvoiceState, lang: str, t: dict[str, str], label: Callable[[str, Decimal], str]
) -> dict[str, Any] | None:
    """The VAT in the seller's currency for a foreign-currency document (Directive 2006/112/EC
    art. 230; EN 16931 BT-6/BT-111, the same figures as the e-invoice): each group converted
    at the frozen rate, and the total as the sum of those parts."""
    n = state.normalized
    if n is None:
        return None
    fmt = Formatter(lang, n.currency)
    return {
        "heading": t["vat_in_currency"].format(currency=n.currency),
        "rate_note": t["exchange_rate_note"].format(
            from_currency=state.currency,
            rate=fmt.number(n.exchange_rate),
            currency=n.currency,
            date=fmt.date(n.exchange_rate_date),
        ),
        "groups": [
            {
                "label": label(g.category, g.rate),
                "rate": fmt.rate(g.rate),
                "taxable_amount": fmt.money(g.taxable_amount),
                "tax_amount": fmt.money(g.tax_amount),
            }
            for g in n.tax_breakdown
        ],
        "total_label": t["vat_total_in_currency"].format(currency=n.currency),
        "net_total": fmt.money(n.net_total),
        "tax_total": fmt.money(n.tax_total),
    }


def build_view(state: InvoiceState) -> dict[str, Any]:
    """Everything a template may print, formatted for ``state.locale``."""
    lang = state.locale if state.locale in ("de", "en", "fr", "nl") else "en"
    fmt = Formatter(lang, state.currency)
    t = labels(lang)
    seller, buyer = _party(state.seller), _party(state.buyer)
    net_entry = state.calculate_from_net

    lines = []
    for line in sorted(state.lines, key=lambda ln: ln.position):
        discount = ""
        if line.discount is not None and line.discount_amount:
            discount = (
                fmt.rate(line.discount.value)
                if line.discount.type == "percentage"
                else fmt.money(line.discount_amount)
            )
        lines.append(
            {
                "position": str(line.position),
                "description": line.description,
                "subtitle": line.subtitle or "",
                "quantity": fmt.number(line.quantity),
                "unit": unit_label(line.unit, lang),
                "unit_price": fmt.price(line.unit_price),
                "tax_rate": fmt.rate(line.tax_rate),
                "tax_code": line.tax_code,
                "discount": discount,
                "amount": fmt.money(line.amount),
            }
        )

    country = state.seller.address.country_code if state.seller and state.seller.address else None
    tax_point = state.delivery_date or state.service_period_end or state.issue_date
    standard = standard_rate(country, tax_point)
    if standard is None:  # another country: the highest rate of the document is its standard
        standard = max(
            (g.rate for g in state.tax_breakdown if g.category == "standard"), default=None
        )

    def category_label(category: str, rate: Decimal) -> str:
        if category == "standard" and standard is not None and rate < standard:
            return t["cat_reduced"]
        return t.get(f"cat_{category}", category)

    # a small business (§ 19 UStG, art. 56bis) charges no VAT: no VAT columns, no breakdown
    vat_columns = not (state.seller is not None and state.seller.small_business)
    breakdown = [
        {
            "label": category_label(g.category, g.rate),
            "code": g.code,
            "rate": fmt.rate(g.rate),
            "taxable_amount": fmt.money(g.taxable_amount),
            "tax_amount": fmt.money(g.tax_amount),
            "exemption_reason": g.exemption_reason or "",
        }
        for g in state.tax_breakdown
    ]

    accounting = _accounting(state, lang, t, category_label) if vat_columns else None

    totals = state.totals
    is_invoice = state.kind == "invoice"
    open_amount = totals.open_amount if is_invoice else ZERO
    payment: dict[str, Any] = {"show": False}
    if is_invoice:
        reference = payment_reference(state) or ""
        terms = ""
        if totals.open_amount > 0 and state.due_date is not None:
            days = state.payment_terms_days
            if days is None and state.issue_date is not None:
                days = (state.due_date - state.issue_date).days
            terms = (
                t["payment_terms_immediate"]
                if not days
                else t["payment_terms"].format(due_date=fmt.date(state.due_date), days=days)
            )
        elif totals.gross_total > 0 and totals.open_amount == 0:
            terms = t["paid_in_full"]
        qr = ""
        if state.currency == "EUR" and state.seller is not None and state.seller.iban:
            qr = payment_qr(
                name=state.seller.name,
                iban=state.seller.iban,
                bic=state.seller.bic,
                amount=open_amount,
                text=reference or None,
            )
        payment = {
            "show": True,
            "terms": terms,
            "reference": reference,
            "structured": reference.startswith("+++"),
            "qr_svg": qr,
        }

    title = t[state.kind]
    if state.kind == "credit_note" and not state.credited_invoice_number:
        title = t["standalone_credit_note"]
    delivery = ""
    delivery_label = t["delivery_date"]
    if state.service_period_start and state.service_period_end:
        delivery_label = t["service_period"]
        delivery = f"{fmt.date(state.service_period_start)} – {fmt.date(state.service_period_end)}"
    elif state.delivery_date:
        delivery = fmt.date(state.delivery_date)

    credited = None
    if state.kind == "credit_note" and state.credited_invoice_number:
        credited = {
            "text": t["corrects_invoice"].format(
                number=state.credited_invoice_number,
                date=fmt.date(state.credited_invoice_issue_date),
            ),
            "reference": t["of_date"].format(
                number=state.credited_invoice_number,
                date=fmt.date(state.credited_invoice_issue_date),
            ),
            "reason": state.credit_reason or "",
        }
    elif state.kind == "credit_note":  # a credit note that corrects no particular invoice
        credited = {
            "text": t["standalone_credit"],
            "reference": "",
            "reason": state.credit_reason or "",
        }

    discount_label = t["document_discount"]
    if state.discount is not None and state.discount.type == "percentage":
        discount_label = f"{discount_label} {fmt.rate(state.discount.value)}"

    return {
        "lang": lang,
        "kind": state.kind,
        "t": t,
        "title": title,
        "number": state.number or "",
        "draft": state.status == "draft",
        "issue_date": fmt.date(state.issue_date),
        "issue_date_label": {"quote": t["quote_date"], "credit_note": t["credit_note_date"]}.get(
            state.kind, t["issue_date"]
        ),
        "due_date": fmt.date(state.due_date) if is_invoice else "",
        "due_date_label": t["due_date"],
        "valid_until": fmt.date(state.due_date) if state.kind == "quote" else "",
        "quote_validity": (
            t["quote_validity"].format(date=fmt.date(state.due_date))
            if state.kind == "quote" and state.due_date
            else ""
        ),
        "delivery": delivery,
        "delivery_label": delivery_label,
        "purchase_order_number": state.purchase_order_number or "",
        "case_id": state.case_id or "",
        "project_reference": state.project_reference or "",
        "seller": seller,
        "buyer": buyer,
        "net_entry": net_entry,
        "vat_columns": vat_columns,
        "lines": lines,
        "breakdown": breakdown,
        "accounting": accounting,
        "totals": {
            "line_net_total": fmt.money(totals.line_net_total),
            "allowance_total": fmt.money(totals.allowance_total),
            "has_allowance": totals.allowance_total != 0,
            "discount_label": discount_label,
            "net_total": fmt.money(totals.net_total),
            "tax_total": fmt.money(totals.tax_total),
            "gross_total": fmt.money(totals.gross_total),
            "paid": fmt.money(totals.paid_amount),
            "has_paid": is_invoice and totals.paid_amount > 0,
            "credited": fmt.money(totals.credited_amount),
            "has_credited": is_invoice and totals.credited_amount > 0,
            "open_amount": fmt.money(open_amount),
            "has_open": is_invoice and (totals.paid_amount > 0 or totals.credited_amount > 0),
        },
        "legal_notes": document_notes(state),
        "notes": state.notes or "",
        "footer": state.footer or "",
        # per-invoice overrides (seeds 001/002): the subject under the title, the free-text
        # recipient block in the address window instead of the buyer's name and address, the
        # free-text invoicing-party block instead of the seller's address in the letterhead
        # and sender line. The buyer's VAT number and the chosen bank account are in the
        # snapshots already (buyer.vat_id, seller.iban) from finalize.
        "subject": state.subject or "",
        "recipient_block": _block(state.recipient_text),
        "invoicing_party_block": _block(state.invoicing_party_text),
        "payment": payment,
        "credited": credited,
        "meta": {
            "title": f"{title} {state.number or ''}".strip(),
            "author": state.seller.name if state.seller else "",
        },
    }
