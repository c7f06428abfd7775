"""Tax categories (EN 16931 UNTDID 5305 codes), default rates and the legally required notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from invoicing.texts import text
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


def standard_rate(country: str | None, tax_point: dt.date | None) -> Decimal | None:
    """The standard VAT rate of ``country`` on ``tax_point`` (DE: 16 % from 2020-07-01 to
    2020-12-31, else 19 %; BE 21 %); ``None`` for other countries. Lower rates of category
    ``standard`` are reduced rates (DE 7 %/5 %, BE 12 %/6 %)."""
    if country == "DE":
        if tax_point is not None and dt.date(2020, 7, 1) <= tax_point <= dt.date(2020, 12, 31):
            return Decimal(16)
        return Decimal(19)
    if country == "BE":
        return Decimal(21)
    return None


#: Countries whose own law the notes cite; any other seller gets the Directive's wording.
LEGAL_JURISDICTIONS = ("DE", "BE")


def jurisdiction(seller_country: str | None) -> str:
    """Whose law a note cites: the seller's (DE or BE), else the EU Directive (``EU``)."""
    return seller_country if seller_country in LEGAL_JURISDICTIONS else "EU"


@dataclass(frozen=True)
class LegalContext:
    """What chooses a document's legal notes: the SELLER's country (its law applies, in the
    document's language), the small-business scheme, and the organization's own wording
    (``tax_notes``: category name or ``small_business`` -> locale -> text)."""

    seller_country: str | None = None
    small_business: bool = False
    tax_notes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def note_key(self, category: TaxCategory, buyer_country: str | None = None) -> str | None:
        """The catalog key of the note for ``category`` (none for the standard rate)."""
        if category is TaxCategory.STANDARD:
            return None
        law = jurisdiction(self.seller_country)
        if category is TaxCategory.EXEMPT and self.small_business:
            return f"legal.{law}.small_business"
        name = category.value
        if (
            category is TaxCategory.REVERSE_CHARGE
            and buyer_country in EU_COUNTRIES
            and self.seller_country is not None
            and buyer_country != self.seller_country
        ):
            # services to a business in another Member State: art. 196 of the Directive (not
            # to a third country, where art. 196 does not apply)
            name = "reverse_charge_eu"
        return f"legal.{law}.{name}"

    def note(
        self, category: TaxCategory, locale: str, buyer_country: str | None = None
    ) -> str | None:
        """The note (EN 16931 BT-120) in ``locale``: the organization's own wording for the
        category when it has one in that language, else the catalog's text for the seller's
        law."""
        key = self.note_key(category, buyer_country)
        if key is None:
            return None
        override_name = "small_business" if key.endswith(".small_business") else category.value
        own = (self.tax_notes.get(override_name) or {}).get(locale)
        if own:
            return own
        return text(key, locale)


def legal_note(category: TaxCategory, locale: str, seller_country: str | None = None) -> str | None:
    """The catalog's note for ``category`` under the seller's law (none for the standard rate)."""
    return LegalContext(seller_country=seller_country).note(category, locale)


def small_business_note(country: str, locale: str) -> str:
    """The small-business exemption note (DE § 19 UStG, BE art. 56bis Code TVA)."""
    return text(f"legal.{jurisdiction(country)}.small_business", locale)


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
