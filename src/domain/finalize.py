"""What a document needs before it can be numbered (§ 14 UStG, EN 16931), as pure rules.

The handler (``handlers.lifecycle.prepare_finalize``) loads the document, the organization's
profile and the buyer snapshot, and hands plain values to these functions; every failure is an
:class:`ErrorDetail` so one rejection lists all that is missing. Nothing here touches the
database or the ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.domain.errors import DomainError, ErrorDetail
from invoicing.domain.rates import RateRules, check_rates
from invoicing.domain.tax import EU_COUNTRIES, TaxCategory

_POINTER = "/invoice_id"


@dataclass(frozen=True)
class Document:
    """The parts of a draft the finalize checks look at."""

    kind: str
    currency: str
    line_count: int
    has_customer: bool
    normalized_currency: str | None = None
    exchange_rate: Decimal | None = None
    #: a credit note of no invoice: issued in one command (issue_standalone_credit_note), so
    #: its errors point at that command's fields, not at a draft to update
    standalone: bool = False


def completeness(doc: Document, seller: Mapping[str, Any]) -> list[ErrorDetail]:
    """Lines, a customer, the seller's tax id, and an exchange rate for a foreign currency.

    ``seller`` is the organization's profile (``vat_id``, ``tax_number``).
    """
    errors: list[ErrorDetail] = []
    if doc.line_count == 0:
        errors.append(
            ErrorDetail(
                "no_lines", "an invoice needs at least one line", _POINTER, hint="add_line first"
            )
        )
    if not doc.has_customer:
        errors.append(
            ErrorDetail(
                "invalid_attribute",
                "customer can't be blank",
                _POINTER,
                hint="update_invoice with customer_id",
            )
        )
    if not (seller.get("vat_id") or seller.get("tax_number")):
        errors.append(
            ErrorDetail(
                "seller_tax_id_missing",
                "the organization has neither VAT id nor tax number (§ 14 Abs. 4 Nr. 2 UStG)",
                "/organization_id",
                hint="configure_organization with vat_id or tax_number",
            )
        )
    if doc.normalized_currency and doc.exchange_rate is None:
        what = "credit note" if doc.kind == "credit_note" else "invoice"
        errors.append(
            ErrorDetail(
                "invalid_attribute",
                f"exchange_rate can't be blank for a "
                f"{doc.currency} {what} of a {doc.normalized_currency} "
                "organization",
                "/exchange_rate" if doc.standalone else _POINTER,
                hint=(
                    f"send exchange_rate: {doc.normalized_currency} per 1 {doc.currency}"
                    if doc.standalone
                    else "update_invoice with exchange_rate"
                ),
            )
        )
    return errors


def buyer_checks(
    buyer: Mapping[str, object], tax_categories: Iterable[str], pointer: str = _POINTER
) -> list[ErrorDetail]:
    """The buyer snapshot needs an address, and a VAT id for reverse charge / intra-EU lines;
    ``pointer``: where the customer is named."""
    errors: list[ErrorDetail] = []
    if not buyer.get("address"):
        errors.append(
            ErrorDetail(
                "buyer_address_missing",
                "the customer has no billing address",
                pointer,
                hint="update_customer with an address",
            )
        )
    needs_vat = [TaxCategory(c) for c in tax_categories if TaxCategory(c).needs_buyer_vat_id]
    if needs_vat and not buyer.get("vat_id"):
        errors.append(
            ErrorDetail(
                "buyer_vat_id_missing",
                f"tax category {needs_vat[0].value} requires the customer's VAT id",
                pointer,
                hint="update_customer with vat_id",
            )
        )
    return errors


def _country(party: Mapping[str, Any]) -> object:
    address = party.get("address")
    return address.get("country_code") if isinstance(address, Mapping) else None


def seller_vat_checks(
    seller: Mapping[str, Any], buyer: Mapping[str, object], tax_categories: Iterable[str]
) -> list[ErrorDetail]:
    """A supply to a business in another Member State needs the SELLER's VAT id on the
    invoice, beside the buyer's: an intra-Community supply of goods (§ 14a Abs. 3 UStG; Art.
    226 Nr. 3 Directive 2006/112/EC; BR-IC-02) and a service under reverse charge to a buyer
    in another country (§ 14a Abs. 1 UStG). A tax number (Steuernummer) does not do there."""
    if seller.get("vat_id"):
        return []
    categories = {TaxCategory(c) for c in tax_categories}
    seller_country, buyer_country = _country(seller), _country(buyer)
    cross_border_rc = (
        TaxCategory.REVERSE_CHARGE in categories
        and buyer_country in EU_COUNTRIES
        and seller_country is not None
        and buyer_country != seller_country
    )
    if TaxCategory.INTRA_EU not in categories and not cross_border_rc:
        return []
    what = "intra_eu" if TaxCategory.INTRA_EU in categories else "reverse_charge"
    return [
        ErrorDetail(
            "seller_vat_id_missing",
            f"tax category {what} to a business in another Member State requires the "
            "organization's VAT id on the invoice (§ 14a UStG, Art. 226 Nr. 3 Directive "
            "2006/112/EC); a tax number does not suffice",
            "/organization_id",
            hint="configure_organization with vat_id",
        )
    ]


def check_complete(
    doc: Document,
    seller: Mapping[str, Any],
    buyer: Mapping[str, object] | None,
    tax_categories: Iterable[str],
) -> None:
    """All of the above at once; ``buyer`` is None when the document has no customer."""
    errors = completeness(doc, seller)
    if buyer is not None:
        categories = list(tax_categories)
        errors += buyer_checks(buyer, categories, "/customer_id" if doc.standalone else _POINTER)
        errors += seller_vat_checks(seller, buyer, categories)
    if errors:
        raise DomainError.many(errors)


@dataclass(frozen=True)
class Dates:
    issue_date: dt.date
    payment_terms_days: int
    due_date: dt.date
    delivery_date: dt.date | None
    #: the delivery date is the issue date this finalize filled in (none was given)
    delivery_date_defaulted: bool = False


def dates(
    *,
    requested: dt.date | None,
    issue_date: dt.date | None,
    today: dt.date,
    payment_terms_days: int | None,
    default_terms_days: int,
    due_date: dt.date | None,
    delivery_date: dt.date | None,
    has_service_period: bool,
    is_quote: bool = False,
) -> Dates:
    """Issue date (the command's, else the draft's, else today), payment terms (else the
    organization's default), due date (issue date + terms unless given, never before the issue
    date) and delivery date (Leistungsdatum = Rechnungsdatum unless a date or period is given).

    A quote offers a supply still to come: it gets no delivery date unless one is given (its
    own date is no Leistungsdatum, and an invoice made of it with ``duplicate_invoice`` would
    carry it on)."""
    issued = requested or issue_date or today
    terms = default_terms_days if payment_terms_days is None else payment_terms_days
    due = due_date if due_date is not None else issued + dt.timedelta(days=terms)
    if due < issued:
        raise DomainError("invalid_attribute", "due_date is before issue_date", pointer="/due_date")
    if delivery_date is None and not has_service_period and not is_quote:
        return Dates(issued, terms, due, issued, delivery_date_defaulted=True)
    return Dates(issued, terms, due, delivery_date)


def copied_delivery_date(
    delivery_date: dt.date | None, defaulted: bool, *, same_supply: bool
) -> tuple[dt.date | None, bool]:
    """The delivery date (and whether finalize filled it in) of a draft copied from a document.

    ``duplicate_invoice`` makes a new supply: it carries only a date the user set, never the
    one finalize filled in with the source's issue date (the copy's own finalize gives it its
    own). ``change_recipient`` (``same_supply``) bills the supply of the invoice it replaces to
    another recipient: the supply took place when it did, so the date stays, filled in or not,
    and stays marked as filled in (a duplicate of the replacement drops it again)."""
    if defaulted and not same_supply:
        return None, False
    return delivery_date, defaulted


def check_rates_on(rules: RateRules, lines: Sequence[tuple[str, Decimal]], day: dt.date) -> None:
    """Every standard rate must be valid on the tax point date in the seller's country.

    ``lines`` are (tax category, rate) in position order; all failures at once, each naming
    its line ("line 3").
    """
    standard = TaxCategory.STANDARD.value
    rates = [(r, f"line {i + 1}") for i, (c, r) in enumerate(lines) if c == standard]
    failures = check_rates(rules, rates, day)
    if failures:
        raise DomainError.many(
            [
                ErrorDetail(
                    e.code,
                    f"{e.pointer}: {e.detail}",
                    _POINTER,
                    hint=f"{e.hint}; update_invoice with the line's tax_rate or delivery_date",
                )
                for f in failures
                for e in f.errors
            ]
        )


def check_total(kind: str, gross_total: Decimal, currency: str, *, allow_negative: bool) -> None:
    """A negative invoice is a credit note in disguise (docs/arithmetic.md)."""
    if kind == "invoice" and gross_total < 0 and not allow_negative:
        raise DomainError(
            "negative_total",
            f"the invoice totals {gross_total} {currency}; an invoice cannot be negative",
            pointer=_POINTER,
            hint="issue_credit_note against the invoice you are correcting instead, or set "
            "allow_negative_totals with configure_organization",
        )
