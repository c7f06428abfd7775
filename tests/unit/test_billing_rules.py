"""Billable-entry rules (invoicing.domain.billing) without a database."""

from __future__ import annotations

import uuid

import pytest
from invoicing.domain import billing
from invoicing.domain.errors import Conflict

INV, OTHER = uuid.uuid4(), uuid.uuid4()


def test_the_content_hash_ignores_key_order_and_sees_every_change() -> None:
    a = billing.content_hash({"id": "t-1", "quantity": "1.5", "unit": "hour"})
    assert a == billing.content_hash({"unit": "hour", "quantity": "1.5", "id": "t-1"})
    assert a != billing.content_hash({"id": "t-1", "quantity": "1.50", "unit": "hour"})
    assert len(a) == 64


def test_only_an_unbilled_entry_may_change() -> None:
    billing.check_rewritable("t-1", billing.UNINVOICED, None)
    with pytest.raises(Conflict) as exc:
        billing.check_rewritable("t-1", billing.BILLED, INV)
    (e,) = exc.value.errors
    assert (e.code, e.pointer, e.status) == ("entry_billed", "/id", "409")
    assert e.detail == f"entry t-1 is billed on invoice {INV}"
    assert e.hint


@pytest.mark.parametrize(
    ("status", "billed_on", "currency", "code"),
    [
        (billing.UNINVOICED, None, "EUR", None),
        (billing.BILLED, INV, "EUR", None),  # this invoice again (an update of its lines)
        (billing.BILLED, OTHER, "EUR", "entry_billed"),
        (billing.UNINVOICED, None, "USD", "currency_mismatch"),
    ],
)
def test_claimable(
    status: str, billed_on: uuid.UUID | None, currency: str, code: str | None
) -> None:
    def claim() -> None:
        billing.check_claimable(
            "t-1",
            status,
            billed_on,
            currency,
            invoice_id=INV,
            invoice_currency="EUR",
            pointer="/lines/0/billable_entry_ids/0",
        )

    if code is None:
        claim()
        return
    with pytest.raises(Conflict) as exc:
        claim()
    assert exc.value.errors[0].code == code
    assert exc.value.errors[0].pointer == "/lines/0/billable_entry_ids/0"


def test_uninvoiced() -> None:
    billing.check_uninvoiced("t-1", billing.UNINVOICED, None, "/entry_ids/0")
    with pytest.raises(Conflict) as exc:
        billing.check_uninvoiced("t-1", billing.BILLED, OTHER, "/entry_ids/3")
    assert exc.value.errors[0].detail == f"billable entry t-1 is already billed on invoice {OTHER}"
    assert exc.value.errors[0].pointer == "/entry_ids/3"


def test_an_entry_is_billed_by_one_line_of_an_invoice() -> None:
    billing.check_billed_once(["t-1", "t-2"], [["t-3"], []], "/lines/1")
    with pytest.raises(Conflict) as exc:
        billing.check_billed_once(["t-1", "t-2"], [["t-3"], ["t-2"]], "/lines/2")
    (e,) = exc.value.errors
    assert (e.code, e.pointer) == ("entry_billed", "/lines/2/billable_entry_ids/1")
    assert "another line of this invoice" in e.detail and e.hint


def test_an_entry_line_s_error_points_at_the_entry_as_sent() -> None:
    sent = ["late", "early", "mid"]
    made_of = [["early"], ["mid"], ["late"]]  # the lines in date order
    assert billing.as_sent("/entry_ids/0/tax_rate", "/entry_ids", made_of, sent) == "/entry_ids/1"
    assert billing.as_sent("/entry_ids/2", "/entry_ids", made_of, sent) == "/entry_ids/0"
    assert (
        billing.as_sent("/entry_ids/1/billable_entry_ids/0", "/entry_ids", made_of, sent)
        == "/entry_ids/2"
    )
    for other in ("/entry_ids", "/invoice_id", "/entry_ids/9", "/entry_ids/x", "/lines/0"):
        assert billing.as_sent(other, "/entry_ids", made_of, sent) == other
