"""Property-based: the EN 16931 sum rules hold for every invoice the engine computes."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing.domain.calc import Discount, DiscountKind, LineInput, Totals, compute, split_gross
from invoicing.domain.money import quantum, round_money
from invoicing.domain.tax import TaxCategory

RATES = [Decimal(r) for r in ("19", "7", "21", "12", "6", "5.5", "20")]
CURRENCIES = ["EUR", "EUR", "JPY", "KWD", "USD"]


@st.composite
def lines(draw: st.DrawFn, currency: str) -> LineInput:
    q = quantum(currency)
    category = draw(
        st.sampled_from(
            [TaxCategory.STANDARD] * 4 + [TaxCategory.REVERSE_CHARGE, TaxCategory.EXEMPT]
        )
    )
    rate = draw(st.sampled_from(RATES)) if category is TaxCategory.STANDARD else Decimal(0)
    quantity = Decimal(draw(st.integers(1, 100_000))) / Decimal(
        draw(st.sampled_from([1, 10, 100, 1000]))
    )
    price = (
        Decimal(draw(st.integers(0, 10_000_000)))
        * q
        / Decimal(draw(st.sampled_from([1, 1, 10, 100])))
    )
    discount = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda p: Discount(DiscountKind.PERCENTAGE, Decimal(p) / 10), st.integers(0, 1000)
            ),
        )
    )
    return LineInput(quantity, price, category, rate, discount)


@st.composite
def invoices(draw: st.DrawFn) -> tuple[str, list[LineInput], bool, Discount | None]:
    currency = draw(st.sampled_from(CURRENCIES))
    items = draw(st.lists(lines(currency), min_size=1, max_size=8))
    from_net = draw(st.booleans())
    doc = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda p: Discount(DiscountKind.PERCENTAGE, Decimal(p) / 100),
                st.integers(0, 10_000),
            ),
        )
    )
    return currency, items, from_net, doc


def assert_sum_rules(t: Totals, items: list[LineInput], from_net: bool) -> None:
    cur = t.currency
    # every amount is in minor units
    for amount in (
        t.line_net_total,
        t.allowance_total,
        t.tax_exclusive,
        t.tax_total,
        t.gross_total,
    ):
        assert amount == round_money(amount, cur)
    # BR-CO-10: sum of line nets = BT-106
    assert sum((r.net_amount for r in t.lines), Decimal(0)) == t.line_net_total
    # BR-CO-13: BT-109 = BT-106 - BT-107 (+ BT-108 charges, none here)
    assert t.tax_exclusive == t.line_net_total - t.allowance_total
    # BR-CO-14: BT-110 = sum of BT-117
    assert t.tax_total == sum((g.tax_amount for g in t.groups), Decimal(0))
    # BR-CO-15: BT-112 = BT-109 + BT-110; BR-CO-16 with no prepaid or rounding amount
    assert t.gross_total == t.tax_exclusive + t.tax_total
    for g in t.groups:
        members = [
            r
            for r, line in zip(t.lines, items, strict=True)
            if (line.tax_category, line.tax_rate.normalize()) == (g.category, g.rate.normalize())
        ]
        # BR-S-08 (and BR-AE-08, BR-E-08): taxable = sum of line nets - allowances of the group
        assert g.taxable_amount == sum((r.net_amount for r in members), Decimal(0)) - g.allowance
        exact = g.taxable_amount * g.rate / 100
        if from_net:
            # BR-S-09 without tolerance: tax = taxable x rate, rounded once
            assert g.tax_amount == round_money(exact, cur)
        else:
            assert abs(g.tax_amount - exact) < quantum(cur)
        if g.rate == 0:
            assert g.tax_amount == 0


@settings(max_examples=400, deadline=None)
@given(invoices())
def test_sum_rules_hold(inv: tuple[str, list[LineInput], bool, Discount | None]) -> None:
    currency, items, from_net, doc = inv
    totals = compute(currency, items, calculate_from_net=from_net, document_discount=doc)
    assert_sum_rules(totals, items, from_net)


@settings(max_examples=300, deadline=None)
@given(invoices(), st.integers(0, 100))
def test_amount_discount_split_exactly(
    inv: tuple[str, list[LineInput], bool, Discount | None], percent_of_total: int
) -> None:
    currency, items, from_net, _ = inv
    base = compute(currency, items, calculate_from_net=from_net)
    subtotal = sum((r.amount for r in base.lines), Decimal(0))
    amount = round_money(subtotal * percent_of_total / 100, currency)
    if amount > subtotal:
        amount = subtotal
    totals = compute(
        currency,
        items,
        calculate_from_net=from_net,
        document_discount=Discount(DiscountKind.AMOUNT, amount),
    )
    assert_sum_rules(totals, items, from_net)
    if from_net:
        assert totals.allowance_total == amount
    else:
        # gross entry: what the customer pays is exactly the entered gross minus the discount
        assert totals.gross_total == subtotal - amount


@settings(max_examples=300, deadline=None)
@given(invoices())
def test_gross_entry_total_is_what_was_entered(
    inv: tuple[str, list[LineInput], bool, Discount | None],
) -> None:
    currency, items, _, doc = inv
    totals = compute(currency, items, calculate_from_net=False, document_discount=doc)
    entered = sum((r.amount for r in totals.lines), Decimal(0))
    allowances_gross = (
        sum(
            (
                round_money(
                    sum(
                        (
                            r.amount
                            for r, line in zip(totals.lines, items, strict=True)
                            if (line.tax_category, line.tax_rate.normalize())
                            == (g.category, g.rate.normalize())
                        ),
                        Decimal(0),
                    )
                    * doc.value
                    / 100,
                    currency,
                )
                for g in totals.groups
            ),
            Decimal(0),
        )
        if doc
        else Decimal(0)
    )
    assert totals.gross_total == entered - allowances_gross


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 10_000_000), st.sampled_from(RATES))
def test_split_gross_is_exact_and_strict_when_possible(cents: int, rate: Decimal) -> None:
    gross = Decimal(cents) / 100
    taxable, tax = split_gross(gross, rate, "EUR")
    assert taxable + tax == gross
    exact = taxable * rate / 100
    assert abs(tax - exact) < Decimal("0.01")
    reachable = any(
        n + round_money(n * rate / 100, "EUR") == gross
        for n in (taxable - Decimal("0.01"), taxable, taxable + Decimal("0.01"))
    )
    if reachable:
        assert tax == round_money(exact, "EUR")
