"""The per-tax-group ledger (src/domain/ledger.py): pure, no I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from invoicing.domain.calc import LineInput, compute, with_group_taxes
from invoicing.domain.errors import DomainError
from invoicing.domain.ledger import GroupAmount, Ledger, Movement, MovementKind, key_of
from invoicing.domain.tax import TaxCategory

D = Decimal
S = TaxCategory.STANDARD
DAY = dt.date(2026, 3, 1)


def g(rate: str, net: str, tax: str, category: TaxCategory = S) -> GroupAmount:
    return GroupAmount(category, D(rate), D(net), D(tax))


def example() -> Ledger:
    """The issue's invoice: 1,000.00 at 19 % plus 1,000.00 at 7 %."""
    return Ledger("EUR", (g("19", "1000.00", "190.00"), g("7", "1000.00", "70.00")))


def credit(ledger: Ledger, *groups: GroupAmount, pointers: dict | None = None) -> Ledger:  # type: ignore[type-arg]
    taken = ledger.check_movement(MovementKind.CREDIT, groups, pointers)
    return ledger.with_movement(Movement(MovementKind.CREDIT, DAY, taken))


def test_issue_example_void_after_19_credit_takes_only_the_7_group() -> None:
    # main (0e137cd) credited 473.45 + 89.96 at 19 % and 473.45 + 33.14 at 7 % here
    ledger = credit(example(), g("19", "1000.00", "190.00"))
    assert ledger.remainder() == [g("7", "1000.00", "70.00")]
    assert ledger.open_groups() == [g("7", "1000.00", "70.00")]
    done = credit(ledger, *ledger.remainder())
    assert done.remainder() == []
    assert done.credited_tax == D("260.00") and done.credited_net == D("2000.00")
    assert done.credited_gross == D("2260.00") and done.open_amount == 0
    for b in done.groups:
        assert b.credited_tax == b.invoiced_tax and b.remaining_net == 0


def test_credit_the_rest_after_a_partial_credit_is_exact_even_where_rounding_differs() -> None:
    # 0.06 at 19 % -> VAT 0.01; a credit of 0.03 -> VAT 0.01; the rest 0.03 has VAT 0.00 left
    # although round(0.03 x 19 %) = 0.01: the rest takes exactly what remains
    ledger = Ledger("EUR", (g("19", "0.06", "0.01"),))
    ledger = credit(ledger, g("19", "0.03", "0.01"))
    assert ledger.remainder() == [g("19", "0.03", "0.00")]
    taken = ledger.check_movement(MovementKind.CREDIT, [g("19", "0.03", "0.01")])
    assert taken == (g("19", "0.03", "0.00"),)


def test_partial_credit_vat_is_capped_at_what_remains_of_the_group() -> None:
    ledger = credit(Ledger("EUR", (g("19", "0.06", "0.01"),)), g("19", "0.03", "0.01"))
    taken = ledger.check_movement(MovementKind.CREDIT, [g("19", "0.02", "0.01")])
    assert taken == (g("19", "0.02", "0.00"),)


def test_credit_in_a_group_the_invoice_does_not_have_points_at_the_line() -> None:
    ledger = Ledger("EUR", (g("19", "1000.00", "190.00"),))
    with pytest.raises(DomainError) as exc:
        credit(ledger, g("7", "10.00", "0.70"), pointers={key_of(S, D(7)): "/lines/2"})
    err = exc.value.errors[0]
    assert err.code == "credit_group_unknown"
    assert err.pointer == "/lines/2/tax_rate"
    assert "standard 19 %" in err.hint


def test_credit_beyond_the_group_remainder_is_rejected_with_what_remains() -> None:
    ledger = example()
    with pytest.raises(DomainError) as exc:
        credit(ledger, g("7", "2000.00", "140.00"), pointers={key_of(S, D(7)): "/lines/0"})
    err = exc.value.errors[0]
    assert err.code == "credit_too_large" and err.pointer == "/lines/0/unit_price"
    assert "1000.00 net (70.00 VAT)" in err.hint
    # the total would fit (2,140.00 < 2,260.00) but the 7 % group does not
    ledger = credit(ledger, g("7", "600.00", "42.00"))
    with pytest.raises(DomainError):
        credit(ledger, g("7", "400.01", "28.00"))
    credit(ledger, g("7", "400.00", "28.00"))


def test_every_failing_group_is_reported() -> None:
    with pytest.raises(DomainError) as exc:
        credit(
            Ledger("EUR", (g("19", "10.00", "1.90"),)),
            g("19", "20.00", "3.80"),
            g("7", "1.00", "0.07"),
            pointers={key_of(S, D(19)): "/lines/0", key_of(S, D(7)): "/lines/1"},
        )
    assert [e.pointer for e in exc.value.errors] == ["/lines/0/unit_price", "/lines/1/tax_rate"]


def test_category_is_part_of_the_group() -> None:
    ledger = Ledger("EUR", (g("0", "100.00", "0.00", TaxCategory.EXEMPT),))
    with pytest.raises(DomainError) as exc:
        credit(ledger, g("0", "100.00", "0.00", TaxCategory.ZERO))
    assert exc.value.errors[0].code == "credit_group_unknown"
    assert credit(ledger, g("0", "100.00", "0.00", TaxCategory.EXEMPT)).remainder() == []


def test_payments_are_spread_pro_rata_over_what_remains() -> None:
    ledger = example().with_paid(D("1130.00"))  # half of 2,260.00
    assert ledger.open_amount == D("1130.00")
    opened = ledger.open_groups()
    assert opened == [g("19", "500.00", "95.00"), g("7", "500.00", "35.00")]
    assert sum(o.gross for o in opened) == ledger.open_amount
    ledger = credit(ledger, *opened)
    assert ledger.open_amount == 0 and ledger.credit_balance == 0


def test_open_split_never_exceeds_the_remainder_of_a_group() -> None:
    ledger = Ledger("EUR", (g("19", "0.06", "0.01"), g("7", "0.01", "0.00"))).with_paid(D("0.01"))
    for o, b in zip(ledger.open_groups(), ledger.groups, strict=True):
        assert 0 <= o.net <= b.remaining_net and 0 <= o.tax <= b.remaining_tax
    assert sum(o.gross for o in ledger.open_groups()) == ledger.open_amount


def test_credit_after_full_payment_is_a_credit_balance() -> None:
    ledger = credit(example().with_paid(D("2260.00")), g("19", "100.00", "19.00"))
    assert ledger.open_amount == 0 and ledger.credit_balance == D("119.00")
    assert ledger.open_groups() == []


def test_write_off_and_its_reversal() -> None:
    ledger = example().with_paid(D("260.00"))
    taken = ledger.check_movement(MovementKind.WRITE_OFF, ledger.open_groups())
    written = ledger.with_movement(Movement(MovementKind.WRITE_OFF, DAY, taken))
    assert written.open_amount == 0 and written.written_off_gross == D("2000.00")
    back = written.with_movement(Movement(MovementKind.WRITE_OFF_REVERSAL, DAY, taken))
    assert back.written_off_gross == 0 and back.open_amount == D("2000.00")


def test_movements_round_trip_through_json() -> None:
    m = Movement(MovementKind.CREDIT, DAY, (g("7", "1.00", "0.07"),), "id", "GS-1", "why")
    assert Movement.from_json(m.to_json()) == m
    ledger = Ledger.of(
        "EUR",
        [{"category": "standard", "rate": "7.00", "taxable_amount": "1.00", "tax_amount": "0.07"}],
        [m.to_json()],
    )
    assert ledger.remainder() == [] and ledger.credited_gross == D("1.07")


def test_negative_group_is_reversed_within_its_sign() -> None:
    # an advance deducted at 19 % (a negative group) next to a positive 7 % group
    ledger = Ledger("EUR", (g("19", "-100.00", "-19.00"), g("7", "1000.00", "70.00")))
    rest = ledger.remainder()
    assert credit(ledger, *rest).remainder() == []
    with pytest.raises(DomainError):
        credit(ledger, g("19", "100.00", "19.00"))


def test_with_group_taxes_keeps_the_sum_rules() -> None:
    totals = compute("EUR", [LineInput(D(1), D("0.03"), S, D(19))])
    fixed = with_group_taxes(totals, {key_of(S, D(19)): D("0.00")})
    assert fixed.tax_total == 0 and fixed.gross_total == fixed.tax_exclusive == D("0.03")


def test_gross_entry_credit_takes_the_gross_it_states_inside_the_group() -> None:
    # 100.00 gross at 19 %: 84.03 + 15.97; half of it (50.00 gross) is 42.02 + 7.98, which
    # leaves 42.01 + 7.99: a second 50.00 gross takes exactly that (compared net to net, it
    # was refused for 42.02 > 42.01), and 49.99 takes 42.00 + 7.99 (before: the whole VAT on
    # top of 42.01 net, 50.00 credited for 49.99 entered)
    ledger = Ledger("EUR", (g("19", "84.03", "15.97"),))
    first = ledger.check_movement(MovementKind.CREDIT, [g("19", "42.02", "7.98")], gross=True)
    assert first == (g("19", "42.02", "7.98"),)
    ledger = ledger.with_movement(Movement(MovementKind.CREDIT, DAY, first))
    rest = ledger.check_movement(MovementKind.CREDIT, [g("19", "42.02", "7.98")], gross=True)
    assert rest == (g("19", "42.01", "7.99"),)
    short = ledger.check_movement(MovementKind.CREDIT, [g("19", "42.01", "7.98")], gross=True)
    assert short == (g("19", "42.00", "7.99"),) and short[0].gross == D("49.99")
    with pytest.raises(DomainError) as err:
        ledger.check_movement(MovementKind.CREDIT, [g("19", "42.03", "7.98")], gross=True)
    assert err.value.errors[0].code == "credit_too_large"
    assert "50.01 gross" in err.value.errors[0].detail
    assert "at most 50.00 gross" in (err.value.errors[0].hint or "")


def test_gross_taxes_keep_the_gross_and_move_the_net() -> None:
    lines = [
        LineInput(D("1"), D("30.00"), S, D("19")),
        LineInput(D("1"), D("20.00"), S, D("19")),
    ]
    plain = compute("EUR", lines, calculate_from_net=False)
    assert (plain.groups[0].taxable_amount, plain.groups[0].tax_amount) == (D("42.02"), D("7.98"))
    fixed = compute(
        "EUR", lines, calculate_from_net=False, fixed_taxes={key_of(S, D("19")): D("7.99")}
    )
    group = fixed.groups[0]
    assert (group.taxable_amount, group.tax_amount, group.allowance) == (D("42.01"), D("7.99"), 0)
    assert fixed.gross_total == D("50.00") and fixed.line_net_total == D("42.01")
    assert sum(r.net_amount for r in fixed.lines) == D("42.01")


def test_normalized_parts_add_up_in_the_organization_currency() -> None:
    from invoicing.domain.fx import normalize

    n = normalize(
        "EUR",
        D("0.9137"),
        [g("19", "999.99", "190.00"), g("7", "19.99", "1.40")],
        paid=D("500.00"),
        credited=D("23.80"),
    )
    assert [(x.net, x.tax) for x in n.groups] == [
        (D("913.69"), D("173.60")),
        (D("18.26"), D("1.28")),
    ]
    assert n.tax_total == D("174.88") and n.gross_total == n.net_total + n.tax_total
    assert (n.paid, n.credited) == (D("456.85"), D("21.75"))
    assert n.open == n.gross_total - n.paid - n.credited
    assert normalize("EUR", D(2), [g("19", "1.00", "0.19")], receivable=False).open == D("0.00")


def test_a_reversal_is_not_dated_before_its_write_off() -> None:
    from invoicing.domain.ledger import plan_reversal

    ledger = example().with_paid(D("260.00"))
    taken = ledger.check_movement(MovementKind.WRITE_OFF, ledger.open_groups())
    written = ledger.with_movement(Movement(MovementKind.WRITE_OFF, DAY, taken, "w1"))
    with pytest.raises(DomainError) as refused:
        plan_reversal(written, "w1", DAY - dt.timedelta(days=1), void=False)
    (error,) = refused.value.errors
    assert (error.code, error.pointer) == ("date_before_write_off", "/date")
    assert DAY.isoformat() in error.detail and DAY.isoformat() in (error.hint or "")
    assert plan_reversal(written, "w1", DAY, void=False).date == DAY  # the same day is fine
