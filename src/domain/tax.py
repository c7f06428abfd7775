"""Tax categories (EN 16931 UNTDID 5305 codes), default rates and the legally required notes."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

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

#: The note a document must carry for a category (seller country, locale) -> text.
#: EN 16931 BT-120 (exemption reason). Organizations may override them in their settings.
LEGAL_NOTES: dict[TaxCategory, dict[str, str]] = {
    TaxCategory.REVERSE_CHARGE: {
        "de": "Steuerschuldnerschaft des Leistungsempfängers (§ 13b UStG).",
        "en": "Reverse charge: VAT is payable by the recipient (Art. 196 Directive 2006/112/EC).",
        "fr": "Autoliquidation : TVA due par le cocontractant (art. 51, § 2 du Code TVA).",
        "nl": "Btw verlegd: verschuldigd door de medecontractant (art. 51, § 2 W.Btw).",
    },
    TaxCategory.INTRA_EU: {
        "de": "Steuerfreie innergemeinschaftliche Lieferung (§ 4 Nr. 1 Buchst. b, § 6a UStG).",
        "en": "VAT-exempt intra-Community supply (Art. 138 Directive 2006/112/EC).",
        "fr": "Livraison intracommunautaire exonérée (art. 39bis du Code TVA).",
        "nl": "Vrijgestelde intracommunautaire levering (art. 39bis W.Btw).",
    },
    TaxCategory.EXPORT: {
        "de": "Steuerfreie Ausfuhrlieferung (§ 4 Nr. 1 Buchst. a, § 6 UStG).",
        "en": "VAT-exempt export outside the EU (Art. 146 Directive 2006/112/EC).",
        "fr": "Exportation exonérée (art. 39 du Code TVA).",
        "nl": "Vrijgestelde uitvoer (art. 39 W.Btw).",
    },
    TaxCategory.EXEMPT: {
        "de": "Steuerfreie Leistung gemäß § 4 UStG.",
        "en": "VAT exempt supply.",
        "fr": "Opération exonérée de TVA (art. 44 du Code TVA).",
        "nl": "Vrijgestelde handeling (art. 44 W.Btw).",
    },
    TaxCategory.OUTSIDE_SCOPE: {
        "de": "Nicht im Inland steuerbare Leistung.",
        "en": "Outside the scope of VAT.",
        "fr": "Opération hors du champ d'application de la TVA.",
        "nl": "Handeling buiten het toepassingsgebied van de btw.",
    },
    TaxCategory.ZERO: {
        "de": "Umsatzsteuer 0 %.",
        "en": "Zero-rated supply.",
        "fr": "TVA au taux zéro.",
        "nl": "Nultarief.",
    },
}

#: Small-business exemption notes (DE § 19 UStG, BE art. 56bis), used with category ``exempt``.
SMALL_BUSINESS_NOTES: dict[str, dict[str, str]] = {
    "DE": {
        "de": "Gemäß § 19 UStG wird keine Umsatzsteuer berechnet.",
        "en": "No VAT is charged under the small business scheme (§ 19 UStG).",
        "fr": "TVA non applicable (§ 19 UStG, régime des petites entreprises).",
        "nl": "Geen btw aangerekend (§ 19 UStG, kleine ondernemingen).",
    },
    "BE": {
        "de": "Kleinunternehmerregelung: keine MwSt. (Art. 56bis belg. MwStGB).",
        "en": "Small enterprise VAT exemption scheme (Art. 56bis Belgian VAT Code).",
        "fr": "Régime particulier de franchise des petites entreprises.",
        "nl": "Bijzondere vrijstellingsregeling kleine ondernemingen.",
    },
}


def legal_note(category: TaxCategory, locale: str) -> str | None:
    notes = LEGAL_NOTES.get(category)
    if notes is None:
        return None
    return notes.get(locale, notes["en"])


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
