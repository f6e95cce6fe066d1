-- Analytics: daily and hourly rollups that keep dashboards fast on a large
-- ledger, and the dashboard surface over them. Every answer is exact: it
-- equals a GROUP BY over llm_cost.usage.
--
-- How the rollups stay exact without slowing ingest:
--   * The rollups hold the sums of every usage row with id <=
--     rollup_state.watermark, each shaped for the questions asked of it, so
--     its size grows with the answers, not with the product of dimensions:
--     usage_rollup per UTC day (and hour) per tenant and ONE dimension at a
--     time (cost_summary, cost_by, daily_cost_by); usage_daily per UTC day and
--     every dimension at once (usage_facts, per user, agent and operation);
--     usage_daily_costs per UTC day at daily_costs' grain (the view is per
--     user and agent by contract); usage_daily_latency and
--     usage_hourly_latency the latency histograms per tenant.
--   * Rows above the watermark (the "tail": recent rows, late rows with an old
--     occurred_at, anything not yet rolled up) are read from usage itself.
--   * refresh_rollups() moves the tail into the rollups. It reads the id
--     sequence and waits for the transactions writing usage at that moment:
--     every id up to that value is then final. It blocks no writer. The maintenance worker (sql/maintenance.sql) runs it
--     every few seconds, so the tail stays small without pg_cron.
--     (The id sequence must keep CACHE 1, its default: with a per-backend
--     cache, ids would not be drawn in order.)
--   * DELETE and UPDATE (reprice, corrections) of rolled-up rows adjust the
--     rollups by exact deltas in the same transaction; TRUNCATE empties them.
-- INSERT is untouched: no trigger is added to the hot path.
-- (Rows inserted with an explicit id at or below the watermark would be missed:
-- let ids come from the sequence.)

---------------------------------------------------------------------------
-- Rollup tables
---------------------------------------------------------------------------

CREATE TABLE llm_cost.rollup_state (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    watermark    bigint NOT NULL DEFAULT 0,
    refreshed_at timestamptz
);
COMMENT ON TABLE llm_cost.rollup_state IS
  'The rollups hold every usage row with id <= watermark; rows above it are read from llm_cost.usage. Its one row appears at the first refresh (so pg_dump carries it and a restore does not collide with a default row).';
COMMENT ON COLUMN llm_cost.rollup_state.one IS 'Always true: the table has at most one row.';
COMMENT ON COLUMN llm_cost.rollup_state.watermark IS 'Highest usage.id in the rollups.';
COMMENT ON COLUMN llm_cost.rollup_state.refreshed_at IS 'When refresh_rollups last moved the watermark.';

CREATE TABLE llm_cost.usage_daily (
    day                 date NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    tenant_id           text,
    project_id          text,
    user_id             text,
    agent_id            text,
    operation           text,
    calls               bigint NOT NULL,
    failed_calls        bigint NOT NULL,
    unpriced_calls      bigint NOT NULL,
    input_tokens        numeric NOT NULL,
    output_tokens       numeric NOT NULL,
    cached_input_tokens numeric NOT NULL,
    reasoning_tokens    numeric NOT NULL,
    cost                numeric NOT NULL,
    latency_ms_sum      numeric NOT NULL,
    latency_calls       bigint NOT NULL,
    CONSTRAINT usage_daily_key UNIQUE NULLS NOT DISTINCT
        (day, provider, model, tenant_id, project_id, user_id, agent_id, operation)
);
COMMENT ON TABLE llm_cost.usage_daily IS
  'Rolled-up usage per UTC day and provider, model, tenant, project, user, agent and operation (rows up to rollup_state.watermark). Read it through daily_costs, cost_summary and cost_by, which add the rows not yet rolled up.';

-- Per tenant too: row-level security hands each tenant its own histograms.
CREATE TABLE llm_cost.usage_daily_latency (
    day       date NOT NULL,
    tenant_id text,
    histogram bigint[] NOT NULL,
    CONSTRAINT usage_daily_latency_key UNIQUE NULLS NOT DISTINCT (day, tenant_id)
);
-- Histograms run to thousands of pairs; uncompressed they are read faster.
ALTER TABLE llm_cost.usage_daily_latency ALTER COLUMN histogram SET STORAGE EXTERNAL;
COMMENT ON TABLE llm_cost.usage_daily_latency IS
  'Exact latency histograms (see llm_cost.latency_histogram) per UTC day and tenant, for rolled-up rows.';
COMMENT ON COLUMN llm_cost.usage_daily_latency.day IS 'The UTC day.';
COMMENT ON COLUMN llm_cost.usage_daily_latency.tenant_id IS 'Tenant.';
COMMENT ON COLUMN llm_cost.usage_daily_latency.histogram IS 'Exact latency histogram of the calls (read with histogram_percentile, histogram_mean).';

ALTER TABLE llm_cost.usage_daily ADD COLUMN units jsonb;
COMMENT ON COLUMN llm_cost.usage_daily.units IS 'Sum of the calls'' units per unit name (token subsets and counted units; qualifiers dropped); NULL when none.';
COMMENT ON COLUMN llm_cost.usage_daily.day IS 'The UTC day.';
COMMENT ON COLUMN llm_cost.usage_daily.provider IS 'Provider as logged.';
COMMENT ON COLUMN llm_cost.usage_daily.model IS 'Model as logged.';
COMMENT ON COLUMN llm_cost.usage_daily.tenant_id IS 'Tenant.';
COMMENT ON COLUMN llm_cost.usage_daily.project_id IS 'Project.';
COMMENT ON COLUMN llm_cost.usage_daily.user_id IS 'User.';
COMMENT ON COLUMN llm_cost.usage_daily.agent_id IS 'Agent.';
COMMENT ON COLUMN llm_cost.usage_daily.operation IS 'Operation.';
COMMENT ON COLUMN llm_cost.usage_daily.calls IS 'Calls.';
COMMENT ON COLUMN llm_cost.usage_daily.failed_calls IS 'Calls with success false.';
COMMENT ON COLUMN llm_cost.usage_daily.unpriced_calls IS 'Calls without a cost.';
COMMENT ON COLUMN llm_cost.usage_daily.input_tokens IS 'Sum of input_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily.output_tokens IS 'Sum of output_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily.cached_input_tokens IS 'Sum of cached_input_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily.reasoning_tokens IS 'Sum of reasoning_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily.cost IS 'Sum of the priced calls'' cost (0 when none is priced: see unpriced_calls).';
COMMENT ON COLUMN llm_cost.usage_daily.latency_ms_sum IS 'Sum of latency_ms over the calls that have one.';
COMMENT ON COLUMN llm_cost.usage_daily.latency_calls IS 'Calls with a latency_ms.';

-- The same sums at daily_costs' own grain (usage_daily without operation).
-- The view hands these rows out as they are, for every day the rows not
-- rolled up yet do not touch; regrouping usage_daily's rows by the view's
-- seven keys first cost 4x as much as reading them (BENCHMARKS.md).
CREATE TABLE llm_cost.usage_daily_costs (
    day                 date NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    tenant_id           text,
    project_id          text,
    user_id             text,
    agent_id            text,
    calls               bigint NOT NULL,
    failed_calls        bigint NOT NULL,
    unpriced_calls      bigint NOT NULL,
    input_tokens        numeric NOT NULL,
    output_tokens       numeric NOT NULL,
    cached_input_tokens numeric NOT NULL,
    reasoning_tokens    numeric NOT NULL,
    cost                numeric NOT NULL,
    units               jsonb,
    CONSTRAINT usage_daily_costs_key UNIQUE NULLS NOT DISTINCT
        (day, provider, model, tenant_id, project_id, user_id, agent_id)
);
COMMENT ON TABLE llm_cost.usage_daily_costs IS
  'Rolled-up usage per UTC day and provider, model, tenant, project, user and agent, the grain of daily_costs (rows up to rollup_state.watermark). Read it through daily_costs, which adds the rows not rolled up yet.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.day IS 'The UTC day.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.provider IS 'Provider as logged.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.model IS 'Model as logged.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.tenant_id IS 'Tenant.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.project_id IS 'Project.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.user_id IS 'User.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.agent_id IS 'Agent.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.calls IS 'Calls.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.failed_calls IS 'Calls with success false.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.unpriced_calls IS 'Calls without a cost.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.input_tokens IS 'Sum of input_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.output_tokens IS 'Sum of output_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.cached_input_tokens IS 'Sum of cached_input_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.reasoning_tokens IS 'Sum of reasoning_tokens.';
COMMENT ON COLUMN llm_cost.usage_daily_costs.cost IS 'Sum of the priced calls'' cost (0 when none is priced: see unpriced_calls).';
COMMENT ON COLUMN llm_cost.usage_daily_costs.units IS 'Sum of the calls'' units per unit name; NULL when none.';

-- One dimension at a time (grouping sets of the ledger): per bucket and
-- tenant (row-level security hands each tenant its rows), the sums per value
-- of one dimension. 'tenant_id' rows are the tenant's totals. Per UTC day for
-- every dimension, and per aligned block of 2, 4, ..., 32 days, so 30 days of
-- 5,000 users read about 6 rows per user, not 30; per UTC hour (for a
-- window's partial days) only for the dimensions with few values, so the
-- hourly rows stay few. A window's partial days of user_id and agent_id are
-- read from the ledger.
CREATE TABLE llm_cost.usage_rollup (
    dimension      text NOT NULL,
    grain          text NOT NULL CHECK (grain IN ('hour', 'day', '2 days', '4 days', '8 days', '16 days', '32 days')),
    bucket         timestamptz NOT NULL,
    tenant_id      text,
    provider       text,
    value          text,
    calls          bigint NOT NULL,
    failed_calls   bigint NOT NULL,
    unpriced_calls bigint NOT NULL,
    input_tokens   numeric NOT NULL,
    output_tokens  numeric NOT NULL,
    cost           numeric NOT NULL,
    latency_ms_sum numeric NOT NULL,
    latency_calls  bigint NOT NULL,
    CONSTRAINT usage_rollup_key UNIQUE NULLS NOT DISTINCT (dimension, grain, bucket, tenant_id, provider, value)
);
COMMENT ON TABLE llm_cost.usage_rollup IS
  'Rolled-up usage (rows up to rollup_state.watermark) per dimension, UTC day or hour and tenant: the sums per value of one dimension. Read it through cost_summary, cost_by and daily_cost_by, which add the rows not rolled up yet.';
COMMENT ON COLUMN llm_cost.usage_rollup.dimension IS 'The dimension the row sums by: tenant_id (the tenant''s totals), model (with provider), project_id, operation (day and hour), agent_id, user_id (day only).';
COMMENT ON COLUMN llm_cost.usage_rollup.grain IS 'hour, day, or a block of 2, 4, 8, 16 or 32 UTC days (aligned on 1970-01-01), so a long window reads a few blocks per value instead of one row per day.';
COMMENT ON COLUMN llm_cost.usage_rollup.bucket IS 'Start of the UTC hour, day or block of days.';
COMMENT ON COLUMN llm_cost.usage_rollup.tenant_id IS 'Tenant.';
COMMENT ON COLUMN llm_cost.usage_rollup.provider IS 'Provider as logged, for dimension model; NULL otherwise.';
COMMENT ON COLUMN llm_cost.usage_rollup.value IS 'The dimension''s value (NULL: calls without one).';
COMMENT ON COLUMN llm_cost.usage_rollup.calls IS 'Calls.';
COMMENT ON COLUMN llm_cost.usage_rollup.failed_calls IS 'Calls with success false.';
COMMENT ON COLUMN llm_cost.usage_rollup.unpriced_calls IS 'Calls without a cost.';
COMMENT ON COLUMN llm_cost.usage_rollup.input_tokens IS 'Sum of input_tokens.';
COMMENT ON COLUMN llm_cost.usage_rollup.output_tokens IS 'Sum of output_tokens.';
COMMENT ON COLUMN llm_cost.usage_rollup.cost IS 'Sum of the priced calls'' cost (0 when none is priced: see unpriced_calls).';
COMMENT ON COLUMN llm_cost.usage_rollup.latency_ms_sum IS 'Sum of latency_ms over the calls that have one.';
COMMENT ON COLUMN llm_cost.usage_rollup.latency_calls IS 'Calls with a latency_ms.';

-- Dimensions with few values per tenant also have hourly rows.
CREATE FUNCTION llm_cost._hourly_dimension(dim text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT dim IN ('tenant_id', 'model', 'project_id', 'operation') $$;
COMMENT ON FUNCTION llm_cost._hourly_dimension(text) IS 'Internal: whether usage_rollup has hourly rows for a dimension.';

-- Blocks of days: each day's sums are also in the block of 2, 4, 8, 16 and
-- 32 days (aligned on 1970-01-01) that holds it.
CREATE FUNCTION llm_cost._day_spans() RETURNS TABLE (days integer, grain text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s, s || ' days' FROM unnest('{2,4,8,16,32}'::integer[]) AS s
$$;
COMMENT ON FUNCTION llm_cost._day_spans() IS 'Internal: the blocks of days usage_rollup keeps besides single days (days, grain).';

CREATE FUNCTION llm_cost._span_start(bucket timestamptz, days integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT llm_cost._utc_midnight(llm_cost._utc_day(bucket)
                                  - ((llm_cost._utc_day(bucket) - date '1970-01-01') % days + days) % days)
$$;
COMMENT ON FUNCTION llm_cost._span_start(timestamptz, integer) IS 'Internal: the start of the block of days (aligned on 1970-01-01) holding a day.';

-- The days [first_day, end_day) as few aligned blocks: from the left, the
-- largest block (up to max_days) that starts there and fits. Returns the
-- starts of the blocks of `days` days. Immutable: with a constant window
-- the planner computes it once, and the index scans read just those buckets.
CREATE FUNCTION llm_cost._day_cover(first_day date, end_day date, days integer, max_days integer)
RETURNS timestamptz[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    d date := first_day;
    s integer;
    starts timestamptz[] := '{}';
BEGIN
    WHILE d < end_day LOOP
        s := max_days;
        WHILE s > 1 AND ((d - date '1970-01-01') % s <> 0 OR d + s > end_day) LOOP
            s := s / 2;
        END LOOP;
        IF s = days THEN
            starts := starts || llm_cost._utc_midnight(d);
        END IF;
        d := d + s;
    END LOOP;
    RETURN starts;
END $$;
COMMENT ON FUNCTION llm_cost._day_cover(date, date, integer, integer) IS 'Internal: the starts of the blocks of `days` days in the cover of [first_day, end_day) by aligned blocks of at most max_days days.';

CREATE TABLE llm_cost.usage_hourly_latency (
    hour      timestamptz NOT NULL,
    tenant_id text,
    histogram bigint[] NOT NULL,
    CONSTRAINT usage_hourly_latency_key UNIQUE NULLS NOT DISTINCT (hour, tenant_id)
);
ALTER TABLE llm_cost.usage_hourly_latency ALTER COLUMN histogram SET STORAGE EXTERNAL;
COMMENT ON TABLE llm_cost.usage_hourly_latency IS 'Exact latency histograms per UTC hour and tenant, for rolled-up rows.';
COMMENT ON COLUMN llm_cost.usage_hourly_latency.hour IS 'Start of the UTC hour.';
COMMENT ON COLUMN llm_cost.usage_hourly_latency.tenant_id IS 'Tenant.';
COMMENT ON COLUMN llm_cost.usage_hourly_latency.histogram IS 'Exact latency histogram of the calls (read with histogram_percentile, histogram_mean).';

-- The aggregates used below (units_sum, latency_histogram,
-- latency_histogram_merge) are declared beside their Rust functions in
-- src/analytics/units_sum.rs and latency_histogram.rs (extension_sql! blocks
-- that CREATE EXTENSION runs before this file).

---------------------------------------------------------------------------
-- Refresh and corrections
---------------------------------------------------------------------------

-- Both refresh_rollups() and the correction trigger add usage rows to the
-- rollups, each row with a sign (1 adds it, -1 takes it out). These build
-- their statements around a query of the rows, `changed`: columns sign, then
-- those of llm_cost.usage; $1 and $2 are the statement's parameters. grain is
-- 'day' (usage_daily, usage_rollup, usage_daily_latency) or 'hour' (usage_rollup,
-- usage_hourly_latency).
CREATE FUNCTION llm_cost._rollup_bucket_sql(grain text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE grain WHEN 'day' THEN $$(c.occurred_at AT TIME ZONE 'UTC')::date$$
                      WHEN 'hour' THEN $$llm_cost._utc_hour(c.occurred_at)$$ END
$fn$;
COMMENT ON FUNCTION llm_cost._rollup_bucket_sql(text) IS 'Internal: the expression putting a usage row c in its rollup bucket.';

CREATE FUNCTION llm_cost._rollup_sums_sql(changed text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT format($sql$
    WITH changed AS (%1$s), deltas AS (
        SELECT %2$s AS bucket, c.provider, c.model, c.tenant_id, c.project_id,
               c.user_id, c.agent_id, c.operation,
               sum(c.sign) AS calls, sum(c.sign) FILTER (WHERE NOT c.success) AS failed_calls,
               sum(c.sign) FILTER (WHERE c.cost IS NULL) AS unpriced_calls,
               sum(c.sign * c.input_tokens) AS input_tokens, sum(c.sign * c.output_tokens) AS output_tokens,
               sum(c.sign * c.cached_input_tokens) AS cached_input_tokens,
               sum(c.sign * c.reasoning_tokens) AS reasoning_tokens,
               sum(c.sign * c.cost) AS cost, sum(c.sign * c.latency_ms) AS latency_ms_sum,
               sum(c.sign) FILTER (WHERE c.latency_ms IS NOT NULL) AS latency_calls,
               llm_cost.units_sum(c.units, c.sign::integer) AS units
          FROM changed AS c
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    )
    INSERT INTO llm_cost.%3$I AS d (%4$I, provider, model, tenant_id, project_id, user_id, agent_id, operation,
                                    calls, failed_calls, unpriced_calls, input_tokens, output_tokens,
                                    cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_calls, units)
    SELECT bucket, provider, model, tenant_id, project_id, user_id, agent_id, operation,
           calls, coalesce(failed_calls, 0), coalesce(unpriced_calls, 0), input_tokens, output_tokens,
           cached_input_tokens, reasoning_tokens, coalesce(cost, 0), coalesce(latency_ms_sum, 0),
           coalesce(latency_calls, 0), units
      FROM deltas
     ORDER BY 1, 2, 3, 4, 5, 6, 7, 8          -- one lock order for concurrent corrections
    ON CONFLICT ON CONSTRAINT %5$I DO UPDATE
       SET calls = d.calls + excluded.calls,
           failed_calls = d.failed_calls + excluded.failed_calls,
           unpriced_calls = d.unpriced_calls + excluded.unpriced_calls,
           input_tokens = d.input_tokens + excluded.input_tokens,
           output_tokens = d.output_tokens + excluded.output_tokens,
           cached_input_tokens = d.cached_input_tokens + excluded.cached_input_tokens,
           reasoning_tokens = d.reasoning_tokens + excluded.reasoning_tokens,
           cost = d.cost + excluded.cost,
           latency_ms_sum = d.latency_ms_sum + excluded.latency_ms_sum,
           latency_calls = d.latency_calls + excluded.latency_calls,
           units = llm_cost._units_merge(d.units, excluded.units)
    $sql$, changed, llm_cost._rollup_bucket_sql('day'), 'usage_daily', 'day', 'usage_daily_key')
$fn$;
COMMENT ON FUNCTION llm_cost._rollup_sums_sql(text) IS 'Internal: the statement adding signed usage rows to usage_daily.';

-- The same rows into usage_daily_costs (no operation, no latency).
CREATE FUNCTION llm_cost._rollup_costs_sql(changed text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT format($sql$
    WITH changed AS (%1$s)
    INSERT INTO llm_cost.usage_daily_costs AS d (day, provider, model, tenant_id, project_id, user_id, agent_id,
                                                 calls, failed_calls, unpriced_calls, input_tokens, output_tokens,
                                                 cached_input_tokens, reasoning_tokens, cost, units)
    SELECT %2$s, c.provider, c.model, c.tenant_id, c.project_id, c.user_id, c.agent_id,
           sum(c.sign), coalesce(sum(c.sign) FILTER (WHERE NOT c.success), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.cost IS NULL), 0),
           sum(c.sign * c.input_tokens), sum(c.sign * c.output_tokens), sum(c.sign * c.cached_input_tokens),
           sum(c.sign * c.reasoning_tokens), coalesce(sum(c.sign * c.cost), 0),
           llm_cost.units_sum(c.units, c.sign::integer)
      FROM changed AS c
     GROUP BY 1, 2, 3, 4, 5, 6, 7
     ORDER BY 1, 2, 3, 4, 5, 6, 7              -- one lock order for concurrent corrections
    ON CONFLICT ON CONSTRAINT usage_daily_costs_key DO UPDATE
       SET (calls, failed_calls, unpriced_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens,
            cost, units)
         = (d.calls + excluded.calls, d.failed_calls + excluded.failed_calls,
            d.unpriced_calls + excluded.unpriced_calls, d.input_tokens + excluded.input_tokens,
            d.output_tokens + excluded.output_tokens, d.cached_input_tokens + excluded.cached_input_tokens,
            d.reasoning_tokens + excluded.reasoning_tokens, d.cost + excluded.cost,
            llm_cost._units_merge(d.units, excluded.units))
    $sql$, changed, llm_cost._rollup_bucket_sql('day'))
$fn$;
COMMENT ON FUNCTION llm_cost._rollup_costs_sql(text) IS 'Internal: the statement adding signed usage rows to usage_daily_costs.';

-- The same rows into usage_rollup: grouping sets, one per dimension, in one
-- pass over the changed rows. Hourly rows only for _hourly_dimension's.
CREATE FUNCTION llm_cost._rollup_dims_sql(changed text, grain text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT format($sql$
    WITH changed AS (%1$s), deltas AS (
        SELECT CASE WHEN GROUPING(c.model) = 0 THEN 'model' WHEN GROUPING(c.project_id) = 0 THEN 'project_id'
                    WHEN GROUPING(c.operation) = 0 THEN 'operation' %5$s ELSE 'tenant_id' END AS dimension,
               c.bucket, c.tenant_id,
               CASE WHEN GROUPING(c.model) = 0 THEN c.provider END AS provider,
               CASE WHEN GROUPING(c.model) = 0 THEN c.model WHEN GROUPING(c.project_id) = 0 THEN c.project_id
                    WHEN GROUPING(c.operation) = 0 THEN c.operation %6$s ELSE c.tenant_id END AS value,
               sum(c.sign)::bigint AS calls, coalesce(sum(c.sign) FILTER (WHERE NOT c.success), 0)::bigint AS failed_calls,
               coalesce(sum(c.sign) FILTER (WHERE c.cost IS NULL), 0)::bigint AS unpriced_calls,
               sum(c.sign * c.input_tokens) AS input_tokens, sum(c.sign * c.output_tokens) AS output_tokens,
               coalesce(sum(c.sign * c.cost), 0) AS cost, coalesce(sum(c.sign * c.latency_ms), 0) AS latency_ms_sum,
               coalesce(sum(c.sign) FILTER (WHERE c.latency_ms IS NOT NULL), 0)::bigint AS latency_calls
          FROM (SELECT %2$s AS bucket, c.* FROM changed AS c) AS c
         GROUP BY c.bucket, c.tenant_id,
                  GROUPING SETS ((c.provider, c.model), (c.project_id), (c.operation), %3$s ())
    )
    INSERT INTO llm_cost.usage_rollup AS r (dimension, grain, bucket, tenant_id, provider, value, calls, failed_calls,
                                            unpriced_calls, input_tokens, output_tokens, cost, latency_ms_sum,
                                            latency_calls)
    SELECT dimension, grain, bucket, tenant_id, provider, value, calls, failed_calls, unpriced_calls, input_tokens,
           output_tokens, cost, latency_ms_sum, latency_calls
      FROM (SELECT %4$L AS grain, d.* FROM deltas AS d
            %7$s) AS s
     ORDER BY 1, 2, 3, 4, 5, 6                 -- one lock order for concurrent corrections
    ON CONFLICT ON CONSTRAINT usage_rollup_key DO UPDATE
       SET calls = r.calls + excluded.calls,
           failed_calls = r.failed_calls + excluded.failed_calls,
           unpriced_calls = r.unpriced_calls + excluded.unpriced_calls,
           input_tokens = r.input_tokens + excluded.input_tokens,
           output_tokens = r.output_tokens + excluded.output_tokens,
           cost = r.cost + excluded.cost,
           latency_ms_sum = r.latency_ms_sum + excluded.latency_ms_sum,
           latency_calls = r.latency_calls + excluded.latency_calls
    $sql$, changed, format('date_trunc(%L, c.occurred_at, ''UTC'')', grain),
           CASE grain WHEN 'day' THEN '(c.agent_id), (c.user_id),' ELSE '' END, grain,
           -- agent_id and user_id only per day
           CASE grain WHEN 'day' THEN $$WHEN GROUPING(c.agent_id) = 0 THEN 'agent_id' WHEN GROUPING(c.user_id) = 0 THEN 'user_id'$$ ELSE '' END,
           CASE grain WHEN 'day' THEN 'WHEN GROUPING(c.agent_id) = 0 THEN c.agent_id WHEN GROUPING(c.user_id) = 0 THEN c.user_id' ELSE '' END,
           -- the days' deltas into their blocks of days too
           CASE grain WHEN 'day' THEN $$
            UNION ALL
            SELECT b.grain, d.dimension, llm_cost._span_start(d.bucket, b.days), d.tenant_id, d.provider, d.value,
                   sum(d.calls)::bigint, sum(d.failed_calls)::bigint, sum(d.unpriced_calls)::bigint,
                   sum(d.input_tokens), sum(d.output_tokens), sum(d.cost), sum(d.latency_ms_sum),
                   sum(d.latency_calls)::bigint
              FROM deltas AS d, llm_cost._day_spans() AS b
             GROUP BY 1, 2, 3, 4, 5, 6$$ ELSE '' END)
$fn$;
COMMENT ON FUNCTION llm_cost._rollup_dims_sql(text, text) IS 'Internal: the statement adding signed usage rows to usage_rollup, per dimension, at grain day (and its blocks of days) or hour.';

CREATE FUNCTION llm_cost._rollup_latency_sql(changed text, grain text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT format($sql$
    WITH changed AS (%1$s), deltas AS (
        SELECT %2$s AS bucket, c.tenant_id,
               llm_cost.latency_histogram(c.latency_ms) FILTER (WHERE c.sign = 1) AS added,
               llm_cost.latency_histogram(c.latency_ms) FILTER (WHERE c.sign = -1) AS removed
          FROM changed AS c
         WHERE c.latency_ms IS NOT NULL
         GROUP BY 1, 2
    )
    INSERT INTO llm_cost.%3$I AS l (%4$I, tenant_id, histogram)
    SELECT bucket, tenant_id, llm_cost.latency_histogram_add(added, removed, -1)  -- may hold negative counts
      FROM deltas
     ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT %5$I DO UPDATE
       SET histogram = llm_cost.latency_histogram_add(l.histogram, excluded.histogram, 1)
    $sql$, changed, llm_cost._rollup_bucket_sql(grain),
           CASE grain WHEN 'day' THEN 'usage_daily_latency' WHEN 'hour' THEN 'usage_hourly_latency' END, grain,
           CASE grain WHEN 'day' THEN 'usage_daily_latency_key' WHEN 'hour' THEN 'usage_hourly_latency_key' END)
$fn$;
COMMENT ON FUNCTION llm_cost._rollup_latency_sql(text, text) IS 'Internal: the statement adding signed usage rows'' latencies to usage_daily_latency or usage_hourly_latency.';

-- Every rollup's statement for the rows of `changed`, in the order every
-- caller runs them (one lock order): refresh, the corrections and retiring on
-- Citus all keep every rollup through this one list.
CREATE FUNCTION llm_cost._rollup_statements(changed text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[llm_cost._rollup_sums_sql(changed), llm_cost._rollup_costs_sql(changed),
                 llm_cost._rollup_dims_sql(changed, 'day'), llm_cost._rollup_latency_sql(changed, 'day'),
                 llm_cost._rollup_dims_sql(changed, 'hour'), llm_cost._rollup_latency_sql(changed, 'hour')]
$$;
COMMENT ON FUNCTION llm_cost._rollup_statements(text) IS 'Internal: the statements adding signed usage rows to every rollup, in order.';

-- Every id up to the sequence's value is final once the transactions that
-- were writing usage when we read it have ended: a row's id is drawn while
-- its transaction holds its lock on usage. So refresh reads the sequence,
-- notes those transactions and waits for them to end, without taking a lock
-- that would hold new writers (or autovacuum) off.
CREATE FUNCTION llm_cost._wait_for_usage_writers() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    writers text[];
BEGIN
    -- usage before its partitions (pg_partition_tree locks them), in the
    -- order every query and TRUNCATE locks them
    LOCK TABLE llm_cost.usage IN ACCESS SHARE MODE;
    SELECT array_agg(l.virtualtransaction) INTO writers
      FROM pg_catalog.pg_locks AS l
     WHERE l.locktype = 'relation' AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
       -- usage, or one of its partitions written directly (a restore's COPY)
       AND l.relation IN (SELECT t.relid FROM pg_catalog.pg_partition_tree('llm_cost.usage') AS t)
       AND l.mode = 'RowExclusiveLock' AND l.granted
       AND l.pid <> pg_backend_pid();
    -- each transaction holds the lock on its own virtual xid until it ends
    WHILE EXISTS (SELECT FROM pg_catalog.pg_locks AS v WHERE v.locktype = 'virtualxid' AND v.virtualxid = ANY (writers)) LOOP
        PERFORM pg_sleep(0.005);
    END LOOP;
END $$;
COMMENT ON FUNCTION llm_cost._wait_for_usage_writers() IS
  'Internal: waits until every transaction that is writing llm_cost.usage now has ended.';

CREATE FUNCTION llm_cost.refresh_rollups(max_ids bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    seen_mark bigint;
    old_mark bigint;
    new_mark bigint;
    statement text;
BEGIN
    IF max_ids IS NOT NULL AND max_ids < 1 THEN
        RAISE EXCEPTION 'llm_cost.refresh_rollups: max_ids must be positive (got %)', max_ids
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the last id drawn; nothing new: return without a lock or a write (the
    -- maintenance worker asks every few seconds; a restore is not disturbed)
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END INTO new_mark FROM llm_cost.usage_id_seq AS s;
    seen_mark := llm_cost.rollup_watermark();
    IF new_mark <= seen_mark THEN
        RETURN 0;
    END IF;
    -- wait for the transactions that may hold lower ids, before locking
    -- rollup_state: one of them correcting rolled-up rows needs it (FOR SHARE)
    PERFORM llm_cost._wait_for_usage_writers();
    -- one refresh at a time (the worker and a pg_cron job alike: the second
    -- finds the watermark moved and rolls up what is left, if anything);
    -- corrections of rolled-up rows wait for it
    INSERT INTO llm_cost.rollup_state DEFAULT VALUES ON CONFLICT DO NOTHING;
    SELECT watermark INTO old_mark FROM llm_cost.rollup_state FOR UPDATE;
    -- a TRUNCATE ... RESTART IDENTITY since we read the sequence: its ids
    -- start again and ours are stale; the next refresh starts afresh
    IF old_mark < seen_mark OR (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END
                                  FROM llm_cost.usage_id_seq AS s) < new_mark THEN
        RETURN 0;
    END IF;
    new_mark := least(new_mark, old_mark + coalesce(max_ids, new_mark));
    IF new_mark <= old_mark THEN
        RETURN 0;
    END IF;
    FOREACH statement IN ARRAY llm_cost._rollup_statements(
            'SELECT 1 AS sign, u.* FROM llm_cost.usage AS u WHERE u.id > $1 AND u.id <= $2') LOOP
        EXECUTE statement USING old_mark, new_mark;
    END LOOP;
    UPDATE llm_cost.rollup_state SET watermark = new_mark, refreshed_at = now();
    RETURN new_mark - old_mark;
END $$;
COMMENT ON FUNCTION llm_cost.refresh_rollups(bigint) IS
  'Rolls usage rows not yet rolled up (at most max_ids ids of them, all by default) into the daily and hourly rollups; returns how many ids it advanced. Waits for the transactions writing usage when it starts, but blocks no writer. The maintenance worker runs it every llm_cost.refresh_interval; calling it too (by hand, from pg_cron) is safe: refreshes take turns and the second rolls up only what is left. CALL llm_cost.refresh_rollups_in_batches() for a large backlog. Answers are exact whether or not it has run; it only makes them faster.';

-- A large backlog (a first refresh over a big ledger) in batches, each in its
-- own transaction, so writers wait for one batch at a time.
CREATE PROCEDURE llm_cost.refresh_rollups_in_batches(batch_ids bigint DEFAULT 100000)
LANGUAGE plpgsql AS $$
BEGIN
    IF batch_ids IS NULL OR batch_ids < 1 THEN
        RAISE EXCEPTION 'llm_cost.refresh_rollups_in_batches: batch_ids must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    LOOP
        EXIT WHEN llm_cost.refresh_rollups(batch_ids) = 0;
        COMMIT;
    END LOOP;
END $$;
COMMENT ON PROCEDURE llm_cost.refresh_rollups_in_batches(bigint) IS
  'Runs refresh_rollups(batch_ids) until nothing is left, committing after each batch (call it outside a transaction block).';

-- Exact corrections for rolled-up rows that are deleted or updated. Rows
-- above the watermark need nothing: they are read from usage directly.
CREATE FUNCTION llm_cost._usage_rollup_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint;
    statement text;
    -- a DELETE trigger has no new_rows: the statements are built for TG_OP
    changed text := 'SELECT -1 AS sign, o.* FROM old_rows AS o WHERE o.id <= $2'
                    || CASE WHEN TG_OP = 'UPDATE' THEN ' UNION ALL SELECT 1, n.* FROM new_rows AS n WHERE n.id <= $2' ELSE '' END;
BEGIN
    IF TG_OP = 'DELETE' AND llm_cost._retiring() THEN
        RETURN NULL;                    -- retire_usage: the rows stay in the rollups
    END IF;
    -- FOR SHARE: a refresh in progress (it holds the row) finishes first.
    SELECT watermark INTO mark FROM llm_cost.rollup_state FOR SHARE;
    IF mark IS NULL THEN
        RETURN NULL;                    -- nothing rolled up yet
    END IF;
    -- (run here, not in a function of their own: the transition tables are
    -- visible only to this function's statements)
    FOREACH statement IN ARRAY llm_cost._rollup_statements(changed) LOOP
        EXECUTE statement USING 0::bigint, mark;
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._usage_rollup_changed() IS
  'Trigger: takes deleted and updated rolled-up usage rows out of the rollups and puts their new versions in.';

-- DELETE has only an old transition table and UPDATE both; one function
-- serves the two, choosing its set of changed rows by TG_OP.
CREATE TRIGGER usage_rollup_deleted AFTER DELETE ON llm_cost.usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_rollup_changed();
CREATE TRIGGER usage_rollup_updated AFTER UPDATE ON llm_cost.usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_rollup_changed();

CREATE FUNCTION llm_cost._usage_rollup_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM llm_cost.usage_daily;
    DELETE FROM llm_cost.usage_daily_costs;
    DELETE FROM llm_cost.usage_daily_latency;
    DELETE FROM llm_cost.usage_rollup;
    DELETE FROM llm_cost.usage_hourly_latency;
    -- ids after a TRUNCATE ... RESTART IDENTITY start again from 1
    UPDATE llm_cost.rollup_state SET watermark = 0, refreshed_at = now();
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._usage_rollup_truncated() IS 'Trigger: a truncated ledger has empty rollups.';
CREATE TRIGGER usage_rollup_truncated AFTER TRUNCATE ON llm_cost.usage
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_rollup_truncated();

---------------------------------------------------------------------------
-- Reading rollups plus the tail
---------------------------------------------------------------------------

CREATE FUNCTION llm_cost.rollup_watermark() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce((SELECT watermark FROM llm_cost.rollup_state), 0) $$;
COMMENT ON FUNCTION llm_cost.rollup_watermark() IS 'The highest usage id the rollups hold.';

-- Written as a bounded range of two function calls on purpose: the planner
-- estimates "id BETWEEN f() AND g()" at 0.5% of the table and uses the primary
-- key, where "id > f()" alone would be guessed at a third and scanned in full.
CREATE FUNCTION llm_cost._max_id() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 9223372036854775807::bigint $$;
COMMENT ON FUNCTION llm_cost._max_id() IS 'Internal: the largest bigint (upper end of the not-yet-rolled-up id range).';

-- The UTC day containing ts, and the first UTC day starting at or after ts.
CREATE FUNCTION llm_cost._utc_day(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (ts AT TIME ZONE 'UTC')::date $$;
-- The ceilings below mention ts once and use only immutable operators
-- (timestamp, not timestamptz, arithmetic), so the planner inlines the whole
-- window split into builtins: a constant window folds to constants, and a
-- window like now() - interval '1 hour' costs a few builtin calls per row
-- instead of SQL function calls (measured: the last hour's cost_summary over
-- 127,000 rows 600 ms -> 142 ms).
CREATE FUNCTION llm_cost._utc_day_ceil(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((ts AT TIME ZONE 'UTC') - interval '1 microsecond')::date + 1
$$;
CREATE FUNCTION llm_cost._utc_midnight(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT d::timestamp AT TIME ZONE 'UTC' $$;
COMMENT ON FUNCTION llm_cost._utc_day(timestamptz) IS 'Internal: the UTC day containing ts.';
COMMENT ON FUNCTION llm_cost._utc_day_ceil(timestamptz) IS 'Internal: the first UTC day starting at or after ts.';
COMMENT ON FUNCTION llm_cost._utc_midnight(date) IS 'Internal: the instant a UTC day starts.';

CREATE FUNCTION llm_cost._utc_hour(ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;
CREATE FUNCTION llm_cost._utc_hour_ceil(ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (date_trunc('hour', (ts AT TIME ZONE 'UTC') - interval '1 microsecond') + interval '1 hour') AT TIME ZONE 'UTC'
$$;
-- Checks a [from_time, to_time) window given to a public function: both
-- given, finite, in order. True, or an error naming the caller.
CREATE FUNCTION llm_cost._valid_window(from_time timestamptz, to_time timestamptz, caller text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF from_time IS NULL OR to_time IS NULL OR NOT isfinite(from_time) OR NOT isfinite(to_time) OR from_time > to_time THEN
        RAISE EXCEPTION 'llm_cost.%: the window must be two finite times, from_time <= to_time (got [%, %))',
            caller, coalesce(from_time::text, 'NULL'), coalesce(to_time::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION llm_cost._valid_window(timestamptz, timestamptz, text) IS 'Internal: rejects a missing, infinite or reversed window.';
COMMENT ON FUNCTION llm_cost._utc_hour(timestamptz) IS 'Internal: the start of the UTC hour containing ts.';
COMMENT ON FUNCTION llm_cost._utc_hour_ceil(timestamptz) IS 'Internal: the first UTC hour starting at or after ts.';

-- A window [from, to) splits into parts, each read from the cheapest source:
--   [from, hours_start)          the leading partial hour: the ledger
--   [hours_start, days_start)    whole hours before the first whole day: hourly rollups
--   [days_start, days_end)       whole UTC days: daily rollups
--   [days_end, hours_end)        whole hours after the last whole day: hourly rollups
--   [hours_end, to)              the trailing partial hour: the ledger
-- plus, for [hours_start, hours_end), the rows not rolled up yet (the ledger).
-- What has only daily rollups (usage_daily; usage_rollup's agent_id and
-- user_id) reads [from, days_start) and [days_end, to) from the ledger.
-- Empty parts have equal ends. Each part is a plain range, so the BRIN index
-- on occurred_at reads only its own pages.
CREATE FUNCTION llm_cost._hours_start(from_time timestamptz, to_time timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT least(to_time, llm_cost._utc_hour_ceil(from_time)) $$;
CREATE FUNCTION llm_cost._hours_end(from_time timestamptz, to_time timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(llm_cost._hours_start(from_time, to_time), llm_cost._utc_hour(to_time))
$$;
CREATE FUNCTION llm_cost._days_start(from_time timestamptz, to_time timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(llm_cost._hours_end(from_time, to_time),
                 llm_cost._utc_midnight(llm_cost._utc_day_ceil(llm_cost._hours_start(from_time, to_time))))
$$;
CREATE FUNCTION llm_cost._days_end(from_time timestamptz, to_time timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(llm_cost._days_start(from_time, to_time),
                    llm_cost._utc_midnight(llm_cost._utc_day(llm_cost._hours_end(from_time, to_time))))
$$;
COMMENT ON FUNCTION llm_cost._hours_start(timestamptz, timestamptz) IS 'Internal: where the whole UTC hours of a window start.';
COMMENT ON FUNCTION llm_cost._hours_end(timestamptz, timestamptz) IS 'Internal: where the whole UTC hours of a window end.';
COMMENT ON FUNCTION llm_cost._days_start(timestamptz, timestamptz) IS 'Internal: where the whole UTC days of a window start.';
COMMENT ON FUNCTION llm_cost._days_end(timestamptz, timestamptz) IS 'Internal: where the whole UTC days of a window end.';

-- The ledger rows of a window [from_time, to_time) that no rollup covers,
-- given where its whole buckets start and end (_hours_start/_hours_end for
-- what hourly rollups cover, _days_start/_days_end for what only daily ones
-- do): the partial buckets at both ends, and the whole buckets' rows not
-- rolled up yet. Inlined into its callers, so with a constant window each
-- part folds to a plain range (an empty part to false).
CREATE FUNCTION llm_cost._unrolled_usage(from_time timestamptz, to_time timestamptz,
                                         whole_start timestamptz, whole_end timestamptz)
RETURNS SETOF llm_cost.usage
LANGUAGE sql STABLE AS $$
    SELECT * FROM llm_cost.usage AS e          -- leading partial bucket
     WHERE e.occurred_at >= from_time AND e.occurred_at < whole_start
       AND from_time < whole_start             -- folds to false when empty
    UNION ALL
    SELECT * FROM llm_cost.usage AS e          -- trailing partial bucket
     WHERE e.occurred_at >= whole_end AND e.occurred_at < to_time
       AND whole_end < to_time
    UNION ALL
    SELECT * FROM llm_cost.usage AS t          -- whole buckets' rows not rolled up yet
     WHERE t.id BETWEEN llm_cost.rollup_watermark() + 1 AND llm_cost._max_id()
       AND t.occurred_at >= whole_start AND t.occurred_at < whole_end
$$;
COMMENT ON FUNCTION llm_cost._unrolled_usage(timestamptz, timestamptz, timestamptz, timestamptz) IS
  'Internal: the usage rows of [from_time, to_time) that no rollup holds, given where its whole buckets (hours or days) start and end: partial buckets, rows not rolled up yet.';

-- Whether a dashboard reads its window from the ledger alone, with a plain
-- scan, instead of rollups plus the rows not rolled up yet: _read_ledger, in
-- retention.sql (it reads retention_state, made there).

-- Usage in [from_time, to_time) summed by one dimension (a usage_rollup
-- dimension): rollup rows for whole days (in blocks of up to max_days days;
-- day is then the block's first), and hours where kept, ledger rows for the
-- rest. Inlined into its caller: dim is a constant there and the branches
-- that do not apply fold away.
CREATE FUNCTION llm_cost._dimension_facts(dim text, from_time timestamptz, to_time timestamptz, max_days integer)
RETURNS TABLE (day date, tenant_id text, provider text, value text, calls bigint, failed_calls bigint,
               unpriced_calls bigint, input_tokens numeric, output_tokens numeric, cost numeric,
               latency_ms_sum numeric, latency_calls bigint)
LANGUAGE sql STABLE AS $$
    SELECT llm_cost._utc_day(r.bucket), r.tenant_id, r.provider, r.value, r.calls, r.failed_calls, r.unpriced_calls,
           r.input_tokens, r.output_tokens, r.cost, r.latency_ms_sum, r.latency_calls
      FROM llm_cost.usage_rollup AS r
     WHERE r.dimension = dim
       AND ((r.grain = 'day' AND r.bucket = ANY (llm_cost._day_cover(llm_cost._utc_day(llm_cost._days_start(from_time, to_time)),
                                                                       llm_cost._utc_day(llm_cost._days_end(from_time, to_time)), 1, max_days)))
         OR (r.grain = '2 days' AND r.bucket = ANY (llm_cost._day_cover(llm_cost._utc_day(llm_cost._days_start(from_time, to_time)),
                                                                       llm_cost._utc_day(llm_cost._days_end(from_time, to_time)), 2, max_days)))
         OR (r.grain = '4 days' AND r.bucket = ANY (llm_cost._day_cover(llm_cost._utc_day(llm_cost._days_start(from_time, to_time)),
                                                                       llm_cost._utc_day(llm_cost._days_end(from_time, to_time)), 4, max_days)))
         OR (r.grain = '8 days' AND r.bucket = ANY (llm_cost._day_cover(llm_cost._utc_day(llm_cost._days_start(from_time, to_time)),
                                                                       llm_cost._utc_day(llm_cost._days_end(from_time, to_time)), 8, max_days)))
         OR (r.grain = '16 days' AND r.bucket = ANY (llm_cost._day_cover(llm_cost._utc_day(llm_cost._days_start(from_time, to_time)),
                                                                       llm_cost._utc_day(llm_cost._days_end(from_time, to_time)), 16, max_days)))
         OR (r.grain = '32 days' AND r.bucket = ANY (llm_cost._day_cover(llm_cost._utc_day(llm_cost._days_start(from_time, to_time)),
                                                                       llm_cost._utc_day(llm_cost._days_end(from_time, to_time)), 32, max_days))))
    UNION ALL
    SELECT llm_cost._utc_day(r.bucket), r.tenant_id, r.provider, r.value, r.calls, r.failed_calls, r.unpriced_calls,
           r.input_tokens, r.output_tokens, r.cost, r.latency_ms_sum, r.latency_calls
      FROM llm_cost.usage_rollup AS r
     WHERE r.dimension = dim AND r.grain = 'hour' AND llm_cost._hourly_dimension(dim)
       AND ((r.bucket >= llm_cost._hours_start(from_time, to_time) AND r.bucket < llm_cost._days_start(from_time, to_time))
         OR (r.bucket >= llm_cost._days_end(from_time, to_time) AND r.bucket < llm_cost._hours_end(from_time, to_time)))
    UNION ALL
    -- ledger rows one by one: the caller's aggregation sums them
    SELECT llm_cost._utc_day(u.occurred_at), u.tenant_id, CASE WHEN dim = 'model' THEN u.provider END,
           CASE dim WHEN 'model' THEN u.model WHEN 'project_id' THEN u.project_id WHEN 'operation' THEN u.operation
                    WHEN 'agent_id' THEN u.agent_id WHEN 'user_id' THEN u.user_id ELSE u.tenant_id END,
           1, CASE WHEN u.success THEN 0 ELSE 1 END, CASE WHEN u.cost IS NULL THEN 1 ELSE 0 END,
           u.input_tokens, u.output_tokens, coalesce(u.cost, 0), coalesce(u.latency_ms, 0),
           CASE WHEN u.latency_ms IS NULL THEN 0 ELSE 1 END
      FROM llm_cost._unrolled_usage(from_time, to_time, llm_cost._hours_start(from_time, to_time),
                                    llm_cost._hours_end(from_time, to_time)) AS u
     WHERE llm_cost._hourly_dimension(dim)
    UNION ALL
    SELECT llm_cost._utc_day(u.occurred_at), u.tenant_id, CASE WHEN dim = 'model' THEN u.provider END,
           CASE dim WHEN 'model' THEN u.model WHEN 'project_id' THEN u.project_id WHEN 'operation' THEN u.operation
                    WHEN 'agent_id' THEN u.agent_id WHEN 'user_id' THEN u.user_id ELSE u.tenant_id END,
           1, CASE WHEN u.success THEN 0 ELSE 1 END, CASE WHEN u.cost IS NULL THEN 1 ELSE 0 END,
           u.input_tokens, u.output_tokens, coalesce(u.cost, 0), coalesce(u.latency_ms, 0),
           CASE WHEN u.latency_ms IS NULL THEN 0 ELSE 1 END
      FROM llm_cost._unrolled_usage(from_time, to_time, llm_cost._days_start(from_time, to_time),
                                    llm_cost._days_end(from_time, to_time)) AS u
     WHERE NOT llm_cost._hourly_dimension(dim)
$$;
COMMENT ON FUNCTION llm_cost._dimension_facts(text, timestamptz, timestamptz, integer) IS
  'Internal: usage in [from_time, to_time) as rows to sum per value of one usage_rollup dimension (tenant_id, model, project_id, operation, agent_id, user_id): rollup rows (whole days in blocks of up to max_days days: 1 for per-day answers) plus ledger rows. Exact.';

-- Usage in [from_time, to_time) as rows to sum at full grain: usage_daily
-- rows for whole days, ledger rows for the rest.
CREATE FUNCTION llm_cost.usage_facts(from_time timestamptz, to_time timestamptz)
RETURNS TABLE (day date, provider text, model text, tenant_id text, project_id text, user_id text,
               agent_id text, operation text, calls bigint, failed_calls bigint, unpriced_calls bigint,
               input_tokens numeric, output_tokens numeric, cached_input_tokens numeric,
               reasoning_tokens numeric, cost numeric, latency_ms_sum numeric, latency_calls bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.day, d.provider, d.model, d.tenant_id, d.project_id, d.user_id, d.agent_id, d.operation,
           d.calls, d.failed_calls, d.unpriced_calls, d.input_tokens, d.output_tokens,
           d.cached_input_tokens, d.reasoning_tokens, d.cost, d.latency_ms_sum, d.latency_calls
      FROM llm_cost.usage_daily AS d
     WHERE d.day >= llm_cost._utc_day(llm_cost._days_start(from_time, to_time))
       AND d.day < llm_cost._utc_day(llm_cost._days_end(from_time, to_time))
    UNION ALL
    -- ledger rows one by one: the caller's own aggregation sums them, which is
    -- cheaper than grouping them to rollup grain first
    SELECT llm_cost._utc_day(u.occurred_at), u.provider, u.model, u.tenant_id, u.project_id, u.user_id,
           u.agent_id, u.operation, 1, CASE WHEN u.success THEN 0 ELSE 1 END,
           CASE WHEN u.cost IS NULL THEN 1 ELSE 0 END, u.input_tokens, u.output_tokens,
           u.cached_input_tokens, u.reasoning_tokens, coalesce(u.cost, 0),
           coalesce(u.latency_ms, 0), CASE WHEN u.latency_ms IS NULL THEN 0 ELSE 1 END
      FROM llm_cost._unrolled_usage(from_time, to_time, llm_cost._days_start(from_time, to_time),
                                    llm_cost._days_end(from_time, to_time)) AS u
$$;
COMMENT ON FUNCTION llm_cost.usage_facts(timestamptz, timestamptz) IS
  'Usage in [from_time, to_time) as rows to sum: usage_daily rows (per UTC day, provider, model, tenant, project, user, agent and operation) for whole days, plus ledger rows (one per call) for partial days and rows not rolled up yet. cost: the priced calls'' (unpriced_calls counts the others). Sums over it are exact; what forecasts, anomalies and the report read.';

-- Latency histogram of the calls in [from_time, to_time), by the same split
-- as the hourly dimensions. A set-returning function (of one row) so the
-- planner inlines it and sees the window's bounds; a scalar SQL function
-- would run with a generic plan.
CREATE FUNCTION llm_cost.latency_histogram_between(from_time timestamptz, to_time timestamptz)
RETURNS TABLE (histogram bigint[])
LANGUAGE sql STABLE AS $$
    SELECT llm_cost.latency_histogram_merge(h)
      FROM (SELECT l.histogram AS h
              FROM llm_cost.usage_daily_latency AS l
             WHERE l.day >= llm_cost._utc_day(llm_cost._days_start(from_time, to_time))
               AND l.day < llm_cost._utc_day(llm_cost._days_end(from_time, to_time))
            UNION ALL
            SELECT l.histogram
              FROM llm_cost.usage_hourly_latency AS l
             WHERE (l.hour >= llm_cost._hours_start(from_time, to_time) AND l.hour < llm_cost._days_start(from_time, to_time))
                OR (l.hour >= llm_cost._days_end(from_time, to_time) AND l.hour < llm_cost._hours_end(from_time, to_time))
            UNION ALL
            SELECT llm_cost.latency_histogram(u.latency_ms)
              FROM llm_cost._unrolled_usage(from_time, to_time, llm_cost._hours_start(from_time, to_time),
                                            llm_cost._hours_end(from_time, to_time)) AS u) AS parts
$$;
COMMENT ON FUNCTION llm_cost.latency_histogram_between(timestamptz, timestamptz) IS
  'Exact latency histogram of the calls in [from_time, to_time), from the rollups and the ledger.';

---------------------------------------------------------------------------
-- Dashboard surface
---------------------------------------------------------------------------

-- The UTC days that have rows not rolled up yet (usually today's, or none).
-- daily_costs regroups only those days: every other day's rows come from
-- usage_daily_costs as they are, already one per key.
CREATE FUNCTION llm_cost._unrolled_days() RETURNS date[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(t.day), '{}')
      FROM (SELECT DISTINCT llm_cost._utc_day(u.occurred_at) AS day
              FROM llm_cost.usage AS u
             WHERE u.id BETWEEN llm_cost.rollup_watermark() + 1 AND llm_cost._max_id()) AS t
$$;
COMMENT ON FUNCTION llm_cost._unrolled_days() IS 'Internal: the UTC days that have usage rows not rolled up yet.';

-- (The "(SELECT llm_cost._unrolled_days())" below run once per query, as
-- init plans; their casts keep "<> ALL (...)" an array comparison.)
CREATE VIEW llm_cost.daily_costs WITH (security_invoker = true) AS
SELECT llm_cost._utc_midnight(d.day) AS "time", d.day, d.provider, d.model, d.tenant_id, d.project_id,
       d.user_id, d.agent_id, d.calls, d.failed_calls, d.input_tokens, d.output_tokens, d.cached_input_tokens,
       d.reasoning_tokens,
       CASE WHEN d.unpriced_calls < d.calls THEN d.cost END AS cost,  -- NULL: nothing priced
       d.units, d.unpriced_calls
  FROM llm_cost.usage_daily_costs AS d
 WHERE d.day <> ALL (CAST((SELECT llm_cost._unrolled_days()) AS date[]))
   AND d.calls > 0                      -- (every row of its key deleted)
UNION ALL
-- the days with rows not rolled up yet: their rolled-up rows and those rows, regrouped
SELECT llm_cost._utc_midnight(f.day), f.day, f.provider, f.model, f.tenant_id, f.project_id, f.user_id, f.agent_id,
       sum(f.calls)::bigint, sum(f.failed_calls)::bigint, sum(f.input_tokens), sum(f.output_tokens),
       sum(f.cached_input_tokens), sum(f.reasoning_tokens),
       CASE WHEN sum(f.unpriced_calls) < sum(f.calls) THEN sum(f.cost) END,
       llm_cost.units_sum(f.units), sum(f.unpriced_calls)::bigint
  FROM (SELECT d.day, d.provider, d.model, d.tenant_id, d.project_id, d.user_id, d.agent_id, d.calls,
               d.failed_calls, d.unpriced_calls, d.input_tokens, d.output_tokens, d.cached_input_tokens,
               d.reasoning_tokens, d.cost, d.units
          FROM llm_cost.usage_daily_costs AS d
         WHERE d.day = ANY (CAST((SELECT llm_cost._unrolled_days()) AS date[]))
        UNION ALL
        -- (Leave these integer and bigint columns as they are: typed like
        -- usage_daily_costs', the UNION ALL is flattened, and the planner,
        -- which guesses a tenth of the rows as groups where every user's day
        -- is one, picks a hash aggregation that spills, in parallel when
        -- allowed: measured twice as slow at PostgreSQL's default settings.)
        SELECT llm_cost._utc_day(u.occurred_at), u.provider, u.model, u.tenant_id, u.project_id, u.user_id,
               u.agent_id, 1, CASE WHEN u.success THEN 0 ELSE 1 END, CASE WHEN u.cost IS NULL THEN 1 ELSE 0 END,
               u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens, coalesce(u.cost, 0),
               u.units
          FROM llm_cost.usage AS u
         WHERE u.id BETWEEN llm_cost.rollup_watermark() + 1 AND llm_cost._max_id()) AS f
 GROUP BY f.day, f.provider, f.model, f.tenant_id, f.project_id, f.user_id, f.agent_id
HAVING sum(f.calls) > 0;
COMMENT ON VIEW llm_cost.daily_costs IS
  'Cost per UTC day (time: its midnight, for Grafana) and provider, model, tenant, project, user and agent: calls, failed_calls, tokens, cost (NULL when no call is priced), unpriced_calls, and units (the calls'' units summed per unit name, e.g. {"web_search_queries": 12, "images": 3}; NULL when none). Exact: rollups plus rows not rolled up yet. One row per user and agent: for series by model, provider or another dimension, daily_cost_by reads fewer rows. Filter on day (or time) to read only what you need.';
COMMENT ON COLUMN llm_cost.daily_costs."time" IS 'The day''s UTC midnight, for Grafana.';
COMMENT ON COLUMN llm_cost.daily_costs.day IS 'The UTC day.';
COMMENT ON COLUMN llm_cost.daily_costs.provider IS 'Provider as logged.';
COMMENT ON COLUMN llm_cost.daily_costs.model IS 'Model as logged.';
COMMENT ON COLUMN llm_cost.daily_costs.tenant_id IS 'Tenant.';
COMMENT ON COLUMN llm_cost.daily_costs.project_id IS 'Project.';
COMMENT ON COLUMN llm_cost.daily_costs.user_id IS 'User.';
COMMENT ON COLUMN llm_cost.daily_costs.agent_id IS 'Agent.';
COMMENT ON COLUMN llm_cost.daily_costs.calls IS 'Calls.';
COMMENT ON COLUMN llm_cost.daily_costs.failed_calls IS 'Calls with success false.';
COMMENT ON COLUMN llm_cost.daily_costs.input_tokens IS 'Sum of input_tokens.';
COMMENT ON COLUMN llm_cost.daily_costs.output_tokens IS 'Sum of output_tokens.';
COMMENT ON COLUMN llm_cost.daily_costs.cached_input_tokens IS 'Sum of cached_input_tokens.';
COMMENT ON COLUMN llm_cost.daily_costs.reasoning_tokens IS 'Sum of reasoning_tokens.';
COMMENT ON COLUMN llm_cost.daily_costs.cost IS 'Sum of the priced calls'' cost; NULL when none of the calls is priced (see unpriced_calls).';
COMMENT ON COLUMN llm_cost.daily_costs.unpriced_calls IS 'Calls without a price: cost does not include them.';
COMMENT ON COLUMN llm_cost.daily_costs.units IS 'The calls'' units summed per unit name (e.g. {"web_search_queries": 12}); NULL when none.';

-- The dashboard functions run their query with EXECUTE (planned for the
-- window at hand), without JIT (compiling costs 300-500 ms, more than these
-- queries), and with a large backlog (_read_ledger) as one plain GROUP BY
-- over the window's ledger rows.
CREATE FUNCTION llm_cost.cost_summary(from_time timestamptz, to_time timestamptz)
RETURNS TABLE (total_cost numeric, calls bigint, successful_calls bigint, failed_calls bigint,
               input_tokens numeric, output_tokens numeric, avg_latency_ms numeric, p95_latency_ms integer,
               cost_per_call numeric, unpriced_calls bigint)
LANGUAGE plpgsql STABLE SET jit = off AS $$
BEGIN
    PERFORM llm_cost._valid_window(from_time, to_time, 'cost_summary');
    IF llm_cost._read_ledger(from_time, to_time) THEN
        RETURN QUERY EXECUTE
        'SELECT CASE WHEN count(*) > 0 AND count(u.cost) = 0 THEN NULL ELSE coalesce(sum(u.cost), 0) END,
                count(*), count(*) FILTER (WHERE u.success), count(*) FILTER (WHERE NOT u.success),
                coalesce(sum(u.input_tokens), 0), coalesce(sum(u.output_tokens), 0),
                round(sum(u.latency_ms) / nullif(count(u.latency_ms), 0)::numeric, 2),
                llm_cost.histogram_percentile(llm_cost.latency_histogram(u.latency_ms), 0.95),
                round(sum(u.cost) / nullif(count(u.cost), 0), 10), count(*) - count(u.cost)
           FROM llm_cost.usage AS u
          WHERE u.occurred_at >= $1 AND u.occurred_at < $2'
        USING from_time, to_time;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
    'SELECT CASE WHEN sum(f.unpriced_calls) = sum(f.calls) AND sum(f.calls) > 0 THEN NULL   -- nothing priced
                 ELSE coalesce(sum(f.cost), 0) END,
            coalesce(sum(f.calls), 0)::bigint,
            coalesce(sum(f.calls) - sum(f.failed_calls), 0)::bigint,
            coalesce(sum(f.failed_calls), 0)::bigint,
            coalesce(sum(f.input_tokens), 0),
            coalesce(sum(f.output_tokens), 0),
            round(sum(f.latency_ms_sum) / nullif(sum(f.latency_calls), 0), 2),
            (SELECT llm_cost.histogram_percentile(h.histogram, 0.95)
               FROM llm_cost.latency_histogram_between($1, $2) AS h),
            round(sum(f.cost) / nullif(sum(f.calls) - sum(f.unpriced_calls), 0), 10),
            coalesce(sum(f.unpriced_calls), 0)::bigint
       FROM llm_cost._dimension_facts(''tenant_id'', $1, $2, 32) AS f'
    USING from_time, to_time;
END $$;
COMMENT ON FUNCTION llm_cost.cost_summary(timestamptz, timestamptz) IS
  'One row for [from_time, to_time): total_cost (of the priced calls; NULL when there are calls and none is priced), calls, successful and failed calls, tokens, average and exact p95 latency, cost per priced call, and unpriced_calls.';

-- The usage_rollup dimension a cost_by dimension is read from.
CREATE FUNCTION llm_cost._rollup_dimension(dimension text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN dimension IN ('provider', 'model', 'mode') THEN 'model' ELSE dimension END
$$;
COMMENT ON FUNCTION llm_cost._rollup_dimension(text) IS 'Internal: the usage_rollup dimension that answers a cost_by dimension (provider, model and mode: model).';

-- Checks a cost_by / daily_cost_by dimension; tags.<key> only where allowed.
CREATE FUNCTION llm_cost._valid_dimension(dimension text, caller text, tags boolean) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF tags AND dimension IN ('tags', 'tags.') THEN
        RAISE EXCEPTION 'llm_cost.%: dimension % names no tag key', caller, quote_literal(dimension)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Write tags.<key>, e.g. tags.team, to group by usage.tags->>''team''.';
    END IF;
    IF dimension IS NULL OR (dimension NOT IN ('provider', 'model', 'tenant_id', 'project_id', 'user_id', 'agent_id', 'operation', 'mode')
                             AND NOT (tags AND starts_with(dimension, 'tags.'))) THEN
        RAISE EXCEPTION 'llm_cost.%: unknown dimension %', caller, coalesce(quote_literal(dimension), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE WHEN tags THEN 'Use one of provider, model, tenant_id, project_id, user_id, agent_id, operation, mode, or tags.<key> (e.g. tags.team) for one tag''s value.'
                              ELSE 'Use one of provider, model, tenant_id, project_id, user_id, agent_id, operation, mode.' END;
    END IF;
END $$;
COMMENT ON FUNCTION llm_cost._valid_dimension(text, text, boolean) IS 'Internal: rejects an unknown dimension (tags.<key> where tags is true).';

CREATE FUNCTION llm_cost.cost_by(dimension text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (value text, cost numeric, calls bigint, input_tokens numeric, output_tokens numeric, share numeric,
               unpriced_calls bigint)
LANGUAGE plpgsql STABLE SET jit = off AS $$
DECLARE
    big boolean;
BEGIN
    PERFORM llm_cost._valid_window(from_time, to_time, 'cost_by');
    PERFORM llm_cost._valid_dimension(dimension, 'cost_by', true);
    IF starts_with(dimension, 'tags.') THEN
        -- One tag's value (tags->>key; NULL when a row has no tags, lacks the
        -- key or holds JSON null there). The rollups keep no tags, so this
        -- reads the window's ledger rows, through the BRIN index on
        -- occurred_at. The key is a bind parameter, never SQL text. EXECUTE
        -- plans each call with its own window, where a cached generic plan
        -- would guess the window's size.
        RETURN QUERY EXECUTE
        'SELECT u.tags ->> $3, sum(u.cost), count(*), sum(u.input_tokens), sum(u.output_tokens),
                round(100 * sum(u.cost) / nullif(sum(sum(u.cost)) OVER (), 0), 2),
                count(*) FILTER (WHERE u.cost IS NULL)
           FROM llm_cost.usage AS u
          WHERE u.occurred_at >= $1 AND u.occurred_at < $2
          GROUP BY 1
          ORDER BY 2 DESC NULLS LAST, 1'
        USING from_time, to_time, substr(dimension, length('tags.') + 1);
        RETURN;
    END IF;
    big := llm_cost._read_ledger(from_time, to_time);
    IF dimension = 'mode' THEN
        -- The kind of call (chat, embedding, image_generation, ...): each
        -- (provider, model) as logged resolves to a catalog model, whose mode
        -- llm_cost.models gives. Grouped by name first: few names, many calls.
        RETURN QUERY
        SELECT m.mode, CASE WHEN sum(n.unpriced_calls) < sum(n.calls) THEN sum(n.cost) END, sum(n.calls)::bigint,
               sum(n.input_tokens), sum(n.output_tokens),
               round(100 * sum(n.cost) / nullif(sum(sum(n.cost)) OVER (), 0), 2), sum(n.unpriced_calls)::bigint
          FROM (SELECT f.provider, f.value AS model, sum(f.cost) AS cost, sum(f.calls) AS calls,
                       sum(f.unpriced_calls) AS unpriced_calls,
                       sum(f.input_tokens) AS input_tokens, sum(f.output_tokens) AS output_tokens
                  FROM llm_cost._dimension_facts('model', from_time, to_time, 32) AS f
                 WHERE NOT big
                 GROUP BY f.provider, f.value
                UNION ALL
                SELECT u.provider, u.model, sum(u.cost), count(*), count(*) - count(u.cost),
                       sum(u.input_tokens), sum(u.output_tokens)
                  FROM llm_cost.usage AS u
                 WHERE big AND u.occurred_at >= from_time AND u.occurred_at < to_time
                 GROUP BY u.provider, u.model) AS n
          LEFT JOIN LATERAL llm_cost.resolve_model(n.provider, n.model) AS r ON true
          LEFT JOIN llm_cost.models AS m ON m.provider = r.resolved_provider AND m.model = r.resolved_model
         GROUP BY m.mode
        HAVING sum(n.calls) > 0
         ORDER BY 2 DESC NULLS LAST, 1;
        RETURN;
    END IF;
    IF big THEN
        RETURN QUERY EXECUTE format(
            'SELECT u.%1$I, sum(u.cost), count(*), sum(u.input_tokens), sum(u.output_tokens),
                    round(100 * sum(u.cost) / nullif(sum(sum(u.cost)) OVER (), 0), 2), count(*) - count(u.cost)
               FROM llm_cost.usage AS u
              WHERE u.occurred_at >= $1 AND u.occurred_at < $2
              GROUP BY 1
              ORDER BY 2 DESC NULLS LAST, 1', dimension)
        USING from_time, to_time;
        RETURN;
    END IF;
    -- EXECUTE with the dimension as a literal: the planner folds
    -- _dimension_facts to the branches that dimension reads.
    RETURN QUERY EXECUTE format(
        'SELECT f.%1$s, CASE WHEN sum(f.unpriced_calls) < sum(f.calls) THEN sum(f.cost) END, sum(f.calls)::bigint,
                sum(f.input_tokens), sum(f.output_tokens),
                round(100 * sum(f.cost) / nullif(sum(sum(f.cost)) OVER (), 0), 2), sum(f.unpriced_calls)::bigint
           FROM llm_cost._dimension_facts(%2$L, $1, $2, 32) AS f
          GROUP BY 1
         HAVING sum(f.calls) > 0
          ORDER BY 2 DESC NULLS LAST, 1',
        CASE dimension WHEN 'provider' THEN 'provider' ELSE 'value' END, llm_cost._rollup_dimension(dimension))
    USING from_time, to_time;
END $$;
COMMENT ON FUNCTION llm_cost.cost_by(text, timestamptz, timestamptz) IS
  'Cost per value of one dimension (provider, model, tenant_id, project_id, user_id, agent_id, operation; mode: the kind of call, chat, embedding, image_generation, ..., from llm_cost.models; or tags.<key>: the value of one tag, usage.tags->>''<key>'', any key after the dot, read from the ledger) in [from_time, to_time), with its share of the priced total in percent; most expensive first. cost sums the priced calls: NULL when none of a value''s calls is priced; unpriced_calls counts the calls without a price. NULL value: calls without that dimension (for mode: models the catalog does not know; for a tag: rows without the key).';

CREATE FUNCTION llm_cost.daily_cost_by(dimension text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE ("time" timestamptz, day date, value text, cost numeric, calls bigint, input_tokens numeric,
               output_tokens numeric, unpriced_calls bigint)
LANGUAGE plpgsql STABLE SET jit = off AS $$
DECLARE
    big boolean;
BEGIN
    PERFORM llm_cost._valid_window(from_time, to_time, 'daily_cost_by');
    PERFORM llm_cost._valid_dimension(dimension, 'daily_cost_by', false);
    big := llm_cost._read_ledger(from_time, to_time);
    IF dimension = 'mode' THEN
        RETURN QUERY
        SELECT llm_cost._utc_midnight(n.day), n.day, m.mode,
               CASE WHEN sum(n.unpriced_calls) < sum(n.calls) THEN sum(n.cost) END, sum(n.calls)::bigint,
               sum(n.input_tokens), sum(n.output_tokens), sum(n.unpriced_calls)::bigint
          FROM (SELECT f.day, f.provider, f.value AS model, sum(f.cost) AS cost, sum(f.calls) AS calls,
                       sum(f.unpriced_calls) AS unpriced_calls,
                       sum(f.input_tokens) AS input_tokens, sum(f.output_tokens) AS output_tokens
                  FROM llm_cost._dimension_facts('model', from_time, to_time, 1) AS f
                 WHERE NOT big
                 GROUP BY f.day, f.provider, f.value
                UNION ALL
                SELECT llm_cost._utc_day(u.occurred_at), u.provider, u.model, sum(u.cost), count(*),
                       count(*) - count(u.cost), sum(u.input_tokens), sum(u.output_tokens)
                  FROM llm_cost.usage AS u
                 WHERE big AND u.occurred_at >= from_time AND u.occurred_at < to_time
                 GROUP BY 1, 2, 3) AS n
          LEFT JOIN LATERAL llm_cost.resolve_model(n.provider, n.model) AS r ON true
          LEFT JOIN llm_cost.models AS m ON m.provider = r.resolved_provider AND m.model = r.resolved_model
         GROUP BY n.day, m.mode
        HAVING sum(n.calls) > 0
         ORDER BY 2, 4 DESC NULLS LAST, 3;
        RETURN;
    END IF;
    IF big THEN
        RETURN QUERY EXECUTE format(
            -- grouped apart from the ORDER BY: with it, the planner (which
            -- cannot tell how few days a window has) sorts millions of rows
            'WITH g AS MATERIALIZED (
                 SELECT llm_cost._utc_day(u.occurred_at) AS day, u.%1$I AS value, sum(u.cost) AS cost, count(*) AS calls,
                        sum(u.input_tokens) AS input_tokens, sum(u.output_tokens) AS output_tokens,
                        count(*) - count(u.cost) AS unpriced_calls
                   FROM llm_cost.usage AS u
                  WHERE u.occurred_at >= $1 AND u.occurred_at < $2
                  GROUP BY 1, 2)
             SELECT llm_cost._utc_midnight(g.day), g.day, g.value, g.cost, g.calls, g.input_tokens, g.output_tokens,
                    g.unpriced_calls
               FROM g
              ORDER BY 2, 4 DESC NULLS LAST, 3', dimension)
        USING from_time, to_time;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT llm_cost._utc_midnight(f.day), f.day, f.%1$s,
                CASE WHEN sum(f.unpriced_calls) < sum(f.calls) THEN sum(f.cost) END, sum(f.calls)::bigint,
                sum(f.input_tokens), sum(f.output_tokens), sum(f.unpriced_calls)::bigint
           FROM llm_cost._dimension_facts(%2$L, $1, $2, 1) AS f
          GROUP BY f.day, 3
         HAVING sum(f.calls) > 0
          ORDER BY 2, 4 DESC NULLS LAST, 3',
        CASE dimension WHEN 'provider' THEN 'provider' ELSE 'value' END, llm_cost._rollup_dimension(dimension))
    USING from_time, to_time;
END $$;
COMMENT ON FUNCTION llm_cost.daily_cost_by(text, timestamptz, timestamptz) IS
  'Cost per UTC day (time: its midnight, for Grafana) and value of one dimension (as cost_by: provider, model, tenant_id, project_id, user_id, agent_id, operation, mode) for the calls in [from_time, to_time): cost (of the priced calls; NULL when none is priced), calls, tokens, unpriced_calls. The days at the window''s ends count only the calls inside it. Read from the per-dimension rollups: the fast way to draw a series by model or any other one dimension.';

CREATE FUNCTION llm_cost.cost_trend(days integer DEFAULT 7)
RETURNS TABLE (current_from timestamptz, current_to timestamptz, current_cost numeric,
               previous_cost numeric, change numeric, percent_change numeric, direction text,
               current_unpriced_calls bigint, previous_unpriced_calls bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    now_ts timestamptz := now();
BEGIN
    IF days IS NULL OR days < 1 OR days > 3660 THEN
        RAISE EXCEPTION 'llm_cost.cost_trend: days must be between 1 and 3660 (got %)', coalesce(days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH t AS (
        SELECT cur.total_cost AS cur, cur.unpriced_calls AS cur_unpriced, prev.total_cost AS prev,
               prev.unpriced_calls AS prev_unpriced
          FROM llm_cost.cost_summary(now_ts - make_interval(days => days), now_ts) AS cur,
               llm_cost.cost_summary(now_ts - make_interval(days => 2 * days), now_ts - make_interval(days => days)) AS prev)
    SELECT now_ts - make_interval(days => days), now_ts, t.cur, t.prev, t.cur - t.prev,
           round(100 * (t.cur - t.prev) / nullif(t.prev, 0), 2),
           -- within 5% either way counts as stable; unknown when a side has nothing priced
           CASE WHEN t.cur IS NULL OR t.prev IS NULL THEN NULL
                WHEN t.prev = 0 AND t.cur = 0 THEN 'stable'
                WHEN t.prev = 0 THEN 'up'
                WHEN abs(t.cur - t.prev) < 0.05 * t.prev THEN 'stable'
                WHEN t.cur > t.prev THEN 'up'
                ELSE 'down' END,
           t.cur_unpriced, t.prev_unpriced
      FROM t;
END $$;
COMMENT ON FUNCTION llm_cost.cost_trend(integer) IS
  'Spend in the last days against the days before: both totals (of the priced calls; NULL when a side has calls and none is priced), change, percent_change (NULL when there was nothing before) and direction: up, down, or stable (within 5%); and each side''s unpriced_calls.';

CREATE VIEW llm_cost.monthly_costs WITH (security_invoker = true) AS
SELECT date_trunc('month', d.day)::date AS month, llm_cost._utc_midnight(date_trunc('month', d.day)::date) AS "time",
       d.provider, d.model, sum(d.calls)::bigint AS calls, sum(d.failed_calls)::bigint AS failed_calls,
       sum(d.input_tokens) AS input_tokens, sum(d.output_tokens) AS output_tokens, sum(d.cost) AS cost,
       sum(d.unpriced_calls)::bigint AS unpriced_calls
  FROM llm_cost.daily_costs AS d
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW llm_cost.monthly_costs IS 'Cost per UTC calendar month (time: its first midnight), provider and model.';
COMMENT ON COLUMN llm_cost.monthly_costs.month IS 'First day of the UTC calendar month.';
COMMENT ON COLUMN llm_cost.monthly_costs."time" IS 'The month''s first UTC midnight, for Grafana.';
COMMENT ON COLUMN llm_cost.monthly_costs.provider IS 'Provider as logged.';
COMMENT ON COLUMN llm_cost.monthly_costs.model IS 'Model as logged.';
COMMENT ON COLUMN llm_cost.monthly_costs.calls IS 'Calls.';
COMMENT ON COLUMN llm_cost.monthly_costs.failed_calls IS 'Calls with success false.';
COMMENT ON COLUMN llm_cost.monthly_costs.input_tokens IS 'Sum of input_tokens.';
COMMENT ON COLUMN llm_cost.monthly_costs.output_tokens IS 'Sum of output_tokens.';
COMMENT ON COLUMN llm_cost.monthly_costs.cost IS 'Sum of the priced calls'' cost; NULL when none of the calls is priced.';
COMMENT ON COLUMN llm_cost.monthly_costs.unpriced_calls IS 'Calls without a price: cost does not include them.';

CREATE VIEW llm_cost.recent_calls WITH (security_invoker = true) AS
SELECT u.occurred_at AS "time", u.id, u.provider, u.model, u.input_tokens, u.output_tokens, u.cost,
       u.currency, u.latency_ms, u.success, u.error_type, u.tenant_id, u.project_id, u.user_id,
       u.agent_id, u.session_id, u.execution_id, u.operation
  FROM llm_cost.usage AS u
 ORDER BY u.id DESC;
COMMENT ON VIEW llm_cost.recent_calls IS 'The ledger newest first (add LIMIT): one row per call with its cost and dimensions.';
COMMENT ON COLUMN llm_cost.recent_calls."time" IS 'When the call happened (usage.occurred_at).';
COMMENT ON COLUMN llm_cost.recent_calls.id IS 'Row id, increasing in insertion order (rollup_state.watermark is one).';
COMMENT ON COLUMN llm_cost.recent_calls.provider IS 'Provider as the app logged it (openai, anthropic, ...); other spellings resolve through provider_aliases.';
COMMENT ON COLUMN llm_cost.recent_calls.model IS 'Model name as the app logged it; resolved to a catalog model for pricing (see model_resolution).';
COMMENT ON COLUMN llm_cost.recent_calls.input_tokens IS 'Every prompt token billed, including cache reads and cache writes.';
COMMENT ON COLUMN llm_cost.recent_calls.output_tokens IS 'Every completion token, including reasoning tokens.';
COMMENT ON COLUMN llm_cost.recent_calls.cost IS 'Cost of the call in currency; NULL when the model has no price.';
COMMENT ON COLUMN llm_cost.recent_calls.currency IS 'Currency of cost (ISO 4217 code); the price''s currency when the insert leaves it NULL and the call is priced.';
COMMENT ON COLUMN llm_cost.recent_calls.latency_ms IS 'How long the call took, in milliseconds; NULL when not measured.';
COMMENT ON COLUMN llm_cost.recent_calls.success IS 'False when the call failed; failed calls stay in the ledger.';
COMMENT ON COLUMN llm_cost.recent_calls.error_type IS 'Kind of error of a failed call (app-defined, e.g. rate_limit, timeout).';
COMMENT ON COLUMN llm_cost.recent_calls.tenant_id IS 'Tenant the row belongs to; defaults to llm_cost.current_tenant(). Roles other than the admin see only their tenant''s rows.';
COMMENT ON COLUMN llm_cost.recent_calls.project_id IS 'Project the spend is attributed to (app-defined).';
COMMENT ON COLUMN llm_cost.recent_calls.user_id IS 'End user the spend is attributed to (app-defined).';
COMMENT ON COLUMN llm_cost.recent_calls.agent_id IS 'Agent that made the call (app-defined).';
COMMENT ON COLUMN llm_cost.recent_calls.session_id IS 'Session or conversation the row belongs to (app-defined).';
COMMENT ON COLUMN llm_cost.recent_calls.execution_id IS 'One run of a workflow or agent; llm_cost.execution_costs adds up its model and compute cost.';
COMMENT ON COLUMN llm_cost.recent_calls.operation IS 'What the call was for (app-defined, e.g. chat, embed, summarise).';

CREATE VIEW llm_cost.daily_spend WITH (security_invoker = true) AS
SELECT coalesce(m.day, c.day) AS day, llm_cost._utc_midnight(coalesce(m.day, c.day)) AS "time",
       CASE WHEN m.day IS NULL THEN 0 ELSE m.cost END AS model_cost, coalesce(c.cost, 0) AS compute_cost,
       CASE WHEN m.day IS NULL OR m.cost IS NOT NULL OR c.cost > 0 THEN coalesce(m.cost, 0) + coalesce(c.cost, 0) END
           AS total_cost,
       coalesce(m.calls, 0) AS calls, coalesce(m.unpriced_calls, 0) AS unpriced_calls
  FROM (SELECT d.day, sum(d.cost) AS cost, sum(d.calls)::bigint AS calls, sum(d.unpriced_calls)::bigint AS unpriced_calls
          FROM llm_cost.daily_costs AS d GROUP BY 1) AS m
  FULL JOIN (SELECT llm_cost._utc_day(r.occurred_at) AS day, coalesce(sum(r.cost), 0) AS cost
               FROM llm_cost.resource_usage AS r GROUP BY 1) AS c ON c.day = m.day;
COMMENT ON VIEW llm_cost.daily_spend IS 'Model spend and compute spend side by side per UTC day, with their total.';
COMMENT ON COLUMN llm_cost.daily_spend.day IS 'The UTC day.';
COMMENT ON COLUMN llm_cost.daily_spend."time" IS 'The day''s UTC midnight, for Grafana.';
COMMENT ON COLUMN llm_cost.daily_spend.model_cost IS 'Cost of the day''s priced model calls; NULL when none of them is priced.';
COMMENT ON COLUMN llm_cost.daily_spend.compute_cost IS 'Cost of the day''s resource_usage.';
COMMENT ON COLUMN llm_cost.daily_spend.total_cost IS 'model_cost + compute_cost; NULL when nothing of the day is priced.';
COMMENT ON COLUMN llm_cost.daily_spend.calls IS 'Model calls that day.';
COMMENT ON COLUMN llm_cost.daily_spend.unpriced_calls IS 'Model calls that day without a price: model_cost does not include them.';

---------------------------------------------------------------------------
-- Exports
---------------------------------------------------------------------------

CREATE VIEW llm_cost.usage_export WITH (security_invoker = true) AS
SELECT u.id, to_char(u.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
       u.provider, u.model, u.service_tier, u.input_tokens, u.output_tokens, u.cached_input_tokens,
       u.cache_write_tokens, u.reasoning_tokens, u.cost, u.currency, u.latency_ms, u.success, u.error_type,
       u.tenant_id, u.project_id, u.user_id, u.agent_id, u.session_id, u.execution_id, u.operation,
       u.tags::text AS tags, u.units::text AS units
  FROM llm_cost.usage AS u;
COMMENT ON VIEW llm_cost.usage_export IS
  'One row per call in a stable column order with ISO 8601 UTC timestamps and exact decimal costs, for COPY (SELECT * FROM llm_cost.usage_export WHERE ...) TO STDOUT WITH CSV HEADER. units: the call''s charges beyond tokens as JSON text (docs/charges.md).';
COMMENT ON COLUMN llm_cost.usage_export.id IS 'Row id, increasing in insertion order (rollup_state.watermark is one).';
COMMENT ON COLUMN llm_cost.usage_export.occurred_at IS 'When the call happened, as ISO 8601 UTC text (2026-01-31T12:00:00.000000Z).';
COMMENT ON COLUMN llm_cost.usage_export.provider IS 'Provider as the app logged it (openai, anthropic, ...); other spellings resolve through provider_aliases.';
COMMENT ON COLUMN llm_cost.usage_export.model IS 'Model name as the app logged it; resolved to a catalog model for pricing (see model_resolution).';
COMMENT ON COLUMN llm_cost.usage_export.service_tier IS 'Service tier the call ran in: standard, batch, flex or priority; priced with that tier''s prices.';
COMMENT ON COLUMN llm_cost.usage_export.input_tokens IS 'Every prompt token billed, including cache reads and cache writes.';
COMMENT ON COLUMN llm_cost.usage_export.output_tokens IS 'Every completion token, including reasoning tokens.';
COMMENT ON COLUMN llm_cost.usage_export.cached_input_tokens IS 'Part of input_tokens read from the prompt cache.';
COMMENT ON COLUMN llm_cost.usage_export.cache_write_tokens IS 'Part of input_tokens written to the prompt cache.';
COMMENT ON COLUMN llm_cost.usage_export.reasoning_tokens IS 'Part of output_tokens spent on reasoning.';
COMMENT ON COLUMN llm_cost.usage_export.cost IS 'Cost of the call in currency, exact; NULL (empty in CSV) when the model has no price.';
COMMENT ON COLUMN llm_cost.usage_export.currency IS 'Currency of cost (ISO 4217 code); the price''s currency when the insert leaves it NULL and the call is priced.';
COMMENT ON COLUMN llm_cost.usage_export.latency_ms IS 'How long the call took, in milliseconds; NULL when not measured.';
COMMENT ON COLUMN llm_cost.usage_export.success IS 'False when the call failed; failed calls stay in the ledger.';
COMMENT ON COLUMN llm_cost.usage_export.error_type IS 'Kind of error of a failed call (app-defined, e.g. rate_limit, timeout).';
COMMENT ON COLUMN llm_cost.usage_export.tenant_id IS 'Tenant the row belongs to; defaults to llm_cost.current_tenant(). Roles other than the admin see only their tenant''s rows.';
COMMENT ON COLUMN llm_cost.usage_export.project_id IS 'Project the spend is attributed to (app-defined).';
COMMENT ON COLUMN llm_cost.usage_export.user_id IS 'End user the spend is attributed to (app-defined).';
COMMENT ON COLUMN llm_cost.usage_export.agent_id IS 'Agent that made the call (app-defined).';
COMMENT ON COLUMN llm_cost.usage_export.session_id IS 'Session or conversation the row belongs to (app-defined).';
COMMENT ON COLUMN llm_cost.usage_export.execution_id IS 'One run of a workflow or agent; llm_cost.execution_costs adds up its model and compute cost.';
COMMENT ON COLUMN llm_cost.usage_export.operation IS 'What the call was for (app-defined, e.g. chat, embed, summarise).';
COMMENT ON COLUMN llm_cost.usage_export.tags IS 'usage.tags as JSON text.';
COMMENT ON COLUMN llm_cost.usage_export.units IS 'The call''s charges beyond tokens (usage.units) as JSON text.';

CREATE FUNCTION llm_cost.export_json(from_time timestamptz, to_time timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'from', to_char(from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'to', to_char(to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'calls', coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.id), '[]'::jsonb))
      FROM llm_cost.usage_export AS e
      JOIN llm_cost.usage AS u ON u.id = e.id
     WHERE u.occurred_at >= from_time AND u.occurred_at < to_time
       AND (SELECT llm_cost._valid_window(from_time, to_time, 'export_json'))
$$;
COMMENT ON FUNCTION llm_cost.export_json(timestamptz, timestamptz) IS
  'The calls in [from_time, to_time) as {"from", "to", "calls": [...]} with the usage_export columns; costs are JSON numbers carrying the exact decimal.';

SELECT pg_catalog.pg_extension_config_dump('llm_cost.rollup_state', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_daily', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_daily_costs', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_daily_latency', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_rollup', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_hourly_latency', '');
