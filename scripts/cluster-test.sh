#!/usr/bin/env bash
# Three RabbitMQ nodes on loopback ports of their own, the service on them, the leader's node
# killed with SIGKILL under load; prints lost / duplicated / unexpected / gapless / recovery.
# Never touches the machine's own RabbitMQ node. Not part of ./scripts/test.sh (minutes long).
#   ./scripts/cluster-test.sh [--commands 3000] [--kills 2] [--rate 120] [--down 10] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-services.sh
./scripts/setup.sh
exec .venv/bin/python scripts/cluster_test.py "$@"
