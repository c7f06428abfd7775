"""Dunning rules without a database: which level is due, which invoices one run duns."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from invoicing.domain.dunning import Block, Candidate, blocked_on, next_level, plan_notices
from invoicing.schemas.dunning import DunningSettings
from pydantic import ValidationError

SETTINGS = DunningSettings.model_validate(
    {"levels": [{"days_after_due": 7}, {"days_after_due": 21}, {"days_after_due": 35}]}
)
DUE = dt.date(2026, 1, 19)


def test_next_level_rules() -> None:
    s = SETTINGS
    assert next_level(s, DUE, 0, None, dt.date(2026, 1, 25)) is None
    assert next_level(s, DUE, 0, None, dt.date(2026, 1, 26)) == 1
    # found long overdue: level 1 only, level 2 a full interval after it
    assert next_level(s, DUE, 0, None, dt.date(2026, 6, 1)) == 1
    assert next_level(s, DUE, 1, dt.date(2026, 6, 1), dt.date(2026, 6, 14)) is None
    assert next_level(s, DUE, 1, dt.date(2026, 6, 1), dt.date(2026, 6, 15)) == 2
    assert next_level(s, DUE, 3, dt.date(2026, 6, 1), dt.date(2027, 6, 1)) is None
    with pytest.raises(ValidationError):
        DunningSettings.model_validate({"levels": []})


def _cand(n: int, *, email: bool = True, due: dt.date = DUE) -> Candidate:
    return Candidate(uuid.UUID(int=n), f"RE-2026-{n:03}", due, email)


def test_a_run_plans_in_due_order_skips_in_flight_and_reports_missing_addresses() -> None:
    a, b, c, d = _cand(1), _cand(2, email=False), _cand(3), _cand(4, due=dt.date(2026, 3, 1))
    plan = plan_notices(
        SETTINGS,
        [a, b, c, d],
        last={a.invoice_id: (1, dt.date(2026, 1, 26))},
        in_flight={c.invoice_id},
        as_of=dt.date(2026, 2, 10),
        max_notices=10,
    )
    # a: level 2 is due (21 days after due, 14 days after level 1); b: no address;
    # c: a notice is on its way; d: not yet due
    assert [(x.invoice_id.int, level) for x, level in plan.notices] == [(1, 2)]
    assert [x.invoice_id.int for x in plan.without_email] == [2]


def test_a_run_stops_at_its_maximum_and_missing_addresses_do_not_count() -> None:
    cands = [_cand(1, email=False)] + [_cand(n) for n in range(2, 8)]
    plan = plan_notices(SETTINGS, cands, {}, set(), dt.date(2026, 2, 1), max_notices=3)
    assert [x.invoice_id.int for x, _ in plan.notices] == [2, 3, 4]
    assert all(level == 1 for _, level in plan.notices)
    assert [x.invoice_id.int for x in plan.without_email] == [1]


def test_blocked_invoices_and_customers_get_no_notice_while_the_block_holds() -> None:
    """A block (Mahnsperre) of an invoice or of its customer holds up to and including its
    ``until`` (for good without one); blocked invoices are reported, not counted."""
    alice, bob = uuid.UUID(int=100), uuid.UUID(int=200)
    a, b, c, d = (
        Candidate(uuid.UUID(int=n), f"RE-{n}", DUE, True, owner)
        for n, owner in ((1, alice), (2, alice), (3, bob), (4, None))
    )
    blocks = {
        ("invoice", a.invoice_id): Block(until=dt.date(2026, 2, 10)),
        ("customer", bob): Block(until=None),
        # an id of an invoice used for a customer blocks nothing else
        ("customer", d.invoice_id): Block(until=None),
    }

    def planned(as_of: dt.date) -> tuple[list[int], list[int]]:
        plan = plan_notices(SETTINGS, [a, b, c, d], {}, set(), as_of, 2, blocks)
        return [x.invoice_id.int for x, _ in plan.notices], [x.invoice_id.int for x in plan.blocked]

    # on its last day the block holds; blocked ones do not take the run's places
    assert planned(dt.date(2026, 2, 10)) == ([2, 4], [1, 3])
    assert planned(dt.date(2026, 2, 11)) == ([1, 2], [])  # a is free, the run stops at 2
    assert blocked_on(blocks, dt.date(2030, 1, 1), c.invoice_id, bob)
    assert not blocked_on(blocks, dt.date(2030, 1, 1), d.invoice_id, None)
