#!/usr/bin/env bash
# Benchmarks, each reported as a ratio against its baseline measured in the same run.
#   (a) llm_cost() calls/s vs the same formula in SQL and PL/pgSQL with a table lookup per call
#   (b) ingest rows/s with the pricing trigger vs an identical table without triggers:
#       single-row INSERTs from 1 and 8 pgbench clients, and COPY of 1M rows
#   (c) budgets: ingest with pricing + budgets vs the bare table, contention on one shared
#       budget, 100k budgets vs 1, COPY with budgets (bench/budgets.sh); then
#       (c3) budgets that hold: reserve + settling insert vs insert, rolling vs
#       monthly budgets, 10k per-user rolling budgets vs 1 (bench/holds.sh)
#   (d) analytics: dashboard queries over a generated 10M-call ledger vs the raw GROUP BY
#       (bench/analytics.sh)
#   (e) retention: retiring a month of 3M rows, 0.2's batched DELETE vs dropping its
#       partition (bench/retention.sh)
# Usage: scripts/bench.sh [--quick] [--rows=N] [pricing|ingest|budgets|floors|holds|analytics|retention|all]
#   (quick: shorter runs, for a smoke test)
#   --rows=N: the analytics ledger's size (default 10,000,000; --quick 500,000), e.g. --rows=100000000 (not in CI)
#   budgets runs (c) and (c3); holds runs (c3) alone; ingest runs (b) alone;
#   floors runs (c)'s budget lines against the counter-update floors alone (issue #16).
# The run holds /tmp/llm_cost_pg.lock from the install to the end: it measures
# the build it installed into the shared PostgreSQL, which must not be replaced
# under it (it waits for whoever holds the lock first).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

QUICK=""; SECTION=all; ROWS_ARG=
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=--quick ;;
    --rows=*) ROWS_ARG=${arg#--rows=} ;;
    pricing|ingest|budgets|floors|holds|analytics|retention|all) SECTION=$arg ;;
    *) echo "usage: $0 [--quick] [--rows=N] [pricing|ingest|budgets|floors|holds|analytics|retention|all]" >&2; exit 2 ;;
  esac
done
CALLS=2000000; PGBENCH_SECONDS=15; COPY_ROWS=1000000; ROUNDS=3; LEDGER_ROWS=10000000; TAIL_ROWS=50000
if [ "$QUICK" = "--quick" ]; then CALLS=200000; PGBENCH_SECONDS=3; COPY_ROWS=100000; ROUNDS=1; LEDGER_ROWS=500000; TAIL_ROWS=5000; fi
if [ -n "$ROWS_ARG" ]; then LEDGER_ROWS=$ROWS_ARG; fi

bash scripts/setup.sh >/dev/null
echo "building and installing the extension (release)..."
# The system install is shared (tests install debug builds into it): hold its
# lock for the whole run. A private install (LLM_COST_PG_BIN) needs no lock.
if [ -z "${LLM_COST_PG_BIN:-}" ]; then
  exec 9>/tmp/llm_cost_pg.lock
  flock 9
fi
install_extension
# No maintenance worker: (d) times refresh_rollups() over the whole ledger
# itself, and the ingest ratios compare like with like (no refresh at random moments).
start_cluster bench "shared_buffers = '1GB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'" \
  "synchronous_commit = on" "max_parallel_workers_per_gather = 0" "llm_cost.auto_refresh = off"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION llm_cost" -f bench/baseline.sql >/dev/null
# the months the benchmarks write have their partitions, as the maintenance makes them
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "SELECT llm_cost.ensure_usage_partitions(now() - interval '1 month')" >/dev/null

# Runs a statement and prints its wall time in seconds.
time_sql() {
  local start end
  start=$(date +%s.%N)
  psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "$1" >/dev/null || { echo "benchmark statement failed: $1" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
best_of() { # best_of N SQL → smallest time
  local best="" t
  for _ in $(seq "$1"); do
    t=$(time_sql "$2")
    if [ -z "$best" ] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}
rate() { echo "scale=0; $1 / $2" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

pgbench_tps() { # pgbench_tps SCRIPT CLIENTS → tps
  pgbench -n -f "$1" -c "$2" -j "$2" -T "$PGBENCH_SECONDS" postgres 2>/dev/null | awk '/^tps/ {print int($3)}'
}
# compare_inserts LABEL BARE_SCRIPT SCRIPT CLIENTS: alternating runs, best of each, one table row
compare_inserts() {
  local bare=0 priced=0 b p
  for _ in $(seq "$ROUNDS"); do
    b=$(pgbench_tps "$2" "$4"); [ "$b" -gt "$bare" ] && bare=$b
    p=$(pgbench_tps "$3" "$4"); [ "$p" -gt "$priced" ] && priced=$p
  done
  echo "| $1 | $bare | $priced | $(ratio "$priced" "$bare") |"
}

DATA="$CLUSTER_DIR/usage.copy"
COLS="occurred_at, provider, model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, user_id, agent_id"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "COPY (
  SELECT now() - (g || ' seconds')::interval, 'openai', bench.model(g), 100 + g % 5000, 300 + g % 700, (100 + g % 5000) / 4,
         CASE WHEN bench.model(g) IN ('o1', 'o3-mini', 'gpt-5', 'gpt-5-mini') THEN g % 300 ELSE 0 END,
         'user' || g % 1000, 'agent' || g % 20
    FROM generate_series(1, $COPY_ROWS) g) TO '$DATA'"
copy_time() { # copy_time TABLE
  psql -q -X -d postgres -c "TRUNCATE $1" >/dev/null
  psql -q -X -d postgres -c "CHECKPOINT" >/dev/null
  time_sql "COPY $1 ($COLS) FROM '$DATA'"
}
# compare_copies LABEL [TABLE]: COPY into the bare table and into TABLE (the
# ledger by default), alternating, best of each
compare_copies() {
  local t_bare="" t_priced="" t
  for _ in $(seq "$ROUNDS"); do
    t=$(copy_time bench.usage_bare); if [ -z "$t_bare" ] || (( $(echo "$t < $t_bare" | bc -l) )); then t_bare=$t; fi
    t=$(copy_time "${2:-llm_cost.usage}"); if [ -z "$t_priced" ] || (( $(echo "$t < $t_priced" | bc -l) )); then t_priced=$t; fi
  done
  local r_bare r_priced
  r_bare=$(rate "$COPY_ROWS" "$t_bare"); r_priced=$(rate "$COPY_ROWS" "$t_priced")
  echo "| $1 | $r_bare | $r_priced | $(ratio "$r_priced" "$r_bare") |"
}

if [ "$SECTION" = all ] || [ "$SECTION" = pricing ]; then
echo
echo "## (a) pricing calls per second (one core, $CALLS calls, best of $ROUNDS)"
ARGS="bench.model(g), g % 5000, 300, (g % 5000) / 4, 0, 0"
t_overhead=$(best_of "$ROUNDS" "SELECT sum(length(bench.model(g)) + g % 5000) FROM generate_series(1, $CALLS) g")
t_rust=$(best_of "$ROUNDS" "SELECT sum(llm_cost.llm_cost('openai', $ARGS)) FROM generate_series(1, $CALLS) g")
BASE_CALLS=$((CALLS / 10))
t_sql=$(best_of "$ROUNDS" "SELECT sum(bench.sql_cost('openai', $ARGS)) FROM generate_series(1, $BASE_CALLS) g")
t_plpgsql=$(best_of "$ROUNDS" "SELECT sum(bench.plpgsql_cost('openai', $ARGS)) FROM generate_series(1, $BASE_CALLS) g")
r_rust=$(rate "$CALLS" "$t_rust"); r_sql=$(rate "$BASE_CALLS" "$t_sql"); r_plpgsql=$(rate "$BASE_CALLS" "$t_plpgsql")
# the same results, so the comparison is fair
same=$(psql -X -tA -d postgres -c "SELECT count(*) FROM generate_series(1, 20000) g WHERE llm_cost.llm_cost('openai', $ARGS) IS DISTINCT FROM bench.sql_cost('openai', $ARGS)")
echo "| function | calls/s | ratio |"
echo "|---|---:|---:|"
echo "| llm_cost() (Rust, cached catalog) | $r_rust | 1.00 |"
echo "| SQL function, table lookup per call | $r_sql | $(ratio "$r_sql" "$r_rust") |"
echo "| PL/pgSQL function, table lookup per call | $r_plpgsql | $(ratio "$r_plpgsql" "$r_rust") |"
echo
echo "llm_cost() is $(ratio "$r_rust" "$r_sql")x the SQL function and $(ratio "$r_rust" "$r_plpgsql")x PL/pgSQL;"
echo "loop overhead alone (generate_series + sum): $(rate "$CALLS" "$t_overhead") rows/s; results differing from the SQL baseline: $same of 20000"

echo
echo "## (a2) names as apps log them: llm_cost() over the corpus's priced names, as logged vs as the catalog spells them"
# tests/corpus/model_names/llm_cost.tsv records how each logged name resolves;
# both runs join the same number of names, so the ratio isolates resolution
# (memoised per backend: after the first call a name costs one hash lookup).
psql -q -X -v ON_ERROR_STOP=1 -d postgres \
  -c "CREATE TEMP TABLE recorded (provider text, model text, method text, rp text, rm text, i text, o text)" \
  -c "\\copy recorded FROM 'tests/corpus/model_names/llm_cost.tsv' WITH (FORMAT text, HEADER true)" \
  -c "CREATE TABLE bench.names AS SELECT row_number() OVER (ORDER BY provider, model)::int AS id, provider, model, rp, rm
        FROM recorded WHERE method <> '-'" >/dev/null
n_names=$(psql -X -tA -d postgres -c "SELECT count(*) FROM bench.names")
NAMED="FROM generate_series(1, $CALLS) g JOIN bench.names n ON n.id = 1 + g % $n_names"
t_logged=$(best_of "$ROUNDS" "SELECT sum(llm_cost.llm_cost(n.provider, n.model, g % 5000, 300)) $NAMED")
t_exact=$(best_of "$ROUNDS" "SELECT sum(llm_cost.llm_cost(n.rp, n.rm, g % 5000, 300)) $NAMED")
r_logged=$(rate "$CALLS" "$t_logged"); r_exact=$(rate "$CALLS" "$t_exact")
differ=$(psql -X -tA -d postgres -c "SELECT count(*) FROM bench.names n
  WHERE llm_cost.llm_cost(n.provider, n.model, 1000, 300) IS DISTINCT FROM llm_cost.llm_cost(n.rp, n.rm, 1000, 300)")
echo "| names ($n_names) | calls/s | ratio |"
echo "|---|---:|---:|"
echo "| as the catalog spells them | $r_exact | 1.00 |"
echo "| as apps log them | $r_logged | $(ratio "$r_logged" "$r_exact") |"
echo
echo "(names whose logged and catalog spellings price differently: $differ)"

echo
echo "## (a3) every charge: llm_cost() with units vs tokens only (docs/charges.md)"
# The same Claude call (1,000 cache-write tokens); with units, 400 of them are
# 1-hour writes and it made two web searches. Token-only calls must not pay
# for units: compare this line's token-only rate with (a)'s across versions.
TOK="'anthropic', 'claude-sonnet-4-5', 1000 + g % 5000, 300, 0, 1000"
UNITS="'{\"cache_write_1h_tokens\": 400, \"web_search_queries\": 2}'"
t_tokens=$(best_of "$ROUNDS" "SELECT sum(llm_cost.llm_cost($TOK)) FROM generate_series(1, $CALLS) g")
t_units=$(best_of "$ROUNDS" "SELECT sum(llm_cost.llm_cost($TOK, units => $UNITS)) FROM generate_series(1, $CALLS) g")
r_tokens=$(rate "$CALLS" "$t_tokens"); r_units=$(rate "$CALLS" "$t_units")
unpriced_units=$(psql -X -tA -d postgres -c "SELECT count(*) FROM generate_series(1, 1000) g WHERE llm_cost.llm_cost($TOK, units => $UNITS) IS NULL")
echo "| call | calls/s | ratio |"
echo "|---|---:|---:|"
echo "| tokens only (units NULL) | $r_tokens | 1.00 |"
echo "| with units (1-hour cache writes, web searches) | $r_units | $(ratio "$r_units" "$r_tokens") |"
echo
echo "(calls with units left unpriced: $unpriced_units of 1000)"

fi

if [ "$SECTION" = all ] || [ "$SECTION" = pricing ] || [ "$SECTION" = ingest ]; then
echo
echo "## (b) ingest: pricing trigger vs the same table without triggers"
cat > "$CLUSTER_DIR/insert_priced.sql" <<'SQL'
\set i random(100, 5000)
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, cached_input_tokens, user_id) VALUES ('openai', 'gpt-4o', :i, 300, :i / 4, 'user' || :i);
SQL
sed 's/llm_cost.usage/bench.usage_bare/' "$CLUSTER_DIR/insert_priced.sql" > "$CLUSTER_DIR/insert_bare.sql"

echo "| workload | bare rows/s | priced rows/s | ratio |"
echo "|---|---:|---:|---:|"
for clients in 1 8; do
  compare_inserts "single-row INSERT, $clients client(s), ${PGBENCH_SECONDS}s" \
    "$CLUSTER_DIR/insert_bare.sql" "$CLUSTER_DIR/insert_priced.sql" "$clients"
done
# the same insert carrying units (a web search and a 1-hour cache write), into both tables
cat > "$CLUSTER_DIR/insert_units.sql" <<'SQL'
\set i random(100, 5000)
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, cache_write_tokens, user_id, units) VALUES ('anthropic', 'claude-sonnet-4-5', :i + 100, 300, :i / 4 + 100, 'user' || :i, '{"cache_write_1h_tokens": 100, "web_search_queries": 1}');
SQL
sed 's/llm_cost.usage/bench.usage_bare/' "$CLUSTER_DIR/insert_units.sql" > "$CLUSTER_DIR/insert_units_bare.sql"
compare_inserts "single-row INSERT with units, 1 client, ${PGBENCH_SECONDS}s" \
  "$CLUSTER_DIR/insert_units_bare.sql" "$CLUSTER_DIR/insert_units.sql" 1
compare_copies "COPY of $COPY_ROWS rows"
# its floor: PostgreSQL 15 inserts one row at a time into a table with a
# BEFORE ROW trigger, and routes each to its month (bench/baseline.sql)
compare_copies "(floor) COPY of $COPY_ROWS rows into the bare table partitioned by month, with a built-in C BEFORE ROW trigger that sets one column" \
  bench.usage_part_row_trigger
unpriced=$(psql -X -tA -d postgres -c "SELECT count(*) FROM llm_cost.usage WHERE cost IS NULL")
echo
echo "(unpriced rows after the priced COPY: $unpriced)"
fi

if [ "$SECTION" = floors ]; then
  BUDGETS_FLOORS_ONLY=1 source bench/budgets.sh
fi
if [ "$SECTION" = all ] || [ "$SECTION" = budgets ]; then
  source bench/budgets.sh
fi
if [ "$SECTION" = all ] || [ "$SECTION" = budgets ] || [ "$SECTION" = holds ]; then
  [ "$SECTION" = holds ] && BUDGETS_HELPERS_ONLY=1 source bench/budgets.sh
  source bench/holds.sh
fi
if [ "$SECTION" = all ] || [ "$SECTION" = analytics ]; then
  source bench/analytics.sh
fi
if [ "$SECTION" = all ] || [ "$SECTION" = retention ]; then
  source bench/retention.sh
fi
