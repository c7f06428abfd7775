"""Which DATEV client books a document, what an export holds, and its refusals
(``domain.subsidiaries``: pure rules, no database)."""

from __future__ import annotations

import pytest
from invoicing.domain.errors import Conflict, DomainError, NotFound
from invoicing.domain.subsidiaries import (
    ORGANIZATION_CLIENT,
    DatevScope,
    datev_blocked,
    datev_client,
    datev_defaults,
    datev_scope,
)

OWN = frozenset({"sub-be"})


def test_a_subsidiary_is_booked_in_its_own_client_only_when_it_has_one() -> None:
    assert datev_client(None, OWN) == ORGANIZATION_CLIENT
    assert datev_client("sub-berlin", OWN) == ORGANIZATION_CLIENT  # a branch of the same books
    assert datev_client("sub-be", OWN) == "sub-be"
    assert datev_client("sub-be", frozenset()) == ORGANIZATION_CLIENT


def test_the_organizations_export_holds_itself_and_the_branches_a_subsidiarys_only_its_own() -> (
    None
):
    org = DatevScope(ORGANIZATION_CLIENT, OWN)
    assert org.holds(None) and org.holds("sub-berlin") and not org.holds("sub-be")
    assert org.leaves_out and org.books_customer_credit and org.subsidiary_id is None
    be = DatevScope("sub-be", OWN)
    assert be.holds("sub-be") and not be.holds(None) and not be.holds("sub-berlin")
    assert not be.leaves_out and not be.books_customer_credit and be.subsidiary_id == "sub-be"
    alone = DatevScope()
    assert alone.holds(None) and alone.holds("sub-berlin") and not alone.leaves_out


def test_the_scope_of_an_export_or_why_it_cannot_run() -> None:
    scope = datev_scope(None, exists=True, configured=True, own_clients=["sub-be"])
    assert scope == DatevScope(ORGANIZATION_CLIENT, OWN)
    scope = datev_scope("sub-be", exists=True, configured=True, own_clients=["sub-be"])
    assert scope == DatevScope("sub-be", OWN)
    with pytest.raises(NotFound) as missing:
        datev_scope("x", exists=False, configured=False, own_clients=[])
    (e,) = missing.value.errors
    assert (e.code, e.pointer, e.status) == ("subsidiary_not_found", "/subsidiary_id", "404")
    with pytest.raises(Conflict) as branch:
        datev_scope("sub-berlin", exists=True, configured=False, own_clients=["sub-be"])
    (e,) = branch.value.errors
    assert (e.code, e.pointer, e.status) == ("datev_not_configured", "/subsidiary_id", "409")
    assert "export without subsidiary_id" in e.hint
    assert 'configure_datev with subsidiary_id "sub-berlin"' in e.hint
    with pytest.raises(Conflict) as org:
        datev_scope(None, exists=True, configured=False, own_clients=["sub-be"])
    (e,) = org.value.errors
    assert (e.code, e.pointer) == ("datev_not_configured", "")
    assert "send configure_datev first" in e.hint


def _missing() -> DomainError:
    return DomainError(
        "datev_account_missing",
        "no DATEV revenue account is configured for tax category standard at 21 % (eu)",
        pointer="/revenue_accounts",
        hint="add a revenue_accounts entry with configure_datev",
    )


def test_a_blocked_export_names_the_document_its_issuer_and_the_way_out() -> None:
    org = DatevScope()
    (e,) = datev_blocked(_missing(), "BE-2025-0001", "sub-be", org).errors
    assert e.code == "datev_account_missing" and e.pointer == "/revenue_accounts"
    assert e.detail.endswith(": document BE-2025-0001 of subsidiary sub-be needs it")
    assert 'send configure_datev with subsidiary_id "sub-be"' in e.hint
    assert "add a revenue_accounts entry with configure_datev" in e.hint  # the other way
    (e,) = datev_blocked(_missing(), "RE-2025-001", None, org).errors
    assert e.detail.endswith(": document RE-2025-001 of the organization needs it")
    assert e.hint == "add a revenue_accounts entry with configure_datev"
    (e,) = datev_blocked(_missing(), "BE-2025-0001", "sub-be", DatevScope("sub-be", OWN)).errors
    assert e.hint == (
        'add a revenue_accounts entry with configure_datev and subsidiary_id "sub-be" '
        "(its own client's mapping)"
    )
    by_hand = DomainError(
        "datev_account_missing", "no account", pointer="/date_from", hint="book it by hand"
    )
    for scope in (DatevScope("sub-be", OWN), DatevScope()):  # no client's setting maps it
        (e,) = datev_blocked(by_hand, "BE-1", "sub-be", scope).errors
        assert e.hint == "book it by hand" and e.detail.endswith("subsidiary sub-be needs it")


def test_a_subsidiarys_client_sees_its_buyers_from_its_own_country() -> None:
    assert datev_defaults({"address": {"country_code": "be"}}) == {"seller_country": "BE"}
    assert datev_defaults({}) == {}
