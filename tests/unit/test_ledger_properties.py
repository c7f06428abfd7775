"""Property-based: random sequences of credits, payments, deletions of payments, write-offs
and their reversals, and voids.

Domain level (calc + ledger, no I/O): whatever the sequence, per tax group the VAT reversed
never exceeds the VAT invoiced, open amounts never go negative, every document (the invoice and
each credit note) keeps the EN 16931 sum rules, and credit-the-rest and void end every group at
exactly zero. The handler path (tests/integration/test_ledger_properties.py) runs a smaller
variant through commands.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from invoicing.domain.calc import LineInput, Totals, compute, with_group_taxes
from invoicing.domain.errors import DomainError
from invoicing.domain.ledger import (
    GroupAmount,
    Ledger,
    Movement,
    MovementKind,
    drift,
    key_of,
    plan_reversal,
)
from invoicing.domain.money import ZERO, quantum, round_money
from invoicing.domain.tax import TaxCategory

from tests.unit.test_calc_properties import invoices

DAY = dt.date(2026, 3, 1)
OTHER_RATES = [Decimal(r) for r in ("19", "7", "21", "16", "5")]


def group_amounts(t: Totals) -> list[GroupAmount]:
    return [GroupAmount(g.category, g.rate, g.taxable_amount, g.tax_amount) for g in t.groups]


def assert_document_sums(t: Totals, items: list[LineInput], tolerance: dict | None = None) -> None:  # type: ignore[type-arg]
    """BR-CO-10/13/14/15 exactly, BR-S-08 exactly, BR-S-09 within ``tolerance`` per group."""
    cur, q = t.currency, quantum(t.currency)
    assert t.line_net_total == sum((r.net_amount for r in t.lines), ZERO)
    assert t.tax_exclusive == t.line_net_total - t.allowance_total
    assert t.tax_total == sum((g.tax_amount for g in t.groups), ZERO)
    assert t.gross_total == t.tax_exclusive + t.tax_total
    for g in t.groups:
        members = [
            r
            for r, line in zip(t.lines, items, strict=True)
            if key_of(line.tax_category, line.tax_rate) == key_of(g.category, g.rate)
        ]
        assert g.taxable_amount == sum((r.net_amount for r in members), ZERO) - g.allowance
        allowed = (tolerance or {}).get(key_of(g.category, g.rate), q)
        assert abs(g.tax_amount - g.taxable_amount * g.rate / 100) <= allowed
        assert abs(g.tax_amount - g.taxable_amount * g.rate / 100) < 1  # the schematron's bound
        assert g.tax_amount == round_money(g.tax_amount, cur)


class LedgerMachine(RuleBasedStateMachine):
    """One invoice and everything that may happen to it afterwards."""

    @initialize(inv=invoices())
    def start(self, inv: tuple) -> None:  # type: ignore[type-arg]
        currency, items, from_net, doc = inv
        self.currency, self.from_net = currency, from_net
        self.totals = compute(currency, items, calculate_from_net=from_net, document_discount=doc)
        assume(self.totals.gross_total > 0)
        assert_document_sums(self.totals, items)
        self.ledger = Ledger(currency, tuple(group_amounts(self.totals)))
        self.payments: list[Decimal] = []
        self.credit_notes: list[Totals] = []
        self.write_offs: list[Movement] = []
        self.void = False

    # ---------------------------------------------------------------- helpers

    def _paid(self) -> Decimal:
        return sum(self.payments, ZERO)

    def _credit(
        self, items: list[LineInput], from_net: bool, plan: list[GroupAmount] | None = None
    ) -> bool:
        """The handler's path: compute the document, check it (a planned credit proposes the
        plan's VAT), fix group VAT, record it."""
        doc = compute(self.currency, items, calculate_from_net=from_net)
        tolerance = {}
        for g in doc.groups:
            b = self.ledger.group(key_of(g.category, g.rate))
            earlier = sum(
                1 for m in self.ledger.movements for x in m.groups if b and x.key == b.key
            )
            tolerance[key_of(g.category, g.rate)] = quantum(self.currency) * (earlier + 1)
        before = self.ledger
        try:
            proposed = group_amounts(doc) if plan is None else plan
            taken = self.ledger.check_movement(
                MovementKind.CREDIT,
                proposed,
                fit=plan is None,
                gross=plan is None and not from_net,
            )
        except DomainError as exc:
            assert self.ledger == before
            for err in exc.errors:
                assert err.code in (
                    "credit_group_unknown",
                    "credit_too_large",
                    "credit_not_splittable",
                    "invalid_attribute",
                )
                assert err.hint
            return False
        taxes = {g.key: g.tax for g in taken}
        if from_net:
            fixed = with_group_taxes(doc, taxes)
        else:  # gross entry: the gross stays as entered, the net takes the difference
            fixed = compute(self.currency, items, calculate_from_net=False, fixed_taxes=taxes)
            assert fixed.gross_total == doc.gross_total
        assert_document_sums(fixed, items, tolerance)
        assert group_amounts(fixed) == list(taken)
        self.credit_notes.append(fixed)
        self.ledger = self.ledger.with_movement(Movement(MovementKind.CREDIT, DAY, taken))
        return True

    def _rest_lines(self, groups: list[GroupAmount]) -> list[LineInput]:
        return [LineInput(Decimal(1), g.net, g.category, g.rate) for g in groups if g.net]

    # ---------------------------------------------------------------- rules

    @precondition(lambda self: not self.void)
    @rule(
        data=st.data(),
        count=st.integers(1, 3),
    )
    def partial_credit(self, data: st.DataObject, count: int) -> None:
        q = quantum(self.currency)
        items = []
        for _ in range(count):
            if self.ledger.groups and data.draw(st.integers(0, 5)) > 0:
                b = data.draw(st.sampled_from(self.ledger.groups))
                category, rate = b.category, b.rate
                top = max(int(b.remaining_net / q), 1) * 2  # sometimes beyond the remainder
                rest = b.remaining_net if self.from_net else b.remaining_gross
            else:
                category, rate = TaxCategory.STANDARD, data.draw(st.sampled_from(OTHER_RATES))
                top, rest = 100_000, ZERO
            price = Decimal(data.draw(st.integers(1, top))) * q
            if rest > 0 and data.draw(st.integers(0, 3)) == 0:
                price = rest  # exactly what remains of the group, as entered (net or gross)
            items.append(LineInput(Decimal(1), price, category, rate))
        self._credit(items, self.from_net)

    @precondition(lambda self: not self.void and bool(self.ledger.remainder()))
    @rule()
    def credit_the_rest(self) -> None:
        rest = self.ledger.remainder()
        assert self._credit(self._rest_lines(rest), True, rest)
        assert self.ledger.remainder() == []

    @precondition(lambda self: not self.void and self.ledger.open_amount > 0)
    @rule()
    def void_open(self) -> None:
        had_payments = self._paid() > 0
        opened = self.ledger.open_groups()
        assert self._credit(self._rest_lines(opened), True, opened)
        assert self.ledger.open_amount == 0
        if not had_payments:
            assert self.ledger.remainder() == []
        self.void = True

    @precondition(lambda self: not self.void)
    @rule(share=st.integers(1, 120), overpay=st.booleans())
    def pay(self, share: int, overpay: bool) -> None:
        open_ = self.ledger.open_amount
        amount = round_money(open_ * share / 100, self.currency)
        if amount > open_ and not overpay:
            amount = open_
        assume(amount > 0)
        self.payments.append(amount)
        self.ledger = self.ledger.with_paid(self._paid())

    @precondition(lambda self: not self.void and bool(self.payments))
    @rule(data=st.data())
    def delete_payment(self, data: st.DataObject) -> None:
        self.payments.pop(data.draw(st.integers(0, len(self.payments) - 1)))
        self.ledger = self.ledger.with_paid(self._paid())

    @precondition(lambda self: not self.void and self.ledger.open_amount > 0)
    @rule(share=st.integers(1, 100))
    def write_off(self, share: int) -> None:
        before = self.ledger.open_amount
        amount = max(round_money(before * share / 100, self.currency), quantum(self.currency))
        parts = self.ledger.part_of_open(amount)
        assert sum((g.gross for g in parts), ZERO) == amount
        taken = self.ledger.check_movement(MovementKind.WRITE_OFF, parts)
        assert list(taken) == parts
        movement = Movement(MovementKind.WRITE_OFF, DAY, taken, f"w{len(self.ledger.movements)}")
        self.write_offs.append(movement)
        self.ledger = self.ledger.with_movement(movement)
        assert self.ledger.open_amount == before - amount

    @precondition(lambda self: not self.void and bool(self.write_offs))
    @rule(data=st.data())
    def reverse_write_off(self, data: st.DataObject) -> None:
        original = self.write_offs.pop(data.draw(st.integers(0, len(self.write_offs) - 1)))
        before = self.ledger.remaining_gross
        reversal = plan_reversal(self.ledger, str(original.document_id), DAY, void=False)
        assert [g.gross for g in reversal.groups] == [g.gross for g in original.groups]
        self.ledger = self.ledger.with_movement(reversal)
        assert self.ledger.remaining_gross == before + original.gross

    @precondition(lambda self: self.void)
    @rule()
    def after_void(self) -> None:
        """A void invoice owes nothing; what was paid stays invoiced (the open part credited)."""
        assert self.ledger.open_amount == 0
        assert self.ledger.remaining_gross == min(self._paid(), self.ledger.remaining_gross)

    # ---------------------------------------------------------------- invariants

    @invariant()
    def reversed_never_exceeds_invoiced(self) -> None:
        for b in self.ledger.groups:
            for invoiced, taken in (
                (b.invoiced_tax, b.credited_tax + b.written_off_tax),
                (b.invoiced_net, b.credited_net + b.written_off_net),
            ):
                assert min(ZERO, invoiced) <= taken <= max(ZERO, invoiced), b

    @invariant()
    def open_amounts_never_negative(self) -> None:
        ledger = self.ledger
        assert ledger.open_amount >= 0 and ledger.credit_balance >= 0
        assert ledger.open_amount - ledger.credit_balance == ledger.remaining_gross - self._paid()
        for b in ledger.groups:
            assert min(ZERO, b.remaining_net) <= b.open_net <= max(ZERO, b.remaining_net)
            assert min(ZERO, b.remaining_tax) <= b.open_tax <= max(ZERO, b.remaining_tax)
        assert sum((g.gross for g in ledger.open_groups()), ZERO) == ledger.open_amount

    @invariant()
    def rests_stay_creditable(self) -> None:
        """Whatever remains or is open in a group can be credited by a valid document: its
        VAT stays less than one currency unit from net x rate (BR-S-09), in every currency."""
        if self.void:
            return  # the paid part of a void invoice is never credited
        for g in [*self.ledger.remainder(), *self.ledger.open_groups()]:
            assert abs(drift(g.net, g.tax, g.rate)) < 1, g

    @invariant()
    def documents_add_up(self) -> None:
        credited = sum((cn.gross_total for cn in self.credit_notes), ZERO)
        assert credited == self.ledger.credited_gross
        written_off = sum((w.gross for w in self.write_offs), ZERO)
        assert self.ledger.written_off_gross == written_off
        assert self.ledger.remaining_gross == self.totals.gross_total - credited - written_off
        assert self.ledger.credited_net == sum((cn.tax_exclusive for cn in self.credit_notes), ZERO)


LedgerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=12, deadline=None)
TestLedgerSequences = LedgerMachine.TestCase


def test_rest_after_a_write_off_in_yen() -> None:
    """The sequence hypothesis found: two write-offs (6 % and 1 % of the open amount) left the
    rest of the 19 % group 1.1 yen away from net x rate (each part split on its own: +0.48
    invoiced, -0.23 and -0.39 taken). The first write-off keeps its split (any other leaves
    more drift somewhere: 0.71 in the rest is the least); the second now takes 80 + 16 instead
    of 81 + 15, so the rest ends 0.09 yen from net x rate and the written-off part 0.57."""
    free = LineInput(Decimal("1"), Decimal("0"), TaxCategory.STANDARD, Decimal("19"))
    items = [free] * 6 + [
        LineInput(Decimal("0.1"), Decimal("25"), TaxCategory.STANDARD, Decimal("19")),
        LineInput(Decimal("49"), Decimal("209"), TaxCategory.STANDARD, Decimal("19")),
    ]
    totals = compute("JPY", items, calculate_from_net=False)
    ledger = Ledger("JPY", tuple(group_amounts(totals)))
    for share in (6, 1):
        amount = max(round_money(ledger.open_amount * share / 100, "JPY"), quantum("JPY"))
        taken = ledger.check_movement(MovementKind.WRITE_OFF, ledger.part_of_open(amount))
        ledger = ledger.with_movement(Movement(MovementKind.WRITE_OFF, DAY, taken))
    assert [(g.net, g.tax) for m in ledger.movements for g in m.groups] == [
        (Decimal(517), Decimal(98)),
        (Decimal(80), Decimal(16)),
    ]
    for rest in ledger.remainder():
        assert abs(rest.tax - rest.net * rest.rate / 100) < 1
    # and the credit note of the rest is a valid document
    rest_doc = with_group_taxes(
        compute(
            "JPY", [LineInput(Decimal(1), g.net, g.category, g.rate) for g in ledger.remainder()]
        ),
        {g.key: g.tax for g in ledger.remainder()},
    )
    assert_document_sums(
        rest_doc,
        [LineInput(Decimal(1), g.net, g.category, g.rate) for g in ledger.remainder()],
        {g.key: Decimal(1) for g in ledger.remainder()},
    )


def _partial_credit(ledger: Ledger, currency: str, price: str, from_net: bool = False) -> Ledger:
    """One partial credit of a single 19 % line through the handler's path (``_credit``): the
    ledger fits its split, the document is computed with that VAT and must be valid."""
    items = [LineInput(Decimal(1), Decimal(price), TaxCategory.STANDARD, Decimal(19))]
    doc = compute(currency, items, calculate_from_net=from_net)
    taken = ledger.check_movement(
        MovementKind.CREDIT, group_amounts(doc), fit=True, gross=not from_net
    )
    taxes = {g.key: g.tax for g in taken}
    if from_net:
        fixed = with_group_taxes(doc, taxes)
    else:
        fixed = compute(currency, items, calculate_from_net=False, fixed_taxes=taxes)
    assert_document_sums(fixed, items, {g.key: Decimal(1) for g in taken})
    assert group_amounts(fixed) == list(taken)
    return ledger.with_movement(Movement(MovementKind.CREDIT, DAY, taken))


def _assert_rest_creditable(ledger: Ledger) -> None:
    """The credit note of the whole rest (credit the rest, void) is a valid document."""
    rest = ledger.remainder()
    for g in rest:
        assert abs(drift(g.net, g.tax, g.rate)) < 1, g
        assert g.net or not g.tax, g
    items = [LineInput(Decimal(1), g.net, g.category, g.rate) for g in rest]
    doc = with_group_taxes(compute(ledger.currency, items), {g.key: g.tax for g in rest})
    assert_document_sums(doc, items, {g.key: Decimal(1) for g in rest})


def _gross_entry_ledger(currency: str, items: list[LineInput]) -> Ledger:
    totals = compute(currency, items, calculate_from_net=False)
    return Ledger(currency, tuple(group_amounts(totals)))


def test_third_yen_credit_would_leave_an_uncreditable_rest() -> None:
    """Hypothesis (rests_stay_creditable): a gross-entry JPY invoice whose 19 % group is
    10 yen gross (8 + 2), credited by 1 yen three times. A 1-yen credit can only be 1 net +
    0 VAT (0 + 1 is VAT without net, off net x rate by 1), so the rests are 7 + 2, 6 + 2 and
    then 5 + 2: 1.05 yen from 0.95, which no valid document can credit. The third 1-yen
    credit is refused; 2 yen (1 + 1) leaves 5 + 1, and the rest stays creditable."""
    zero = LineInput(Decimal(1), Decimal(0), TaxCategory.REVERSE_CHARGE, Decimal(0))
    items = [
        zero,
        LineInput(Decimal(1), Decimal(0), TaxCategory.STANDARD, Decimal(19)),
        zero,
        LineInput(Decimal(6), Decimal("1.59"), TaxCategory.STANDARD, Decimal(19)),
    ]
    ledger = _gross_entry_ledger("JPY", items)
    assert [(g.net, g.tax) for g in ledger.invoiced] == [(0, 0), (8, 2)]
    for _ in range(2):
        ledger = _partial_credit(ledger, "JPY", "1")
        _assert_rest_creditable(ledger)
    assert [(g.net, g.tax) for g in ledger.remainder()] == [(6, 2)]
    with pytest.raises(DomainError) as exc:
        _partial_credit(ledger, "JPY", "1")
    err = exc.value.errors[0]
    assert err.code == "credit_not_splittable"
    assert "8 gross" in err.hint  # the whole rest can always be credited
    ledger = _partial_credit(ledger, "JPY", "2")
    assert [(g.net, g.tax) for g in ledger.movements[-1].groups] == [(1, 1)]
    assert [(g.net, g.tax) for g in ledger.remainder()] == [(5, 1)]
    _assert_rest_creditable(ledger)


def test_yen_credit_never_takes_vat_without_net() -> None:
    """Hypothesis (assert_document_sums): 2 x 2 yen gross at 19 % (3 + 1) credited by 1 yen
    three times. After 1 + 0 twice the rest is 1 + 1; a third 1 yen took 0 net + 1 VAT (the
    whole remaining net takes the whole VAT), a credit note with a 19 % group of taxable 0 and
    VAT 1. It is refused now, and the rest, 2 yen, is credited whole."""
    ledger = _gross_entry_ledger(
        "JPY", [LineInput(Decimal(2), Decimal(2), TaxCategory.STANDARD, Decimal(19))]
    )
    for _ in range(2):
        ledger = _partial_credit(ledger, "JPY", "1")
    assert [(g.net, g.tax) for g in ledger.remainder()] == [(1, 1)]
    with pytest.raises(DomainError) as exc:
        _partial_credit(ledger, "JPY", "1")
    assert exc.value.errors[0].code == "credit_not_splittable"
    _assert_rest_creditable(ledger)
    ledger = _partial_credit(ledger, "JPY", "2")  # the whole rest, as entered
    assert ledger.remainder() == []


def test_cent_credit_never_takes_vat_without_net() -> None:
    """The same in euros: 0.07 gross (0.06 + 0.01) credited by 0.01 six times took 0.00 net +
    0.01 VAT the sixth time. The rest, 0.01 + 0.01, is credited whole instead."""
    ledger = _gross_entry_ledger(
        "EUR", [LineInput(Decimal(1), Decimal("0.07"), TaxCategory.STANDARD, Decimal(19))]
    )
    for _ in range(5):
        ledger = _partial_credit(ledger, "EUR", "0.01")
        assert [(g.net, g.tax) for g in ledger.movements[-1].groups] == [
            (Decimal("0.01"), Decimal("0.00"))
        ]
    with pytest.raises(DomainError) as exc:
        _partial_credit(ledger, "EUR", "0.01")
    assert exc.value.errors[0].code == "credit_not_splittable"
    ledger = _partial_credit(ledger, "EUR", "0.02")
    assert ledger.remainder() == []
