"""The collector's pauses in long-running processes (src/workers/gc_pauses.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from invoicing.workers import gc_pauses
from prometheus_client import REGISTRY


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc_pauses.unobserve()


def _pauses() -> float:
    return REGISTRY.get_sample_value("invoicing_gc_pause_seconds_count") or 0.0


def test_settle_moves_what_exists_out_of_the_collectors_reach(unfrozen: None) -> None:
    kept = [[i] for i in range(10_000)]  # containers the collector tracks
    before = _pauses()
    frozen = gc_pauses.settle()
    assert frozen == gc.get_freeze_count() >= len(kept)
    assert _pauses() == before  # its own collection, of start-up, is not a pause of the work
    gc.collect()
    assert _pauses() == before + 1  # the next full one is timed
    # a full collection no longer visits them: it sees fewer objects than there are
    assert len(gc.get_objects()) < frozen


def test_full_collections_are_timed_once_observed(unfrozen: None) -> None:
    before = _pauses()
    gc.collect(1)  # not a full collection: not counted
    gc_pauses.observe()
    gc_pauses.observe()  # once per process, however often it is called
    gc.collect(1)
    assert _pauses() == before
    gc.collect()
    assert _pauses() == before + 1
