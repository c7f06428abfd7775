#!/usr/bin/env bash
# Fresh machine -> the service's main job on embedded defaults: set up, then play the example
# commands through the in-process pipeline (SQLite in ./var), printing the events as JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/invoicing process "${1:-examples/lifecycle.jsonl}"
