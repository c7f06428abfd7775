"""Subsidiaries: billing entities of one organization (seed 002 ``subsidiary``).

A subsidiary issues invoices in its own name: its seller data (name, address, VAT id, tax
number, registration, bank) replaces the organization's on the documents it issues, and it may
have its own number series, and its own DATEV client (``configure_datev`` with
``subsidiary_id``: a subsidiary with books of its own). Everything else (currency, locale,
terms, dunning, the tax notes) stays the organization's. As pure functions over profiles (plain
dicts) and names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from invoicing.domain.errors import Conflict, DomainError, ErrorDetail, NotFound
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


# ----------------------------------------------------------------------------- DATEV clients

#: the DATEV client of the organization's own books; a subsidiary's own client is keyed by its id
ORGANIZATION_CLIENT = ""


def datev_client(subsidiary_id: str | None, own_clients: Collection[str]) -> str:
    """The DATEV client a document of this issuer is booked in: a subsidiary's own when it has
    DATEV settings of its own (``own_clients``), else the organization's ('') -- a subsidiary
    without them is a branch of the same books (a German branch of the same legal entity)."""
    if subsidiary_id is not None and subsidiary_id in own_clients:
        return subsidiary_id
    return ORGANIZATION_CLIENT


@dataclass(frozen=True)
class DatevScope:
    """What one DATEV export holds: the documents whose issuer is booked in ``client``.

    ``own_clients``: the subsidiaries with DATEV settings of their own, which the
    organization's export leaves out."""

    client: str = ORGANIZATION_CLIENT
    own_clients: frozenset[str] = frozenset()

    @property
    def subsidiary_id(self) -> str | None:
        return self.client or None

    @property
    def leaves_out(self) -> bool:
        """Whether documents of some subsidiaries are not in this export although the
        organization's: its own export while subsidiaries have their own clients."""
        return self.client == ORGANIZATION_CLIENT and bool(self.own_clients)

    @property
    def books_customer_credit(self) -> bool:
        """A customer's unapplied credit is the organization's (it is kept per customer, not per
        issuer): booked in the organization's client only."""
        return self.client == ORGANIZATION_CLIENT

    def holds(self, subsidiary_id: str | None) -> bool:
        """Whether a document of this issuer (None: the organization) belongs in the export."""
        return datev_client(subsidiary_id, self.own_clients) == self.client


def unknown(subsidiary_id: object, pointer: str = "/subsidiary_id") -> NotFound:
    """A command's ``subsidiary_id`` names no subsidiary of the organization."""
    return NotFound(
        "subsidiary_not_found",
        f"subsidiary {subsidiary_id} does not exist",
        pointer=pointer,
        hint="check the id (list_subsidiaries), or send configure_subsidiary first",
    )


def datev_scope(
    subsidiary_id: str | None, *, exists: bool, configured: bool, own_clients: Collection[str]
) -> DatevScope:
    """The scope of ``export_datev`` (``subsidiary_id`` None: the organization's client), or why
    it cannot run: the subsidiary does not exist (``exists``), or the client has no DATEV
    settings (``configured``)."""
    if subsidiary_id is not None and not exists:
        raise unknown(subsidiary_id)
    if not configured and subsidiary_id is not None:
        raise Conflict(
            "datev_not_configured",
            f"subsidiary {subsidiary_id} has no DATEV settings of its own: its documents are "
            "booked in the organization's DATEV client",
            pointer="/subsidiary_id",
            hint="export without subsidiary_id (the organization's export holds its documents), "
            f'or send configure_datev with subsidiary_id "{subsidiary_id}" and its own '
            "Beraternummer, Mandantennummer and accounts to give it a DATEV client of its own",
            title="Not Configured",
        )
    if not configured:
        raise Conflict(
            "datev_not_configured",
            "this organization has no DATEV settings (Beraternummer, Mandantennummer, SKR)",
            hint="send configure_datev first (scope organizations:admin); a subsidiary with a "
            "DATEV client of its own is exported with subsidiary_id",
            title="Not Configured",
        )
    return DatevScope(subsidiary_id or ORGANIZATION_CLIENT, frozenset(own_clients))


def datev_blocked(
    error: DomainError, number: str, subsidiary_id: str | None, scope: DatevScope
) -> DomainError:
    """A document the export's mapping has no account for (``datev_account_missing``): the
    error names the document and its issuer, and the hint what to do in this client. A
    subsidiary booked in the organization's client (no settings of its own) can get its own
    client, where its rates (a Belgian 21 %) are mapped apart from the German books."""
    first = error.errors[0]
    if subsidiary_id is None:
        whose = f"document {number} of the organization"
    else:
        whose = f"document {number} of subsidiary {subsidiary_id}"
    detail = f"{first.detail}: {whose} needs it"
    if first.pointer != "/revenue_accounts":  # no setting maps it (a write-off's account)
        hint = first.hint
    elif scope.client != ORGANIZATION_CLIENT:
        hint = f'{first.hint} and subsidiary_id "{scope.client}" (its own client\'s mapping)'
    elif subsidiary_id is not None:
        hint = (
            f"subsidiary {subsidiary_id} has no DATEV settings of its own, so its documents are "
            "booked in the organization's client: if it keeps books of its own (a subsidiary "
            f'abroad), send configure_datev with subsidiary_id "{subsidiary_id}", its '
            "Beraternummer, Mandantennummer and revenue_accounts for this rate, and export it "
            f'with subsidiary_id "{subsidiary_id}" (the organization\'s export then leaves it '
            f"out); if it is part of the organization's books, {first.hint}"
        )
    else:
        hint = first.hint
    return DomainError.many(
        [ErrorDetail(first.code, detail, first.pointer, first.status, first.title, hint)]
    )


def datev_defaults(profile: Mapping[str, Any]) -> dict[str, Any]:
    """What a subsidiary's own DATEV settings take from it when ``configure_datev`` does not
    say: its country as ``seller_country``, from which the buyers' regions are seen (a Belgian
    subsidiary's Belgian customer is domestic, a German one in another EU country)."""
    country = (profile.get("address") or {}).get("country_code")
    return {"seller_country": str(country).upper()} if country else {}
