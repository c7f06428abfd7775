"""Retention windows: computed from the retry settings, never below what a redelivery needs."""

from __future__ import annotations

import datetime as dt

import pytest
from invoicing.retention import (
    RetentionConfigError,
    RetentionSettings,
    redelivery_window,
    windows,
)
from invoicing.workers.settings import PipelineSettings

DAY = dt.timedelta(days=1)


def pipeline(**over: object) -> PipelineSettings:
    return PipelineSettings.model_validate(over)


def retention(**over: object) -> RetentionSettings:
    return RetentionSettings.model_validate(over)


def test_the_redelivery_window_is_the_longest_retry_plus_the_last_delay_and_a_hold() -> None:
    settings = pipeline(
        retry_missing_s=120,
        retry_unavailable_s=86400,
        retry_delays_s=[1, 5, 30],
        transient_hold_s=300,
    )
    assert redelivery_window(settings) == dt.timedelta(seconds=86400 + 30 + 300)
    longer_missing = pipeline(retry_missing_s=200000, retry_unavailable_s=3600, retry_delays_s=[])
    assert redelivery_window(longer_missing) == dt.timedelta(seconds=200000 + 300)


def test_the_defaults_keep_a_week_of_outbox_and_attempts_and_30_days_of_inbox() -> None:
    w = windows(retention(), pipeline())
    assert (w.outbox, w.inbox, w.delivery_attempts) == (7 * DAY, 30 * DAY, 7 * DAY)
    assert w.notes == ()
    # the defaults are above the minimums with the default retry windows
    assert w.inbox > w.redelivery + DAY and w.delivery_attempts > w.redelivery + DAY


def test_an_inbox_setting_below_the_redelivery_window_is_refused_with_the_reason() -> None:
    with pytest.raises(RetentionConfigError) as raised:
        windows(retention(inbox_days=1), pipeline())
    message = str(raised.value)
    assert "INVOICING_RETENTION_INBOX_DAYS=1 is below the minimum of 7 days" in message
    assert "INVOICING_RETRY_UNAVAILABLE_S" in message
    assert "Set INVOICING_RETENTION_INBOX_DAYS to at least 7." in message


def test_the_inbox_minimum_grows_with_the_retry_window() -> None:
    ten_days = pipeline(retry_unavailable_s=10 * 86400)
    minimum = ten_days.retry_unavailable_s + 30 + 300 + 86400  # + last delay, hold, margin
    with pytest.raises(RetentionConfigError, match=r"below the minimum of 11\.01 days"):
        windows(retention(inbox_days=11), ten_days)
    assert windows(retention(inbox_days=11.01), ten_days).inbox >= dt.timedelta(seconds=minimum)


def test_every_setting_below_its_minimum_is_named_at_once() -> None:
    with pytest.raises(RetentionConfigError) as raised:
        windows(retention(outbox_days=0.5, inbox_days=2, delivery_attempts_days=1), pipeline())
    lines = str(raised.value).splitlines()
    assert [line.split("=")[0] for line in lines] == [
        "INVOICING_RETENTION_OUTBOX_DAYS",
        "INVOICING_RETENTION_INBOX_DAYS",
        "INVOICING_RETENTION_DELIVERY_ATTEMPTS_DAYS",
    ]


def test_a_default_shorter_than_a_long_retry_window_is_raised_to_the_minimum() -> None:
    """Not set by anyone: keep the minimum and say so, rather than refuse to run."""
    long_retries = pipeline(retry_unavailable_s=14 * 86400)
    w = windows(retention(), long_retries)
    assert w.delivery_attempts == w.redelivery + DAY
    assert w.inbox == 30 * DAY
    assert any("INVOICING_RETENTION_DELIVERY_ATTEMPTS_DAYS" in note for note in w.notes)


def test_settings_at_their_minimum_are_accepted() -> None:
    w = windows(retention(outbox_days=1, inbox_days=7, delivery_attempts_days=2.01), pipeline())
    assert w.outbox == DAY and w.inbox == 7 * DAY


@pytest.mark.parametrize("field", ["outbox_days", "inbox_days", "delivery_attempts_days"])
def test_zero_or_negative_days_are_invalid(field: str) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        retention(**{field: 0})


def test_finished_delivery_jobs_are_kept_90_days_and_at_least_a_day() -> None:
    assert windows(retention(), pipeline()).delivery_jobs == 90 * DAY
    assert windows(retention(delivery_jobs_days=1), pipeline()).delivery_jobs == DAY
    with pytest.raises(RetentionConfigError) as raised:
        windows(retention(delivery_jobs_days=0.5), pipeline())
    message = str(raised.value)
    assert "INVOICING_RETENTION_DELIVERY_JOBS_DAYS=0.5 is below the minimum of 1 days" in message
    assert "finished delivery jobs are kept at least a day" in message
