"""configure_organization, create_customer, update_customer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from invoicing.domain import calendar, organization, subsidiaries
from invoicing.domain.errors import Conflict, DomainError, ErrorDetail
from invoicing.domain.numbering import Series, default_pattern, numbering_country
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import get_customer, save_organization
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Customer, NumberSeries, Organization, Subsidiary
from invoicing.schemas.commands import (
    BankAccountIn,
    ConfigureOrganization,
    CreateCustomer,
    OrganizationPayload,
    UpdateCustomer,
)
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select


def bank_accounts(given: list[BankAccountIn]) -> list[dict[str, Any]]:
    """Further bank accounts of an organization or subsidiary, checked (IBAN/BIC, ids unique)."""
    errors: list[ErrorDetail] = []
    accounts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, account in enumerate(given):
        if account.id in seen:
            errors.append(
                ErrorDetail(
                    "duplicate_bank_account",
                    f"bank account id {account.id!r} is given twice",
                    f"/bank_accounts/{i}/id",
                )
            )
        seen.add(account.id)
        try:
            number = IBAN(account.iban)
            bic = (
                str(BIC(account.bic)) if account.bic else (str(number.bic) if number.bic else None)
            )
        except SchwiftyException as exc:
            errors.append(
                ErrorDetail(
                    "invalid_iban",
                    f"{account.iban} is not a valid IBAN or BIC ({exc})",
                    f"/bank_accounts/{i}/iban",
                )
            )
            continue
        accounts.append(
            {"id": account.id, "iban": number.compact, "bic": bic, "bank_name": account.bank_name}
        )
    if errors:
        raise DomainError.many(errors)
    return accounts


def _numbering_country(uow: UnitOfWork, org_id: uuid.UUID, country: str) -> str:
    """The profile's ``numbering_country`` (``domain.numbering.numbering_country``): the
    country's defaults until the organization's own series took a number."""
    org = uow.session.get(Organization, org_id)
    previous = (org.profile or {}).get("numbering_country") if org is not None else None
    numbered = uow.session.execute(
        select(NumberSeries.series)
        .where(NumberSeries.organization_id == org_id, NumberSeries.scope == "")
        .limit(1)
    ).first()
    return numbering_country(previous, country, numbered is not None)


def _subsidiary_collisions(
    uow: UnitOfWork, p: OrganizationPayload, org_id: uuid.UUID, today: dt.date, country: str
) -> None:
    """The organization's series (defaults included) must not produce a number a subsidiary's
    own series produces, as configure_subsidiary checks the other way round."""
    given = {k: (s.pattern, s.yearly_reset) for k, s in p.number_series.items()}
    own = {s.value: given.get(s.value, (default_pattern(s, country), True)) for s in Series}
    others = {
        f"subsidiary {row.id} {kind}": (str(v["pattern"]), bool(v.get("yearly_reset", True)))
        for row in uow.session.execute(
            select(Subsidiary).where(Subsidiary.organization_id == org_id)
        ).scalars()
        for kind, v in ((row.profile or {}).get("number_series") or {}).items()
    }
    errors = subsidiaries.series_collisions(own, others, today)
    if errors:
        raise DomainError.many(errors)


@handles(ConfigureOrganization)
def configure_organization(cmd: ConfigureOrganization, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    today = deps.day_in(calendar.zone_of(p.model_dump(include={"timezone", "address"})))
    ids = organization.check_settings(
        vat=p.vat_id,
        iban=p.iban,
        bic=p.bic,
        number_series={k: (s.pattern, s.yearly_reset) for k, s in p.number_series.items()},
        default_tax_rate=p.default_tax_rate,
        country=p.address.country_code,
        extra_tax_rates=[r.model_dump(mode="json") for r in p.extra_tax_rates],
        today=today,
        default_currency=p.default_currency,
    )
    country = _numbering_country(uow, cmd.organization_id, p.address.country_code)
    _subsidiary_collisions(uow, p, cmd.organization_id, today, country)
    profile: dict[str, Any] = p.model_dump(mode="json")
    profile.update({"vat_id": ids.vat_id, "iban": ids.iban, "bic": ids.bic})
    profile["numbering_country"] = country  # whose default series (docs/design.md, "Numbers")
    profile["bank_accounts"] = bank_accounts(p.bank_accounts)
    org, created = save_organization(uow, cmd.organization_id, p.name, profile, deps.now())
    data = {"organization": {"id": str(org.id), "name": org.name, **profile}, "created": created}
    return [Event("organization.configured", str(org.id), data)]


def _customer_data(p: CreateCustomer.Payload | UpdateCustomer.Payload) -> dict[str, Any]:
    vat_id = organization.check_contact(p.email, p.vat_id)
    data = p.model_dump(mode="json", exclude={"id"})
    data["vat_id"] = vat_id
    return data


def _email_taken(uow: UnitOfWork, cmd: CreateCustomer | UpdateCustomer) -> None:
    other = uow.session.execute(
        select(Customer.id).where(
            Customer.organization_id == cmd.organization_id,
            Customer.email_normalized == cmd.payload.email.lower(),
            Customer.id != cmd.payload.id,
        )
    ).scalar_one_or_none()
    if other is not None:
        raise Conflict(
            "email_taken",
            f"{cmd.payload.email} is already used by customer {other}",
            pointer="/email",
            hint="emails are unique per organization (case-insensitive)",
        )


def _customer_event(kind: str, c: Customer) -> Event:
    return Event(
        kind,
        str(c.id),
        {"customer": {"id": str(c.id), "email": c.email, "locale": c.locale, **c.data}},
    )


@handles(CreateCustomer)
def create_customer(cmd: CreateCustomer, uow: UnitOfWork, deps: Deps) -> list[Event]:
    data = _customer_data(cmd.payload)
    if uow.session.get(Customer, (cmd.organization_id, cmd.payload.id)) is not None:
        raise Conflict(
            "customer_exists",
            f"customer {cmd.payload.id} already exists",
            pointer="/id",
            hint="use update_customer to change it",
        )
    _email_taken(uow, cmd)
    c = Customer(
        organization_id=cmd.organization_id,
        id=cmd.payload.id,
        email=cmd.payload.email,
        email_normalized=cmd.payload.email.lower(),
        locale=cmd.payload.locale,
        data=data,
        created_at=deps.now(),
        updated_at=deps.now(),
    )
    uow.session.add(c)
    return [_customer_event("customer.created", c)]


@handles(UpdateCustomer, locks_customer=True)  # its row's UPDATE
def update_customer(cmd: UpdateCustomer, uow: UnitOfWork, deps: Deps) -> list[Event]:
    data = _customer_data(cmd.payload)
    c = get_customer(uow, cmd.organization_id, cmd.payload.id, pointer="/id")
    _email_taken(uow, cmd)
    c.email, c.email_normalized = cmd.payload.email, cmd.payload.email.lower()
    c.locale, c.data, c.updated_at = cmd.payload.locale, data, deps.now()
    return [_customer_event("customer.updated", c)]
