"""publish_invoice / unpublish_invoice and the hosted page's lookup (``web.shares.resolve``), on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from invoicing.domain import calendar
from invoicing.models.dunning import InvoiceShare
from invoicing.web import shares
from sqlalchemy import select

from tests.support.client import Client, line

pytestmark = pytest.mark.integration


def resolve(client: Client, token: str, today: dt.date | None = None) -> dict[str, object] | None:
    """The document the hosted page opens for ``token`` (``web.shares.resolve``), or None;
    ``today`` a fixed day, else today on the organization's calendar."""

    def day(zone: str) -> dt.date:
        return today or calendar.local_day(dt.datetime.now(dt.UTC), zone)

    with client.bus.uow_factory() as uow:
        found = shares.resolve(uow.session, token, day)
        assert (found.state is None) == (found.status != "open")
        return None if found.state is None else found.state.model_dump(mode="json")


def test_publish_finalizes_a_draft_and_the_token_opens_it(client: Client) -> None:
    cust = client.customer()
    draft = client.invoice(cust, [line()])
    out = client.ok("publish_invoice", {"invoice_id": str(draft)})
    assert [e["type"] for e in out.events] == [
        "invoice.finalized",
        "invoice.sent",
        "invoice.published",
    ]
    assert out.events[1]["data"]["channel"] == "share_link"
    published = out.events[-1]["data"]
    token = published["share_token"]
    assert isinstance(token, str) and len(token) >= 43  # 32 random bytes, url-safe
    assert published["invoice"]["status"] == "sent" and published["invoice"]["number"]
    sha = hashlib.sha256(token.encode()).hexdigest()
    assert published["token_sha256"] == sha

    # only the hash is stored
    with client.bus.uow_factory() as uow:
        rows = (
            uow.session.execute(
                select(InvoiceShare).where(InvoiceShare.organization_id == client.org)
            )
            .scalars()
            .all()
        )
        assert [r.token_sha256 for r in rows] == [sha]
        assert token not in repr([vars(r) for r in rows])

    state = resolve(client, token)
    assert state is not None and state["id"] == str(draft) and state["status"] == "sent"
    assert resolve(client, sha) is None  # the stored hash opens nothing
    assert resolve(client, token[:-1]) is None
    assert resolve(client, "") is None and resolve(client, "x" * 1000) is None


def test_republish_rotates_and_unpublish_revokes_but_keeps_it_finalized(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line()])
    first = client.ok("publish_invoice", {"invoice_id": inv["id"]}).events
    assert [e["type"] for e in first] == ["invoice.sent", "invoice.published"]
    old = first[-1]["data"]["share_token"]
    second = client.ok("publish_invoice", {"invoice_id": inv["id"]}).events
    assert [e["type"] for e in second] == ["invoice.published"]  # already sent: no second send
    new = second[-1]["data"]["share_token"]
    assert new != old and second[-1]["data"]["revoked_previous"] == 1
    assert resolve(client, old) is None
    assert resolve(client, new) is not None

    out = client.ok("unpublish_invoice", {"invoice_id": inv["id"]})
    assert [e["type"] for e in out.events] == ["invoice.unpublished"]
    data = out.events[0]["data"]
    assert data["revoked"] == 1
    assert data["invoice"]["status"] == "sent"  # never back to draft
    assert data["invoice"]["number"] == inv["number"]
    assert resolve(client, new) is None
    errors = client.rejected("unpublish_invoice", {"invoice_id": inv["id"]})
    assert errors[0]["code"] == "not_published"


def test_expiry_void_and_other_organizations(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line()])
    out = client.ok("publish_invoice", {"invoice_id": inv["id"], "expires_on": "2030-01-31"})
    token = out.events[-1]["data"]["share_token"]
    assert resolve(client, token, today=dt.date(2030, 1, 31)) is not None
    assert resolve(client, token, today=dt.date(2030, 2, 1)) is None
    past = client.rejected("publish_invoice", {"invoice_id": inv["id"], "expires_on": "2001-01-01"})
    assert past[0]["source"]["pointer"] == "/payload/expires_on"

    client.ok("void_invoice", {"invoice_id": inv["id"]})
    voided = resolve(client, token, today=dt.date(2030, 1, 1))
    assert voided is not None and voided["status"] == "void"  # the customer sees it is void
    errors = client.rejected("publish_invoice", {"invoice_id": inv["id"]})
    assert errors[0]["status"] == "409"

    other = Client(client.bus)
    other.setup_org()
    assert other.rejected("unpublish_invoice", {"invoice_id": inv["id"]})[0]["status"] == "404"
    assert other.rejected("publish_invoice", {"invoice_id": str(uuid.uuid4())})[0]["status"] == (
        "404"
    )


def test_a_draft_that_cannot_be_finalized_is_not_published(client: Client) -> None:
    draft = client.invoice(None, [line()])  # no customer: finalize must fail
    errors = client.rejected("publish_invoice", {"invoice_id": str(draft)})
    assert any(e["code"] == "invalid_attribute" for e in errors)
    with client.bus.uow_factory() as uow:
        shares = select(InvoiceShare).where(InvoiceShare.organization_id == client.org)
        assert uow.session.execute(shares).scalars().all() == []
