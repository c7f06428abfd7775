"""Loading tenant data, always confined to one organization."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

from invoicing.domain import calendar
from invoicing.domain.errors import NotFound
from invoicing.handlers.statements import Statement
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Customer, Invoice, Organization
from invoicing.models.records import CustomerRecord, OrganizationRecord
from sqlalchemy import Table, and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

if TYPE_CHECKING:
    from invoicing.handlers.registry import Deps

T = TypeVar("T")

#: the invoice and its lines in one round trip (a join; the row lock, where one is taken, by a
#: statement before it: :func:`get_invoice`); payments load on first use, and not at all for a
#: draft, which cannot have any
_LOAD = (joinedload(Invoice.lines), lazyload(Invoice.payments))
#: built once: SQLAlchemy memoizes a statement's cache key, so executing it again skips both
#: the construction and the cache-key walk (the compiled form comes from the engine's cache)
_INVOICE = (
    select(Invoice)
    .where(Invoice.organization_id == bindparam("org"), Invoice.id == bindparam("id"))
    .options(*_LOAD)
)
_ORGANIZATION = select(Organization).where(Organization.id == bindparam("id"))
_CUSTOMER = select(Customer).where(
    Customer.organization_id == bindparam("org"), Customer.id == bindparam("id")
)


def _by_key(uow: UnitOfWork, model: type[T], key: tuple[uuid.UUID, ...], stmt: Any) -> T | None:
    """``Session.get`` with a statement built once: the identity map first, else the row."""
    found = uow.session.identity_map.get(uow.session.identity_key(model, key))
    if found is not None:
        return cast(T, found)
    params = dict(zip(("org", "id") if len(key) == 2 else ("id",), key, strict=True))
    return cast(T | None, uow.session.execute(stmt, params).scalar_one_or_none())


def get_organization(uow: UnitOfWork, org_id: uuid.UUID) -> Organization:
    org = _by_key(uow, Organization, (org_id,), _ORGANIZATION)
    if org is None:
        raise _no_organization(org_id)
    return org


def _no_organization(org_id: uuid.UUID) -> NotFound:
    return NotFound(
        "organization_not_configured",
        f"organization {org_id} is not configured",
        pointer="/organization_id",
        hint="send configure_organization first",
    )


@dataclass(frozen=True, slots=True)
class OrganizationRow:
    """An organization as read with SQLAlchemy Core: what the document rules read of it
    (``OrganizationRecord``), without ORM instrumentation or a place in the identity map."""

    id: uuid.UUID
    name: str
    profile: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A customer as read with SQLAlchemy Core (``CustomerRecord``)."""

    id: uuid.UUID
    email: str
    locale: str
    data: dict[str, Any]


_ORGS: Table = Organization.__table__  # type: ignore[assignment]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_ORG_COLUMNS = [_ORGS.c[name] for name in OrganizationRow.__dataclass_fields__]
_CUSTOMER_COLUMNS = [_CUSTOMERS.c[name] for name in CustomerRow.__dataclass_fields__]
_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
#: whether the invoice ``iid`` exists (create_invoice: the id must be new)
_TAKEN = (
    select(_INVOICES.c.id)
    .where(_INVOICES.c.organization_id == _ORGS.c.id, _INVOICES.c.id == bindparam("iid"))
    .exists()
)
#: the row lock on a document alone: what is read with it is read by a statement of its own
#: after it (:func:`get_invoice`)
_LOCK_INVOICE = Statement(
    select(_INVOICES.c.id)
    .where(_INVOICES.c.organization_id == bindparam("org"), _INVOICES.c.id == bindparam("id"))
    .with_for_update()
)
_INVOICE_ID = Statement(
    select(_INVOICES.c.id).where(
        _INVOICES.c.organization_id == bindparam("org"), _INVOICES.c.id == bindparam("iid")
    )
)
#: the organization and (when ``cid`` names one of its customers) that customer, and whether
#: ``iid`` is taken: one round trip
_ORGANIZATION_ROW = Statement(
    select(*_ORG_COLUMNS, *_CUSTOMER_COLUMNS, _TAKEN)
    .select_from(
        _ORGS.outerjoin(
            _CUSTOMERS,
            and_(_CUSTOMERS.c.organization_id == _ORGS.c.id, _CUSTOMERS.c.id == bindparam("cid")),
        )
    )
    .where(_ORGS.c.id == bindparam("org"))
)
_CUSTOMER_ROW = Statement(
    select(*_CUSTOMER_COLUMNS).where(
        _CUSTOMERS.c.organization_id == bindparam("org"), _CUSTOMERS.c.id == bindparam("id")
    )
)
_ORG_WIDTH = len(_ORG_COLUMNS)
_CUSTOMER_END = _ORG_WIDTH + len(_CUSTOMER_COLUMNS)


def organization_row(
    uow: UnitOfWork, org_id: uuid.UUID, customer_id: uuid.UUID | None = None
) -> tuple[OrganizationRecord, CustomerRecord | None]:
    """The organization for the document rules, read with Core (no ORM object), and with it
    the customer ``customer_id`` (None when not given or not found; ``get_customer``'s
    NotFound is the caller's, where it checks the customer). An object of the session's
    identity map wins (it may carry changes not yet flushed), as in ``get_organization``.
    In a batch that changes no organization (``UnitOfWork.organization_rows``) the row read
    by an earlier command of the transaction is used again."""
    kept = uow.organization_rows
    if kept is None or customer_id is not None:
        org, customer, _ = organization_and_new_id(uow, org_id, customer_id, None)
        return org, customer
    found: OrganizationRecord | None = kept.get(org_id)
    if found is None:
        found = organization_and_new_id(uow, org_id, None, None)[0]
        if isinstance(found, OrganizationRow):  # not an ORM object of this command's session
            kept[org_id] = found
    return found, None


def _creates_ahead() -> Statement:
    """``_ORGANIZATION_ROW`` for several creates (PostgreSQL): their keys (organization,
    customer or NULL, invoice) as three binary arrays ``unnest``-ed side by side, each row
    led by its key."""
    keys = (
        func.unnest(
            *(bindparam(n, type_=ARRAY(_INVOICES.c.id.type)) for n in ("orgs", "cids", "iids"))
        )
        .table_valued("org", "cid", "iid")
        .render_derived()
    )
    taken = (
        select(_INVOICES.c.id)
        .where(_INVOICES.c.organization_id == keys.c.org, _INVOICES.c.id == keys.c.iid)
        .exists()
    )
    customer = and_(_CUSTOMERS.c.organization_id == keys.c.org, _CUSTOMERS.c.id == keys.c.cid)
    rows = select(keys.c.org, keys.c.cid, keys.c.iid, *_ORG_COLUMNS, *_CUSTOMER_COLUMNS, taken)
    joined = keys.join(_ORGS, _ORGS.c.id == keys.c.org).outerjoin(_CUSTOMERS, customer)
    return Statement(rows.select_from(joined), binary=("orgs", "cids", "iids"))


_CREATES_AHEAD = _creates_ahead()


def read_creates(
    uow: UnitOfWork, keys: list[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID]]
) -> None:
    """Read ahead, in one statement, what :func:`organization_and_new_id` will read for each
    of ``keys`` (organization, customer, new invoice id) in this transaction: the creates of a
    batch (``registry.PREFETCH``) on PostgreSQL. A key whose organization is missing is left
    to its own read (which reports it)."""
    if uow.dialect != "postgresql":
        return
    orgs, cids, iids = (list(column) for column in zip(*keys, strict=True))
    params = {"orgs": orgs, "cids": cids, "iids": iids}
    found = uow.read_ahead
    for row in _CREATES_AHEAD.rows(uow.connection(), params):
        found["create", row[0], row[1], row[2]] = _org_customer_taken(row[3:])


def _org_customer_taken(row: tuple[Any, ...]) -> tuple[OrganizationRow, CustomerRow | None, bool]:
    customer = CustomerRow(*row[_ORG_WIDTH:_CUSTOMER_END]) if row[_ORG_WIDTH] is not None else None
    return OrganizationRow(*row[:_ORG_WIDTH]), customer, bool(row[_CUSTOMER_END])


def organization_and_new_id(
    uow: UnitOfWork,
    org_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    invoice_id: uuid.UUID | None,
) -> tuple[OrganizationRecord, CustomerRecord | None, bool]:
    """:func:`organization_row` and whether the invoice ``invoice_id`` exists already, in one
    round trip (``create_invoice``: the organization, its customer, the id must be new)."""
    session = uow.session
    org: OrganizationRecord | None = session.identity_map.get(
        session.identity_key(Organization, (org_id,))
    )
    customer: CustomerRecord | None = None
    if customer_id is not None:
        customer = session.identity_map.get(session.identity_key(Customer, (org_id, customer_id)))
    conn = uow.connection()
    if org is not None:
        if customer is None and customer_id is not None:
            customer = customer_row(uow, org_id, customer_id)
        taken = invoice_id is not None and (
            _INVOICE_ID.first(conn, {"org": org_id, "iid": invoice_id}) is not None
        )
        return org, customer, taken
    if customer is None:  # neither in the session: read ahead for the batch, if it was
        ahead = uow.read_ahead.pop(("create", org_id, customer_id, invoice_id), None)
        if ahead is not None:
            return cast(tuple[OrganizationRow, CustomerRow | None, bool], ahead)
    params = {"org": org_id, "cid": customer_id if customer is None else None, "iid": invoice_id}
    row = _ORGANIZATION_ROW.first(conn, params)
    if row is None:
        raise _no_organization(org_id)
    org_row, found, taken = _org_customer_taken(row)
    return org_row, customer or found, taken


def customer_row(
    uow: UnitOfWork, org_id: uuid.UUID, customer_id: uuid.UUID
) -> CustomerRecord | None:
    """The customer read with Core (the session's object if it holds one), or None."""
    session = uow.session
    found: CustomerRecord | None = session.identity_map.get(
        session.identity_key(Customer, (org_id, customer_id))
    )
    if found is not None:
        return found
    row = _CUSTOMER_ROW.first(uow.connection(), {"org": org_id, "id": customer_id})
    return None if row is None else CustomerRow(*row)


def save_organization(
    uow: UnitOfWork, org_id: uuid.UUID, name: str, profile: dict[str, Any], now: dt.datetime
) -> tuple[Organization, bool]:
    """Create or replace the organization's name and profile; (organization, created)."""
    org = uow.session.get(Organization, org_id)
    if org is None:
        org = Organization(id=org_id, name=name, profile=profile, created_at=now, updated_at=now)
        uow.session.add(org)
        return org, True
    org.name, org.profile, org.updated_at = name, profile, now
    return org, False


def get_customer(
    uow: UnitOfWork, org_id: uuid.UUID, customer_id: uuid.UUID, pointer: str = "/customer_id"
) -> Customer:
    customer = _by_key(uow, Customer, (org_id, customer_id), _CUSTOMER)
    if customer is None:
        raise no_customer(customer_id, pointer)
    return customer


def no_customer(customer_id: uuid.UUID, pointer: str = "/customer_id") -> NotFound:
    return NotFound(
        "customer_not_found",
        f"customer {customer_id} does not exist",
        pointer=pointer,
        hint="send create_customer first",
    )


def lock_invoice(uow: UnitOfWork, org_id: uuid.UUID, invoice_id: uuid.UUID) -> bool:
    """Take a document's row lock (SELECT ... FOR UPDATE), in a statement of its own, before
    anything of it is read (docs/design.md, "Locks"); False when there is no such document.
    SQLite runs one writer at a time (BEGIN IMMEDIATE): nothing to lock, True."""
    if uow.dialect != "postgresql":
        return True
    return bool(_LOCK_INVOICE.rows(uow.connection(), {"org": org_id, "id": invoice_id}))


def get_invoice(
    uow: UnitOfWork,
    org_id: uuid.UUID,
    invoice_id: uuid.UUID,
    *,
    pointer: str = "/invoice_id",
    lock: bool = True,
    include_deleted: bool = False,
) -> Invoice:
    """Load a document and its lines, with a row lock on the document where ``lock`` (SELECT
    ... FOR UPDATE on PostgreSQL).

    The lock is taken by a statement of its own, before the document and its lines are read:
    in one statement joining the lines to the locked row, PostgreSQL, having waited for a
    writer of that row, returns the row as the writer left it but the lines as they were when
    the statement began, so a line added meanwhile was missing from what the command computed
    (docs/design.md, "Locks")."""
    if lock:
        lock_invoice(uow, org_id, invoice_id)
    params = {"org": org_id, "id": invoice_id}
    inv = uow.session.execute(_INVOICE, params).unique().scalar_one_or_none()
    if inv is not None and inv.status == "draft" and "payments" not in inv.__dict__:
        set_committed_value(inv, "payments", [])  # payments need a finalized invoice
    if inv is None or (inv.deleted_at is not None and not include_deleted):
        raise NotFound(
            "invoice_not_found",
            f"invoice {invoice_id} does not exist",
            pointer=pointer,
            hint="check the id; it may not have been created yet or may be in the trash",
        )
    return inv


def profile(org: OrganizationRecord) -> dict[str, Any]:
    return dict(org.profile or {})


def today_of(org: OrganizationRecord, deps: Deps) -> dt.date:
    """Today on the organization's calendar (``domain.calendar``): the date a command without
    one takes."""
    return deps.day_in(calendar.zone_of(org.profile or {}))


def organization_zone(uow: UnitOfWork, org_id: uuid.UUID) -> str:
    """The organization's zone (``domain.calendar.zone_of``) for a command that needs no
    organization otherwise: an organization not configured (yet) has UTC's."""
    org = _by_key(uow, Organization, (org_id,), _ORGANIZATION)
    return calendar.zone_of(org.profile or {}) if org is not None else "UTC"


def calendar_of(uow: UnitOfWork, org_id: uuid.UUID, deps: Deps) -> calendar.Calendar:
    """The organization's calendar on the command's clock (an export's filters)."""
    zone = organization_zone(uow, org_id)
    return calendar.Calendar.fixed(zone, deps.day_in(zone))


def calendar_day(uow: UnitOfWork, org_id: uuid.UUID, deps: Deps) -> dt.date:
    """``today_of`` for a command that needs no organization otherwise."""
    return deps.day_in(organization_zone(uow, org_id))


def default_rate(org: OrganizationRecord) -> Decimal | None:
    value = profile(org).get("default_tax_rate")
    return None if value is None else Decimal(str(value))


def customer_party(customer: CustomerRecord) -> dict[str, Any]:
    """The buyer snapshot printed on the document."""
    d = dict(customer.data)
    person = " ".join(p for p in (d.get("given_name"), d.get("family_name")) if p)
    name = d.get("company") or person or customer.email
    return {
        "id": str(customer.id),
        "name": name,
        "company": d.get("company"),
        "given_name": d.get("given_name"),
        "family_name": d.get("family_name"),
        "email": customer.email,
        "phone": d.get("phone") or d.get("mobile"),
        "address": d.get("address"),
        "vat_id": d.get("vat_id"),
        "buyer_reference": d.get("buyer_reference"),
        "peppol_id": d.get("peppol_id"),
        "locale": customer.locale,
        "einvoice_format": d.get("einvoice_format"),
        "customer_type": d.get("customer_type"),
    }


def seller_party(org: OrganizationRecord) -> dict[str, Any]:
    p = profile(org)
    keys = (
        "vat_id",
        "tax_number",
        "registration",
        "managing_directors",
        "email",
        "phone",
        "website",
        "iban",
        "bic",
        "bank_name",
        "address",
        "peppol_id",
    )
    party: dict[str, Any] = {"id": str(org.id), "name": org.name}
    party.update({k: p.get(k) for k in keys})
    party["small_business"] = bool(p.get("small_business"))
    party["locale"] = p.get("default_locale")
    if p.get("timezone"):  # the calendar the document's days follow (views._sent_on)
        party["timezone"] = p["timezone"]
    return party
