"""Tax categories (EN 16931 UNTDID 5305 codes), default rates and the legally required notes."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from invoicing.texts import has, text
from stdnum import get_cc_module
from stdnum.exceptions import ValidationError as StdnumValidationError


class TaxCategory(StrEnum):
    """The tax treatment of a line; the value is the public name, ``code`` the EN 16931 code."""

    STANDARD = "standard"
    ZERO = "zero"
    EXEMPT = "exempt"
    REVERSE_CHARGE = "reverse_charge"
    INTRA_EU = "intra_eu"
    EXPORT = "export"
    OUTSIDE_SCOPE = "outside_scope"

    @property
    def code(self) -> str:
        return _CODES[self]

    @property
    def needs_zero_rate(self) -> bool:
        return self is not TaxCategory.STANDARD

    @property
    def needs_buyer_vat_id(self) -> bool:
        return self in (TaxCategory.REVERSE_CHARGE, TaxCategory.INTRA_EU)


_CODES = {
    TaxCategory.STANDARD: "S",
    TaxCategory.ZERO: "Z",
    TaxCategory.EXEMPT: "E",
    TaxCategory.REVERSE_CHARGE: "AE",
    TaxCategory.INTRA_EU: "K",
    TaxCategory.EXPORT: "G",
    TaxCategory.OUTSIDE_SCOPE: "O",
}

#: Rates offered out of the box per country (percent).
DEFAULT_RATES: dict[str, tuple[Decimal, ...]] = {
    "DE": (Decimal(19), Decimal(7), Decimal(0)),
    "BE": (Decimal(21), Decimal(12), Decimal(6), Decimal(0)),
}


def legal_note(category: TaxCategory, locale: str) -> str | None:
    """The note (EN 16931 BT-120) a document of ``category`` carries, from the text catalog
    (``legal.<category>``); none for the standard rate."""
    key = f"legal.{category.value}"
    return text(key, locale) if has(key) else None


def small_business_note(country: str, locale: str) -> str:
    """The small-business exemption note (DE § 19 UStG, BE art. 56bis Code TVA)."""
    key = f"legal.small_business.{country}"
    return text(key if has(key) else "legal.small_business.DE", locale)


def validate_vat_id(vat_id: str) -> str:
    """Return the compact form of an EU VAT id, or raise ``ValueError`` saying why.

    The country prefix selects python-stdnum's module (``DE``, ``BE``, ... and ``EL`` for
    Greece); the checksum is verified offline (no VIES look-up here).
    """
    compact = "".join(vat_id.split()).upper().replace("-", "").replace(".", "")
    if len(compact) < 4 or not compact[:2].isalpha():
        raise ValueError(
            f"{vat_id} is not a VAT id: it must start with a country code such as DE or BE"
        )
    cc = compact[:2].lower()
    module_cc = "gr" if cc == "el" else cc
    try:
        module = get_cc_module(module_cc, "vat")
    except ImportError:
        module = None
    if module is None:
        raise ValueError(f"{vat_id} is not a VAT id: unknown country prefix {compact[:2]}")
    try:
        number = str(module.validate(compact))
    except StdnumValidationError as exc:
        raise ValueError(f"{vat_id} is not a valid VAT id ({exc})") from exc
    return number if number[:2].isalpha() else compact[:2] + number


EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
