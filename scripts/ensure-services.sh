#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ run on this machine (install from Debian where missing).
set -euo pipefail

need_apt_update=1
apt_install() {
  if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL" >&2
  apt_install postgresql
fi
if ! pg_ready; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
pg_ready || { echo "PostgreSQL did not start" >&2; exit 1; }
# The tests connect as postgres over TCP without a password (this machine's convention: trust
# on loopback). A freshly installed Debian cluster asks for a password: allow loopback trust.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1" >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  echo "allowing trust authentication on loopback in $hba" >&2
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
  psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1" >/dev/null
fi

rabbit_ready() { rabbitmqctl -q status >/dev/null 2>&1; }
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "installing RabbitMQ" >&2
  apt_install rabbitmq-server
fi
if ! rabbit_ready; then
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do rabbit_ready && break; sleep 1; done
fi
rabbitmqctl -q await_startup >/dev/null 2>&1 || true
rabbit_ready || { echo "RabbitMQ did not start" >&2; exit 1; }
# On a host of two cores or fewer RabbitMQ shares them with PostgreSQL and the workers: one
# Erlang scheduler instead of one per core spends about a third less of the broker's CPU per
# command (fewer wake-ups of a second scheduler thread), the durability unchanged
# (docs/operations.md, "RabbitMQ on a small host"). A runtime switch: no restart, no queue
# touched; INVOICING_BROKER_SCHEDULERS=N sets another number, 0 leaves the broker as it is.
schedulers=${INVOICING_BROKER_SCHEDULERS:-$( [ "$(nproc)" -le 2 ] && echo 1 || echo 0 )}
if [ "$schedulers" -gt 0 ]; then
  online=$(rabbitmqctl -q eval 'erlang:system_info(schedulers_online).' 2>/dev/null || echo "?")
  if [ "$online" != "$schedulers" ]; then
    rabbitmqctl -q eval "erlang:system_flag(schedulers_online, $schedulers)." >/dev/null \
      && echo "RabbitMQ: $schedulers Erlang scheduler(s) online (was $online)" >&2
  fi
fi
echo "PostgreSQL and RabbitMQ are up" >&2
