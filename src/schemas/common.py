"""Shared types of the public contract: exact money, identifiers, addresses, errors."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from invoicing.domain.countries import is_country
from invoicing.domain.money import is_currency
from invoicing.domain.organization import VAT_ID_HINT
from invoicing.domain.peppol import PEPPOL_ID_HINT, validate_peppol_id
from invoicing.domain.tax import validate_vat_id
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError


def _exact_decimal(value: Any) -> Any:
    """Money and quantities: a JSON number or a decimal string, parsed exactly (never via float)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float):
        raise ValueError("must be a decimal string or an exact JSON number, not a binary float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a decimal number") from exc
        return parsed
    return value


def _finite(value: Decimal) -> Decimal:
    """Finite, within the digits the contract allows, and in the form the databases keep: a
    value in exponent notation (``1E+2``) becomes ``100``, a negative zero zero, so that an
    event repeats it as every read gives it back (before, ``invoice.created`` carried ``1E+2``
    and ``-0`` where ``get_invoice`` gave ``100`` and ``0``: ``models.base.numeric_text``)."""
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value.adjusted() > 14:
        raise ValueError("is too large (at most 15 digits before the decimal point)")
    exponent = value.as_tuple().exponent
    if exponent < -10:  # type: ignore[operator]
        raise ValueError("has too many decimals (at most 10)")
    if exponent > 0:  # type: ignore[operator]
        value = value.quantize(_ONE)
    if value.is_zero() and value.is_signed():
        value = value.copy_abs()
    return value


_ONE = Decimal(1)


Dec = Annotated[Decimal, BeforeValidator(_exact_decimal), AfterValidator(_finite)]
"""An exact decimal: accepts a JSON number or a decimal string."""

PositiveDec = Annotated[Dec, Field(gt=0)]
NonNegativeDec = Annotated[Dec, Field(ge=0)]
Percent = Annotated[Dec, Field(ge=0, le=100)]

#: the integers a JSON reader of every language holds exactly (JavaScript's safe integers,
#: IEEE 754 doubles), and both databases compare and sort as numbers: a custom field's number
#: beyond them is sent as a text. SQLite's JSON keeps integers to 64 bits only; before session
#: 32, 10^20 sorted before 2^63 there and matched no "=" (docs/seed-mapping.md)
MAX_SAFE_INTEGER = 2**53 - 1


def _safe_integer(value: Any) -> Any:
    number = isinstance(value, int) and not isinstance(value, bool)
    if number and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError(
            f"{value} is beyond the safe integers (2^53 - 1 either way); send it as a text"
        )
    return value


#: a value of a union with ``int`` whose integers are safe (one message, not one per branch)
SafeIntegers = BeforeValidator(_safe_integer)


def _currency(value: str) -> str:
    code = value.upper()
    if not is_currency(code):
        raise ValueError(f"{value} is not an ISO 4217 currency in use")
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=3),
    AfterValidator(_currency),
]


def _country(value: str) -> str:
    if not is_country(value):
        raise ValueError(f"{value} is not an ISO 3166-1 country code (e.g. DE, BE)")
    return value


#: the shape of a country code, as stored data is read back (``AddressState``): what a release
#: before the code list check stored must still be read, or no command could touch it again
CountryCodeShape = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]
#: a country code in a command: a code of the EN 16931 list (BR-CL-14)
CountryCode = Annotated[CountryCodeShape, AfterValidator(_country)]
Locale = Annotated[str, StringConstraints(pattern=r"^(de|en|fr|nl)$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=185)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# XML 1.0 (every e-invoice syntax) cannot carry these characters at all, PDF text and email
# headers have no use for them, and a lone surrogate cannot even be encoded as UTF-8. The
# bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069) can
# make text read differently from what it holds (an amount or IBAN shown reversed), so no
# document carries them either.
_UNWRITABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def rule_error(code: str, detail: str, hint: str) -> PydanticCustomError:
    """A domain rule's refusal raised inside validation (a field validator), so that it is
    reported with the schema's other errors in one rejection, under its own ``code`` and
    ``hint`` (pipeline/errors.py reads both from the context)."""
    return PydanticCustomError(code, "{detail}", {"detail": detail, "code": code, "hint": hint})


def _vat_id(value: str) -> str:
    if value:
        try:
            validate_vat_id(value)
        except ValueError as exc:
            raise rule_error("invalid_vat_id", str(exc), VAT_ID_HINT) from exc
    return value


#: a VAT id as sent (the handlers store it normalized): checked here, with the other fields
VatId = Annotated[str, StringConstraints(max_length=20), AfterValidator(_vat_id)]


def _peppol_id(value: str) -> str:
    if value:
        try:
            return validate_peppol_id(value)
        except ValueError as exc:
            raise rule_error("invalid_peppol_id", str(exc), PEPPOL_ID_HINT) from exc
    return value


#: a Peppol participant id ``scheme:identifier`` (BT-34 / BT-49), checked as the Peppol rules
#: check an electronic address (domain.peppol): EAS code list, Belgian enterprise and VAT numbers
PeppolId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100),
    AfterValidator(_peppol_id),
    Field(json_schema_extra={"pattern": r"^(\d{4}:\S{1,50})?$"}),
]


def unwritable_characters(value: Any, pointer: str = "") -> list[tuple[str, str]]:
    """``(JSON pointer, "U+000C")`` for every string in ``value`` (a decoded JSON document)
    holding a character that no invoice document can carry: C0 control characters other than
    tab, line feed and carriage return, the bidirectional embedding/override/isolate controls
    U+202A-U+202E and U+2066-U+2069, lone surrogates, U+FFFE and U+FFFF."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        bad = _UNWRITABLE.search(value)
        if bad is not None:
            found.append((pointer, f"U+{ord(bad.group()):04X}"))
    elif isinstance(value, dict):
        for key, item in value.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            found.extend(unwritable_characters(key, f"{pointer}/{escaped}"))
            found.extend(unwritable_characters(item, f"{pointer}/{escaped}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(unwritable_characters(item, f"{pointer}/{index}"))
    return found


def storable(value: Any) -> Any:
    """``value`` (a JSON document) with every character :func:`unwritable_characters` finds
    written as its escape (``\\u0000``): what a rejection records of the refused input it
    names -- a command type, a pointer made of a key -- must itself be storable (PostgreSQL's
    text and JSON hold no NUL, UTF-8 no lone surrogate)."""
    if isinstance(value, str):
        return _UNWRITABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


class Contract(BaseModel):
    """Base of every public document: unknown fields are errors, documents are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(Contract):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    street_address: Annotated[str, StringConstraints(max_length=200)] | None = None
    additional_line: Annotated[str, StringConstraints(max_length=200)] | None = None
    zip_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    country_code: CountryCode


class ErrorSource(Contract):
    pointer: str


class ErrorItem(Contract):
    """One error, shaped like the seeds' 422 bodies (JSON:API error object)."""

    status: str = Field(examples=["422"])
    code: str = Field(examples=["invalid_attribute"])
    title: str = Field(examples=["Invalid Attribute"])
    detail: str = Field(examples=["can't be blank"])
    source: ErrorSource
    meta: dict[str, str] | None = Field(
        default=None, description="`hint`: what to do about it", examples=[{"hint": "..."}]
    )
