# Throwaway PostgreSQL 15 clusters for the demo and the benchmarks.
# Source this file, then: start_cluster NAME; ...; (stop happens on EXIT).
# The cluster runs as the postgres OS user (Postgres refuses root), listens
# on loopback only, and is deleted when the calling script exits.

# LLM_COST_PG_BIN points at another PostgreSQL 15 bin directory, e.g. a
# relocated copy of the system one, so a benchmark can install its release
# build there while other work uses the system install (BENCHMARKS.md).
PG_BIN=${LLM_COST_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=$PG_BIN/pg_config

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_cluster NAME [extra postgresql.conf lines...]
# Exports PGHOST, PGPORT, PGUSER so psql and pgbench find it.
start_cluster() {
  local name=$1; shift
  CLUSTER_DIR=$(mktemp -d "/tmp/llm_cost_${name}.XXXXXX")
  chmod 755 "$CLUSTER_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$CLUSTER_DIR"
  as_postgres "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  local port; port=$(free_port)
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$CLUSTER_DIR'"
    echo "max_connections = 50"
    for line in "$@"; do echo "$line"; done
  } | as_postgres tee -a "$CLUSTER_DIR/data/postgresql.auto.conf" >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 start >/dev/null 9>&-  # not the caller's lock (scripts/bench.sh)
  export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres
  trap stop_cluster EXIT
}

stop_cluster() {
  if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$CLUSTER_DIR"
  fi
}

# Builds (release) and installs the extension into the system PostgreSQL 15.
install_extension() {
  cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
}
