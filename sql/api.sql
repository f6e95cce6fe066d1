-- llm_cost SQL surface over the Rust pricing core: triggers, custom prices,
-- imports, repricing and the pricing views. Loaded after the Rust functions.

---------------------------------------------------------------------------
-- Triggers
---------------------------------------------------------------------------

-- Any change to prices or aliases makes every backend's in-memory catalog stale
-- (see src/catalog_cache.rs).
CREATE TRIGGER prices_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON llm_cost.prices
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost.catalog_changed();
CREATE TRIGGER model_aliases_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON llm_cost.model_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost.catalog_changed();
CREATE TRIGGER provider_aliases_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON llm_cost.provider_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost.catalog_changed();
CREATE TRIGGER models_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON llm_cost.models
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost.catalog_changed();
COMMENT ON FUNCTION llm_cost.catalog_changed() IS
  'Trigger: tells every backend that its cached price catalog is stale.';

-- Prices every inserted usage row (written in Rust against the raw tuple).
CREATE FUNCTION llm_cost.usage_before_insert() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'usage_before_insert';
COMMENT ON FUNCTION llm_cost.usage_before_insert() IS
  'Trigger: normalises raw_usage into the token columns, validates them and prices the row when cost is NULL.';
CREATE TRIGGER usage_price
    BEFORE INSERT ON llm_cost.usage
    FOR EACH ROW EXECUTE FUNCTION llm_cost.usage_before_insert();

-- Rows still waiting for a price: reprice() scans only these.
CREATE INDEX usage_unpriced ON llm_cost.usage (occurred_at) WHERE cost IS NULL;

---------------------------------------------------------------------------
-- Custom prices
---------------------------------------------------------------------------

-- Raises 22023 unless every named price is NULL or a finite, non-negative number.
CREATE FUNCTION llm_cost._check_prices(prices jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT key, value FROM jsonb_each_text(prices) LOOP
        IF NOT llm_cost.is_valid_amount(p.value::numeric) THEN
            RAISE EXCEPTION 'llm_cost: % must be a finite, non-negative number (got %)', p.key, p.value
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
END $$;

-- Why pricing could not hold one price row's amounts exactly, or NULL when it
-- can. Pricing (src/decimal.rs) keeps a call's cost in an i128 at the largest
-- scale among the row's amounts and ignores an amount with more than 30
-- decimal places: such a row would be stored but ignored, or make every call
-- of its model fail. 10^29 leaves room for calls of a billion tokens. Found by
-- the importer fuzz test (tests/import_fuzz.rs, corpus bug-*.json).
CREATE FUNCTION llm_cost._unpriceable(amounts numeric[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN r.largest >= 1e15 THEN
                   format('a price of %s per million tokens is not below 10^15', ltrim(to_char(r.largest, '9.9EEEE')))
               WHEN r.decimals > 30 THEN
                   format('a price has %s decimal places (at most 30)', r.decimals)
               WHEN r.largest * ('1e' || r.decimals)::numeric >= 1e29 THEN
                   format('its largest price (%s) written with as many decimal places as its most precise one (%s) has more than 29 digits',
                          r.largest, r.decimals)
           END
      FROM (SELECT max(a) AS largest, max(scale(trim_scale(a))) AS decimals FROM unnest(amounts) AS a) AS r
$$;
COMMENT ON FUNCTION llm_cost._unpriceable(numeric[]) IS
  'Internal: why pricing could not hold a price row''s amounts exactly (NULL when it can).';

CREATE FUNCTION llm_cost.set_price(
    provider text,
    model text,
    input_per_mtok numeric,
    output_per_mtok numeric,
    cache_read_per_mtok numeric DEFAULT NULL,
    cache_write_per_mtok numeric DEFAULT NULL,
    reasoning_per_mtok numeric DEFAULT NULL,
    valid_from timestamptz DEFAULT now(),
    service_tier text DEFAULT 'standard',
    tier_threshold_tokens bigint DEFAULT NULL,
    input_per_mtok_above_tier numeric DEFAULT NULL,
    output_per_mtok_above_tier numeric DEFAULT NULL,
    cache_read_per_mtok_above_tier numeric DEFAULT NULL,
    cache_write_per_mtok_above_tier numeric DEFAULT NULL,
    per_request numeric DEFAULT NULL,
    currency text DEFAULT 'USD',
    source text DEFAULT 'custom',
    off_peak_input_per_mtok numeric DEFAULT NULL,
    off_peak_output_per_mtok numeric DEFAULT NULL,
    off_peak_cache_read_per_mtok numeric DEFAULT NULL,
    off_peak_windows jsonb DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
    problem text;
    windows jsonb;
BEGIN
    IF coalesce(btrim(provider), '') = '' OR coalesce(btrim(model), '') = '' THEN
        RAISE EXCEPTION 'llm_cost.set_price: provider and model must be non-empty (got provider %, model %)',
            coalesce(quote_literal(provider), 'NULL'), coalesce(quote_literal(model), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF input_per_mtok IS NULL OR output_per_mtok IS NULL THEN
        RAISE EXCEPTION 'llm_cost.set_price: input_per_mtok and output_per_mtok are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF valid_from IS NULL OR valid_from = 'infinity' THEN
        RAISE EXCEPTION 'llm_cost.set_price: valid_from must be a time or -infinity (got %)', coalesce(valid_from::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF service_tier IS NULL OR NOT llm_cost.is_service_tier(service_tier) THEN
        RAISE EXCEPTION 'llm_cost.set_price: unknown service_tier %; expected standard, batch, flex or priority',
            coalesce(quote_literal(service_tier), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF currency IS NULL OR currency !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'llm_cost.set_price: currency must be a three-letter ISO 4217 code such as USD (got %)',
            coalesce(quote_literal(currency), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM llm_cost._check_prices(jsonb_strip_nulls(jsonb_build_object(
        'input_per_mtok', input_per_mtok, 'output_per_mtok', output_per_mtok,
        'cache_read_per_mtok', cache_read_per_mtok, 'cache_write_per_mtok', cache_write_per_mtok,
        'reasoning_per_mtok', reasoning_per_mtok,
        'input_per_mtok_above_tier', input_per_mtok_above_tier,
        'output_per_mtok_above_tier', output_per_mtok_above_tier,
        'cache_read_per_mtok_above_tier', cache_read_per_mtok_above_tier,
        'cache_write_per_mtok_above_tier', cache_write_per_mtok_above_tier,
        'per_request', per_request,
        'off_peak_input_per_mtok', off_peak_input_per_mtok, 'off_peak_output_per_mtok', off_peak_output_per_mtok,
        'off_peak_cache_read_per_mtok', off_peak_cache_read_per_mtok)));
    problem := llm_cost._unpriceable(ARRAY[input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok,
                                           reasoning_per_mtok, input_per_mtok_above_tier, output_per_mtok_above_tier,
                                           cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier, per_request,
                                           off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok]);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost.set_price: % cannot be priced exactly: %', model, problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Prices per million tokens must be below 10^15 with at most 30 decimal places, and a row''s largest price written with as many decimal places as its most precise one must have at most 29 digits.';
    END IF;
    IF octet_length(provider) > 1000 OR octet_length(model) > 1000 THEN
        RAISE EXCEPTION 'llm_cost.set_price: provider and model must be at most 1000 bytes'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tier_threshold_tokens IS NOT NULL AND (tier_threshold_tokens <= 0 OR input_per_mtok_above_tier IS NULL) THEN
        RAISE EXCEPTION 'llm_cost.set_price: tier_threshold_tokens must be positive and comes with input_per_mtok_above_tier'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Time-of-day prices: windows, off-peak input and output come together.
    IF (off_peak_windows IS NULL) <> (off_peak_input_per_mtok IS NULL)
       OR (off_peak_windows IS NULL) <> (off_peak_output_per_mtok IS NULL)
       OR (off_peak_windows IS NULL AND off_peak_cache_read_per_mtok IS NOT NULL) THEN
        RAISE EXCEPTION 'llm_cost.set_price: off-peak prices need off_peak_windows, off_peak_input_per_mtok and off_peak_output_per_mtok together (off_peak_cache_read_per_mtok is optional)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off_peak_windows IS NOT NULL AND tier_threshold_tokens IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost.set_price: a price cannot have both off-peak windows and a long-context tier (tier_threshold_tokens)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off_peak_windows IS NOT NULL THEN
        windows := llm_cost._off_peak_windows(off_peak_windows, 'llm_cost.set_price');
    END IF;

    INSERT INTO llm_cost.prices AS p (
        provider, model, service_tier, valid_from,
        input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, reasoning_per_mtok,
        tier_threshold_tokens, input_per_mtok_above_tier, output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
        per_request, currency, source, verified_at,
        off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows)
    VALUES (
        lower(btrim(set_price.provider)), btrim(set_price.model), set_price.service_tier, set_price.valid_from,
        set_price.input_per_mtok, set_price.output_per_mtok, set_price.cache_read_per_mtok,
        set_price.cache_write_per_mtok, set_price.reasoning_per_mtok,
        set_price.tier_threshold_tokens, set_price.input_per_mtok_above_tier, set_price.output_per_mtok_above_tier,
        set_price.cache_read_per_mtok_above_tier, set_price.cache_write_per_mtok_above_tier,
        set_price.per_request, set_price.currency, set_price.source, now(),
        set_price.off_peak_input_per_mtok, set_price.off_peak_output_per_mtok, set_price.off_peak_cache_read_per_mtok,
        windows)
    ON CONFLICT ON CONSTRAINT prices_key DO UPDATE SET
        input_per_mtok = excluded.input_per_mtok,
        output_per_mtok = excluded.output_per_mtok,
        cache_read_per_mtok = excluded.cache_read_per_mtok,
        cache_write_per_mtok = excluded.cache_write_per_mtok,
        reasoning_per_mtok = excluded.reasoning_per_mtok,
        tier_threshold_tokens = excluded.tier_threshold_tokens,
        input_per_mtok_above_tier = excluded.input_per_mtok_above_tier,
        output_per_mtok_above_tier = excluded.output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier = excluded.cache_read_per_mtok_above_tier,
        cache_write_per_mtok_above_tier = excluded.cache_write_per_mtok_above_tier,
        per_request = excluded.per_request,
        currency = excluded.currency,
        source = excluded.source,
        verified_at = excluded.verified_at,
        off_peak_input_per_mtok = excluded.off_peak_input_per_mtok,
        off_peak_output_per_mtok = excluded.off_peak_output_per_mtok,
        off_peak_cache_read_per_mtok = excluded.off_peak_cache_read_per_mtok,
        off_peak_windows = excluded.off_peak_windows
    RETURNING p.id INTO new_id;
    RETURN new_id;
END $$;
COMMENT ON FUNCTION llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric, numeric, numeric, numeric, numeric, text, text, numeric, numeric, numeric, jsonb) IS
  'Sets a custom price (per million tokens) in force from valid_from; replaces the row with the same provider, model, service tier and valid_from. Time-of-day prices: off_peak_input_per_mtok, off_peak_output_per_mtok (and optionally off_peak_cache_read_per_mtok) apply to calls inside off_peak_windows, e.g. ''[{"hours_utc": ["16:30-00:00"], "weekdays": [1,2,3,4,5]}]'' (hours UTC, ISO weekdays, optional weekday_timezone). Returns the row id.';

---------------------------------------------------------------------------
-- Importing a LiteLLM price list
---------------------------------------------------------------------------

-- One LiteLLM per-token field as a per-million price, exact: jsonb numbers are
-- numeric, so 2.5e-06 becomes exactly 2.5. A service-tier field (suffix
-- _batches, _flex, _priority) falls back to the standard field.
CREATE FUNCTION llm_cost._litellm_per_mtok(entry jsonb, field text, suffix text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN trim_scale((coalesce(entry -> (field || suffix), entry -> field) #>> '{}')::numeric * 1000000);

-- The price rows a LiteLLM document describes: one per chat/completion/responses
-- model and service tier. scripts/gen_catalog.py applies the same rules to build
-- sql/catalog.sql; a test checks that the two agree.
CREATE FUNCTION llm_cost.litellm_price_rows(catalog jsonb)
RETURNS TABLE (
    provider text, model text, service_tier text,
    input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric, cache_write_per_mtok numeric, reasoning_per_mtok numeric,
    tier_threshold_tokens bigint,
    input_per_mtok_above_tier numeric, output_per_mtok_above_tier numeric,
    cache_read_per_mtok_above_tier numeric, cache_write_per_mtok_above_tier numeric,
    per_request numeric,
    off_peak_input_per_mtok numeric, off_peak_output_per_mtok numeric,
    off_peak_cache_read_per_mtok numeric, off_peak_windows jsonb)
LANGUAGE sql STABLE AS $$
    WITH entries AS (
        SELECT DISTINCT ON (provider, model)
               e.key, e.value AS entry, provider, model
          FROM jsonb_each(catalog) AS e,
               LATERAL (SELECT e.value ->> 'litellm_provider' AS litellm_provider) AS lp,
               LATERAL (SELECT lower(btrim(lp.litellm_provider)) AS provider,
                               starts_with(e.key, lp.litellm_provider || '/') AS prefixed) AS p,
               LATERAL (SELECT CASE WHEN p.prefixed THEN substr(e.key, length(lp.litellm_provider) + 2)
                                    ELSE e.key END AS model) AS m
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND coalesce(lp.litellm_provider, '') <> ''
           AND (jsonb_typeof(e.value -> 'input_cost_per_token') = 'number'
                OR jsonb_typeof(e.value -> 'output_cost_per_token') = 'number')
         -- "deepseek/deepseek-chat" and "deepseek-chat" name one model: the prefixed key wins.
         ORDER BY provider, model, p.prefixed DESC
    ), tiered AS (
        SELECT entries.*, t.service_tier, t.suffix,
               (SELECT min(m[1]::bigint)
                  FROM jsonb_object_keys(entry) AS k,
                       regexp_match(k, '^input_cost_per_token_above_(\d+)k_tokens$') AS m) AS tier_k
          FROM entries
          CROSS JOIN (VALUES ('standard', '', 1), ('batch', '_batches', 2), ('flex', '_flex', 3), ('priority', '_priority', 4))
                  AS t (service_tier, suffix, ord)
         WHERE t.suffix = ''
            OR entry ? ('input_cost_per_token' || t.suffix)
            OR entry ? ('output_cost_per_token' || t.suffix)
    )
    SELECT provider, model, service_tier,
           coalesce(llm_cost._litellm_per_mtok(entry, 'input_cost_per_token', suffix), 0),
           coalesce(llm_cost._litellm_per_mtok(entry, 'output_cost_per_token', suffix), 0),
           llm_cost._litellm_per_mtok(entry, 'cache_read_input_token_cost', suffix),
           llm_cost._litellm_per_mtok(entry, 'cache_creation_input_token_cost', suffix),
           llm_cost._litellm_per_mtok(entry, 'output_cost_per_reasoning_token', suffix),
           tier_k * 1000,
           llm_cost._litellm_per_mtok(entry, format('input_cost_per_token_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('output_cost_per_token_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('cache_read_input_token_cost_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('cache_creation_input_token_cost_above_%sk_tokens', tier_k), suffix),
           trim_scale((entry ->> 'input_cost_per_request')::numeric),
           -- off_peak_pricing (DeepSeek's time-of-day prices) prices the standard tier
           CASE WHEN op.windows IS NOT NULL THEN
               coalesce(llm_cost._litellm_per_mtok(op.prices, 'input_cost_per_token', ''),
                        llm_cost._litellm_per_mtok(entry, 'input_cost_per_token', ''), 0) END,
           CASE WHEN op.windows IS NOT NULL THEN
               coalesce(llm_cost._litellm_per_mtok(op.prices, 'output_cost_per_token', ''),
                        llm_cost._litellm_per_mtok(entry, 'output_cost_per_token', ''), 0) END,
           CASE WHEN op.windows IS NOT NULL THEN
               llm_cost._litellm_per_mtok(op.prices, 'cache_read_input_token_cost', '') END,
           op.windows
      FROM tiered,
           LATERAL (SELECT entry -> 'off_peak_pricing' AS prices,
                           CASE WHEN service_tier = 'standard' AND jsonb_typeof(entry -> 'off_peak_pricing') = 'object'
                                THEN llm_cost._off_peak_windows(entry -> 'off_peak_pricing',
                                                                format('LiteLLM entry "%s" off_peak_pricing', key))
                           END AS windows) AS op
     ORDER BY provider, model, service_tier
$$;
COMMENT ON FUNCTION llm_cost.litellm_price_rows(jsonb) IS
  'The price rows (per million tokens, exact) that a LiteLLM model_prices_and_context_window.json document describes, without storing them. An entry''s off_peak_pricing gives the standard row''s off-peak prices and windows (normalised).';

CREATE FUNCTION llm_cost.import_prices(catalog jsonb, source text DEFAULT 'litellm') RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    added integer;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) <> 'object' THEN
        RAISE EXCEPTION 'llm_cost.import_prices: expected a JSON object mapping model names to price entries (LiteLLM format), got %',
            coalesce(jsonb_typeof(catalog), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(btrim(source), '') = '' THEN
        RAISE EXCEPTION 'llm_cost.import_prices: source must be a non-empty name'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF catalog <> '{}' AND NOT EXISTS (
        SELECT FROM jsonb_each(catalog) AS e
         WHERE jsonb_typeof(e.value) = 'object' AND e.value ? 'litellm_provider') THEN
        RAISE EXCEPTION 'llm_cost.import_prices: the document is not a price list: no entry has a litellm_provider'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'pass the contents of LiteLLM''s model_prices_and_context_window.json';
    END IF;
    -- Every price field we read must be a number (or null); a string would be
    -- silently mispriced, so name the first offender.
    SELECT e.key AS model, f.key AS field, jsonb_typeof(f.value) AS type INTO bad
      FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f
     WHERE jsonb_typeof(e.value) = 'object'
       AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
       AND (f.key ~ '^(input|output)_cost_per_(token|reasoning_token|request)'
            OR f.key ~ '^cache_(read|creation)_input_token_cost')
       AND jsonb_typeof(f.value) NOT IN ('number', 'null')
     LIMIT 1;
    IF NOT FOUND THEN
        SELECT e.key AS model, 'off_peak_pricing.' || f.key AS field, jsonb_typeof(f.value) AS type INTO bad
          FROM jsonb_each(catalog) AS e, jsonb_each(e.value -> 'off_peak_pricing') AS f
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND jsonb_typeof(e.value -> 'off_peak_pricing') = 'object'
           AND f.key IN ('input_cost_per_token', 'output_cost_per_token', 'cache_read_input_token_cost')
           AND jsonb_typeof(f.value) NOT IN ('number', 'null')
         LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        SELECT e.key AS model, 'off_peak_pricing' AS field, jsonb_typeof(e.value -> 'off_peak_pricing') AS type INTO bad
          FROM jsonb_each(catalog) AS e
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND jsonb_typeof(e.value -> 'off_peak_pricing') NOT IN ('object', 'null')
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field off_peak_pricing must be an object with windows, got %', bad.model, bad.type
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % must be a number, got %', bad.model, bad.field, bad.type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT e.key AS model, f.key AS field, f.value #>> '{}' AS value INTO bad
      FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f
     WHERE jsonb_typeof(e.value) = 'object'
       AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
       AND jsonb_typeof(f.value) = 'number' AND (f.value #>> '{}')::numeric < 0
       AND (f.key ~ '^(input|output)_cost_per_' OR f.key ~ '^cache_(read|creation)_input_token_cost')
     LIMIT 1;
    IF NOT FOUND THEN
        SELECT e.key AS model, 'off_peak_pricing.' || f.key AS field, f.value #>> '{}' AS value INTO bad
          FROM jsonb_each(catalog) AS e, jsonb_each(e.value -> 'off_peak_pricing') AS f
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND jsonb_typeof(e.value -> 'off_peak_pricing') = 'object'
           AND jsonb_typeof(f.value) = 'number' AND (f.value #>> '{}')::numeric < 0
           AND f.key IN ('input_cost_per_token', 'output_cost_per_token', 'cache_read_input_token_cost')
         LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % must not be negative (got %)', bad.model, bad.field, bad.value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF to_regclass('pg_temp.llm_cost_import') IS NOT NULL THEN   -- (IF EXISTS would NOTICE without a temp schema)
        DROP TABLE pg_temp.llm_cost_import;
    END IF;
    CREATE TEMP TABLE llm_cost_import ON COMMIT DROP AS
        SELECT * FROM llm_cost.litellm_price_rows(catalog);
    -- Names go into the prices_key index: keep them well inside its size limit.
    SELECT i.provider, i.model INTO bad
      FROM pg_temp.llm_cost_import AS i
     WHERE octet_length(i.provider) > 1000 OR octet_length(i.model) > 1000
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: provider "%" or model "%" is longer than 1000 bytes',
            left(bad.provider, 40), left(bad.model, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A row pricing could not hold exactly would be stored but ignored, or
    -- make every call of its model fail (see _unpriceable).
    SELECT i.provider, i.model, i.service_tier, u.problem INTO bad
      FROM pg_temp.llm_cost_import AS i,
           LATERAL (SELECT llm_cost._unpriceable(ARRAY[i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok,
                                                       i.cache_write_per_mtok, i.reasoning_per_mtok,
                                                       i.input_per_mtok_above_tier, i.output_per_mtok_above_tier,
                                                       i.cache_read_per_mtok_above_tier,
                                                       i.cache_write_per_mtok_above_tier, i.per_request,
                                                       i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
                                                       i.off_peak_cache_read_per_mtok]) AS problem) AS u
     WHERE u.problem IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: model "%" of provider "%" (% tier) cannot be priced exactly: %',
            bad.model, bad.provider, bad.service_tier, bad.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Prices per million tokens must be below 10^15 with at most 30 decimal places, and a row''s largest price written with as many decimal places as its most precise one must have at most 29 digits.';
    END IF;
    SELECT i.provider, i.model INTO bad
      FROM pg_temp.llm_cost_import AS i
     WHERE i.off_peak_windows IS NOT NULL AND i.tier_threshold_tokens IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: model "%" of provider "%" has both off_peak_pricing and a long-context tier, which llm_cost cannot combine',
            bad.model, bad.provider
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Prices that match the row in force are confirmed, not duplicated.
    UPDATE llm_cost.prices AS p SET verified_at = now()
      FROM llm_cost.current_prices AS c
      JOIN pg_temp.llm_cost_import AS i USING (provider, model, service_tier)
     WHERE p.id = c.id
       AND (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
            i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
            i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier,
            i.cache_write_per_mtok_above_tier, i.per_request, i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
            i.off_peak_cache_read_per_mtok, i.off_peak_windows)
           IS NOT DISTINCT FROM
           (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
            c.reasoning_per_mtok, c.tier_threshold_tokens, c.input_per_mtok_above_tier,
            c.output_per_mtok_above_tier, c.cache_read_per_mtok_above_tier,
            c.cache_write_per_mtok_above_tier, c.per_request, c.off_peak_input_per_mtok, c.off_peak_output_per_mtok,
            c.off_peak_cache_read_per_mtok, c.off_peak_windows);

    INSERT INTO llm_cost.prices AS p (
        provider, model, service_tier, valid_from, input_per_mtok, output_per_mtok, cache_read_per_mtok,
        cache_write_per_mtok, reasoning_per_mtok, tier_threshold_tokens, input_per_mtok_above_tier,
        output_per_mtok_above_tier, cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
        per_request, currency, source, verified_at,
        off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows)
    SELECT i.provider, i.model, i.service_tier, now(), i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok,
           i.cache_write_per_mtok, i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
           i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier,
           i.per_request, 'USD', import_prices.source, now(),
           i.off_peak_input_per_mtok, i.off_peak_output_per_mtok, i.off_peak_cache_read_per_mtok, i.off_peak_windows
      FROM pg_temp.llm_cost_import AS i
      LEFT JOIN llm_cost.current_prices AS c USING (provider, model, service_tier)
     WHERE c.id IS NULL
        OR (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
            i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
            i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier,
            i.cache_write_per_mtok_above_tier, i.per_request, i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
            i.off_peak_cache_read_per_mtok, i.off_peak_windows)
           IS DISTINCT FROM
           (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
            c.reasoning_per_mtok, c.tier_threshold_tokens, c.input_per_mtok_above_tier,
            c.output_per_mtok_above_tier, c.cache_read_per_mtok_above_tier,
            c.cache_write_per_mtok_above_tier, c.per_request, c.off_peak_input_per_mtok, c.off_peak_output_per_mtok,
            c.off_peak_cache_read_per_mtok, c.off_peak_windows)
    -- A second import in the same transaction (same now()) replaces that row.
    ON CONFLICT ON CONSTRAINT prices_key DO UPDATE SET
        input_per_mtok = excluded.input_per_mtok,
        output_per_mtok = excluded.output_per_mtok,
        cache_read_per_mtok = excluded.cache_read_per_mtok,
        cache_write_per_mtok = excluded.cache_write_per_mtok,
        reasoning_per_mtok = excluded.reasoning_per_mtok,
        tier_threshold_tokens = excluded.tier_threshold_tokens,
        input_per_mtok_above_tier = excluded.input_per_mtok_above_tier,
        output_per_mtok_above_tier = excluded.output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier = excluded.cache_read_per_mtok_above_tier,
        cache_write_per_mtok_above_tier = excluded.cache_write_per_mtok_above_tier,
        per_request = excluded.per_request,
        source = excluded.source,
        verified_at = excluded.verified_at,
        off_peak_input_per_mtok = excluded.off_peak_input_per_mtok,
        off_peak_output_per_mtok = excluded.off_peak_output_per_mtok,
        off_peak_cache_read_per_mtok = excluded.off_peak_cache_read_per_mtok,
        off_peak_windows = excluded.off_peak_windows;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END $$;
COMMENT ON FUNCTION llm_cost.import_prices(jsonb, text) IS
  'Loads a LiteLLM-format price file: adds a row dated now() for each (provider, model, service tier) whose price changed or is new (off_peak_pricing included), marks unchanged prices verified. Idempotent; returns rows added.';

---------------------------------------------------------------------------
-- Views
---------------------------------------------------------------------------

CREATE VIEW llm_cost.current_prices WITH (security_invoker = true) AS
SELECT DISTINCT ON (provider, model, service_tier) *
  FROM llm_cost.prices
 WHERE valid_from <= now()
 ORDER BY provider, model, service_tier, valid_from DESC;
COMMENT ON VIEW llm_cost.current_prices IS
  'The price in force now for each (provider, model, service tier).';

CREATE VIEW llm_cost.stale_prices WITH (security_invoker = true) AS
SELECT c.*,
       now() - c.verified_at AS unverified_for
  FROM llm_cost.current_prices AS c
 WHERE c.verified_at IS NULL
    OR c.verified_at < now() - coalesce(nullif(current_setting('llm_cost.price_stale_after', true), ''), '30 days')::interval;
COMMENT ON VIEW llm_cost.stale_prices IS
  'Prices in force whose verified_at is older than llm_cost.price_stale_after (default 30 days), or never verified.';

CREATE VIEW llm_cost.unpriced_usage WITH (security_invoker = true) AS
SELECT *
  FROM llm_cost.usage
 WHERE cost IS NULL;
COMMENT ON VIEW llm_cost.unpriced_usage IS
  'Usage rows kept without a price (no price for their model at the time); llm_cost.reprice() prices them once a price exists.';

-- Every (provider, model) the ledger holds and how it resolved: a fuzzy match
-- is never silent. One resolve_model() call per distinct name (memoised per
-- backend), at the name's newest call.
CREATE VIEW llm_cost.model_resolution WITH (security_invoker = true) AS
SELECT u.provider, u.model, u.calls, u.unpriced_calls, u.cost, u.first_call, u.last_call,
       r.method, r.rules, r.fine_tune, r.resolved_provider, r.resolved_model, r.price_id, r.reason
  FROM (SELECT provider, model, count(*) AS calls, count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls,
               sum(cost) AS cost, min(occurred_at) AS first_call, max(occurred_at) AS last_call
          FROM llm_cost.usage
         GROUP BY provider, model) AS u
  LEFT JOIN LATERAL llm_cost.resolve_model(u.provider, u.model, u.last_call) AS r ON true;
COMMENT ON VIEW llm_cost.model_resolution IS
  'Each distinct (provider, model) in the ledger (as the session may see it): its calls, unpriced calls and cost, and how the name resolves now: method (exact, case_insensitive, alias, variant, normalised, fine_tune, provider_prefix, provider_family, provider_sibling; NULL when unresolved), the rewrites applied (rules), the catalog model, the price row in force at its last call, or the reason there is none.';
COMMENT ON COLUMN llm_cost.model_resolution.calls IS 'Calls logged under this name.';
COMMENT ON COLUMN llm_cost.model_resolution.unpriced_calls IS 'Calls kept without a cost (see llm_cost.unpriced_usage and reprice()).';
COMMENT ON COLUMN llm_cost.model_resolution.cost IS 'Sum of the calls'' cost, each in its row''s currency.';
COMMENT ON COLUMN llm_cost.model_resolution.method IS 'How the name resolves (see llm_cost.resolve_model); NULL when it does not.';
COMMENT ON COLUMN llm_cost.model_resolution.rules IS 'Rewrites of the name that found the model: bedrock_arn, path, router_variant, region_prefix, bedrock_version, vertex_date, google_version, dotted_version, fireworks_path, fine_tune, fine_tune_base, chat_over_responses.';
COMMENT ON COLUMN llm_cost.model_resolution.price_id IS 'The llm_cost.prices row (standard tier) in force at the name''s last call; NULL when none.';
COMMENT ON COLUMN llm_cost.model_resolution.reason IS 'Why there is no price: e.g. a dated snapshot the catalog lacks while it has other snapshots of the model, an unknown provider, a :free variant with no free price.';

---------------------------------------------------------------------------
-- Repricing
---------------------------------------------------------------------------

CREATE FUNCTION llm_cost.reprice(from_time timestamptz DEFAULT '-infinity', to_time timestamptz DEFAULT 'infinity')
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
            src.cache_write_tokens, src.reasoning_tokens, src.occurred_at, src.service_tier) AS p
     WHERE u.id = src.id
       AND src.occurred_at >= from_time AND src.occurred_at < to_time
       AND (src.cost IS NULL OR src.price_id IS NOT NULL)
       AND (src.cost, src.price_id) IS DISTINCT FROM (p.cost, p.price_id);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$;
COMMENT ON FUNCTION llm_cost.reprice(timestamptz, timestamptz) IS
  'Prices usage rows in [from_time, to_time) again with the prices in force when each call occurred: fills rows left unpriced and corrects rows whose price changed. Rows whose cost the app supplied are kept. Returns rows changed.';

---------------------------------------------------------------------------
-- Comments on the functions written in Rust (src/sql_pricing.rs)
---------------------------------------------------------------------------
COMMENT ON FUNCTION llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text) IS
  'The exact cost of one call at time at (default now()) in the price''s currency; NULL when the model has no price. Tokens: input includes cached and cache-write tokens, output includes reasoning tokens.';
COMMENT ON FUNCTION llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text) IS
  'Each component of a call''s cost, the price row used, the service tier priced, and how the model name was resolved (resolution: method, the rewrites of the name as rules, fine_tune); when there is no price, cost and price are null and resolution.reason says why.';
COMMENT ON FUNCTION llm_cost.resolve_model(text, text, timestamptz) IS
  'How a (provider, model) as an app logged it resolves, without pricing a call: method (exact, case_insensitive, alias, variant, normalised, fine_tune, provider_prefix, provider_family, provider_sibling), rules (the rewrites of the name), fine_tune, the catalog provider and model, the standard price row in force at at; or NULLs and the reason. A dated name never resolves to a different snapshot.';
COMMENT ON FUNCTION llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text) IS
  'Prices one usage row: (cost, price_id, currency), all NULL when unpriced. Used by reprice().';
COMMENT ON FUNCTION llm_cost.catalog_load_count() IS
  'How many times this backend has loaded the price catalog into memory (diagnostics).';
COMMENT ON FUNCTION llm_cost._litellm_per_mtok(jsonb, text, text) IS
  'Internal: one LiteLLM per-token price field as an exact per-million price, with service-tier fallback.';
COMMENT ON FUNCTION llm_cost._off_peak_windows(jsonb, text) IS
  'Internal: off-peak windows (an array, or LiteLLM''s off_peak_pricing object) validated and normalised as llm_cost.prices stores them; raises 22023 naming the caller otherwise.';
COMMENT ON FUNCTION llm_cost._check_prices(jsonb) IS
  'Internal: raises 22023 unless every price in the object is NULL or finite and non-negative.';
