#!/usr/bin/env bash
# Fresh machine -> the whole test suite against real PostgreSQL and RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-services.sh
./scripts/setup.sh
# static checks first: ruff (lint) and mypy --strict on src/
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
