"""A hostile input is a rejection, never a crash, with several values bent at once.

``test_hostile_inputs.py`` replaces one value at a time with one of a fixed set. Here every
command and query type's documented example is bent in one to three places at once (a value
replaced by one of the wrong kind or at an edge of its own kind: amounts at rounding edges and
beyond any column, exponents, other digits, the calendar's ends, big integers; a key dropped,
an unknown key added, a list emptied or repeated), pointed at a real customer, a draft and a
*finalized* invoice of a fresh organization so that payments, credit notes and write-offs
reach the domain, and sent as a publisher's body (``handle_raw``, lone surrogates escaped).
Each command is applied or rejected, each rejection says where (a JSON pointer), its
redelivery is a duplicate that runs nothing, and each query answers (ok or errors, never
``internal_error``). The bending is seeded: a failure names its seed and case, and runs again
the same."""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from invoicing.pipeline import Pipeline
from invoicing.schemas.examples import CUSTOMER, INVOICE, PAYLOADS
from invoicing.schemas.queries import QUERY_TYPES

from tests.integration.test_hostile_inputs import HOSTILE
from tests.support.client import Client, line

pytestmark = pytest.mark.integration

#: values of the wrong kind, or at the edge of a kind, for any field: the single-value sweep's
#: and more
_ANY: list[Any] = [
    *HOSTILE,
    0,
    -(2**63) - 1,
    0.1,
    " ",
    "\U0001d54f",
    "Infinity",
    "sNaN",
    "-1e999999",
    "9" * 60,
    "2026-02-30",
    "../../etc/passwd",
    "' OR 1=1 --",
    "%",
    "\\",
    [{}],
    {"a": {"b": [1]}},
    ["x"] * 50,
    "EUR",
    "XXX",
    "zz",
    "reverse_charge",
]
#: amounts, quantities and rates: rounding edges, overflow, exponents, other digits
_DECIMALS: list[Any] = [
    "0",
    "-0",
    "0.005",
    "-0.005",
    "0.0049999",
    "1e-30",
    "1E+6",
    "1e27",
    "1e29",
    "9999999999999.99",
    "99999999999999999999.9999",
    "-0.01",
    "-9999999",
    "100.00001",
    "33.333333",
    "2.675",
    "1e400",
    "-1e400",
    0,
    -1,
    10**20,
    1e16,
    " 5 ",
    "5.",
    ".5",
    "+5",
    "1_000",
    "\u0661\u0662\u0663",
]
_DATES: list[Any] = [
    "2000-01-01",
    "1999-12-31",
    "2031-12-31",
    "2026-02-29",
    "2028-02-29",
    "2026-12-31",
    "2027-01-01",
    "2099-12-31",
    "0001-01-01",
    "9999-12-31",
    "2026-11-28T23:59:59+14:00",
]
_INTEGERS: list[Any] = [0, -1, 1, 7, 31, 366, 10**6, 2**31, 2**53 + 1, 2**63, 10**30]


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if at:
        yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*at, index))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


def _like(rng: random.Random, value: Any) -> Any:
    """A replacement for ``value``: mostly of its own kind at an edge, sometimes anything."""
    if rng.random() < 0.25:
        return copy.deepcopy(rng.choice(_ANY))
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice(_INTEGERS)
    if isinstance(value, str) and value.replace(".", "", 1).lstrip("-").isdigit():
        return rng.choice(_DECIMALS)
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        return rng.choice(_DATES)
    if isinstance(value, list) and value:
        return copy.deepcopy(value) * rng.choice([0, 2, 30])
    return copy.deepcopy(rng.choice(_ANY))


def bend(rng: random.Random, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with one to three of its values replaced, dropped or joined by another."""
    bent = copy.deepcopy(payload)
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = list(_paths(bent))
        if not paths:
            break
        path = rng.choice(paths)
        parent, key, roll = _parent(bent, path), path[-1], rng.random()
        if roll < 0.15:
            del parent[key]
        elif roll < 0.25 and isinstance(parent, dict):
            parent[f"unknown_{rng.randrange(10)}"] = copy.deepcopy(rng.choice(_ANY))
        else:
            parent[key] = _like(rng, parent[key])
    return bent


def _assert_pointed(errors: list[dict[str, Any]], case: str) -> None:
    assert errors, case
    for err in errors:
        pointer = (err.get("source") or {}).get("pointer")
        assert isinstance(pointer, str) and (pointer == "" or pointer.startswith("/")), (case, err)
        assert err.get("code") != "internal_error", (case, err)


def _world(bus: Pipeline) -> tuple[Client, dict[str, str]]:
    client = Client(bus)
    client.setup_org()
    customer = client.customer()
    draft = client.invoice(customer, [line()])
    final = client.invoice(customer, [line(), line("Reise", "2", "80.00", tax_rate="7")])
    client.ok("finalize_invoice", {"invoice_id": str(final)})
    return client, {"customer": str(customer), "draft": str(draft), "final": str(final)}


def _pointed_at(text: str, ids: dict[str, str], rng: random.Random) -> Any:
    text = text.replace(CUSTOMER, ids["customer"])
    return json.loads(text.replace(INVOICE, ids[rng.choice(["draft", "final"])]))


@pytest.mark.parametrize("seed", [1, 2])
def test_a_bent_command_is_applied_or_rejected_with_a_pointer(bus: Pipeline, seed: int) -> None:
    rng = random.Random(seed)
    kinds: dict[str, int] = {"applied": 0, "rejected": 0}
    for n in range(360):
        if n % 120 == 0:  # a fresh organization now and then: bent commands pile up state
            client, ids = _world(bus)
        ctype = rng.choice(sorted(PAYLOADS))
        payload = bend(rng, _pointed_at(json.dumps(PAYLOADS[ctype]), ids, rng))
        doc = client.doc(ctype, payload)
        case = f"seed {seed}, case {n}: {json.dumps(doc)[:600]}"
        body = json.dumps(doc).encode()  # as a publisher sends it (lone surrogates escaped)
        outcome = bus.handle_raw(body)
        assert outcome.status in kinds, case
        kinds[outcome.status] += 1
        if outcome.status == "rejected":
            _assert_pointed(outcome.errors, case)
            assert [e["type"] for e in outcome.events] == ["command.rejected"], case
        again = bus.handle_raw(body)  # a redelivery: the inbox answers, nothing runs again
        assert (again.status, again.events) == ("duplicate", []), case
    # the bending reaches the handlers: some bent commands are still good ones
    assert kinds["applied"] >= 10 and kinds["rejected"] >= 200, kinds


@pytest.mark.parametrize("seed", [1, 2])
def test_a_bent_query_answers(bus: Pipeline, seed: int) -> None:
    rng = random.Random(seed)
    client, ids = _world(bus)
    examples = {
        qtype: model.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
        for qtype, model in QUERY_TYPES.items()
    }
    statuses = {"ok": 0, "error": 0}
    for n in range(240):
        qtype = rng.choice(sorted(examples))
        doc = _pointed_at(json.dumps(examples[qtype]), ids, rng)
        doc.pop("credentials", None)
        doc["organization_id"] = str(client.org)
        doc["query_id"] = str(uuid.uuid4())
        if isinstance(doc.get("payload"), dict):
            doc["payload"] = bend(rng, doc["payload"])
        case = f"seed {seed}, case {n}: {json.dumps(doc)[:600]}"
        reply = bus.query_raw(json.dumps(doc).encode())
        assert reply["status"] in statuses, case
        statuses[reply["status"]] += 1
        if reply["status"] == "error":
            _assert_pointed(reply["errors"], case)
    assert statuses["ok"] >= 20 and statuses["error"] >= 20, statuses
