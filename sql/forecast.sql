-- Forecasts: spend projected from the daily history (a trend and a weekday
-- pattern, fitted in Rust: src/analytics/forecast.rs, which also declares the
-- spend_forecast aggregate), for any scope and for budgets.
-- History is read through usage_facts (rollups + ledger) in UTC days.

-- How many days of history forecasts use, and how far a budget without a
-- period end (period 'total') looks for its exhaustion date.
CREATE FUNCTION llm_cost._forecast_history_days() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 56 $$;
COMMENT ON FUNCTION llm_cost._forecast_history_days() IS 'Internal: days of history a forecast is fitted to (8 weeks).';

CREATE FUNCTION llm_cost.forecast_spend(horizon interval DEFAULT '7 days', tenant_id text DEFAULT NULL,
                                        project_id text DEFAULT NULL, user_id text DEFAULT NULL,
                                        agent_id text DEFAULT NULL, provider text DEFAULT NULL,
                                        model text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS TABLE (from_time timestamptz, to_time timestamptz, expected numeric, low numeric, high numeric,
               daily_run_rate numeric, method text, history_days integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    today date := llm_cost._utc_day(at);
    days integer;
    f jsonb;
BEGIN
    IF horizon IS NULL OR horizon <= interval '0' OR horizon > interval '3660 days' THEN
        RAISE EXCEPTION 'llm_cost.forecast_spend: horizon must be positive and at most 3660 days (got %)', coalesce(horizon::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    days := ceil(extract(epoch FROM horizon) / 86400)::integer + 1;
    SELECT llm_cost.spend_forecast(x.day, x.cost, today, days) INTO f
      FROM llm_cost.usage_facts(llm_cost._utc_midnight(today - llm_cost._forecast_history_days()),
                                llm_cost._utc_midnight(today)) AS x
     WHERE (forecast_spend.tenant_id IS NULL OR x.tenant_id = forecast_spend.tenant_id)
       AND (forecast_spend.project_id IS NULL OR x.project_id = forecast_spend.project_id)
       AND (forecast_spend.user_id IS NULL OR x.user_id = forecast_spend.user_id)
       AND (forecast_spend.agent_id IS NULL OR x.agent_id = forecast_spend.agent_id)
       AND (forecast_spend.provider IS NULL OR lower(x.provider) = lower(forecast_spend.provider))
       AND (forecast_spend.model IS NULL OR x.model = forecast_spend.model);
    RETURN QUERY
    SELECT at, at + horizon, p.expected, p.low, p.high, (f->>'daily_run_rate')::numeric, f->>'method',
           (f->>'history_days')::integer
      FROM llm_cost.forecast_project(f, today, at, at + horizon, 0, NULL) AS p
     WHERE f IS NOT NULL
    UNION ALL
    SELECT at, at + horizon, NULL, NULL, NULL, NULL, NULL, 0
     WHERE f IS NULL;
END $$;
COMMENT ON FUNCTION llm_cost.forecast_spend(interval, text, text, text, text, text, text, timestamptz) IS
  'Model spend expected in [at, at + horizon) for a scope (NULL = any), with a 90% low/high band, from the last 8 weeks of daily history (trend and weekday pattern); NULLs without history.';

-- Forecast inputs for every enabled budget (and per value) in one pass over
-- the history: a budget is matched like an inserted row, through
-- (scope_mask, scope_key). Budgets scoped by session, or per session or
-- execution, have no daily history here (the rollups do not keep those) and
-- get NULL.
CREATE FUNCTION llm_cost._budget_forecasts(at timestamptz, only_budget bigint)
RETURNS TABLE (budget_id bigint, per_value text, forecast jsonb)
LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT x.*, least(llm_cost.period_end(x.period, x.timezone, at), at + interval '366 days') AS horizon_end
          FROM llm_cost.budgets AS x
         WHERE x.enabled AND (only_budget IS NULL OR x.id = only_budget)
           AND x.period <> 'rolling' AND x.unit = 'cost'   -- forecasts are of cost over calendar periods
    ), masks AS (
        SELECT DISTINCT b.scope_mask FROM b
    ), history AS (
        SELECT f.day, f.cost, f.tenant_id, f.project_id, f.user_id, f.agent_id, f.operation, f.provider, f.model,
               'llm' AS source
          FROM llm_cost.usage_facts(llm_cost._utc_midnight(llm_cost._utc_day(at) - llm_cost._forecast_history_days()),
                                    llm_cost._utc_midnight(llm_cost._utc_day(at))) AS f
        UNION ALL
        SELECT llm_cost._utc_day(r.occurred_at), coalesce(r.cost, 0), r.tenant_id, r.project_id, r.user_id,
               r.agent_id, r.operation, NULL, NULL, 'compute'
          FROM llm_cost.resource_usage AS r
         WHERE r.occurred_at >= llm_cost._utc_midnight(llm_cost._utc_day(at) - llm_cost._forecast_history_days())
           AND r.occurred_at < llm_cost._utc_midnight(llm_cost._utc_day(at))
    )
    SELECT b.id,
           coalesce(llm_cost.per_value(b.per, h.tenant_id, h.project_id, h.user_id, h.agent_id, NULL, NULL,
                                       h.operation, h.provider, h.model), ''),
           llm_cost.spend_forecast(h.day, h.cost, llm_cost._utc_day(at),
                                   greatest(1, ceil(extract(epoch FROM b.horizon_end - at) / 86400)::integer + 1))
      FROM history AS h
     CROSS JOIN masks AS m
      JOIN b ON b.scope_mask = m.scope_mask
            AND b.scope_key = llm_cost.scope_key(m.scope_mask, h.tenant_id, h.project_id, h.user_id, h.agent_id,
                                                 NULL, h.provider, h.model)
     WHERE b.includes IN ('all', h.source)
       AND (b.per IS NULL OR llm_cost.per_value(b.per, h.tenant_id, h.project_id, h.user_id, h.agent_id, NULL, NULL,
                                                 h.operation, h.provider, h.model) IS NOT NULL)
     GROUP BY b.id, 2, b.horizon_end
$$;
COMMENT ON FUNCTION llm_cost._budget_forecasts(timestamptz, bigint) IS
  'Internal: the spend_forecast of every enabled budget (or only one) and per value as of at, in one pass over the history.';

-- budget_status with its forecast columns (budget_status_at and forecast() read this).
CREATE FUNCTION llm_cost._budget_status_with_forecast(at timestamptz, only_budget bigint)
RETURNS TABLE (budget_id bigint, name text, per_value text, period_start timestamptz, period_end timestamptz,
               amount numeric, spent numeric, remaining numeric, percent_used numeric, calls bigint,
               forecast numeric, forecast_low numeric, forecast_high numeric, daily_run_rate numeric,
               exhausts_at timestamptz, forecast_method text, history_days integer,
               status text, currency text, period text, hard_limit boolean, "time" timestamptz,
               reserved numeric, unit text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM llm_cost.flush_spend();     -- this transaction's own spend counts
    RETURN QUERY
    WITH cur AS (
        SELECT b.id, b.name, nullif(s.per_value, '') AS per_value, coalesce(s.per_value, '') AS per_key,
               p.period_start, p.period_end, b.amount,
               coalesce(llm_cost._used(b.unit, s.spent, s.calls, s.tokens), 0) AS spent, coalesce(s.calls, 0) AS calls,
               b.thresholds, b.currency, b.period, b.hard_limit, b.unit,
               -- forecasts are of cost over calendar periods
               b.period NOT IN ('total', 'rolling') AND b.unit = 'cost' AS forecastable
          FROM llm_cost.budgets AS b
         CROSS JOIN LATERAL (   -- a rolling budget's "period" is its window ending at `at`
                SELECT CASE WHEN b.period = 'rolling' THEN llm_cost.window_start(b."window", at)
                            ELSE llm_cost.period_start(b.period, b.timezone, at) END AS period_start,
                       CASE WHEN b.period = 'rolling' THEN at
                            ELSE llm_cost.period_end(b.period, b.timezone, at) END AS period_end) AS p
          LEFT JOIN LATERAL (
                SELECT x.per_value, x.spent, x.calls, x.tokens
                  FROM llm_cost.budget_spend AS x
                 WHERE b.period <> 'rolling' AND x.budget_id = b.id AND x.period_start = p.period_start
                UNION ALL
                SELECT w.per_value, sum(w.spent), sum(w.calls)::bigint, sum(w.tokens)::bigint
                  FROM llm_cost.window_spend AS w
                 WHERE b.period = 'rolling' AND w.budget_id = b.id AND w.slot_start >= p.period_start
                 GROUP BY w.per_value) AS s ON true
         WHERE b.enabled AND (only_budget IS NULL OR b.id = only_budget)
           -- a per budget shows one row per value seen in the period; others always show
           AND (b.per IS NULL OR s.per_value IS NOT NULL)
    ), fc AS (
        SELECT * FROM llm_cost._budget_forecasts(at, only_budget)
    )
    SELECT c.id, c.name, c.per_value, c.period_start, c.period_end, c.amount, c.spent,
           c.amount - c.spent, round(100 * c.spent / c.amount, 2), c.calls,
           -- a 'total' budget has no period end to forecast to, a rolling one no period
           CASE WHEN c.forecastable THEN coalesce(pr.expected, c.spent) END,
           CASE WHEN c.forecastable THEN coalesce(pr.low, c.spent) END,
           CASE WHEN c.forecastable THEN coalesce(pr.high, c.spent) END,
           CASE WHEN c.unit = 'cost' THEN (fc.forecast->>'daily_run_rate')::numeric END,
           CASE WHEN c.spent >= c.amount OR NOT c.forecastable THEN NULL ELSE pr.exhausts_at END,
           fc.forecast->>'method', (fc.forecast->>'history_days')::integer,
           CASE WHEN c.spent >= c.amount THEN 'exceeded'
                WHEN 100 * c.spent / c.amount >= c.thresholds[1] THEN 'warning'
                ELSE 'ok' END,
           c.currency, c.period, c.hard_limit, c.period_start,
           llm_cost._reserved(c.id, c.per_key, at), c.unit
      FROM cur AS c
      LEFT JOIN fc ON fc.budget_id = c.id AND fc.per_value = c.per_key
      LEFT JOIN LATERAL llm_cost.forecast_project(fc.forecast, llm_cost._utc_day(at), at,
                                                  least(c.period_end, at + interval '366 days'),
                                                  c.spent, c.amount) AS pr ON true;
END $$;
COMMENT ON FUNCTION llm_cost._budget_status_with_forecast(timestamptz, bigint) IS
  'Internal: budget status with forecast columns, for one budget or all.';

-- The id, or an error naming the caller when there is no such budget.
CREATE FUNCTION llm_cost._existing_budget(budget_id bigint, caller text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF budget_id IS NULL OR NOT EXISTS (SELECT FROM llm_cost.budgets AS b WHERE b.id = _existing_budget.budget_id) THEN
        RAISE EXCEPTION 'llm_cost.%: no budget %', caller, coalesce(budget_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN budget_id;
END $$;
COMMENT ON FUNCTION llm_cost._existing_budget(bigint, text) IS 'Internal: checks that a budget exists.';

CREATE FUNCTION llm_cost.forecast(budget_id bigint, at timestamptz DEFAULT now())
RETURNS TABLE (budget_id bigint, name text, per_value text, period_start timestamptz, period_end timestamptz,
               amount numeric, spent numeric, forecast numeric, forecast_low numeric, forecast_high numeric,
               daily_run_rate numeric, exhausts_at timestamptz, will_exceed boolean, method text,
               history_days integer)
LANGUAGE sql VOLATILE AS $$
    SELECT s.budget_id, s.name, s.per_value, s.period_start, s.period_end, s.amount, s.spent,
           s.forecast, s.forecast_low, s.forecast_high, s.daily_run_rate, s.exhausts_at,
           s.forecast > s.amount, s.forecast_method, s.history_days
      FROM llm_cost._budget_status_with_forecast(at, llm_cost._existing_budget(forecast.budget_id, 'forecast')) AS s
$$;
COMMENT ON FUNCTION llm_cost.forecast(bigint, timestamptz) IS
  'A budget''s spend at the end of its current period (one row per per value seen): spent, expected forecast with a 90% low/high band, daily run rate, the projected exhaustion time (NULL if not before the period ends), and whether it will exceed the amount.';

-- The budget status views (their contract is in the specs "Budgets and alerts").
CREATE FUNCTION llm_cost.budget_status_at(at timestamptz)
RETURNS TABLE (budget_id bigint, name text, per_value text, period_start timestamptz, period_end timestamptz,
               amount numeric, spent numeric, remaining numeric, percent_used numeric, calls bigint,
               forecast numeric, exhausts_at timestamptz, status text, currency text, period text,
               hard_limit boolean, "time" timestamptz, reserved numeric, unit text)
LANGUAGE sql VOLATILE AS $$
    SELECT s.budget_id, s.name, s.per_value, s.period_start, s.period_end, s.amount, s.spent, s.remaining,
           s.percent_used, s.calls, s.forecast, s.exhausts_at, s.status, s.currency, s.period, s.hard_limit, s."time",
           s.reserved, s.unit
      FROM llm_cost._budget_status_with_forecast(at, NULL) AS s
$$;
COMMENT ON FUNCTION llm_cost.budget_status_at(timestamptz) IS
  'budget_status as of any instant: each enabled budget (and per value) in the period containing at.';

CREATE VIEW llm_cost.budget_status WITH (security_invoker = true) AS
SELECT * FROM llm_cost.budget_status_at(now());
COMMENT ON VIEW llm_cost.budget_status IS
  'Each enabled budget (and per value) in its current period: spent, remaining, percent_used, calls, forecast (expected spend at the period end; llm_cost.forecast(id) adds its band), exhausts_at (when spend is projected to reach the amount, NULL if not this period), status (ok, warning from the first threshold, exceeded).';
COMMENT ON COLUMN llm_cost.budget_status.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_status.name IS 'The budget''s name.';
COMMENT ON COLUMN llm_cost.budget_status.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_status.period_start IS 'Start of the current period (-infinity for a total budget; for a rolling budget, the start of its window).';
COMMENT ON COLUMN llm_cost.budget_status.period_end IS 'End of the current period, exclusive (infinity for a total budget; now for a rolling budget).';
COMMENT ON COLUMN llm_cost.budget_status.amount IS 'The budget''s limit for the period.';
COMMENT ON COLUMN llm_cost.budget_status.spent IS 'Use so far in the period (or window), in the budget''s unit: spend, tokens or calls.';
COMMENT ON COLUMN llm_cost.budget_status.remaining IS 'amount - spent (negative once exceeded).';
COMMENT ON COLUMN llm_cost.budget_status.percent_used IS '100 * spent / amount, rounded to 2 decimals.';
COMMENT ON COLUMN llm_cost.budget_status.calls IS 'Calls counted in spent.';
COMMENT ON COLUMN llm_cost.budget_status.forecast IS 'Expected spend at the period end; NULL for a total or rolling budget and for tokens or calls budgets.';
COMMENT ON COLUMN llm_cost.budget_status.exhausts_at IS 'When spend is projected to reach the amount; NULL when not within this period or already exceeded.';
COMMENT ON COLUMN llm_cost.budget_status.status IS 'ok, warning (at or past the first threshold) or exceeded.';
COMMENT ON COLUMN llm_cost.budget_status.currency IS 'Currency of amount and spent.';
COMMENT ON COLUMN llm_cost.budget_status.period IS 'The budget''s period: day, week, month, quarter, year, total or rolling.';
COMMENT ON COLUMN llm_cost.budget_status.hard_limit IS 'When true, can_spend refuses calls that would take spend over amount.';
COMMENT ON COLUMN llm_cost.budget_status."time" IS 'period_start again, for Grafana.';
COMMENT ON COLUMN llm_cost.budget_status.reserved IS 'What live reservations hold against the budget (and per value), in its unit.';
COMMENT ON COLUMN llm_cost.budget_status.unit IS 'What the budget limits: cost, tokens or calls (amount, spent and remaining are in it).';

