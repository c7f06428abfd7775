"""The retry schedule of delivery steps (no I/O)."""

from __future__ import annotations

from invoicing.handlers.deliveries import DeliveryPolicy, _payload_pointer


def test_backoff_follows_the_delays_and_repeats_the_last() -> None:
    policy = DeliveryPolicy(retry_delays_s=(1.0, 5.0, 30.0))
    assert [policy.delay(n) for n in (1, 2, 3, 4, 50)] == [1.0, 5.0, 30.0, 30.0, 30.0]
    assert DeliveryPolicy(retry_delays_s=()).delay(1) == 30.0


def test_failure_pointers_are_relative_to_the_causing_command() -> None:
    assert _payload_pointer("/to") == "/payload/to"
    assert _payload_pointer("/payload/to/0") == "/payload/to/0"
    assert _payload_pointer("") == ""
    assert _payload_pointer("/organization_id") == "/organization_id"
