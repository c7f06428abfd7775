"""``Reply.as_json``: the bytes a query's reply is published as."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from invoicing.pipeline.envelope import Reply
from invoicing.schemas.queries import PageInfo
from pydantic import BaseModel, Field


class _Item(BaseModel):
    id: uuid.UUID
    name: str
    amount: Decimal
    at: dt.datetime
    on: dt.date | None = None
    renamed: str = Field(default="x", alias="other")


class _Result(BaseModel):
    items: list[_Item]
    page: PageInfo


def _result() -> _Result:
    item = _Item.model_validate(
        {
            "id": uuid.UUID(int=7),
            "name": "Müller & Søn – „Büro“ 東京",
            "amount": Decimal("1190.50"),
            "at": dt.datetime(2025, 12, 31, 23, 59, 1, 250000, tzinfo=dt.UTC),
            "other": "aliased",
        }
    )
    page = PageInfo(page=1, page_size=50, total=1, pages=1, total_exact=True)
    return _Result(items=[item, item], page=page)


def test_the_result_is_serialized_as_model_dump_json_would() -> None:
    """The result's bytes are pydantic-core's own (``to_json``), not ``model_dump_json``'s
    text encoded again: the same bytes, non-ASCII text and aliases included."""
    result = _result()
    reply = Reply.to({"type": "list_invoices", "correlation_id": "c-1"}, result=result)
    published = reply.as_json()
    head = json.dumps(reply.envelope, ensure_ascii=False).encode()
    assert published == head[:-1] + b', "result": ' + result.model_dump_json().encode() + b"}"
    assert json.loads(published) == reply.as_dict()
    assert json.loads(published)["result"]["items"][0]["name"] == "Müller & Søn – „Büro“ 東京"


def test_an_error_reply_has_a_null_result() -> None:
    reply = Reply.to(
        {"type": "list_invoices"},
        errors=[
            {
                "status": "422",
                "code": "invalid",
                "title": "Invalid",
                "detail": "no",
                "source": {"pointer": "/payload"},
            }
        ],
    )
    decoded = json.loads(reply.as_json())
    assert decoded["status"] == "error" and decoded["result"] is None
    assert decoded == reply.as_dict()
