"""Budgets and seed 002's invoicing methods as pure rules (src/domain/budgets.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from invoicing.domain import budgets as b
from invoicing.domain.errors import DomainError
from invoicing.domain.money import round_money

D = Decimal
DAY = dt.date(2026, 4, 1)


def budget(amount: str = "1000.00", **over: object) -> b.BudgetFacts:
    fields: dict[str, object] = {
        "id": "bud-1",
        "name": "Retainer 2026",
        "currency": "EUR",
        "amount": D(amount),
    }
    fields.update(over)
    return b.BudgetFacts(**fields)  # type: ignore[arg-type]


def entry(
    eid: str,
    *,
    kind: str = "time",
    service: str | None = "svc-a",
    price: str = "200",
    **over: object,
) -> b.EntryFacts:
    fields: dict[str, object] = {
        "id": eid,
        "kind": kind,
        "budget_id": "bud-1",
        "service_id": service,
        "date": DAY,
        "description": f"work {eid}",
        "quantity": D("1.5"),
        "unit": "hours",
        "unit_price": D(price),
        "currency": "EUR",
        "tax_rate": None,
        "tax_category": "standard",
    }
    fields.update(over)
    return b.EntryFacts(**fields)  # type: ignore[arg-type]


SERVICES = (
    b.Service("svc-a", "Beratung", D("600.00")),
    b.Service("svc-b", "Schriftsätze", D("400.00"), tax_rate=D("7")),
)


def codes(exc: pytest.ExceptionInfo[DomainError]) -> list[tuple[str, str]]:
    return [(e.code, e.pointer) for e in exc.value.errors]


# ----------------------------------------------------------------------------- the seed's example


def test_fifty_percent_of_a_budget_is_seed_002s_line() -> None:
    """GET /invoices/69/preview?budget_ids[]=657&display_format={budget}&invoicing_by=budget
    &invoicing_method=percentage&percentage=50: quantity 0.5 at the budget's amount."""
    sel = b.Selection(b.PERCENTAGE, by="budget", percentage=D(50), display_format="{budget}")
    (line,) = b.plan(sel, [budget("100000")])
    assert (line.quantity, line.unit_price, line.amount) == (D("0.5"), D("100000"), D("50000.00"))
    assert line.description == "Retainer 2026" and line.kind == "budget"
    (attribution,) = b.attributions([line], [], sel)
    assert (attribution.budget_id, attribution.amount) == ("bud-1", D("50000.00"))


def test_a_percentage_that_rounds_to_nothing_says_so() -> None:
    """0.0001 % of 100.01 is 0.0001 EUR: refused at the percentage with a hint to raise it,
    not with "record billable entries", which a budget billed by percentage does not need."""
    sel = b.Selection(b.PERCENTAGE, by="budget", percentage=D("0.0001"))
    with pytest.raises(DomainError) as exc:
        b.plan(sel, [budget("100.01")])
    assert codes(exc) == [("nothing_to_invoice", "/percentage")]
    assert "larger percentage" in (exc.value.errors[0].hint or "")


def test_percentage_without_a_percentage_is_refused_like_the_seed() -> None:
    with pytest.raises(DomainError) as exc:
        b.check_selection(b.Selection(b.PERCENTAGE, by="budget"), "/budget")
    assert codes(exc) == [("invalid_attribute", "/budget/percentage")]
    assert exc.value.errors[0].detail == "can't be blank"


def test_selection_errors_name_each_field() -> None:
    sel = b.Selection(
        b.UNINVOICED_AMOUNT,
        percentage=D(5),
        display_format="{budget} {client}",
        locale="xx_YY",
    )
    with pytest.raises(DomainError) as exc:
        b.check_selection(sel, "")
    assert codes(exc) == [
        ("invalid_attribute", "/invoicing_by"),
        ("invalid_attribute", "/percentage"),
        ("unknown_placeholder", "/display_format"),
        ("invalid_locale", "/locale"),
    ]
    assert "{service}" in exc.value.errors[2].hint


# ----------------------------------------------------------------------------- actuals


def test_actuals_by_service_group_time_per_service_and_price_and_keep_expenses_apart() -> None:
    entries = [
        entry("t1"),
        entry("t2", date=DAY + dt.timedelta(days=3)),
        entry("t3", price="150"),
        entry("t4", service="svc-b"),
        entry("x1", kind="expense", description="Gerichtskosten", quantity=D(1), unit="piece"),
    ]
    sel = b.Selection(
        b.ACTUALS,
        by="service",
        display_format="{service} {date_from}–{date_to}: {quantity} {unit}",
        expense_display_format="Auslage: {expense} ({date})",
        locale="de_DE",
    )
    lines = b.plan(sel, [budget(services=SERVICES)], entries)
    assert [(ln.kind, ln.entry_ids, ln.quantity, ln.unit_price) for ln in lines] == [
        ("time", ("t1", "t2"), D("3.0"), D(200)),
        ("time", ("t3",), D("1.5"), D(150)),
        ("time", ("t4",), D("1.5"), D(200)),
        ("expense", ("x1",), D(1), D(200)),
    ]
    assert lines[0].description == "Beratung 01.04.2026–04.04.2026: 3 hours"
    assert lines[1].description == "Beratung 01.04.2026–01.04.2026: 1,5 hours"
    assert lines[2].service_id == "svc-b" and lines[2].description.startswith("Schriftsätze")
    assert lines[3].description == "Auslage: Gerichtskosten (01.04.2026)"
    assert [ln.amount for ln in lines] == [D("600.00"), D("225.00"), D("300.00"), D("200.00")]


def test_actuals_by_budget_in_english_and_per_entry_without_invoicing_by() -> None:
    entries = [entry("t1"), entry("t2", service="svc-b")]
    by_budget = b.Selection(b.ACTUALS, by="budget", display_format="{budget} ({quantity} h)")
    (line,) = b.plan(by_budget, [budget(services=SERVICES)], entries)
    assert line.description == "Retainer 2026 (3 h)" and line.service_id is None
    per_entry = b.Selection(b.ACTUALS, locale="en_US")
    lines = b.plan(per_entry, [budget()], entries)
    assert [ln.description for ln in lines] == ["work t1 (Apr 1, 2026)", "work t2 (Apr 1, 2026)"]


def test_actuals_respect_the_date_range_and_say_when_nothing_is_left() -> None:
    sel = b.Selection(b.ACTUALS, by="budget", date_from=DAY + dt.timedelta(days=1))
    with pytest.raises(DomainError) as exc:
        b.plan(sel, [budget()], [entry("t1")], pointer="/budget/budget_ids")
    assert codes(exc) == [("nothing_to_invoice", "/budget/budget_ids")]


# ----------------------------------------------------------------------------- fixed amounts


def test_uninvoiced_amount_bills_what_remains_per_budget_and_per_service() -> None:
    spent = {"svc-a": D("250.00"), "svc-b": D("400.00")}
    by_budget = b.Selection(b.UNINVOICED_AMOUNT, by="budget")
    (line,) = b.plan(by_budget, [budget(services=SERVICES, invoiced=spent)])
    assert (line.quantity, line.unit_price, line.amount) == (D(1), D("350.00"), D("350.00"))
    by_service = b.Selection(b.UNINVOICED_AMOUNT, by="service", display_format="{service}")
    lines = b.plan(by_service, [budget(services=SERVICES, invoiced=spent)])
    assert [(ln.description, ln.service_id, ln.amount) for ln in lines] == [
        ("Beratung", "svc-a", D("350.00"))
    ]  # svc-b is used up: no zero line


def test_services_with_their_own_rate_and_a_budget_without_services() -> None:
    sel = b.Selection(b.PERCENTAGE, by="service", percentage=D(10))
    lines = b.plan(sel, [budget(services=SERVICES, tax_rate=D(19))])
    assert [(ln.amount, ln.tax_rate) for ln in lines] == [(D("60.00"), D(19)), (D("40.00"), D(7))]
    with pytest.raises(DomainError) as exc:
        b.plan(sel, [budget()])
    assert codes(exc)[0][0] == "budget_without_services"


def test_a_percentage_beyond_what_remains_is_refused_with_the_largest_that_fits() -> None:
    sel = b.Selection(b.PERCENTAGE, by="budget", percentage=D(50))
    with pytest.raises(DomainError) as exc:
        b.plan(sel, [budget(invoiced={None: D("700.00")})])
    assert codes(exc) == [("exceeds_budget", "/percentage")]
    assert exc.value.errors[0].hint == "at most 30.0000 % remains"


def test_services_cannot_take_what_was_invoiced_by_budget() -> None:
    sel = b.Selection(b.UNINVOICED_AMOUNT, by="service")
    with pytest.raises(DomainError) as exc:
        b.plan(sel, [budget(services=SERVICES, invoiced={None: D("900.00")})])
    assert codes(exc)[0][0] == "exceeds_budget"


def test_closed_budgets_are_not_invoiced() -> None:
    sel = b.Selection(b.UNINVOICED_AMOUNT, by="budget")
    with pytest.raises(DomainError) as exc:
        b.plan(sel, [budget(), budget(id="bud-2", status=b.CLOSED)], pointer="/budget_ids")
    assert codes(exc) == [("budget_closed", "/budget_ids/1")]


def test_services_must_add_up_and_the_amount_cannot_drop_below_invoiced() -> None:
    with pytest.raises(DomainError) as exc:
        b.check_services(D("999.99"), SERVICES, "/services")
    assert codes(exc) == [("services_do_not_add_up", "/services")]
    with pytest.raises(DomainError) as exc:
        b.check_services(D("600"), (SERVICES[0], SERVICES[0]), "/services")
    assert codes(exc) == [("duplicate_service", "/services/1/id")]
    with pytest.raises(DomainError) as exc:
        b.check_amount_covers_invoiced(budget(invoiced={None: D(10)}), D("9.99"), "/amount")
    assert codes(exc) == [("budget_below_invoiced", "/amount")]


def test_display_formats_render_safely_and_fit_a_line_title() -> None:
    values = {"budget": "B" * 300}
    assert len(b.render("{budget}", values)) == b.MAX_DESCRIPTION
    assert b.render("{0.__class__} {budget!r}", {"budget": "x"}) == "-"  # unknown: empty
    assert b.unknown_placeholders("{0.__class__} {budget!r} {service}") == [
        "0.__class__",
        "budget!r",
    ]


# ----------------------------------------------------------------------------- properties

money = st.decimals(min_value=D("0.01"), max_value=D("10000000"), places=2)
percent = st.decimals(min_value=D("0.0001"), max_value=D(100), places=4)


@given(amount=money, spent_share=st.decimals(min_value=0, max_value=1, places=3), p=percent)
def test_a_percentage_line_never_exceeds_what_remains(
    amount: Decimal, spent_share: Decimal, p: Decimal
) -> None:
    spent = round_money(amount * spent_share, "EUR")
    facts = budget(str(amount), invoiced={None: spent})
    sel = b.Selection(b.PERCENTAGE, by="budget", percentage=p)
    try:
        lines = b.plan(sel, [facts])
    except DomainError as exc:
        code = exc.errors[0].code
        assert code in ("exceeds_budget", "nothing_to_invoice")
        if code == "exceeds_budget":  # refused only when it would not fit, never cut
            assert round_money(p / 100 * amount, "EUR") > facts.remaining
        return
    (line,) = lines
    assert 0 < line.amount <= facts.remaining
    assert line.amount == round_money(line.quantity * line.unit_price, "EUR")
    assert line.quantity == p / 100 and line.unit_price == amount


@given(amount=money, steps=st.lists(percent, min_size=1, max_size=12))
def test_billing_percentages_one_after_another_never_bills_more_than_the_budget(
    amount: Decimal, steps: list[Decimal]
) -> None:
    spent = D("0.00")
    for p in steps:
        facts = budget(str(amount), invoiced={None: spent})
        try:
            (line,) = b.plan(b.Selection(b.PERCENTAGE, by="budget", percentage=p), [facts])
        except DomainError:
            continue
        spent += line.amount
        assert spent <= amount
    facts = budget(str(amount), invoiced={None: spent})
    if facts.remaining > 0:  # the rest, then nothing is left
        (rest,) = b.plan(b.Selection(b.UNINVOICED_AMOUNT, by="budget"), [facts])
        assert spent + rest.amount == amount


@given(
    amounts=st.lists(money, min_size=1, max_size=5),
    p=percent,
)
def test_by_service_lines_stay_within_each_service_and_the_budget(
    amounts: list[Decimal], p: Decimal
) -> None:
    services = tuple(b.Service(f"s{i}", f"S{i}", a) for i, a in enumerate(amounts))
    total = sum(amounts, D(0))
    facts = budget(str(total), services=services)
    try:
        lines = b.plan(b.Selection(b.PERCENTAGE, by="service", percentage=p), [facts])
    except DomainError as exc:
        assert exc.errors[0].code == "nothing_to_invoice"
        return
    for line in lines:
        service = facts.service(line.service_id)
        assert service is not None and line.amount <= service.amount
    assert sum((ln.amount for ln in lines), D(0)) <= total


@given(
    quantities=st.lists(
        st.decimals(min_value=D("0.25"), max_value=D(12), places=2), min_size=1, max_size=20
    ),
    prices=st.lists(st.sampled_from([D(150), D(200), D("187.50")]), min_size=20, max_size=20),
    services=st.lists(st.sampled_from(["svc-a", "svc-b", None]), min_size=20, max_size=20),
    by=st.sampled_from(["service", "budget", None]),
)
def test_actuals_bill_every_entry_once_and_exactly(
    quantities: list[Decimal], prices: list[Decimal], services: list[str | None], by: str | None
) -> None:
    entries = [
        entry(f"t{i}", quantity=q, price=str(prices[i]), service=services[i])
        for i, q in enumerate(quantities)
    ]
    assume(entries)
    lines = b.plan(b.Selection(b.ACTUALS, by=by), [budget(services=SERVICES)], entries)
    billed = [eid for line in lines for eid in line.entry_ids]
    assert sorted(billed) == sorted(e.id for e in entries)
    for line in lines:
        mine = [e for e in entries if e.id in line.entry_ids]
        assert line.quantity == sum((e.quantity for e in mine), D(0))
        assert {e.unit_price for e in mine} == {line.unit_price}
        assert line.amount == round_money(line.quantity * line.unit_price, "EUR")


def test_entries_too_large_to_bill_are_refused_not_a_crash() -> None:
    """10^15 hours at 10^15 (or a group of entries past 10^14) is ``amount_too_large`` at the
    budget, by every grouping; before, the plan rounded the 30-digit product and raised
    ``decimal.InvalidOperation`` (the preview and the billing crashed)."""
    huge = entry("h", quantity=D("999999999999999"), price="999999999999999.99")
    for by in ("service", "budget", None):
        with pytest.raises(DomainError) as exc:
            b.plan(b.Selection(b.ACTUALS, by=by), [budget(), budget(id="bud-2")], [huge])
        assert codes(exc) == [("amount_too_large", "/budget_ids/0")]
    expense = entry("x", kind="expense", budget_id="bud-2", quantity=D("1E+14"), price="1")
    with pytest.raises(DomainError) as exc:
        b.plan(b.Selection(b.ACTUALS), [budget(), budget(id="bud-2")], [expense])
    assert codes(exc) == [("amount_too_large", "/budget_ids/1")]
    group = [entry(f"g{i}", quantity=D("9999999999"), price="9999.99") for i in range(3)]
    with pytest.raises(DomainError) as exc:
        b.plan(b.Selection(b.ACTUALS, by="budget"), [budget()], group)
    assert codes(exc) == [("amount_too_large", "/budget_ids/0")]


def test_new_services_keep_what_is_invoiced_against_each() -> None:
    """update_budget's services: one with lines invoiced against it stays, at no less than
    they come to. Before, svc-a could drop to 100 with 300 invoiced (remaining -200) and
    svc-b could go, its 200 counted for the budget but for no service."""
    spent = budget(services=SERVICES, invoiced={"svc-a": D("300"), "svc-b": D("200")})
    lowered = (b.Service("svc-a", "A", D("100")), b.Service("svc-b", "B", D("900")))
    with pytest.raises(DomainError) as exc:
        b.check_services_cover_invoiced(spent, lowered, "/services")
    assert codes(exc) == [("budget_below_invoiced", "/services/0/amount")]
    dropped = (b.Service("svc-a", "A", D("300")), b.Service("svc-c", "C", D("700")))
    with pytest.raises(DomainError) as exc:
        b.check_services_cover_invoiced(spent, dropped, "/services")
    assert codes(exc) == [("budget_below_invoiced", "/services")]
    assert "svc-b" in exc.value.errors[0].hint
    kept = (b.Service("svc-b", "B", D("200")), b.Service("svc-a", "A", D("800")))
    b.check_services_cover_invoiced(spent, kept, "/services")  # reordered, at least as much
    b.check_services_cover_invoiced(budget(invoiced={None: D("10")}), lowered, "/services")
