"""Months of dunning at random, against a real SMTP server, on SQLite and PostgreSQL.

120 steps (seeded): invoices finalized on the day, payments of part of them, credit notes,
write-offs and voids, and every few days a dunning run (``send_dunning_notices``) with the
three levels of tests/integration/test_dunning.py (a reminder at 7 days, a first notice at 21
with a fee and 9 % interest a year, a second at 35 with a higher fee). Every notice sent is
checked against the invoice as the notice's event carries it:

- the invoice is a receivable with something open, and the notice states exactly that amount;
- its days overdue are the run's date less the due date;
- its level is the next one, due by the days overdue and by the interval since the previous
  notice (docs/dunning.md: never two levels at once);
- its fee is the level's, its interest simple act/365 interest on what was open each day since
  the due date (payments, credit notes and write-offs from their own day on), half-up to the
  cent, and its total what is open plus the fees of this and the earlier notices and the
  interest; its payment deadline 10 days after the run;
- one email a notice;

and after every run no open invoice is left that a notice was due for.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import OutboxEvent
from sqlalchemy import select

from tests.integration import test_send_invoice as _send
from tests.integration.test_dunning import configure
from tests.integration.test_send_invoice import Sink, World, make_world

pytestmark = pytest.mark.integration

smtp = _send.smtp  # the real SMTP server of the send tests

STEPS = 120
#: level -> (days after the due date, fee, interest per year) as configure() sets them
LEVELS = {1: (7, Decimal("0.00"), None), 2: (21, Decimal("5.00"), Decimal(9))}
LEVELS[3] = (35, Decimal("10.00"), None)
OPEN = ("finalized", "sent", "partially_paid")


def _state(w: World, invoice_id: str) -> dict[str, Any]:
    """The invoice as its latest event carried it."""
    with UnitOfWork.for_engine(w.engine) as uow:
        payloads = uow.session.execute(
            select(OutboxEvent.payload)
            .where(
                OutboxEvent.organization_id == w.org,
                OutboxEvent.subject == invoice_id,
                OutboxEvent.sequence.is_not(None),
            )
            .order_by(OutboxEvent.sequence.desc())
        ).scalars()
        return next(p["data"]["invoice"] for p in payloads if "invoice" in p["data"])


def open_days(invoice: dict[str, Any], due: dt.date, today: dt.date) -> Decimal:
    """What was open at the end of each day from the day after ``due`` to ``today``, summed:
    the gross less the payments, credit notes and write-offs (plus reversals) dated by then."""
    moves = [(p["date"], -Decimal(p["amount"])) for p in invoice["payments"]]
    for e in invoice["ledger_entries"]:
        sign = 1 if e["kind"] == "write_off_reversal" else -1
        moves.append((e["date"], sign * Decimal(e["gross"])))
    total = Decimal(0)
    for n in range(1, (today - due).days + 1):
        day = (due + dt.timedelta(days=n)).isoformat()
        left = Decimal(invoice["totals"]["gross_total"]) + sum(
            (a for when, a in moves if when <= day), Decimal(0)
        )
        total += max(left, Decimal(0))
    return total


class Dunning:
    """What the notices so far imply: the last level and its date, per invoice."""

    def __init__(self) -> None:
        self.level: dict[str, int] = collections.defaultdict(int)
        self.when: dict[str, dt.date] = {}

    def next_level(self, invoice_id: str, due: dt.date, today: dt.date) -> int | None:
        level = self.level[invoice_id] + 1
        if level not in LEVELS or (today - due).days < LEVELS[level][0]:
            return None
        if level > 1:
            interval = LEVELS[level][0] - LEVELS[level - 1][0]
            if (today - self.when[invoice_id]).days < interval:
                return None
        return level

    def check(self, notice: dict[str, Any], invoice: dict[str, Any], today: dt.date) -> None:
        due = dt.date.fromisoformat(invoice["due_date"])
        owed = Decimal(invoice["totals"]["open_amount"])
        where = (invoice["number"], today, notice)
        assert invoice["status"] in OPEN and owed > 0, where
        assert Decimal(notice["open_amount"]) == owed, where
        days = (today - due).days
        assert notice["days_overdue"] == days, where
        level = notice["level"]
        assert level == self.next_level(invoice["id"], due, today), (where, self.level)
        _, fee, rate = LEVELS[level]
        interest = Decimal("0.00")
        if rate is not None:
            interest = (open_days(invoice, due, today) * rate / 100 / 365).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
        assert (Decimal(notice["fee"]), Decimal(notice["interest"])) == (fee, interest), where
        # the fees of the earlier notices are carried into this one's total
        earlier = sum((LEVELS[n][1] for n in range(1, level)), Decimal(0))
        assert Decimal(notice["earlier_costs"]) == earlier, where
        assert Decimal(notice["total_due"]) == owed + earlier + fee + interest, where
        assert notice["payment_deadline"] == (today + dt.timedelta(days=10)).isoformat(), where
        self.level[invoice["id"]], self.when[invoice["id"]] = level, today


@pytest.mark.parametrize("seed", range(1))
def test_random_months_of_dunning(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    w = make_world(db_url, smtp, tmp_path)
    configure(w)
    sink = smtp[0]
    invoices: list[str] = []
    dunning = Dunning()
    day, notices = dt.date(2026, 1, 5), 0
    for _ in range(STEPS):
        day += dt.timedelta(days=rng.choice([1, 2, 3]))
        today = day.isoformat()
        kind = rng.choice(["new", "new", "pay", "credit", "write_off", "void", "dun", "dun", "dun"])
        if kind == "new" or not invoices:
            draft = str(w.draft())
            out = w.run("finalize_invoice", {"invoice_id": draft, "issue_date": today})
            assert out.status == "applied", out.errors
            invoices.append(draft)
            continue
        iid = rng.choice(invoices)
        if kind == "pay":
            amount = rng.choice(["10.00", "50.00", "119.00"])
            w.run("record_payment", {"invoice_id": iid, "amount": amount, "date": today})
        elif kind == "credit":
            credit = {"description": "Nachlass", "quantity": "1", "unit_price": "20.00"}
            payload = {"invoice_id": iid, "issue_date": today, "reason": "Kulanz"}
            w.run("issue_credit_note", {**payload, "lines": [credit]})
        elif kind == "write_off":
            payload = {"invoice_id": iid, "write_off_id": str(uuid.uuid4()), "date": today}
            w.run("write_off_invoice", {**payload, "reason": "uncollectible"})
        elif kind == "void":
            w.run("void_invoice", {"invoice_id": iid, "reason": "Fehler"})
        else:
            before = len(sink.messages)
            out = w.run("send_dunning_notices", {"as_of": today})
            assert out.status == "applied", out.errors
            sent = [e for e in out.events if e["type"] == "dunning.notice_sent"]
            assert len(sink.messages) - before == len(sent)
            for event in sent:
                dunning.check(event["data"]["dunning"], event["data"]["invoice"], day)
            notices += len(sent)
            for other in invoices:  # nothing left that was due a notice today
                state = _state(w, other)
                if state["status"] in OPEN and Decimal(state["totals"]["open_amount"]) > 0:
                    due = dt.date.fromisoformat(state["due_date"])
                    assert dunning.next_level(other, due, day) is None, (state["number"], day)
    assert notices >= 10 and max(dunning.level.values()) == 3, (notices, dunning.level)
