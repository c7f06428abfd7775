"""Rules for an organization's settings and its customers' contact data, as pure checks.

Each check collects :class:`ErrorDetail` s so one rejection names every bad field; the values
returned are the normalized forms that are stored (VAT id without spaces, compact IBAN, BIC
from the IBAN when none is given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.domain.contact import normalize_email
from invoicing.domain.errors import DomainError, ErrorDetail
from invoicing.domain.numbering import NumberPattern, PatternError
from invoicing.domain.rates import RateRules, extra_periods
from invoicing.domain.tax import validate_vat_id
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

VAT_ID_HINT = "give the VAT id with its country prefix, e.g. DE136695976"


def vat_id(value: str | None, pointer: str, errors: list[ErrorDetail]) -> str | None:
    """The normalized VAT id, or None (empty, or invalid: then an error is added)."""
    if not value:
        return None
    try:
        return validate_vat_id(value)
    except ValueError as exc:
        errors.append(
            ErrorDetail(
                "invalid_vat_id",
                str(exc),
                pointer,
                hint=VAT_ID_HINT,
            )
        )
        return None


def bank_account(
    iban: str | None, bic: str | None, errors: list[ErrorDetail]
) -> tuple[str | None, str | None]:
    """(compact IBAN, BIC): the BIC given, else the one the IBAN's bank code implies."""
    if not iban:
        return None, None
    try:
        parsed = IBAN(iban)
        if bic:
            return parsed.compact, str(BIC(bic))
        return parsed.compact, str(parsed.bic) if parsed.bic else None
    except SchwiftyException as exc:
        errors.append(
            ErrorDetail("invalid_iban", f"{iban} is not a valid IBAN or BIC ({exc})", "/iban")
        )
        return None, None


def pattern_errors(series: Mapping[str, tuple[str, bool]]) -> list[ErrorDetail]:
    """Each number series' (pattern, yearly_reset) must make a valid pattern."""
    errors: list[ErrorDetail] = []
    for name, (pattern, yearly_reset) in series.items():
        try:
            NumberPattern(pattern, yearly_reset)
        except PatternError as exc:
            errors.append(
                ErrorDetail("invalid_pattern", str(exc), f"/number_series/{name}/pattern")
            )
    return errors


def default_rate_errors(
    rate: Decimal | None,
    country: str | None,
    extra_rates: Iterable[Mapping[str, Any]],
    today: dt.date,
) -> list[ErrorDetail]:
    """The default rate must be a rate of the seller's country today (or one it adds)."""
    if rate is None or rate == 0:
        return []
    try:
        RateRules(country, extra_periods(extra_rates)).check(rate, today, "/default_tax_rate")
    except DomainError as exc:
        return list(exc.errors)
    return []


@dataclass(frozen=True)
class Identifiers:
    """The normalized identifiers an organization's profile stores."""

    vat_id: str | None
    iban: str | None
    bic: str | None


#: the national currency of the countries whose law the service applies (domain.tax)
NATIONAL_CURRENCY = {"DE": "EUR", "BE": "EUR"}


def currency_errors(default_currency: str | None, country: str | None) -> list[ErrorDetail]:
    """The organization's currency is the one its documents state the VAT in besides their own
    (``normalized``, BT-6/BT-111, the PDF's "VAT in EUR"). A German or Belgian seller must state
    the VAT in euros whatever currency it invoices in (Directive 2006/112/EC art. 230; § 16
    Abs. 6 UStG), so its organization currency is EUR; invoices in other currencies name their
    ``currency`` (and ``exchange_rate``)."""
    national = NATIONAL_CURRENCY.get(country or "")
    if default_currency is None or national is None or default_currency == national:
        return []
    return [
        ErrorDetail(
            "invalid_attribute",
            f"a {country} organization states VAT in {national}: default_currency must be "
            f"{national}, not {default_currency} (Directive 2006/112/EC art. 230)",
            "/default_currency",
            hint=f"keep default_currency {national} and give invoices in {default_currency} "
            "their currency and exchange_rate",
        )
    ]


def check_settings(
    *,
    vat: str | None,
    iban: str | None,
    bic: str | None,
    number_series: Mapping[str, tuple[str, bool]],
    default_tax_rate: Decimal | None,
    country: str | None,
    extra_tax_rates: Iterable[Mapping[str, Any]],
    today: dt.date,
    default_currency: str | None = None,
) -> Identifiers:
    """All settings checks at once; raises one DomainError listing every failure."""
    errors: list[ErrorDetail] = []
    normalized = vat_id(vat, "/vat_id", errors)
    compact, bic_code = bank_account(iban, bic, errors)
    errors += pattern_errors(number_series)
    errors += default_rate_errors(default_tax_rate, country, extra_tax_rates, today)
    errors += currency_errors(default_currency, country)
    if errors:
        raise DomainError.many(errors)
    return Identifiers(normalized, compact, bic_code)


def check_contact(email: str, vat: str | None) -> str | None:
    """A customer's email must be an address and its VAT id valid; the normalized VAT id."""
    errors: list[ErrorDetail] = []
    if normalize_email(email) is None:
        errors.append(ErrorDetail("invalid_attribute", f"{email} is not an email", "/email"))
    normalized = vat_id(vat, "/vat_id", errors)
    if errors:
        raise DomainError.many(errors)
    return normalized
