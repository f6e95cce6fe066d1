#!/usr/bin/env bash
# Soak: a bounded mixed load from 16 connections on a throwaway loopback
# server (it stops by itself): inserts, pre-call checks, queue claims and
# acks, dashboard reads and rollup refreshes. Then checks: no errors or
# deadlocks, backend memory flat, budget totals equal to the ledger, each
# threshold fired exactly once.
#   scripts/soak.sh [seconds]     (default 180)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
SECONDS_TO_RUN=${1:-180}

bash scripts/setup.sh >/dev/null
echo "building and installing the extension (release)..."
install_extension
start_cluster soak "shared_buffers = '256MB'" "max_connections = 40" "deadlock_timeout = '200ms'" "log_lock_waits = on"
q() { psql -X -q -tA -v ON_ERROR_STOP=1 -d postgres "$@"; }
q -c "CREATE EXTENSION llm_cost" \
  -c "INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('global', 50, 'month', '{10, 25, 50, 75, 100}')" \
  -c "INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds) VALUES ('every user', 0.5, 'day', 'user_id', '{50, 100}')" \
  -c "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit) SELECT 'tenant t' || g, 5, 'day', 't' || g, true FROM generate_series(1, 8) g"

D=$CLUSTER_DIR
cat > "$D/insert.sql" <<'SQL'
\set t random(1, 8)
\set u random(1, 200)
\set i random(200, 4000)
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id, agent_id)
VALUES ('openai', 'gpt-4o-mini', :i, 200, :i / 4, 't' || :t, 'u' || :u, 'agent' || (:u % 5));
SQL
cat > "$D/batch.sql" <<'SQL'
\set t random(1, 8)
BEGIN;
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, tenant_id, user_id)
SELECT 'anthropic', 'claude-sonnet-4-5', 1000 + g, 300, 't' || :t, 'u' || (g * 7 % 200) FROM generate_series(1, 20) g;
COMMIT;
SQL
cat > "$D/check.sql" <<'SQL'
\set t random(1, 8)
SELECT llm_cost.can_spend(0.05, tenant_id => 't' || :t);
SQL
cat > "$D/queue.sql" <<'SQL'
SELECT llm_cost.ack_notification(id) FROM llm_cost.claim_notifications(5, '30 seconds');
SQL
cat > "$D/dashboard.sql" <<'SQL'
SELECT * FROM llm_cost.cost_summary(now() - interval '1 hour', now());
SELECT * FROM llm_cost.cost_by('agent_id', now() - interval '1 hour', now());
SELECT count(*) FROM llm_cost.budget_status;
SQL
cat > "$D/refresh.sql" <<'SQL'
SELECT llm_cost.refresh_rollups();
SQL

backend_rss() { # private (anonymous) memory of the soak's backends, kB: shared buffers are not theirs
  local total=0 pid kb
  for pid in $(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'"); do
    kb=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}
echo "soaking for ${SECONDS_TO_RUN}s with 16 connections..."
pgbench -n -r -c 16 -j 2 -T "$SECONDS_TO_RUN" -P 30 \
  -f "$D/insert.sql@60" -f "$D/batch.sql@5" -f "$D/check.sql@20" -f "$D/queue.sql@5" \
  -f "$D/dashboard.sql@9" -f "$D/refresh.sql@1" postgres > "$D/pgbench.out" 2>&1 &
BENCH=$!
# memory at 1/5, 2/5, 3/5 and 4/5 of the run: growth that levels off is
# caches warming up, growth that keeps its pace would be a leak
rss=()
for _ in 1 2 3 4; do sleep $((SECONDS_TO_RUN / 5)); rss+=("$(backend_rss)"); done
wait $BENCH || { cat "$D/pgbench.out"; echo "pgbench failed" >&2; exit 1; }

grep -E "^(number of transactions actually processed|number of failed transactions|latency average|tps)|^SQL script|^ +[0-9.]+ +[0-9]+ +(INSERT|SELECT|BEGIN|COMMIT)" "$D/pgbench.out"
errors=$(grep -cE "ERROR|deadlock" "$D/server.log" || true)
drift=$(q -c "SELECT count(*) FROM llm_cost.budget_spend_drift")
wrong_alerts=$(q -c "WITH expected AS (
      SELECT s.budget_id, s.period_start, nullif(s.per_value, '') AS per_value, t AS threshold
        FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id, unnest(b.thresholds) AS t
       WHERE s.spent >= b.amount * t / 100),
    fired AS (
      SELECT budget_id, period_start, per_value, threshold, count(*) AS n FROM llm_cost.notifications
       WHERE kind IN ('budget_threshold', 'budget_exceeded') GROUP BY 1, 2, 3, 4)
    SELECT count(*) FROM expected e FULL JOIN fired f
        ON (e.budget_id, e.period_start, e.threshold) = (f.budget_id, f.period_start, f.threshold)
       AND e.per_value IS NOT DISTINCT FROM f.per_value
     WHERE e.budget_id IS NULL OR f.budget_id IS NULL OR f.n <> 1")
rows=$(q -c "SELECT count(*) FROM llm_cost.usage")
alerts=$(q -c "SELECT count(*) FROM llm_cost.notifications")
echo "ledger rows: $rows; alerts queued: $alerts"
echo "server log ERROR/deadlock lines: $errors"
echo "backends' private memory (RssAnon, 16 connections) at 1/5, 2/5, 3/5, 4/5 of the run: ${rss[*]} kB"
echo "budget totals differing from the ledger: $drift; thresholds not fired exactly once: $wrong_alerts"
[ "$errors" -eq 0 ] && [ "$drift" -eq 0 ] && [ "$wrong_alerts" -eq 0 ] || { echo "SOAK FAILED" >&2; tail -20 "$D/server.log"; exit 1; }
echo "soak passed"
