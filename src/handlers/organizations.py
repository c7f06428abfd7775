"""configure_organization, create_customer, update_customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from invoicing.domain.contact import normalize_email
from invoicing.domain.errors import Conflict, DomainError, ErrorDetail
from invoicing.domain.numbering import NumberPattern, PatternError
from invoicing.domain.rates import RateRules, extra_periods
from invoicing.domain.tax import validate_vat_id
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Customer, Organization
from invoicing.schemas.commands import (
    ConfigureOrganization,
    CreateCustomer,
    OrganizationPayload,
    UpdateCustomer,
)
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select


def _vat(value: str | None, pointer: str, errors: list[ErrorDetail]) -> str | None:
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
                hint="give the VAT id with its country prefix, e.g. DE136695976",
            )
        )
        return None


def _rate_errors(p: OrganizationPayload, today: dt.date) -> list[ErrorDetail]:
    """The default rate must be a rate of the seller's country today (or one it adds)."""
    if p.default_tax_rate is None or p.default_tax_rate == 0:
        return []
    extra = extra_periods(r.model_dump(mode="json") for r in p.extra_tax_rates)
    try:
        RateRules(p.address.country_code, extra).check(
            p.default_tax_rate, today, "/default_tax_rate"
        )
    except DomainError as exc:
        return list(exc.errors)
    return []


@handles(ConfigureOrganization)
def configure_organization(cmd: ConfigureOrganization, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    errors: list[ErrorDetail] = []
    vat_id = _vat(p.vat_id, "/vat_id", errors)
    iban = bic = None
    if p.iban:
        try:
            iban_obj = IBAN(p.iban)
            iban = iban_obj.compact
            bic = str(BIC(p.bic)) if p.bic else (str(iban_obj.bic) if iban_obj.bic else None)
        except SchwiftyException as exc:
            errors.append(
                ErrorDetail("invalid_iban", f"{p.iban} is not a valid IBAN or BIC ({exc})", "/iban")
            )
    for series, settings in p.number_series.items():
        try:
            NumberPattern(settings.pattern, settings.yearly_reset)
        except PatternError as exc:
            errors.append(
                ErrorDetail("invalid_pattern", str(exc), f"/number_series/{series}/pattern")
            )
    errors += _rate_errors(p, deps.today())
    if errors:
        raise DomainError.many(errors)
    profile: dict[str, Any] = p.model_dump(mode="json")
    profile.update({"vat_id": vat_id, "iban": iban, "bic": bic})
    org = uow.session.get(Organization, cmd.organization_id)
    created = org is None
    if org is None:
        org = Organization(
            id=cmd.organization_id,
            name=p.name,
            profile=profile,
            created_at=deps.now(),
            updated_at=deps.now(),
        )
        uow.session.add(org)
    else:
        org.name = p.name
        org.profile = profile
        org.updated_at = deps.now()
    data = {"organization": {"id": str(org.id), "name": org.name, **profile}, "created": created}
    return [Event("organization.configured", str(org.id), data)]


def _customer_data(p: CreateCustomer.Payload | UpdateCustomer.Payload) -> dict[str, Any]:
    errors: list[ErrorDetail] = []
    if normalize_email(p.email) is None:
        errors.append(ErrorDetail("invalid_attribute", f"{p.email} is not an email", "/email"))
    vat_id = _vat(p.vat_id, "/vat_id", errors)
    if errors:
        raise DomainError.many(errors)
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


@handles(UpdateCustomer)
def update_customer(cmd: UpdateCustomer, uow: UnitOfWork, deps: Deps) -> list[Event]:
    from invoicing.handlers.repository import get_customer

    data = _customer_data(cmd.payload)
    c = get_customer(uow, cmd.organization_id, cmd.payload.id, pointer="/id")
    _email_taken(uow, cmd)
    c.email, c.email_normalized = cmd.payload.email, cmd.payload.email.lower()
    c.locale, c.data, c.updated_at = cmd.payload.locale, data, deps.now()
    return [_customer_event("customer.updated", c)]
