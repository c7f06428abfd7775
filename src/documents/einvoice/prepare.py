"""From an :class:`InvoiceState` to the values EN 16931 needs, shared by the CII and UBL builders.

Everything that is a decision (not a plain copy) lives here, so both syntaxes carry the same
content: the net unit price of gross-entry lines, unit codes, the payment reference (Belgian
structured communication), electronic addresses, legal registration ids, notes, exemption
reasons. See docs/einvoice.md for the mapping table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from invoicing import texts
from invoicing.documents.legal import document_notes
from invoicing.domain import payment_reference as ogm_rules
from invoicing.domain.errors import DomainError, ErrorDetail
from invoicing.domain.money import ZERO, minor_units, round_money
from invoicing.schemas.events import InvoiceState, LineState, Party, TaxBreakdown
from invoicing.texts import formatting
from stdnum.be import vat as be_vat

#: EN 16931 BT-3 invoice type codes (UNTDID 1001)
COMMERCIAL_INVOICE = "380"
CREDIT_NOTE = "381"

#: UN/ECE Recommendation 20 unit codes for the free-text units the service accepts
_UNIT_CODES: dict[str, str] = {
    "hour": "HUR",
    "hours": "HUR",
    "h": "HUR",
    "std": "HUR",
    "stunde": "HUR",
    "stunden": "HUR",
    "heure": "HUR",
    "heures": "HUR",
    "uur": "HUR",
    "minute": "MIN",
    "minutes": "MIN",
    "min": "MIN",
    "minuten": "MIN",
    "day": "DAY",
    "days": "DAY",
    "tag": "DAY",
    "tage": "DAY",
    "jour": "DAY",
    "jours": "DAY",
    "dag": "DAY",
    "dagen": "DAY",
    "week": "WEE",
    "weeks": "WEE",
    "woche": "WEE",
    "wochen": "WEE",
    "month": "MON",
    "months": "MON",
    "monat": "MON",
    "monate": "MON",
    "mois": "MON",
    "maand": "MON",
    "maanden": "MON",
    "year": "ANN",
    "years": "ANN",
    "jahr": "ANN",
    "jahre": "ANN",
    "piece": "H87",
    "pieces": "H87",
    "pc": "H87",
    "pcs": "H87",
    "stück": "H87",
    "stk": "H87",
    "pièce": "H87",
    "pièces": "H87",
    "stuk": "H87",
    "stuks": "H87",
    "unit": "C62",
    "units": "C62",
    "each": "C62",
    "flat": "LS",
    "flat rate": "LS",
    "lump sum": "LS",
    "pauschal": "LS",
    "pauschale": "LS",
    "forfait": "LS",
    "km": "KMT",
    "kilometer": "KMT",
    "kilometre": "KMT",
    "kg": "KGM",
    "kilogram": "KGM",
    "m": "MTR",
    "meter": "MTR",
    "m2": "MTK",
    "m²": "MTK",
    "m3": "MTQ",
    "m³": "MTQ",
    "l": "LTR",
    "liter": "LTR",
    "litre": "LTR",
    "page": "QR",
    "pages": "QR",
    "seite": "QR",
    "seiten": "QR",
    "word": "D68",
    "words": "D68",
}
_REC20 = re.compile(r"^[A-Z0-9]{2,3}$")

#: Peppol EAS codes of national VAT numbers (electronic address scheme, BT-34/BT-49)
_VAT_EAS: dict[str, str] = {
    "AT": "9914",
    "BE": "9925",
    "BG": "9926",
    "CY": "9928",
    "CZ": "9929",
    "DE": "9930",
    "EE": "9931",
    "ES": "9920",
    "FR": "9957",
    "GB": "9932",
    "GR": "9933",
    "EL": "9933",
    "HR": "9934",
    "HU": "9910",
    "IE": "9935",
    "IT": "0211",
    "LT": "9937",
    "LU": "9938",
    "LV": "9939",
    "MT": "9943",
    "NL": "9944",
    "PL": "9945",
    "PT": "9946",
    "RO": "9947",
    "SI": "9949",
    "SK": "9950",
    "SM": "9951",
    "TR": "9952",
    "VA": "9953",
}
#: Belgian enterprise number (KBO/BCE) as identifier scheme
BE_ENTERPRISE_EAS = "0208"
#: a Belgian enterprise number inside a registration entry: 0776.057.012, 0776057012, 776057012
_ENTERPRISE_NUMBER = re.compile(r"(?<!\d)[01]?\d{3}[. ]?\d{3}[. ]?\d{3}(?!\d)")
#: VATEX exemption reason codes (BT-121) used when a category needs one
_VATEX: dict[str, str] = {
    "AE": "VATEX-EU-AE",
    "K": "VATEX-EU-IC",
    "G": "VATEX-EU-G",
    "O": "VATEX-EU-O",
}
NO_BUYER_REFERENCE = "N/A"


def plain(value: Decimal) -> str:
    """A decimal without exponent and without trailing zeros (quantities, rates, prices)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def price(value: Decimal, currency: str) -> str:
    """A unit price: the currency's minor units, or more decimals where the price has them."""
    rounded = round_money(value, currency)
    return str(rounded) if rounded == value else plain(value)


def money(value: Decimal, currency: str) -> str:
    """An amount with exactly the currency's minor units (BR-DEC-*)."""
    return str(round_money(value, currency))


#: EN 16931 amounts carry at most two decimals (the CEN rules BR-DEC-01 ... BR-DEC-28)
MAX_DECIMALS = 2


def currency_errors(state: InvoiceState) -> list[ErrorDetail]:
    """Why ``state`` cannot be an EN 16931 e-invoice because of its currencies (empty: it can).

    A currency whose ISO 4217 minor unit has more than two decimals (BHD, IQD, JOD, KWD, LYD,
    OMR, TND: 3; CLF, UYW: 4) has amounts such as 1.235 KWD that BR-DEC-* rejects; rounding
    them to two decimals would make the e-invoice disagree with the invoice itself, so none is
    built (docs/einvoice.md, "Currencies"). The VAT accounting currency (BT-6) likewise."""
    errors: list[ErrorDetail] = []
    for currency, pointer in (
        (state.currency, "/currency"),
        (state.normalized.currency if state.normalized else None, "/normalized_currency"),
    ):
        places = minor_units(currency) if currency else 0
        if places > MAX_DECIMALS:
            errors.extend(
                DomainError(
                    "einvoice_currency_decimals",
                    f"{currency} amounts have {places} decimals (ISO 4217); an EN 16931 "
                    f"e-invoice carries at most {MAX_DECIMALS} (rules BR-DEC-*)",
                    pointer=pointer,
                    hint="invoice in a currency with at most two decimals (e.g. EUR or USD), "
                    "or send this document without an e-invoice (send_invoice with attach_xml "
                    'false, or the customer\'s einvoice_format "none")',
                ).errors
            )
    return errors


def check_currencies(state: InvoiceState) -> None:
    """``DomainError`` (``einvoice_currency_decimals``) when :func:`currency_errors` finds any."""
    errors = currency_errors(state)
    if errors:
        raise DomainError.many(errors)


#: the EN 16931 code of "not subject to VAT" (``TaxCategory.OUTSIDE_SCOPE``)
NOT_SUBJECT = "O"


def not_subject_errors(state: InvoiceState) -> list[ErrorDetail]:
    """Why ``state`` cannot be an e-invoice because it has lines not subject to VAT (category
    O, ``outside_scope``) beside lines of other categories: EN 16931 allows an O breakdown only
    as the document's one breakdown (BR-O-11 to BR-O-14), so no XML of this document can pass
    the rules. Empty when the document is all O or has no O."""
    codes = [line.tax_code for line in state.lines]
    if NOT_SUBJECT not in codes or all(code == NOT_SUBJECT for code in codes):
        return []
    first = codes.index(NOT_SUBJECT)
    others = sorted({line.tax_category for line in state.lines if line.tax_code != NOT_SUBJECT})
    return DomainError(
        "einvoice_not_subject_mixed",
        "EN 16931 carries lines not subject to VAT (outside_scope) only on a document without "
        f"other VAT categories (rules BR-O-11 to BR-O-14); this one also has {', '.join(others)}",
        pointer=f"/lines/{first}/tax_category",
        hint="invoice the items outside the scope of VAT (e.g. disbursements) on a document "
        "of their own, or send this one without an e-invoice (send_invoice with attach_xml "
        'false, or the customer\'s einvoice_format "none")',
    ).errors


def peppol_errors(state: InvoiceState) -> list[ErrorDetail]:
    """Why ``state`` cannot be a Peppol BIS document: the seller or the buyer has no Peppol
    participant id (an EAS scheme and identifier: ``peppol_id``, a Belgian enterprise number, a
    VAT id of a country with an EAS). Peppol refuses the e-mail scheme ``EM`` that other
    formats accept (PEPPOL-EN16931-CL008), and delivers only to participants."""
    errors: list[ErrorDetail] = []
    for party, pointer, who, how in (
        (
            state.seller,
            "/peppol_id",
            "seller",
            "configure_organization with peppol_id, e.g. "
            '"0208:0776057012" (the Belgian enterprise number) or "0088:<GLN>"',
        ),
        (
            state.buyer,
            "/customer_id",
            "customer",
            "update_customer with peppol_id (e.g. "
            '"0208:<enterprise number>", "9930:<German VAT id>") or vat_id, or give the customer '
            "another einvoice_format",
        ),
    ):
        if party is None:
            continue  # prepare() names a missing party
        endpoint = electronic_address(party, seller=who == "seller")
        if endpoint is None or endpoint.scheme in (None, "EM"):
            errors.extend(
                DomainError(
                    "peppol_endpoint_missing"
                    if who == "seller"
                    else "peppol_buyer_endpoint_missing",
                    f"Peppol needs the {who}'s participant id (an EAS scheme and identifier); "
                    f"the {who} has no peppol_id and no VAT id or Belgian enterprise number to "
                    "derive one from",
                    pointer=pointer,
                    hint=how,
                ).errors
            )
    return errors


def einvoice_errors(state: InvoiceState, fmt: str | None) -> list[ErrorDetail]:
    """What is known before the XML is built of why ``state`` cannot be an e-invoice in
    ``fmt`` (one of ``EInvoiceFormat``'s values; None: in any format): its currencies, lines
    not subject to VAT among others, XRechnung's seller contact, Peppol participant ids.
    ``send_invoice`` checks these in the command, so the command is rejected at once instead
    of its delivery failing later; :func:`prepare` checks them first too."""
    errors = currency_errors(state) + not_subject_errors(state)
    if fmt in SAME_SIGN_FORMATS:
        errors += tax_currency_sign_errors(state)
    if fmt in XRECHNUNG_FORMATS:
        errors += seller_contact_errors(state)
    if fmt == "peppol":
        errors += peppol_errors(state)
    return errors


XRECHNUNG_FORMATS = ("xrechnung_cii", "xrechnung_ubl")


def seller_contact_errors(state: InvoiceState) -> list[ErrorDetail]:
    """XRechnung's seller contact needs a telephone number (BR-DE-6) and an e-mail address
    (BR-DE-7). The seller snapshot has the issuer's: a subsidiary's own, else the
    organization's (``domain.subsidiaries.seller_profile``), so when it lacks one neither has
    it. Each missing one names whom to configure: the subsidiary that issues the invoice, or
    the organization."""
    seller = state.seller
    if seller is None:
        return []  # prepare() names a missing party
    sub = state.subsidiary_id
    issuer = f"subsidiary {sub}" if sub else "the organization"
    errors: list[ErrorDetail] = []
    for field, words, rule in (
        ("phone", "telephone number", "BR-DE-6"),
        ("email", "e-mail address", "BR-DE-7"),
    ):
        if getattr(seller, field):
            continue
        where = (
            f"configure_subsidiary {sub} with {field} (or configure_organization with {field}: "
            "a subsidiary without one uses the organization's)"
            if sub
            else f"configure_organization with {field}"
        )
        errors += DomainError(
            "einvoice_seller_contact_missing",
            f"XRechnung needs the seller contact's {words} (rule {rule}); {issuer} has none"
            + (", nor has the organization" if sub else ""),
            pointer="/invoice_id",
            hint=f"{where}, or send this document without an e-invoice (send_invoice with "
            'attach_xml false, or the customer\'s einvoice_format "none")',
        ).errors
    return errors


#: the formats whose rules include PEPPOL-EN16931-R055 (XRechnung takes it over from Peppol
#: BIS; ZUGFeRD's EN 16931 rules do not have it)
SAME_SIGN_FORMATS = ("xrechnung_cii", "xrechnung_ubl", "peppol")


def tax_currency_sign_errors(state: InvoiceState) -> list[ErrorDetail]:
    """A VAT total below zero (BT-110) that is 0.00 in the VAT accounting currency (BT-111:
    less than half a cent there, e.g. -0.70 CHF at 0.0061, or -1 JPY): rule
    PEPPOL-EN16931-R055 wants both below zero or both at zero or above. The figure in the
    accounting currency is what the VAT is worth there, rounded; stating -0.01 instead would
    make the e-invoice disagree with the document, so none is built in those formats."""
    normalized = state.normalized
    if normalized is None or state.totals.tax_total >= 0 or normalized.tax_total < 0:
        return []
    return DomainError(
        "einvoice_tax_currency_sign",
        f"the VAT total {state.totals.tax_total} {state.currency} is {normalized.tax_total} "
        f"{normalized.currency} at the rate {normalized.exchange_rate}; rule "
        "PEPPOL-EN16931-R055 of XRechnung and Peppol BIS wants both VAT totals below zero",
        pointer="/normalized/tax_total",
        hint="send this document as ZUGFeRD, whose rules do not ask for it, or without an "
        "e-invoice (send_invoice with attach_xml false)",
    ).errors


def check_einvoice(state: InvoiceState, fmt: str) -> None:
    """``DomainError`` listing :func:`einvoice_errors`, if any."""
    errors = einvoice_errors(state, fmt)
    if errors:
        raise DomainError.many(errors)


def unit_code(unit: str) -> str:
    """UN/ECE Rec. 20 code of a unit; a code given as such passes, anything else is ``C62``."""
    text = unit.strip()
    if _REC20.match(text):
        return text
    return _UNIT_CODES.get(text.lower(), "C62")


def compact_id(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value).upper()


def belgian_enterprise_number(vat_id: str | None) -> str | None:
    """The KBO/BCE enterprise number (10 digits) of a Belgian VAT id, else ``None``."""
    if not vat_id:
        return None
    compact = compact_id(vat_id)
    if not compact.startswith("BE"):
        return None
    digits = compact[2:]
    if len(digits) == 9:
        digits = "0" + digits
    return digits if len(digits) == 10 and digits.isdigit() else None


def structured_communication(number: str) -> str:
    """Belgian structured communication (OGM/VCS) derived from an invoice number.

    The digits of the number (the last ten when longer, left-padded with zeros) form the
    base; two mod-97 check digits follow (python-stdnum ``be.ogm_vcs``). The result is
    formatted ``+++123/4567/89012+++``. Since migration 0036_payment_reference this is the
    first choice at finalize and the communication of documents finalized before; the stored
    ``InvoiceState.payment_reference`` wins (``domain.payment_reference``).
    """
    return ogm_rules.derive(number)


def payment_reference(state: InvoiceState) -> str:
    """BT-83: for an invoice of a Belgian seller in EUR its structured communication (the one
    stored at finalize; derived from the number for an invoice finalized before it was stored,
    as it was then), else the invoice number."""
    number = state.number or ""
    seller = state.seller
    country = seller.address.country_code if seller and seller.address else None
    if ogm_rules.gets_structured_communication(state.kind, state.currency, country):
        return state.payment_reference or structured_communication(number)
    return number


@dataclass(frozen=True)
class Identifier:
    value: str
    scheme: str | None = None


def registered_enterprise_number(party: Party) -> str | None:
    """The Belgian enterprise number (KBO/BCE) of a party: from its VAT id, else from its
    registration entry ("RPM Bruxelles 0776.057.012") for a Belgian party without a VAT id
    (checked with python-stdnum: the same mod-97 check as the VAT number)."""
    kbo = belgian_enterprise_number(party.vat_id)
    if kbo or not party.registration:
        return kbo
    if party.address is None or party.address.country_code != "BE":
        return None
    for match in _ENTERPRISE_NUMBER.finditer(party.registration):
        digits = re.sub(r"\D", "", match.group())
        digits = digits if len(digits) == 10 else "0" + digits
        if be_vat.is_valid("BE" + digits):
            return digits
    return None


def electronic_address(party: Party, *, seller: bool) -> Identifier | None:
    """BT-34 / BT-49.

    Order: the party's ``peppol_id`` (``scheme:id``; for the seller the organization's
    setting); for Belgian parties the enterprise number under EAS 0208 (from the VAT id or
    the registration entry); the VAT id under its national EAS; the e-mail address (``EM``,
    not accepted by Peppol).
    """
    if party.peppol_id and ":" in party.peppol_id:
        scheme, _, value = party.peppol_id.partition(":")
        return Identifier(value.strip(), scheme.strip())
    kbo = registered_enterprise_number(party)
    if kbo:
        return Identifier(kbo, BE_ENTERPRISE_EAS)
    if party.vat_id:
        compact = compact_id(party.vat_id)
        eas = _VAT_EAS.get(compact[:2])
        if eas:
            return Identifier(compact, eas)
    if party.email:
        return Identifier(party.email, "EM")
    return None


def legal_registration(party: Party) -> Identifier | None:
    """BT-30 / BT-47: the Belgian enterprise number (scheme 0208), else the registration text.

    The registration text is the commercial register entry as configured (e.g.
    "Amtsgericht Köln HRB 12345"); it is sent without a scheme.
    """
    kbo = registered_enterprise_number(party)
    if kbo:
        return Identifier(kbo, BE_ENTERPRISE_EAS)
    if party.registration:
        return Identifier(party.registration)
    return None


def seller_identifier(seller: Party) -> Identifier | None:
    """BT-29, only where BR-CO-26 would otherwise fail: no VAT id and no registration.

    A German small business often has only a Steuernummer (BT-32), which BR-CO-26 does not
    count; the Steuernummer is then also sent as the seller identifier (without scheme).
    """
    if seller.vat_id or seller.registration:
        return None
    if seller.tax_number:
        return Identifier(seller.tax_number)
    return None


@dataclass(frozen=True)
class PreparedLine:
    source: LineState
    position: str  # BT-126
    quantity: Decimal  # BT-129 (negative for credit lines with a negative price)
    unit_code: str  # BT-130
    price: Decimal  # BT-146 net price (never negative, BR-27)
    allowance: Decimal  # BG-27 line allowance (net, as entered), 0 when none
    net: Decimal  # BT-131
    category: str  # BT-151
    rate: Decimal  # BT-152


@dataclass(frozen=True)
class DocumentAllowance:
    """BG-20, one per tax group that carries a share of the document discount."""

    amount: Decimal
    category: str
    rate: Decimal
    reason: str
    percent: Decimal | None


@dataclass(frozen=True)
class TaxGroup:
    category: str  # BT-118
    rate: Decimal  # BT-119
    taxable: Decimal  # BT-116
    tax: Decimal  # BT-117
    exemption_reason: str | None  # BT-120
    exemption_code: str | None  # BT-121


@dataclass(frozen=True)
class Prepared:
    state: InvoiceState
    seller: Party
    buyer: Party
    number: str
    issue_date: dt.date
    type_code: str
    currency: str
    note: str | None
    buyer_reference: str | None  # BT-10 as given (Leitweg-ID, case or project reference)
    payment_reference: str
    payment_terms: str | None
    due_date: dt.date | None
    seller_endpoint: Identifier | None
    buyer_endpoint: Identifier | None
    seller_legal: Identifier | None
    seller_identifier: Identifier | None
    buyer_legal: Identifier | None
    deliver_to_country: str | None
    lines: Sequence[PreparedLine]
    allowances: Sequence[DocumentAllowance]
    groups: Sequence[TaxGroup]
    #: BT-6 and BT-111: the VAT total in the seller's currency for a foreign-currency document
    tax_currency: str | None = None
    tax_total_accounting: Decimal | None = None
    #: BT-113: what the invoice's payments came to when the document is built (0: none)
    prepaid: Decimal = ZERO

    @property
    def due_payable(self) -> Decimal:
        """BT-115 = BT-112 - BT-113 (BR-CO-16; the service sends no rounding amount)."""
        return self.state.totals.gross_total - self.prepaid

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    def amount(self, value: Decimal) -> str:
        return money(value, self.currency)


#: how far quantity x entered price may be from the line's rounded base for the entered price
#: to stand in the e-invoice (Peppol PEPPOL-EN16931-R120 allows 0.02); never exceeded in
#: currencies of two decimals, where the base is rounded to half a cent at most
PRICE_SLACK = Decimal("0.01")


def _net_price(line: LineState, currency: str, from_net: bool) -> tuple[Decimal, Decimal]:
    """(BT-146 price, BG-27 allowance) with quantity x price - allowance within
    ``PRICE_SLACK`` of BT-131. Net entry: the price as entered and the line discount as a line
    allowance, unless the base was rounded further than that (a currency without cents: 1.5 h
    at 12,345 JPY is 18,518 JPY, half a yen from 18,517.5), then the price that gives the
    base back. Gross entry: the net price that gives BT-131 back."""
    if from_net and line.amount == line.net_amount:
        if abs(line.quantity * line.unit_price - line.base_amount) <= PRICE_SLACK:
            return line.unit_price, line.discount_amount
        return _price_for(line.base_amount, line.quantity, currency), line.discount_amount
    return _price_for(line.net_amount, line.quantity, currency), ZERO


def _price_for(amount: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """``amount / quantity`` with the fewest decimals (the currency's, up to six more) for
    which ``round(quantity x price)`` is ``amount`` exactly and ``quantity x price`` within
    ``PRICE_SLACK`` of it (in a currency without cents the first alone allows half a unit);
    else with eight decimals."""
    exact = amount / quantity
    places = minor_units(currency)
    for extra in range(0, 7):
        q = Decimal(1).scaleb(-(places + extra))
        price = exact.quantize(q, rounding=ROUND_HALF_UP)
        product = price * quantity
        if round_money(product, currency) == amount and abs(product - amount) <= PRICE_SLACK:
            return price
    return exact.quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP)


def _lines(state: InvoiceState) -> list[PreparedLine]:
    out = []
    for line in sorted(state.lines, key=lambda ln: ln.position):
        price, allowance = _net_price(line, state.currency, state.calculate_from_net)
        quantity = line.quantity
        if price < 0:  # BR-27: the price is never negative; the quantity carries the sign
            price, quantity = -price, -quantity
        out.append(
            PreparedLine(
                source=line,
                position=str(line.position),
                quantity=quantity,
                unit_code=unit_code(line.unit),
                price=price,
                allowance=allowance,
                net=line.net_amount,
                category=line.tax_code,
                rate=line.tax_rate,
            )
        )
    return out


def _groups(state: InvoiceState) -> list[TaxGroup]:
    out = []
    for tb in state.tax_breakdown:
        reason, code = _exemption(tb)
        out.append(
            TaxGroup(
                category=tb.code,
                rate=tb.rate,
                taxable=tb.taxable_amount,
                tax=tb.tax_amount,
                exemption_reason=reason,
                exemption_code=code,
            )
        )
    return out


def _exemption(tb: TaxBreakdown) -> tuple[str | None, str | None]:
    """BT-120 / BT-121: only for categories that need them (none for S and Z)."""
    if tb.code in ("S", "Z", "L", "M"):
        return None, None
    return tb.exemption_reason, _VATEX.get(tb.code)


def _allowances(state: InvoiceState) -> list[DocumentAllowance]:
    reason = texts.text("einvoice.discount_reason", state.locale)
    percent = (
        state.discount.value
        if state.discount is not None and state.discount.type == "percentage"
        else None
    )
    return [
        DocumentAllowance(
            amount=tb.allowance, category=tb.code, rate=tb.rate, reason=reason, percent=percent
        )
        for tb in state.tax_breakdown
        if tb.allowance != 0
    ]


def _note(state: InvoiceState) -> str | None:
    """BT-22: one note (Peppol R002 allows one): the invoice's subject (seed 002 ``subject``;
    EN 16931 has no subject term), free text, credit reason, legal notes."""
    parts: list[str] = []
    for text in (state.subject, state.notes, state.credit_reason, *document_notes(state)):
        if text and text.strip() and text.strip() not in parts:
            parts.append(text.strip())
    return "\n".join(parts) or None


def _terms(state: InvoiceState, due: dt.date | None) -> str | None:
    if due is None:
        return None
    key = "einvoice.credit_terms" if state.kind == "credit_note" else "einvoice.payment_terms"
    # the date as the document's language writes it, as the PDF prints it (BT-20 is text)
    return texts.text(key, state.locale, date=formatting.date(due, state.locale))


def prepare(state: InvoiceState, fmt: str | None = None) -> Prepared:
    """Check that the document can be an e-invoice (in ``fmt``, one of ``EInvoiceFormat``'s
    values, where given) and derive every EN 16931 value."""
    problems: list[tuple[str, str, str]] = []
    if state.kind == "quote":
        problems.append(("einvoice_not_for_quotes", "a quote is not an invoice", "/invoice_id"))
    if state.status == "draft" or not state.number or state.issue_date is None:
        problems.append(
            ("einvoice_needs_final", "only a finalized document has an e-invoice", "/invoice_id")
        )
    if not state.lines:
        problems.append(("einvoice_no_lines", "an e-invoice needs at least one line", "/lines"))
    if state.seller is None or state.seller.address is None:
        problems.append(("seller_incomplete", "the seller has no address", "/seller"))
    if state.buyer is None or state.buyer.address is None:
        problems.append(("buyer_incomplete", "the customer has no address", "/customer_id"))
    standalone = state.credited_invoice_id is None  # issue_standalone_credit_note: no BG-3
    if state.kind == "credit_note" and not standalone and not state.credited_invoice_number:
        problems.append(
            ("credited_invoice_missing", "a credit note must name its invoice", "/invoice_id")
        )
    errors = [
        DomainError(code, detail, pointer=pointer).errors[0] for code, detail, pointer in problems
    ]
    errors.extend(einvoice_errors(state, fmt))
    if errors:
        raise DomainError.many(errors)
    seller, buyer = state.seller, state.buyer
    assert seller is not None and buyer is not None
    assert state.number is not None and state.issue_date is not None
    # a document not subject to VAT names no VAT id of either party (BR-O-02 to BR-O-04); the
    # participant ids and registrations below are still derived from the full snapshots
    vat_free = bool(state.lines) and state.lines[0].tax_code == NOT_SUBJECT
    shown_seller = seller.model_copy(update={"vat_id": None}) if vat_free else seller
    shown_buyer = buyer.model_copy(update={"vat_id": None}) if vat_free else buyer
    buyer_reference = buyer.buyer_reference or state.case_id or state.project_reference
    has_intra_eu = any(tb.code == "K" for tb in state.tax_breakdown)
    due = state.due_date
    return Prepared(
        state=state,
        seller=shown_seller,
        buyer=shown_buyer,
        number=state.number,
        issue_date=state.issue_date,
        type_code=CREDIT_NOTE if state.kind == "credit_note" else COMMERCIAL_INVOICE,
        currency=state.currency,
        note=_note(state),
        buyer_reference=buyer_reference,
        payment_reference=payment_reference(state),
        payment_terms=_terms(state, due),
        due_date=due,
        seller_endpoint=electronic_address(seller, seller=True),
        buyer_endpoint=electronic_address(buyer, seller=False),
        seller_legal=legal_registration(seller),
        seller_identifier=seller_identifier(seller),
        buyer_legal=legal_registration(buyer),
        deliver_to_country=(
            buyer.address.country_code if has_intra_eu and buyer.address is not None else None
        ),
        lines=_lines(state),
        allowances=_allowances(state),
        groups=_groups(state),
        tax_currency=state.normalized.currency if state.normalized else None,
        tax_total_accounting=state.normalized.tax_total if state.normalized else None,
        prepaid=paid_amount(state),
    )


def paid_amount(state: InvoiceState) -> Decimal:
    """BT-113: the payments recorded against an invoice (a credit note is never paid).

    The PDF built from the same state prints them and the open amount, so the e-invoice says
    them too (BT-115 = BT-112 - BT-113): a ZUGFeRD PDF first rendered after an advance payment
    printed the open amount while the XML inside it asked for the whole gross. Credit notes and
    write-offs are documents and movements of their own, not payments: they stay out of BT-113
    (docs/einvoice.md)."""
    return state.totals.paid_amount if state.kind == "invoice" else ZERO
