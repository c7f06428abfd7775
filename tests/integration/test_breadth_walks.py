"""Random walks over every command that changes an invoice, with a read-model check, on
SQLite and PostgreSQL.

Each walk (tests/support/breadth.py; seeded, ids included, so a failure names it) sends 250
commands drawn among the lifecycle walks' 20 kinds and the ones those never send:
update_invoice, remove_line, change_recipient, batch, several commands in one transaction
(``Bulk``), publish_invoice / unpublish_invoice, purge_invoice, send_invoice,
send_dunning_notices, block_dunning / lift_dunning_block, export_invoice / export_update,
record_billable_entry and invoice_billable_entries, create_budget / update_budget /
close_budget, update_customer and configure_organization; besides, payments across invoices
and their deletion, overpayments kept as credit, quotes, dollar invoices, a subsidiary's
invoices, an XRechnung customer, and commands delivered twice. The delivery steps (the
invoice's email, payment confirmations, dunning notices, a share link's documents) run after
the commit against a real SMTP server, at once or some commands later (after a command on
their invoice, now and then). The calendar moves on 0 to 2 days a command, into a new year.
After every command:

- it was applied or rejected with a reason: never an exception, never an ``internal_error``
  (nor in a batch's or a dunning run's items); a redelivered one is a duplicate; every delivery
  step ends done, failed with a reason or cancelled;
- every event that carries an invoice has the next sequence of its document (gapless from 1),
  an issued document's frozen parts (number, dates, lines, seller and buyer snapshots, totals
  up to the gross) are the same in each of its later events, it never returns to draft and a
  void one stays void;
- every document the command named or its events touched reads (``get_invoice``) exactly as
  its last event carries it, with the open amount of ``check_open_amount`` and the other
  invariants of ``breadth.check_state``;
- a dunning notice goes to an open invoice that no block (its own or its customer's) holds;

every 20 commands and at the end, every document is read against its last event, credited
amounts are the credit notes' gross, numbers follow issue dates, and the numbers of each
series run from 1 without a gap. A seed's walk sends the same commands on both backends, and
they end alike there.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from collections.abc import Iterator

import pytest
from invoicing.bootstrap import deliverer
from invoicing.handlers.deliveries import DatabaseJournal
from invoicing.mail import SmtpSender, SmtpSettings
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.integration import test_send_invoice as _send
from tests.integration.test_send_invoice import Sink
from tests.support.breadth import BreadthWalk, Calendar, split_number
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

smtp = _send.smtp  # a real SMTP server on loopback

STEPS = 250
START = dt.date(2026, 11, 20)  # the walks run into a new year (and its number series)


@pytest.fixture
def walk_bus(engine: Engine, smtp: tuple[Sink, int]) -> Iterator[tuple[Pipeline, Calendar]]:
    _, port = smtp
    settings = SmtpSettings(
        host="127.0.0.1", port=port, security="none", sender="billing@invoicing.test"
    )
    calendar = Calendar(START)
    deps = fake_deps(
        clock=calendar,
        mailer=SmtpSender(settings),
        smtp_settings=settings,
        delivery_journal=DatabaseJournal(engine),
    )
    yield Pipeline(engine, deps, LocalOperator()), calendar


#: seed -> (backend, the walk's outcomes): the other backend's walk of the seed must match
OUTCOMES: dict[int, tuple[str, list[tuple[str, str, list[str]]]]] = {}


def seeded_ids(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """``uuid.uuid4`` drawn from the seed: the walk's ids (documents, commands, payments) are
    the same in every run, so the walk is too, whatever sorts by id."""
    rng = random.Random(f"ids {seed}")
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=rng.getrandbits(128), version=4))


#: the seeds: three, or ``INVOICING_BREADTH_SEEDS=first:end`` for a longer search
SEEDS = range(*map(int, os.environ.get("INVOICING_BREADTH_SEEDS", "0:3").split(":")))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_breadth_walk_keeps_the_read_model(
    walk_bus: tuple[Pipeline, Calendar],
    smtp: tuple[Sink, int],
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    bus, calendar = walk_bus
    seeded_ids(monkeypatch, seed)
    walk = BreadthWalk(bus, 7100 + seed, deliverer(bus), calendar)
    walk.run(STEPS)
    backend = bus.engine.dialect.name
    other, outcomes = OUTCOMES.setdefault(seed, (backend, walk.outcomes))
    if other != backend:  # the same commands, applied or rejected alike, on both backends
        pairs = zip(outcomes, walk.outcomes, strict=False)
        first = next(
            (n for n, (a, b) in enumerate(pairs) if a != b),
            min(map(len, (outcomes, walk.outcomes))),
        )
        assert outcomes == walk.outcomes, (
            other,
            first,
            outcomes[first:][:3],
            walk.outcomes[first:][:3],
        )
    # how far the walk reached (printed with -s)
    series = {split_number(s["number"])[0] for s in walk.model.state.values() if s["number"]}
    print(seed, backend, dict(walk.applied), dict(walk.rejected), dict(walk.steps), sorted(series))
    assert len(walk.applied) >= 25, sorted(walk.applied)
    assert len(series) >= 3 and "RE-2027-" in series, series  # into the next year
    assert walk.steps["invoice:done"] and len(smtp[0].messages) >= 3, walk.steps
