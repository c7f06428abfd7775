"""``schemas.common.storable``: what a rejection records of refused input can be stored."""

from __future__ import annotations

import json

from invoicing.schemas.common import storable, unwritable_characters


def test_unwritable_characters_become_escapes_and_the_rest_stays() -> None:
    doc = {
        "type": "create\x00invoice",
        "errors": [{"source": {"pointer": "/payload/\ud800"}, "detail": "Müller \u202e ok\t\n"}],
        "count": 3,
        "none": None,
    }
    out = storable(doc)
    assert out == {
        "type": "create\\u0000invoice",
        "errors": [{"source": {"pointer": "/payload/\\ud800"}, "detail": "Müller \\u202e ok\t\n"}],
        "count": 3,
        "none": None,
    }
    assert unwritable_characters(out) == []
    json.dumps(out).encode("utf-8")  # no lone surrogate left: encodes


def test_storable_is_idempotent_and_keys_are_escaped_too() -> None:
    doc = {"\x00key": ["\x01", "\ufffe"]}
    once = storable(doc)
    assert once == {"\\u0000key": ["\\u0001", "\\ufffe"]}
    assert storable(once) == once
