# Analytics benchmark, sourced by scripts/bench.sh (uses its cluster and helpers):
# dashboard queries over a generated 90-day ledger at the cardinality of issue
# #17 (5,000 active users a day, 50 tenants, 40 agents, 6 operations, 8
# models), each against the raw GROUP BY over llm_cost.usage that gives the
# same answer, in the same run: before the first refresh (everything is
# backlog), after it, and with a small backlog.

echo
echo "## (d) analytics: $LEDGER_ROWS calls over 90 days, dashboard queries vs a raw GROUP BY (warm, best of 3)"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "DELETE FROM llm_cost.budgets" \
     -v rows="$LEDGER_ROWS" -v end_day=2026-06-01 -f bench/analytics.sql >/dev/null
# the last 30 days, and a window with partial days at both ends
FROM="2026-05-02"; TO="2026-06-01"; PFROM="2026-05-02 12:34+00"; PTO="2026-05-31 23:21+00"
query_pair() { # query_pair LABEL OURS RAW: prints one table row, and checks the answers are equal
  local ours raw same
  ours=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT bench.time_query(\$q\$$2\$q\$, 3)")
  raw=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT bench.time_query(\$q\$$3\$q\$, 3)")
  same=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT (SELECT array_agg(t::text ORDER BY t::text) FROM ($2) t) = (SELECT array_agg(t::text ORDER BY t::text) FROM ($3) t)")
  echo "| $1 | $ours | $raw | $(ratio "$raw" "$ours") | $same |"
}
raw_by() { # raw_by COLUMN FROM TO: cost_by's answer from the ledger
  echo "SELECT $1, sum(cost), count(*), sum(input_tokens), sum(output_tokens) FROM llm_cost.usage WHERE occurred_at >= '$2' AND occurred_at < '$3' GROUP BY 1"
}
# daily_cost_by is new in issue #17: a run of an older build leaves its line out
has_daily_cost_by=$(psql -X -tA -d postgres -c "SELECT to_regproc('llm_cost.daily_cost_by') IS NOT NULL")
summary_pair() { # summary_pair LABEL FROM TO
  query_pair "$1" \
    "SELECT total_cost, calls, failed_calls, avg_latency_ms, p95_latency_ms FROM llm_cost.cost_summary('$2', '$3')" \
    "SELECT coalesce(sum(cost), 0), count(*), count(*) FILTER (WHERE NOT success), round(avg(latency_ms), 2), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM llm_cost.usage WHERE occurred_at >= '$2' AND occurred_at < '$3'"
}
header() {
  echo "| query | ms | raw GROUP BY ms | speed-up | same answer |"
  echo "|---|---:|---:|---:|---|"
}
core_queries() {
  if [ "$has_daily_cost_by" = t ]; then
    query_pair "30-day daily cost by model (daily_cost_by('model'))" \
      "SELECT day, value, cost, calls, input_tokens, output_tokens FROM llm_cost.daily_cost_by('model', '$FROM', '$TO')" \
      "SELECT (occurred_at AT TIME ZONE 'UTC')::date, model, sum(cost), count(*), sum(input_tokens), sum(output_tokens) FROM llm_cost.usage WHERE occurred_at >= '$FROM' AND occurred_at < '$TO' GROUP BY 1, 2"
  fi
  query_pair "30-day daily cost by model (daily_costs view, per user and agent)" \
    "SELECT day, model, sum(cost) FROM llm_cost.daily_costs WHERE day >= '$FROM' AND day < '$TO' GROUP BY 1, 2" \
    "SELECT (occurred_at AT TIME ZONE 'UTC')::date, model, sum(cost) FROM llm_cost.usage WHERE occurred_at >= '$FROM' AND occurred_at < '$TO' GROUP BY 1, 2"
  query_pair "30-day daily_costs rows (per day, model, tenant, project, user and agent)" \
    "SELECT day, provider, model, tenant_id, project_id, user_id, agent_id, calls, failed_calls, input_tokens, output_tokens, cost, unpriced_calls FROM llm_cost.daily_costs WHERE day >= '$FROM' AND day < '$TO'" \
    "SELECT (occurred_at AT TIME ZONE 'UTC')::date, provider, model, tenant_id, project_id, user_id, agent_id, count(*), count(*) FILTER (WHERE NOT success), sum(input_tokens), sum(output_tokens), sum(cost), count(*) - count(cost) FROM llm_cost.usage WHERE occurred_at >= '$FROM' AND occurred_at < '$TO' GROUP BY 1, 2, 3, 4, 5, 6, 7"
  summary_pair "cost_summary over 30 days (with exact p95 latency)" "$FROM" "$TO"
  query_pair "cost_by('user_id') over 30 days" \
    "SELECT value, cost, calls, input_tokens, output_tokens FROM llm_cost.cost_by('user_id', '$FROM', '$TO')" \
    "$(raw_by user_id "$FROM" "$TO")"
}
all_queries() {
  core_queries
  for dim in provider model tenant_id project_id agent_id operation; do
    query_pair "cost_by('$dim') over 30 days" \
      "SELECT value, cost, calls, input_tokens, output_tokens FROM llm_cost.cost_by('$dim', '$FROM', '$TO')" \
      "$(raw_by "$dim" "$FROM" "$TO")"
  done
  for dim in model user_id agent_id; do
    query_pair "cost_by('$dim') over 29.5 days (partial days at both ends)" \
      "SELECT value, cost, calls, input_tokens, output_tokens FROM llm_cost.cost_by('$dim', '$PFROM', '$PTO')" \
      "$(raw_by "$dim" "$PFROM" "$PTO")"
  done
  summary_pair "cost_summary over 29.5 days (partial days at both ends)" "$PFROM" "$PTO"
}

echo
echo "Before any refresh (the whole ledger is backlog: read from the ledger with a plain scan):"
header
core_queries
refresh_ms=$(psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT bench.time_query('SELECT llm_cost.refresh_rollups()', 1)")
psql -q -X -d postgres -c "VACUUM ANALYZE" >/dev/null
# (the ledger's size is its partitions')
sizes=$(psql -X -tA -d postgres -c "SELECT string_agg(format('%s %s rows, %s', c.relname, c.reltuples::bigint,
                                                             pg_size_pretty(coalesce((SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) AS t), pg_total_relation_size(c.oid)))),
                                                      '; ' ORDER BY c.relname)
  FROM pg_class AS c WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relname IN ('usage', 'usage_daily', 'usage_daily_costs', 'usage_rollup')")
echo
echo "After refresh_rollups():"
header
# ANALYTICS_CORE_ONLY=1: the core queries alone (a shorter run, e.g. of an older build for comparison)
if [ -n "${ANALYTICS_CORE_ONLY:-}" ]; then core_queries; else all_queries; fi
echo
echo "(refresh_rollups() over the whole ledger: $refresh_ms ms; $sizes)"
echo
echo "With $TAIL_ROWS new rows not rolled up yet (the tail read from the ledger):"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id, agent_id)
  SELECT '2026-05-31'::timestamptz + g * interval '1 second', 'openai', 'gpt-4o', 1000, 100, 300 + g % 700, 't' || g % 50, 'u' || g % 5000, 'agent' || g % 40
    FROM generate_series(1, $TAIL_ROWS) g; ANALYZE llm_cost.usage" >/dev/null
header
core_queries
