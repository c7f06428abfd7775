"""The worker's side of hostile bodies: rejected or dead-lettered with a reason at their first
delivery (never retried into a crash loop), and the dead-letter archive describes any body.

The broker is replaced by a recording publisher; the database is real."""

from __future__ import annotations

import uuid
from typing import Any

import pika  # type: ignore[import-untyped]
from invoicing.models import OutboxEvent
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.workers.dead_letters import describe
from invoicing.workers.processor import H_REASON, CommandProcessor
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import DLX
from sqlalchemy import Engine, func, select

from tests.support.fakes import fake_deps


class Recorder:
    def __init__(self) -> None:
        self.published: list[Any] = []

    def publish(self, message: Any) -> None:
        self.published.append(message)


def _processor(engine: Engine) -> tuple[CommandProcessor, Recorder]:
    recorder = Recorder()
    processor = CommandProcessor(
        Pipeline(engine, fake_deps(), LocalOperator()),
        PipelineSettings(),
        publisher_factory=lambda: recorder,  # type: ignore[arg-type,return-value]
    )
    return processor, recorder


def _transport(redelivered: bool = False) -> dict[str, Any]:
    return {"queue": "invoicing.commands", "headers": {}, "redelivered": redelivered}


def test_deep_body_with_identity_is_rejected_at_its_first_delivery(engine: Engine) -> None:
    processor, recorder = _processor(engine)
    org, cid = uuid.uuid4(), uuid.uuid4()
    body = (
        f'{{"type": "create_invoice", "command_id": "{cid}", "organization_id": "{org}", '
        '"payload": ' + "[" * 10_000 + "]" * 10_000 + "}"
    ).encode()
    for redelivered in (False, True):  # a redelivery is a duplicate, never a crash loop
        status = processor.process(body, _transport(redelivered))
        assert status == ("rejected" if not redelivered else "duplicate")
    assert recorder.published == []  # acked: nothing re-published, nothing dead-lettered
    with engine.connect() as conn:
        events = conn.execute(
            select(func.count()).where(OutboxEvent.organization_id == org)
        ).scalar_one()
    assert events == 1


def test_unaddressable_bodies_are_dead_lettered_with_the_reason(engine: Engine) -> None:
    processor, recorder = _processor(engine)
    bodies = [b"{" * 100_000, b"\x00\xff not json", b"[1, 2, 3]", b'{"type": "x"}']
    for body in bodies:
        assert processor.process(body, _transport()) == "dead"
    assert [m.exchange for m in recorder.published] == [DLX] * len(bodies)
    reasons = [m.properties.headers[H_REASON] for m in recorder.published]
    assert "levels are accepted" in reasons[0] and "not JSON" in reasons[1]
    assert all(r.startswith("undecodable: ") for r in reasons)
    # the archive describes each of them (no decoding, no recursion)
    for message in recorder.published:
        row = describe(message.body, "invoicing.commands", message.properties)
        assert row["reason"] == message.properties.headers[H_REASON]


def test_the_archive_describes_a_deep_body_with_identity() -> None:
    org, cid = uuid.uuid4(), uuid.uuid4()
    body = (
        f'{{"command_id": "{cid}", "organization_id": "{org}", "type": "void_invoice", '
        '"payload": ' + "{" * 50_000
    ).encode()
    row = describe(body, "invoicing.commands", pika.BasicProperties(headers={}))
    assert str(row["command_id"]) == str(cid) and str(row["organization_id"]) == str(org)
