"""The event data models (invoicing.schemas.event_data): one per event type, tolerant at every
depth; and the check that holds the events the pipeline writes to them
(tests/support/event_contract.py)."""

from __future__ import annotations

import typing
from typing import Any

from invoicing.schemas.common import Contract
from invoicing.schemas.event_data import EVENT_DATA
from invoicing.schemas.events import EVENT_TYPES
from pydantic import BaseModel

from tests.support.event_contract import mismatches, reply_mismatches

INVOICE = {"id": "0e5e5077-d2b7-44f2-90c5-558458b76841"}


def test_every_event_type_has_exactly_one_data_model() -> None:
    assert set(EVENT_DATA) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES))


def _models(annotation: Any) -> set[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    found: set[type[BaseModel]] = set()
    for arg in typing.get_args(annotation):
        found |= _models(arg)
    return found


def test_every_model_in_event_data_reads_tolerantly_at_every_depth() -> None:
    """A member a later release adds is read past, nested or not: no strict ``Contract`` model
    (extra="forbid") anywhere in an event's data."""
    seen: set[type[BaseModel]] = set()
    todo = set(EVENT_DATA.values())
    while todo:
        model = todo.pop()
        seen.add(model)
        assert model.model_config.get("extra") == "ignore", model.__name__
        assert not issubclass(model, Contract) or model.model_config.get("extra") == "ignore"
        for field in model.model_fields.values():
            todo |= _models(field.annotation) - seen
    assert len(seen) > 40


def _payment_recorded(**payment: Any) -> dict[str, Any]:
    data = {
        "id": "5d8ae917-296d-45dc-949d-e712c668d367",
        "invoice_id": INVOICE["id"],
        "amount": "10.00",
        "date": "2026-11-21",
        "method": "bank_transfer",
        "reference": None,
        "exchange_rate": None,
        **payment,
    }
    return {"type": "payment.recorded", "data": {"invoice": "x", "payment": data}}


def test_the_check_names_an_undeclared_member_and_a_wrong_type_by_pointer(
    monkeypatch: Any,
) -> None:
    from invoicing.schemas import event_data

    class Invoice(event_data.State):
        id: str

    class Recorded(event_data.PaymentRecordedData):
        invoice: Invoice  # type: ignore[assignment]

    monkeypatch.setitem(EVENT_DATA, "payment.recorded", Recorded)
    event = _payment_recorded()
    event["data"]["invoice"] = dict(INVOICE)
    assert mismatches(event) == []
    event["data"]["payment"]["stray"] = {"x": 1}
    event["data"]["payment_extra"] = 1
    assert mismatches(event) == [
        "payment.recorded /data/payment/stray: a member Recorded does not declare",
        "payment.recorded /data/payment_extra: a member Recorded does not declare",
    ]
    bad = _payment_recorded(amount="ten")
    bad["data"]["invoice"] = dict(INVOICE)
    (found,) = mismatches(bad)
    assert found.startswith("payment.recorded /data/payment/amount: ")
    assert mismatches({"type": "writer.one", "data": {}}) == [
        "writer.one: not an event type of EVENT_DATA"
    ]


def test_members_that_are_data_are_free() -> None:
    """An echoed configuration (``dict[str, Any]``) holds whatever its command gave."""
    event = {
        "type": "datev.configured",
        "data": {
            "organization_id": INVOICE["id"],
            "version": 2,
            "datev": {"chart": "SKR03", "anything": {"nested": [1]}},
        },
    }
    assert mismatches(event) == []


def test_the_reply_check_names_an_undeclared_member_a_wrong_type_and_a_bad_envelope() -> None:
    """The check the e2e requesters run on every query reply they take from the wire."""
    ok = {
        "type": "next_number",
        "status": "ok",
        "query_id": "q1",
        "result": {
            "series": "invoice",
            "date": "2026-12-03",
            "number": "RE-2026-001",
            "pattern": "RE-{YYYY}-{SEQ:3}",
            "yearly_reset": True,
        },
    }
    found = reply_mismatches(ok)
    assert found == [], found
    stray = {**ok, "result": {**ok["result"], "stray": 1}}
    assert reply_mismatches(stray) == [
        "reply to next_number /result/stray: a member NextNumberResult does not declare"
    ]
    wrong = {**ok, "result": {**ok["result"], "number": ["RE"]}}
    assert [m.split(":")[0] for m in reply_mismatches(wrong)] == [
        "reply to next_number /result/number"
    ]
    assert reply_mismatches({**ok, "status": "maybe"})[0].startswith("reply to next_number /status")
    error = {
        "type": "next_number",
        "status": "error",
        "errors": [
            {
                "status": "403",
                "code": "x",
                "title": "Forbidden",
                "detail": "no",
                "source": {"pointer": ""},
            }
        ],
    }
    assert reply_mismatches(error) == []
