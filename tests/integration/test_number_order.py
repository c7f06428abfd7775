"""``number`` and ``-number`` sort in the numbering's order on SQLite and PostgreSQL: a series
past its padding (``RE-2026-9999`` before ``RE-2026-10000``), credit notes, manual numbers
(``M-9`` before ``M-10``, ``M-10`` before ``M-010``), drafts without a number last either way,
for ``list_invoices``, ``open_items`` and ``list_trash``; the stored key
(``invoices.number_key``) follows every way a number is set or taken away; filters on
``number`` still match the text."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing.domain.numbering import number_key_of
from invoicing.models import Invoice, NumberSeries
from sqlalchemy import insert, select

from tests.support.client import DE_ORG, Client, line
from tests.support.numbers import natural

pytestmark = pytest.mark.integration

PROFILE = {**DE_ORG, "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:4}"}}}


def _counter_at(client: Client, series: str, next_value: int) -> None:
    """The series of this year starts at ``next_value`` (as after 9,997 numbers)."""
    year = str(client.bus.deps.today().year)
    with client.bus.uow_factory() as uow:
        uow.session.execute(
            insert(NumberSeries).values(
                organization_id=client.org,
                series=series,
                scope="",
                period=year,
                next_value=next_value,
            )
        )
        uow.commit()


def _stored(client: Client) -> list[tuple[str | None, str | None]]:
    with client.bus.uow_factory() as uow:
        rows = uow.session.execute(
            select(Invoice.number, Invoice.number_key).where(Invoice.organization_id == client.org)
        ).all()
    return [(number, key) for number, key in rows]


class World:
    """An organization whose numbers outgrow the padding of their series."""

    def __init__(self, client: Client) -> None:
        self.client = client
        client.setup_org(PROFILE)
        _counter_at(client, "invoice", 9998)
        _counter_at(client, "credit_note", 9999)
        self.customer = client.customer()
        self.year = client.bus.deps.today().year
        self.ids: dict[str, str] = {}  # number (or a draft's name) -> id

    def draft(self, name: str, **fields: Any) -> str:
        iid = str(self.client.invoice(self.customer, [line("Beratung", "1", "100.00")], **fields))
        self.ids[name] = iid
        return iid

    def build(self) -> None:
        c, y = self.client, self.year
        for name in ("a", "b", "c"):
            self.draft(name)
        # the series: 9998 and 9999 by finalize_invoice (plain drafts, Core), 10000 by
        # mark_sent (the ORM's finalize)
        c.ok("finalize_invoice", {"invoice_id": self.ids["a"]})
        c.ok("finalize_invoice", {"invoice_id": self.ids["b"]})
        c.ok("mark_sent", {"invoice_id": self.ids["c"]})
        for name, number in (("a", f"RE-{y}-9998"), ("b", f"RE-{y}-9999"), ("c", f"RE-{y}-10000")):
            assert c.state(self.ids[name])["number"] == number
            self.ids[number] = self.ids.pop(name)
        # manual numbers: given at create, changed by update_invoice, then finalized
        self.draft("M-9", number="M-9")
        m10 = self.draft("M-10", number="M-99")
        c.ok("update_invoice", {"id": m10, "number": "M-10"})
        self.draft("M-010", number="M-010")
        for number in ("M-10", "M-9", "M-010"):
            c.ok("finalize_invoice", {"invoice_id": self.ids[number]})
        # credit notes: GS-9999 against the first invoice (all of it), GS-10000 standalone
        c.ok("issue_credit_note", {"invoice_id": self.ids[f"RE-{y}-9998"], "reason": "Fehler"})
        standalone = str(uuid.uuid4())
        c.ok(
            "issue_standalone_credit_note",
            {
                "credit_note_id": standalone,
                "customer_id": str(self.customer),
                "reason": "Bonus",
                "lines": [line("Bonus", "1", "10.00")],
            },
        )
        # drafts: none numbered, one whose manual number was taken away again
        self.draft("draft 1")
        unnumbered = self.draft("draft 2", number="M-5")
        c.ok("update_invoice", {"id": unnumbered, "number": None})
        # the trash: drafts with manual numbers
        for number in ("T-10", "T-9", "T-009"):
            c.ok("delete_invoice", {"invoice_id": self.draft(number, number=number)})


@pytest.fixture
def world(client: Client) -> World:
    w = World(client)
    w.build()
    return w


def _numbers(items: list[dict[str, Any]]) -> list[str | None]:
    return [item["number"] for item in items]


def test_list_invoices_sorts_numbers_by_their_value(world: World) -> None:
    y = world.year
    numbered = [f"GS-{y}-9999", f"GS-{y}-10000", "M-9", "M-10", "M-010"]
    numbered += [f"RE-{y}-9998", f"RE-{y}-9999", f"RE-{y}-10000"]
    drafts = sorted(world.ids[name] for name in ("draft 1", "draft 2"))
    ascending = world.client.answer("list_invoices", {"sort": ["number"]})["items"]
    assert _numbers(ascending) == [*numbered, None, None]
    assert [i["id"] for i in ascending[-2:]] == drafts  # ties by id, in the last key's direction
    descending = world.client.answer("list_invoices", {"sort": ["-number"]})["items"]
    assert _numbers(descending) == [*reversed(numbered), None, None]
    assert [i["id"] for i in descending[-2:]] == drafts[::-1]
    # as a second key, and page by page
    by_kind = world.client.answer("list_invoices", {"sort": ["-issue_date", "number"]})
    assert _numbers(by_kind["items"])[: len(numbered)] == numbered
    pages = [
        world.client.answer("list_invoices", {"sort": ["-number"], "page": p, "page_size": 3})
        for p in (1, 2, 3, 4)
    ]
    assert [n for page in pages for n in _numbers(page["items"])] == _numbers(descending)
    # the oracle of the list walks agrees
    assert sorted(numbered, key=natural) == numbered


def test_open_items_sort_numbers_by_their_value(world: World) -> None:
    y = world.year
    owed = ["M-9", "M-10", "M-010", f"RE-{y}-9999", f"RE-{y}-10000"]
    for sort, expected in ((["number"], owed), (["-number"], owed[::-1])):
        items = world.client.answer("open_items", {"sort": sort})["items"]
        assert [i["invoice"]["number"] for i in items] == expected, sort


def test_the_trash_sorts_numbers_by_their_value(world: World) -> None:
    for sort, expected in (
        (["number"], ["T-9", "T-009", "T-10"]),
        (["-number"], ["T-10", "T-009", "T-9"]),
    ):
        items = world.client.answer("list_trash", {"sort": sort})["items"]
        assert _numbers(items) == expected, sort


def test_filters_on_number_still_match_its_text(world: World) -> None:
    y = world.year
    found = world.client.answer(
        "list_invoices", {"filter": {"number": {"contains": "-10"}}, "sort": ["number"]}
    )
    assert _numbers(found["items"]) == [f"GS-{y}-10000", "M-10", f"RE-{y}-10000"]
    exact = world.client.answer("list_invoices", {"filter": {"number": "M-010"}})
    assert _numbers(exact["items"]) == ["M-010"]
    listed = world.client.answer(
        "list_invoices", {"filter": {"number": {"in": ["M-9", "M-10"]}}, "sort": ["-number"]}
    )
    assert _numbers(listed["items"]) == ["M-10", "M-9"]


def test_every_stored_key_is_its_numbers(world: World) -> None:
    """Set with the number wherever it was set: finalize (Core and ORM), credit notes,
    standalone credit notes, manual numbers given, changed and taken away."""
    stored = _stored(world.client)
    assert len(stored) == len(world.ids) + 2  # and the two credit notes
    assert all(key == number_key_of(number) for number, key in stored), stored
    assert sum(number is None for number, _ in stored) == 2
