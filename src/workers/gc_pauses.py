"""Pauses of CPython's cyclic garbage collector in the long-running processes.

The collector stops every thread of its process while it runs, and a full (generation 2)
collection visits every object it tracks. A worker holds about 170,000 of them from its start
alone (modules, pydantic's validators and serializers, SQLAlchemy's metadata and compiled
statements, the PDF engine's templates): one full collection took 85 ms on the development
machine (2026-11-29), with every command of the process waiting, against 12 ms for a whole
command at a light load. That was the tail of the command path under load (docs/pipeline.md,
"Collector pauses").

:func:`settle` runs once when a process has built everything it keeps (its engine, pipeline,
broker) and before it takes work: one collection, then ``gc.freeze()``, which moves every
surviving object into a permanent generation that no later collection visits (Python's own
documented use of it). Full collections then visit only what was made since. It also raises
the youngest generation's threshold from CPython's 700 to :data:`YOUNG_THRESHOLD`: a list page
builds tens of thousands of short-lived containers (rows, dicts, models) that reference
counting frees, yet with 700 the collector ran 3.7 young and 0.3 middle collections per page,
0.33 ms of a 5.5 ms page, visiting objects that were about to be freed anyway. With 50,000 it
runs only when that many containers outlive their moment (reference cycles, growing caches):
cyclic garbage is still collected, in larger and rarer passes, and the middle and full
generations keep their own thresholds (CPython's 10 and 10: counted in passes of the
generation below; docs/pipeline.md, "Collector pauses").
:func:`observe` times the full collections that still happen into
``invoicing_gc_pause_seconds``, so a regression shows on the dashboards.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from invoicing.observability.metrics import GC_PAUSES

#: young-generation threshold after :func:`settle` (CPython's default: 700)
YOUNG_THRESHOLD = 50_000

_started: list[float] = []


def _timed(phase: str, info: dict[str, Any]) -> None:
    if info.get("generation") != 2:
        return
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        GC_PAUSES.observe(time.perf_counter() - _started.pop())


def observe() -> None:
    """Time every full collection of this process from now on (once per process)."""
    if _timed not in gc.callbacks:
        gc.callbacks.append(_timed)


def unobserve() -> None:
    """Stop timing them (tests)."""
    if _timed in gc.callbacks:
        gc.callbacks.remove(_timed)


def settle() -> int:
    """Collect once, freeze what survives out of the collector's reach, raise the young
    generation's threshold to :data:`YOUNG_THRESHOLD`, then time the full collections from
    there on (:func:`observe`; this one, of start-up, is not a pause of the service's work);
    returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    observe()
    return gc.get_freeze_count()
