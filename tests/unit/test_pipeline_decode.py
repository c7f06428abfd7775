"""Decoding hostile bodies: limits before parsing, no recursion, identity without decoding."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing.pipeline.decode import (
    Limits,
    Undecodable,
    decode,
    nesting_depth,
    object_depth,
    peek_identity,
)
from invoicing.pipeline.errors import Rejected
from invoicing.pipeline.validate import DateWindow, plainly_writable
from invoicing.schemas.commands import COMMAND_TYPES, FinalizeInvoice
from invoicing.schemas.common import unwritable_characters
from invoicing.schemas.examples import PAYLOADS, example

CID, ORG = str(uuid.uuid4()), str(uuid.uuid4())
LIMITS = Limits(max_bytes=1024 * 1024, max_depth=32)


def deep(n: int, ids: bool = True) -> bytes:
    head = f'{{"command_id": "{CID}", "organization_id": "{ORG}", "type": "create_invoice", '
    inner = '"payload": ' + "[" * n + "]" * n + "}"
    return ((head if ids else "{") + inner).encode()


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[{{{{"}', 1),  # brackets in strings do not count
        ('{"a": "x\\"[[[[", "b": [[]]}', 3),  # nor after an escaped quote
        ('{"a": "unterminated [[[[', 1),
        ("[" * 40 + "]" * 40, 40),
        ('{"a": "\\\\", "b": [[]]}', 3),  # an escaped backslash closes nothing
        ('{"a": "\\\\\\"[[[[", "b": []}', 2),  # backslash, quote, brackets: all text
    ],
)
def test_nesting_depth_ignores_strings(text: str, depth: int) -> None:
    assert nesting_depth(text.encode()) == depth


def test_ten_thousand_deep_is_refused_without_recursion() -> None:
    body = deep(10_000)
    assert nesting_depth(body) == 10_001
    with pytest.raises(Undecodable) as caught:
        decode(body, LIMITS)
    assert caught.value.error["code"] == "too_deep"
    assert "10001 deep" in caught.value.error["detail"]
    assert caught.value.error["meta"]["hint"]
    assert decode(deep(30), LIMITS)["command_id"] == CID  # 31 levels are fine


def test_size_limit_before_anything_else() -> None:
    body = json.dumps({"payload": "x" * 2000}).encode()
    with pytest.raises(Undecodable) as caught:
        decode(body, Limits(max_bytes=1024, max_depth=32))
    assert caught.value.error["code"] == "body_too_large"
    assert caught.value.error["status"] == "413"
    assert decode(body, LIMITS)["payload"] == "x" * 2000


def test_numbers_are_exact_and_constants_refused() -> None:
    doc = decode('{"a": 0.1, "b": 12, "c": 1e2, "d": "3.30"}', LIMITS)
    assert doc == {"a": Decimal("0.1"), "b": 12, "c": Decimal("1E+2"), "d": "3.30"}
    assert type(doc["a"]) is Decimal
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(Undecodable) as caught:
            decode('{"a": %s}' % constant, LIMITS)
        assert caught.value.error["code"] == "invalid_json"


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe{}", b'{"a": 1,}', b""])
def test_invalid_json_says_so(body: bytes) -> None:
    with pytest.raises(Undecodable) as caught:
        decode(body, LIMITS)
    assert caught.value.error["code"] == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "create_invoice", "payload": {"lines": [{"unit_price": 1}], "lines": []}}',
        b'{"a": 1, "a": 1}',
        b'[{"x": {"y": 1, "y": 2}}]',
    ],
)
def test_a_member_name_twice_in_one_object_is_refused(body: bytes) -> None:
    """Parsers disagree on which of two same-named members counts: the body is refused and the
    name said, never read as its last member (before: an empty list of lines won)."""
    with pytest.raises(Undecodable) as caught:
        decode(body, LIMITS)
    assert caught.value.error["code"] == "invalid_json"
    assert "appears twice in one object" in caught.value.error["detail"]


def test_the_same_name_in_different_objects_is_fine() -> None:
    doc = decode(b'{"a": {"id": 1}, "b": {"id": 2}, "id": 3}', LIMITS)
    assert doc == {"a": {"id": 1}, "b": {"id": 2}, "id": 3}


def test_peek_identity_reads_top_level_strings_of_any_body() -> None:
    for body in (
        deep(10_000),
        deep(50)[:-20],  # truncated
        (
            f'{{"type": "finalize_invoice", "payload": {{"invoice_id": "inv-1", '
            f'"lines": [{{"command_id": "nested"}}]}}, "command_id": "{CID}", '
            f'"organization_id": "{ORG}", broken'
        ).encode(),
    ):
        ident = peek_identity(body)
        assert ident["command_id"] == CID and ident["organization_id"] == ORG
    ident = peek_identity(
        b'{"type": "finalize_invoice", "payload": {"invoice_id": "inv-1", "x": {"invoice_id":'
        b' "no"}}, "organization_id": 5}'
    )
    assert ident == {"type": "finalize_invoice", "invoice_id": "inv-1"}
    assert peek_identity(b"[1, 2]") == {}
    assert peek_identity(b"\xff\x00garbage") == {}
    assert peek_identity(b'{"command_id": "a\\"b"}') == {"command_id": 'a"b'}


def test_peek_and_depth_are_linear_on_pathological_bodies() -> None:
    bodies = [
        b'"' + b'\\"' * 500_000,  # one unterminated string of escaped quotes
        b"[" * 1_000_000,
        b'{"a":' * 200_000,
        b'"\\' * 400_000,
    ]
    started = time.process_time()  # CPU: the machine's load does not count
    for body in bodies:
        nesting_depth(body)
        peek_identity(body)
        with pytest.raises(Undecodable):
            decode(body, LIMITS)
    # linear work is about a second; a quadratic scan of these would take hours
    assert time.process_time() - started < 30


def test_object_depth_is_iterative() -> None:
    value: list[object] = []
    for _ in range(5000):
        value = [value]
    assert object_depth(value, 32) == 33  # stops counting above the limit
    assert object_depth({"a": [1, {"b": 2}]}, 32) == 3
    assert object_depth("text", 32) == 0


def _finalize(issue_date: str) -> FinalizeInvoice:
    return FinalizeInvoice.model_validate(
        {
            "type": "finalize_invoice",
            "command_id": CID,
            "organization_id": ORG,
            "payload": {"invoice_id": str(uuid.uuid4()), "issue_date": issue_date},
        }
    )


def test_date_window() -> None:
    window = DateWindow(min_year=2000, years_ahead=5)
    today = dt.date(2026, 11, 28)
    assert window.bounds(today) == (dt.date(2000, 1, 1), dt.date(2031, 11, 28))
    assert window.bounds(dt.date(2024, 2, 29)) == (dt.date(2000, 1, 1), dt.date(2029, 2, 28))
    for ok in ("2000-01-01", "2026-11-28", "2031-11-28"):
        window.check(_finalize(ok), today)
    for bad in ("9999-12-31", "1999-12-31", "2031-11-29", "0001-01-01"):
        with pytest.raises(Rejected) as caught:
            window.check(_finalize(bad), today)
        [err] = caught.value.errors
        assert err["source"]["pointer"] == "/payload/issue_date"
        assert err["code"] == "date_out_of_range" and bad in err["detail"]
        assert "2031-11-28" in err["meta"]["hint"]


def _far_dates(value: Any, pointer: str = "") -> tuple[Any, list[str]]:
    """``value`` with every ISO date string set to 9999-12-31, and their pointers."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return "9999-12-31", [pointer]
    if isinstance(value, dict):
        out, found = {}, []
        for key, item in value.items():
            out[key], more = _far_dates(item, f"{pointer}/{key}")
            found += more
        return out, found
    if isinstance(value, list):
        items = [_far_dates(item, f"{pointer}/{i}") for i, item in enumerate(value)]
        return [item for item, _ in items], [p for _, more in items for p in more]
    return value, []


@pytest.mark.parametrize("ctype", sorted(PAYLOADS))
def test_every_date_of_every_command_is_in_the_window(ctype: str) -> None:
    """The window walks the validated model, so a date field anywhere is covered."""
    doc, pointers = _far_dates(example(ctype))
    command = COMMAND_TYPES[ctype].model_validate(doc)
    window = DateWindow()
    if not pointers:
        window.check(command, dt.date(2026, 11, 28))
        return
    with pytest.raises(Rejected) as caught:
        window.check(command, dt.date(2026, 11, 28))
    assert sorted(e["source"]["pointer"] for e in caught.value.errors) == sorted(pointers)
    window.check(COMMAND_TYPES[ctype].model_validate(example(ctype)), dt.date(2026, 11, 28))


_TEXT = st.text(alphabet=st.sampled_from(list('ab"\\[]{}:, \u00fc\n')), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_nesting_depth_is_exact_on_any_document(value: Any, ascii_only: bool) -> None:
    """Strings full of quotes, backslashes and brackets never fool the count."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(body) == object_depth(value, 10**6)


def test_authentication_has_no_default() -> None:
    """Fail closed: no pipeline, and no application, is built without an authenticator."""
    import inspect

    from invoicing import bootstrap
    from invoicing.pipeline import Pipeline

    for fn in (Pipeline, bootstrap.build):
        parameter = inspect.signature(fn).parameters["authenticator"]
        assert parameter.default is inspect.Parameter.empty, fn


def _bodies(char: str) -> list[bytes]:
    """``char`` in a value and in a key, escaped (``ensure_ascii``) and as UTF-8."""
    docs = [{"payload": {"notes": f"a{char}b"}}, {"payload": {f"k{char}": 1}}]
    return [
        json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        for doc in docs
        for ascii_only in (True, False)
    ]


def test_a_body_passed_as_plainly_writable_decodes_without_an_unwritable_character() -> None:
    """The shortcut of the pipeline (no walk of the document) never lets one through: for every
    character of the Basic Multilingual Plane (surrogates included) and a few beyond it."""
    chars = [chr(c) for c in range(0x10000)] + ["\U0001f600", "\U0010ffff"]
    passed = 0
    for char in chars:
        for body in _bodies(char):
            if plainly_writable(body):
                passed += 1
                assert unwritable_characters(json.loads(body)) == [], (hex(ord(char)), body)
            elif unwritable_characters(json.loads(body)):
                continue  # walked, and refused there
    assert passed > 60_000  # the shortcut does apply to ordinary text
    for char in "\x0c\x00\u202e\u2066\ud800\ufffe":
        assert not any(plainly_writable(body) for body in _bodies(char)), hex(ord(char))


@pytest.mark.parametrize(
    "body",
    [
        "\ufeff{}".encode(),  # a byte order mark
        '{"a": "b"}'.encode("utf-16"),
        '{"a": "b"}'.encode("utf-32-le"),
    ],
)
def test_bodies_in_other_encodings_are_walked(body: bytes) -> None:
    assert not plainly_writable(body)
