"""Payments across invoices (src/domain/allocation.py), without a database: the § 366 Abs. 2
BGB order, the § 367 Abs. 1 BGB split, explicit allocations and their errors, minor units of
EUR, JPY and KWD, the unapplied credit; and properties over random open items."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing.domain.allocation import (
    OpenItem,
    Plan,
    Policy,
    Requested,
    applied,
    check_application,
    check_apply,
    check_credit_use,
    check_undo,
    credit_to_apply,
    plan_payment,
    settlement_order,
    split_by_367,
    undone,
)
from invoicing.domain.errors import DomainError
from invoicing.domain.money import quantum

D = Decimal
DAY = dt.date(2026, 1, 1)


def item(
    iid: str,
    principal: str,
    *,
    due: dt.date | None = None,
    issued: dt.date = DAY,
    number: str | None = None,
    currency: str = "EUR",
    costs: str = "0",
    interest: str = "0",
    status: str = "sent",
    kind: str = "invoice",
    customer: str = "c1",
) -> OpenItem:
    return OpenItem(
        invoice_id=iid,
        number=number or f"RE-{iid}",
        currency=currency,
        issue_date=issued,
        due_date=due,
        principal=D(principal),
        costs=D(costs),
        interest=D(interest),
        customer_id=customer,
        kind=kind,
        status=status,
    )


def codes(exc: pytest.ExceptionInfo[DomainError]) -> list[tuple[str, str]]:
    return [(e.code, e.pointer) for e in exc.value.errors]


# ----------------------------------------------------------------------------- § 366 order


def test_oldest_due_first_then_issue_date_then_number() -> None:
    a = item("a", "100.00", due=dt.date(2026, 3, 1), issued=dt.date(2026, 2, 1))
    b = item("b", "100.00", due=dt.date(2026, 2, 15), issued=dt.date(2026, 2, 1))
    c = item("c", "100.00", due=dt.date(2026, 3, 1), issued=dt.date(2026, 1, 20))
    d = item("d", "100.00", due=dt.date(2026, 3, 1), issued=dt.date(2026, 1, 20), number="RE-0")
    # no due date: due on its issue date
    e = item("e", "100.00", due=None, issued=dt.date(2026, 2, 10))
    assert [i.invoice_id for i in settlement_order([a, b, c, d, e])] == ["e", "b", "d", "c", "a"]


def test_policy_settles_the_oldest_due_in_full_and_the_next_in_part() -> None:
    old = item("old", "300.00", due=dt.date(2026, 1, 15))
    new = item("new", "500.00", due=dt.date(2026, 2, 15))
    plan = plan_payment(D("450.00"), "EUR", [new, old])
    assert plan.policy is Policy.OLDEST_DUE_FIRST
    assert [(a.invoice_id, a.amount) for a in plan.allocations] == [
        ("old", D("300.00")),
        ("new", D("150.00")),
    ]
    assert plan.unapplied == 0


def test_policy_leaves_the_rest_unapplied_and_skips_other_currencies_and_closed() -> None:
    items = [
        item("eur", "100.00", due=dt.date(2026, 1, 1)),
        item("usd", "100.00", due=dt.date(2025, 1, 1), currency="USD"),
        item("paid", "0.00", due=dt.date(2025, 1, 1), status="paid"),
        item("draft", "50.00", due=dt.date(2025, 1, 1), status="draft"),
    ]
    plan = plan_payment(D("250.00"), "EUR", items)
    assert [(a.invoice_id, a.amount) for a in plan.allocations] == [("eur", D("100.00"))]
    assert plan.unapplied == D("150.00")


def test_policy_with_nothing_open_makes_everything_credit() -> None:
    plan = plan_payment(D("10.00"), "EUR", [])
    assert plan.allocations == () and plan.unapplied == D("10.00")


# ----------------------------------------------------------------------------- § 367 split


def test_costs_then_interest_then_principal() -> None:
    it = item("a", "100.00", costs="5.00", interest="2.50")
    assert split_by_367(it, D("4.00")).costs == D("4.00")
    part = split_by_367(it, D("6.00"))
    assert (part.costs, part.interest, part.principal) == (D("5.00"), D("1.00"), D("0.00"))
    part = split_by_367(it, D("50.00"))
    assert (part.costs, part.interest, part.principal) == (D("5.00"), D("2.50"), D("42.50"))
    with pytest.raises(ValueError, match="never exceeds"):
        split_by_367(it, D("107.51"))


def test_policy_splits_each_item_by_367() -> None:
    items = [
        item("a", "100.00", due=dt.date(2026, 1, 1), costs="5.00", interest="1.20"),
        item("b", "100.00", due=dt.date(2026, 2, 1), costs="5.00"),
    ]
    plan = plan_payment(D("108.20"), "EUR", items)
    first, second = plan.allocations
    assert (first.costs, first.interest, first.principal) == (D("5.00"), D("1.20"), D("100.00"))
    assert (second.costs, second.interest, second.principal) == (D("2.00"), D(0), D(0))


# ----------------------------------------------------------------------------- explicit


def test_explicit_allocations_are_the_debtors_choice() -> None:
    items = [item("a", "100.00", due=dt.date(2026, 1, 1)), item("b", "200.00")]
    plan = plan_payment(
        D("250.00"), "EUR", items, [Requested("b", D("200.00"), 0)], customer_id="c1"
    )
    assert plan.policy is Policy.EXPLICIT
    assert [(a.invoice_id, a.amount) for a in plan.allocations] == [("b", D("200.00"))]
    assert plan.unapplied == D("50.00")


def test_explicit_errors_point_at_each_allocation() -> None:
    items = [
        item("a", "100.00"),
        item("usd", "100.00", currency="USD"),
        item("x", "100.00", customer="c2"),
        item("p", "0.00", status="paid"),
    ]
    requested = [
        Requested("a", D("100.01"), 0),
        Requested("usd", D("10.00"), 1),
        Requested("x", D("10.00"), 2),
        Requested("p", D("10.00"), 3),
        Requested("nope", D("1.00"), 4),
        Requested("a", D("1.00"), 5),
    ]
    with pytest.raises(DomainError) as exc:
        plan_payment(D("500.00"), "EUR", items, requested, customer_id="c1")
    assert codes(exc) == [
        ("overallocated", "/allocations/0/amount"),
        ("currency_mismatch", "/allocations/1/invoice_id"),
        ("other_customer", "/allocations/2/invoice_id"),
        ("invalid_state", "/allocations/3/invoice_id"),
        ("invoice_not_found", "/allocations/4/invoice_id"),
        ("duplicate_allocation", "/allocations/5/invoice_id"),
    ]
    hints = {e.code: e.hint for e in exc.value.errors}
    assert "payment in USD" in hints["currency_mismatch"]
    assert "at most 100.00" in hints["overallocated"]


def test_explicit_allocations_beyond_the_payment_are_rejected() -> None:
    items = [item("a", "100.00"), item("b", "100.00")]
    requested = [Requested("a", D("100.00"), 0), Requested("b", D("60.00"), 1)]
    with pytest.raises(DomainError) as exc:
        plan_payment(D("150.00"), "EUR", items, requested)
    assert codes(exc) == [("overallocated", "/allocations")]


# ----------------------------------------------------------------------------- minor units


@pytest.mark.parametrize(
    ("currency", "good", "bad", "hint"),
    [
        ("EUR", "10.01", "10.005", "at most 2 decimals"),
        ("JPY", "1001", "1000.5", "no minor unit"),
        ("KWD", "10.125", "10.1255", "at most 3 decimals"),
    ],
)
def test_amounts_in_the_currencys_minor_units(
    currency: str, good: str, bad: str, hint: str
) -> None:
    items = [item("a", "5000", currency=currency)]
    plan = plan_payment(D(good), currency, items)
    assert plan.allocations[0].amount == D(good) and plan.unapplied == 0
    with pytest.raises(DomainError) as exc:
        plan_payment(D(bad), currency, items)
    assert codes(exc) == [("invalid_attribute", "/amount")]
    assert hint in exc.value.errors[0].hint
    with pytest.raises(DomainError) as exc:
        plan_payment(D("6000"), currency, items, [Requested("a", D(bad), 0)])
    assert codes(exc) == [("invalid_attribute", "/allocations/0/amount")]


# ----------------------------------------------------------------------------- credit


def test_credit_use_and_undo_checks() -> None:
    check_credit_use(D("50.00"), "EUR", D("50.00"), what="apply")
    with pytest.raises(DomainError) as exc:
        check_credit_use(D("50.01"), "EUR", D("50.00"), what="refund")
    assert exc.value.errors[0].code == "insufficient_credit"
    assert "refund at most 50.00" in exc.value.errors[0].hint
    with pytest.raises(DomainError) as exc:
        check_credit_use(D("1"), "JPY", D("0"), what="apply")
    assert exc.value.errors[0].code == "no_credit"
    assert credit_to_apply(None, D("80.00"), D("50.00")) == D("50.00")
    assert credit_to_apply(None, D("30.00"), D("50.00")) == D("30.00")
    with pytest.raises(DomainError) as exc:
        check_apply(D("50.01"), D("50.00"), "EUR", "RE-1")
    assert exc.value.errors[0].code == "overallocated"
    check_undo(D("20.00"), D("20.00"), "EUR", "p")
    with pytest.raises(DomainError) as exc:
        check_undo(D("20.00"), D("19.99"), "EUR", "p")
    assert exc.value.errors[0].code == "credit_used"
    assert "delete_payment" in exc.value.errors[0].hint


def test_credit_goes_to_a_payable_invoice_of_the_customer() -> None:
    check_application(item("a", "1.00"), "c1")
    with pytest.raises(DomainError) as exc:
        check_application(item("a", "1.00", customer="c2"), "c1")
    assert exc.value.errors[0].code == "other_customer"
    with pytest.raises(DomainError) as exc:
        check_application(item("a", "0.00", status="void"), "c1")
    assert exc.value.errors[0].code == "invalid_state"


# ----------------------------------------------------------------------------- properties

CURRENCIES = ["EUR", "JPY", "KWD"]


@st.composite
def books(draw: st.DrawFn) -> tuple[str, list[OpenItem], Decimal]:
    """A customer's open items in one currency (some in another), and a payment."""
    currency = draw(st.sampled_from(CURRENCIES))
    q = quantum(currency)
    units = st.integers(min_value=0, max_value=500_000)
    count = draw(st.integers(min_value=0, max_value=8))
    items = []
    for n in range(count):
        items.append(
            item(
                f"i{n}",
                str(draw(units) * q),
                costs=str(draw(st.sampled_from([0, 0, 500, 1000])) * q),
                interest=str(draw(st.integers(min_value=0, max_value=900)) * q),
                due=DAY + dt.timedelta(days=draw(st.integers(min_value=0, max_value=60))),
                issued=DAY - dt.timedelta(days=draw(st.integers(min_value=0, max_value=30))),
                currency=draw(st.sampled_from([currency, currency, currency, "USD"])),
            )
        )
    amount = draw(st.integers(min_value=1, max_value=3_000_000)) * q
    return currency, items, amount


def _invariants(plan: Plan, items: list[OpenItem], amount: Decimal, currency: str) -> None:
    by_id = {i.invoice_id: i for i in items}
    # every cent of the payment is allocated or unapplied, never more, never less
    assert plan.allocated + plan.unapplied == amount
    assert plan.unapplied >= 0
    for a in plan.allocations:
        it = by_id[a.invoice_id]
        assert it.currency == currency
        assert 0 < a.amount <= it.open  # never over-allocating an invoice
        assert 0 <= a.costs <= it.costs and 0 <= a.interest <= it.interest
        assert 0 <= a.principal <= it.principal
        # § 367: no interest before all costs, no principal before all interest
        assert a.interest == 0 or a.costs == it.costs
        assert a.principal == 0 or (a.costs == it.costs and a.interest == it.interest)
        for part in (a.costs, a.interest, a.principal):
            assert part == part.quantize(quantum(currency))
    after = applied(items, plan)
    assert all(i.open >= 0 and i.principal >= 0 for i in after)
    # deleting the payment restores exactly what was open before
    assert undone(after, plan) == items


@settings(max_examples=300, deadline=None)
@given(books())
def test_policy_properties(book: tuple[str, list[OpenItem], Decimal]) -> None:
    currency, items, amount = book
    plan = plan_payment(amount, currency, items)
    _invariants(plan, items, amount, currency)
    # oldest due first: an item is touched only when every earlier one is settled in full
    ordered = [i for i in settlement_order(items) if i.currency == currency and i.open > 0]
    taken = {a.invoice_id: a.amount for a in plan.allocations}
    for earlier, later in itertools.pairwise(ordered):
        if taken.get(later.invoice_id):
            assert taken.get(earlier.invoice_id) == earlier.open
    # and something stays unapplied only when everything in the currency is settled
    if plan.unapplied:
        assert all(taken.get(i.invoice_id) == i.open for i in ordered)


@settings(max_examples=300, deadline=None)
@given(books(), st.data())
def test_explicit_properties(
    book: tuple[str, list[OpenItem], Decimal], data: st.DataObject
) -> None:
    currency, items, amount = book
    candidates = [i for i in items if i.currency == currency and i.open > 0]
    chosen = data.draw(
        st.lists(st.sampled_from(candidates), unique=True) if candidates else st.just([])
    )
    q = quantum(currency)
    requested = [
        Requested(
            i.invoice_id,
            data.draw(st.integers(min_value=1, max_value=int(i.open / q))) * q,
            n,
        )
        for n, i in enumerate(chosen)
    ]
    if not requested:
        return
    total = sum((r.amount for r in requested), D(0))
    if total > amount:
        with pytest.raises(DomainError) as exc:
            plan_payment(amount, currency, items, requested)
        assert codes(exc) == [("overallocated", "/allocations")]
        return
    plan = plan_payment(amount, currency, items, requested)
    _invariants(plan, items, amount, currency)
    assert [(a.invoice_id, a.amount) for a in plan.allocations] == [
        (r.invoice_id, r.amount) for r in requested
    ]


def test_a_payment_across_invoices_takes_no_exchange_rate_of_its_own() -> None:
    from invoicing.schemas.commands import RecordPayment
    from pydantic import ValidationError

    base = {"amount": "100.00", "date": "2026-11-20", "method": "bank_transfer"}
    customer = "a0000000-0000-4000-8000-000000000001"
    RecordPayment.Payload.model_validate({**base, "customer_id": customer})
    with pytest.raises(ValidationError, match="each invoice's frozen rate"):
        RecordPayment.Payload.model_validate(
            {**base, "customer_id": customer, "exchange_rate": "1.1"}
        )
