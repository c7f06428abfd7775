"""Dunning blocks (Mahnsperren, docs/dunning.md "Blocks"), on SQLite and PostgreSQL, through the
real pipeline and the real dunning delivery step (a local SMTP server): ``block_dunning`` of an
invoice or a customer keeps its invoices out of ``send_dunning_notices`` while the block holds,
a notice scheduled before the block (or before dunning was disabled, or its level configured
away) is not sent, ``lift_dunning_block`` ends it, and ``list_dunning_blocks`` reads them."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_send_invoice as _send
from tests.integration.test_dunning import SETTINGS, _valid, configure, dun, finalized
from tests.integration.test_send_invoice import Sink, World, make_world
from tests.support import scenarios

pytestmark = pytest.mark.integration

smtp = _send.smtp


def blocks(w: World, **payload: Any) -> list[dict[str, Any]]:
    reply = w.bus.query_document(
        {"type": "list_dunning_blocks", "organization_id": str(w.org), "payload": payload}
    )
    assert reply["status"] == "ok", reply["errors"]
    items: list[dict[str, Any]] = reply["result"]["items"]
    return items


def listed_ids(w: World, blocked: bool, as_of: str) -> list[str]:
    """The finalized invoices of list_invoices' filter ``dunning_blocked`` as of a day."""
    flt = {"dunning_blocked": blocked, "as_of": as_of, "finalized": True}
    reply = w.bus.query_document(
        {"type": "list_invoices", "organization_id": str(w.org), "payload": {"filter": flt}}
    )
    assert reply["status"] == "ok", reply["errors"]
    return sorted(item["id"] for item in reply["result"]["items"])


def dunned(out: Any) -> list[str]:
    return sorted(
        e["data"]["invoice"]["id"] for e in out.events if e["type"] == "dunning.notice_sent"
    )


def test_blocks_of_an_invoice_and_of_a_customer(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")  # due 2026-01-19; level 1 from 2026-01-26
    b = finalized(w, "2026-01-05")
    other = uuid.uuid4()
    second = {**scenarios.DE_BUYER, "company": "Zweite GmbH", "email": "zweite@example.com"}
    created = w.run("create_customer", {"id": str(other), **second, "einvoice_format": "none"})
    assert created.status == "applied", created.errors
    c_id = uuid.uuid4()
    out = w.run(
        "create_invoice",
        {
            "id": str(c_id),
            "customer_id": str(other),
            "lines": [{"description": "Beratung", "quantity": "1", "unit_price": "100.00"}],
        },
    )
    assert out.status == "applied", out.errors
    out = w.run("finalize_invoice", {"invoice_id": str(c_id), "issue_date": "2026-01-05"})
    assert out.status == "applied", out.errors
    c = out.events[-1]["data"]["invoice"]

    # a disputed invoice until 10 February, the second customer for good (blocked on 20
    # January: an until already past is refused)
    real = w.deps.clock
    w.deps.clock = lambda: dt.datetime(2026, 1, 20, 12, tzinfo=dt.UTC)
    set_a = w.run(
        "block_dunning",
        {"invoice_id": a["id"], "until": "2026-02-10", "reason": "Rechnung bestritten"},
    )
    w.deps.clock = real
    assert set_a.status == "applied", set_a.errors
    assert [e["type"] for e in set_a.events] == ["dunning_block.set"]
    assert set_a.events[0]["subject"] == a["id"]
    assert set_a.events[0]["data"] == {
        "invoice_id": a["id"],
        "until": "2026-02-10",
        "reason": "Rechnung bestritten",
    }
    assert w.run("block_dunning", {"customer_id": str(other)}).status == "applied"

    # a blocked invoice takes no place of the run's max_notices (a comes before b)
    first = w.run("send_dunning_notices", {"as_of": "2026-01-26", "max_notices": 1})
    assert dunned(first) == [b["id"]]
    listed = blocks(w, active_on="2026-01-26")
    assert {(x["subject"], x["invoice_id"] or x["customer_id"]) for x in listed} == {
        ("invoice", a["id"]),
        ("customer", str(other)),
    }
    assert blocks(w, invoice_id=c["id"])[0]["customer_id"] == str(other)  # through its customer
    assert [x["subject"] for x in blocks(w, active_on="2026-02-11")] == ["customer"]
    # the list filters by it: its own block (to its last day) and its customer's
    assert listed_ids(w, True, "2026-02-10") == sorted([a["id"], c["id"]])
    assert listed_ids(w, True, "2026-02-11") == [c["id"]]
    assert listed_ids(w, False, "2026-02-11") == sorted([a["id"], b["id"]])

    # the last day of the block holds; the day after, a gets its first level
    assert dunned(dun(w, "2026-02-10")) == [b["id"]]  # b: level 2 (21 days)
    assert dunned(dun(w, "2026-02-11")) == [a["id"]]
    # lifted: the customer's invoice is dunned at the next run
    lifted = w.run("lift_dunning_block", {"customer_id": str(other)})
    assert [e["type"] for e in lifted.events] == ["dunning_block.lifted"]
    assert dunned(dun(w, "2026-02-12")) == [c["id"]]
    assert blocks(w) == [blocks(w, invoice_id=a["id"])[0]]  # an ended block is still listed


def test_a_notice_scheduled_before_the_block_is_not_sent(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")
    run = w.run("send_dunning_notices", {"as_of": "2026-01-26"}, deliver=False)
    assert run.status == "applied", run.errors
    assert w.run("block_dunning", {"customer_id": str(w.customer)}).status == "applied"
    steps = w.deliverer.run_for_command(w.org, uuid.UUID(run.command_id))
    assert [s.events for s in steps] == [[]] and w.sink.messages == []
    assert w.run("lift_dunning_block", {"customer_id": str(w.customer)}).status == "applied"
    assert dunned(dun(w, "2026-01-27")) == [a["id"]]  # level 1 was never sent


def test_what_a_block_refuses(db_url: str, smtp: tuple[Sink, int], tmp_path: Path) -> None:
    w = make_world(db_url, smtp, tmp_path)
    a = finalized(w, "2026-01-05")

    def pointers(type_: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
        out = w.run(type_, payload)
        assert out.status == "rejected"
        return [(e["code"], e["source"]["pointer"]) for e in out.errors]

    both = {"invoice_id": a["id"], "customer_id": str(w.customer)}
    assert [p for _, p in pointers("block_dunning", both)] == ["/payload"]
    assert [p for _, p in pointers("block_dunning", {})] == ["/payload"]
    unknown = {"invoice_id": str(uuid.uuid4())}
    assert pointers("block_dunning", unknown) == [("invoice_not_found", "/payload/invoice_id")]
    nobody = {"customer_id": str(uuid.uuid4())}
    assert pointers("block_dunning", nobody)[0][1] == "/payload/customer_id"
    assert pointers("lift_dunning_block", {"invoice_id": a["id"]}) == [
        ("dunning_not_blocked", "/payload/invoice_id")
    ]
    long = {"invoice_id": a["id"], "reason": "x" * 501}
    assert [p for _, p in pointers("block_dunning", long)] == ["/payload/reason"]
    # blocking again replaces the block; it is one row
    ahead = (dt.date.today() + dt.timedelta(days=90)).isoformat()  # an until not past yet
    assert w.run("block_dunning", {"invoice_id": a["id"], "until": ahead}).status == "applied"
    again = w.run("block_dunning", {"invoice_id": a["id"], "reason": "Insolvenzantrag"})
    assert again.events[0]["data"]["until"] is None
    assert [(x["until"], x["reason"]) for x in blocks(w)] == [(None, "Insolvenzantrag")]


def test_a_purged_draft_takes_its_block_along(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """A draft may be blocked (the block holds once it is issued); purged, its block goes with
    it: list_dunning_blocks names no invoice that does not exist."""
    w = make_world(db_url, smtp, tmp_path)
    draft, kept = str(w.draft()), finalized(w, "2026-01-05")
    for invoice_id in (draft, kept["id"]):
        assert w.run("block_dunning", {"invoice_id": invoice_id}).status == "applied"
    assert w.run("delete_invoice", {"invoice_id": draft}).status == "applied"
    assert len(blocks(w)) == 2  # in the trash it may come back
    assert w.run("purge_invoice", {"invoice_id": draft}).status == "applied"
    assert [b["invoice_id"] for b in blocks(w)] == [kept["id"]]


def test_a_notice_scheduled_before_dunning_was_disabled_is_not_sent(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """``configure_dunning`` with ``enabled: false`` stops the notices still on their way (a
    mail server that was down kept them pending), as a block does: the delivery step read the
    settings for their figures only and sent them anyway."""
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")
    run = w.run("send_dunning_notices", {"as_of": "2026-01-26"}, deliver=False)
    assert run.status == "applied", run.errors
    configure(w, {**_valid(SETTINGS), "enabled": False})
    steps = w.deliverer.run_for_command(w.org, uuid.UUID(run.command_id))
    assert [(s.status, s.events) for s in steps] == [("cancelled", [])]
    assert w.sink.messages == []
    configure(w)
    assert dunned(dun(w, "2026-01-27")) == [a["id"]]  # level 1 was never sent


def test_a_notice_of_a_level_configured_away_is_not_sent(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Settings replaced with fewer levels while a notice of a higher level is on its way:
    the step looked the level up in the new settings and failed with an IndexError (an
    internal error, retried); the level no longer exists, so nothing is sent."""
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")  # due 2026-01-19
    assert dunned(dun(w, "2026-01-26")) == [a["id"]]
    run = w.run("send_dunning_notices", {"as_of": "2026-02-09"}, deliver=False)
    assert run.status == "applied", run.errors
    configure(w, {**_valid(SETTINGS), "levels": [SETTINGS["levels"][0]]})
    sent = len(w.sink.messages)
    steps = w.deliverer.run_for_command(w.org, uuid.UUID(run.command_id))
    assert [(s.status, s.events) for s in steps] == [("cancelled", [])]
    assert len(w.sink.messages) == sent
    assert dunned(dun(w, "2026-03-09")) == []  # one level only: done


def test_a_customers_blocks_include_those_of_its_invoices(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """``list_dunning_blocks`` of a customer lists its invoices' blocks beside its own (as
    ``list_dunning_notices`` of a customer lists its invoices' notices); it listed only the
    customer's own, so a clerk looking at a customer missed the disputed invoice."""
    w = make_world(db_url, smtp, tmp_path)
    a = finalized(w, "2026-01-05")
    other = uuid.uuid4()
    second = {**scenarios.DE_BUYER, "company": "Zweite GmbH", "email": "zweite@example.com"}
    assert w.run("create_customer", {"id": str(other), **second}).status == "applied"
    assert w.run("block_dunning", {"invoice_id": a["id"], "reason": "bestritten"}).status == (
        "applied"
    )
    assert w.run("block_dunning", {"customer_id": str(other)}).status == "applied"

    def subjects(**payload: Any) -> set[tuple[str, str]]:
        return {(x["subject"], x["invoice_id"] or x["customer_id"]) for x in blocks(w, **payload)}

    assert subjects(customer_id=[str(w.customer)]) == {("invoice", a["id"])}
    assert subjects(customer_id=[str(other)]) == {("customer", str(other))}
    assert subjects(customer_id=[str(w.customer), str(other)]) == {
        ("invoice", a["id"]),
        ("customer", str(other)),
    }
