-- Insights: anomalies (days whose spend breaks from its own history; the
-- detector is in Rust, src/analytics/anomaly.rs, which also declares the
-- anomaly_scan aggregate) and the alerts they can raise.

CREATE FUNCTION llm_cost.anomalies(from_time timestamptz DEFAULT now() - interval '30 days',
                                   to_time timestamptz DEFAULT now(),
                                   dimension text DEFAULT NULL,
                                   threshold double precision DEFAULT 3.5)
RETURNS TABLE (day date, "time" timestamptz, value text, spend numeric, expected numeric,
               score numeric, direction text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    first_day date := llm_cost._utc_day_ceil(from_time);
    last_day date := llm_cost._utc_day(to_time);      -- exclusive: only whole UTC days are judged
BEGIN
    IF dimension IS NOT NULL AND dimension NOT IN ('provider', 'model', 'tenant_id', 'project_id', 'user_id', 'agent_id', 'operation') THEN
        RAISE EXCEPTION 'llm_cost.anomalies: unknown dimension %', quote_literal(dimension)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use NULL (total spend) or one of provider, model, tenant_id, project_id, user_id, agent_id, operation.';
    END IF;
    IF threshold IS NULL OR NOT (threshold > 0 AND threshold < 'Infinity') THEN   -- NaN sorts above Infinity
        RAISE EXCEPTION 'llm_cost.anomalies: threshold must be a positive number (got %)', coalesce(threshold::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM llm_cost._valid_window(from_time, to_time, 'anomalies');
    IF to_time - from_time > interval '3660 days' THEN
        RAISE EXCEPTION 'llm_cost.anomalies: from_time and to_time must be given and at most 3660 days apart'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT (a->>''day'')::date, llm_cost._utc_midnight((a->>''day'')::date), s.value,
                (a->>''spend'')::numeric, (a->>''expected'')::numeric, (a->>''score'')::numeric,
                CASE WHEN (a->>''score'')::numeric > 0 THEN ''spike'' ELSE ''drop'' END
           FROM (SELECT %s AS value,
                        llm_cost.anomaly_scan(f.day, f.cost, $1, $2, $4) AS found
                   FROM llm_cost.usage_facts(llm_cost._utc_midnight($1 - 56), llm_cost._utc_midnight($2)) AS f
                  GROUP BY 1) AS s,
                jsonb_array_elements(s.found) AS a
          ORDER BY 1, abs((a->>''score'')::numeric) DESC',
        CASE WHEN dimension IS NULL THEN 'NULL::text' ELSE format('f.%I', dimension) END)
    USING first_day, last_day, dimension, threshold;
END $$;
COMMENT ON FUNCTION llm_cost.anomalies(timestamptz, timestamptz, text, double precision) IS
  'Whole UTC days in [from_time, to_time) whose model spend breaks from its own recent history, for total spend (dimension NULL; value is NULL) or per value of a dimension: spend, expected, robust score, spike or drop. Robust to weekly seasonality and to earlier outliers.';

-- Queues one 'anomaly' notification per day, dimension and value found.
CREATE FUNCTION llm_cost.queue_anomaly_alerts(day date DEFAULT (now() AT TIME ZONE 'UTC')::date - 1,
                                              dimensions text[] DEFAULT ARRAY[NULL, 'tenant_id', 'project_id', 'agent_id', 'model'],
                                              threshold double precision DEFAULT 3.5)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d text;
    a record;
    queued integer := 0;
BEGIN
    IF day IS NULL OR dimensions IS NULL THEN
        RAISE EXCEPTION 'llm_cost.queue_anomaly_alerts: day and dimensions must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH d IN ARRAY dimensions LOOP
        FOR a IN SELECT * FROM llm_cost.anomalies(llm_cost._utc_midnight(day), llm_cost._utc_midnight(day + 1), d, threshold) LOOP
            IF llm_cost._queue_notification(
                   'anomaly',
                   format('anomaly:%s:%s:%s', a.day, coalesce(d, 'total'), coalesce(a.value, '')),
                   jsonb_build_object('day', a.day, 'dimension', coalesce(d, 'total'), 'per_value', a.value,
                                      'spend', a.spend, 'expected', a.expected, 'score', a.score,
                                      'direction', a.direction),
                   per_value => a.value) IS NOT NULL THEN
                queued := queued + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN queued;
END $$;
COMMENT ON FUNCTION llm_cost.queue_anomaly_alerts(date, text[], double precision) IS
  'Queues an anomaly notification (kind ''anomaly'', once per day, dimension and value: calling it again queues nothing new) for each anomaly on a UTC day, by default yesterday, for total spend and per tenant, project, agent and model; returns how many it queued. Run it daily (e.g. from pg_cron).';

---------------------------------------------------------------------------
-- Recommendations
---------------------------------------------------------------------------

-- The cost of a bundle of token sums at one price row's base rates (no
-- above-tier prices: only small calls are bundled, far below any tier).
CREATE FUNCTION llm_cost._bundle_cost(p llm_cost.prices, calls bigint, input_tokens numeric, output_tokens numeric,
                                      cached_input_tokens numeric, cache_write_tokens numeric, reasoning_tokens numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((input_tokens - cached_input_tokens - cache_write_tokens) * p.input_per_mtok
            + cached_input_tokens * coalesce(p.cache_read_per_mtok, p.input_per_mtok)
            + cache_write_tokens * coalesce(p.cache_write_per_mtok, p.input_per_mtok)
            + (output_tokens - reasoning_tokens) * p.output_per_mtok
            + reasoning_tokens * coalesce(p.reasoning_per_mtok, p.output_per_mtok)) / 1000000
           + calls * coalesce(p.per_request, 0)
$$;
COMMENT ON FUNCTION llm_cost._bundle_cost(llm_cost.prices, bigint, numeric, numeric, numeric, numeric, numeric) IS
  'Internal: what summed token counts of calls cost at a price row''s base rates.';

CREATE FUNCTION llm_cost.recommendations(from_time timestamptz DEFAULT now() - interval '30 days',
                                         to_time timestamptz DEFAULT now(),
                                         max_input_tokens bigint DEFAULT 4000,
                                         max_output_tokens bigint DEFAULT 1000)
RETURNS TABLE (provider text, model text, suggested_model text, calls bigint, current_cost numeric,
               suggested_cost numeric, saving numeric, monthly_saving numeric, what text, why text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM llm_cost._valid_window(from_time, to_time, 'recommendations');
    IF to_time = from_time THEN
        RAISE EXCEPTION 'llm_cost.recommendations: from_time must be before to_time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_input_tokens IS NULL OR max_input_tokens < 1 OR max_output_tokens IS NULL OR max_output_tokens < 1 THEN
        RAISE EXCEPTION 'llm_cost.recommendations: max_input_tokens and max_output_tokens must be positive'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH small AS (
        -- small, successful, standard-tier calls per catalog model (price_id gives
        -- the model an alias or dated name resolved to)
        SELECT p.provider, p.model, count(*) AS calls, sum(u.cost) AS cost,
               sum(u.input_tokens) AS input_tokens, sum(u.output_tokens) AS output_tokens,
               sum(u.cached_input_tokens) AS cached_input_tokens, sum(u.cache_write_tokens) AS cache_write_tokens,
               sum(u.reasoning_tokens) AS reasoning_tokens,
               max(u.input_tokens) AS largest_input, max(u.output_tokens) AS largest_output
          FROM llm_cost.usage AS u
          JOIN llm_cost.prices AS p ON p.id = u.price_id
         WHERE u.occurred_at >= from_time AND u.occurred_at < to_time
           AND u.success AND u.cost > 0 AND u.service_tier = 'standard'
           AND u.input_tokens <= max_input_tokens AND u.output_tokens <= max_output_tokens
         GROUP BY p.provider, p.model
    ), candidates AS (
        SELECT s.*, c.model AS candidate,
               llm_cost._bundle_cost(cp, s.calls, s.input_tokens, s.output_tokens, s.cached_input_tokens,
                                     s.cache_write_tokens, s.reasoning_tokens) AS candidate_cost,
               c.model LIKE s.model || '-%' AS same_family
          FROM small AS s
          JOIN llm_cost.models AS m ON m.provider = s.provider AND m.model = s.model
          JOIN llm_cost.models AS c
            ON c.provider = s.provider AND c.model <> s.model AND c.mode IS NOT DISTINCT FROM m.mode
           -- everything the current model can do, the candidate can do
           AND (c.supports_reasoning OR NOT m.supports_reasoning)
           AND (c.supports_vision OR NOT m.supports_vision)
           AND (c.supports_function_calling OR NOT m.supports_function_calling)
           AND (c.supports_prompt_caching OR NOT m.supports_prompt_caching)
           AND (c.supports_response_schema OR NOT m.supports_response_schema)
           -- and what these calls used: reasoning, cached prompts, their sizes
           AND (c.supports_reasoning OR s.reasoning_tokens = 0)
           AND (c.supports_prompt_caching OR s.cached_input_tokens = 0)
           AND c.max_input_tokens >= s.largest_input AND c.max_output_tokens >= s.largest_output
          JOIN llm_cost.current_prices AS cur
            ON cur.provider = c.provider AND cur.model = c.model AND cur.service_tier = 'standard'
          JOIN llm_cost.prices AS cp ON cp.id = cur.id
    ), best AS (
        -- prefer the same family (gpt-4o -> gpt-4o-mini), then the cheapest
        SELECT DISTINCT ON (x.provider, x.model) x.*
          FROM candidates AS x
         WHERE x.candidate_cost < 0.8 * x.cost      -- at least a fifth cheaper
         ORDER BY x.provider, x.model, x.same_family DESC, x.candidate_cost, x.candidate
    )
    SELECT b.provider, b.model, b.candidate, b.calls, b.cost, round(b.candidate_cost, 10),
           round(b.cost - b.candidate_cost, 10),
           round((b.cost - b.candidate_cost) * 30 / (extract(epoch FROM to_time - from_time) / 86400)::numeric, 2),
           format('Send %s''s small calls (at most %s input and %s output tokens) to %s',
                  b.model, max_input_tokens, max_output_tokens, b.candidate),
           format('%s calls cost %s; at %s''s current prices they would cost %s (%s%% less). %s supports everything %s does%s, and these calls fit its limits (largest: %s input, %s output tokens).',
                  b.calls, round(b.cost, 4), b.candidate, round(b.candidate_cost, 4),
                  round(100 * (1 - b.candidate_cost / b.cost)), b.candidate, b.model,
                  CASE WHEN b.reasoning_tokens > 0 THEN ' (including reasoning, which these calls used)' ELSE '' END,
                  b.largest_input, b.largest_output)
      FROM best AS b
     ORDER BY 8 DESC, 1, 2;
END $$;
COMMENT ON FUNCTION llm_cost.recommendations(timestamptz, timestamptz, bigint, bigint) IS
  'Cheaper models of the same provider for small calls (at most max_input_tokens in and max_output_tokens out) in [from_time, to_time): the candidate must support every capability of the current model (llm_cost.models) and what the calls used (reasoning, cached prompts, their sizes), and cost at least 20% less. Each row: what to change, why, the saving in the window and per 30 days, priced from the ledger (current cost) and the catalog (suggested cost).';
