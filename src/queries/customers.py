"""Customer reads: one customer, and lists by email, fuzzy search and custom fields."""

from __future__ import annotations

import re
from typing import Any

from invoicing.domain.errors import NotFound
from invoicing.models import Customer
from invoicing.queries.common import (
    by_code_point,
    contains,
    dialect_of,
    lower_text,
    order_terms,
    paginate,
)
from invoicing.queries.filters import custom_field_condition
from invoicing.schemas.queries import (
    CustomerFilter,
    CustomerList,
    CustomerResult,
    CustomerView,
    GetCustomer,
    ListCustomers,
)
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

_PHONE_SEPARATORS = (" ", "-", "/", ".", "(", ")", "+")
_PHONE_LIKE = re.compile(r"^[\d\-/.()+]+$")


def customer_view(c: Customer) -> CustomerView:
    d: dict[str, Any] = dict(c.data or {})
    person = " ".join(p for p in (d.get("given_name"), d.get("family_name")) if p)
    return CustomerView(
        id=c.id,
        email=c.email,
        locale=c.locale,
        name=d.get("company") or person or c.email,
        given_name=d.get("given_name"),
        family_name=d.get("family_name"),
        company=d.get("company"),
        phone=d.get("phone"),
        mobile=d.get("mobile"),
        address=d.get("address"),
        vat_id=d.get("vat_id"),
        customer_type=d.get("customer_type"),
        buyer_reference=d.get("buyer_reference"),
        peppol_id=d.get("peppol_id"),
        einvoice_format=d.get("einvoice_format"),
        custom_fields=dict(d.get("custom_fields") or {}),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def _field(name: str) -> ColumnElement[Any]:
    return func.coalesce(Customer.data[name].as_string(), "")


def sort_name() -> ColumnElement[Any]:
    person = func.trim(_field("given_name").concat(" ").concat(_field("family_name")))
    return lower_text(
        func.coalesce(
            func.nullif(Customer.data["company"].as_string(), ""),
            func.nullif(person, ""),
            Customer.email,
        )
    )


def _digits_only(column: ColumnElement[Any]) -> ColumnElement[Any]:
    for sep in _PHONE_SEPARATORS:
        column = func.replace(column, sep, "")
    return column


def _search_word(word: str) -> ColumnElement[bool]:
    options: list[ColumnElement[bool]] = [
        contains(_field("company"), word),
        contains(_field("given_name"), word),
        contains(_field("family_name"), word),
        contains(Customer.email, word),
        contains(_field("phone"), word),
        contains(_field("mobile"), word),
    ]
    digits = re.sub(r"\D", "", word)
    if len(digits) >= 3 and _PHONE_LIKE.match(word):
        options.append(contains(_digits_only(_field("phone")), digits))
        options.append(contains(_digits_only(_field("mobile")), digits))
    return or_(*options)


def customer_conditions(f: CustomerFilter, dialect: str) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if f.email:
        c.append(Customer.email_normalized == f.email.lower())
    if f.search:
        c += [_search_word(word) for word in f.search.split()]
    c += [
        custom_field_condition(cf, Customer.data, ("custom_fields",), dialect)
        for cf in f.custom_fields
    ]
    return c


def get_customer(query: GetCustomer, session: Session) -> CustomerResult:
    c = session.get(Customer, (query.organization_id, query.payload.customer_id))
    if c is None:
        raise NotFound(
            "customer_not_found",
            f"customer {query.payload.customer_id} does not exist",
            pointer="/customer_id",
        )
    return CustomerResult(customer=customer_view(c))


def list_customers(query: ListCustomers, session: Session) -> CustomerList:
    p = query.payload
    dialect = dialect_of(session)
    stmt = select(Customer).where(
        Customer.organization_id == query.organization_id,
        *customer_conditions(p.filter, dialect),
    )
    columns: dict[str, Any] = {
        "name": by_code_point(sort_name(), dialect),
        "email": by_code_point(Customer.email_normalized, dialect),
        "created_at": Customer.created_at,
        "updated_at": Customer.updated_at,
    }
    stmt = stmt.order_by(*order_terms(list(p.sort), columns, Customer.id))
    rows, info = paginate(session, stmt, p.page, p.page_size)
    return CustomerList(items=[customer_view(row[0]) for row in rows], page=info)
