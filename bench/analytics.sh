# Analytics benchmark, sourced by scripts/bench.sh (uses its cluster and helpers):
# dashboard queries over a generated 90-day ledger, each against the raw
# GROUP BY over llm_cost.usage that gives the same answer, in the same run.

echo
echo "## (d) analytics: $LEDGER_ROWS calls over 90 days, dashboard queries vs a raw GROUP BY (warm, best of 5)"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "DELETE FROM llm_cost.budgets" \
     -v rows="$LEDGER_ROWS" -v end_day=2026-06-01 -f bench/analytics.sql >/dev/null
refresh_ms=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT bench.time_query('SELECT llm_cost.refresh_rollups()', 1)")
rollup_rows=$(psql -X -tA -d postgres -c "SELECT (SELECT count(*) FROM llm_cost.usage_daily) || ' daily and ' || (SELECT count(*) FROM llm_cost.usage_hourly) || ' hourly'")
# the last 30 days, and a window with partial days at both ends
FROM="2026-05-02"; TO="2026-06-01"
query_pair() { # query_pair LABEL OURS RAW: prints one table row, and checks the answers are equal
  local ours raw same
  ours=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT bench.time_query(\$q\$$2\$q\$, 5)")
  raw=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT bench.time_query(\$q\$$3\$q\$, 5)")
  same=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT (SELECT array_agg(t::text ORDER BY t::text) FROM ($2) t) = (SELECT array_agg(t::text ORDER BY t::text) FROM ($3) t)")
  echo "| $1 | $ours | $raw | $(ratio "$raw" "$ours") | $same |"
}
run_queries() {
  query_pair "30-day daily cost by model (daily_costs)" \
    "SELECT day, model, sum(cost) FROM llm_cost.daily_costs WHERE day >= '$FROM' AND day < '$TO' GROUP BY 1, 2" \
    "SELECT (occurred_at AT TIME ZONE 'UTC')::date, model, sum(coalesce(cost, 0)) FROM llm_cost.usage WHERE occurred_at >= '$FROM' AND occurred_at < '$TO' GROUP BY 1, 2"
  query_pair "cost_by('agent_id') over 30 days" \
    "SELECT value, cost, calls FROM llm_cost.cost_by('agent_id', '$FROM', '$TO')" \
    "SELECT agent_id, sum(coalesce(cost, 0)), count(*) FROM llm_cost.usage WHERE occurred_at >= '$FROM' AND occurred_at < '$TO' GROUP BY 1"
  query_pair "cost_summary over 30 days (with exact p95 latency)" \
    "SELECT total_cost, calls, failed_calls, avg_latency_ms, p95_latency_ms FROM llm_cost.cost_summary('$FROM', '$TO')" \
    "SELECT coalesce(sum(cost), 0), count(*), count(*) FILTER (WHERE NOT success), round(avg(latency_ms), 2), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM llm_cost.usage WHERE occurred_at >= '$FROM' AND occurred_at < '$TO'"
  query_pair "cost_by('agent_id') over 29.5 days (partial days at both ends)" \
    "SELECT value, cost, calls FROM llm_cost.cost_by('agent_id', '$FROM 12:34+00', '2026-05-31 23:21+00')" \
    "SELECT agent_id, sum(coalesce(cost, 0)), count(*) FROM llm_cost.usage WHERE occurred_at >= '$FROM 12:34+00' AND occurred_at < '2026-05-31 23:21+00' GROUP BY 1"
  query_pair "cost_summary over 29.5 days (partial days at both ends)" \
    "SELECT total_cost, calls, p95_latency_ms FROM llm_cost.cost_summary('$FROM 12:34+00', '2026-05-31 23:21+00')" \
    "SELECT coalesce(sum(cost), 0), count(*), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM llm_cost.usage WHERE occurred_at >= '$FROM 12:34+00' AND occurred_at < '2026-05-31 23:21+00'"
}
echo "| query | ms | raw GROUP BY ms | speed-up | same answer |"
echo "|---|---:|---:|---:|---|"
run_queries
echo
echo "(refresh_rollups() over the whole ledger: $refresh_ms ms, $rollup_rows rollup rows)"
echo
echo "With $TAIL_ROWS new rows not rolled up yet (the tail read from the ledger):"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, user_id, agent_id)
  SELECT '2026-05-31'::timestamptz + g * interval '1 second', 'openai', 'gpt-4o', 1000, 100, 300 + g % 700, 'u' || g % 500, 'agent' || g % 20
    FROM generate_series(1, $TAIL_ROWS) g; ANALYZE llm_cost.usage" >/dev/null
echo "| query | ms | raw GROUP BY ms | speed-up | same answer |"
echo "|---|---:|---:|---:|---|"
run_queries
