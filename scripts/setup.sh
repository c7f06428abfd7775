#!/usr/bin/env bash
# Create .venv and install exactly the locked dependencies (requirements-dev.lock: runtime + the
# dev extra, every file hash-checked), then the project itself (editable, no dependencies).
# Idempotent and quick when nothing changed: stamps in .venv record the hashes of the lock and of
# the packaging files last installed, and a step whose input did not change is skipped.
# After a change to pyproject.toml's dependencies run ./scripts/lock.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements-dev.lock
VENV=.venv

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi

lock_hash=$(sha256sum "$LOCK" | cut -d' ' -f1)
project_hash=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
lock_stamp="$VENV/.setup-lock.sha256"
project_stamp="$VENV/.setup-project.sha256"

if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_hash" ]; then
  # uv itself at the locked version and hash, with pip (the only time pip is used); -qq keeps
  # pip's notes about this machine's package indexes out, errors still print and fail the run
  uv_version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$LOCK")
  if [ -z "$uv_version" ]; then
    echo "setup.sh: $LOCK pins no uv: run ./scripts/lock.sh" >&2
    exit 1
  fi
  if [ "$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
    awk '/^uv==/ {on = 1} on {print; if ($0 !~ /\\$/) exit}' "$LOCK" >"$VENV/uv-requirement.txt"
    "$VENV/bin/python" -m pip install -qq --disable-pip-version-check --no-deps \
      --require-hashes -r "$VENV/uv-requirement.txt"
  fi
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
