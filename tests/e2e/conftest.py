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
