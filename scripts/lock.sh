#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml (uv, every file hashed, for Python 3.11 on any
# platform):
#   requirements-dev.lock   runtime + the `dev` extra (scripts/setup.sh, CI)
#   requirements.lock       runtime only (the Dockerfile); the same versions as the dev lock
# Versions already in a lock are kept unless pyproject.toml no longer allows them; pass uv's
# upgrade options to move them:
#   ./scripts/lock.sh                          after a change to pyproject.toml's dependencies
#   ./scripts/lock.sh --upgrade-package NAME   one package to its newest allowed version
#   ./scripts/lock.sh --upgrade                everything to the newest allowed versions
# Then run ./scripts/setup.sh, which installs the new dev lock.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
if [ ! -x "$UV" ] && ! command -v "$UV" >/dev/null; then
  echo "lock.sh: $UV not found: run ./scripts/setup.sh first (it installs uv into .venv)" >&2
  exit 1
fi
common=(
  --quiet
  --universal
  --python-version 3.11
  --generate-hashes
  --custom-compile-command ./scripts/lock.sh
)
# the dev lock first; the runtime lock is then constrained to the dev lock's versions, so both
# agree on every runtime package (tests/unit/test_locks.py checks it)
"$UV" pip compile "${common[@]}" "$@" --extra dev pyproject.toml -o requirements-dev.lock
"$UV" pip compile "${common[@]}" "$@" --constraint requirements-dev.lock pyproject.toml \
  -o requirements.lock
