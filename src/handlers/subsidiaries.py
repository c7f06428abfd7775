"""Subsidiaries as billing entities: configure_subsidiary, and the entity a document is issued by.

:func:`entity` gives the handlers what they read an organization for (profile, name, id) with a
subsidiary's seller data in place: a plain ``OrganizationRow`` (no ORM object), so the
finalize, line and numbering rules run unchanged for either issuer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from invoicing.domain import organization, subsidiaries
from invoicing.domain.errors import DomainError
from invoicing.domain.numbering import Series, default_pattern
from invoicing.handlers.organizations import bank_accounts
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import OrganizationRow, get_organization, profile, today_of
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Organization, Subsidiary
from invoicing.models.records import OrganizationRecord
from invoicing.schemas.commands import ConfigureSubsidiary, SubsidiaryPayload
from sqlalchemy import select


@dataclass(frozen=True)
class Entity:
    """Who issues a document: the organization, or one of its subsidiaries."""

    org: OrganizationRecord  # the organization, or a plain row with the subsidiary's profile
    subsidiary_id: str | None = None
    own: dict[str, Any] | None = None  # the subsidiary's stored profile

    def scope(self, series: Series) -> str:
        """The counter of ``series`` this entity numbers from ('' = the organization's)."""
        return subsidiaries.numbering_scope(self.subsidiary_id, self.own or {}, series.value)


def entity(
    uow: UnitOfWork,
    org: OrganizationRecord,
    subsidiary_id: str | None,
    pointer: str = "/subsidiary_id",
) -> Entity:
    if subsidiary_id is None:
        return Entity(org)
    # no autoflush: finalize calls this after it set the content and before the number (a
    # flush in between would freeze the row before its number is written)
    with uow.session.no_autoflush:
        sub = uow.session.get(Subsidiary, (org.id, subsidiary_id))
    if sub is None:
        raise subsidiaries.unknown(subsidiary_id, pointer)
    seller = OrganizationRow(
        id=org.id,
        name=sub.name,
        profile=subsidiaries.seller_profile(profile(org), sub.profile or {}),
        created_at=org.created_at,
        updated_at=org.updated_at,
    )
    return Entity(seller, sub.id, dict(sub.profile or {}))


def issuer_profile(
    uow: UnitOfWork, org: OrganizationRecord, subsidiary_id: str | None
) -> dict[str, Any]:
    """The profile of whoever issues an invoice, as it is now: the organization's, or its
    subsidiary's seller data over it (the subsidiary's email, else the organization's). The
    deliveries read it for what is not part of the frozen document (the email's Reply-To)."""
    return profile(entity(uow, org, subsidiary_id, pointer="/invoice_id").org)


def _series(p: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {
        kind: (str(s["pattern"]), bool(s.get("yearly_reset", True)))
        for kind, s in (p.get("number_series") or {}).items()
    }


def _other_series(uow: UnitOfWork, org: Organization, sub_id: str) -> dict[str, tuple[str, bool]]:
    """Every other series of the organization: its own (defaults included), other subsidiaries'."""
    stored = profile(org)
    own, country = _series(stored), stored.get("numbering_country")
    others = {
        f"organization {s.value}": own.get(s.value, (default_pattern(s, country), True))
        for s in Series
    }
    rows = uow.session.execute(
        select(Subsidiary).where(Subsidiary.organization_id == org.id, Subsidiary.id != sub_id)
    ).scalars()
    for row in rows:
        for kind, value in _series(row.profile or {}).items():
            others[f"subsidiary {row.id} {kind}"] = value
    return others


def _checked_profile(
    uow: UnitOfWork, org: Organization, p: SubsidiaryPayload, today: dt.date
) -> dict[str, Any]:
    """The subsidiary's profile as stored: identifiers normalized, series checked (valid, and
    apart from every other series of the organization), bank accounts checked."""
    stored: dict[str, Any] = p.model_dump(mode="json", exclude={"id", "name"})
    own = _series(stored)
    errors = subsidiaries.series_collisions(own, _other_series(uow, org, p.id), today)
    try:
        ids = organization.check_settings(
            vat=p.vat_id,
            iban=p.iban,
            bic=p.bic,
            number_series=own,
            default_tax_rate=p.default_tax_rate,
            country=p.address.country_code,
            extra_tax_rates=profile(org).get("extra_tax_rates") or [],
            today=today,
        )
    except DomainError as exc:
        raise DomainError.many([*exc.errors, *errors]) from exc
    if errors:
        raise DomainError.many(errors)
    stored.update({"vat_id": ids.vat_id, "iban": ids.iban, "bic": ids.bic})
    stored["bank_accounts"] = bank_accounts(p.bank_accounts)
    return stored


@handles(ConfigureSubsidiary)
def configure_subsidiary(cmd: ConfigureSubsidiary, uow: UnitOfWork, deps: Deps) -> list[Event]:
    org = get_organization(uow, cmd.organization_id)
    p = cmd.payload
    stored = _checked_profile(uow, org, p, today_of(org, deps))
    sub = uow.session.get(Subsidiary, (org.id, p.id), with_for_update=True)
    created = sub is None
    if sub is None:
        sub = Subsidiary(organization_id=org.id, id=p.id, created_at=deps.now())
        uow.session.add(sub)
    sub.name, sub.profile, sub.updated_at = p.name, stored, deps.now()
    data = {"subsidiary": {"id": p.id, "name": p.name, **stored}, "created": created}
    return [Event("subsidiary.configured", p.id, data)]
