"""The RabbitMQ topology, declared in ONE place: routing table, queues, exchanges.

Publishers send a plain JSON command to the direct exchange ``invoicing.commands`` with the
command ``type`` as routing key; the bindings below route it to its workload queue, so slow
work (documents, exports) never starves fast state changes. A type nobody routes goes through
the alternate exchange to the ``commands`` queue, where it is rejected with an event.

``deploy/rabbitmq/definitions.json`` is generated from this module (``python -m
invoicing.workers.topology``) and a test checks that the two agree.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from invoicing.workers.settings import PipelineSettings

COMMANDS_EXCHANGE = "invoicing.commands"
UNROUTED_EXCHANGE = "invoicing.commands.unrouted"
REQUEUE_EXCHANGE = "invoicing.requeue"
DELAY_EXCHANGE = "invoicing.delay"
# RabbitMQ ignores headers that start with "x-" when a headers exchange matches ("x-match: all"),
# so the delay selector must not start with "x-" or every copy would reach every delay queue.
DELAY_HEADER = "invoicing-delay-s"
EVENTS_EXCHANGE = "invoicing.events"
EVENTS_UNROUTED_EXCHANGE = "invoicing.events.unrouted"
EVENTS_UNROUTED_QUEUE = "invoicing.events.unrouted"
DLX = "invoicing.dlx"
DEAD_LETTER_QUEUE = "invoicing.dead-letters"
#: request/reply queries: published to the default exchange with this queue as routing key,
#: answered on the requester's ``reply_to`` (src/workers/queries.py)
QUERIES_QUEUE = "invoicing.queries"

#: workload -> queue name
WORKLOADS: dict[str, str] = {
    "commands": "invoicing.commands",
    "documents": "invoicing.documents",
    "exports": "invoicing.exports",
    "billing": "invoicing.billing",
}
DEFAULT_WORKLOAD = "commands"

#: command type -> workload. Every type not listed is a state change ("commands").
ROUTES: dict[str, str] = {
    # documents and e-mail: rendering and SMTP are slow
    "send_invoice": "documents",
    "render_invoice": "documents",
    "render_document": "documents",
    "send_dunning_notices": "documents",
    # exports: large reads and files
    "export_datev": "exports",
    "export_csv": "exports",
    # billable entries from time tracking: bursty
    "record_billable_entry": "billing",
    "invoice_billable_entries": "billing",
}


def workload_of(command_type: str) -> str:
    return ROUTES.get(command_type, DEFAULT_WORKLOAD)


def queue_of(command_type: str) -> str:
    return WORKLOADS[workload_of(command_type)]


def command_types() -> list[str]:
    """Every command type the core knows, plus the routed ones not (yet) registered."""
    import invoicing.schemas  # noqa: F401
    from invoicing.schemas.commands import COMMAND_TYPES

    return sorted(set(COMMAND_TYPES) | set(ROUTES))


def delay_queue(seconds: int) -> str:
    return f"invoicing.retry.{seconds}s"


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Binding:
    source: str
    destination: str
    routing_key: str
    arguments: dict[str, Any] = field(default_factory=dict)


def _quorum(settings: PipelineSettings, **extra: Any) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        **extra,
    }


def exchanges() -> list[Exchange]:
    return [
        Exchange(COMMANDS_EXCHANGE, "direct", {"alternate-exchange": UNROUTED_EXCHANGE}),
        Exchange(UNROUTED_EXCHANGE, "fanout", {}),
        Exchange(REQUEUE_EXCHANGE, "direct", {}),
        Exchange(DELAY_EXCHANGE, "headers", {}),
        Exchange(EVENTS_EXCHANGE, "topic", {"alternate-exchange": EVENTS_UNROUTED_EXCHANGE}),
        Exchange(EVENTS_UNROUTED_EXCHANGE, "fanout", {}),
        Exchange(DLX, "topic", {}),
    ]


def queues(settings: PipelineSettings) -> list[Queue]:
    out = [
        Queue(
            name,
            _quorum(
                settings,
                **{"x-delivery-limit": settings.delivery_limit, "x-dead-letter-exchange": DLX},
            ),
        )
        for name in WORKLOADS.values()
    ]
    out += [
        Queue(
            delay_queue(s),
            _quorum(
                settings,
                **{"x-message-ttl": s * 1000, "x-dead-letter-exchange": REQUEUE_EXCHANGE},
            ),
        )
        for s in sorted(set(settings.retry_delays_s))
    ]
    out.append(
        Queue(
            QUERIES_QUEUE,
            _quorum(
                settings,
                **{"x-delivery-limit": settings.delivery_limit, "x-dead-letter-exchange": DLX},
            ),
        )
    )
    out.append(Queue(DEAD_LETTER_QUEUE, {"x-queue-type": "quorum"}))
    # events nobody subscribed to (yet): kept for a week so a mandatory publish never fails
    out.append(Queue(EVENTS_UNROUTED_QUEUE, {"x-queue-type": "quorum", "x-message-ttl": 604800000}))
    return out


def bindings(settings: PipelineSettings) -> list[Binding]:
    out = [Binding(COMMANDS_EXCHANGE, queue_of(t), t) for t in command_types()]
    out.append(Binding(UNROUTED_EXCHANGE, WORKLOADS[DEFAULT_WORKLOAD], ""))
    out += [Binding(REQUEUE_EXCHANGE, q, q) for q in [*WORKLOADS.values(), QUERIES_QUEUE]]
    # a retry copy keeps its workload queue as routing key: delayed by TTL in the delay queue
    # its header selects, it is dead-lettered to invoicing.requeue and lands where it came from
    out += [
        Binding(DELAY_EXCHANGE, delay_queue(s), "", {"x-match": "all", DELAY_HEADER: s})
        for s in sorted(set(settings.retry_delays_s))
    ]
    out += [Binding(DLX, DEAD_LETTER_QUEUE, "#")]
    out.append(Binding(EVENTS_UNROUTED_EXCHANGE, EVENTS_UNROUTED_QUEUE, ""))
    return out


#: what the relay declares: the event exchange, its alternate and the queue behind it
RELAY_TOPOLOGY = frozenset({EVENTS_EXCHANGE, EVENTS_UNROUTED_EXCHANGE})
#: what the dead-letter archive declares: the dead-letter exchange and the queue it consumes
ARCHIVE_TOPOLOGY = frozenset({DLX, DEAD_LETTER_QUEUE})


def declare(channel: Any, settings: PipelineSettings, only: frozenset[str] | None = None) -> None:
    """Declare everything (idempotent) on a pika channel; with ``only``, just the exchanges and
    queues of those names and the bindings between them (a process declares what it uses, so
    its RabbitMQ user needs no rights on the rest: deploy/rabbitmq/users.json)."""

    def wanted(*names: str) -> bool:
        return only is None or all(n in only for n in names)

    for ex in exchanges():
        if not wanted(ex.name):
            continue
        channel.exchange_declare(
            exchange=ex.name, exchange_type=ex.type, durable=True, arguments=ex.arguments or None
        )
    for q in queues(settings):
        if wanted(q.name):
            channel.queue_declare(queue=q.name, durable=True, arguments=q.arguments)
    for b in bindings(settings):
        if not wanted(b.source, b.destination):
            continue
        channel.queue_bind(
            queue=b.destination,
            exchange=b.source,
            routing_key=b.routing_key,
            arguments=b.arguments or None,
        )


def definitions(settings: PipelineSettings, vhost: str = "/") -> dict[str, Any]:
    """The same topology as a RabbitMQ definitions document (``rabbitmqctl import_definitions``)."""
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [
            {
                "name": e.name,
                "vhost": vhost,
                "type": e.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": e.arguments,
            }
            for e in exchanges()
        ],
        "queues": [
            {
                "name": q.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": q.arguments,
            }
            for q in queues(settings)
        ],
        "bindings": [
            {
                "source": b.source,
                "vhost": vhost,
                "destination": b.destination,
                "destination_type": "queue",
                "routing_key": b.routing_key,
                "arguments": b.arguments,
            }
            for b in bindings(settings)
        ],
    }


def render_definitions(settings: PipelineSettings | None = None) -> str:
    return json.dumps(definitions(settings or PipelineSettings()), indent=2) + "\n"


def queue_names(workloads: Iterable[str]) -> list[str]:
    return [WORKLOADS[w] for w in workloads]


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render_definitions(PipelineSettings(retry_delays_s=[1, 5, 30])))
