-- llm_cost 0.2.0 -> 0.3.0: every charge on the bill (docs/charges.md).
-- Keep in step with sql/*.sql: tests/upgrade.rs compares an upgraded database
-- with a fresh install object for object.

---------------------------------------------------------------------------
-- Units and unit prices (sql/schema.sql)
---------------------------------------------------------------------------
CREATE FUNCTION llm_cost.is_unit_prices(unit_prices jsonb) RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'llm_cost_is_unit_prices';
COMMENT ON FUNCTION llm_cost.is_unit_prices(jsonb) IS
  'True when unit_prices is NULL or valid and normalised as llm_cost.prices stores it: unit names (web_search_queries, images, audio_seconds, ..., requests) to a price per unit or to an object of lower-case selectors to prices (docs/charges.md).';
CREATE FUNCTION llm_cost.is_units(units jsonb) RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'llm_cost_is_units';
COMMENT ON FUNCTION llm_cost.is_units(jsonb) IS
  'True when a call''s units are NULL or an object of known unit names: token subsets (whole numbers), counted units (non-negative numbers) and qualifiers (text); see docs/charges.md.';
REVOKE EXECUTE ON FUNCTION llm_cost.is_unit_prices(jsonb), llm_cost.is_units(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.is_unit_prices(jsonb), llm_cost.is_units(jsonb) TO llm_cost_admin, llm_cost_reader;
GRANT EXECUTE ON FUNCTION llm_cost.is_units(jsonb) TO llm_cost_writer;

ALTER TABLE llm_cost.prices
    ADD COLUMN cache_write_1h_per_mtok numeric,
    ADD COLUMN audio_input_per_mtok    numeric,
    ADD COLUMN image_input_per_mtok    numeric,
    ADD COLUMN audio_output_per_mtok   numeric,
    ADD COLUMN image_output_per_mtok   numeric,
    ADD COLUMN unit_prices             jsonb,
    ADD CONSTRAINT prices_units_valid CHECK (
        llm_cost.is_valid_amount(cache_write_1h_per_mtok) AND llm_cost.is_valid_amount(audio_input_per_mtok)
        AND llm_cost.is_valid_amount(image_input_per_mtok) AND llm_cost.is_valid_amount(audio_output_per_mtok)
        AND llm_cost.is_valid_amount(image_output_per_mtok) AND llm_cost.is_unit_prices(unit_prices));
COMMENT ON COLUMN llm_cost.prices.cache_write_1h_per_mtok IS 'Price of 1-hour prompt-cache writes (units.cache_write_1h_tokens, part of cache_write_tokens); NULL: the cache-write price.';
COMMENT ON COLUMN llm_cost.prices.audio_input_per_mtok IS 'Price of audio input tokens (units.audio_input_tokens, part of the uncached input); NULL: the input price.';
COMMENT ON COLUMN llm_cost.prices.image_input_per_mtok IS 'Price of image input tokens (units.image_input_tokens, part of the uncached input); NULL: the input price.';
COMMENT ON COLUMN llm_cost.prices.audio_output_per_mtok IS 'Price of audio output tokens (units.audio_output_tokens, part of output outside reasoning); NULL: the output price.';
COMMENT ON COLUMN llm_cost.prices.image_output_per_mtok IS 'Price of image output tokens (units.image_output_tokens, part of output outside reasoning); NULL: the output price.';
COMMENT ON COLUMN llm_cost.prices.unit_prices IS 'Prices per unit (not per million) of counted units: {"web_search_queries": {"low": 0.03, "medium": 0.035, "high": 0.05, "default": 0.035}, "images": {"hd/1024x1792": 0.12, ...}, "audio_seconds": 0.0001, "requests": ...}. A selector is chosen from the call''s quality/size, size, resolution, quality, search_context_size, then default; a unit with quantity above 0 and no price makes the call unpriced. requests: a fee charged once per call. See docs/charges.md.';

ALTER TABLE llm_cost.usage
    ADD COLUMN units jsonb,
    ADD CONSTRAINT usage_units_valid CHECK (llm_cost.is_units(units));
COMMENT ON COLUMN llm_cost.usage.units IS 'The call''s charges beyond plain tokens (NULL: none): token subsets (cache_write_1h_tokens, audio_/image_input_tokens, audio_/image_output_tokens), counted units (web_search_queries, maps_queries, images, input_images, audio_seconds, output_audio_seconds, video_seconds, characters, queries, pages) and qualifiers (search_context_size, size, quality, resolution). Filled from raw_usage when not given. See docs/charges.md.';

---------------------------------------------------------------------------
-- Pricing functions gain units (src/sql_pricing.rs). The 0.2.0 signatures
-- are dropped; their C symbols stay in the library for databases not yet
-- updated (src/sql_pricing.rs, released_abi).
---------------------------------------------------------------------------
DROP FUNCTION llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text);
DROP FUNCTION llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text);
DROP FUNCTION llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text);

CREATE FUNCTION llm_cost."llm_cost"(
	"provider" TEXT,
	"model" TEXT,
	"input_tokens" bigint,
	"output_tokens" bigint,
	"cached_input_tokens" bigint DEFAULT 0,
	"cache_write_tokens" bigint DEFAULT 0,
	"reasoning_tokens" bigint DEFAULT 0,
	"at" timestamp with time zone DEFAULT now(),
	"service_tier" TEXT DEFAULT 'standard',
	"units" jsonb DEFAULT NULL
) RETURNS NUMERIC
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'llm_cost_with_units_wrapper';

CREATE FUNCTION llm_cost."cost_breakdown"(
	"provider" TEXT,
	"model" TEXT,
	"input_tokens" bigint,
	"output_tokens" bigint,
	"cached_input_tokens" bigint DEFAULT 0,
	"cache_write_tokens" bigint DEFAULT 0,
	"reasoning_tokens" bigint DEFAULT 0,
	"at" timestamp with time zone DEFAULT now(),
	"service_tier" TEXT DEFAULT 'standard',
	"units" jsonb DEFAULT NULL
) RETURNS jsonb
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'cost_breakdown_with_units_wrapper';

CREATE FUNCTION llm_cost."price_usage"(
	"provider" TEXT,
	"model" TEXT,
	"input_tokens" bigint,
	"output_tokens" bigint,
	"cached_input_tokens" bigint,
	"cache_write_tokens" bigint,
	"reasoning_tokens" bigint,
	"at" timestamp with time zone,
	"service_tier" TEXT,
	"units" jsonb
) RETURNS TABLE (
	"cost" NUMERIC,
	"price_id" bigint,
	"currency" TEXT
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'price_usage_with_units_wrapper';

CREATE FUNCTION llm_cost."_unit_prices"(
	"unit_prices" jsonb,
	"caller" TEXT
) RETURNS jsonb
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'unit_prices_normalised_wrapper';

COMMENT ON FUNCTION llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb) IS
  'The exact cost of one call at time at (default now()) in the price''s currency; NULL when the model has no price, or a counted unit of the call has none. Tokens: input includes cached and cache-write tokens, output includes reasoning tokens. units: the call''s charges beyond tokens (docs/charges.md).';
COMMENT ON FUNCTION llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb) IS
  'Each component of a call''s cost (token lines, including audio, image and 1-hour cache-write subsets the call has; units: each counted unit with its quantity, selector, price and cost), the price row used, the service tier priced, and how the model name was resolved (resolution: method, the rewrites of the name as rules, fine_tune); when there is no price, cost is null and reason (or resolution.reason) says why.';
COMMENT ON FUNCTION llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb) IS
  'Prices one usage row: (cost, price_id, currency), all NULL when unpriced. Used by reprice().';
COMMENT ON FUNCTION llm_cost._unit_prices(jsonb, text) IS
  'Internal: unit prices validated and normalised as llm_cost.prices stores them (selectors lower case, sizes as 1024x1792); raises 22023 naming the caller otherwise.';

REVOKE EXECUTE ON FUNCTION
    llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost._unit_prices(jsonb, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost._unit_prices(jsonb, text)
    TO llm_cost_admin, llm_cost_reader;
GRANT EXECUTE ON FUNCTION
    llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb)
    TO llm_cost_writer;

-- reprice passes the row's units.
CREATE OR REPLACE FUNCTION llm_cost.reprice(from_time timestamptz DEFAULT '-infinity', to_time timestamptz DEFAULT 'infinity')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    IF from_time IS NULL OR to_time IS NULL OR from_time > to_time THEN
        RAISE EXCEPTION 'llm_cost.reprice: expected from_time <= to_time, got [%, %)', from_time, to_time
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Rows an app priced itself (cost given, no price_id) are left alone.
    UPDATE llm_cost.usage AS u
       SET cost = p.cost, price_id = p.price_id, currency = p.currency
      FROM llm_cost.usage AS src
     CROSS JOIN LATERAL llm_cost.price_usage(
            src.provider, src.model, src.input_tokens, src.output_tokens, src.cached_input_tokens,
            src.cache_write_tokens, src.reasoning_tokens, src.occurred_at, src.service_tier, src.units) AS p
     WHERE u.id = src.id
       AND src.occurred_at >= from_time AND src.occurred_at < to_time
       AND (src.cost IS NULL OR src.price_id IS NOT NULL)
       AND (src.cost, src.price_id) IS DISTINCT FROM (p.cost, p.price_id);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$;

---------------------------------------------------------------------------
-- Analytics see units (sql/analytics.sql): rollups sum them, daily_costs
-- and usage_export show them, cost_by('mode').
---------------------------------------------------------------------------
CREATE FUNCTION llm_cost."_units_merge"(
	"total" jsonb,
	"units" jsonb,
	"sign" INT
) RETURNS jsonb
IMMUTABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'units_merge_wrapper';
CREATE FUNCTION llm_cost."_units_merge"(
	"total" jsonb,
	"units" jsonb
) RETURNS jsonb
IMMUTABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'units_merge_plus_wrapper';
REVOKE EXECUTE ON FUNCTION llm_cost._units_merge(jsonb, jsonb, integer), llm_cost._units_merge(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost._units_merge(jsonb, jsonb, integer), llm_cost._units_merge(jsonb, jsonb) TO llm_cost_admin, llm_cost_reader;

-- Sums of the calls' units (0.3.0). Added after the hour column, as the
-- 0.2.0 -> 0.3.0 upgrade adds them, so both have the same column order.
ALTER TABLE llm_cost.usage_daily ADD COLUMN units jsonb;
ALTER TABLE llm_cost.usage_hourly ADD COLUMN units jsonb;
COMMENT ON COLUMN llm_cost.usage_daily.units IS 'Sum of the calls'' units per unit name (token subsets and counted units; qualifiers dropped); NULL when none.';
COMMENT ON COLUMN llm_cost.usage_hourly.units IS 'Sum of the calls'' units per unit name (token subsets and counted units; qualifiers dropped); NULL when none.';

-- units_sum(units): the calls' units summed per unit name (exact); units_sum(units, sign) takes rows out with sign -1.
CREATE AGGREGATE llm_cost.units_sum(jsonb) (
    SFUNC = llm_cost._units_merge, STYPE = jsonb, COMBINEFUNC = llm_cost._units_merge, PARALLEL = SAFE);
CREATE AGGREGATE llm_cost.units_sum(jsonb, integer) (SFUNC = llm_cost._units_merge, STYPE = jsonb, PARALLEL = SAFE);
REVOKE EXECUTE ON FUNCTION llm_cost.units_sum(jsonb), llm_cost.units_sum(jsonb, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.units_sum(jsonb), llm_cost.units_sum(jsonb, integer) TO llm_cost_admin, llm_cost_reader;
COMMENT ON FUNCTION llm_cost._units_merge(jsonb, jsonb) IS
  'Internal: units_sum''s transition and combine function, total + units per unit name.';
COMMENT ON FUNCTION llm_cost._units_merge(jsonb, jsonb, integer) IS
  'Internal: the signed units_sum''s transition function, total + sign * units per unit name.';
COMMENT ON AGGREGATE llm_cost.units_sum(jsonb) IS
  'Sums calls'' units per unit name (token subsets and counted units, exact); qualifiers such as size are dropped. NULL when there are none.';
COMMENT ON AGGREGATE llm_cost.units_sum(jsonb, integer) IS
  'Internal: units_sum with a sign per row (-1 takes a row out of a rollup).';

CREATE OR REPLACE FUNCTION llm_cost._rollup_sums_sql(changed text, grain text) RETURNS text
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
    $sql$, changed, llm_cost._rollup_bucket_sql(grain),
           CASE grain WHEN 'day' THEN 'usage_daily' WHEN 'hour' THEN 'usage_hourly' END, grain,
           CASE grain WHEN 'day' THEN 'usage_daily_key' WHEN 'hour' THEN 'usage_hourly_key' END)
$fn$;

CREATE OR REPLACE VIEW llm_cost.daily_costs WITH (security_invoker = true) AS
SELECT llm_cost._utc_midnight(f.day) AS "time", f.day, f.provider, f.model, f.tenant_id, f.project_id,
       f.user_id, f.agent_id,
       sum(f.calls)::bigint AS calls, sum(f.failed_calls)::bigint AS failed_calls,
       sum(f.input_tokens) AS input_tokens, sum(f.output_tokens) AS output_tokens,
       sum(f.cached_input_tokens) AS cached_input_tokens, sum(f.reasoning_tokens) AS reasoning_tokens,
       sum(f.cost) AS cost, llm_cost.units_sum(f.units) AS units
  FROM (SELECT d.day, d.provider, d.model, d.tenant_id, d.project_id, d.user_id, d.agent_id, d.calls,
               d.failed_calls, d.input_tokens, d.output_tokens, d.cached_input_tokens, d.reasoning_tokens, d.cost,
               d.units
          FROM llm_cost.usage_daily AS d
        UNION ALL
        SELECT llm_cost._utc_day(u.occurred_at), u.provider, u.model, u.tenant_id, u.project_id, u.user_id,
               u.agent_id, 1, CASE WHEN u.success THEN 0 ELSE 1 END, u.input_tokens, u.output_tokens,
               u.cached_input_tokens, u.reasoning_tokens, coalesce(u.cost, 0), u.units
          FROM llm_cost.usage AS u
         WHERE u.id BETWEEN llm_cost.rollup_watermark() + 1 AND llm_cost._max_id()) AS f
 GROUP BY f.day, f.provider, f.model, f.tenant_id, f.project_id, f.user_id, f.agent_id
HAVING sum(f.calls) > 0;
COMMENT ON VIEW llm_cost.daily_costs IS
  'Cost per UTC day (time: its midnight, for Grafana) and provider, model, tenant, project, user and agent: calls, failed_calls, tokens, cost, and units (the calls'' units summed per unit name, e.g. {"web_search_queries": 12, "images": 3}; NULL when none). Exact: rollups plus rows not rolled up yet. Filter on day (or time) to read only what you need.';

CREATE OR REPLACE FUNCTION llm_cost.cost_by(dimension text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (value text, cost numeric, calls bigint, input_tokens numeric, output_tokens numeric, share numeric)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM llm_cost._valid_window(from_time, to_time, 'cost_by');
    IF dimension IS NULL OR dimension NOT IN ('provider', 'model', 'tenant_id', 'project_id', 'user_id', 'agent_id', 'operation', 'mode') THEN
        RAISE EXCEPTION 'llm_cost.cost_by: unknown dimension %', coalesce(quote_literal(dimension), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of provider, model, tenant_id, project_id, user_id, agent_id, operation, mode.';
    END IF;
    IF dimension = 'mode' THEN
        -- The kind of call (chat, embedding, image_generation, ...): each
        -- (provider, model) as logged resolves to a catalog model, whose mode
        -- llm_cost.models gives. Grouped by name first: few names, many calls.
        RETURN QUERY
        SELECT m.mode, sum(n.cost), sum(n.calls)::bigint, sum(n.input_tokens), sum(n.output_tokens),
               round(100 * sum(n.cost) / nullif(sum(sum(n.cost)) OVER (), 0), 2)
          FROM (SELECT f.provider, f.model, sum(f.cost) AS cost, sum(f.calls) AS calls,
                       sum(f.input_tokens) AS input_tokens, sum(f.output_tokens) AS output_tokens
                  FROM llm_cost.usage_facts(from_time, to_time) AS f
                 GROUP BY f.provider, f.model) AS n
          LEFT JOIN LATERAL llm_cost.resolve_model(n.provider, n.model) AS r ON true
          LEFT JOIN llm_cost.models AS m ON m.provider = r.resolved_provider AND m.model = r.resolved_model
         GROUP BY m.mode
        HAVING sum(n.calls) > 0
         ORDER BY 2 DESC, 1;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT f.%1$I, sum(f.cost), sum(f.calls)::bigint, sum(f.input_tokens), sum(f.output_tokens),
                round(100 * sum(f.cost) / nullif(sum(sum(f.cost)) OVER (), 0), 2)
           FROM llm_cost.usage_facts($1, $2) AS f
          GROUP BY f.%1$I
         HAVING sum(f.calls) > 0
          ORDER BY 2 DESC, 1', dimension)
    USING from_time, to_time;
END $$;
COMMENT ON FUNCTION llm_cost.cost_by(text, timestamptz, timestamptz) IS
  'Cost per value of one dimension (provider, model, tenant_id, project_id, user_id, agent_id, operation, or mode: the kind of call, chat, embedding, image_generation, ..., from llm_cost.models) in [from_time, to_time), with its share of the total in percent; most expensive first. NULL value: calls without that dimension (for mode: models the catalog does not know).';

CREATE OR REPLACE VIEW llm_cost.usage_export WITH (security_invoker = true) AS
SELECT u.id, to_char(u.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
       u.provider, u.model, u.service_tier, u.input_tokens, u.output_tokens, u.cached_input_tokens,
       u.cache_write_tokens, u.reasoning_tokens, u.cost, u.currency, u.latency_ms, u.success, u.error_type,
       u.tenant_id, u.project_id, u.user_id, u.agent_id, u.session_id, u.execution_id, u.operation,
       u.tags::text AS tags, u.units::text AS units
  FROM llm_cost.usage AS u;
COMMENT ON VIEW llm_cost.usage_export IS
  'One row per call in a stable column order with ISO 8601 UTC timestamps and exact decimal costs, for COPY (SELECT * FROM llm_cost.usage_export WHERE ...) TO STDOUT WITH CSV HEADER. units: the call''s charges beyond tokens as JSON text (docs/charges.md).';

