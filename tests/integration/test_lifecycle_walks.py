"""Random walks through an organization's invoice lifecycle, on SQLite and PostgreSQL.

Each walk (tests/support/walks.py) sends 120 commands chosen at random (seeded, so a failure
names its walk) among 20 kinds, mostly on invoices that exist and are finalized, with the
calendar moving on a day per command. After every command:

- the command was applied or rejected with a reason: never an exception out of the pipeline,
  never an ``internal_error``;
- every finalized invoice's open amount is its gross total less what was paid, credited and
  written off (none below zero; a ``paid`` invoice has nothing open), unless the overpayment
  went to the customer's credit balance;

and at the end, the numbers of each series run from 1 without a gap.
tests/integration/test_concurrent_walks.py runs several walks at once on the same invoices.
"""

from __future__ import annotations

import pytest
from invoicing.pipeline import Pipeline

from tests.support.walks import Walk, assert_gapless_numbers

pytestmark = pytest.mark.integration

STEPS = 120


@pytest.mark.parametrize("seed", range(3))
def test_a_random_walk_keeps_amounts_and_numbers(bus: Pipeline, seed: int) -> None:
    walk = Walk(bus, seed)
    walk.run(STEPS)
    assert len(walk.finalized) >= 3, "the walk should reach issued invoices"
    assert_gapless_numbers(walk.client)
