#!/usr/bin/env bash
# Fresh machine -> the whole test suite against real PostgreSQL and RabbitMQ.
#   ./scripts/test.sh              static checks, unit + integration (2 workers), then e2e
#   ./scripts/test.sh ARGS...      setup, then `pytest ARGS...`
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-services.sh
./scripts/ensure-browser.sh   # Debian chromium for tests/e2e/test_web_browser.py
./scripts/setup.sh

run_pytest() {
  set +e
  .venv/bin/python -m pytest -p no:cacheprovider "$@"
  local status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    return 1
  fi
  return "$status"
}

if [ "$#" -gt 0 ]; then
  run_pytest "$@"
  exit $?
fi

# static checks first: ruff (lint) and mypy --strict on src/
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
# unit and integration tests in two processes; the end-to-end tests restart RabbitMQ and
# PostgreSQL, so they run afterwards, alone
# (--durations: the slowest tests, to keep the whole run well inside CI's 20 minutes)
run_pytest -n 2 --durations=15 --ignore=tests/e2e
run_pytest --durations=10 tests/e2e
