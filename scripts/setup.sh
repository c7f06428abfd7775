#!/usr/bin/env bash
# Create .venv and install exactly the locked dependencies (requirements-dev.lock: runtime + the
# dev extra, every file hash-checked), then the project itself (editable, no dependencies).
# Idempotent and quick when nothing changed: stamps in .venv record the hashes of the lock and of
# the packaging files last installed, and a step whose input did not change is skipped.
# After a change to pyproject.toml's dependencies run ./scripts/lock.sh first (this script says
# so when a dependency is missing from the lock).
# To force a reinstall (after installing something into .venv by hand): rm .venv/.setup-*.sha256
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
./scripts/ensure-fonts.sh  # Noto fonts for every script in PDF documents (apt, idempotent)
LOCK=requirements-dev.lock
VENV=.venv

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi

lock_hash=$(sha256sum "$LOCK" | cut -d' ' -f1)
project_hash=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
lock_stamp="$VENV/.setup-lock.sha256"
project_stamp="$VENV/.setup-project.sha256"
if [ "$(cat "$lock_stamp" 2>/dev/null)" = "$lock_hash" ] &&
  [ "$(cat "$project_stamp" 2>/dev/null)" = "$project_hash" ]; then
  exit 0 # nothing changed since the last run
fi

# uv at the locked version and hash (scripts/lock.sh needs it too), installed with pip: the only
# time pip is used. -qq keeps pip's notes about this machine's package indexes out; errors still
# print and fail the run.
uv_version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$LOCK")
if [ -z "$uv_version" ]; then
  echo "setup.sh: $LOCK pins no uv: run ./scripts/lock.sh" >&2
  exit 1
fi
if [ "$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
  awk '/^uv==/ {on = 1} on {print; if ($0 !~ /\\$/) exit}' "$LOCK" >"$VENV/uv-requirement.txt"
  "$VENV/bin/python" -m pip install -qq --disable-pip-version-check --no-deps \
    --require-hashes -r "$VENV/uv-requirement.txt"
  rm -f "$VENV/uv-requirement.txt"
fi

# a dependency added to pyproject.toml but not locked yet: say so now instead of an ImportError
# later (tests/unit/test_locks.py checks the versions too)
"$VENV/bin/python" - "$LOCK" <<'PY'
import re
import sys
import tomllib

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
text = open(sys.argv[1], encoding="utf-8").read()
locked = {norm(m[1]) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.M)}
missing = [w for w in wanted if norm(re.match(r"[A-Za-z0-9._-]+", w)[0]) not in locked]
if missing:
    sys.exit(f"setup.sh: {', '.join(missing)} in pyproject.toml but not in {sys.argv[1]}: "
             "run ./scripts/lock.sh, then ./scripts/setup.sh again")
PY

if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_hash" ]; then
  # exactly the lock: adds, upgrades and removes packages (the project too; reinstalled below)
  "$VENV/bin/uv" pip sync --quiet --python "$VENV/bin/python" --require-hashes "$LOCK"
  echo "$lock_hash" >"$lock_stamp"
  rm -f "$project_stamp"
fi

if [ "$(cat "$project_stamp" 2>/dev/null)" != "$project_hash" ]; then
  # the build backend (setuptools) comes from the lock, hence no build isolation
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps \
    --no-build-isolation --editable .
  echo "$project_hash" >"$project_stamp"
fi
