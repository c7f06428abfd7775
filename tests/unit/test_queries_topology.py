"""The query queue: declared once, quorum with a delivery limit, named as the contract says."""

from __future__ import annotations

import pytest
from invoicing.asyncapi import QUERIES_QUEUE as CONTRACT_QUEUE
from invoicing.workers.broker import ACTORS
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import QUERIES_QUEUE, REQUEUE_EXCHANGE, definitions


def test_query_queue_is_the_one_the_asyncapi_document_names() -> None:
    assert QUERIES_QUEUE == CONTRACT_QUEUE == "invoicing.queries"
    assert ACTORS[QUERIES_QUEUE] == "handle_queries"


def test_query_queue_is_quorum_with_limit_dlx_and_a_way_back_from_the_delay_queues() -> None:
    doc = definitions(PipelineSettings())
    (queue,) = [q for q in doc["queues"] if q["name"] == QUERIES_QUEUE]
    assert queue["arguments"]["x-queue-type"] == "quorum"
    assert queue["arguments"]["x-delivery-limit"] == 20
    assert queue["arguments"]["x-dead-letter-exchange"] == "invoicing.dlx"
    into = [b for b in doc["bindings"] if b["destination"] == QUERIES_QUEUE]
    # only the requeue exchange (delayed transient retries); requesters use the default exchange
    assert [(b["source"], b["routing_key"]) for b in into] == [(REQUEUE_EXCHANGE, QUERIES_QUEUE)]


@pytest.mark.parametrize(
    ("queues", "workloads", "queries"),
    [
        ("", ["commands", "documents", "exports", "billing"], True),
        ("documents,exports", ["documents", "exports"], False),
        ("queries", [], True),
        ("commands, queries", ["commands"], True),
    ],
)
def test_worker_queues_select_commands_and_queries(
    queues: str, workloads: list[str], queries: bool
) -> None:
    settings = PipelineSettings(worker_queues=queues)
    assert settings.workloads() == workloads
    assert settings.serves_queries() is queries


def test_unknown_workload_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown workloads"):
        PipelineSettings(worker_queues="queries,reports").workloads()
