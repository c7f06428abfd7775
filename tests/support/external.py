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
    """A file of ../shared (the reference material beside the repository): a developer
    without it gets a skip naming what is missing and where it belongs; under CI a failure."""
    if available:
        return
    if _ci():
        pytest.fail(f"{reason} (CI must have ../shared)")
    pytest.skip(f"{reason}; it belongs in ../shared beside the repository")


def require_rules(what: str = "validation against the official rules") -> None:
    """The official e-invoice rule sets (../shared/einvoice or ``$INVOICING_EINVOICE_RULES_DIR``):
    skipped (``what`` says which check), the reason being the loader's own message, which
    names the missing files and the setting that points elsewhere; under CI a failure."""
    from invoicing.documents.einvoice.validation import RulesNotFound, require_rules_dir

    try:
        require_rules_dir()
    except RulesNotFound as exc:
        if _ci():
            pytest.fail(f"{exc} (CI must have ../shared)")
        pytest.skip(f"{what} skipped: {exc}")


def require_tool(available: bool, reason: str) -> None:
    """A tool that the project's own scripts install (scripts/ensure-*.sh): a developer who has
    not run them gets a skip naming the fix; under CI its absence is a failure."""
    if available:
        return
    if _ci():
        pytest.fail(f"{reason} (CI runs ./scripts/test.sh, which installs it)")
    pytest.skip(reason)
