"""Hostile values in every place a command or a query can hold one, through the real pipeline
on SQLite and PostgreSQL: each is applied or rejected with a reason and a pointer, never an
exception out of the pipeline and never an ``internal_error``.

The documents are the contract's own examples (``schemas.examples``, the query models' JSON
schema examples) with one value replaced at a time, every seed-002 invoice filter with every
operator, and the envelope's fields. The cases below them pin what these sweeps first found:
calendar dates at the ends of the range in date filters, characters PostgreSQL cannot hold in
a query's strings, a refused command type or key that the rejection itself could not store,
and two organizations using the same command id for the same invoice id."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from invoicing.asyncapi import message_examples
from invoicing.models import ProcessedCommand
from invoicing.pipeline import Pipeline
from invoicing.pipeline.core import QUERY_TYPES
from invoicing.schemas.examples import PAYLOADS
from invoicing.schemas.queries import ListInvoices

from tests.support.client import Client, line

pytestmark = pytest.mark.integration

#: one of each kind of trouble: types, bounds, the calendar's ends, characters no database
#: text holds, shapes
HOSTILE: list[Any] = [
    None,
    True,
    -1,
    2**63,
    10**40,
    1e308,
    "",
    "x" * 3000,
    "\x00",
    "\ud800",
    "\u202e",
    "9999-12-31",
    "0001-01-01",
    "1e999",
    "NaN",
    [],
    {},
    [None],
    {"a": 1},
    "00000000-0000-0000-0000-000000000000",
]


def _pointers(value: Any, path: str = "") -> Iterator[str]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _pointers(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _pointers(item, f"{path}/{index}")


def _put(doc: Any, pointer: str, value: Any) -> Any:
    if not pointer:
        return value
    *parents, last = pointer.split("/")[1:]
    at = doc
    for part in parents:
        at = at[int(part)] if isinstance(at, list) else at[part]
    if isinstance(at, list):
        at[int(last)] = value
    else:
        at[last] = value
    return doc


def _world(client: Client) -> None:
    """The examples' customer and invoice exist, so a command reaches its handler."""
    client.send("create_customer", PAYLOADS["create_customer"])
    client.send("create_invoice", PAYLOADS["create_invoice"])


def _settled(outcome: Any, where: str) -> None:
    assert outcome.status in ("applied", "rejected", "duplicate"), where
    for err in outcome.errors:
        assert err["code"] != "internal_error", (where, err)
        assert "pointer" in err["source"] and err["detail"], (where, err)


def _answered(reply: dict[str, Any], where: str) -> None:
    assert reply["status"] in ("ok", "error"), where
    for err in reply.get("errors") or []:
        assert err["code"] != "internal_error", (where, err)
        assert "pointer" in err["source"] and err["detail"], (where, err)


def test_every_field_of_every_example_command(bus: Pipeline) -> None:
    for ctype, payload in PAYLOADS.items():
        client = Client(bus)
        client.setup_org()
        _world(client)
        for pointer in list(_pointers(payload)):
            for value in HOSTILE:
                changed = _put(copy.deepcopy(payload), pointer, value)
                _settled(client.send(ctype, changed), f"{ctype} {pointer} = {value!r:.40}")


def test_every_envelope_field_of_every_example_command(bus: Pipeline) -> None:
    for ctype, payload in PAYLOADS.items():
        client = Client(bus)
        client.setup_org()
        for key in ("type", "command_id", "organization_id", "correlation_id", "credentials"):
            for value in HOSTILE:
                doc = client.doc(ctype, copy.deepcopy(payload))
                doc[key] = value
                _settled(bus.handle_document(doc), f"{ctype} /{key} = {value!r:.40}")


def _queries(org: str) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for name, model in QUERY_TYPES.items():
        for example in message_examples(model):
            doc = copy.deepcopy(example["payload"])
            doc.pop("credentials", None)
            doc["organization_id"] = org
            docs.append((name, doc))
    return docs


def test_every_field_of_every_example_query(bus: Pipeline) -> None:
    client = Client(bus)
    client.setup_org()
    _world(client)
    for name, doc in _queries(str(client.org)):
        for pointer in list(_pointers(doc.get("payload", {}))):
            for value in HOSTILE:
                changed = copy.deepcopy(doc)
                changed["payload"] = _put(changed.get("payload", {}), pointer, value)
                where = f"{name} {pointer} = {value!r:.40}"
                _answered(bus.query_document(changed), where)
                _answered(_published(bus, changed), where + " (raw)")


def _published(bus: Pipeline, doc: dict[str, Any]) -> dict[str, Any]:
    """The reply as the worker publishes it: the JSON bytes of ``answer_raw`` (they must
    encode, whatever the query echoed), decoded again."""
    reply: dict[str, Any] = json.loads(bus.answer_raw(json.dumps(doc).encode()).as_json())
    return reply


def test_every_envelope_field_of_every_example_query(bus: Pipeline) -> None:
    client = Client(bus)
    client.setup_org()
    for name, doc in _queries(str(client.org)):
        for key in ("type", "organization_id", "query_id", "correlation_id", "credentials"):
            for value in HOSTILE:
                changed = {**copy.deepcopy(doc), key: value}
                where = f"{name} /{key} = {value!r:.40}"
                _answered(bus.query_document(changed), where)
                _answered(_published(bus, changed), where + " (raw)")


def _filter_fields() -> list[str]:
    defs = ListInvoices.model_json_schema()["$defs"]
    return sorted({f for name, d in defs.items() if "Filter" in name for f in d["properties"]})


def test_every_invoice_filter_with_every_operator(bus: Pipeline) -> None:
    client = Client(bus)
    client.setup_org()
    _world(client)
    fields = _filter_fields()
    assert len(fields) > 45  # seed 002's and this contract's own
    for field in fields:
        for op in (None, "eq", "not_eq", "in", "not_in", "gt", "gte", "lt", "lte", "contains"):
            for value in ("\x00", "9999-12-31", "0001-01-01", 10**40, ["x"], "x"):
                condition = value if op is None else {op: value}
                doc = {
                    "type": "list_invoices",
                    "organization_id": str(client.org),
                    "payload": {"filter": {field: condition}},
                }
                _answered(bus.query_document(doc), f"{field} {op} {value!r:.20}")


# ----------------------------------------------------------------- what the sweeps found


def _list(client: Client, flt: dict[str, Any]) -> dict[str, Any]:
    reply = client.bus.query_document(
        {"type": "list_invoices", "organization_id": str(client.org), "payload": {"filter": flt}}
    )
    assert reply["status"] == "ok", reply["errors"]
    return reply["result"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", ["created_at", "issue_date"])
def test_date_filters_take_the_first_and_the_last_day_of_the_calendar(
    client: Client, field: str
) -> None:
    customer = client.customer()
    every = {client.finalized(customer, [line()])["id"]}

    def ids(op: str, day: str) -> set[str]:
        return {inv["id"] for inv in _list(client, {field: {op: day}})["items"]}

    assert ids("gt", "9999-12-31") == set()
    assert ids("lt", "0001-01-01") == set()
    assert ids("eq", "9999-12-31") == set()
    assert ids("lte", "9999-12-31") == every
    assert ids("gte", "0001-01-01") == every
    assert ids("gt", "0001-01-01") == every
    assert ids("lt", "9999-12-31") == every
    assert ids("not_eq", "9999-12-31") == every


@pytest.mark.parametrize(
    ("payload", "pointer", "char"),
    [
        ({"filter": {"full_query": "Acme\x00"}}, "/payload/filter/full_query", "U+0000"),
        ({"filter": {"case_id": {"eq": "\ud800"}}}, "/payload/filter/case_id/eq", "U+D800"),
        ({"filter": {"tags": ["\u202e"]}}, "/payload/filter/tags/0", "U+202E"),
    ],
)
def test_a_query_with_a_character_nothing_stored_holds_is_refused_with_its_pointer(
    client: Client, payload: dict[str, Any], pointer: str, char: str
) -> None:
    doc = {"type": "list_invoices", "organization_id": str(client.org), "payload": payload}
    for reply in (client.bus.query_document(doc), client.bus.query_raw(json.dumps(doc))):
        assert reply["status"] == "error"
        (err,) = reply["errors"]
        assert (err["code"], err["source"]["pointer"]) == ("invalid_attribute", pointer)
        assert err["detail"].startswith(f"contains {char}, a character the service refuses")
        assert err["meta"]["hint"].startswith("remove it")


def test_a_plain_query_is_not_walked_for_characters_and_still_answers(client: Client) -> None:
    doc = {"type": "list_invoices", "organization_id": str(client.org), "payload": {}}
    reply = client.bus.query_raw(json.dumps(doc, ensure_ascii=False).encode())
    assert reply["status"] == "ok"
    # an escaped but harmless character (a \u escape makes the body be walked): answered
    doc["payload"] = {"filter": {"full_query": "Müller"}}
    assert client.bus.query_raw(json.dumps(doc).encode())["status"] == "ok"


@pytest.mark.parametrize(
    ("ctype", "payload", "recorded_type", "pointer"),
    [
        ("\x00", {}, "\\u0000", "/type"),
        ("send\ud800", {}, "send\\ud800", "/type"),
        ("create_customer", {"id": str(uuid.uuid4()), "\x00": 1}, "create_customer", None),
    ],
)
def test_a_rejection_records_the_refused_input_it_names_storably(
    client: Client, ctype: str, payload: dict[str, Any], recorded_type: str, pointer: str | None
) -> None:
    command_id = uuid.uuid4()
    outcome = client.send(ctype, payload, command_id=command_id)
    assert outcome.status == "rejected"
    (event,) = outcome.events
    assert event["type"] == "command.rejected"
    assert event["data"]["command_type"] == recorded_type
    pointers = [e["source"]["pointer"] for e in event["data"]["errors"]]
    assert pointers == [pointer or "/payload/\\u0000"]
    with client.bus.uow_factory() as uow:
        row = uow.session.get(ProcessedCommand, (client.org, command_id))
        assert row is not None
        recorded = (row.command_type, row.outcome)
    assert recorded == (recorded_type, "rejected")
    # the same body again is the same command: a duplicate, not a second rejection
    assert client.send(ctype, payload, command_id=command_id).status == "duplicate"


def test_two_organizations_may_use_the_same_command_id_for_the_same_invoice_id(
    bus: Pipeline,
) -> None:
    command_id, invoice_id = uuid.uuid4(), str(uuid.uuid4())
    outcomes = []
    for _ in range(2):
        client = Client(bus)
        client.setup_org()
        outcomes.append(
            client.send(
                "create_invoice", {"id": invoice_id, "lines": [line()]}, command_id=command_id
            )
        )
    assert [o.status for o in outcomes] == ["applied", "applied"]
    first, second = ({e["id"] for e in o.events} for o in outcomes)
    assert first and second and not first & second
