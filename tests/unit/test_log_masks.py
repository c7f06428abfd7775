"""The gate in front of the log masks (``logs._MAY_HOLD_SECRETS``) only skips texts that no
mask would change: ``mask`` gives what the four substitutions alone give, for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing import logs


def _ungated(text: str) -> str:
    for pattern, replacement in logs._MASKS:
        text = pattern.sub(replacement, text)
    return text


#: pieces that the masks look for, in several cases, and what surrounds them in real lines
_PIECES = [
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "eyJ",
    "Bearer abcdef123456",
    "basic dXNlcjpwYXNzd29yZA==",
    "BASIC ",
    "token",
    "Token=abc123",
    '"password": "hunter22"',
    "passwd:x",
    "PASSWORD",
    "secret=s3cr3t",
    "authorization: xyz",
    "Authorisation=1",
    "api_key=k",
    "API-KEY: v",
    "apikey=v",
    "jwt=aaa.bbb.ccc",
    "amqp://guest:guest@localhost:5672/",
    "postgresql://u:p@h/db",
    "://",
    "invoice 2026-0001",
    "0b0b0b0b-0000-4000-8000-000000000001",
    " ",
    "=",
    ":",
    '"',
    "'",
    "@",
    "/",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=12)), max_size=8))
def test_the_gate_never_changes_what_a_text_becomes(parts: list[str]) -> None:
    text = "".join(parts)
    assert logs.mask(text) == _ungated(text)


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "invoicing.queries",
        "amq.gen-kKEKY6fJlVrxHVq890-kjA",
        "16f06f12-695d-4016-9030-1a77a0d579dd",
        "get_invoice",
    ],
)
def test_a_plain_value_passes_the_gate_unchanged(text: str) -> None:
    assert logs._MAY_HOLD_SECRETS.search(text) is None
    assert logs.mask(text) == text


@pytest.mark.parametrize("text", _PIECES[:20])
def test_every_sensitive_piece_opens_the_gate(text: str) -> None:
    assert logs._MAY_HOLD_SECRETS.search(text) is not None
