#!/bin/sh
# Give every quorum queue a member on every running node of the cluster, then spread the queue
# leaders evenly over the nodes. Run it on any node (or with rabbitmqctl pointed at one) after
# the cluster formed and after a node was added or replaced:
#
#   docker compose exec rabbitmq-1 /etc/rabbitmq/grow-quorum-queues.sh        (compose, 3 nodes)
#   kubectl exec invoicing-rabbitmq-server-0 -- /etc/rabbitmq/grow-quorum-queues.sh   (k8s)
#
# Why: a node that loads definitions at boot creates the queues while it is alone, so each
# quorum queue gets ONE member (no replication) and RabbitMQ 3.10-3.12 never adds the nodes
# that join later by itself. Growing is idempotent: a queue already on a node is left alone.
set -eu
CTL=${RABBITMQCTL:-rabbitmqctl}
QUEUES=${RABBITMQ_QUEUES:-rabbitmq-queues}
nodes=$("$CTL" -q eval 'rabbit_nodes:all_running().' | tr -d "[]' \n" | tr ',' ' ')
[ -n "$nodes" ] || { echo "grow-quorum-queues: no running nodes found" >&2; exit 1; }
for node in $nodes; do
  echo "growing every quorum queue onto $node" >&2
  "$QUEUES" -q grow "$node" all >/dev/null
done
"$QUEUES" -q rebalance quorum >/dev/null
echo "quorum queues on: $nodes" >&2
