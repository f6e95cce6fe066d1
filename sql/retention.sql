-- Retention: drop old raw usage rows and keep every figure derived from them.
--
-- retire_usage(before) deletes the ledger rows of whole UTC days before
-- `before`, after rolling them up. The rollups keep them (dashboards, costs
-- and exact percentiles of those days are unchanged, at hour granularity;
-- per user and per agent at day granularity, as those have no hourly rollup),
-- and so does budget_spend; their spend per budget moves to retired_spend,
-- which is dumped, added back on restore, and counted by ledger_spend, so
-- rebuild_budget_spend and budget_spend_drift stay exact.

CREATE TABLE llm_cost.retention_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    retired_before timestamptz NOT NULL,
    retired_rows   bigint NOT NULL DEFAULT 0,
    retired_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE llm_cost.retention_state IS
  'How far retire_usage has gone: usage rows before retired_before are only in the rollups and retired_spend (retired_rows of them so far).';
COMMENT ON COLUMN llm_cost.retention_state.one IS 'Always true: the table has at most one row.';
COMMENT ON COLUMN llm_cost.retention_state.retired_before IS 'Usage rows before this instant (a UTC midnight) have been retired.';
COMMENT ON COLUMN llm_cost.retention_state.retired_rows IS 'Usage rows retired so far.';
COMMENT ON COLUMN llm_cost.retention_state.retired_at IS 'When retire_usage last ran.';
SELECT pg_catalog.pg_extension_config_dump('llm_cost.retention_state', '');

-- A restore (or an INSERT by hand) adds retired spend to the running totals;
-- retire_usage itself inserts spend that budget_spend already holds.
CREATE FUNCTION llm_cost._retired_spend_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT llm_cost._retiring() THEN
        INSERT INTO llm_cost.budget_spend AS s (budget_id, period_start, per_value, spent, calls, tokens)
        SELECT n.budget_id, n.period_start, n.per_value, n.spent, n.calls, n.tokens
          FROM new_rows AS n
          JOIN llm_cost.budgets AS b ON b.id = n.budget_id AND b.period <> 'rolling'
         ORDER BY 1, 2, 3
        ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
           SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, tokens = s.tokens + excluded.tokens,
               updated_at = now();
        -- a rolling budget's: those still in its window (the window's total is made again)
        INSERT INTO llm_cost.window_spend AS s (budget_id, per_value, slot_start, spent, calls, tokens)
        SELECT n.budget_id, n.per_value, n.period_start, n.spent, n.calls, n.tokens
          FROM new_rows AS n
          JOIN llm_cost.budgets AS b ON b.id = n.budget_id AND b.period = 'rolling'
         WHERE n.period_start >= llm_cost.window_start(b."window", now())
         ORDER BY 1, 2, 3
        ON CONFLICT (budget_id, per_value, slot_start) DO UPDATE
           SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, tokens = s.tokens + excluded.tokens;
        DELETE FROM llm_cost.budget_windows AS w WHERE w.budget_id IN (SELECT n.budget_id FROM new_rows AS n);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._retired_spend_inserted() IS
  'Trigger: restored retired spend counts in budget_spend again.';
CREATE TRIGGER retired_spend_inserted AFTER INSERT ON llm_cost.retired_spend
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._retired_spend_inserted();

CREATE FUNCTION llm_cost.retire_usage(before timestamptz, batch_rows integer DEFAULT 50000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint;
    batch bigint;
    total bigint := 0;
BEGIN
    IF before IS NULL OR NOT isfinite(before) OR before <> llm_cost._utc_midnight(llm_cost._utc_day(before)) THEN
        RAISE EXCEPTION 'llm_cost.retire_usage: before must be a UTC midnight (got %)', coalesce(before::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Whole UTC days only, so every dashboard window stays exact: e.g. date_trunc(''day'', now() - interval ''400 days'', ''UTC'').';
    END IF;
    IF batch_rows IS NULL OR batch_rows < 1 THEN
        RAISE EXCEPTION 'llm_cost.retire_usage: batch_rows must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Everything that exists now goes into the rollups first; the refresh
    -- also holds rollup_state until we commit, so no other refresh or
    -- correction interleaves.
    PERFORM llm_cost.refresh_rollups();
    PERFORM FROM llm_cost.rollup_state FOR UPDATE;  -- also when the refresh had nothing to do
    PERFORM llm_cost.flush_spend();
    mark := llm_cost.rollup_watermark();
    PERFORM pg_catalog.set_config('llm_cost._retiring', 'on', true);
    LOOP
        WITH gone AS (
            DELETE FROM llm_cost.usage AS u
             WHERE u.id IN (SELECT o.id FROM llm_cost.usage AS o
                             WHERE o.occurred_at < retire_usage.before AND o.id <= mark
                             ORDER BY o.id LIMIT batch_rows)
            RETURNING u.*
        ), spend AS (
            SELECT d.*
              FROM (SELECT array_agg(occurred_at) AS occurred_at, array_agg(coalesce(cost, 0)) AS delta,
                           array_agg(1) AS calls, array_agg(input_tokens + output_tokens) AS tokens,
                           array_agg('llm'::text) AS source, array_agg(tenant_id) AS tenant_id,
                           array_agg(project_id) AS project_id, array_agg(user_id) AS user_id,
                           array_agg(agent_id) AS agent_id, array_agg(session_id) AS session_id,
                           array_agg(execution_id) AS execution_id, array_agg(operation) AS operation,
                           array_agg(provider) AS provider, array_agg(model) AS model, array_agg(tags) AS tags
                      FROM gone) AS g,
                   LATERAL llm_cost._spend_deltas(g.occurred_at, g.delta, g.calls, g.tokens, g.source, g.tenant_id,
                                                  g.project_id, g.user_id, g.agent_id, g.session_id,
                                                  g.execution_id, g.operation, g.provider, g.model, g.tags) AS d
        ), kept AS (
            INSERT INTO llm_cost.retired_spend AS r (budget_id, period_start, per_value, spent, calls, tokens)
            SELECT s.budget_id, s.period_start, s.per_value, s.spend, s.call_count, s.token_count
              FROM spend AS s
             ORDER BY 1, 2, 3
            ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
               SET spent = r.spent + excluded.spent, calls = r.calls + excluded.calls, tokens = r.tokens + excluded.tokens
        )
        SELECT count(*) INTO batch FROM gone;
        total := total + batch;
        EXIT WHEN batch < batch_rows;
    END LOOP;
    PERFORM pg_catalog.set_config('llm_cost._retiring', '', true);
    INSERT INTO llm_cost.retention_state AS s (retired_before, retired_rows)
    VALUES (before, total)
    ON CONFLICT (one) DO UPDATE
       SET retired_before = greatest(s.retired_before, excluded.retired_before),
           retired_rows = s.retired_rows + excluded.retired_rows, retired_at = now();
    RETURN total;
END $$;
COMMENT ON FUNCTION llm_cost.retire_usage(timestamptz, integer) IS
  'Deletes the usage rows of the UTC days before `before` (a UTC midnight) in batches, after rolling them up; dashboards, budget spend, rebuilds and drift checks keep counting them (rollups and retired_spend). Returns the rows deleted. Rows of those days not yet rolled up when it starts stay. Budgets created or re-scoped later do not see the retired rows.';
