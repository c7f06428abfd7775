"""Checks that need files outside the repository (../shared: the DATEV checker, the official
e-invoice rule sets). A developer without them gets a skip that names what is missing; CI
(``CI=true``) always has them, so there a missing file is a failure, never a silent skip."""

from __future__ import annotations

import os

import pytest


def require_external(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must have ../shared)")
    pytest.skip(reason)


def require_tool(available: bool, reason: str) -> None:
    """A tool that the project's own scripts install (scripts/ensure-*.sh): a developer who has
    not run them gets a skip naming the fix; under CI its absence is a failure."""
    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI runs ./scripts/test.sh, which installs it)")
    pytest.skip(reason)
