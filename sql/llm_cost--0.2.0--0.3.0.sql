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
