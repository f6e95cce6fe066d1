-- llm_cost SQL surface over the Rust pricing core: triggers, custom prices,
-- imports, repricing and the pricing views. Loaded after the Rust functions.

---------------------------------------------------------------------------
-- Triggers
---------------------------------------------------------------------------

-- Any change to prices or aliases makes every backend's in-memory catalog stale
-- (see src/pricing/catalog_cache.rs).
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
-- can. Pricing (src/pricing/decimal.rs) keeps a call's cost in an i128 at the largest
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

-- The one upsert of price rows, for set_price and import_prices (a new price
-- column is added here, and passed by both). The rows come column by column:
-- element i of each array is row i, inserted in that order. A row with the
-- key of one already stored (prices_key: provider, model, service tier,
-- valid_from) replaces its prices. Returns the ids of the rows written, in
-- order. keep_currency: a replaced row keeps its own currency instead of the
-- new row's (import_prices, whose rows are always USD, has always done so).
-- That choice is made in the SELECT, from the stored row, not in ON CONFLICT:
-- on Citus (prices is a reference table) the ON CONFLICT clause is sent to
-- every node without the function's parameters, and a parameter there failed
-- with "could not determine data type of parameter $1" (docs/scaling.md).
CREATE FUNCTION llm_cost._upsert_prices(
    provider text[], model text[], service_tier text[], valid_from timestamptz[],
    input_per_mtok numeric[], output_per_mtok numeric[], cache_read_per_mtok numeric[],
    cache_write_per_mtok numeric[], reasoning_per_mtok numeric[],
    tier_threshold_tokens bigint[], input_per_mtok_above_tier numeric[], output_per_mtok_above_tier numeric[],
    cache_read_per_mtok_above_tier numeric[], cache_write_per_mtok_above_tier numeric[],
    per_request numeric[], currency text[], source text[], verified_at timestamptz[],
    off_peak_input_per_mtok numeric[], off_peak_output_per_mtok numeric[], off_peak_cache_read_per_mtok numeric[],
    off_peak_windows jsonb[],
    cache_write_1h_per_mtok numeric[], audio_input_per_mtok numeric[], image_input_per_mtok numeric[],
    audio_output_per_mtok numeric[], image_output_per_mtok numeric[], unit_prices jsonb[],
    keep_currency boolean DEFAULT false)
RETURNS SETOF bigint
LANGUAGE sql AS $$
    INSERT INTO llm_cost.prices AS p (
        provider, model, service_tier, valid_from,
        input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, reasoning_per_mtok,
        tier_threshold_tokens, input_per_mtok_above_tier, output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
        per_request, currency, source, verified_at,
        off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows,
        cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok,
        image_output_per_mtok, unit_prices)
    SELECT n.provider, n.model, n.service_tier, n.valid_from, n.input_per_mtok, n.output_per_mtok,
           n.cache_read_per_mtok, n.cache_write_per_mtok, n.reasoning_per_mtok, n.tier_threshold_tokens,
           n.input_per_mtok_above_tier, n.output_per_mtok_above_tier, n.cache_read_per_mtok_above_tier,
           n.cache_write_per_mtok_above_tier, n.per_request,
           CASE WHEN keep_currency
                THEN coalesce((SELECT o.currency FROM llm_cost.prices AS o
                                WHERE (o.provider, o.model, o.service_tier, o.valid_from)
                                      = (n.provider, n.model, n.service_tier, n.valid_from)), n.currency)
                ELSE n.currency END,
           n.source, n.verified_at, n.off_peak_input_per_mtok, n.off_peak_output_per_mtok,
           n.off_peak_cache_read_per_mtok, n.off_peak_windows, n.cache_write_1h_per_mtok,
           n.audio_input_per_mtok, n.image_input_per_mtok, n.audio_output_per_mtok, n.image_output_per_mtok,
           n.unit_prices
      FROM unnest(provider, model, service_tier, valid_from,
                  input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, reasoning_per_mtok,
                  tier_threshold_tokens, input_per_mtok_above_tier, output_per_mtok_above_tier,
                  cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                  per_request, currency, source, verified_at,
                  off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows,
                  cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok,
                  image_output_per_mtok, unit_prices)
           AS n (provider, model, service_tier, valid_from,
                 input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, reasoning_per_mtok,
                 tier_threshold_tokens, input_per_mtok_above_tier, output_per_mtok_above_tier,
                 cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                 per_request, currency, source, verified_at,
                 off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows,
                 cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok,
                 image_output_per_mtok, unit_prices)
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
        off_peak_windows = excluded.off_peak_windows,
        cache_write_1h_per_mtok = excluded.cache_write_1h_per_mtok,
        audio_input_per_mtok = excluded.audio_input_per_mtok,
        image_input_per_mtok = excluded.image_input_per_mtok,
        audio_output_per_mtok = excluded.audio_output_per_mtok,
        image_output_per_mtok = excluded.image_output_per_mtok,
        unit_prices = excluded.unit_prices
    RETURNING p.id
$$;
COMMENT ON FUNCTION llm_cost._upsert_prices(text[], text[], text[], timestamptz[], numeric[], numeric[], numeric[], numeric[], numeric[], bigint[], numeric[], numeric[], numeric[], numeric[], numeric[], text[], text[], timestamptz[], numeric[], numeric[], numeric[], jsonb[], numeric[], numeric[], numeric[], numeric[], numeric[], jsonb[], boolean) IS
  'Internal: inserts price rows given column by column, replacing the prices of a row with the same provider, model, service tier and valid_from; returns their ids in order.';

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
    off_peak_windows jsonb DEFAULT NULL,
    cache_write_1h_per_mtok numeric DEFAULT NULL,
    audio_input_per_mtok numeric DEFAULT NULL,
    image_input_per_mtok numeric DEFAULT NULL,
    audio_output_per_mtok numeric DEFAULT NULL,
    image_output_per_mtok numeric DEFAULT NULL,
    unit_prices jsonb DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
    problem text;
    windows jsonb;
    per_unit jsonb;
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
        'off_peak_cache_read_per_mtok', off_peak_cache_read_per_mtok,
        'cache_write_1h_per_mtok', cache_write_1h_per_mtok,
        'audio_input_per_mtok', audio_input_per_mtok, 'image_input_per_mtok', image_input_per_mtok,
        'audio_output_per_mtok', audio_output_per_mtok, 'image_output_per_mtok', image_output_per_mtok)));
    problem := llm_cost._unpriceable(ARRAY[input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok,
                                           reasoning_per_mtok, input_per_mtok_above_tier, output_per_mtok_above_tier,
                                           cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier, per_request,
                                           off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok,
                                           cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok,
                                           audio_output_per_mtok, image_output_per_mtok]);
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
    -- Per-unit prices (docs/charges.md), validated and normalised as stored.
    IF set_price.unit_prices IS NOT NULL THEN
        per_unit := llm_cost._unit_prices(set_price.unit_prices, 'llm_cost.set_price');
    END IF;

    SELECT id INTO new_id
      FROM llm_cost._upsert_prices(
               provider => ARRAY[lower(btrim(set_price.provider))], model => ARRAY[btrim(set_price.model)],
               service_tier => ARRAY[set_price.service_tier], valid_from => ARRAY[set_price.valid_from],
               input_per_mtok => ARRAY[set_price.input_per_mtok], output_per_mtok => ARRAY[set_price.output_per_mtok],
               cache_read_per_mtok => ARRAY[set_price.cache_read_per_mtok],
               cache_write_per_mtok => ARRAY[set_price.cache_write_per_mtok],
               reasoning_per_mtok => ARRAY[set_price.reasoning_per_mtok],
               tier_threshold_tokens => ARRAY[set_price.tier_threshold_tokens],
               input_per_mtok_above_tier => ARRAY[set_price.input_per_mtok_above_tier],
               output_per_mtok_above_tier => ARRAY[set_price.output_per_mtok_above_tier],
               cache_read_per_mtok_above_tier => ARRAY[set_price.cache_read_per_mtok_above_tier],
               cache_write_per_mtok_above_tier => ARRAY[set_price.cache_write_per_mtok_above_tier],
               per_request => ARRAY[set_price.per_request], currency => ARRAY[set_price.currency],
               source => ARRAY[set_price.source], verified_at => ARRAY[now()],
               off_peak_input_per_mtok => ARRAY[set_price.off_peak_input_per_mtok],
               off_peak_output_per_mtok => ARRAY[set_price.off_peak_output_per_mtok],
               off_peak_cache_read_per_mtok => ARRAY[set_price.off_peak_cache_read_per_mtok],
               off_peak_windows => ARRAY[windows],
               cache_write_1h_per_mtok => ARRAY[set_price.cache_write_1h_per_mtok],
               audio_input_per_mtok => ARRAY[set_price.audio_input_per_mtok],
               image_input_per_mtok => ARRAY[set_price.image_input_per_mtok],
               audio_output_per_mtok => ARRAY[set_price.audio_output_per_mtok],
               image_output_per_mtok => ARRAY[set_price.image_output_per_mtok],
               unit_prices => ARRAY[per_unit]) AS id;
    RETURN new_id;
END $$;
COMMENT ON FUNCTION llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric, numeric, numeric, numeric, numeric, text, text, numeric, numeric, numeric, jsonb, numeric, numeric, numeric, numeric, numeric, jsonb) IS
  'Sets a custom price (per million tokens) in force from valid_from; replaces the row with the same provider, model, service tier and valid_from. Time-of-day prices: off_peak_input_per_mtok, off_peak_output_per_mtok (and optionally off_peak_cache_read_per_mtok) apply to calls inside off_peak_windows, e.g. ''[{"hours_utc": ["16:30-00:00"], "weekdays": [1,2,3,4,5]}]'' (hours UTC, ISO weekdays, optional weekday_timezone). Token subsets (cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok, image_output_per_mtok; NULL: the parent''s rate) and unit_prices, the price of one unit of each counted unit, e.g. ''{"web_search_queries": 0.01, "images": {"hd/1024x1792": 0.12, "default": 0.04}}'' (docs/charges.md). Returns the row id.';

---------------------------------------------------------------------------
-- Importing a LiteLLM price list
---------------------------------------------------------------------------

-- One LiteLLM per-token field as a per-million price, exact: jsonb numbers are
-- numeric, so 2.5e-06 becomes exactly 2.5. A service-tier field (suffix
-- _batches, _flex, _priority) falls back to the standard field when it is
-- absent or null (gen_catalog.py: _Reader.tiered).
CREATE FUNCTION llm_cost._litellm_per_mtok(entry jsonb, field text, suffix text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN trim_scale((coalesce(nullif(entry -> (field || suffix), 'null'), entry -> field) #>> '{}')::numeric * 1000000);

-- An input or output token price of a tier: _litellm_per_mtok, except that a
-- batch row the list gives no batch price for this field bills half the
-- standard one, the providers' batch rule (OpenAI, Azure Global Batch, Vertex
-- and Bedrock batch: 50% of input and output), as LiteLLM's batch calculator
-- applies it. gen_catalog.py: token_rate.
CREATE FUNCTION llm_cost._litellm_token_rate(entry jsonb, field text, suffix text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN suffix = '_batches' AND coalesce(jsonb_typeof(entry -> (field || suffix)), 'null') = 'null'
            THEN trim_scale(llm_cost._litellm_per_mtok(entry, field, '') / 2)
            ELSE llm_cost._litellm_per_mtok(entry, field, suffix) END;

-- One LiteLLM per-unit price field (docs/charges.md: images, seconds,
-- characters, queries, pages ...), exact and unscaled, with the same
-- service-tier fallback as _litellm_per_mtok.
CREATE FUNCTION llm_cost._litellm_per_unit(entry jsonb, field text, suffix text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN trim_scale((coalesce(nullif(entry -> (field || suffix), 'null'), entry -> field) #>> '{}')::numeric);

-- A unit price as unit_prices holds it: the flat price alone, or, when there
-- are selectors, the selectors with the flat price as their default.
CREATE FUNCTION llm_cost._with_selectors(flat numeric, selectors jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN selectors IS NULL OR selectors = '{}' THEN to_jsonb(flat)
            ELSE selectors || jsonb_strip_nulls(jsonb_build_object('default', flat)) END;

-- The LiteLLM per-unit price fields read in an entry of a mode, as (ord,
-- field, counted unit): per unit, the first field (by ord) with a price wins.
-- gen_catalog.py: UNIT_FIELDS and unit_fields_for; change both together.
-- input_cost_per_second is a call's audio only for transcription and realtime
-- (in chat entries it is Bedrock's provisioned throughput per second);
-- output_cost_per_second is speech generated (audio_speech) or video
-- generated (video_generation), never charged for transcription (LiteLLM
-- restates the input rate there); input_cost_per_video_per_second is video
-- given as input, so not read in video_generation.
CREATE FUNCTION llm_cost._litellm_unit_fields(mode text)
RETURNS TABLE (ord integer, field text, unit text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT f.ord, f.field, f.unit
      FROM (VALUES (1, 'google_maps_grounding_cost_per_query', 'maps_queries', NULL::text[]),
                   (2, 'output_cost_per_image', 'images', NULL),
                   (3, 'input_cost_per_image', 'input_images', NULL),
                   (4, 'input_cost_per_second', 'audio_seconds', ARRAY['audio_transcription', 'realtime']),
                   (5, 'input_cost_per_audio_per_second', 'audio_seconds', NULL),
                   (6, 'output_cost_per_second', 'output_audio_seconds', ARRAY['audio_speech']),
                   (7, 'output_cost_per_second', 'video_seconds', ARRAY['video_generation']),
                   (8, 'output_cost_per_video_per_second', 'video_seconds', ARRAY['video_generation']),
                   (9, 'input_cost_per_video_per_second', 'video_seconds',
                    ARRAY['chat', 'completion', 'responses', 'embedding', 'image_generation', 'image_edit',
                          'audio_transcription', 'audio_speech', 'rerank', 'realtime',
                          'search', 'ocr', 'moderation']),
                   (10, 'input_cost_per_character', 'characters', NULL),
                   (11, 'input_cost_per_query', 'queries', NULL),
                   (12, 'ocr_cost_per_page', 'pages', NULL),
                   -- transcription is billed on input audio; Soniox lists its only price here
                   (13, 'output_cost_per_second', 'audio_seconds', ARRAY['audio_transcription'])) AS f (ord, field, unit, modes)
     WHERE f.modes IS NULL OR mode = ANY (f.modes)
     ORDER BY f.ord
$$;

-- output_cost_per_image_<R> (1K, 0.5K, 1024, ...): an image price by
-- resolution (not ..._token, not a bare tier suffix). gen_catalog.py: IMAGE_RES_RE.
CREATE FUNCTION llm_cost._litellm_image_resolution(field text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (regexp_match(field, '^output_cost_per_image_(?!token)(?!(?:batches|flex|priority)$)(.+)$'))[1];

-- Whether an entry has a price a row can hold, so that it is a model: a token
-- price, a token-subset price or a unit price of its mode (any number, 0
-- included), a search_context_cost_per_query object, or a field pricing
-- images (or, in video_generation, video) by resolution. gen_catalog.py: has_price.
CREATE FUNCTION llm_cost._litellm_has_price(entry jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT FROM unnest(ARRAY['input_cost_per_token', 'output_cost_per_token',
                                            'cache_creation_input_token_cost_above_1hr', 'input_cost_per_audio_token',
                                            'input_cost_per_image_token', 'output_cost_per_audio_token',
                                            'output_cost_per_image_token']) AS f (field)
                    WHERE jsonb_typeof(entry -> f.field) = 'number')
        OR EXISTS (SELECT FROM llm_cost._litellm_unit_fields(entry ->> 'mode') AS f
                    WHERE jsonb_typeof(entry -> f.field) = 'number')
        OR jsonb_typeof(entry -> 'search_context_cost_per_query') = 'object'
        OR EXISTS (SELECT FROM jsonb_object_keys(entry) AS k
                    WHERE llm_cost._litellm_image_resolution(k) IS NOT NULL
                       OR (entry ->> 'mode' = 'video_generation' AND k ~ '^output_cost_per_second_[0-9]+[pPkK]$'))
$$;

-- Whether an image-generation entry's input_cost_per_image is its price per
-- generated image: LiteLLM writes it so when the entry has no output-side
-- price at all (xai/grok-imagine-image: $0.02 per generated image; the
-- gpt-image-1.5 size entries). gen_catalog.py: images_priced_as_input.
CREATE FUNCTION llm_cost._litellm_images_priced_as_input(entry jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT entry ->> 'mode' IN ('image_generation', 'image_edit')
       AND jsonb_typeof(entry -> 'input_cost_per_image') = 'number'
       AND NOT EXISTS (SELECT FROM jsonb_object_keys(entry) AS k
                        WHERE k = 'output_cost_per_image' OR llm_cost._litellm_image_resolution(k) IS NOT NULL)
       AND NOT EXISTS (SELECT FROM unnest(ARRAY['output_cost_per_token', 'output_cost_per_image_token',
                                                'output_cost_per_pixel']) AS f (field)
                        WHERE CASE WHEN jsonb_typeof(entry -> f.field) = 'number' THEN (entry ->> f.field)::numeric > 0 END)
$$;

-- The unit_prices one LiteLLM entry gives one service tier (suffix), as the
-- table "Mapping from LiteLLM's price list" in docs/charges.md says, not yet
-- normalised (llm_cost._unit_prices does that); NULL when it has none.
-- gen_catalog.py: unit_prices_of, and images_with_sizes for images_by_size:
-- the selectors of the <quality>/<W>-x-<H>/<model> entries of this model
-- (see litellm_price_rows), NULL when it has none. With them, the model's own
-- per-image price is the default, else the selector the provider's API uses
-- when a call names no size (dall-e-3 standard/1024x1024, dall-e-2 1024x1024,
-- Bedrock SDXL 1.0 1024x1024: gen_catalog.py IMAGE_DEFAULTS).
CREATE FUNCTION llm_cost._litellm_unit_prices(entry jsonb, suffix text, provider text, model text, images_by_size jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH plain AS (
        -- Per unit, the first field with a price (a price of 0 gives way to a
        -- later one above 0: gen_catalog.py unit_prices_of); input_cost_per_image prices
        -- generated images where _litellm_images_priced_as_input says so.
        SELECT jsonb_object_agg(u.unit, u.price) AS up
          FROM (SELECT DISTINCT ON (x.unit) x.unit, x.price
                  FROM llm_cost._litellm_unit_fields(entry ->> 'mode') AS f,
                       LATERAL (SELECT CASE WHEN f.field = 'input_cost_per_image'
                                             AND llm_cost._litellm_images_priced_as_input(entry)
                                            THEN 'images' ELSE f.unit END AS unit,
                                       llm_cost._litellm_per_unit(entry, f.field, suffix) AS price) AS x
                 WHERE x.price IS NOT NULL
                 ORDER BY x.unit, x.price = 0, f.ord) AS u
    ), f AS (
        SELECT coalesce(plain.up, '{}') AS up,
               -- search_context_cost_per_query {search_context_size_low, _medium, _high} (no tier variant)
               (SELECT jsonb_object_agg(s.size, search -> ('search_context_size_' || s.size))
                  FROM unnest(ARRAY['low', 'medium', 'high']) AS s (size)
                 WHERE jsonb_typeof(search -> ('search_context_size_' || s.size)) = 'number') AS search_sizes,
               -- output_cost_per_image_<R> -> selector <r> (of two spellings the later field, as text)
               (SELECT jsonb_object_agg(lower(r.res), r.price ORDER BY r.k COLLATE "C")
                  FROM jsonb_object_keys(entry) AS k,
                       LATERAL (SELECT k, llm_cost._litellm_image_resolution(k) AS res,
                                       llm_cost._litellm_per_unit(entry, k, suffix) AS price) AS r
                 WHERE r.res IS NOT NULL AND r.price IS NOT NULL) AS image_resolutions,
               -- output_cost_per_second_<res> (720p, 1080p, 4k, ...) -> selector <res>, video_generation only
               (SELECT jsonb_object_agg(lower(r.res), r.price ORDER BY r.k COLLATE "C")
                  FROM jsonb_object_keys(entry) AS k,
                       LATERAL (SELECT k, (regexp_match(k, '^output_cost_per_second_([0-9]+[pPkK])$'))[1] AS res,
                                       llm_cost._litellm_per_unit(entry, k, suffix) AS price) AS r
                 WHERE entry ->> 'mode' = 'video_generation' AND r.res IS NOT NULL AND r.price IS NOT NULL) AS video_resolutions
          FROM plain,
               (SELECT CASE WHEN jsonb_typeof(entry -> 'search_context_cost_per_query') = 'object'
                            THEN entry -> 'search_context_cost_per_query' END AS search) AS s
    ), img AS (
        SELECT f.*, llm_cost._with_selectors((f.up ->> 'images')::numeric, f.image_resolutions) AS images
          FROM f
    ), sized AS (
        -- images_with_sizes: the entry's images (a flat price is the default), then each size selector
        SELECT img.*,
               CASE WHEN images_by_size IS NULL OR images_by_size = '{}' THEN img.images
                    ELSE images_by_size || CASE jsonb_typeof(img.images)
                                               WHEN 'object' THEN img.images
                                               WHEN 'number' THEN jsonb_build_object('default', img.images)
                                               ELSE '{}' END END AS with_sizes
          FROM img
    )
    SELECT nullif(jsonb_strip_nulls(
               up
               || jsonb_build_object(
                      'images', CASE WHEN jsonb_typeof(with_sizes) = 'object' AND NOT with_sizes ? 'default'
                                     THEN with_sizes || coalesce(
                                              (SELECT jsonb_build_object('default', with_sizes -> d.selector)
                                                 FROM unnest(CASE model
                                                                 WHEN 'dall-e-3' THEN ARRAY['standard/1024x1024']
                                                                 WHEN 'dall-e-2' THEN ARRAY['1024x1024', 'standard/1024x1024']
                                                                 WHEN 'stability.stable-diffusion-xl-v1' THEN ARRAY['1024x1024']
                                                             END) WITH ORDINALITY AS d (selector, n)
                                                WHERE with_sizes ? d.selector
                                                ORDER BY d.n
                                                LIMIT 1), '{}')
                                     ELSE with_sizes END,
                      'video_seconds', CASE WHEN entry ->> 'mode' = 'video_generation'
                                            THEN llm_cost._with_selectors((up ->> 'video_seconds')::numeric, video_resolutions)
                                            ELSE up -> 'video_seconds' END,
                      -- Web search by context size; Perplexity's search fee is charged once per call.
                      'web_search_queries', CASE WHEN provider <> 'perplexity'
                                                 THEN search_sizes || jsonb_build_object('default', search_sizes -> 'medium') END,
                      'requests', CASE WHEN provider = 'perplexity'
                                       THEN search_sizes || jsonb_build_object('default', search_sizes -> 'low') END)),
           '{}')
      FROM sized
$$;

-- Provider defaults: the rates a price list leaves implicit but the provider
-- publishes, filled in only where the row has none. Every such rule is here,
-- in this one function; scripts/gen_catalog.py applies the same rules to the
-- shipped catalog (PROVIDER_DEFAULTS, apply_provider_defaults): change both
-- together. import_prices applies them to the rows of both formats (through
-- litellm_price_rows for LiteLLM's list), as the generator does to every
-- row, so that a newer list that still leaves them implicit neither drops
-- them nor makes a changed row.
--   anthropic_1h_cache_write: a Claude row (any provider) whose 5-minute
--   cache-write price is exactly 1.25x its input price and that has no 1-hour
--   price writes 1-hour cache entries at 2x the input price (Anthropic's
--   pricing page, prompt caching).
--   fireworks_cache_read: a fireworks_ai row with no cache-read price reads
--   cached prompt tokens at 50% of its input price (Fireworks' prompt caching
--   guide: the default discount for serverless models).
CREATE FUNCTION llm_cost._provider_defaults(provider text, model text, input numeric, cache_read numeric,
                                            cache_write numeric, cache_write_1h numeric)
RETURNS TABLE (cache_read_per_mtok numeric, cache_write_1h_per_mtok numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cache_read IS NULL AND provider = 'fireworks_ai' AND input > 0
                THEN trim_scale(input * 0.5)
                ELSE cache_read END,
           CASE WHEN cache_write_1h IS NULL AND strpos(lower(model), 'claude') > 0
                     AND cache_write = input * 1.25
                THEN trim_scale(input * 2)
                ELSE cache_write_1h END
$$;

-- The price rows a LiteLLM document describes: one per model and service tier
-- of every mode docs/charges.md lists. scripts/gen_catalog.py applies the same
-- rules to build sql/catalog.sql (build_rows); tests/client.rs checks that
-- the two agree on LiteLLM's real list.
--
-- An entry is a model when _litellm_has_price says so. Image-generation
-- entries <quality>/<W>-x-<H>/<model> and <W>-x-<H>/<steps>/<model>
-- (gen_catalog.py: size_entry) are not models of their own: each gives
-- <model>'s unit_prices.images a selector, <quality>/<W>x<H> or <W>x<H>;
-- Bedrock's max-steps entries are quality premium (up to 50 steps is the
-- standard price), and a max-x-max size (every size above the smallest
-- listed) gives no size: max-x-max/max-steps is the selector premium,
-- max-x-max/50-steps the default. The price (size_entry_price) is the
-- entry's per-image price, output_cost_per_image else input_cost_per_image,
-- else its first per-pixel price above 0 (a 0 there is a placeholder) times
-- W x H; an entry with none is skipped. Of two entries giving one selector
-- the smaller key wins. A <model> with no priced entry of its own gets a row
-- with token prices 0. A service tier's row exists when the entry has a
-- token, token-subset or unit price with the tier's suffix (tier_present).
-- Provider defaults (_provider_defaults) are applied.
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
    off_peak_cache_read_per_mtok numeric, off_peak_windows jsonb,
    cache_write_1h_per_mtok numeric, audio_input_per_mtok numeric, image_input_per_mtok numeric,
    audio_output_per_mtok numeric, image_output_per_mtok numeric, unit_prices jsonb)
LANGUAGE sql STABLE AS $$
    WITH named AS (
        SELECT e.key, e.value AS entry, p.provider, p.prefixed, m.name, lp.litellm_provider,
               CASE WHEN e.value ->> 'mode' IN ('image_generation', 'image_edit') THEN
                   regexp_match(m.name, '^(?:([a-z]+)/)?([0-9]+|max)-x-([0-9]+|max)/(?:([0-9]+-steps|max-steps)/)?(.+)$')
               END AS sized
          FROM jsonb_each(catalog) AS e,
               LATERAL (SELECT e.value ->> 'litellm_provider' AS litellm_provider) AS lp,
               LATERAL (SELECT lower(btrim(lp.litellm_provider)) AS provider,
                               starts_with(e.key, lp.litellm_provider || '/') AS prefixed) AS p,
               LATERAL (SELECT CASE WHEN p.prefixed THEN substr(e.key, length(lp.litellm_provider) + 2)
                                    ELSE e.key END AS name) AS m
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses', 'embedding', 'image_generation', 'image_edit',
                                      'audio_transcription', 'audio_speech', 'rerank', 'realtime', 'video_generation',
                                      'search', 'ocr', 'moderation')
           AND coalesce(lp.litellm_provider, '') <> ''
    ), sizes AS (
        -- each image size entry's price, under <model>
        SELECT DISTINCT ON (s.provider, s.model, s.selector) s.*
          FROM (SELECT n.key, n.provider,
                       CASE WHEN starts_with(n.sized[5], n.litellm_provider || '/')
                            THEN substr(n.sized[5], length(n.litellm_provider) + 2)
                            ELSE n.sized[5] END AS model,
                       coalesce(nullif(concat_ws('/', CASE WHEN n.sized[4] = 'max-steps' THEN coalesce(n.sized[1], 'premium')
                                                           ELSE n.sized[1] END,
                                                 z.size), ''),
                                'default') AS selector,
                       coalesce(llm_cost._litellm_per_unit(n.entry, 'output_cost_per_image', ''),
                                llm_cost._litellm_per_unit(n.entry, 'input_cost_per_image', ''),
                                trim_scale(CASE WHEN llm_cost._litellm_per_unit(n.entry, 'input_cost_per_pixel', '') > 0
                                                THEN llm_cost._litellm_per_unit(n.entry, 'input_cost_per_pixel', '')
                                                WHEN llm_cost._litellm_per_unit(n.entry, 'output_cost_per_pixel', '') > 0
                                                THEN llm_cost._litellm_per_unit(n.entry, 'output_cost_per_pixel', '')
                                           END * z.pixels)) AS price
                  FROM named AS n,
                       LATERAL (SELECT CASE WHEN 'max' NOT IN (n.sized[2], n.sized[3])
                                            THEN n.sized[2]::numeric || 'x' || n.sized[3]::numeric END AS size,
                                       CASE WHEN 'max' NOT IN (n.sized[2], n.sized[3])
                                            THEN n.sized[2]::numeric * n.sized[3]::numeric END AS pixels) AS z
                 WHERE n.sized IS NOT NULL) AS s
         WHERE s.price IS NOT NULL
         ORDER BY s.provider, s.model, s.selector, s.key COLLATE "C"
    ), sized_models AS (
        SELECT s.provider, s.model, min(s.key COLLATE "C") AS key, jsonb_object_agg(s.selector, s.price) AS images
          FROM sizes AS s
         GROUP BY s.provider, s.model
    ), entries AS (
        -- "deepseek/deepseek-chat" and "deepseek-chat" name one model: the
        -- prefixed key wins (then the smaller key); a model named only by
        -- size entries comes last.
        SELECT DISTINCT ON (c.provider, c.model) c.key, c.entry, c.provider, c.model, sm.images
          FROM (SELECT n.key, n.entry, n.provider, n.name AS model, n.prefixed, 0 AS rank
                  FROM named AS n
                 WHERE n.sized IS NULL AND llm_cost._litellm_has_price(n.entry)
                UNION ALL
                SELECT sm.key, '{}'::jsonb, sm.provider, sm.model, false, 1
                  FROM sized_models AS sm) AS c
          LEFT JOIN sized_models AS sm USING (provider, model)
         ORDER BY c.provider, c.model, c.rank, c.prefixed DESC, c.key COLLATE "C"
    ), tiered AS (
        SELECT entries.*, t.service_tier, t.suffix,
               (SELECT min(m[1]::bigint)
                  FROM jsonb_object_keys(entry) AS k,
                       regexp_match(k, '^input_cost_per_token_above_([0-9]+)k_tokens$') AS m) AS tier_k
          FROM entries
          CROSS JOIN (VALUES ('standard', '', 1), ('batch', '_batches', 2), ('flex', '_flex', 3), ('priority', '_priority', 4))
                  AS t (service_tier, suffix, ord)
         WHERE t.suffix = ''
            OR EXISTS (SELECT FROM unnest(ARRAY['input_cost_per_token', 'output_cost_per_token',
                                                'cache_creation_input_token_cost_above_1hr', 'input_cost_per_audio_token',
                                                'input_cost_per_image_token', 'output_cost_per_audio_token',
                                                'output_cost_per_image_token']) AS f (field)
                        WHERE jsonb_typeof(entry -> (f.field || t.suffix)) = 'number')
            OR EXISTS (SELECT FROM llm_cost._litellm_unit_fields(entry ->> 'mode') AS f
                        WHERE jsonb_typeof(entry -> (f.field || t.suffix)) = 'number')
    ), priced AS (
        SELECT tiered.*,
               coalesce(llm_cost._litellm_token_rate(entry, 'input_cost_per_token', suffix), 0) AS input,
               llm_cost._litellm_per_mtok(entry, 'cache_read_input_token_cost', suffix) AS cache_read,
               llm_cost._litellm_per_mtok(entry, 'cache_creation_input_token_cost', suffix) AS cache_write,
               -- A tier with its own 5-minute write price (Anthropic's batch: half the
               -- standard one) but no 1-hour one: the standard 1-hour price belongs
               -- to another tier (left to the provider defaults).
               CASE WHEN suffix <> '' AND jsonb_typeof(entry -> ('cache_creation_input_token_cost' || suffix)) = 'number'
                         AND coalesce(jsonb_typeof(entry -> ('cache_creation_input_token_cost_above_1hr' || suffix)), 'null') = 'null'
                    THEN NULL
                    ELSE llm_cost._litellm_per_mtok(entry, 'cache_creation_input_token_cost_above_1hr', suffix) END AS cache_write_1h
          FROM tiered
    )
    SELECT provider, model, service_tier,
           input,
           -- an entry without a text output price outputs images
           coalesce(llm_cost._litellm_token_rate(entry, 'output_cost_per_token', suffix),
                    llm_cost._litellm_per_mtok(entry, 'output_cost_per_image_token', suffix), 0),
           d.cache_read_per_mtok,
           cache_write,
           llm_cost._litellm_per_mtok(entry, 'output_cost_per_reasoning_token', suffix),
           tier_k * 1000,
           llm_cost._litellm_per_mtok(entry, format('input_cost_per_token_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('output_cost_per_token_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('cache_read_input_token_cost_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('cache_creation_input_token_cost_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_unit(entry, 'input_cost_per_request', suffix),
           -- off_peak_pricing (DeepSeek's time-of-day prices) prices the standard tier
           CASE WHEN op.windows IS NOT NULL THEN
               coalesce(llm_cost._litellm_per_mtok(op.prices, 'input_cost_per_token', ''),
                        llm_cost._litellm_per_mtok(entry, 'input_cost_per_token', ''), 0) END,
           CASE WHEN op.windows IS NOT NULL THEN
               coalesce(llm_cost._litellm_per_mtok(op.prices, 'output_cost_per_token', ''),
                        llm_cost._litellm_per_mtok(entry, 'output_cost_per_token', ''), 0) END,
           CASE WHEN op.windows IS NOT NULL THEN
               llm_cost._litellm_per_mtok(op.prices, 'cache_read_input_token_cost', '') END,
           op.windows,
           d.cache_write_1h_per_mtok,
           llm_cost._litellm_per_mtok(entry, 'input_cost_per_audio_token', suffix),
           llm_cost._litellm_per_mtok(entry, 'input_cost_per_image_token', suffix),
           llm_cost._litellm_per_mtok(entry, 'output_cost_per_audio_token', suffix),
           llm_cost._litellm_per_mtok(entry, 'output_cost_per_image_token', suffix),
           CASE WHEN up.raw IS NOT NULL THEN llm_cost._unit_prices(up.raw, format('LiteLLM entry "%s"', key)) END
      FROM priced,
           LATERAL (SELECT entry -> 'off_peak_pricing' AS prices,
                           CASE WHEN service_tier = 'standard' AND jsonb_typeof(entry -> 'off_peak_pricing') = 'object'
                                THEN llm_cost._off_peak_windows(entry -> 'off_peak_pricing',
                                                                format('LiteLLM entry "%s" off_peak_pricing', key))
                           END AS windows) AS op,
           LATERAL (SELECT llm_cost._litellm_unit_prices(entry, suffix, provider, model, images) AS raw) AS up,
           LATERAL llm_cost._provider_defaults(provider, model, input, cache_read, cache_write, cache_write_1h) AS d
     ORDER BY provider, model, service_tier
$$;
COMMENT ON FUNCTION llm_cost.litellm_price_rows(jsonb) IS
  'The price rows (per million tokens, exact) that a LiteLLM model_prices_and_context_window.json document describes, without storing them: every mode, token subsets and unit_prices (normalised) as docs/charges.md maps them, <quality>/<W>-x-<H>/<model> entries folded into <model>''s image prices. An entry''s off_peak_pricing gives the standard row''s off-peak prices and windows (normalised). Provider defaults (llm_cost._provider_defaults) filled in, as in the shipped catalog.';

---------------------------------------------------------------------------
-- Reading pydantic genai-prices' data.json
---------------------------------------------------------------------------
-- scripts/gen_catalog.py reads the same format to build sql/catalog.sql. The
-- provider map (_genai_providers = GENAI_PROVIDER_MAP and
-- genai_provider_targets), the names (_genai_names = genai_model_names), the
-- periods (_genai_periods = genai_periods), the prices (_genai_row =
-- genai_row) and the placement among sibling providers (genai_price_rows =
-- read_genai) must agree with the generator's: change both together.
-- tests/client.rs (importing_genai_prices_adds_exactly_the_prices_the_
-- generator_overrode) imports the real genai_prices_data.json into a fresh
-- install and fails unless it adds rows exactly for the models the generator
-- reports as conflicts (where it kept LiteLLM's price), nothing else.

-- genai-prices provider id -> llm_cost providers that may file its models,
-- the default first. Ids not listed keep their name, lower-cased.
CREATE FUNCTION llm_cost._genai_providers(provider_id text, model_id text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    -- Google lists the Claude models it sells on Vertex AI under "google".
    WHEN provider_id = 'google' AND starts_with(model_id, 'claude') THEN ARRAY['vertex_ai']
    WHEN provider_id = 'aws' THEN ARRAY['bedrock', 'bedrock_converse']
    WHEN provider_id = 'azure' THEN ARRAY['azure', 'azure_ai']
    WHEN provider_id = 'cohere' THEN ARRAY['cohere', 'cohere_chat']
    WHEN provider_id = 'fireworks' THEN ARRAY['fireworks_ai']
    WHEN provider_id = 'google' THEN ARRAY['gemini', 'vertex_ai-language-models', 'vertex_ai']
    WHEN provider_id = 'moonshotai' THEN ARRAY['moonshot']
    WHEN provider_id = 'openai' THEN ARRAY['openai', 'text-completion-openai']
    WHEN provider_id = 'together' THEN ARRAY['together_ai']
    WHEN provider_id = 'voyageai' THEN ARRAY['voyage']
    WHEN provider_id = 'x-ai' THEN ARRAY['xai']
    ELSE ARRAY[lower(btrim(provider_id))]
END;
COMMENT ON FUNCTION llm_cost._genai_providers(text, text) IS
  'Internal: the llm_cost providers (default first) that may file a genai-prices model of this provider id; the same map as scripts/gen_catalog.py.';

-- Every exact name of a genai-prices model, the one it is filed under first:
-- its id, except AWS "regional.<id>" (genai-prices' label for the in-region
-- price) is "<id>", and an id that is not itself an `equals` name of its match
-- rule but ends one as "/<id>" (Fireworks' accounts/fireworks/models/<id>) is
-- that name (the smallest, if several). Then the id and the `equals` names
-- under the rule's `or`s, depth first (never patterns, nothing under `and`).
CREATE FUNCTION llm_cost._genai_names(provider_id text, model jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH RECURSIVE rule (node, path) AS (
        SELECT model -> 'match', ARRAY[]::bigint[]
        UNION ALL
        SELECT s.value, rule.path || s.n
          FROM rule,
               jsonb_array_elements(CASE WHEN jsonb_typeof(rule.node -> 'or') = 'array' THEN rule.node -> 'or' END)
                   WITH ORDINALITY AS s (value, n)
         WHERE jsonb_typeof(rule.node) = 'object' AND jsonb_typeof(rule.node -> 'equals') IS DISTINCT FROM 'string'
    ), equals AS (
        SELECT coalesce(array_agg(node ->> 'equals' ORDER BY path), '{}') AS names
          FROM rule
         WHERE jsonb_typeof(node) = 'object' AND jsonb_typeof(node -> 'equals') = 'string'
    ), named AS (
        SELECT CASE
                   WHEN provider_id = 'aws' AND starts_with(model ->> 'id', 'regional.')
                       THEN substr(model ->> 'id', length('regional.') + 1)
                   WHEN model ->> 'id' = ANY (equals.names) THEN model ->> 'id'
                   ELSE coalesce((SELECT min(e COLLATE "C") FROM unnest(equals.names) AS e
                                   WHERE right(e, length(model ->> 'id') + 1) = '/' || (model ->> 'id')),
                                 model ->> 'id')
               END AS name,
               equals.names
          FROM equals
    )
    SELECT ARRAY[named.name] || coalesce((
               SELECT array_agg(n ORDER BY first)
                 FROM (SELECT n, min(i) AS first
                         FROM unnest(ARRAY[model ->> 'id'] || named.names) WITH ORDINALITY AS u (n, i)
                        WHERE n <> named.name
                        GROUP BY n) AS d), '{}')
      FROM named
$$;
COMMENT ON FUNCTION llm_cost._genai_names(text, jsonb) IS
  'Internal: the exact names of a genai-prices model, the name llm_cost files it under first (as scripts/gen_catalog.py names it).';

-- A genai-prices model's prices as periods, oldest first: the first in force
-- since -infinity, each later one from its start_date at 00:00 UTC
-- (genai-prices compares the request's UTC date). Its rule is "the last price
-- whose constraint holds": an unconstrained price after the first replaces
-- the one before; a start_date not after the previous one is skipped; a
-- time-of-day window (DeepSeek's off-peak prices) cannot be a row, so of it
-- and the price before it the one in force for more hours of the day is kept;
-- entries with other constraints are skipped. Expects a checked document.
CREATE FUNCTION llm_cost._genai_periods(price_list jsonb)
RETURNS TABLE (period integer, valid_from timestamptz, prices jsonb)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    entry jsonb;
    c jsonb;
    keys text[];
    starts timestamptz[] := '{}';
    sets jsonb[] := '{}';
    k integer;
    d timestamptz;
    window_minutes integer;
BEGIN
    IF jsonb_typeof(price_list) = 'object' THEN
        RETURN QUERY SELECT 1, '-infinity'::timestamptz, price_list;
        RETURN;
    ELSIF jsonb_typeof(price_list) IS DISTINCT FROM 'array' THEN
        RETURN;
    END IF;
    FOR entry IN SELECT value FROM jsonb_array_elements(price_list) LOOP
        CONTINUE WHEN jsonb_typeof(entry) <> 'object' OR jsonb_typeof(entry -> 'prices') IS DISTINCT FROM 'object';
        c := entry -> 'constraint';
        k := coalesce(array_length(starts, 1), 0);
        keys := CASE WHEN jsonb_typeof(c) = 'object'
                     THEN ARRAY(SELECT key FROM jsonb_object_keys(c) AS key ORDER BY key COLLATE "C") END;
        IF c IS NULL OR jsonb_typeof(c) = 'null' OR keys = '{}' THEN
            IF k > 0 THEN
                sets[k] := entry -> 'prices';
            ELSE
                starts := array_append(starts, '-infinity'::timestamptz);
                sets := array_append(sets, entry -> 'prices');
            END IF;
        ELSIF keys = ARRAY['start_date'] THEN
            d := (c ->> 'start_date')::date::timestamp AT TIME ZONE 'UTC';
            CONTINUE WHEN k > 0 AND starts[k] <> '-infinity' AND d <= starts[k];
            starts := array_append(starts, CASE WHEN k > 0 THEN d ELSE '-infinity'::timestamptz END);
            sets := array_append(sets, entry -> 'prices');
        ELSIF keys = ARRAY['end_time', 'start_time'] THEN
            window_minutes := (((split_part(c ->> 'end_time', ':', 1)::integer * 60 + split_part(c ->> 'end_time', ':', 2)::integer)
                                - (split_part(c ->> 'start_time', ':', 1)::integer * 60 + split_part(c ->> 'start_time', ':', 2)::integer))
                               % 1440 + 1440) % 1440;
            IF k = 0 THEN
                starts := array_append(starts, '-infinity'::timestamptz);
                sets := array_append(sets, entry -> 'prices');
            ELSIF window_minutes * 2 > 1440 THEN
                sets[k] := entry -> 'prices';
            END IF;
        END IF;
    END LOOP;
    RETURN QUERY SELECT i, starts[i], sets[i] FROM generate_subscripts(starts, 1) AS i;
END $$;
COMMENT ON FUNCTION llm_cost._genai_periods(jsonb) IS
  'Internal: a genai-prices model''s prices as dated periods (valid_from, price set), oldest first, as scripts/gen_catalog.py reads them.';

-- A genai-prices price: a number, or the base of a tiered price.
CREATE FUNCTION llm_cost._genai_base(price jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN trim_scale(CASE jsonb_typeof(price)
                      WHEN 'number' THEN (price #>> '{}')::numeric
                      WHEN 'object' THEN (price ->> 'base')::numeric
                  END);
COMMENT ON FUNCTION llm_cost._genai_base(jsonb) IS
  'Internal: a genai-prices price (per million tokens): the number, or a tiered price''s base.';

-- A tiered price's first tier, when it starts at the row's threshold.
CREATE FUNCTION llm_cost._genai_above(price jsonb, threshold bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN threshold IS NOT NULL AND jsonb_typeof(price) = 'object'
                 AND (price #>> '{tiers,0,start}') ~ '^[0-9]+$'
                 AND (price #>> '{tiers,0,start}')::numeric = threshold
            THEN trim_scale((price #>> '{tiers,0,price}')::numeric) END;
COMMENT ON FUNCTION llm_cost._genai_above(jsonb, bigint) IS
  'Internal: a tiered genai-prices price''s first tier price, when that tier starts at threshold.';

-- One genai-prices price set as an llm_cost price row (standard tier), or no
-- row when it has no input or output price. input_mtok, output_mtok,
-- cache_read_mtok and cache_write_mtok are per million tokens; a tiered price
-- {base, tiers: [{start, price}]} gives tier_threshold_tokens = the first
-- tier's start (genai-prices, like llm_cost, prices the whole call at the
-- tier when the input exceeds it; of several starts, the smallest as text,
-- as the generator sorts them) and the *_above_tier prices; requests_kcount
-- (per 1000 requests) / 1000 is per_request; input_audio_mtok and
-- output_audio_mtok are audio_input_per_mtok and audio_output_per_mtok (the
-- base of a tiered one). Expects a checked price set.
CREATE FUNCTION llm_cost._genai_row(prices jsonb)
RETURNS TABLE (
    input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric, cache_write_per_mtok numeric,
    tier_threshold_tokens bigint,
    input_per_mtok_above_tier numeric, output_per_mtok_above_tier numeric,
    cache_read_per_mtok_above_tier numeric, cache_write_per_mtok_above_tier numeric,
    per_request numeric,
    audio_input_per_mtok numeric, audio_output_per_mtok numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH f AS (
        SELECT prices -> 'input_mtok' AS i, prices -> 'output_mtok' AS o,
               prices -> 'cache_read_mtok' AS cr, prices -> 'cache_write_mtok' AS cw
    ), t AS (
        SELECT f.*,
               (SELECT min(s COLLATE "C")::bigint
                  FROM unnest(ARRAY[f.i, f.o, f.cr, f.cw]) AS v,
                       LATERAL (SELECT v #>> '{tiers,0,start}' AS s) AS x
                 WHERE jsonb_typeof(v) = 'object' AND s ~ '^[0-9]+$' AND s::numeric BETWEEN 1 AND 9223372036854775807
               ) AS threshold
          FROM f
    )
    SELECT coalesce(llm_cost._genai_base(i), 0), coalesce(llm_cost._genai_base(o), 0),
           llm_cost._genai_base(cr), llm_cost._genai_base(cw),
           threshold,
           CASE WHEN threshold IS NOT NULL
                THEN coalesce(llm_cost._genai_above(i, threshold), llm_cost._genai_base(i), 0) END,
           llm_cost._genai_above(o, threshold), llm_cost._genai_above(cr, threshold), llm_cost._genai_above(cw, threshold),
           trim_scale((prices ->> 'requests_kcount')::numeric * 0.001),
           llm_cost._genai_base(prices -> 'input_audio_mtok'), llm_cost._genai_base(prices -> 'output_audio_mtok')
      FROM t
     WHERE jsonb_typeof(i) = 'number' OR jsonb_typeof(i) = 'object'
        OR jsonb_typeof(o) = 'number' OR jsonb_typeof(o) = 'object'
$$;
COMMENT ON FUNCTION llm_cost._genai_row(jsonb) IS
  'Internal: one genai-prices price set as llm_cost price columns (standard tier, audio token prices included), as scripts/gen_catalog.py converts it; no row without an input or output price.';

-- Raises 22023, naming the provider, model and field, unless the document is
-- genai-prices' data.json as llm_cost reads it: an array of providers, each
-- an object with a non-empty string id and an array of models; each model an
-- object with a non-empty string id and prices that are absent, null, one
-- price set, or an array of {constraint, prices}; a constraint absent, null
-- or an object whose start_date is a date (YYYY-MM-DD) and whose start_time
-- and end_time are times of day (HH:MM[:SS]Z); every field of a price set
-- null, a non-negative number or a tiered price {base, tiers: [{start,
-- price}]} with a non-negative base and prices and whole positive starts
-- (requests_kcount: a number).
CREATE FUNCTION llm_cost._genai_check(catalog jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    prov jsonb;
    m jsonb;
    e jsonb;
    pi bigint;
    mi bigint;
    ei bigint;
    pid text;
    here text;
    sets jsonb;
    f record;
    t record;
    what text;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) <> 'array' THEN
        RAISE EXCEPTION 'llm_cost: expected genai-prices'' data.json, a JSON array of providers, got %',
            coalesce(jsonb_typeof(catalog), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR prov, pi IN SELECT value, ordinality - 1 FROM jsonb_array_elements(catalog) WITH ORDINALITY LOOP
        IF jsonb_typeof(prov) <> 'object' OR jsonb_typeof(prov -> 'id') IS DISTINCT FROM 'string'
           OR btrim(prov ->> 'id') = '' THEN
            RAISE EXCEPTION 'llm_cost: genai-prices provider [%] must be an object with a non-empty string id', pi
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        pid := left(prov ->> 'id', 200);
        IF jsonb_typeof(prov -> 'models') IS DISTINCT FROM 'array' THEN
            RAISE EXCEPTION 'llm_cost: genai-prices provider "%": models must be an array, got %',
                pid, coalesce(jsonb_typeof(prov -> 'models'), 'nothing')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR m, mi IN SELECT value, ordinality - 1 FROM jsonb_array_elements(prov -> 'models') WITH ORDINALITY LOOP
            IF jsonb_typeof(m) <> 'object' OR jsonb_typeof(m -> 'id') IS DISTINCT FROM 'string'
               OR btrim(m ->> 'id') = '' THEN
                RAISE EXCEPTION 'llm_cost: genai-prices provider "%" model [%] must be an object with a non-empty string id', pid, mi
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            here := format('genai-prices provider "%s" model "%s"', pid, left(m ->> 'id', 200));
            -- Every price set of the model, with where it is.
            CASE coalesce(jsonb_typeof(m -> 'prices'), 'null')
                WHEN 'null' THEN
                    sets := '[]';
                WHEN 'object' THEN
                    sets := jsonb_build_array(jsonb_build_array('prices', m -> 'prices'));
                WHEN 'array' THEN
                    sets := '[]';
                    FOR e, ei IN SELECT value, ordinality - 1 FROM jsonb_array_elements(m -> 'prices') WITH ORDINALITY LOOP
                        IF jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'prices') IS DISTINCT FROM 'object' THEN
                            RAISE EXCEPTION 'llm_cost: % prices[%] must be an object {constraint, prices} whose prices is an object', here, ei
                                USING ERRCODE = 'invalid_parameter_value';
                        END IF;
                        IF coalesce(jsonb_typeof(e -> 'constraint'), 'null') NOT IN ('null', 'object') THEN
                            RAISE EXCEPTION 'llm_cost: % prices[%].constraint must be an object, got %', here, ei, jsonb_typeof(e -> 'constraint')
                                USING ERRCODE = 'invalid_parameter_value';
                        END IF;
                        IF e -> 'constraint' ? 'start_date' THEN
                            what := e #>> '{constraint,start_date}';
                            BEGIN
                                IF jsonb_typeof(e #> '{constraint,start_date}') <> 'string'
                                   OR what !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' OR what::date IS NULL THEN
                                    RAISE EXCEPTION USING ERRCODE = 'invalid_datetime_format';
                                END IF;
                            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
                                RAISE EXCEPTION 'llm_cost: % prices[%].constraint.start_date must be a date YYYY-MM-DD, got %',
                                    here, ei, left((e #> '{constraint,start_date}')::text, 100)
                                    USING ERRCODE = 'invalid_parameter_value';
                            END;
                        END IF;
                        FOR f IN SELECT key, value
                                   FROM jsonb_each(CASE WHEN jsonb_typeof(e -> 'constraint') = 'object' THEN e -> 'constraint' END)
                                  WHERE key IN ('start_time', 'end_time') LOOP
                            IF jsonb_typeof(f.value) <> 'string'
                               OR (f.value #>> '{}') !~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?Z?$' THEN
                                RAISE EXCEPTION 'llm_cost: % prices[%].constraint.% must be a UTC time of day HH:MM:SSZ, got %',
                                    here, ei, f.key, left(f.value::text, 100)
                                    USING ERRCODE = 'invalid_parameter_value';
                            END IF;
                        END LOOP;
                        sets := sets || jsonb_build_array(jsonb_build_array(format('prices[%s].prices', ei), e -> 'prices'));
                    END LOOP;
                ELSE
                    RAISE EXCEPTION 'llm_cost: % prices must be an object or an array, got %', here, jsonb_typeof(m -> 'prices')
                        USING ERRCODE = 'invalid_parameter_value';
            END CASE;
            -- Every field of every price set.
            FOR f IN SELECT s ->> 0 AS at, p.key, p.value
                       FROM jsonb_array_elements(sets) AS s, jsonb_each(s -> 1) AS p
                      WHERE jsonb_typeof(p.value) <> 'null' LOOP
                IF jsonb_typeof(f.value) = 'number' THEN
                    CONTINUE WHEN (f.value #>> '{}')::numeric >= 0;
                    RAISE EXCEPTION 'llm_cost: % %.% must not be negative (got %)', here, f.at, f.key, f.value
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF jsonb_typeof(f.value) <> 'object' OR f.key = 'requests_kcount' THEN
                    RAISE EXCEPTION 'llm_cost: % %.% must be a number%, got %', here, f.at, f.key,
                        CASE WHEN f.key = 'requests_kcount' THEN '' ELSE ' or a tiered price {base, tiers: [{start, price}]}' END,
                        jsonb_typeof(f.value)
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF jsonb_typeof(f.value -> 'base') IS DISTINCT FROM 'number' OR (f.value ->> 'base')::numeric < 0
                   OR jsonb_typeof(f.value -> 'tiers') IS DISTINCT FROM 'array' THEN
                    RAISE EXCEPTION 'llm_cost: % %.% must be a tiered price {base, tiers: [{start, price}]} with a non-negative base',
                        here, f.at, f.key
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                FOR t IN SELECT value, ordinality - 1 AS i FROM jsonb_array_elements(f.value -> 'tiers') WITH ORDINALITY LOOP
                    IF jsonb_typeof(t.value) <> 'object'
                       OR jsonb_typeof(t.value -> 'start') IS DISTINCT FROM 'number'
                       OR (t.value ->> 'start') !~ '^[0-9]+$'
                       OR (t.value ->> 'start')::numeric NOT BETWEEN 1 AND 9223372036854775807
                       OR jsonb_typeof(t.value -> 'price') IS DISTINCT FROM 'number'
                       OR (t.value ->> 'price')::numeric < 0 THEN
                        RAISE EXCEPTION 'llm_cost: % %.%.tiers[%] must be {start, price}: a whole number of tokens above 0 and a non-negative price',
                            here, f.at, f.key, t.i
                            USING ERRCODE = 'invalid_parameter_value';
                    END IF;
                END LOOP;
            END LOOP;
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION llm_cost._genai_check(jsonb) IS
  'Internal: raises 22023, naming the provider, model and field, unless the document is genai-prices'' data.json with usable prices.';

-- The price rows a genai-prices document describes, placed in this database's
-- catalog as scripts/gen_catalog.py places them in LiteLLM's: a model goes to
-- each provider of its _genai_providers under which the catalog (any row, any
-- time) already prices one of its _genai_names (compared case-insensitively,
-- as genai-prices matches, and filed under the catalog's spelling; an exact
-- match wins over others), else to the default provider under its first name.
-- Where two models give one (provider, model), the one whose first name it is
-- wins, then the first (providers by id, models in file order). (The
-- generator keeps the first; placing against LiteLLM's names alone, it meets
-- no such tie in genai-prices' file.) One row per period with a token price, standard
-- tier (genai-prices has no service tiers), consecutive equal prices merged.
CREATE FUNCTION llm_cost.genai_price_rows(catalog jsonb)
RETURNS TABLE (
    provider text, model text, service_tier text, valid_from timestamptz,
    input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric, cache_write_per_mtok numeric, reasoning_per_mtok numeric,
    tier_threshold_tokens bigint,
    input_per_mtok_above_tier numeric, output_per_mtok_above_tier numeric,
    cache_read_per_mtok_above_tier numeric, cache_write_per_mtok_above_tier numeric,
    per_request numeric,
    audio_input_per_mtok numeric, audio_output_per_mtok numeric,
    origin text)
-- The planner's guesses for the JSON functions add up past jit_above_cost:
-- compiling the query took a second, running it milliseconds.
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
BEGIN
    PERFORM llm_cost._genai_check(catalog);
    RETURN QUERY
    WITH providers AS (
        SELECT p.value AS prov, p.value ->> 'id' AS pid,
               row_number() OVER (ORDER BY p.value ->> 'id' COLLATE "C", p.n) AS pord
          FROM jsonb_array_elements(catalog) WITH ORDINALITY AS p (value, n)
    ), models AS (
        SELECT pr.pid, pr.pord, m.n AS mord, m.value ->> 'id' AS mid, m.value -> 'prices' AS prices,
               llm_cost._genai_names(pr.pid, m.value) AS names,
               llm_cost._genai_providers(pr.pid, m.value ->> 'id') AS targets
          FROM providers AS pr, jsonb_array_elements(pr.prov -> 'models') WITH ORDINALITY AS m (value, n)
    ), periods AS (
        SELECT m.pord, m.mord, m.pid, m.mid, per.period, per.valid_from, r.*
          FROM models AS m,
               LATERAL llm_cost._genai_periods(m.prices) AS per,
               LATERAL llm_cost._genai_row(per.prices) AS r
    ), merged AS (
        SELECT * FROM (
            SELECT periods.*,
                   coalesce(lag(price) OVER (PARTITION BY pord, mord ORDER BY period) = price, false) AS same_as_before
              FROM periods,
                   LATERAL (SELECT jsonb_build_array(input_per_mtok, output_per_mtok, cache_read_per_mtok,
                                                     cache_write_per_mtok, tier_threshold_tokens,
                                                     input_per_mtok_above_tier, output_per_mtok_above_tier,
                                                     cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                                                     per_request, audio_input_per_mtok, audio_output_per_mtok) AS price) AS pr) AS x
         WHERE NOT same_as_before
    ), priced AS (
        SELECT m.* FROM models AS m WHERE EXISTS (SELECT FROM merged WHERE (merged.pord, merged.mord) = (m.pord, m.mord))
    ), known AS (
        SELECT DISTINCT ON (c.pord, c.mord, c.provider, c.model) c.pord, c.mord, c.provider, c.model
          FROM (SELECT pm.pord, pm.mord, t.provider, n.name, cat.model,
                       bool_or(cat.model = n.name) OVER (PARTITION BY pm.pord, pm.mord, t.provider, n.name) AS exact_exists
                  FROM priced AS pm
                 CROSS JOIN unnest(pm.targets) AS t (provider)
                 CROSS JOIN unnest(pm.names) AS n (name)
                  JOIN (SELECT DISTINCT p.provider, p.model FROM llm_cost.prices AS p) AS cat
                    ON cat.provider = t.provider AND lower(cat.model) = lower(n.name)) AS c
         WHERE c.model = c.name OR NOT c.exact_exists
    ), placed AS (
        -- A model filed under its own first name wins over one that only
        -- knows it as an alias (else a model new in one import could take
        -- another's row in the next), then the first in the file.
        SELECT DISTINCT ON (provider, model) *
          FROM (SELECT k.pord, k.mord, k.provider, k.model, k.model = pm.names[1] AS own
                  FROM known AS k JOIN priced AS pm USING (pord, mord)
                UNION ALL
                SELECT pm.pord, pm.mord, pm.targets[1], pm.names[1], true
                  FROM priced AS pm
                 WHERE NOT EXISTS (SELECT FROM known AS k WHERE (k.pord, k.mord) = (pm.pord, pm.mord))) AS t
         ORDER BY provider, model, own DESC, pord, mord
    )
    SELECT pl.provider, pl.model, 'standard'::text, r.valid_from,
           r.input_per_mtok, r.output_per_mtok, r.cache_read_per_mtok, r.cache_write_per_mtok, NULL::numeric,
           r.tier_threshold_tokens, r.input_per_mtok_above_tier, r.output_per_mtok_above_tier,
           r.cache_read_per_mtok_above_tier, r.cache_write_per_mtok_above_tier, r.per_request,
           r.audio_input_per_mtok, r.audio_output_per_mtok,
           r.pid || '/' || r.mid
      FROM placed AS pl
      JOIN merged AS r USING (pord, mord)
     ORDER BY pl.provider, pl.model, r.valid_from;
END $$;
COMMENT ON FUNCTION llm_cost.genai_price_rows(jsonb) IS
  'The price rows (per million tokens, exact, standard tier, dated by valid_from) that a genai-prices data.json document describes, placed among this database''s providers and names as the shipped catalog places them, without storing them. origin names the genai-prices provider/model.';

CREATE FUNCTION llm_cost.import_prices(catalog jsonb, source text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    -- The LiteLLM modes priced (docs/charges.md) and the fields read as prices.
    modes constant text[] := ARRAY['chat', 'completion', 'responses', 'embedding', 'image_generation', 'image_edit',
                                   'audio_transcription', 'audio_speech', 'rerank', 'realtime', 'video_generation',
                                   'search', 'ocr', 'moderation'];
    price_field constant text := '^((input|output)_cost_per_|cache_(read|creation)_input_token_cost|ocr_cost_per_page|google_maps_grounding_cost_per_query)';
    bad record;
    added integer;
    more integer;
    genai boolean;
    phase integer;
    rec record;
    cur record;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'llm_cost.import_prices: expected a price list: LiteLLM''s (a JSON object mapping model names to price entries) or genai-prices'' data.json (a JSON array of providers), got %',
            coalesce(jsonb_typeof(catalog), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The format is the document's shape: LiteLLM's list is an object,
    -- genai-prices' data.json an array. The source defaults to its name.
    genai := jsonb_typeof(catalog) = 'array';
    source := coalesce(source, CASE WHEN genai THEN 'genai-prices' ELSE 'litellm' END);
    IF btrim(source) = '' THEN
        RAISE EXCEPTION 'llm_cost.import_prices: source must be a non-empty name'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('pg_temp.llm_cost_import') IS NOT NULL THEN   -- (IF EXISTS would NOTICE without a temp schema)
        DROP TABLE pg_temp.llm_cost_import;
    END IF;

    -- One table of the rows the document describes, whichever its format:
    -- the columns of llm_cost.prices, valid_from ('-infinity' for LiteLLM,
    -- which has no dates) and origin.
    IF genai THEN
        -- genai_price_rows checks the document (22023 naming provider, model and field).
        -- (its rows carry no off-peak prices: genai-prices' time-of-day
        -- windows are folded as the generator folds them)
        -- genai-prices has no 1-hour cache-write prices: the provider
        -- defaults fill them in as the generator does for its rows.
        CREATE TEMP TABLE llm_cost_import ON COMMIT DROP AS
            SELECT g.*, NULL::numeric AS off_peak_input_per_mtok, NULL::numeric AS off_peak_output_per_mtok,
                   NULL::numeric AS off_peak_cache_read_per_mtok, NULL::jsonb AS off_peak_windows,
                   d.cache_write_1h_per_mtok, NULL::numeric AS image_input_per_mtok,
                   NULL::numeric AS image_output_per_mtok, NULL::jsonb AS unit_prices
              FROM llm_cost.genai_price_rows(catalog) AS g,
                   LATERAL llm_cost._provider_defaults(g.provider, g.model, g.input_per_mtok, g.cache_read_per_mtok,
                                                       g.cache_write_per_mtok, NULL) AS d;
        -- and the cache-read default (the row's own column above is genai-prices' price)
        UPDATE pg_temp.llm_cost_import AS i
           SET cache_read_per_mtok = (SELECT d.cache_read_per_mtok
                                        FROM llm_cost._provider_defaults(i.provider, i.model, i.input_per_mtok, NULL,
                                                                         i.cache_write_per_mtok, i.cache_write_1h_per_mtok) AS d)
         WHERE i.cache_read_per_mtok IS NULL;
    ELSE
        IF catalog <> '{}' AND NOT EXISTS (
            SELECT FROM jsonb_each(catalog) AS e
             WHERE jsonb_typeof(e.value) = 'object' AND e.value ? 'litellm_provider') THEN
            RAISE EXCEPTION 'llm_cost.import_prices: the document is not a price list: no entry has a litellm_provider'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'pass the contents of LiteLLM''s model_prices_and_context_window.json or genai-prices'' data.json';
        END IF;
        -- Every price field we read must be a number (or null); a string would be
        -- silently mispriced, so name the first offender.
        SELECT e.key AS model, f.key AS field, jsonb_typeof(f.value) AS type INTO bad
          FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' = ANY (modes)
           AND f.key ~ price_field
           AND jsonb_typeof(f.value) NOT IN ('number', 'null')
         LIMIT 1;
        IF NOT FOUND THEN
            SELECT e.key AS model, 'off_peak_pricing.' || f.key AS field, jsonb_typeof(f.value) AS type INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value -> 'off_peak_pricing') AS f
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
               AND jsonb_typeof(e.value -> 'off_peak_pricing') = 'object'
               AND f.key IN ('input_cost_per_token', 'output_cost_per_token', 'cache_read_input_token_cost')
               AND jsonb_typeof(f.value) NOT IN ('number', 'null')
             LIMIT 1;
        END IF;
        IF NOT FOUND THEN
            -- search_context_cost_per_query: {search_context_size_<size>: price per query}
            SELECT e.key AS model, f.key || '.' || s.key AS field, jsonb_typeof(s.value) AS type INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f,
                   jsonb_each(CASE WHEN jsonb_typeof(f.value) = 'object' THEN f.value END) AS s
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
               AND starts_with(f.key, 'search_context_cost_per_query') AND jsonb_typeof(f.value) = 'object'
               AND jsonb_typeof(s.value) NOT IN ('number', 'null')
             LIMIT 1;
        END IF;
        IF NOT FOUND THEN
            SELECT e.key AS model, f.key AS field, s.key AS selector INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f,
                   jsonb_object_keys(CASE WHEN jsonb_typeof(f.value) = 'object' THEN f.value END) AS s (key)
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
               AND starts_with(f.key, 'search_context_cost_per_query') AND jsonb_typeof(f.value) = 'object'
               AND s.key !~ '^search_context_size_[^ ]+$'
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % has an unknown key "%"; expected search_context_size_low, _medium or _high',
                    bad.model, bad.field, left(bad.selector, 100)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        IF NOT FOUND THEN
            SELECT e.key AS model, f.key AS field, jsonb_typeof(f.value) AS type INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
               AND starts_with(f.key, 'search_context_cost_per_query')
               AND jsonb_typeof(f.value) NOT IN ('object', 'null')
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % must be an object {search_context_size_low, _medium, _high} of prices per query, got %',
                    bad.model, bad.field, bad.type
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        IF NOT FOUND THEN
            SELECT e.key AS model, 'off_peak_pricing' AS field, jsonb_typeof(e.value -> 'off_peak_pricing') AS type INTO bad
              FROM jsonb_each(catalog) AS e
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
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
           AND e.value ->> 'mode' = ANY (modes)
           AND jsonb_typeof(f.value) = 'number' AND (f.value #>> '{}')::numeric < 0
           AND f.key ~ price_field
         LIMIT 1;
        IF NOT FOUND THEN
            SELECT e.key AS model, 'off_peak_pricing.' || f.key AS field, f.value #>> '{}' AS value INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value -> 'off_peak_pricing') AS f
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
               AND jsonb_typeof(e.value -> 'off_peak_pricing') = 'object'
               AND jsonb_typeof(f.value) = 'number' AND (f.value #>> '{}')::numeric < 0
               AND f.key IN ('input_cost_per_token', 'output_cost_per_token', 'cache_read_input_token_cost')
             LIMIT 1;
        END IF;
        IF NOT FOUND THEN
            SELECT e.key AS model, f.key || '.' || s.key AS field, s.value #>> '{}' AS value INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f,
                   jsonb_each(CASE WHEN jsonb_typeof(f.value) = 'object' THEN f.value END) AS s
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' = ANY (modes)
               AND starts_with(f.key, 'search_context_cost_per_query') AND jsonb_typeof(f.value) = 'object'
               AND jsonb_typeof(s.value) = 'number' AND (s.value #>> '{}')::numeric < 0
             LIMIT 1;
        END IF;
        IF FOUND THEN
            RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % must not be negative (got %)', bad.model, bad.field, bad.value
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- (litellm_price_rows checks unit prices with llm_cost._unit_prices:
        -- 22023 naming the entry)
        CREATE TEMP TABLE llm_cost_import ON COMMIT DROP AS
            SELECT r.*, '-infinity'::timestamptz AS valid_from, NULL::text AS origin
              FROM llm_cost.litellm_price_rows(catalog) AS r;
    END IF;

    SELECT i.provider, i.model INTO bad
      FROM pg_temp.llm_cost_import AS i
     WHERE i.provider = '' OR i.model = ''
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: an entry of provider "%" names no model', left(bad.provider, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
                                                       i.off_peak_cache_read_per_mtok, i.cache_write_1h_per_mtok,
                                                       i.audio_input_per_mtok, i.image_input_per_mtok,
                                                       i.audio_output_per_mtok, i.image_output_per_mtok]) AS problem) AS u
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

    -- In time order, each step seeing the rows the ones before it added (so
    -- that a second import finds every decision made): (1) the dated price
    -- changes the file records up to now that the catalog does not have yet,
    -- each compared with the price the catalog has in force at its date; (2)
    -- the price the file has in force now: confirmed where the catalog has it
    -- in force, else (a changed price, a new model) a row dated now(); (3)
    -- the dated changes after now, as in (1). A row already at a change's
    -- date is never rewritten. Only genai-prices has dates, so a LiteLLM
    -- list is step (2) alone. Compared are the columns the format can set,
    -- for genai-prices as the generator compares them (gen_catalog.py
    -- COMPARED, COMPARED_SUBSETS): genai-prices has no reasoning, image,
    -- 1-hour cache-write, off-peak or unit prices, and its audio prices are
    -- compared at the rate they price (NULL: the input or output rate).
    added := 0;
    FOR phase IN 1..3 LOOP
        CONTINUE WHEN phase <> 2 AND NOT genai;
        IF phase = 2 THEN
            WITH i AS (
                SELECT DISTINCT ON (n.provider, n.model, n.service_tier) n.*
                  FROM pg_temp.llm_cost_import AS n
                 WHERE n.valid_from <= now()
                 ORDER BY n.provider, n.model, n.service_tier, n.valid_from DESC
            ), compared AS (
                SELECT i.*, c.id AS current_id,
                       c.id IS NOT NULL
                       AND (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
                            i.tier_threshold_tokens, i.input_per_mtok_above_tier, i.output_per_mtok_above_tier,
                            i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier, i.per_request)
                           IS NOT DISTINCT FROM
                           (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
                            c.tier_threshold_tokens, c.input_per_mtok_above_tier, c.output_per_mtok_above_tier,
                            c.cache_read_per_mtok_above_tier, c.cache_write_per_mtok_above_tier, c.per_request)
                       AND (NOT genai
                            OR (coalesce(i.audio_input_per_mtok, i.input_per_mtok), coalesce(i.audio_output_per_mtok, i.output_per_mtok))
                               IS NOT DISTINCT FROM
                               (coalesce(c.audio_input_per_mtok, c.input_per_mtok), coalesce(c.audio_output_per_mtok, c.output_per_mtok)))
                       AND (genai
                            OR (i.reasoning_per_mtok, i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
                                i.off_peak_cache_read_per_mtok, i.off_peak_windows, i.cache_write_1h_per_mtok,
                                i.audio_input_per_mtok, i.image_input_per_mtok, i.audio_output_per_mtok,
                                i.image_output_per_mtok, i.unit_prices)
                               IS NOT DISTINCT FROM
                               (c.reasoning_per_mtok, c.off_peak_input_per_mtok, c.off_peak_output_per_mtok,
                                c.off_peak_cache_read_per_mtok, c.off_peak_windows, c.cache_write_1h_per_mtok,
                                c.audio_input_per_mtok, c.image_input_per_mtok, c.audio_output_per_mtok,
                                c.image_output_per_mtok, c.unit_prices)) AS unchanged
                  FROM i
                  LEFT JOIN llm_cost.current_prices AS c USING (provider, model, service_tier)
            ), confirmed AS (
                -- Prices that match the row in force are confirmed, not duplicated.
                UPDATE llm_cost.prices AS p SET verified_at = now()
                  FROM compared
                 WHERE p.id = compared.current_id AND compared.unchanged
            )
            -- The other prices (changed or new) as rows dated now(). A second
            -- import in the same transaction (same now()) replaces that row,
            -- which keeps its currency (keep_currency), as it always has.
            SELECT count(*) INTO more
              FROM (SELECT llm_cost._upsert_prices(
                               provider => array_agg(i.provider), model => array_agg(i.model),
                               service_tier => array_agg(i.service_tier), valid_from => array_agg(now()),
                               input_per_mtok => array_agg(i.input_per_mtok),
                               output_per_mtok => array_agg(i.output_per_mtok),
                               cache_read_per_mtok => array_agg(i.cache_read_per_mtok),
                               cache_write_per_mtok => array_agg(i.cache_write_per_mtok),
                               reasoning_per_mtok => array_agg(i.reasoning_per_mtok),
                               tier_threshold_tokens => array_agg(i.tier_threshold_tokens),
                               input_per_mtok_above_tier => array_agg(i.input_per_mtok_above_tier),
                               output_per_mtok_above_tier => array_agg(i.output_per_mtok_above_tier),
                               cache_read_per_mtok_above_tier => array_agg(i.cache_read_per_mtok_above_tier),
                               cache_write_per_mtok_above_tier => array_agg(i.cache_write_per_mtok_above_tier),
                               per_request => array_agg(i.per_request), currency => array_agg('USD'::text),
                               source => array_agg(import_prices.source), verified_at => array_agg(now()),
                               off_peak_input_per_mtok => array_agg(i.off_peak_input_per_mtok),
                               off_peak_output_per_mtok => array_agg(i.off_peak_output_per_mtok),
                               off_peak_cache_read_per_mtok => array_agg(i.off_peak_cache_read_per_mtok),
                               off_peak_windows => array_agg(i.off_peak_windows),
                               cache_write_1h_per_mtok => array_agg(i.cache_write_1h_per_mtok),
                               audio_input_per_mtok => array_agg(i.audio_input_per_mtok),
                               image_input_per_mtok => array_agg(i.image_input_per_mtok),
                               audio_output_per_mtok => array_agg(i.audio_output_per_mtok),
                               image_output_per_mtok => array_agg(i.image_output_per_mtok),
                               unit_prices => array_agg(i.unit_prices), keep_currency => true)
                      FROM compared AS i
                     WHERE NOT i.unchanged) AS upserted;
            added := added + more;
            CONTINUE;
        END IF;
        FOR rec IN SELECT * FROM pg_temp.llm_cost_import AS i
                  WHERE i.valid_from > '-infinity' AND (i.valid_from <= now()) = (phase = 1)
                  ORDER BY i.provider, i.model, i.service_tier, i.valid_from LOOP
            CONTINUE WHEN EXISTS (
                SELECT FROM llm_cost.prices AS p
                 WHERE (p.provider, p.model, p.service_tier, p.valid_from) = (rec.provider, rec.model, rec.service_tier, rec.valid_from));
            SELECT p.* INTO cur
              FROM llm_cost.prices AS p
             WHERE (p.provider, p.model, p.service_tier) = (rec.provider, rec.model, rec.service_tier)
               AND p.valid_from <= rec.valid_from
             ORDER BY p.valid_from DESC
             LIMIT 1;
            CONTINUE WHEN FOUND
                AND (rec.input_per_mtok, rec.output_per_mtok, rec.cache_read_per_mtok, rec.cache_write_per_mtok,
                     rec.tier_threshold_tokens, rec.input_per_mtok_above_tier, rec.output_per_mtok_above_tier,
                     rec.cache_read_per_mtok_above_tier, rec.cache_write_per_mtok_above_tier, rec.per_request)
                    IS NOT DISTINCT FROM
                    (cur.input_per_mtok, cur.output_per_mtok, cur.cache_read_per_mtok, cur.cache_write_per_mtok,
                     cur.tier_threshold_tokens, cur.input_per_mtok_above_tier, cur.output_per_mtok_above_tier,
                     cur.cache_read_per_mtok_above_tier, cur.cache_write_per_mtok_above_tier, cur.per_request)
                AND (coalesce(rec.audio_input_per_mtok, rec.input_per_mtok), coalesce(rec.audio_output_per_mtok, rec.output_per_mtok))
                    IS NOT DISTINCT FROM
                    (coalesce(cur.audio_input_per_mtok, cur.input_per_mtok), coalesce(cur.audio_output_per_mtok, cur.output_per_mtok));
            INSERT INTO llm_cost.prices (
                provider, model, service_tier, valid_from, input_per_mtok, output_per_mtok, cache_read_per_mtok,
                cache_write_per_mtok, reasoning_per_mtok, tier_threshold_tokens, input_per_mtok_above_tier,
                output_per_mtok_above_tier, cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                per_request, currency, source, verified_at, cache_write_1h_per_mtok, audio_input_per_mtok,
                audio_output_per_mtok)
            VALUES (rec.provider, rec.model, rec.service_tier, rec.valid_from, rec.input_per_mtok, rec.output_per_mtok,
                    rec.cache_read_per_mtok, rec.cache_write_per_mtok, NULL, rec.tier_threshold_tokens,
                    rec.input_per_mtok_above_tier, rec.output_per_mtok_above_tier, rec.cache_read_per_mtok_above_tier,
                    rec.cache_write_per_mtok_above_tier, rec.per_request, 'USD', import_prices.source, now(),
                    rec.cache_write_1h_per_mtok, rec.audio_input_per_mtok, rec.audio_output_per_mtok);
            added := added + 1;
        END LOOP;
    END LOOP;
    RETURN added;
END $$;
COMMENT ON FUNCTION llm_cost.import_prices(jsonb, text) IS
  'Loads a price file, LiteLLM''s model_prices_and_context_window.json (a JSON object) or genai-prices'' data.json (a JSON array), mapped as docs/charges.md says (every mode, token subsets, unit_prices): adds a row dated now() for each (provider, model, service tier) whose price in force now changed or is new (LiteLLM''s off_peak_pricing and unit prices included), and for genai-prices the dated price changes it records that the catalog lacks (valid_from = the start date, 00:00 UTC); marks unchanged prices verified; never deletes or rewrites a row. source defaults to ''litellm'' or ''genai-prices''. Idempotent; returns rows added.';

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
COMMENT ON COLUMN llm_cost.current_prices.id IS 'Row id; usage.price_id refers to it.';
COMMENT ON COLUMN llm_cost.current_prices.provider IS 'Provider, lower case (openai, anthropic, gemini, bedrock, ...).';
COMMENT ON COLUMN llm_cost.current_prices.model IS 'Model name as the catalog spells it.';
COMMENT ON COLUMN llm_cost.current_prices.service_tier IS 'Service tier these prices apply to: standard, batch, flex or priority.';
COMMENT ON COLUMN llm_cost.current_prices.valid_from IS 'When this price takes effect; shipped catalog rows are in force since -infinity.';
COMMENT ON COLUMN llm_cost.current_prices.input_per_mtok IS 'Price per million input tokens that are neither cache reads nor cache writes.';
COMMENT ON COLUMN llm_cost.current_prices.output_per_mtok IS 'Price per million output tokens (reasoning tokens too when reasoning_per_mtok is NULL).';
COMMENT ON COLUMN llm_cost.current_prices.cache_read_per_mtok IS 'Price per million input tokens read from the prompt cache; NULL: the input price.';
COMMENT ON COLUMN llm_cost.current_prices.cache_write_per_mtok IS 'Price per million input tokens written to the prompt cache; NULL: the input price.';
COMMENT ON COLUMN llm_cost.current_prices.reasoning_per_mtok IS 'Price per million reasoning tokens; NULL: the output price.';
COMMENT ON COLUMN llm_cost.current_prices.tier_threshold_tokens IS 'When a call''s input_tokens exceed this, the whole call uses the *_above_tier prices.';
COMMENT ON COLUMN llm_cost.current_prices.input_per_mtok_above_tier IS 'Input price of a call whose input_tokens exceed tier_threshold_tokens; NULL: no tier, every call uses the base prices.';
COMMENT ON COLUMN llm_cost.current_prices.output_per_mtok_above_tier IS 'Output price of a call above tier_threshold_tokens; NULL: output_per_mtok.';
COMMENT ON COLUMN llm_cost.current_prices.cache_read_per_mtok_above_tier IS 'Cache-read price of a call above tier_threshold_tokens; NULL: cache_read_per_mtok (or, without one, the input price above the tier).';
COMMENT ON COLUMN llm_cost.current_prices.cache_write_per_mtok_above_tier IS 'Cache-write price of a call above tier_threshold_tokens; NULL: cache_write_per_mtok (or, without one, the input price above the tier).';
COMMENT ON COLUMN llm_cost.current_prices.per_request IS 'Flat price added to every call, in currency units (not per million).';
COMMENT ON COLUMN llm_cost.current_prices.currency IS 'Currency of all the prices in this row (ISO 4217 code, e.g. USD).';
COMMENT ON COLUMN llm_cost.current_prices.source IS '''catalog'' for shipped rows, ''custom'' for set_price, or the name given to import_prices.';
COMMENT ON COLUMN llm_cost.current_prices.verified_at IS 'When this price was last confirmed (by the shipped catalog''s date, set_price or an import that found it unchanged).';
COMMENT ON COLUMN llm_cost.current_prices.off_peak_input_per_mtok IS 'Input price (per million tokens) of a call made inside one of off_peak_windows; NULL when the row has no time-of-day prices.';
COMMENT ON COLUMN llm_cost.current_prices.off_peak_output_per_mtok IS 'Output price of a call inside off_peak_windows; reasoning tokens without their own price use it too.';
COMMENT ON COLUMN llm_cost.current_prices.off_peak_cache_read_per_mtok IS 'Cache-read price of a call inside off_peak_windows; when NULL such calls keep cache_read_per_mtok (or, without one, the off-peak input price).';
COMMENT ON COLUMN llm_cost.current_prices.off_peak_windows IS 'When the off-peak prices apply (LiteLLM''s off_peak_pricing.windows, normalised): an array of {hours_utc: ["HH:MM-HH:MM" UTC, end 00:00 = midnight], weekdays: [1 = Monday .. 7], weekday_timezone: the zone the weekday is taken in}. A call is off-peak when its time (usage.occurred_at) is inside some window. NULL: one price all day.';
COMMENT ON COLUMN llm_cost.current_prices.cache_write_1h_per_mtok IS 'Price of 1-hour prompt-cache writes (units.cache_write_1h_tokens, part of cache_write_tokens); NULL: the cache-write price.';
COMMENT ON COLUMN llm_cost.current_prices.audio_input_per_mtok IS 'Price of audio input tokens (units.audio_input_tokens, part of the uncached input); NULL: the input price.';
COMMENT ON COLUMN llm_cost.current_prices.image_input_per_mtok IS 'Price of image input tokens (units.image_input_tokens, part of the uncached input); NULL: the input price.';
COMMENT ON COLUMN llm_cost.current_prices.audio_output_per_mtok IS 'Price of audio output tokens (units.audio_output_tokens, part of output outside reasoning); NULL: the output price.';
COMMENT ON COLUMN llm_cost.current_prices.image_output_per_mtok IS 'Price of image output tokens (units.image_output_tokens, part of output outside reasoning); NULL: the output price.';
COMMENT ON COLUMN llm_cost.current_prices.unit_prices IS 'Prices per unit (not per million) of counted units: {"web_search_queries": {"low": 0.03, "medium": 0.035, "high": 0.05, "default": 0.035}, "images": {"hd/1024x1792": 0.12, ...}, "audio_seconds": 0.0001, "requests": ...}. A selector is chosen from the call''s quality/size, size, resolution, quality, search_context_size, then default; a unit with quantity above 0 and no price makes the call unpriced. requests: a fee charged once per call. See docs/charges.md.';

CREATE VIEW llm_cost.stale_prices WITH (security_invoker = true) AS
SELECT c.*,
       now() - c.verified_at AS unverified_for
  FROM llm_cost.current_prices AS c
 WHERE c.verified_at IS NULL
    OR c.verified_at < now() - coalesce(nullif(current_setting('llm_cost.price_stale_after', true), ''), '30 days')::interval;
COMMENT ON VIEW llm_cost.stale_prices IS
  'Prices in force whose verified_at is older than llm_cost.price_stale_after (default 30 days), or never verified.';
COMMENT ON COLUMN llm_cost.stale_prices.id IS 'Row id; usage.price_id refers to it.';
COMMENT ON COLUMN llm_cost.stale_prices.provider IS 'Provider, lower case (openai, anthropic, gemini, bedrock, ...).';
COMMENT ON COLUMN llm_cost.stale_prices.model IS 'Model name as the catalog spells it.';
COMMENT ON COLUMN llm_cost.stale_prices.service_tier IS 'Service tier these prices apply to: standard, batch, flex or priority.';
COMMENT ON COLUMN llm_cost.stale_prices.valid_from IS 'When this price takes effect; shipped catalog rows are in force since -infinity.';
COMMENT ON COLUMN llm_cost.stale_prices.input_per_mtok IS 'Price per million input tokens that are neither cache reads nor cache writes.';
COMMENT ON COLUMN llm_cost.stale_prices.output_per_mtok IS 'Price per million output tokens (reasoning tokens too when reasoning_per_mtok is NULL).';
COMMENT ON COLUMN llm_cost.stale_prices.cache_read_per_mtok IS 'Price per million input tokens read from the prompt cache; NULL: the input price.';
COMMENT ON COLUMN llm_cost.stale_prices.cache_write_per_mtok IS 'Price per million input tokens written to the prompt cache; NULL: the input price.';
COMMENT ON COLUMN llm_cost.stale_prices.reasoning_per_mtok IS 'Price per million reasoning tokens; NULL: the output price.';
COMMENT ON COLUMN llm_cost.stale_prices.tier_threshold_tokens IS 'When a call''s input_tokens exceed this, the whole call uses the *_above_tier prices.';
COMMENT ON COLUMN llm_cost.stale_prices.input_per_mtok_above_tier IS 'Input price of a call whose input_tokens exceed tier_threshold_tokens; NULL: no tier, every call uses the base prices.';
COMMENT ON COLUMN llm_cost.stale_prices.output_per_mtok_above_tier IS 'Output price of a call above tier_threshold_tokens; NULL: output_per_mtok.';
COMMENT ON COLUMN llm_cost.stale_prices.cache_read_per_mtok_above_tier IS 'Cache-read price of a call above tier_threshold_tokens; NULL: cache_read_per_mtok (or, without one, the input price above the tier).';
COMMENT ON COLUMN llm_cost.stale_prices.cache_write_per_mtok_above_tier IS 'Cache-write price of a call above tier_threshold_tokens; NULL: cache_write_per_mtok (or, without one, the input price above the tier).';
COMMENT ON COLUMN llm_cost.stale_prices.per_request IS 'Flat price added to every call, in currency units (not per million).';
COMMENT ON COLUMN llm_cost.stale_prices.currency IS 'Currency of all the prices in this row (ISO 4217 code, e.g. USD).';
COMMENT ON COLUMN llm_cost.stale_prices.source IS '''catalog'' for shipped rows, ''custom'' for set_price, or the name given to import_prices.';
COMMENT ON COLUMN llm_cost.stale_prices.verified_at IS 'When this price was last confirmed (by the shipped catalog''s date, set_price or an import that found it unchanged).';
COMMENT ON COLUMN llm_cost.stale_prices.off_peak_input_per_mtok IS 'Input price (per million tokens) of a call made inside one of off_peak_windows; NULL when the row has no time-of-day prices.';
COMMENT ON COLUMN llm_cost.stale_prices.off_peak_output_per_mtok IS 'Output price of a call inside off_peak_windows; reasoning tokens without their own price use it too.';
COMMENT ON COLUMN llm_cost.stale_prices.off_peak_cache_read_per_mtok IS 'Cache-read price of a call inside off_peak_windows; when NULL such calls keep cache_read_per_mtok (or, without one, the off-peak input price).';
COMMENT ON COLUMN llm_cost.stale_prices.off_peak_windows IS 'When the off-peak prices apply (LiteLLM''s off_peak_pricing.windows, normalised): an array of {hours_utc: ["HH:MM-HH:MM" UTC, end 00:00 = midnight], weekdays: [1 = Monday .. 7], weekday_timezone: the zone the weekday is taken in}. A call is off-peak when its time (usage.occurred_at) is inside some window. NULL: one price all day.';
COMMENT ON COLUMN llm_cost.stale_prices.cache_write_1h_per_mtok IS 'Price of 1-hour prompt-cache writes (units.cache_write_1h_tokens, part of cache_write_tokens); NULL: the cache-write price.';
COMMENT ON COLUMN llm_cost.stale_prices.audio_input_per_mtok IS 'Price of audio input tokens (units.audio_input_tokens, part of the uncached input); NULL: the input price.';
COMMENT ON COLUMN llm_cost.stale_prices.image_input_per_mtok IS 'Price of image input tokens (units.image_input_tokens, part of the uncached input); NULL: the input price.';
COMMENT ON COLUMN llm_cost.stale_prices.audio_output_per_mtok IS 'Price of audio output tokens (units.audio_output_tokens, part of output outside reasoning); NULL: the output price.';
COMMENT ON COLUMN llm_cost.stale_prices.image_output_per_mtok IS 'Price of image output tokens (units.image_output_tokens, part of output outside reasoning); NULL: the output price.';
COMMENT ON COLUMN llm_cost.stale_prices.unit_prices IS 'Prices per unit (not per million) of counted units: {"web_search_queries": {"low": 0.03, "medium": 0.035, "high": 0.05, "default": 0.035}, "images": {"hd/1024x1792": 0.12, ...}, "audio_seconds": 0.0001, "requests": ...}. A selector is chosen from the call''s quality/size, size, resolution, quality, search_context_size, then default; a unit with quantity above 0 and no price makes the call unpriced. requests: a fee charged once per call. See docs/charges.md.';
COMMENT ON COLUMN llm_cost.stale_prices.unverified_for IS 'now() - verified_at; NULL when never verified.';

CREATE VIEW llm_cost.unpriced_usage WITH (security_invoker = true) AS
SELECT *
  FROM llm_cost.usage
 WHERE cost IS NULL;
COMMENT ON VIEW llm_cost.unpriced_usage IS
  'Usage rows kept without a price (no price for their model at the time); llm_cost.reprice() prices them once a price exists.';
COMMENT ON COLUMN llm_cost.unpriced_usage.id IS 'Row id, increasing in insertion order (rollup_state.watermark is one).';
COMMENT ON COLUMN llm_cost.unpriced_usage.occurred_at IS 'When the call happened (default: now()); its UTC day is the day the rollups and daily views count it in.';
COMMENT ON COLUMN llm_cost.unpriced_usage.provider IS 'Provider as the app logged it (openai, anthropic, ...); other spellings resolve through provider_aliases.';
COMMENT ON COLUMN llm_cost.unpriced_usage.model IS 'Model name as the app logged it; resolved to a catalog model for pricing (see model_resolution).';
COMMENT ON COLUMN llm_cost.unpriced_usage.input_tokens IS 'Every prompt token billed, including cache reads and cache writes.';
COMMENT ON COLUMN llm_cost.unpriced_usage.output_tokens IS 'Every completion token, including reasoning tokens.';
COMMENT ON COLUMN llm_cost.unpriced_usage.cached_input_tokens IS 'Part of input_tokens read from the prompt cache.';
COMMENT ON COLUMN llm_cost.unpriced_usage.cache_write_tokens IS 'Part of input_tokens written to the prompt cache.';
COMMENT ON COLUMN llm_cost.unpriced_usage.reasoning_tokens IS 'Part of output_tokens spent on reasoning.';
COMMENT ON COLUMN llm_cost.unpriced_usage.service_tier IS 'Service tier the call ran in: standard, batch, flex or priority; priced with that tier''s prices.';
COMMENT ON COLUMN llm_cost.unpriced_usage.raw_usage IS 'The provider''s usage object as returned (OpenAI, Anthropic, Gemini, Bedrock); fills the token columns when they are all 0.';
COMMENT ON COLUMN llm_cost.unpriced_usage.cost IS 'Always NULL here: the call has no price yet.';
COMMENT ON COLUMN llm_cost.unpriced_usage.currency IS 'Currency of cost (ISO 4217 code); the price''s currency when the insert leaves it NULL and the call is priced.';
COMMENT ON COLUMN llm_cost.unpriced_usage.price_id IS 'Always NULL here: no price row priced the call.';
COMMENT ON COLUMN llm_cost.unpriced_usage.latency_ms IS 'How long the call took, in milliseconds; NULL when not measured.';
COMMENT ON COLUMN llm_cost.unpriced_usage.success IS 'False when the call failed; failed calls stay in the ledger.';
COMMENT ON COLUMN llm_cost.unpriced_usage.error_type IS 'Kind of error of a failed call (app-defined, e.g. rate_limit, timeout).';
COMMENT ON COLUMN llm_cost.unpriced_usage.tenant_id IS 'Tenant the row belongs to; defaults to llm_cost.current_tenant(). Roles other than the admin see only their tenant''s rows.';
COMMENT ON COLUMN llm_cost.unpriced_usage.project_id IS 'Project the spend is attributed to (app-defined).';
COMMENT ON COLUMN llm_cost.unpriced_usage.user_id IS 'End user the spend is attributed to (app-defined).';
COMMENT ON COLUMN llm_cost.unpriced_usage.agent_id IS 'Agent that made the call (app-defined).';
COMMENT ON COLUMN llm_cost.unpriced_usage.session_id IS 'Session or conversation the row belongs to (app-defined).';
COMMENT ON COLUMN llm_cost.unpriced_usage.execution_id IS 'One run of a workflow or agent; llm_cost.execution_costs adds up its model and compute cost.';
COMMENT ON COLUMN llm_cost.unpriced_usage.operation IS 'What the call was for (app-defined, e.g. chat, embed, summarise).';
COMMENT ON COLUMN llm_cost.unpriced_usage.tags IS 'Free-form labels (a JSON object); stored, not interpreted.';
COMMENT ON COLUMN llm_cost.unpriced_usage.units IS 'The call''s charges beyond plain tokens (NULL: none): token subsets (cache_write_1h_tokens, audio_/image_input_tokens, audio_/image_output_tokens), counted units (web_search_queries, maps_queries, images, input_images, audio_seconds, output_audio_seconds, video_seconds, characters, queries, pages) and qualifiers (search_context_size, size, quality, resolution). Filled from raw_usage when not given. See docs/charges.md.';
COMMENT ON COLUMN llm_cost.unpriced_usage.reservation_id IS 'The reservation (llm_cost.reserve) this call was made under: inserting the row settles it in the same transaction (its holds go, the actual cost counts). Not a foreign key: a settled or expired reservation is gone, the row stays.';

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
COMMENT ON COLUMN llm_cost.model_resolution.provider IS 'Provider as logged.';
COMMENT ON COLUMN llm_cost.model_resolution.model IS 'Model name as logged.';
COMMENT ON COLUMN llm_cost.model_resolution.first_call IS 'Its first call.';
COMMENT ON COLUMN llm_cost.model_resolution.last_call IS 'Its last call (the name resolves as of then).';
COMMENT ON COLUMN llm_cost.model_resolution.fine_tune IS 'True when the name is a fine-tune priced as its base model.';
COMMENT ON COLUMN llm_cost.model_resolution.resolved_provider IS 'Catalog provider it resolves to; NULL when unresolved.';
COMMENT ON COLUMN llm_cost.model_resolution.resolved_model IS 'Catalog model it resolves to; NULL when unresolved.';

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
            src.cache_write_tokens, src.reasoning_tokens, src.occurred_at, src.service_tier, src.units) AS p
     WHERE u.id = src.id AND u.occurred_at = src.occurred_at   -- the key: each row found in its own partition
       -- (the same row, so the same tenant: on Citus, where usage is
       -- distributed by tenant_id, it makes the join one within each shard)
       AND u.tenant_id IS NOT DISTINCT FROM src.tenant_id
       AND src.occurred_at >= from_time AND src.occurred_at < to_time
       AND (src.cost IS NULL OR src.price_id IS NOT NULL)
       AND (src.cost, src.price_id) IS DISTINCT FROM (p.cost, p.price_id);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$;
COMMENT ON FUNCTION llm_cost.reprice(timestamptz, timestamptz) IS
  'Prices usage rows in [from_time, to_time) again with the prices in force when each call occurred: fills rows left unpriced and corrects rows whose price changed. Rows whose cost the app supplied are kept. Returns rows changed.';

---------------------------------------------------------------------------
-- Comments on the functions written in Rust (src/pricing/sql_pricing.rs)
---------------------------------------------------------------------------
COMMENT ON FUNCTION llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb) IS
  'The exact cost of one call at time at (default now()) in the price''s currency; NULL when the model has no price, or a counted unit of the call has none. Tokens: input includes cached and cache-write tokens, output includes reasoning tokens. units: the call''s charges beyond tokens (docs/charges.md).';
COMMENT ON FUNCTION llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb) IS
  'Each component of a call''s cost (token lines, including audio, image and 1-hour cache-write subsets the call has; units: each counted unit with its quantity, selector, price and cost), the price row used, the service tier priced, and how the model name was resolved (resolution: method, the rewrites of the name as rules, fine_tune); when there is no price, cost is null and reason (or resolution.reason) says why.';
COMMENT ON FUNCTION llm_cost.resolve_model(text, text, timestamptz) IS
  'How a (provider, model) as an app logged it resolves, without pricing a call: method (exact, case_insensitive, alias, variant, normalised, fine_tune, provider_prefix, provider_family, provider_sibling), rules (the rewrites of the name), fine_tune, the catalog provider and model, the standard price row in force at at; or NULLs and the reason. A dated name never resolves to a different snapshot.';
COMMENT ON FUNCTION llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb) IS
  'Prices one usage row: (cost, price_id, currency), all NULL when unpriced. Used by reprice().';
COMMENT ON FUNCTION llm_cost.catalog_load_count() IS
  'How many times this backend has loaded the price catalog into memory (diagnostics).';
COMMENT ON FUNCTION llm_cost._litellm_per_mtok(jsonb, text, text) IS
  'Internal: one LiteLLM per-token price field as an exact per-million price, with service-tier fallback.';
COMMENT ON FUNCTION llm_cost._litellm_token_rate(jsonb, text, text) IS
  'Internal: a tier''s input or output token price from a LiteLLM entry; a batch row without its own price bills half the standard one.';
COMMENT ON FUNCTION llm_cost._litellm_per_unit(jsonb, text, text) IS
  'Internal: one LiteLLM per-unit price field (per image, second, character, query, page), exact, with service-tier fallback.';
COMMENT ON FUNCTION llm_cost._with_selectors(numeric, jsonb) IS
  'Internal: a unit price as unit_prices holds it: the flat price, or the selectors with the flat price as default.';
COMMENT ON FUNCTION llm_cost._litellm_unit_prices(jsonb, text, text, text, jsonb) IS
  'Internal: the unit_prices (not yet normalised) one LiteLLM entry gives one service tier, as docs/charges.md maps them, with its image size selectors and image default; NULL when none.';
COMMENT ON FUNCTION llm_cost._litellm_unit_fields(text) IS
  'Internal: the LiteLLM per-unit price fields read in an entry of a mode and the counted unit each prices, in order of preference (gen_catalog.py UNIT_FIELDS).';
COMMENT ON FUNCTION llm_cost._litellm_image_resolution(text) IS
  'Internal: the resolution an output_cost_per_image_<R> field prices images of (gen_catalog.py IMAGE_RES_RE), or NULL.';
COMMENT ON FUNCTION llm_cost._litellm_has_price(jsonb) IS
  'Internal: whether a LiteLLM entry has a price a row can hold, so that it is a model (gen_catalog.py has_price).';
COMMENT ON FUNCTION llm_cost._litellm_images_priced_as_input(jsonb) IS
  'Internal: whether an image-generation entry''s input_cost_per_image is its price per generated image (no output-side price; gen_catalog.py images_priced_as_input).';
COMMENT ON FUNCTION llm_cost._provider_defaults(text, text, numeric, numeric, numeric, numeric) IS
  'Internal: every provider default (a rate the price lists leave implicit): the row''s 1-hour cache-write price, filled in as 2x input for a Claude row whose 5-minute write is exactly 1.25x input (gen_catalog.py PROVIDER_DEFAULTS).';
COMMENT ON FUNCTION llm_cost._unit_prices(jsonb, text) IS
  'Internal: unit prices validated and normalised as llm_cost.prices stores them (selectors lower case, sizes as 1024x1792); raises 22023 naming the caller otherwise.';
COMMENT ON FUNCTION llm_cost._off_peak_windows(jsonb, text) IS
  'Internal: off-peak windows (an array, or LiteLLM''s off_peak_pricing object) validated and normalised as llm_cost.prices stores them; raises 22023 naming the caller otherwise.';
COMMENT ON FUNCTION llm_cost._check_prices(jsonb) IS
  'Internal: raises 22023 unless every price in the object is NULL or finite and non-negative.';
