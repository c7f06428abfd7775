"""What a dunning notice may claim from a consumer (pure domain; docs/dunning.md, "Consumers"):
German default under § 286 BGB (a reminder, or 30 days after due date and receipt of an
invoice that said so), Belgian consumer debts under Book XIX of the Code of Economic Law (the
free first reminder, its 14 days, the damages scale, the interest cap)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from invoicing.domain.consumer_dunning import (
    BelgianClauses,
    History,
    Window,
    belgian_damages_cap,
    cap_costs,
    carries_default_note,
    claim_window,
    german_default_start,
    history_of,
)
from invoicing.domain.dunning import (
    InterestUnavailable,
    announced_damages,
    consumer_deadline,
    fee_of,
    interest_spans,
    window_of,
)
from invoicing.schemas.dunning import BelgianConsumerTerms, DunningLevel, DunningSettings

D = dt.date
DUE = D(2025, 3, 10)
FIXED = DunningLevel(days_after_due=7, fee=Decimal("5.00"), interest_rate_per_year=Decimal(12))
STATUTORY = DunningLevel(days_after_due=7, interest="statutory")
BOTH = BelgianClauses(damages=True, interest=True)


def test_the_note_goes_on_german_invoices_to_consumers_only() -> None:
    assert carries_default_note("invoice", "DE", "consumer")
    assert not carries_default_note("invoice", "DE", "business")
    assert not carries_default_note("invoice", "BE", "consumer")
    assert not carries_default_note("credit_note", "DE", "consumer")
    assert not carries_default_note("quote", "DE", "consumer")


def test_a_german_consumer_is_not_in_default_by_the_due_date_alone() -> None:
    """No reminder sent, no invoice with the § 286 Abs. 3 note: no default, whatever the days
    since the due date (before, interest ran from the day after the due date)."""
    assert german_default_start(DUE, History()) is None
    # an invoice without the note, sent long ago: still none
    assert german_default_start(DUE, History(invoice_sent=D(2025, 2, 24))) is None
    window = claim_window("DE", "consumer", DUE, D(2025, 9, 1), History(), D(2025, 9, 1), BOTH)
    assert window.interest_from is None
    assert (window.interest_waived, window.fee_waived) == ("not_in_default", "not_in_default")
    # nor costs an earlier notice claimed (say, before this rule): nothing beyond the balance
    assert window.costs_cap == 0


def test_a_reminder_puts_a_german_consumer_in_default_the_day_after_it_reached_them() -> None:
    """Sent on 17 March, taken to reach them on the 18th: in default from the 19th."""
    reminded = History(first_sent=D(2025, 3, 17))
    assert german_default_start(DUE, reminded) == D(2025, 3, 19)
    later = claim_window("DE", "consumer", DUE, D(2025, 3, 31), reminded, D(2025, 3, 31), BOTH)
    assert later.interest_from == D(2025, 3, 19) and later.fee_waived is None
    # the very day after the reminder it is not yet in default
    early = claim_window("DE", "consumer", DUE, D(2025, 3, 18), reminded, D(2025, 3, 18), BOTH)
    assert early.interest_from is None and early.fee_waived == "not_in_default"


def test_an_invoice_with_the_note_puts_a_german_consumer_in_default_after_30_days() -> None:
    """Sent 24 February, received the 27th (third day), due 10 March: the 30 days run from the
    later, 10 March, to 9 April; in default from 10 April. Sent after the due date, the days
    run from receipt."""
    noted = History(invoice_sent=D(2025, 2, 24), default_note=True)
    assert german_default_start(DUE, noted) == D(2025, 4, 10)
    late = History(invoice_sent=D(2025, 3, 9), default_note=True)  # received 12 March
    assert german_default_start(DUE, late) == D(2025, 4, 12)
    # a notice on 10 April claims from that day; one on 9 April claims nothing
    on = claim_window("DE", "consumer", DUE, D(2025, 4, 10), noted, D(2025, 4, 10), BOTH)
    assert on.interest_from == D(2025, 4, 10) and on.fee_waived is None
    before = claim_window("DE", "consumer", DUE, D(2025, 4, 9), noted, D(2025, 4, 9), BOTH)
    assert before.interest_from is None
    # the earlier of reminder and note: a reminder on 20 March comes first
    both = History(first_sent=D(2025, 3, 20), invoice_sent=D(2025, 2, 24), default_note=True)
    assert german_default_start(DUE, both) == D(2025, 3, 22)
    # an invoice never sent: its receipt is unknown, the note starts nothing
    assert german_default_start(DUE, History(default_note=True)) is None


def test_a_german_business_and_other_sellers_are_as_before() -> None:
    w = claim_window("DE", "business", DUE, D(2025, 3, 20), History(), D(2025, 3, 20), BOTH)
    assert w.interest_from == D(2025, 3, 11) and w.fee_waived is None and w.costs_cap is None
    fr = claim_window("FR", "consumer", DUE, D(2025, 3, 20), History(), D(2025, 3, 20), BOTH)
    assert fr.interest_from == D(2025, 3, 11)


def test_the_history_takes_the_sellers_calendar_and_never_a_day_before_the_notice() -> None:
    seller = {"address": {"country_code": "DE"}}
    # 23:30 UTC on 17 March is the 18th in Berlin
    at = dt.datetime(2025, 3, 17, 23, 30, tzinfo=dt.UTC)
    h = history_of(seller, at, True, (D(2025, 3, 17), at))
    assert h == History(first_sent=D(2025, 3, 18), invoice_sent=D(2025, 3, 18), default_note=True)
    # a run dated back (as_of after its email's day cannot happen; as_of before: the email's)
    assert history_of(seller, None, False, (D(2025, 3, 20), at)).first_sent == D(2025, 3, 20)


def test_a_belgian_consumers_first_reminder_is_free() -> None:
    """Art. XIX.2 WER: no fee, no interest; its 14 days run from the day after it is sent."""
    w = claim_window("BE", "consumer", DUE, D(2025, 3, 17), History(), D(2025, 3, 18), BOTH)
    assert w.first_reminder and w.interest_from is None
    assert (w.fee_waived, w.interest_waived) == ("first_reminder", "first_reminder")
    assert w.wait_end == D(2025, 4, 1)  # 19 March .. 1 April
    assert w.costs_cap == 0
    assert fee_of(Decimal("5.00"), "EUR", "EUR", w) == (Decimal(0), "first_reminder")
    # the payment deadline is not before the 14 days end
    assert consumer_deadline(D(2025, 3, 27), w) == D(2025, 4, 1)
    assert consumer_deadline(D(2025, 4, 20), w) == D(2025, 4, 20)
    assert consumer_deadline(None, w) is None


def test_a_belgian_consumer_owes_nothing_more_during_the_14_days() -> None:
    """Reminded by email on 17 March: the 14 days are 18 to 31 March; from 1 April on the
    notice may claim the fee and interest (from that day)."""
    reminded = History(first_sent=D(2025, 3, 17))

    def on(day: dt.date, balance: str = "0") -> Window:
        return claim_window("BE", "consumer", DUE, day, reminded, day, BOTH, Decimal(balance))

    for day in (D(2025, 3, 18), D(2025, 3, 31)):
        assert on(day).interest_from is None and on(day).fee_waived == "waiting_period"
        assert on(day).costs_cap == 0
    after = on(D(2025, 4, 1), "1000.00")
    assert after.interest_from == D(2025, 4, 1) and after.fee_waived is None
    assert after.costs_cap == Decimal("90.00") and after.rate_cap


def test_without_a_clause_a_belgian_consumer_owes_neither_damages_nor_interest() -> None:
    reminded = History(first_sent=D(2025, 3, 17))
    w = claim_window(
        "BE", "consumer", DUE, D(2025, 5, 1), reminded, D(2025, 5, 1), BelgianClauses()
    )
    assert (w.interest_from, w.interest_waived, w.fee_waived) == (None, "no_clause", "no_clause")
    assert w.costs_cap == 0


@pytest.mark.parametrize(
    ("balance", "cap"),
    [
        ("0.00", "0.00"),
        ("0.01", "20.00"),
        ("150.00", "20.00"),
        ("150.01", "30.00"),  # 30 + 10 % of 0.01, rounded down
        ("150.10", "30.01"),
        ("499.99", "64.99"),  # 30 + 34.999
        ("500.00", "65.00"),
        ("500.01", "65.00"),  # 65 + 5 % of 0.01
        ("1000.00", "90.00"),
        ("39199.99", "1999.99"),
        ("39200.00", "2000.00"),
        ("39200.01", "2000.00"),
        ("1000000000.00", "2000.00"),
    ],
)
def test_the_belgian_damages_scale(balance: str, cap: str) -> None:
    assert belgian_damages_cap(Decimal(balance)) == Decimal(cap)


def test_costs_are_cut_to_the_cap_fee_first_then_what_is_carried() -> None:
    assert cap_costs(Decimal("10.00"), Decimal("5.00"), None).cut == 0
    within = cap_costs(Decimal("10.00"), Decimal("5.00"), Decimal("20.00"))
    assert (within.earlier, within.fee, within.cut) == (Decimal("10.00"), Decimal("5.00"), 0)
    fee_cut = cap_costs(Decimal("15.00"), Decimal("10.00"), Decimal("20.00"))
    assert (fee_cut.earlier, fee_cut.fee, fee_cut.cut) == (
        Decimal("15.00"),
        Decimal("5.00"),
        Decimal("5.00"),
    )
    # a partial payment lowered the balance and the cap below what was already claimed
    both_cut = cap_costs(Decimal("30.00"), Decimal("10.00"), Decimal("20.00"))
    assert (both_cut.earlier, both_cut.fee, both_cut.cut) == (
        Decimal("20.00"),
        Decimal("0.00"),
        Decimal("20.00"),
    )
    no_clause = cap_costs(Decimal(0), Decimal("5.00"), Decimal(0))
    assert (no_clause.fee, no_clause.cut) == (Decimal(0), Decimal("5.00"))


def test_interest_runs_from_the_start_of_default_at_most_at_the_belgian_cap() -> None:
    """12 % agreed, capped each half-year at the ECB rate + 8 rounded up (2025-H1: 11.5,
    2025-H2: 10.5); from the first day of default, not the day after the due date."""
    spans, basis = interest_spans(
        FIXED, "BE", "consumer", DUE, D(2025, 7, 10), start=D(2025, 4, 1), rate_cap=True
    )
    assert basis == "be_consumer"
    assert [(s.start, s.end, s.rate) for s in spans] == [
        (D(2025, 4, 1), D(2025, 6, 30), Decimal("11.5")),
        (D(2025, 7, 1), D(2025, 7, 10), Decimal("10.5")),
    ]
    low = DunningLevel(days_after_due=7, interest_rate_per_year=Decimal(4))
    spans, _ = interest_spans(
        low, "BE", "consumer", DUE, D(2025, 7, 10), start=D(2025, 4, 2), rate_cap=True
    )
    assert {s.rate for s in spans} == {Decimal(4)}  # below the cap: as agreed
    with pytest.raises(InterestUnavailable, match="2026-07-01"):
        interest_spans(
            FIXED, "BE", "consumer", DUE, D(2026, 8, 1), start=D(2025, 4, 2), rate_cap=True
        )
    # a German consumer's statutory interest from the reminder's default, not the due date
    spans, basis = interest_spans(
        STATUTORY, "DE", "consumer", DUE, D(2025, 3, 31), start=D(2025, 3, 19)
    )
    assert basis == "de_consumer" and spans[0].start == D(2025, 3, 19)


def test_the_first_reminder_announces_what_the_later_levels_will_claim() -> None:
    levels = [
        DunningLevel(days_after_due=7),
        DunningLevel(days_after_due=30, fee=Decimal("15.00")),
        DunningLevel(days_after_due=60, fee=Decimal("15.00")),
    ]
    terms = BelgianConsumerTerms(damages_clause=True)
    settings = DunningSettings(levels=levels, belgian_consumers=terms)
    first = window_of(settings, "BE", "consumer", DUE, D(2025, 3, 17), History())
    assert announced_damages(settings, 1, "EUR", Decimal("100.00"), first) == Decimal("20.00")
    assert announced_damages(settings, 1, "EUR", Decimal("1000.00"), first) == Decimal("30.00")
    assert announced_damages(settings, 1, "CHF", Decimal("1000.00"), first) is None
    without = DunningSettings(levels=levels)
    assert announced_damages(without, 1, "EUR", Decimal("1000.00"), first) is None
