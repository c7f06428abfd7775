"""Checks that need files outside the repository (../shared: the DATEV checker, the official
e-invoice rule sets), or services and tools the project's own scripts install. A developer
without them gets a skip that names what is missing and the fix; CI (``CI=true``) always has
them, so there a missing one is a failure, never a silent skip."""

from __future__ import annotations

import os
import shutil

import pytest


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def needs(available: bool, reason: str) -> pytest.MarkDecorator:
    """A marker for tests that need a local service the project's own scripts install
    (scripts/ensure-services.sh): a developer without it gets a skip naming the fix; under CI
    the tests run regardless and fail loudly, never skip."""
    return pytest.mark.skipif(
        not available and not _ci(), reason=f"{reason}: run ./scripts/ensure-services.sh"
    )


#: RabbitMQ's CLI on this machine (the tests make vhosts and users of their own with it)
needs_rabbitmq = needs(shutil.which("rabbitmqctl") is not None, "needs a local RabbitMQ")


def require_external(available: bool, reason: str) -> None:
    if available:
        return
    if _ci():
        pytest.fail(f"{reason} (CI must have ../shared)")
    pytest.skip(reason)


def require_tool(available: bool, reason: str) -> None:
    """A tool that the project's own scripts install (scripts/ensure-*.sh): a developer who has
    not run them gets a skip naming the fix; under CI its absence is a failure."""
    if available:
        return
    if _ci():
        pytest.fail(f"{reason} (CI runs ./scripts/test.sh, which installs it)")
    pytest.skip(reason)
