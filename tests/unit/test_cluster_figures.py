"""The cluster test's figures (scripts/cluster_test.py): a recovery figure for every kill, the
retries each kill can have delayed, and the lateness of a retry beyond its delay."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster_test.py"


@pytest.fixture(scope="module")
def ct() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_test", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_main_path_back_is_the_end_of_the_pause_around_the_kill(ct: ModuleType) -> None:
    steady = [100 + i * 0.1 for i in range(20)]  # events every 0.1 s until 101.9
    # killed at 101.0: in-flight events until 101.9, then nothing until 104.5
    arrivals = [*steady, 104.5, 104.6, 104.7]
    assert ct.main_path_back(arrivals, 101.0) == 3.5
    # events stopped before the kill (nothing arrived within 2 s before it): from the kill on
    assert ct.main_path_back([95.0, 103.0, 103.1], 101.0) == 2.0
    # no pause at all: back at once
    assert ct.main_path_back([100 + i * 0.1 for i in range(60)], 101.0) == 0.1
    # nothing after the kill: no figure
    assert ct.main_path_back([100.0, 100.5], 101.0) is None


def test_every_kill_gets_its_figure_even_when_events_paused_before_it(ct: ModuleType) -> None:
    """The old figure needed events within 2 s before the kill and skipped the kill otherwise
    (one figure for two kills); now a quiet moment before a kill still yields one."""
    arrivals = [10.0, 10.5, 11.0, *(30 + i * 0.2 for i in range(50))]
    figures = [ct.main_path_back(arrivals, at) for at in (11.2, 29.0)]
    assert figures == [18.8, 1.0]


def test_beyond_delay_counts_from_the_retry_that_could_first_succeed(ct: ModuleType) -> None:
    # finalize at 0, invoice created at 3 s: retries at 1, 6, 36 ... -> the one at 6 s
    assert ct.beyond_delay(0.0, 3.0, 7.5) == pytest.approx(1.5)
    # created at 0.8 s (< 1 s): the first retry at 1 s may succeed
    assert ct.beyond_delay(0.0, 0.8, 1.2) == pytest.approx(0.2)
    # created after 6 s: the next is at 36 s
    assert ct.beyond_delay(0.0, 7.0, 40.0) == pytest.approx(4.0)


def test_retries_of_a_kill_are_those_it_can_have_delayed(ct: ModuleType) -> None:
    def retry(sent: float, done: float) -> object:
        return ct.Retry(f"inv-{sent}", sent, sent + 3, done, 0.0)

    waiting = retry(50.0, 70.0)  # sent before the kill, finished after it
    burst = retry(99.7, 110.0)  # just before the kill
    during = retry(112.0, 120.0)  # while the node was down
    late = retry(118.0, 125.0)  # within 5 s of the restart
    earlier = retry(10.0, 20.0)  # done before the kill
    after = retry(130.0, 140.0)  # well after the restart
    everything = [waiting, burst, during, late, earlier, after]
    kill = {"at": 100.0, "restarted": 114.0}
    assert ct.retries_of(everything, kill, 10.0) == [burst, during, late]
    assert ct.retries_of(everything, {"at": 60.0}, 10.0) == [waiting]  # restart not seen: + down
