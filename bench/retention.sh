# Retiring a month (issue #17), sourced by scripts/bench.sh (uses its cluster
# and helpers): retire_usage on the partitioned ledger, which drops the
# month's partition, against 0.2's retire_usage (bench/retire_by_delete.sql:
# batched DELETEs) on a plain table holding the same rows, with the same
# DELETE triggers usage had. The month's rows are rolled up first; each side
# moves the same budget spend to retired_spend.
RETIRE_ROWS=3000000; KEPT_ROWS=100000
if [ "$QUICK" = "--quick" ]; then RETIRE_ROWS=300000; KEPT_ROWS=10000; fi

echo
echo "## (e) retiring a month of $RETIRE_ROWS rows: batched DELETE (0.2) vs DROP of its partition"
psql -q -X -v ON_ERROR_STOP=1 -d postgres -f bench/retire_by_delete.sql -c "
  CREATE TABLE bench.usage_unpartitioned (LIKE llm_cost.usage INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
  ALTER TABLE bench.usage_unpartitioned ADD PRIMARY KEY (id);
  CREATE INDEX ON bench.usage_unpartitioned USING brin (occurred_at);
  CREATE INDEX ON bench.usage_unpartitioned (occurred_at) WHERE cost IS NULL;
  CREATE TRIGGER usage_spend_deleted AFTER DELETE ON bench.usage_unpartitioned
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_spend_deleted();
  CREATE TRIGGER usage_rollup_deleted AFTER DELETE ON bench.usage_unpartitioned
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_rollup_changed();
  -- January 2026 (retired) and a bit of February (kept), priced once here
  CREATE TABLE bench.months AS
  SELECT timestamptz '2026-01-01 00:00+00' + (g * (31 * 86400.0 / $RETIRE_ROWS) || ' seconds')::interval AS occurred_at,
         'openai' AS provider, bench.model(g) AS model, 100 + g % 5000 AS input_tokens, 300 + g % 700 AS output_tokens,
         'user' || g % 1000 AS user_id, 'tenant' || g % 8 AS tenant_id
    FROM generate_series(0, $RETIRE_ROWS - 1) AS g
  UNION ALL
  SELECT timestamptz '2026-02-01 00:00+00' + (g || ' seconds')::interval, 'openai', bench.model(g), 1000, 300, 'user1', 'tenant1'
    FROM generate_series(0, $KEPT_ROWS - 1) AS g;" >/dev/null

# retire_round LABEL BUDGETS_SQL: loads both ledgers, times both retirements
retire_round() {
  psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "
    SET client_min_messages = warning;
    TRUNCATE llm_cost.usage; DELETE FROM llm_cost.budgets; DELETE FROM llm_cost.retention_state;
    $2" -c "
    SELECT llm_cost.ensure_usage_partitions('2026-01-01 00:00+00', '2026-02-01 00:00+00');
    INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, user_id, tenant_id)
    SELECT * FROM bench.months;
    SELECT llm_cost.refresh_rollups();
    TRUNCATE bench.usage_unpartitioned;
    INSERT INTO bench.usage_unpartitioned SELECT * FROM llm_cost.usage;" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
  local cutoff="'2026-02-01 00:00+00'" t_delete t_drop n_delete n_drop drift
  t_delete=$(time_sql "SELECT bench.retire_usage_by_delete($cutoff)")
  n_delete=$(psql -X -tA -d postgres -c "SELECT $RETIRE_ROWS + $KEPT_ROWS - count(*) FROM bench.usage_unpartitioned")
  psql -q -X -d postgres -c "DELETE FROM llm_cost.retired_spend" -c "DELETE FROM llm_cost.retention_state" -c "CHECKPOINT" >/dev/null
  t_drop=$(time_sql "SELECT llm_cost.retire_usage($cutoff)")
  n_drop=$(psql -X -tA -d postgres -c "SELECT retired_rows FROM llm_cost.retention_state")
  drift=$(psql -X -tA -d postgres -c "SELECT count(*) FROM llm_cost.budget_spend_drift")
  echo "| $1 | $(printf '%.3f' "$t_delete") | $(printf '%.3f' "$t_drop") | $(ratio "$t_delete" "$t_drop") | $n_delete / $n_drop | $drift |"
}
echo "| budgets | batched DELETE s | DROP partition s | speed-up | rows retired (DELETE / DROP) | drift after |"
echo "|---|---:|---:|---:|---:|---:|"
retire_round "none" ""
retire_round "3 (total, monthly per tenant, daily per user)" "
  INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, timezone)
  VALUES ('company forever', 1000000000, 'total', NULL, NULL, 'UTC'),
         ('tenant1 monthly', 1000000000, 'month', 'tenant1', NULL, 'America/New_York'),
         ('every user daily', 1000000000, 'day', NULL, 'user_id', 'Asia/Tokyo');"
