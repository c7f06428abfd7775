"""What German and Belgian law let a dunning notice claim (pure domain; docs/dunning.md):
statutory interest by half-year, business or consumer, the EUR 40 flat compensation, earlier
notices' costs carried, the payment deadline."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from invoicing.domain.consumer_dunning import History
from invoicing.domain.dunning import (
    BalanceChange,
    Candidate,
    EarlierNotice,
    InterestUnavailable,
    debtor_of,
    dunning_costs,
    flat_compensation_claim,
    interest_by_days,
    interest_spans,
    payment_deadline,
    plan_notices,
)
from invoicing.domain.reference_rates import (
    ECB_MAIN_REFINANCING_RATE,
    GERMAN_BASE_RATE,
    RateSpan,
    belgian_rate,
    statutory_spans,
)
from invoicing.schemas.dunning import BelgianConsumerTerms, DunningLevel, DunningSettings
from pydantic import ValidationError

D = dt.date
STATUTORY = DunningLevel(days_after_due=7, interest="statutory")


def test_the_tables_hold_every_half_year_with_the_verified_values() -> None:
    assert GERMAN_BASE_RATE[D(2016, 7, 1)] == GERMAN_BASE_RATE[D(2022, 7, 1)] == Decimal("-0.88")
    assert GERMAN_BASE_RATE[D(2024, 7, 1)] == Decimal("3.37")
    assert GERMAN_BASE_RATE[D(2026, 1, 1)] == Decimal("1.27")
    assert ECB_MAIN_REFINANCING_RATE[D(2019, 1, 1)] == Decimal("0.00")
    assert len(GERMAN_BASE_RATE) == len(ECB_MAIN_REFINANCING_RATE) == 20  # 2016-H2 .. 2026-H1
    assert D(2026, 7, 1) not in GERMAN_BASE_RATE  # not known to this release


@pytest.mark.parametrize(
    ("half_year", "rate"),
    [
        (D(2022, 7, 1), "8.0"),
        (D(2023, 1, 1), "10.5"),
        (D(2023, 7, 1), "12.0"),
        (D(2024, 1, 1), "12.5"),
        (D(2024, 7, 1), "12.5"),
        (D(2025, 1, 1), "11.5"),
        (D(2025, 7, 1), "10.5"),
    ],
)
def test_the_belgian_rate_is_the_ecb_rate_plus_8_rounded_up_to_a_half(
    half_year: dt.date, rate: str
) -> None:
    assert belgian_rate(ECB_MAIN_REFINANCING_RATE[half_year]) == Decimal(rate)


def test_german_rates_change_within_the_period_and_each_day_takes_its_own() -> None:
    """Due 2024-06-20, dunned 2024-07-10: 10 days at 3.62 + 9, 10 at 3.37 + 9 (business); a
    payment on 2024-07-05 lowers the last 6 days. The sum is rounded once."""
    spans = statutory_spans("DE", "business", D(2024, 6, 21), D(2024, 7, 10), GERMAN_BASE_RATE)
    assert [(s.start, s.end, s.rate) for s in spans] == [
        (D(2024, 6, 21), D(2024, 6, 30), Decimal("12.62")),
        (D(2024, 7, 1), D(2024, 7, 10), Decimal("12.37")),
    ]
    changes = [BalanceChange(D(2024, 7, 5), Decimal("-400.00"))]
    interest, periods = interest_by_days(
        Decimal("1000.00"), changes, D(2024, 6, 20), D(2024, 7, 10), spans, "EUR"
    )
    june = Decimal(1000) * 10 * Decimal("12.62") / 100 / 365
    july = (Decimal(1000) * 4 + Decimal(600) * 6) * Decimal("12.37") / 100 / 365
    assert interest == (june + july).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert [p.amount for p in periods] == [
        june.quantize(Decimal("0.01"), ROUND_HALF_UP),
        july.quantize(Decimal("0.01"), ROUND_HALF_UP),
    ]
    consumer = statutory_spans("DE", "consumer", D(2024, 6, 21), D(2024, 6, 30), GERMAN_BASE_RATE)
    assert consumer[0].rate == Decimal("8.62")


def test_a_fixed_rate_is_one_span_and_the_same_as_before() -> None:
    level = DunningLevel(days_after_due=7, interest_rate_per_year=Decimal("9"))
    spans, basis = interest_spans(level, "DE", "business", D(2026, 1, 19), D(2026, 2, 9))
    assert spans == [RateSpan(D(2026, 1, 20), D(2026, 2, 9), Decimal("9"))] and basis is None


def test_no_rate_is_guessed_past_the_table_and_an_own_rate_extends_it() -> None:
    with pytest.raises(InterestUnavailable, match=r"2026-07-01.*reference_rates"):
        interest_spans(STATUTORY, "DE", "business", D(2026, 6, 1), D(2026, 12, 3))
    own = {D(2026, 7, 1): Decimal("1.27")}
    spans, basis = interest_spans(STATUTORY, "DE", "business", D(2026, 6, 1), D(2026, 12, 3), own)
    assert basis == "de_business" and [s.rate for s in spans] == [Decimal("10.27")] * 2
    with pytest.raises(InterestUnavailable, match="2016-01-01"):
        interest_spans(STATUTORY, "DE", "business", D(2016, 6, 1), D(2016, 8, 1))


def test_belgian_consumers_and_other_countries_get_no_statutory_interest() -> None:
    with pytest.raises(InterestUnavailable, match="consumer"):
        interest_spans(STATUTORY, "BE", "consumer", D(2025, 1, 10), D(2025, 2, 1))
    with pytest.raises(InterestUnavailable, match="DE and BE"):
        interest_spans(STATUTORY, "FR", "business", D(2025, 1, 10), D(2025, 2, 1))
    spans, basis = interest_spans(STATUTORY, "BE", "business", D(2025, 6, 10), D(2025, 7, 2))
    assert basis == "be_business" and [s.rate for s in spans] == [Decimal("11.5"), Decimal("10.5")]


def test_a_run_reports_a_notice_it_cannot_compute_and_sends_the_others() -> None:
    """A Belgian consumer past the free first reminder and its 14 days, whose contracts provide
    interest, cannot get statutory interest (no rate is known for them): refused. Before its
    first reminder it claims no interest at all, so nothing needs a rate: sent."""
    settings = DunningSettings(
        levels=[STATUTORY], belgian_consumers=BelgianConsumerTerms(interest_clause=True)
    )
    reminded, never = History(first_sent=D(2025, 1, 15)), History()

    def cand(debtor: str, history: History = never) -> Candidate:
        return Candidate(uuid.uuid4(), "RE-1", D(2025, 1, 10), True, None, "BE", debtor, history)  # type: ignore[arg-type]

    ok, refused = cand("business"), cand("consumer", reminded)
    plan = plan_notices(settings, [refused, ok], {}, set(), D(2025, 2, 1), max_notices=1)
    assert plan.notices == [(ok, 1)]
    assert [(c, "consumer" in why) for c, why in plan.refused] == [(refused, True)]
    first = cand("consumer")  # a first reminder claims no interest: nothing to refuse
    plan = plan_notices(settings, [first], {}, set(), D(2025, 2, 1), max_notices=1)
    assert plan.notices == [(first, 1)] and plan.refused == []


def test_debtor_is_what_the_customer_says_else_by_its_vat_id() -> None:
    assert debtor_of("consumer", "DE811569869") == "consumer"
    assert debtor_of("business", None) == "business"
    assert debtor_of(None, "DE811569869") == "business"
    assert debtor_of(None, None) == "consumer"


def test_flat_compensation_is_claimed_once_and_fees_are_credited_against_it() -> None:
    assert flat_compensation_claim(2, 1, True, "EUR") == (False, None)
    assert flat_compensation_claim(2, 2, True, "EUR") == (True, None)
    assert flat_compensation_claim(2, 3, False, "EUR") == (False, "consumer")
    assert flat_compensation_claim(2, 3, True, "CHF") == (False, "currency")
    first = dunning_costs([], Decimal("5.00"), claim_flat=False)
    assert (first.earlier, first.total) == (Decimal(0), Decimal("5.00"))
    # level 2 claims the compensation: the 5.00 fee so far and its own 5.00 are credited
    second = dunning_costs([EarlierNotice(Decimal("5.00"))], Decimal("5.00"), claim_flat=True)
    assert (second.earlier, second.fee, second.flat_compensation) == (
        Decimal("5.00"),
        Decimal("5.00"),
        Decimal("40.00"),
    )
    assert (second.credited, second.total) == (Decimal("10.00"), Decimal("40.00"))
    # never twice; fees beyond the 40.00 are claimed again
    sent = [
        EarlierNotice(Decimal("5.00")),
        EarlierNotice(Decimal("5.00"), Decimal(40), Decimal(10)),
    ]
    third = dunning_costs(sent, Decimal("35.00"), claim_flat=True)
    assert (third.earlier, third.flat_compensation) == (Decimal("40.00"), Decimal(0))
    # fees 45.00 in all: 30.00 of this 35.00 fee are credited, 5.00 exceed the compensation
    assert (third.credited, third.total) == (Decimal("30.00"), Decimal("45.00"))
    # without the compensation, every fee so far is carried
    plain = dunning_costs([EarlierNotice(Decimal("5.00"))], Decimal("10.00"), claim_flat=False)
    assert (plain.earlier, plain.total) == (Decimal("5.00"), Decimal("15.00"))


def test_payment_deadline_and_settings_validation() -> None:
    assert payment_deadline(D(2026, 12, 3), 10) == D(2026, 12, 13)
    assert payment_deadline(D(2026, 12, 3), None) is None
    assert DunningLevel(days_after_due=7).payment_days == 10
    with pytest.raises(ValidationError) as both:
        DunningLevel(days_after_due=7, interest="statutory", interest_rate_per_year=Decimal(9))
    assert both.value.errors()[0]["loc"] == ("interest",)
    with pytest.raises(ValidationError) as rates:
        DunningSettings.model_validate(
            {
                "levels": [{"days_after_due": 7}],
                "reference_rates": [{"half_year": "2026-08-01", "rate": "1.27"}],
            }
        )
    assert rates.value.errors()[0]["loc"] == ("reference_rates", 0, "half_year")
    twice = [{"half_year": "2026-07-01", "rate": "1"}, {"half_year": "2026-07-01", "rate": "2"}]
    with pytest.raises(ValidationError, match="given twice"):
        DunningSettings.model_validate(
            {"levels": [{"days_after_due": 7}], "reference_rates": twice}
        )


def test_own_rates_per_seller_country() -> None:
    """An organization with subsidiaries in Germany and Belgium gives each country's reference
    rate for the same half-year (the Basiszinssatz is not the ECB rate); a rate without a
    country applies to every seller, so it cannot be given beside a country's own."""
    both = DunningSettings.model_validate(
        {
            "levels": [{"days_after_due": 7}],
            "reference_rates": [
                {"half_year": "2026-07-01", "rate": "1.27", "country": "DE"},
                {"half_year": "2026-07-01", "rate": "2.15", "country": "BE"},
                {"half_year": "2027-01-01", "rate": "1.5"},
            ],
        }
    )
    assert both.own_rates("DE") == {D(2026, 7, 1): Decimal("1.27"), D(2027, 1, 1): Decimal("1.5")}
    assert both.own_rates("BE") == {D(2026, 7, 1): Decimal("2.15"), D(2027, 1, 1): Decimal("1.5")}
    spans, _ = interest_spans(
        STATUTORY, "BE", "business", D(2026, 6, 1), D(2026, 7, 2), both.own_rates("BE")
    )
    assert [s.rate for s in spans] == [Decimal("10.5"), Decimal("10.5")]  # 2.15 + 8, rounded up
    clash = [
        {"half_year": "2026-07-01", "rate": "1.27", "country": "DE"},
        {"half_year": "2026-07-01", "rate": "1.27"},
    ]
    with pytest.raises(ValidationError, match="given twice for sellers in DE"):
        DunningSettings.model_validate(
            {"levels": [{"days_after_due": 7}], "reference_rates": clash}
        )
