"""The worker's side of hostile bodies: rejected or dead-lettered with a reason at their first
delivery (never retried into a crash loop), and the dead-letter archive describes any body.

The actor's step and the dead-lettering policy's verdict, without a broker; the database is
real. (tests/e2e/test_hostile_bodies.py plays the same through RabbitMQ and worker processes.)"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pika  # type: ignore[import-untyped]
from invoicing.models import OutboxEvent
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.workers.dead_letters import describe
from invoicing.workers.delivery import Delivery, Outbound
from invoicing.workers.middleware import DeadLettering
from invoicing.workers.processor import CommandProcessor
from sqlalchemy import Engine, func, select

from tests.support.fakes import fake_deps


def _transport(redelivered: bool = False) -> dict[str, Any]:
    return {"queue": "invoicing.commands", "headers": {}, "redelivered": redelivered}


def _run(engine: Engine, body: bytes, redelivered: bool = False) -> Delivery:
    step = CommandProcessor(Pipeline(engine, fake_deps(), LocalOperator()))
    delivery = Delivery.of(body, _transport(redelivered))
    delivery.run(step)
    return delivery


def test_deep_body_with_identity_is_rejected_at_its_first_delivery(engine: Engine) -> None:
    org, cid = uuid.uuid4(), uuid.uuid4()
    body = (
        f'{{"type": "create_invoice", "command_id": "{cid}", "organization_id": "{org}", '
        '"payload": ' + "[" * 10_000 + "]" * 10_000 + "}"
    ).encode()
    for redelivered in (False, True):  # a redelivery is a duplicate, never a crash loop
        delivery = _run(engine, body, redelivered)
        assert delivery.error is None
        assert delivery.ident["command_id"] == str(cid)  # read without decoding
        assert delivery.result.status == ("rejected" if not redelivered else "duplicate")
        assert DeadLettering.poison(delivery) is None  # acked, not dead-lettered
    with engine.connect() as conn:
        events = conn.execute(
            select(func.count()).where(OutboxEvent.organization_id == org)
        ).scalar_one()
    assert events == 1


def test_unaddressable_bodies_are_dead_lettered_with_the_reason(engine: Engine) -> None:
    bodies = [b"{" * 100_000, b"\x00\xff not json", b"[1, 2, 3]", b'{"type": "x"}']
    verdicts = [DeadLettering.poison(_run(engine, body)) for body in bodies]
    assert all(v is not None and v[0] == "undecodable" for v in verdicts)
    reasons = [v[1] for v in verdicts if v is not None]
    assert "levels are accepted" in reasons[0] and "not JSON" in reasons[1]
    assert all(r.startswith("undecodable: ") for r in reasons)
    # the archive describes each of them (no decoding, no recursion)
    for body, reason in zip(bodies, reasons, strict=True):
        props = pika.BasicProperties(headers={"x-invoicing-reason": reason})
        row = describe(body, "invoicing.commands", props)
        assert row["reason"] == reason


def test_a_dead_letter_reason_says_which_field_is_missing(engine: Engine) -> None:
    """A command without ``command_id`` is dead-lettered (docs/pipeline.md, "undecodable");
    its reason was "undecodable: can't be blank", which did not say what was blank: an
    operator reading ``invoicing dead-letters list`` could not tell what to fix."""
    body = json.dumps(
        {"type": "create_invoice", "organization_id": str(uuid.uuid4()), "payload": {}}
    ).encode()
    verdict = DeadLettering.poison(_run(engine, body))
    assert verdict == ("undecodable", "undecodable: /command_id: can't be blank")


def test_the_archive_describes_a_deep_body_with_identity() -> None:
    org, cid = uuid.uuid4(), uuid.uuid4()
    body = (
        f'{{"command_id": "{cid}", "organization_id": "{org}", "type": "void_invoice", '
        '"payload": ' + "{" * 50_000
    ).encode()
    row = describe(body, "invoicing.commands", pika.BasicProperties(headers={}))
    assert str(row["command_id"]) == str(cid) and str(row["organization_id"]) == str(org)


def test_a_dead_letter_reason_names_hostile_ids_storably(engine: Engine) -> None:
    """The reason names the refused ids; a NUL or a lone surrogate in them is written as its
    escape, so the header can be encoded for the broker and stored by the archive."""
    body = (
        b'{"type": "create\\u0000invoice", "command_id": "\\ud800", '
        b'"organization_id": "x\\u0000", "payload": {}}'
    )
    verdict = DeadLettering.poison(_run(engine, body))
    assert verdict is not None and verdict[0] == "undecodable"
    reason = verdict[1]
    assert reason == (
        "undecodable: /command_id: \\ud800 is not a UUID; /organization_id: x\\u0000 is not a UUID"
    )
    props = pika.BasicProperties(headers={"x-invoicing-reason": reason})
    props.encode()  # what the publish of the dead letter does with it
    assert describe(body, "invoicing.commands", props)["reason"] == reason


def test_a_dead_letter_quoting_hostile_text_in_its_reason_can_be_published() -> None:
    """Any reason (a handler's exception text may quote the input) gives properties the
    broker can take: a lone surrogate or a NUL is written as its escape."""
    delivery = Delivery.of(b'{"type": "x"}', _transport())
    reason = "handler_failed: KeyError: '\ud800\x00'"
    props = Outbound.dead_letter_properties(delivery, reason)
    props.encode()  # what the publish of the dead letter does with them
    assert props.headers["x-invoicing-reason"] == "handler_failed: KeyError: '\\ud800\\u0000'"
    assert props.headers["x-invoicing-queue"] == "invoicing.commands"
