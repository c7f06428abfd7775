"""The lock files agree with pyproject.toml (scripts/lock.sh regenerates them).

requirements-dev.lock (runtime + dev extra) is what scripts/setup.sh and CI install;
requirements.lock (runtime) is what the Dockerfile installs. A dependency added to or narrowed in
pyproject.toml without running scripts/lock.sh fails here.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^ ;\\]+)(?P<rest>.*)$")


class Pin:
    def __init__(self, version: str, marker: str | None, hashes: list[str]) -> None:
        self.version = Version(version)
        self.marker = Marker(marker) if marker else None
        self.hashes = hashes


def parse_lock(path: Path) -> dict[str, Pin]:
    """name -> pin of a `uv pip compile --generate-hashes` output (one entry per package)."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENTRY.match(line)
        if match:
            rest = match["rest"].rstrip("\\").strip()
            marker = rest[1:].strip() if rest.startswith(";") else None
            name = canonicalize_name(match["name"])
            assert name not in pins, f"{path.name}: {name} pinned twice"
            current = pins[name] = Pin(match["version"], marker, [])
        elif stripped.startswith("--hash="):
            assert current is not None, f"{path.name}: a hash before any pin: {line!r}"
            current.hashes.append(stripped.removeprefix("--hash=").rstrip("\\").strip())
        else:
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return pins


RUNTIME = parse_lock(ROOT / "requirements.lock")
DEV = parse_lock(ROOT / "requirements-dev.lock")
RUNTIME_REQS = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
DEV_REQS = [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"]["dev"]]


def _check(requirement: Requirement, lock: dict[str, Pin], lock_name: str) -> None:
    name = canonicalize_name(requirement.name)
    assert name in lock, f"{requirement} is in pyproject.toml but not in {lock_name}"
    pin = lock[name]
    assert requirement.specifier.contains(pin.version, prereleases=True), (
        f"{lock_name} pins {name}=={pin.version}, outside pyproject.toml's {requirement}"
    )


@pytest.mark.parametrize("requirement", RUNTIME_REQS, ids=str)
def test_every_runtime_dependency_is_locked_in_both_files(requirement: Requirement) -> None:
    _check(requirement, RUNTIME, "requirements.lock")
    _check(requirement, DEV, "requirements-dev.lock")


@pytest.mark.parametrize("requirement", DEV_REQS, ids=str)
def test_every_dev_dependency_is_locked(requirement: Requirement) -> None:
    _check(requirement, DEV, "requirements-dev.lock")


@pytest.mark.parametrize(
    "requirement", [r for r in RUNTIME_REQS if r.extras], ids=lambda r: str(r.name)
)
def test_the_extras_of_runtime_dependencies_are_locked(requirement: Requirement) -> None:
    """`psycopg[binary]` needs psycopg-binary, `dramatiq[rabbitmq]` needs pika in the lock."""
    needed = []
    for text in importlib.metadata.requires(requirement.name) or []:
        inner = Requirement(text)
        if inner.marker is None:
            continue
        if any(inner.marker.evaluate({"extra": extra}) for extra in requirement.extras):
            needed.append(canonicalize_name(inner.name))
    assert needed, f"{requirement} declares extras that require nothing"
    missing = [name for name in needed if name not in RUNTIME]
    assert not missing, f"requirements.lock lacks {missing}, needed by {requirement}"


def test_the_runtime_lock_is_the_dev_lock_less_the_dev_only_packages() -> None:
    for name, pin in RUNTIME.items():
        assert name in DEV, f"{name} is in requirements.lock but not in requirements-dev.lock"
        assert DEV[name].version == pin.version, (
            f"{name}: requirements.lock pins {pin.version}, requirements-dev.lock "
            f"{DEV[name].version}; run ./scripts/lock.sh"
        )
        assert DEV[name].hashes == pin.hashes, f"{name}: the two locks list other hashes"


@pytest.mark.parametrize(("lock_name", "lock"), [("runtime", RUNTIME), ("dev", DEV)])
def test_every_pin_carries_hashes(lock_name: str, lock: dict[str, Pin]) -> None:
    unhashed = [name for name, pin in lock.items() if not pin.hashes]
    assert not unhashed, f"{lock_name} lock: no --hash for {unhashed}"
    assert all(h.startswith("sha256:") for pin in lock.values() for h in pin.hashes)


def test_the_locks_hold_no_package_that_pyproject_does_not_lead_to() -> None:
    """A dependency removed from pyproject.toml leaves the runtime lock when it is relocked."""
    leads_to = {canonicalize_name(r.name) for r in RUNTIME_REQS}
    # walk the installed metadata from pyproject's dependencies (the venv is the dev lock)
    todo = list(RUNTIME_REQS)
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        leads_to.add(name)
        try:
            inner_texts = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # a platform-specific package not installed here (e.g. colorama)
        for text in inner_texts:
            inner = Requirement(text)
            environments = [{"extra": extra} for extra in requirement.extras or {""}]
            if inner.marker is None or any(inner.marker.evaluate(e) for e in environments):
                todo.append(inner)
    stray = sorted(
        name
        for name, pin in RUNTIME.items()
        if name not in leads_to and (pin.marker is None or pin.marker.evaluate())
    )
    assert not stray, f"requirements.lock pins {stray}, which no runtime dependency needs"


def test_the_environment_running_the_tests_is_the_dev_lock() -> None:
    """scripts/setup.sh (and so CI) installs exactly requirements-dev.lock."""
    wrong = []
    for name, pin in DEV.items():
        if pin.marker is not None and not pin.marker.evaluate():
            continue  # e.g. colorama on Windows only
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} (locked {pin.version}, not installed)")
            continue
        if installed != pin.version:
            wrong.append(f"{name} (locked {pin.version}, installed {installed})")
    assert not wrong, f"the environment is not the lock: {wrong}; run ./scripts/setup.sh"
