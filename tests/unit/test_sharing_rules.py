"""Share-link rules (invoicing.domain.sharing) without a database."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from invoicing.domain import sharing
from invoicing.domain.errors import DomainError

DAY = dt.date(2026, 3, 10)


def test_a_new_token_is_256_bits_and_only_its_hash_is_kept() -> None:
    token, digest = sharing.new_token()
    assert len(token) == 43 and sharing.plausible(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest() == sharing.token_hash(token)
    assert sharing.new_token()[0] != token


@pytest.mark.parametrize(
    ("expires_on", "ok"), [(None, True), (DAY, True), (DAY.replace(day=9), False)]
)
def test_expiry_today_or_later(expires_on: dt.date | None, ok: bool) -> None:
    if ok:
        sharing.check_expiry(expires_on, DAY)
        return
    with pytest.raises(DomainError) as exc:
        sharing.check_expiry(expires_on, DAY)
    assert (exc.value.errors[0].code, exc.value.errors[0].pointer) == (
        "invalid_attribute",
        "/expires_on",
    )


@pytest.mark.parametrize(
    ("expires_on", "today", "expired"),
    [
        (None, DAY, False),
        (DAY, DAY, False),  # through the expiry day
        (DAY, DAY + dt.timedelta(days=1), True),
        (DAY + dt.timedelta(days=1), DAY, False),
    ],
)
def test_when_a_share_has_expired(
    expires_on: dt.date | None, today: dt.date, expired: bool
) -> None:
    assert sharing.expired(expires_on, today) is expired


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        ("", False),
        ("x", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("aZ09_-", True),
        ("abc\n", False),  # a regular expression's $ lets a trailing newline through
        ("a b", False),
        ("a/b", False),
        ("ä", False),
        ("a\x00", False),
    ],
)
def test_plausible_tokens(token: str, ok: bool) -> None:
    assert sharing.plausible(token) is ok
