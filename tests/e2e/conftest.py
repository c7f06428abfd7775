from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Env, create_env, destroy_env


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    log_dir = Path(tmp_path_factory.mktemp("e2e-logs"))
    e = create_env(log_dir)
    try:
        yield e
    finally:
        destroy_env(e)


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """Workers and relays a test started are stopped after it, failed or not."""
    from tests.e2e.harness import stop_all

    yield
    stop_all()


@pytest.fixture(autouse=True)
def _event_contract_on_the_wire() -> Iterator[None]:
    """Every event a test's Collector received from the broker -- published by real worker
    and relay processes -- matches the contract (envelope and data model); else the test
    fails, naming the event type and the JSON pointer."""
    from tests.e2e import harness

    harness.contract_mismatches = []
    try:
        yield
        found = list(dict.fromkeys(harness.contract_mismatches))
        assert not found, (
            f"{len(found)} event(s) received do not match the contract "
            "(invoicing.schemas.event_data.EVENT_DATA, schemas.events.CloudEvent):\n  "
            + "\n  ".join(found)
        )
    finally:
        harness.contract_mismatches = None
