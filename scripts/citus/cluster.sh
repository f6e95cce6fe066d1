#!/usr/bin/env bash
# A throwaway Citus cluster on loopback: a coordinator and two workers, each
# its own PostgreSQL 15 server (shared_preload_libraries = 'citus' only here),
# run as the postgres OS user from CITUS_CLUSTER_DIR.
#
#   scripts/citus/cluster.sh start [db]   initdb + start 3 servers, create db with
#                                         citus and llm_cost, add the workers
#   scripts/citus/cluster.sh stop         stop the servers, delete the directory
#   scripts/citus/cluster.sh env          print PGHOST/PGPORT lines for the coordinator
#
# Ports: CITUS_PORT_BASE (default 55432) for the coordinator, +1 and +2 for
# the workers. Citus (scripts/citus/build.sh) and llm_cost (cargo pgrx install)
# must be installed into the system PostgreSQL first.
set -euo pipefail

# LLM_COST_PG_BIN: another PostgreSQL 15 (scripts/citus/test.sh's private copy)
PG_BIN=${LLM_COST_PG_BIN:-/usr/lib/postgresql/15/bin}
DIR=${CITUS_CLUSTER_DIR:-/tmp/llm_cost_citus_cluster}
BASE=${CITUS_PORT_BASE:-55432}
DB=${2:-llm_cost}
NODES=(coord:$BASE w1:$((BASE + 1)) w2:$((BASE + 2)))

log() { printf '[citus-cluster] %s\n' "$*"; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_at() { local port=$1; shift; as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$port" -U postgres "$@"; }

start() {
  if [ -d "$DIR" ]; then stop; fi
  mkdir -p "$DIR"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$DIR"
  for node in "${NODES[@]}"; do
    local name=${node%%:*} port=${node##*:}
    as_pg "$PG_BIN/initdb" -D "$DIR/$name" -A trust -U postgres -E UTF8 --no-sync >/dev/null
    cat >>"$DIR/$name/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
shared_preload_libraries = 'citus'
fsync = off
max_connections = 120
max_prepared_transactions = 120
citus.enable_unsafe_triggers = on
# The maintenance worker: on the coordinator only (it refreshes the rollups
# and makes partitions through the coordinator); never on a worker, where
# refresh_rollups refuses (docs/scaling.md). CITUS_COORDINATOR_AUTO_REFRESH=off
# (scripts/citus/test.sh) leaves refreshes to the caller.
llm_cost.auto_refresh = $(if [ "$name" = coord ]; then echo "${CITUS_COORDINATOR_AUTO_REFRESH:-on}"; else echo off; fi)
CONF
    # (fd 9 closed: a server must not inherit a caller's flock on the shared lock)
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/$name" -l "$DIR/$name.log" -w -t 60 start >/dev/null 9>&-
  done
  for node in "${NODES[@]}"; do
    local port=${node##*:}
    psql_at "$port" -d postgres -c "CREATE DATABASE $DB" -c "\\c $DB" -c "CREATE EXTENSION citus"
  done
  psql_at "$BASE" -d "$DB" <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', $BASE);
SELECT citus_add_node('127.0.0.1', $((BASE + 1)));
SELECT citus_add_node('127.0.0.1', $((BASE + 2)));
CREATE EXTENSION llm_cost;
SQL
  log "coordinator 127.0.0.1:$BASE, workers :$((BASE + 1)) :$((BASE + 2)), database $DB, socket dir $DIR"
}

stop() {
  for node in "${NODES[@]}"; do
    local name=${node%%:*}
    if [ -f "$DIR/$name/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$DIR/$name" -m immediate -w stop >/dev/null || true
    fi
  done
  rm -rf "$DIR"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) echo "PGHOST=$DIR PGPORT=$BASE PGUSER=postgres PGDATABASE=$DB" ;;
  *) echo "usage: $0 start [db] | stop | env" >&2; exit 2 ;;
esac
