"""The AsyncAPI 3.0 document of the public contract, generated from the pydantic models.

Commands (every registered type, routed to its workload queue by invoicing.workers.topology),
events (CloudEvents on the topic exchange ``invoicing.events``, routing key = event type) and
queries (request/reply on the ``invoicing.queries`` queue). ``invoicing asyncapi --output
docs/asyncapi.yaml`` writes it; tests/unit/test_asyncapi.py fails when the committed file
differs from what the code generates.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

QUERIES_QUEUE = "invoicing.queries"
REF = "#/components/schemas/{model}"


def _import_schemas() -> None:
    """Import every module of invoicing.schemas so that every command type is registered."""
    import invoicing.schemas as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def _doc(model: type[Any]) -> str:
    return " ".join((model.__doc__ or "").split())


def message_examples(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The worked examples of a command or query model (its ``json_schema_extra``), as the
    AsyncAPI document publishes them (``{"payload": ...}``); the hostile-input sweeps start
    from them too (tests/integration/test_hostile_inputs.py)."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if not isinstance(examples, list):
        return []
    return [{"payload": example} for example in examples]


def _event_data(event_type: str) -> dict[str, Any]:
    """The schema of the event's ``data``: its model in ``EVENT_DATA``."""
    from invoicing.schemas.event_data import EVENT_DATA

    return {"$ref": REF.format(model=EVENT_DATA[event_type].__name__)}


def build() -> dict[str, Any]:
    """The AsyncAPI document as a JSON-ready dict (deterministic: sorted where unordered)."""
    _import_schemas()
    from invoicing.schemas.commands import COMMAND_TYPES
    from invoicing.schemas.common import ErrorItem
    from invoicing.schemas.documents import DocumentRef
    from invoicing.schemas.event_data import EVENT_DATA
    from invoicing.schemas.events import EVENT_TYPES, SCHEMA_VERSION, CloudEvent, InvoiceState
    from invoicing.schemas.queries import QUERY_TYPES, RESULT_TYPES, QueryReply
    from invoicing.workers import topology

    commands = dict(sorted(COMMAND_TYPES.items()))
    queries = dict(sorted(QUERY_TYPES.items()))
    results = sorted({m.__name__: m for m in RESULT_TYPES.values()}.items())
    inputs: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in commands.values()]
    inputs += [(m, "validation") for m in queries.values()]
    inputs += [
        (m, "serialization") for m in (CloudEvent, InvoiceState, QueryReply, ErrorItem, DocumentRef)
    ]
    # each event type's data (docs/pipeline.md "Event data"), once per model
    inputs += [(m, "serialization") for m in dict.fromkeys(EVENT_DATA[t] for t in EVENT_TYPES)]
    inputs += [(m, "serialization") for _, m in results]
    keyed, top = models_json_schema(inputs, ref_template=REF)
    schemas: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))

    def ref_of(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(keyed[(model, mode)])  # type: ignore[index]

    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    # ------------------------------------------------------------------ commands
    by_queue: dict[str, list[str]] = {}
    for ctype, model in commands.items():
        name = f"command.{ctype}"
        messages[name] = {
            "name": ctype,
            "title": ctype.replace("_", " "),
            "summary": _doc(model),
            "contentType": "application/json",
            "payload": ref_of(model, "validation"),
            "x-scope": model.scope,
        }
        if message_examples(model):
            messages[name]["examples"] = message_examples(model)
        by_queue.setdefault(topology.workload_of(ctype), []).append(name)
    for workload, queue in topology.WORKLOADS.items():
        names = by_queue.get(workload, [])
        channel = f"commands.{workload}"
        channels[channel] = {
            "address": queue,
            "title": f"{workload} queue",
            "description": f"Commands routed to the {workload} workers. Publish to the direct "
            f"exchange `{topology.COMMANDS_EXCHANGE}` with routing key = command `type`; the "
            f"broker's bindings deliver these types to the quorum queue `{queue}`.",
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": topology.COMMANDS_EXCHANGE,
                        "type": "direct",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"receive.commands.{workload}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"The service consumes {workload} commands",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in names],
        }

    # ------------------------------------------------------------------ events
    for etype in EVENT_TYPES:
        name = f"event.{etype}"
        envelope = ref_of(CloudEvent, "serialization")
        messages[name] = {
            "name": etype,
            "title": etype,
            "summary": f"CloudEvents 1.0 structured JSON, type `{etype}`",
            "contentType": "application/cloudevents+json",
            "payload": {
                "allOf": [
                    envelope,
                    {
                        "type": "object",
                        "properties": {"type": {"const": etype}, "data": _event_data(etype)},
                    },
                ]
            },
        }
        channel = f"events.{etype}"
        channels[channel] = {
            "address": etype,
            "title": etype,
            "description": f"Routing key `{etype}` on the topic exchange "
            f"`{topology.EVENTS_EXCHANGE}`; bind a queue with `{etype}` or a pattern "
            f"such as `invoice.#`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": topology.EVENTS_EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"send.{etype}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"The service publishes {etype} (at least once; dedupe by id)",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
        }

    # ------------------------------------------------------------------ queries
    for qtype, qmodel in queries.items():
        name = f"query.{qtype}"
        messages[name] = {
            "name": qtype,
            "title": qtype.replace("_", " "),
            "summary": _doc(qmodel),
            "contentType": "application/json",
            "correlationId": {"location": "$message.header#/correlation_id"},
            "payload": ref_of(qmodel, "validation"),
            "x-scope": qmodel.scope,
            "x-result": {"$ref": REF.format(model=RESULT_TYPES[qtype].__name__)},
        }
        if message_examples(qmodel):
            messages[name]["examples"] = message_examples(qmodel)
    messages["query.reply"] = {
        "name": "query_reply",
        "title": "query reply",
        "summary": _doc(QueryReply)
        + " `result` follows the query's result schema (see each query's x-result).",
        "contentType": "application/json",
        "correlationId": {"location": "$message.header#/correlation_id"},
        "payload": ref_of(QueryReply, "serialization"),
    }
    query_names = [f"query.{q}" for q in queries]
    channels["queries"] = {
        "address": QUERIES_QUEUE,
        "title": "query requests",
        "description": "Request/reply: publish a query document to this queue (default "
        "exchange) with the AMQP properties `reply_to` and `correlation_id`; the reply goes to "
        "`reply_to` with the same `correlation_id`.",
        "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in query_names},
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": QUERIES_QUEUE,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": "0.3.0",
            }
        },
    }
    channels["queryReplies"] = {
        "address": None,
        "title": "query replies",
        "description": "The requester's `reply_to` queue (often `amq.rabbitmq.reply-to`).",
        "messages": {"query.reply": {"$ref": "#/components/messages/query.reply"}},
    }
    operations["receive.queries"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/queries"},
        "summary": "The service answers queries (scope invoices:read)",
        "messages": [{"$ref": f"#/channels/queries/messages/{n}"} for n in query_names],
        "reply": {
            "address": {"location": "$message.header#/reply_to"},
            "channel": {"$ref": "#/channels/queryReplies"},
            "messages": [{"$ref": "#/channels/queryReplies/messages/query.reply"}],
        },
    }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Invoicing service",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": "Message-driven invoicing: commands in, CloudEvents out, queries "
            "request/reply. Generated from the pydantic models in src/schemas/ by "
            "`invoicing asyncapi --output docs/asyncapi.yaml`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "RabbitMQ; publishers authenticate with a signed token in "
                "`credentials` or as a broker user mapped to grants",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


# --------------------------------------------------------------------------- YAML

_PLAIN = re.compile(r"^[A-Za-z_/$][A-Za-z0-9_ ./$#{}:-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if (
        _PLAIN.match(text)
        and text.lower() not in _RESERVED
        and ": " not in text
        and " #" not in text
        and not text.endswith((" ", ":"))
    ):
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _key(key: str) -> str:
    return _scalar(key)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML 1.2 for JSON data (strings quoted whenever plain would be ambiguous)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{_key(str(k))}:\n{to_yaml(v, indent + 1)}")
            else:
                inline = "{}" if v == {} else "[]" if v == [] else _scalar(v)
                lines.append(f"{pad}{_key(str(k))}: {inline}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {nested.lstrip()}")
            else:
                inline = "{}" if item == {} else "[]" if item == [] else _scalar(item)
                lines.append(f"{pad}- {inline}\n")
        return "".join(lines)
    return pad + _scalar(value) + "\n"


def render() -> str:
    return "# Generated by `invoicing asyncapi --output docs/asyncapi.yaml`. Do not edit.\n" + (
        to_yaml(build())
    )


def register(app: Any) -> None:
    """Add the ``asyncapi`` command to the CLI."""

    @app.command("asyncapi")  # type: ignore[untyped-decorator]
    def asyncapi(
        output: Annotated[
            str, typer.Option("--output", "-o", help="file to write, - for stdout")
        ] = "-",
    ) -> None:
        """Write the AsyncAPI 3.0 document of commands, events and queries."""
        text = render()
        if output == "-":
            typer.echo(text, nl=False)
        else:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_text(text, encoding="utf-8")
            typer.echo(f"wrote {output}", err=True)
