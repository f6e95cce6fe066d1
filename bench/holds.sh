# Budgets that hold (0.3), sourced by scripts/bench.sh after bench/budgets.sh
# (uses its cluster, helpers and budgets_reset). Each line is a ratio against a
# baseline measured in the same run: the runs alternate within every round and
# each side keeps its best, as compare_inserts does.

# alternate CLIENTS SETUP SCRIPT [SETUP SCRIPT...]: ROUNDS rounds, each running
# every (budgets setup, pgbench script) pair in turn on fresh ledgers; sets
# BEST[i] to pair i's best tps (pairs counted from 0).
alternate() {
  local clients=$1; shift
  local pairs=("$@") n=$(( $# / 2 )) i r
  BEST=()
  for i in $(seq 0 $(( n - 1 ))); do BEST[i]=0; done
  for _ in $(seq "$ROUNDS"); do
    for i in $(seq 0 $(( n - 1 ))); do
      budgets_reset "${pairs[2 * i]}"
      r=$(pgbench_tps "${pairs[2 * i + 1]}" "$clients")
      if [ "$r" -gt "${BEST[i]}" ]; then BEST[i]=$r; fi
    done
  done
}
row() { echo "| $1 | $2 | $3 | $(ratio "$3" "$2") |"; }

echo
echo "## (c3) budgets that hold (0.3): reservations, rolling windows"

# 1. reserve() and then the insert that settles it, each its own autocommit
# transaction as an app makes them, vs the same insert alone; the same two
# hard-limit budgets (one shared, one per user), far from their amounts.
cat > "$CLUSTER_DIR/h_plain.sql" <<'SQL'
\set u random(1, 1000)
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id) VALUES ('openai', 'gpt-4o', 1000, 300, 'u' || :u);
SQL
cat > "$CLUSTER_DIR/h_reserve.sql" <<'SQL'
\set u random(1, 1000)
SELECT llm_cost.reserve(0.01, user_id => 'u' || :u) \gset
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id, reservation_id) VALUES ('openai', 'gpt-4o', 1000, 300, 'u' || :u, :reserve);
SQL
HARD="INSERT INTO llm_cost.budgets (name, amount, period, hard_limit) VALUES ('global', 1000000000, 'month', true);
      INSERT INTO llm_cost.budgets (name, amount, period, per, hard_limit) VALUES ('every user', 1000000, 'month', 'user_id', true)"
echo "| workload (2 hard-limit budgets: one shared, one per user) | insert alone calls/s | reserve + settling insert calls/s | ratio |"
echo "|---|---:|---:|---:|"
for clients in 1 8; do
  alternate "$clients" "$HARD" "$CLUSTER_DIR/h_plain.sql" "$HARD" "$CLUSTER_DIR/h_reserve.sql"
  row "$clients client(s), ${PGBENCH_SECONDS}s" "${BEST[0]}" "${BEST[1]}"
done
# every reserve() returned an id and every insert settled it (none refused, none left)
counts=$(psql -X -tA -d postgres -c "SELECT (SELECT count(*) FROM llm_cost.usage WHERE reservation_id IS NULL) || ' rows without a reservation, '
  || (SELECT count(*) FROM llm_cost.reservations) || ' reservations left, '
  || (SELECT count(*) FROM llm_cost.budget_holds) || ' holds left, '
  || (SELECT count(*) FROM llm_cost.budget_spend_drift) || ' totals differing from the ledger'")
echo
echo "(after the last reserve run: $counts)"

# 2. One matching rolling budget vs one matching calendar (monthly) budget,
# the same inserts (8 tenants, 1000 users; bench/budgets.sh's p_rows).
MONTH="INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('month', 1000000, 'month')"
DAY="INSERT INTO llm_cost.budgets (name, amount, period, \"window\") VALUES ('24 hours', 1000000, 'rolling', '24 hours')"
MINUTE="INSERT INTO llm_cost.budgets (name, amount, period, \"window\") VALUES ('1 minute', 1000000, 'rolling', '1 minute')"
echo
echo "| workload (one matching budget) | monthly rows/s | rolling rows/s | ratio |"
echo "|---|---:|---:|---:|"
for clients in 1 8; do
  alternate "$clients" "$MONTH" "$CLUSTER_DIR/p_rows.sql" "$DAY" "$CLUSTER_DIR/p_rows.sql" \
            "$MINUTE" "$CLUSTER_DIR/p_rows.sql"
  row "rolling 24 hours (24 s slots) vs monthly, $clients client(s)" "${BEST[0]}" "${BEST[1]}"
  row "rolling 1 minute (1 s slots) vs monthly, $clients client(s)" "${BEST[0]}" "${BEST[2]}"
done
drift=$(psql -X -tA -d postgres -c "SELECT count(*) FROM llm_cost.budget_spend_drift")
echo
echo "(after the last rolling run: $drift totals differing from the ledger)"

# 3. 10,000 per-user rolling budgets vs 1 rolling budget: rows of random users
# among 10,000. Steady state, as bench/budgets.sh's 100k line: every user's
# window already has spend (one earlier call each), so a row adds to a live
# window; the single budget's window has the same calls.
cat > "$CLUSTER_DIR/h_10k.sql" <<'SQL'
\set u random(1, 10000)
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id) VALUES ('openai', 'gpt-4o', 1000, 300, 'u' || :u);
SQL
WARM="INSERT INTO llm_cost.usage (provider, model, cost, user_id) SELECT 'x', 'y', 0.001, 'u' || g FROM generate_series(1, 10000) g"
ONE="INSERT INTO llm_cost.budgets (name, amount, period, \"window\") VALUES ('all users', 1000000, 'rolling', '24 hours'); $WARM"
MANY="INSERT INTO llm_cost.budgets (name, amount, period, \"window\", user_id)
      SELECT 'user ' || g, 100, 'rolling', '24 hours', 'u' || g FROM generate_series(1, 10000) g; $WARM"
PER="INSERT INTO llm_cost.budgets (name, amount, period, \"window\", per) VALUES ('every user', 100, 'rolling', '24 hours', 'user_id'); $WARM"
alternate 1 "$ONE" "$CLUSTER_DIR/h_10k.sql" "$MANY" "$CLUSTER_DIR/h_10k.sql" "$PER" "$CLUSTER_DIR/h_10k.sql"
echo
echo "| workload (rolling 24 hours, 1 client, users random among 10,000) | 1 budget rows/s | rows/s | ratio |"
echo "|---|---:|---:|---:|"
row "10,000 rolling budgets, one per user (user_id = 'u1'...) vs 1 budget" "${BEST[0]}" "${BEST[1]}"
row "one rolling per = 'user_id' budget, 10,000 users vs 1 budget" "${BEST[0]}" "${BEST[2]}"
