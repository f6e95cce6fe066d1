#!/usr/bin/env bash
# The Citus test (issue #17): llm_cost on a real 3-node Citus cluster on
# loopback, over real connections, against a single node loaded with the same
# rows.
#   - builds Citus if needed (scripts/citus/build.sh), installs this llm_cost
#     build, starts a coordinator and two workers (scripts/citus/cluster.sh)
#     and one plain node, all throwaway;
#   - llm_cost.distribute_on_citus(): usage and rollups distributed by
#     tenant_id, prices, aliases and budgets reference tables;
#   - inserts through the coordinator are priced; set_price and import_prices
#     through the coordinator price calls on every node; a DELETE and reprice
#     over several shards commit and budget spend follows them;
#     refresh_rollups through the coordinator advances (on a worker: 0A000);
#     a budget spanning tenants is
#     refused (0A000); concurrent writers (pgbench, 8 clients) on 6 tenants:
#     every per-tenant, per-tenant-per-user and per = 'tenant_id' budget's
#     spend equals the single node's, kept on one node only, and each
#     threshold fired exactly once (a multi-node INSERT ... SELECT crossing
#     thresholds commits: alerts are queued without NOTIFY there);
#   - can_spend and reserve run on the tenant's node (delegated), and an
#     insert naming the reservation settles it there;
#   - ensure_usage_partitions through the coordinator makes May's partition,
#     distributed with shards on both workers; May's rows already in
#     usage_default move into it (spend counted once), later ones land in it;
#   - retire_usage through the coordinator retires two months (one in
#     usage_default, one a monthly partition, dropped): no old row left on
#     any shard, budget spend unchanged on every node, retired spend equal to
#     the single node's (which retires too) and on the tenant's node, the
#     retired months' dashboards unchanged, inserts (also late ones into a
#     retired month) priced after it, a DELETE after it in one transaction
#     counted again;
#   - budget_spend_drift runs through the coordinator: empty, and a total
#     changed behind the triggers' back on its node shows as drift;
#   - dashboards (cost_summary, cost_by, daily_costs) give the single node's
#     answers for the same rows (the cluster's and the single node's old
#     months retired);
#   - rollups on the cluster: after a refresh through the coordinator (the
#     single node refreshes too) the dashboards read the rollups and give
#     the single node's answers (and a GROUP BY of the ledger's), also with a
#     tail of new rows, after a second and a third refresh, and after a
#     DELETE and reprice of rolled-up rows over several shards; a DELETE
#     during a refresh waits for it, and a refresh during an open DELETE
#     (through a worker) waits for that: the dashboards still agree.
# Holds the shared lock /tmp/llm_cost_pg.lock from the install to the end
# (the servers it starts do not inherit it). Prints its run time.
# CITUS_TEST_BENCH=1 also measures 1 node against the cluster (BENCHMARKS.md);
# CITUS_TEST_RELEASE=1 installs the release build (for benchmarks);
# CITUS_PRIVATE_PG=1 uses a private copy of PostgreSQL instead of the shared
# install (no lock taken).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PG_BIN=/usr/lib/postgresql/15/bin
started=$(date +%s)
log() { printf '[citus-test] %s\n' "$*"; }
failures=0

bash scripts/citus/build.sh

if [ -n "${CITUS_PRIVATE_PG:-}" ]; then
  # A private copy of the system PostgreSQL 15 (with Citus), relocated under
  # /tmp (PostgreSQL finds its lib and share directories from its binaries'
  # place): this build of llm_cost is installed there, the shared install
  # and its lock are left alone. For runs beside other work on one machine.
  PRIVATE=${CITUS_PRIVATE_PG_DIR:-/tmp/llm_cost_citus_pg}
  rm -rf "$PRIVATE" && mkdir -p "$PRIVATE/usr/lib/postgresql" "$PRIVATE/usr/share/postgresql"
  cp -a /usr/lib/postgresql/15 "$PRIVATE/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$PRIVATE/usr/share/postgresql/"
  PG_BIN=$PRIVATE/usr/lib/postgresql/15/bin
  log "installing llm_cost into a private copy of PostgreSQL 15 ($PRIVATE)"
else
  # (LLM_COST_PG_LOCKED=1: the caller holds the lock already; taking it
  # again from here would wait for ever.)
  if [ "${LLM_COST_PG_LOCKED:-}" != 1 ]; then
    exec 9>>/tmp/llm_cost_pg.lock
    flock 9
  fi
  log "installing llm_cost into the system PostgreSQL 15"
fi
export LLM_COST_PG_BIN=$PG_BIN
cargo pgrx install --pg-config "$PG_BIN/pg_config" ${CITUS_TEST_RELEASE:+--release} >/dev/null 2>&1 ||
  { cargo pgrx install --pg-config "$PG_BIN/pg_config" ${CITUS_TEST_RELEASE:+--release}; exit 1; }

export CITUS_CLUSTER_DIR=/tmp/llm_cost_citus_test_$$
export CITUS_PORT_BASE=${CITUS_PORT_BASE:-$((20000 + $$ % 20000))}
# refreshes when the checks say (the maintenance worker is tried at the end)
export CITUS_COORDINATOR_AUTO_REFRESH=off
BASE=$CITUS_PORT_BASE
SINGLE_DIR=$CITUS_CLUSTER_DIR-single
SINGLE_PORT=$((BASE + 3))
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  bash "$ROOT/scripts/citus/cluster.sh" stop || true
  if [ -f "$SINGLE_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$SINGLE_DIR/data" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$SINGLE_DIR"
  if [ -n "${PRIVATE:-}" ]; then rm -rf "$PRIVATE"; fi
}
trap cleanup EXIT

log "starting the cluster (coordinator :$BASE, workers :$((BASE + 1)) :$((BASE + 2))) and a single node (:$SINGLE_PORT)"
bash scripts/citus/cluster.sh start >/dev/null
mkdir -p "$SINGLE_DIR"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$SINGLE_DIR"
as_pg "$PG_BIN/initdb" -D "$SINGLE_DIR/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
cat >>"$SINGLE_DIR/data/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $SINGLE_PORT
unix_socket_directories = '$SINGLE_DIR'
fsync = off
max_connections = 120
CONF
as_pg "$PG_BIN/pg_ctl" -D "$SINGLE_DIR/data" -l "$SINGLE_DIR/server.log" -w -t 60 start >/dev/null 9>&-

C() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_CLUSTER_DIR" -p "$BASE" -U postgres -d llm_cost "$@"; }
S() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$SINGLE_DIR" -p "$SINGLE_PORT" -U postgres -d llm_cost "$@"; }
"$PG_BIN/psql" -X -q -h "$SINGLE_DIR" -p "$SINGLE_PORT" -U postgres -d postgres -c "CREATE DATABASE llm_cost"
S -c "CREATE EXTENSION llm_cost"

check() {   # name expected actual
  if [ "$2" = "$3" ]; then
    log "ok: $1"
  else
    log "FAILED: $1"
    printf '  expected: %s\n  actual:   %s\n' "$2" "$3"
    failures=$((failures + 1))
  fi
}
same() {    # name query: the cluster and the single node give the same rows
  local a b
  a=$(C -c "$2")
  b=$(S -c "$2")
  if [ "$a" = "$b" ] && [ -n "$a" ]; then
    log "ok: $1 (same as one node: $(printf '%s\n' "$a" | wc -l) rows)"
  else
    log "FAILED: $1"
    diff <(printf '%s\n' "$b") <(printf '%s\n' "$a") | head -20 || true
    failures=$((failures + 1))
  fi
}

# ---- the distributed layout -------------------------------------------------
check "distribute_on_citus" distributed "$(C -c "SELECT llm_cost.distribute_on_citus()" 2>/dev/null)"
check "llm_cost created on the workers by CREATE EXTENSION" "0.3.0,0.3.0" \
  "$(C -c "SELECT string_agg(result, ',') FROM run_command_on_workers(\$\$SELECT extversion FROM pg_extension WHERE extname = 'llm_cost'\$\$)")"
check "usage hash-distributed by tenant_id, budgets and prices reference tables" "budgets:n prices:n usage:h:tenant_id" \
  "$(C -c "SELECT string_agg(replace(logicalrelid::text, 'llm_cost.', '') || ':' || partmethod::text
                               || coalesce(':' || column_to_column_name(logicalrelid, partkey), ''), ' ' ORDER BY 1)
             FROM pg_dist_partition WHERE logicalrelid::text IN ('llm_cost.usage', 'llm_cost.budgets', 'llm_cost.prices')")"
check "rollups co-located with usage" "t" \
  "$(C -c "SELECT bool_and(colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'llm_cost.usage'::regclass))
             FROM pg_dist_partition WHERE logicalrelid::text LIKE 'llm_cost.usage_%'")"

# ---- budgets: the same on both ----------------------------------------------
# (One row per INSERT: a multi-row INSERT into budgets, a reference table, is
# a COPY to every node during which budgets' validation trigger opens a
# subtransaction, and Citus fails to send that SAVEPOINT to the busy
# connections: "another command is already in progress".)
BUDGETS="$(for n in 1 2 3 4 5 6; do
  echo "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, thresholds) VALUES ('t$n-total', 1.0, 'total', 't$n', '{10,25,50,75,90,100}');"
done)
INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds) VALUES ('per-tenant-month', 0.5, 'month', 'tenant_id', '{50,100}');
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds) VALUES ('t1-per-user-day', 0.03, 'day', 't1', 'user_id', '{50,100}');
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit) VALUES ('t2-hard', 100, 'total', 't2', true);
"
C -c "$BUDGETS"
S -c "$BUDGETS"

# A budget spanning tenants is refused on the distributed ledger.
err=$(C -v VERBOSITY=verbose -c "INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('everyone', 1, 'month')" 2>&1 || true)
check "a budget spanning tenants is refused with 0A000" "0A000" "$(printf '%s' "$err" | grep -o '0A000' | head -1)"

# ---- inserts through the coordinator are priced -----------------------------
priced=$(C -F ' ' -c "INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
                VALUES ('t3', 'u0', 'openai', 'gpt-4o', 1000, 500, '2026-06-15 09:00+00', 80)
                RETURNING cost, price_id IS NOT NULL")
check "an insert through the coordinator is priced (cost, price_id set)" \
  "$(C -c "SELECT llm_cost.llm_cost('openai', 'gpt-4o', 1000, 500, at => '2026-06-15 09:00+00') || ' t'")" "$priced"

# A price set through the coordinator reaches the workers' price caches (the
# catalog trigger fires on each node's copy of the reference table). The
# workers' backends cached the catalog at the insert above.
C -c "SET client_min_messages = error; INSERT INTO llm_cost.usage (tenant_id, provider, model, input_tokens, output_tokens, occurred_at)
      SELECT 't' || n, 'testco', 'citus-m1', 1000, 0, '2026-06-15 08:00+00' FROM generate_series(1, 6) AS n"
# set_price through the coordinator (an upsert into the reference table
# prices: the second call replaces the first row's prices, ON CONFLICT).
check "set_price through the coordinator, twice (the second replaces the row)" "t" \
  "$(C -c "SELECT llm_cost.set_price('testco', 'citus-m1', 1, 3, valid_from => '2026-01-01')
                  = llm_cost.set_price('testco', 'citus-m1', 2, 4, valid_from => '2026-01-01')")"
check "the price row is on every node, replaced" "2:4:USD 2:4:USD 2:4:USD" \
  "$(C -c "SELECT string_agg(result, ' ' ORDER BY nodeid) FROM run_command_on_all_nodes(
             \$\$SELECT string_agg(trim_scale(input_per_mtok) || ':' || trim_scale(output_per_mtok) || ':' || currency, ',')
                 FROM llm_cost.prices WHERE provider = 'testco' AND model = 'citus-m1'\$\$)")"
C -c "INSERT INTO llm_cost.usage (tenant_id, provider, model, input_tokens, output_tokens, occurred_at)
      SELECT 't' || n, 'testco', 'citus-m1', 1000, 0, '2026-06-15 08:30+00' FROM generate_series(1, 6) AS n"
check "a new price reaches every worker's cache (6 tenants: unpriced before, 0.002 after)" "null:6 0.002:6" \
  "$(C -c "SELECT string_agg(coalesce(trim_scale(cost)::text, 'null') || ':' || n, ' ' ORDER BY cost NULLS FIRST)
             FROM (SELECT cost, count(*) AS n FROM llm_cost.usage WHERE model = 'citus-m1' GROUP BY 1) AS x")"

# Budget spend of the per-tenant totals, summed over every node, against the
# ledger: "spent calls" (each tenant has a 'total' budget; rows are in t1..t6).
TOTALS="SELECT trim_scale(coalesce(sum((x->>0)::numeric), 0)) || ' ' || coalesce(sum((x->>1)::bigint), 0)
          FROM run_command_on_all_nodes(\$\$SELECT coalesce(json_agg(json_build_array(s.spent, s.calls)), '[]')
                                            FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id
                                           WHERE b.name LIKE 't_-total'\$\$) AS r,
               json_array_elements(r.result::json) AS x"
LEDGER="SELECT trim_scale(coalesce(sum(cost), 0)) || ' ' || count(*) FROM llm_cost.usage"

# A DELETE over several shards (both workers): the spend and rollup statement
# triggers of each shard ran into a distributed deadlock (row locks on the
# reference tables rollup_state and budgets, docs/scaling.md), then into a
# clash of intermediate results in _fold_spend.
check "a DELETE over several shards through the coordinator" "12" \
  "$(C -c "WITH d AS (DELETE FROM llm_cost.usage WHERE model = 'citus-m1' RETURNING 1) SELECT count(*) FROM d")"
check "budget spend follows the DELETE on every node (spent, calls)" "$(C -c "$LEDGER")" "$(C -c "$TOTALS")"

# reprice through the coordinator: an UPDATE over several shards (its
# self-join joins on tenant_id there), whose spend the single node, which gets
# the repriced rows, counts again on insert (compared below).
C -c "SET client_min_messages = error; INSERT INTO llm_cost.usage (tenant_id, provider, model, input_tokens, output_tokens, occurred_at)
      SELECT 't' || n, 'testco', 'citus-m3', 1000, 1000, '2026-06-15 08:40+00' FROM generate_series(1, 6) AS n"
C -c "SELECT llm_cost.set_price('testco', 'citus-m3', 3, 5, valid_from => '2026-01-01')" >/dev/null
check "reprice through the coordinator prices the rows on every shard" "6" \
  "$(C -c "SELECT llm_cost.reprice('2026-06-15 08:00+00', '2026-06-15 09:00+00')")"
check "the repriced rows cost 0.008 each" "0.008:6" \
  "$(C -c "SELECT string_agg(trim_scale(cost) || ':' || n, ' ') FROM (SELECT cost, count(*) AS n FROM llm_cost.usage WHERE model = 'citus-m3' GROUP BY 1) AS x")"
check "budget spend follows reprice on every node (spent, calls)" "$(C -c "$LEDGER")" "$(C -c "$TOTALS")"

# import_prices through the coordinator: a LiteLLM list's new model is a row
# dated now() on every node, which every node's pricing finds at once.
check "import_prices through the coordinator" "1" \
  "$(C -c "SELECT llm_cost.import_prices('{\"testco/citus-m2\": {\"litellm_provider\": \"testco\", \"mode\": \"chat\",
                                          \"input_cost_per_token\": 0.000005, \"output_cost_per_token\": 0.00001}}')")"
check "the imported price prices calls on every node" "15 15 15" \
  "$(C -c "SELECT string_agg(result, ' ' ORDER BY nodeid) FROM run_command_on_all_nodes(
             \$\$SELECT trim_scale(llm_cost.llm_cost('testco', 'citus-m2', 1000000, 1000000))\$\$)")"

# One statement over every tenant (both workers: Citus commits it with
# PREPARE TRANSACTION), crossing thresholds on both.
ROWS="SELECT 't' || (1 + g % 6), 'u' || (g % 20), 'anthropic', 'claude-3-5-sonnet-20241022', 2000, 300,
             '2026-06-15 09:30+00'::timestamptz + g * interval '1 second', 40 + g % 50
        FROM generate_series(1, 240) AS g"
C -c "INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms) $ROWS"
check "a multi-node INSERT ... SELECT crossing thresholds commits (no NOTIFY under PREPARE)" "247" \
  "$(C -c "SELECT count(*) FROM llm_cost.usage")"

# ---- concurrent writers on several tenants ----------------------------------
cat >"$CITUS_CLUSTER_DIR/insert.sql" <<'SQL'
\set t random(1, 6)
\set u random(1, 20)
INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
VALUES ('t' || :t, 'u' || :u, 'openai', 'gpt-4o', 1000 + :u * 10, 200,
        '2026-06-15 10:00+00'::timestamptz + (:u || ' minutes')::interval, 50 + :u);
SQL
log "pgbench: 8 clients x 250 single-row inserts on 6 tenants, through the coordinator"
"$PG_BIN/pgbench" -n -h "$CITUS_CLUSTER_DIR" -p "$BASE" -U postgres -c 8 -j 2 -t 250 \
  -f "$CITUS_CLUSTER_DIR/insert.sql" llm_cost >"$CITUS_CLUSTER_DIR/pgbench.out" 2>&1 ||
  { cat "$CITUS_CLUSTER_DIR/pgbench.out"; exit 1; }
check "every insert committed" "2247" "$(C -c "SELECT count(*) FROM llm_cost.usage")"

# Two older months for retire_usage (below): April in usage_default, May in a
# monthly partition of the distributed ledger, made by ensure_usage_partitions
# through the coordinator. May's first 100 rows arrive before it, in
# usage_default, and move into it.
may_rows() {   # first last
  echo "INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
        SELECT 't' || (1 + g % 6), 'u' || (g % 20), 'openai', 'gpt-4o', 1000 + g, 200,
               '2026-05-10 00:00+00'::timestamptz + g * interval '37 minutes', 30 + g % 90
          FROM generate_series($1, $2) AS g"
}
MAY_COUNTS="SELECT (SELECT count(*) FROM llm_cost.usage_2026_05) || ' '
                   || (SELECT count(*) FROM llm_cost.usage_default WHERE occurred_at >= '2026-05-01' AND occurred_at < '2026-06-01')
                   || ' ' || (SELECT sum(result::bigint) FROM run_command_on_shards('llm_cost.usage_2026_05', \$\$SELECT count(*) FROM %s\$\$))"
C -c "$(may_rows 1 100)"
# refresh_rollups through the coordinator rolls the rows so far up, May's
# first 100 among them (the later ones are the tail until the refreshes at
# the end): retire_usage, below, retires rows on both sides of the
# watermark, and May's partition, below, takes rolled-up rows.
check "refresh_rollups through the coordinator rolls rows up (ids advanced > 0)" "t" \
  "$(C -c "SELECT llm_cost.refresh_rollups() > 0")"
check "refresh_rollups refuses on a worker (0A000: its sequence draws other ids)" "0A000" \
  "$("$PG_BIN/psql" -X -q -At -h "$CITUS_CLUSTER_DIR" -p $((BASE + 1)) -U postgres -d llm_cost -v VERBOSITY=verbose \
       -c "SELECT llm_cost.refresh_rollups()" 2>&1 | grep -o '0A000' | head -1)"

SPEND_BEFORE_PARTITION=$(C -c "$TOTALS")
check "ensure_usage_partitions through the coordinator makes May's partition" "1" \
  "$(C -c "SET client_min_messages = warning" -c "SELECT llm_cost.ensure_usage_partitions('2026-05-01', '2026-05-01')")"
check "again: May's partition exists, nothing to make" "0" \
  "$(C -c "SELECT llm_cost.ensure_usage_partitions('2026-05-01', '2026-05-01')")"
check "May's partition: on the coordinator, distributed by tenant_id co-located with usage, shards on both workers" \
  "llm_cost.usage_2026_05 h t 32 2 2" \
  "$(C -F ' ' -c "SELECT p.partition, d.partmethod,
                         d.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'llm_cost.usage'::regclass),
                         (SELECT count(*) FROM pg_dist_shard AS s WHERE s.logicalrelid = p.partition),
                         (SELECT count(DISTINCT n.nodeport) FROM pg_dist_shard AS s JOIN pg_dist_shard_placement AS n USING (shardid)
                           WHERE s.logicalrelid = p.partition AND n.nodeport <> $BASE),
                         (SELECT count(*) FROM run_command_on_workers(\$\$SELECT count(*) FROM pg_class
                                                                           WHERE relkind = 'r' AND relname ~ '^usage_2026_05_[0-9]+\$'\$\$) AS w
                           WHERE w.result::int > 0)
                    FROM llm_cost._usage_partitions() AS p JOIN pg_dist_partition AS d ON d.logicalrelid = p.partition
                   WHERE p.from_time = '2026-05-01 00:00+00' AND p.to_time = '2026-06-01 00:00+00'")"
check "May's early rows moved out of usage_default into its shards, their spend counted once" "100 0 100 $SPEND_BEFORE_PARTITION" \
  "$(C -c "$MAY_COUNTS") $(C -c "$TOTALS")"
C -c "$(may_rows 101 300)"
check "May's later rows land in its partition (its shards), none in usage_default" "300 0 300" "$(C -c "$MAY_COUNTS")"
C -c "INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
      SELECT 't' || (1 + g % 6), 'u' || (g % 20), 'openai', 'gpt-4o-mini', 2000, 300,
             '2026-04-20 00:00+00'::timestamptz + g * interval '50 minutes', 20 + g % 40
        FROM generate_series(1, 60) AS g"

# The same rows into the single node, in id order.
# (cost too: the single node has no price for the test model, and keeps a supplied cost)
COLS="id, occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id, latency_ms, cost, currency"
C -c "COPY (SELECT $COLS FROM llm_cost.usage ORDER BY id) TO STDOUT" |
  S -c "COPY llm_cost.usage ($COLS) FROM STDIN"
S -c "SELECT setval(pg_get_serial_sequence('llm_cost.usage', 'id'), max(id)) FROM llm_cost.usage" >/dev/null

# Budget spend: gathered from every node, by budget name and per value.
KEPT_ALL="SELECT b.name, s.per_value, s.spent, s.calls, s.node
            FROM (SELECT (x->>0)::bigint AS budget_id, x->>1 AS per_value, (x->>2)::numeric AS spent,
                         (x->>3)::bigint AS calls, r.nodeid AS node
                    FROM run_command_on_all_nodes(\$\$SELECT coalesce(json_agg(json_build_array(budget_id, per_value, spent, calls)), '[]')
                                                      FROM llm_cost.budget_spend\$\$) AS r,
                         json_array_elements(r.result::json) AS x) AS s
            JOIN llm_cost.budgets AS b ON b.id = s.budget_id"
# ---- retire_usage on the distributed ledger ---------------------------------
# The cluster retires April and May (the single node too, for its retired
# spend); after that every check below (spend and alerts against the single
# node, dashboards) runs on the retired cluster.
KEPT_TEXT="SELECT name || '|' || per_value || '|' || trim_scale(spent) || '|' || calls FROM ($KEPT_ALL) AS k ORDER BY 1"
old_figures() {
  C -c "SELECT * FROM llm_cost.cost_summary('2026-04-01', '2026-06-01')" \
    -c "SELECT * FROM llm_cost.cost_summary('2026-05-12 07:00+00', '2026-05-15 13:00+00')" \
    -c "SELECT * FROM llm_cost.cost_by('tenant_id', '2026-04-01', '2026-06-01')" \
    -c "SELECT * FROM llm_cost.cost_by('user_id', '2026-04-01', '2026-06-01')" \
    -c "SELECT * FROM llm_cost.cost_by('model', '2026-04-01', '2026-06-01')" \
    -c "SELECT * FROM llm_cost.daily_costs WHERE day < '2026-06-01' ORDER BY time, provider, model, tenant_id, user_id"
}
FIGURES_BEFORE=$(old_figures)
SPEND_BEFORE=$(C -c "$KEPT_TEXT")
OLD_ROWS=$(C -c "SELECT count(*) FROM llm_cost.usage WHERE occurred_at < '2026-06-01'")
err=$(C -v VERBOSITY=verbose -c "SELECT llm_cost.retire_usage('2026-06-01 12:00+00')" 2>&1 || true)
check "retire_usage with a cutoff that is not a UTC midnight: 22023" "22023" "$(printf '%s' "$err" | grep -o '22023' | head -1)"
check "retire_usage('2026-06-01') through the coordinator retires April and May ($OLD_ROWS rows)" "$OLD_ROWS" \
  "$(C -c "SELECT llm_cost.retire_usage('2026-06-01')" 2>&1)"
S -c "SELECT llm_cost.retire_usage('2026-06-01')" >/dev/null
check "no row before June left on any shard" "0" \
  "$(C -c "SELECT sum(result::bigint) FROM run_command_on_shards('llm_cost.usage',
             \$\$SELECT count(*) FROM %s WHERE occurred_at < '2026-06-01'\$\$)")"
check "May's partition dropped on every node (its shards too)" "t t t 0" \
  "$(C -c "SELECT string_agg(result, ' ' ORDER BY nodeid) FROM run_command_on_all_nodes(
             \$\$SELECT to_regclass('llm_cost.usage_2026_05') IS NULL\$\$)") $(C -c "SELECT count(*) FROM pg_dist_shard
                                                                            WHERE logicalrelid::text LIKE '%usage_2026_05%'")"
check "budget spend on every node unchanged by retiring" "$SPEND_BEFORE" "$(C -c "$KEPT_TEXT")"
# The retired rows' spend, on the node of each tenant's shard, equals the one
# node's: with the single node's empty drift and equal totals (below), budget
# spend = ledger + retired spend holds on the cluster too (and
# budget_spend_drift checks it on the cluster itself, below).
RETIRED_ALL="SELECT b.name || '|' || (x->>1)::timestamptz || '|' || (x->>2) || '|' || trim_scale((x->>3)::numeric) || '|' || (x->>4) || '|' || r.nodeid AS t
               FROM run_command_on_all_nodes(\$\$SELECT coalesce(json_agg(json_build_array(budget_id, period_start, per_value, spent, calls)), '[]')
                                                 FROM llm_cost.retired_spend\$\$) AS r,
                    json_array_elements(r.result::json) AS x
               JOIN llm_cost.budgets AS b ON b.id = (x->>0)::bigint"
check "retired spend per budget, period and per value equals the single node's" \
  "$(S -c "SELECT b.name || '|' || r.period_start || '|' || r.per_value || '|' || trim_scale(r.spent) || '|' || r.calls
             FROM llm_cost.retired_spend AS r JOIN llm_cost.budgets AS b ON b.id = r.budget_id ORDER BY 1")" \
  "$(C -c "SELECT regexp_replace(t, '\|[0-9]+$', '') FROM ($RETIRED_ALL) AS a ORDER BY 1")"
check "retired spend is kept on the node holding the tenant's shard" "0" \
  "$(C -c "SELECT count(*) FROM ($RETIRED_ALL) AS a, LATERAL string_to_array(a.t, '|') AS f
            JOIN llm_cost.budgets AS b ON b.name = f[1]
           WHERE f[6]::int <> (SELECT n.nodeid FROM pg_dist_placement AS p JOIN pg_dist_node AS n ON n.groupid = p.groupid
                                WHERE p.shardid = get_shard_id_for_distribution_column('llm_cost.usage',
                                                      coalesce(b.tenant_id, f[3])))")"
check "dashboards give the same figures for April and May as before retiring" "$FIGURES_BEFORE" "$(old_figures)"
# New rows after retiring: this month, and a late one in retired May (which
# now lands in usage_default); on the single node too, for the checks below.
LATE="INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
      VALUES ('t4', 'u3', 'openai', 'gpt-4o', 1000, 100, '2026-06-16 08:00+00', 70),
             ('t5', 'u3', 'openai', 'gpt-4o', 1000, 100, '2026-05-11 08:00+00', 70)
      RETURNING cost IS NOT NULL"
check "inserts through the coordinator after retiring (June, and late into retired May) are priced" "t t" \
  "$(C -c "$LATE" | tr '\n' ' ' | sed 's/ $//')"
S -c "$LATE" >/dev/null
same "cost_summary over May and June (retired May: rollups plus a late row)" \
  "SELECT * FROM llm_cost.cost_summary('2026-05-01', '2026-07-01')"
same "cost_by user_id over April to June" "SELECT * FROM llm_cost.cost_by('user_id', '2026-04-01', '2026-07-01')"
# retire_usage resets llm_cost._retiring on the workers too: a DELETE after
# it in the same transaction takes the row's spend out of the budget again.
T4_SPENT="SELECT sum(result::numeric) FROM run_command_on_all_nodes(\$\$SELECT coalesce(sum(s.spent), 0)
            FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id WHERE b.name = 't4-total'\$\$)"
t4_before=$(C -c "$T4_SPENT")
RETIRE_THEN_DELETE="BEGIN;
SELECT llm_cost.retire_usage('2026-05-01');
DELETE FROM llm_cost.usage WHERE tenant_id = 't4' AND occurred_at = '2026-06-16 08:00+00';
COMMIT;"
C -c "$RETIRE_THEN_DELETE" >/dev/null
S -c "$RETIRE_THEN_DELETE" >/dev/null
check "a DELETE after retire_usage in its transaction takes the row's spend out of the budget" \
  "$(C -c "SELECT trim_scale($t4_before - llm_cost.llm_cost('openai', 'gpt-4o', 1000, 100, at => '2026-06-16 08:00+00'))")" \
  "$(C -c "SELECT trim_scale(($T4_SPENT))")"

# (trim_scale: a sum's scale depends on the order rows were added in)
SPEND_CLUSTER=$(C -c "SELECT name || '|' || per_value || '|' || trim_scale(spent) || '|' || calls FROM ($KEPT_ALL) AS k ORDER BY 1")
SPEND_SINGLE=$(S -c "SELECT b.name || '|' || s.per_value || '|' || trim_scale(s.spent) || '|' || s.calls
                       FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id ORDER BY 1")
check "per-tenant budget spend equals the single node's ($(printf '%s\n' "$SPEND_SINGLE" | wc -l) totals)" \
  "$SPEND_SINGLE" "$SPEND_CLUSTER"
check "the single node's spend has no drift" "0" "$(S -c "SELECT count(*) FROM llm_cost.budget_spend_drift")"
check "budget_spend_drift on the cluster (kept totals gathered from every node, against the ledger): empty" "0" \
  "$(C -c "SELECT count(*) FROM llm_cost.budget_spend_drift")"
# A total changed behind the triggers' back, on its node, shows as drift by
# the amount changed (then put back).
# (one slot of its one period, by id: the node's own table only)
T1_TOTAL=$(C -c "SELECT id FROM llm_cost.budgets WHERE name = 't1-total'")
NUDGE="UPDATE llm_cost.budget_spend_slots SET spent = spent + %s
        WHERE budget_id = $T1_TOTAL AND slot = (SELECT min(slot) FROM llm_cost.budget_spend_slots WHERE budget_id = $T1_TOTAL)"
C -c "SELECT count(*) FROM run_command_on_all_nodes(\$\$$(printf "$NUDGE" 1)\$\$)" >/dev/null
check "budget_spend_drift on the cluster shows a total changed on its node" "t1-total 1" \
  "$(C -F ' ' -c "SELECT b.name, trim_scale(d.kept_spent - d.ledger_spent)
                   FROM llm_cost.budget_spend_drift AS d JOIN llm_cost.budgets AS b ON b.id = d.budget_id")"
C -c "SELECT count(*) FROM run_command_on_all_nodes(\$\$$(printf "$NUDGE" -1)\$\$)" >/dev/null
check "each total is kept on one node only (every period of a budget and per value on one node)" "0" \
  "$(C -c "SELECT count(*) FROM (SELECT name, per_value FROM ($KEPT_ALL) AS k GROUP BY 1, 2 HAVING count(DISTINCT node) > 1) AS d")"
check "spend is kept on the node holding the tenant's shard" "0" \
  "$(C -c "SELECT count(*) FROM ($KEPT_ALL) AS k JOIN llm_cost.budgets AS b ON b.name = k.name
            JOIN pg_dist_node AS n ON n.nodeid = k.node
           WHERE n.groupid <> (SELECT p.groupid FROM pg_dist_placement AS p
                                WHERE p.shardid = get_shard_id_for_distribution_column('llm_cost.usage',
                                                      coalesce(b.tenant_id, k.per_value)))")"

# Alerts: gathered from every node; each threshold crossed fired once.
ALERTS_CLUSTER=$(C -c "SELECT b.name || '|' || coalesce(x->>1, '') || '|' || (x->>2)
                         FROM run_command_on_all_nodes(\$\$SELECT coalesce(json_agg(json_build_array(budget_id, per_value, threshold)), '[]')
                                                           FROM llm_cost.notifications WHERE budget_id IS NOT NULL\$\$) AS r,
                              json_array_elements(r.result::json) AS x
                         JOIN llm_cost.budgets AS b ON b.id = (x->>0)::bigint ORDER BY 1")
ALERTS_SINGLE=$(S -c "SELECT b.name || '|' || coalesce(n.per_value, '') || '|' || n.threshold
                        FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id ORDER BY 1")
check "each threshold fired once, the single node's set ($(printf '%s\n' "$ALERTS_SINGLE" | wc -l) alerts)" \
  "$ALERTS_SINGLE" "$ALERTS_CLUSTER"
check "no threshold fired twice on the cluster" "" "$(printf '%s\n' "$ALERTS_CLUSTER" | sort | uniq -d)"

# ---- can_spend and reserve run on the tenant's node -------------------------
t2_spent=$(S -c "SELECT spent FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id WHERE b.name = 't2-hard'")
check "can_spend sees the tenant's spend on its worker (just under the headroom)" "t" \
  "$(C -c "SELECT llm_cost.can_spend(100 - $t2_spent - 0.001, 't2')")"
check "can_spend sees the tenant's spend on its worker (just over the headroom)" "f" \
  "$(C -c "SELECT llm_cost.can_spend(100 - $t2_spent + 0.001, 't2')")"
rid=$(C -c "SELECT llm_cost.reserve(50, 't2')")
check "reserve through the coordinator holds on the tenant's node" "f" \
  "$(C -c "SELECT llm_cost.can_spend(100 - $t2_spent - 49, 't2')")"
C -c "INSERT INTO llm_cost.usage (tenant_id, provider, model, input_tokens, output_tokens, occurred_at, reservation_id)
      VALUES ('t2', 'openai', 'gpt-4o', 1000, 0, '2026-06-15 11:00+00', $rid)"
check "an insert naming the reservation settles it on that node" "0" \
  "$(C -c "SELECT sum(result::int) FROM run_command_on_all_nodes('SELECT count(*) FROM llm_cost.budget_holds')")"
S -c "INSERT INTO llm_cost.usage (tenant_id, provider, model, input_tokens, output_tokens, occurred_at)
      VALUES ('t2', 'openai', 'gpt-4o', 1000, 0, '2026-06-15 11:00+00')"

# ---- dashboards: the same answers as one node -------------------------------
same "cost_summary over the month" "SELECT * FROM llm_cost.cost_summary('2026-06-01', '2026-07-01')"
same "cost_summary over partial hours" "SELECT * FROM llm_cost.cost_summary('2026-06-15 09:31:10+00', '2026-06-15 10:13:00+00')"
same "cost_by tenant_id" "SELECT * FROM llm_cost.cost_by('tenant_id', '2026-06-01', '2026-07-01')"
same "cost_by user_id over partial hours" "SELECT * FROM llm_cost.cost_by('user_id', '2026-06-15 09:31:10+00', '2026-06-15 10:13:00+00')"
same "cost_by model" "SELECT * FROM llm_cost.cost_by('model', '2026-06-01', '2026-07-01')"
same "daily_costs" "SELECT * FROM llm_cost.daily_costs ORDER BY time, provider, model, tenant_id, user_id"

# ---- rollups on the cluster: refresh, corrections, tail ---------------------
# The dashboards of both sides after each step, and on the cluster against a
# raw GROUP BY of the ledger through the coordinator.
DASHBOARDS=("SELECT * FROM llm_cost.cost_summary('2026-06-01', '2026-07-01')"
            "SELECT * FROM llm_cost.cost_summary('2026-06-15 09:31:10+00', '2026-06-16 10:13:00+00')"
            "SELECT * FROM llm_cost.cost_by('tenant_id', '2026-06-01', '2026-07-01')"
            "SELECT * FROM llm_cost.cost_by('user_id', '2026-06-15 09:31:10+00', '2026-06-16 10:13:00+00')"
            "SELECT * FROM llm_cost.cost_by('model', '2026-06-15 09:31:10+00', '2026-06-16 10:13:00+00')"
            "SELECT * FROM llm_cost.daily_cost_by('tenant_id', '2026-06-15 09:31:10+00', '2026-06-16 10:13:00+00')"
            "SELECT * FROM llm_cost.daily_costs ORDER BY time, provider, model, tenant_id, user_id")
RAW_BY_TENANT="SELECT tenant_id || '|' || trim_scale(sum(cost)) || '|' || count(*) FROM llm_cost.usage
                WHERE occurred_at >= '2026-06-15 09:31:10+00' AND occurred_at < '2026-06-16 10:13:00+00'
                GROUP BY tenant_id ORDER BY 1"
ROLLED_BY_TENANT="SELECT value || '|' || trim_scale(cost) || '|' || calls
                    FROM llm_cost.cost_by('tenant_id', '2026-06-15 09:31:10+00', '2026-06-16 10:13:00+00') ORDER BY 1"
dashboards_agree() {   # what: the cluster's dashboards equal the single node's and the ledger's
  local q
  for q in "${DASHBOARDS[@]}"; do same "$1: $(printf '%s' "$q" | sed 's/^SELECT \* FROM llm_cost\.//; s/(.*//')" "$q"; done
  check "$1: cost_by tenant_id over partial hours equals a GROUP BY of the ledger through the coordinator" \
    "$(C -c "$RAW_BY_TENANT")" "$(C -c "$ROLLED_BY_TENANT")"
}
check "refresh_rollups through the coordinator after the inserts (ids advanced > 0)" "t" \
  "$(C -c "SELECT llm_cost.refresh_rollups() > 0")"
S -c "SELECT llm_cost.refresh_rollups()" >/dev/null
check "the dashboards read the rollups on the cluster (_read_ledger false; rollup rows on the workers' shards)" "f t" \
  "$(C -c "SELECT llm_cost._read_ledger('2026-06-15 09:31:10+00', '2026-06-16 10:13:00+00')") $(C -c "SELECT count(*) > 0 FROM llm_cost.usage_rollup")"
dashboards_agree "after a refresh"
# The tail: rows after the refresh, counted before the next one.
tail_rows() {   # first last
  echo "INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
        SELECT 't' || (1 + g % 6), 'u' || (g % 7), 'openai', 'gpt-4o', 700 + g, 90,
               '2026-06-15 11:00+00'::timestamptz + g * interval '61 seconds', 25 + g % 70
          FROM generate_series($1, $2) AS g"
}
S -c "$(tail_rows 1 120)" >/dev/null
C -c "$(tail_rows 1 120)" >/dev/null
dashboards_agree "with 120 rows after the refresh (the tail)"
check "refresh_rollups(max_ids => 50) through the coordinator advances 50 ids" "50" \
  "$(C -c "SELECT llm_cost.refresh_rollups(max_ids => 50)")"
dashboards_agree "with the tail rolled up in part"
check "a second refresh through the coordinator rolls the rest of the tail up (ids advanced >= 70)" "t" \
  "$(C -c "SELECT llm_cost.refresh_rollups() >= 70")"
S -c "SELECT llm_cost.refresh_rollups()" >/dev/null
dashboards_agree "after a second refresh"
# Corrections of rolled-up rows on several shards (both workers), the same on
# both sides: a DELETE, and reprice after a new price (of rows priced by
# each side's own trigger: the tail's).
DELETE_ROLLED="WITH d AS (DELETE FROM llm_cost.usage WHERE user_id IN ('u4', 'u11') AND occurred_at >= '2026-06-15 09:30+00'
                          AND id <= llm_cost.rollup_watermark() RETURNING tenant_id)
               SELECT count(*) || ' rows of ' || count(DISTINCT tenant_id) || ' tenants' FROM d"
deleted=$(S -c "$DELETE_ROLLED")
check "a DELETE of rolled-up rows over several shards through the coordinator commits ($deleted)" "$deleted" "$(C -c "$DELETE_ROLLED")"
REPRICE_ROLLED="SELECT llm_cost.set_price('openai', 'gpt-4o', 7, 11, valid_from => '2026-06-15 11:00+00') IS NOT NULL;
                SELECT llm_cost.reprice('2026-06-15 11:00+00', '2026-06-15 12:00+00')"
repriced=$(S -c "$REPRICE_ROLLED" | tail -1)
check "reprice of rolled-up rows over several shards through the coordinator commits ($repriced rows)" "$repriced" \
  "$(C -c "$REPRICE_ROLLED" | tail -1)"
check "those rows were rolled up, on both workers" "t 2" \
  "$(C -F ' ' -c "WITH u AS MATERIALIZED (SELECT id, tenant_id FROM llm_cost.usage
                                            WHERE occurred_at >= '2026-06-15 11:00+00' AND occurred_at < '2026-06-15 12:00+00')
                  SELECT bool_and(u.id <= llm_cost.rollup_watermark()), count(DISTINCT p.groupid)
                    FROM u JOIN pg_dist_placement AS p
                      ON p.shardid = get_shard_id_for_distribution_column('llm_cost.usage', u.tenant_id)")"
dashboards_agree "after a DELETE and reprice of rolled-up rows"
S -c "$(tail_rows 121 180)" >/dev/null
C -c "$(tail_rows 121 180)" >/dev/null
dashboards_agree "with 60 more rows after the corrections (the tail)"
check "a third refresh through the coordinator (ids advanced >= 60)" "t" "$(C -c "SELECT llm_cost.refresh_rollups() >= 60")"
S -c "SELECT llm_cost.refresh_rollups()" >/dev/null
dashboards_agree "after a third refresh"
# A correction and a refresh at the same time, in both orders (the rollup
# lock of each node, docs/scaling.md "Rollups on Citus"). ROLLUP_LOCKS: the
# rollup locks held on the workers, "mode:count".
ROLLUP_LOCKS="SELECT coalesce(string_agg(result, ' ' ORDER BY nodeport), '') FROM run_command_on_workers(
                \$\$SELECT coalesce(string_agg(mode || ':' || n, ','), '-') FROM (SELECT mode, count(*) AS n FROM pg_locks
                   WHERE locktype = 'advisory' AND classid = 1819045219 AND objid = 2 AND granted GROUP BY 1) AS l\$\$)"
wait_for_locks() {   # pattern: until ROLLUP_LOCKS matches it (the other session holds them)
  local i
  for i in $(seq 1 600); do
    if C -c "$ROLLUP_LOCKS" | grep -Eq "$1"; then return 0; fi
    sleep 0.05
  done
  log "FAILED: the rollup locks never matched $1: $(C -c "$ROLLUP_LOCKS")"
  failures=$((failures + 1))
}
W1() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_CLUSTER_DIR" -p $((BASE + 1)) -U postgres -d llm_cost "$@"; }
# 1. A refresh holds every node's lock (open, after rolling rows up); a
# DELETE of some of those rows through the coordinator waits for its commit,
# then takes them out of the rollups.
S -c "$(tail_rows 181 240)" >/dev/null
C -c "$(tail_rows 181 240)" >/dev/null
DELETE_NEW="DELETE FROM llm_cost.usage WHERE user_id = 'u5' AND occurred_at >= '2026-06-15 14:04+00'"
C -c "BEGIN" -c "SELECT llm_cost.refresh_rollups()" -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null &
refreshing=$!
wait_for_locks '^ExclusiveLock:[0-9]+ ExclusiveLock:[0-9]+$'
C -c "$DELETE_NEW"
wait $refreshing
S -c "SELECT llm_cost.refresh_rollups()" -c "$DELETE_NEW" >/dev/null
dashboards_agree "a DELETE waiting for a refresh in progress"
# 2. A DELETE of rows not rolled up yet, through a worker (so the refresh's
# wait for the coordinator's writers does not see it), holds its nodes'
# locks (open); a refresh through the coordinator waits for it (retrying)
# and does not roll up the rows it deleted.
S -c "$(tail_rows 241 300)" >/dev/null
C -c "$(tail_rows 241 300)" >/dev/null
DELETE_TAIL="DELETE FROM llm_cost.usage WHERE user_id = 'u6' AND occurred_at >= '2026-06-15 15:05+00'"
W1 -c "BEGIN" -c "$DELETE_TAIL" -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null &
correcting=$!
wait_for_locks '^ShareLock:[0-9]+ ShareLock:[0-9]+$'
check "a refresh through the coordinator while a DELETE through a worker is open rolls up the rest (> 0)" "t" \
  "$(C -c "SELECT llm_cost.refresh_rollups() > 0")"
wait $correcting
S -c "$DELETE_TAIL" -c "SELECT llm_cost.refresh_rollups()" >/dev/null
dashboards_agree "a refresh waiting for a DELETE in progress"
# The maintenance worker on the coordinator (llm_cost.auto_refresh on there
# only, as scripts/citus/cluster.sh sets by default) rolls new rows up; then
# off again, for the figures below.
C -c "ALTER SYSTEM SET llm_cost.auto_refresh = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
C -c "SELECT llm_cost.start_maintenance_worker()" >/dev/null
S -c "$(tail_rows 301 330)" >/dev/null
C -c "$(tail_rows 301 330)" >/dev/null
newest=$(C -c "SELECT max(id) FROM llm_cost.usage")
for _ in $(seq 1 120); do
  [ "$(C -c "SELECT llm_cost.rollup_watermark() >= $newest")" = t ] && break
  sleep 0.5
done
check "the maintenance worker on the coordinator rolls new rows up" "t" "$(C -c "SELECT llm_cost.rollup_watermark() >= $newest")"
# (SET, not RESET: RESET would drop the cluster script's line too, and the
# default is on)
C -c "ALTER SYSTEM SET llm_cost.auto_refresh = off" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 120); do
  [ "$(C -c "SELECT llm_cost.maintenance_worker_pid() IS NULL")" = t ] && break
  sleep 0.5
done
check "the maintenance worker on the coordinator stops when auto_refresh is off again" "t" \
  "$(C -c "SELECT llm_cost.maintenance_worker_pid() IS NULL")"
S -c "SELECT llm_cost.refresh_rollups()" >/dev/null
dashboards_agree "after the maintenance worker's refresh"

# ---- benchmarks (CITUS_TEST_BENCH=1): 1 node vs the 3-node cluster ----------
# Same machine, same build, same budgets (the ones above), same run.
if [ -n "${CITUS_TEST_BENCH:-}" ]; then
  secs=${CITUS_BENCH_SECONDS:-20}
  tps() {   # target clients: single-row priced inserts with budgets, tps
    local host port
    if [ "$1" = cluster ]; then host=$CITUS_CLUSTER_DIR port=$BASE; else host=$SINGLE_DIR port=$SINGLE_PORT; fi
    "$PG_BIN/pgbench" -n -h "$host" -p "$port" -U postgres -c "$2" -j "$2" -T "$secs" \
      -f "$CITUS_CLUSTER_DIR/insert.sql" llm_cost 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
  }
  ms() {    # target sql: wall time of one statement, ms (best of 3)
    local best=
    for _ in 1 2 3; do
      local t0 t1
      t0=$(date +%s%N)
      if [ "$1" = cluster ]; then C -c "$2" >/dev/null; else S -c "$2" >/dev/null; fi
      t1=$(date +%s%N)
      local d=$(((t1 - t0) / 1000000))
      if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
    done
    echo "$best"
  }
  ratio() { echo "scale=2; $1 / $2" | bc; }
  for clients in 1 8; do
    s=$(tps single $clients); c=$(tps cluster $clients)
    log "bench: single-row inserts, $clients client(s), ${secs}s: 1 node $s tps, cluster $c tps, ratio $(ratio "$c" "$s")"
  done
  BULK="INSERT INTO llm_cost.usage (tenant_id, user_id, provider, model, input_tokens, output_tokens, occurred_at, latency_ms)
        SELECT 't' || (1 + g % 6), 'u' || (g % 500), 'openai', 'gpt-4o-mini', 1500, 300,
               '2026-05-01'::timestamptz + g * interval '1 second', g % 900
          FROM generate_series(1, 100000) AS g"
  s=$(ms single "$BULK"); c=$(ms cluster "$BULK")
  log "bench: INSERT ... SELECT of 100,000 rows (best of 3): 1 node $s ms, cluster $c ms, ratio (rows/s) $(ratio "$s" "$c")"
  rows=$(S -c "SELECT count(*) FROM llm_cost.usage")
  for q in "SELECT * FROM llm_cost.cost_by('tenant_id', '2026-05-01', '2026-07-01')" \
           "SELECT * FROM llm_cost.cost_summary('2026-05-01 00:30', '2026-06-20 12:15')"; do
    s=$(ms single "$q"); c=$(ms cluster "$q")
    log "bench: $q over $rows rows (best of 3): 1 node $s ms, cluster $c ms"
  done
  # The same after refresh_rollups on both: rollups plus a small tail. (The
  # single node's maintenance worker runs: its rows are mostly rolled up
  # already, there and above; the cluster's worker is off.)
  once() {  # target sql: wall time of one statement, ms
    local t0 t1
    t0=$(date +%s%N)
    if [ "$1" = cluster ]; then C -c "$2" >/dev/null; else S -c "$2" >/dev/null; fi
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
  }
  log "bench: refresh_rollups of the new rows (once): 1 node $(once single "SELECT llm_cost.refresh_rollups()") ms, cluster $(once cluster "SELECT llm_cost.refresh_rollups()") ms"
  for q in "SELECT * FROM llm_cost.cost_by('tenant_id', '2026-05-01', '2026-07-01')" \
           "SELECT * FROM llm_cost.cost_summary('2026-05-01 00:30', '2026-06-20 12:15')" \
           "SELECT * FROM llm_cost.daily_cost_by('model', '2026-05-01', '2026-07-01')"; do
    s=$(ms single "$q"); c=$(ms cluster "$q")
    log "bench: $q over $rows rows after refresh_rollups (best of 3): 1 node $s ms, cluster $c ms"
  done
fi

log "run time: $(($(date +%s) - started)) s"
if [ "$failures" -gt 0 ]; then
  log "$failures check(s) FAILED"
  exit 1
fi
log "all checks passed"
