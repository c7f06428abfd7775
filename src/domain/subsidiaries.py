"""Subsidiaries: billing entities of one organization (seed 002 ``subsidiary``).

A subsidiary issues invoices in its own name: its seller data (name, address, VAT id, tax
number, registration, bank) replaces the organization's on the documents it issues, and it may
have its own number series. Everything else (currency, locale, terms, dunning, DATEV, the tax
notes) stays the organization's. As pure functions over profiles (plain dicts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from invoicing.domain.errors import ErrorDetail
from invoicing.domain.numbering import NumberPattern, PatternError

#: the seller's legal identity and bank: the subsidiary's own, never the organization's
IDENTITY = (
    "address",
    "vat_id",
    "tax_number",
    "registration",
    "managing_directors",
    "peppol_id",
    "iban",
    "bic",
    "bank_name",
    "bank_accounts",
    "small_business",
)
#: contact data and the default rate: the subsidiary's when given, else the organization's
FALLBACK = ("email", "phone", "website", "default_tax_rate")
#: numbers a pattern is tried on when two patterns are compared
_SAMPLES = (1, 7, 10, 42, 99, 100, 123, 999, 1000, 4711, 9999, 10000, 123456)


def seller_profile(org: Mapping[str, Any], subsidiary: Mapping[str, Any]) -> dict[str, Any]:
    """The profile a subsidiary's documents are made from: the organization's, with the
    subsidiary's identity, its contact data where given, and its own series where given."""
    merged = dict(org)
    for key in IDENTITY:
        merged[key] = subsidiary.get(key)
    for key in FALLBACK:
        if subsidiary.get(key) is not None:
            merged[key] = subsidiary[key]
    merged["number_series"] = {
        **(org.get("number_series") or {}),
        **(subsidiary.get("number_series") or {}),
    }
    return merged


def numbering_scope(subsidiary_id: str | None, subsidiary: Mapping[str, Any], series: str) -> str:
    """Whose counter numbers a document: the subsidiary's own series when it has one for this
    kind (scope = its id), else the organization's ('')."""
    if subsidiary_id is None or series not in (subsidiary.get("number_series") or {}):
        return ""
    return subsidiary_id


def series_collisions(
    own: Mapping[str, tuple[str, bool]],
    others: Mapping[str, tuple[str, bool]],
    today: dt.date,
) -> list[ErrorDetail]:
    """A subsidiary's own series must not produce numbers another series of the organization
    produces (numbers are unique per organization). ``others`` maps a label (``organization
    invoice``, ``subsidiary x credit_note``) to (pattern, yearly_reset). Checked on sample
    numbers of this year in both directions; the allocation checks each number again."""
    errors: list[ErrorDetail] = []
    for kind, (pattern, reset) in own.items():
        try:
            mine = NumberPattern(pattern, reset)
        except PatternError:
            continue  # reported by the pattern check
        for label, (other_pattern, other_reset) in others.items():
            try:
                other = NumberPattern(other_pattern, other_reset)
            except PatternError:
                continue
            if any(
                other.could_produce(mine.format(n, today))
                or mine.could_produce(other.format(n, today))
                for n in _SAMPLES
            ):
                errors.append(
                    ErrorDetail(
                        "series_collision",
                        f"pattern {pattern} can produce the numbers of the {label} series "
                        f"({other_pattern})",
                        f"/number_series/{kind}/pattern",
                        hint="give the subsidiary's series its own prefix, e.g. BE-{YYYY}-{SEQ:4}",
                    )
                )
    return errors
