-- retire_usage as 0.2 had it (sql/retention.sql before the partitioned
-- ledger), on a plain copy of the ledger: the baseline of bench/retention.sh.
-- Only the table's name differs.
CREATE FUNCTION bench.retire_usage_by_delete(before timestamptz, batch_rows integer DEFAULT 50000) RETURNS bigint
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
    PERFORM llm_cost.flush_spend();
    mark := llm_cost.rollup_watermark();
    PERFORM pg_catalog.set_config('llm_cost._retiring', 'on', true);
    LOOP
        WITH gone AS (
            DELETE FROM bench.usage_unpartitioned AS u
             WHERE u.id IN (SELECT o.id FROM bench.usage_unpartitioned AS o
                             WHERE o.occurred_at < retire_usage_by_delete.before AND o.id <= mark
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
