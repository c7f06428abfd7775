"""docs/asyncapi.yaml must be what the code generates, and must describe the whole contract."""

from __future__ import annotations

import json
from pathlib import Path

import invoicing.schemas  # noqa: F401
from invoicing import asyncapi
from invoicing.schemas.commands import COMMAND_TYPES
from invoicing.schemas.event_data import EVENT_DATA
from invoicing.schemas.events import EVENT_TYPES
from invoicing.schemas.queries import QUERY_TYPES

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def test_committed_document_matches_the_code() -> None:
    generated = asyncapi.render()
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == generated, (
        "docs/asyncapi.yaml is out of date with src/schemas/: regenerate it with\n"
        "    invoicing asyncapi --output docs/asyncapi.yaml\n"
        "and commit the result"
    )


def test_every_command_event_and_query_is_documented() -> None:
    doc = asyncapi.build()
    messages = doc["components"]["messages"]
    assert doc["asyncapi"] == "3.0.0"
    assert {f"command.{t}" for t in COMMAND_TYPES} <= set(messages)
    assert {f"event.{t}" for t in EVENT_TYPES} <= set(messages)
    assert {f"query.{t}" for t in QUERY_TYPES} <= set(messages)
    routed = {
        ref["$ref"].rsplit("/", 1)[1]
        for name, channel in doc["channels"].items()
        if name.startswith("commands.")
        for ref in channel["messages"].values()
    }
    assert routed == {f"command.{t}" for t in COMMAND_TYPES}
    assert doc["channels"]["events.invoice.finalized"]["address"] == "invoice.finalized"
    exchange = doc["channels"]["events.invoice.finalized"]["bindings"]["amqp"]["exchange"]
    assert exchange == {
        "name": "invoicing.events",
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    assert doc["operations"]["receive.queries"]["reply"]["address"] == {
        "location": "$message.header#/reply_to"
    }
    assert messages["query.list_invoices"]["examples"][0]["payload"]["type"] == "list_invoices"


def test_every_event_types_data_has_its_schema() -> None:
    """Each event message's ``data`` is a ``$ref`` to its model (EVENT_DATA) in the schemas,
    with its members; an invoice event's ``invoice`` is the whole InvoiceState."""
    doc = asyncapi.build()
    schemas = doc["components"]["schemas"]
    for etype in EVENT_TYPES:
        payload = doc["components"]["messages"][f"event.{etype}"]["payload"]
        data = payload["allOf"][1]["properties"]["data"]
        assert set(data) == {"$ref"}, etype
        name = data["$ref"].removeprefix("#/components/schemas/")
        assert name == EVENT_DATA[etype].__name__, etype
        assert schemas[name]["type"] == "object" and schemas[name]["properties"], etype
    paid = schemas["PaymentRecordedData"]
    assert paid["properties"]["invoice"]["$ref"] == "#/components/schemas/InvoiceState"
    assert {"id", "invoice_id", "amount", "date", "method", "reference", "exchange_rate"} <= set(
        schemas["PaymentData"]["properties"]
    )
    assert "from" in schemas["ExportFileData"]["properties"]  # by its alias


def test_every_reference_resolves() -> None:
    doc = asyncapi.build()
    text = json.dumps(doc)
    refs = {part.split('"')[0] for part in text.split('"$ref": "')[1:]}
    assert refs
    for ref in refs:
        node = doc
        for key in ref.removeprefix("#/").split("/"):
            assert key in node, f"{ref} does not resolve"
            node = node[key]


def test_yaml_writer_quotes_what_plain_yaml_would_misread() -> None:
    text = asyncapi.to_yaml(
        {"a": "#/x", "b": "true", "c": "1.0", "d": "x: y", "e": None, "f": [], "g": "plain text"}
    )
    assert text == ('a: "#/x"\nb: "true"\nc: "1.0"\nd: "x: y"\ne: null\nf: []\ng: plain text\n')


def test_every_attribute_of_the_event_envelope_says_what_it_means() -> None:
    """A listener that has only the contract learns from it what ``sequence``, ``subject``,
    ``id`` and the other attributes promise (before, only ``source`` had an example and none
    a description: the per-invoice, gapless ``sequence`` was stated in docs/pipeline.md and a
    docstring that the contract does not carry)."""
    envelope = asyncapi.build()["components"]["schemas"]["CloudEvent"]
    constants = {"specversion", "datacontenttype"}  # CloudEvents' own, fixed values
    undescribed = [
        name
        for name, member in envelope["properties"].items()
        if name not in constants and not member.get("description")
    ]
    assert undescribed == []
    assert "gapless" in envelope["properties"]["sequence"]["description"]
    assert "dedupe" in envelope["properties"]["id"]["description"]
