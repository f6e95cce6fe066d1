//! `#[pg_test]`s: every pricing rule inside a real Postgres, with expected
//! costs computed by hand in the comments. Each test runs in a transaction
//! that is rolled back afterwards.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use super::*;

    /// Runs a query returning one text value (NULL → None).
    fn text(sql: &str) -> Option<String> {
        Spi::get_one::<String>(sql).expect(sql)
    }

    /// The cost as numeric text, normalised (no trailing zeros), or "NULL".
    fn cost(args: &str) -> String {
        text(&format!("SELECT trim_scale(llm_cost.llm_cost({args}))::text")).unwrap_or_else(|| "NULL".into())
    }

    fn run(sql: &str) {
        Spi::run(sql).expect(sql)
    }

    /// A test provider with round prices, in force since forever:
    /// input 3, output 15, cache read 0.3, cache write 3.75 per million;
    /// above 200k input tokens: input 6, output 22.5, cache read 0.6.
    fn test_prices() {
        run("SELECT llm_cost.set_price('testco', 'm1', 3, 15, cache_read_per_mtok => 0.3,
                 cache_write_per_mtok => 3.75, valid_from => '-infinity',
                 tier_threshold_tokens => 200000, input_per_mtok_above_tier => 6,
                 output_per_mtok_above_tier => 22.5, cache_read_per_mtok_above_tier => 0.6)");
    }

    #[pg_test]
    fn plain_call() {
        test_prices();
        // 1000*3 + 500*15 = 10500 / 1e6
        assert_eq!(cost("'testco', 'm1', 1000, 500"), "0.0105");
    }

    #[pg_test]
    fn cached_input() {
        test_prices();
        // (10000-4000)*3 + 4000*0.3 = 18000 + 1200 = 19200 / 1e6
        assert_eq!(cost("'testco', 'm1', 10000, 0, 4000"), "0.0192");
    }

    #[pg_test]
    fn cache_write() {
        test_prices();
        // (10000-2000)*3 + 2000*3.75 = 24000 + 7500 = 31500 / 1e6
        assert_eq!(cost("'testco', 'm1', 10000, 0, 0, 2000"), "0.0315");
    }

    #[pg_test]
    fn reasoning_with_and_without_its_own_price() {
        test_prices();
        // no reasoning price: all 1000 output tokens at 15
        assert_eq!(cost("'testco', 'm1', 0, 1000, 0, 0, 400"), "0.015");
        run("SELECT llm_cost.set_price('testco', 'm1', 3, 15, reasoning_per_mtok => 20, valid_from => '-infinity')");
        // (1000-400)*15 + 400*20 = 9000 + 8000 = 17000 / 1e6
        assert_eq!(cost("'testco', 'm1', 0, 1000, 0, 0, 400"), "0.017");
    }

    #[pg_test]
    fn above_tier_prices_the_whole_call() {
        test_prices();
        // 250k input > 200k: (250000-100000)*6 + 100000*0.6 + 1000*22.5
        // = 900000 + 60000 + 22500 = 982500 / 1e6
        assert_eq!(cost("'testco', 'm1', 250000, 1000, 100000"), "0.9825");
        // exactly at the threshold is not above it: 200000*3 = 0.6
        assert_eq!(cost("'testco', 'm1', 200000, 0"), "0.6");
    }

    #[pg_test]
    fn service_tiers_and_fallback_to_standard() {
        test_prices();
        run("SELECT llm_cost.set_price('testco', 'm1', 1.5, 7.5, service_tier => 'batch', valid_from => '-infinity')");
        // batch: 1000*1.5 + 1000*7.5 = 9000 / 1e6
        assert_eq!(cost("'testco', 'm1', 1000, 1000, service_tier => 'batch'"), "0.009");
        // flex has no row: standard prices, 1000*3 + 1000*15 = 18000 / 1e6
        assert_eq!(cost("'testco', 'm1', 1000, 1000, service_tier => 'flex'"), "0.018");
        let priced_as = text(
            "SELECT llm_cost.cost_breakdown('testco', 'm1', 1, 1, service_tier => 'flex') -> 'service_tier' ->> 'priced_as'",
        );
        assert_eq!(priced_as.as_deref(), Some("standard"));
    }

    #[pg_test]
    fn missing_cache_prices_fall_back_to_input() {
        run("SELECT llm_cost.set_price('testco', 'plain', 2, 8, valid_from => '-infinity')");
        // cache reads and writes at the input price: 1000*2 = 2000 / 1e6
        assert_eq!(cost("'testco', 'plain', 1000, 0, 600, 400"), "0.002");
    }

    #[pg_test]
    fn per_request_price() {
        run("SELECT llm_cost.set_price('testco', 'search', 1, 1, per_request => 0.005, valid_from => '-infinity')");
        // 1e6*1 / 1e6 + 0.005
        assert_eq!(cost("'testco', 'search', 1000000, 0"), "1.005");
    }

    #[pg_test]
    fn time_travel_across_a_price_change() {
        run("SELECT llm_cost.set_price('testco', 'tt', 1, 2, valid_from => '2024-01-01 00:00:00+00')");
        run("SELECT llm_cost.set_price('testco', 'tt', 2, 4, valid_from => '2024-06-01 00:00:00+00')");
        assert_eq!(cost("'testco', 'tt', 1000000, 1000000, at => '2024-03-01'"), "3");
        assert_eq!(cost("'testco', 'tt', 1000000, 1000000, at => '2024-06-01 00:00:00+00'"), "6");
        assert_eq!(cost("'testco', 'tt', 1000000, 1000000, at => '2024-05-31 23:59:59.999999+00'"), "3");
        assert_eq!(cost("'testco', 'tt', 1000000, 1000000, at => '2023-12-31'"), "NULL");
        // the usage trigger prices each row at its own occurred_at
        run("INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens) VALUES
             ('2024-02-01', 'testco', 'tt', 1000000, 0), ('2024-07-01', 'testco', 'tt', 1000000, 0)");
        let costs = text("SELECT string_agg(trim_scale(cost)::text, ',' ORDER BY occurred_at) FROM llm_cost.usage WHERE model = 'tt'");
        assert_eq!(costs.as_deref(), Some("1,2"));
    }

    /// DeepSeek-style time-of-day prices: 1 / 4 per million, cache read 0.1;
    /// off-peak 0.5 / 2, on weekdays 00:00-01:00, 04:00-06:00 and 10:00-24:00 UTC
    /// and all weekend.
    fn off_peak_prices() {
        run(r#"SELECT llm_cost.set_price('testco', 'op', 1, 4, cache_read_per_mtok => 0.1, valid_from => '-infinity',
                 off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 2,
                 off_peak_windows => '[{"hours_utc": ["00:00-01:00", "04:00-06:00", "10:00-00:00"], "weekdays": [1,2,3,4,5]},
                                       {"hours_utc": "00:00-00:00", "weekdays": [6,7]}]')"#);
    }

    #[pg_test]
    fn off_peak_windows_decide_the_price() {
        off_peak_prices();
        let at = |ts: &str| cost(&format!("'testco', 'op', 1000000, 1000000, at => '{ts}'"));
        // 2026-06-01 is a Monday. Off-peak: 0.5 + 2; peak: 1 + 4.
        assert_eq!(at("2026-06-01 00:59:59.999999+00"), "2.5");
        assert_eq!(at("2026-06-01 01:00:00+00"), "5");
        assert_eq!(at("2026-06-01 03:59:59+00"), "5");
        assert_eq!(at("2026-06-01 04:00:00+00"), "2.5");
        assert_eq!(at("2026-06-01 09:59:59+00"), "5");
        assert_eq!(at("2026-06-01 10:00:00+00"), "2.5");
        assert_eq!(at("2026-06-01 23:59:59.999999+00"), "2.5");
        // the hours are UTC whatever the session's zone: 03:00+02 is 01:00 UTC
        assert_eq!(at("2026-06-01 03:00:00+02"), "5");
        // Saturday 2026-06-06: all day
        assert_eq!(at("2026-06-06 01:00:00+00"), "2.5");
        assert_eq!(at("2026-06-06 08:00:00+00"), "2.5");
        // cache reads without an off-peak price keep the regular 0.1; reasoning falls back to off-peak output
        // 1000000 input (600000 cached): 400000*0.5 + 600000*0.1 = 260000; 1000000 output incl. 300000 reasoning at 2
        assert_eq!(cost("'testco', 'op', 1000000, 1000000, 600000, 0, 300000, at => '2026-06-06 01:00:00+00'"), "2.26");
        // the usage trigger prices each row at its occurred_at
        run("INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens) VALUES
             ('2026-06-01 00:59:00+00', 'testco', 'op', 1000000, 0), ('2026-06-01 01:00:00+00', 'testco', 'op', 1000000, 0)");
        let costs = text("SELECT string_agg(trim_scale(cost)::text, ',' ORDER BY occurred_at) FROM llm_cost.usage WHERE model = 'op'");
        assert_eq!(costs.as_deref(), Some("0.5,1"));
        // and reprice agrees
        assert_eq!(Spi::get_one::<i64>("SELECT llm_cost.reprice()").unwrap(), Some(0));
    }

    #[pg_test]
    fn off_peak_weekday_in_a_time_zone() {
        // Mondays from 16:00 UTC, the weekday taken in Shanghai (UTC+8): Sunday 16:00 UTC is Monday there
        run(r#"SELECT llm_cost.set_price('testco', 'tz', 1, 1, valid_from => '-infinity',
                 off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5,
                 off_peak_windows => '{"windows": [{"hours_utc": "16:00-00:00", "weekdays": [1]}], "weekday_timezone": "Asia/Shanghai"}')"#);
        let at = |ts: &str| cost(&format!("'testco', 'tz', 1000000, 0, at => '{ts}'"));
        assert_eq!(at("2026-05-31 15:59:59+00"), "1"); // Sunday 23:59 in Shanghai, and before 16:00 UTC
        assert_eq!(at("2026-05-31 16:00:00+00"), "0.5"); // Monday 00:00 in Shanghai
        assert_eq!(at("2026-05-31 23:59:59+00"), "0.5");
        assert_eq!(at("2026-06-01 16:00:00+00"), "1"); // Monday in UTC, Tuesday in Shanghai
                                                       // stored normalised: the zone moved into the window, every key present
        let stored =
            text("SELECT off_peak_windows::text FROM llm_cost.prices WHERE provider = 'testco' AND model = 'tz'");
        assert_eq!(
            stored.as_deref(),
            Some(r#"[{"weekdays": [1], "hours_utc": ["16:00-00:00"], "weekday_timezone": "Asia/Shanghai"}]"#)
        );
    }

    #[pg_test]
    fn cost_breakdown_names_the_off_peak_window() {
        off_peak_prices();
        let b = |ts: &str, path: &str| {
            text(&format!("SELECT llm_cost.cost_breakdown('testco', 'op', 1000, 1000, at => '{ts}') #>> '{path}'"))
        };
        let off = "2026-06-06 12:00:00+00"; // Saturday
        assert_eq!(b(off, "{off_peak,input_per_mtok}").as_deref(), Some("0.5"));
        assert_eq!(b(off, "{off_peak,window,weekdays}").as_deref(), Some("[6, 7]"));
        assert_eq!(b(off, "{components,output,per_mtok}").as_deref(), Some("2"));
        assert_eq!(b(off, "{cost}").as_deref(), Some("0.0025"));
        let peak = "2026-06-01 02:00:00+00";
        assert_eq!(b(peak, "{off_peak}"), None); // JSON null
        assert_eq!(b(peak, "{components,output,per_mtok}").as_deref(), Some("4"));
        // the price row shows its off-peak prices either way
        assert_eq!(b(peak, "{price,off_peak,output_per_mtok}").as_deref(), Some("2"));
        assert_eq!(b(peak, "{price,off_peak,windows,0,hours_utc,2}").as_deref(), Some("10:00-00:00"));
    }

    #[pg_test]
    fn shipped_deepseek_off_peak_prices() {
        // LiteLLM's deepseek-v4-pro: 1.32 / 3.96 per million, off-peak 0.66 / 1.98
        let at = |ts: &str| cost(&format!("'deepseek', 'deepseek-v4-pro', 1000000, 1000000, at => '{ts}'"));
        assert_eq!(at("2026-06-01 00:30:00+00"), "2.64"); // Monday, off-peak
        assert_eq!(at("2026-06-01 02:00:00+00"), "5.28"); // Monday, peak
        assert_eq!(at("2026-06-06 02:00:00+00"), "2.64"); // Saturday
                                                          // tencent's copy takes the weekday in Asia/Shanghai: Friday 2026-06-05 20:00 UTC is Saturday there
                                                          // and off-peak either way (20:00 is in 10:00-00:00); Sunday 2026-06-07 18:00 UTC is Monday there,
                                                          // 18:00 UTC is in 10:00-00:00: off-peak
        let tencent = |ts: &str| cost(&format!("'tencent', 'deepseek-v4-pro-0813', 1000000, 1000000, at => '{ts}'"));
        assert_eq!(tencent("2026-06-05 20:00:00+00"), "2.64");
        assert_eq!(tencent("2026-06-07 18:00:00+00"), "2.64");
        assert_eq!(tencent("2026-06-08 02:00:00+00"), "5.28");
    }

    #[pg_test]
    fn import_reads_litellm_off_peak_pricing() {
        let doc = r#"{"dsk/m": {"litellm_provider": "dsk", "mode": "chat", "input_cost_per_token": 1e-06,
                      "output_cost_per_token": 4e-06, "cache_read_input_token_cost": 1e-07,
                      "off_peak_pricing": {"input_cost_per_token": 5e-07, "output_cost_per_token": 2e-06,
                                           "cache_read_input_token_cost": 5e-08, "weekday_timezone": "Asia/Shanghai",
                                           "windows": [{"hours_utc": "00:00-00:00", "weekdays": [6, 7]}]}}}"#;
        let row = text(&format!(
            "SELECT concat_ws('|', off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows)
               FROM llm_cost.litellm_price_rows('{doc}')"
        ));
        assert_eq!(
            row.as_deref(),
            Some(
                r#"0.5|2|0.05|[{"weekdays": [6, 7], "hours_utc": ["00:00-00:00"], "weekday_timezone": "Asia/Shanghai"}]"#
            )
        );
        assert_eq!(Spi::get_one::<i32>(&format!("SELECT llm_cost.import_prices('{doc}', 'test')")).unwrap(), Some(1));
        // unchanged: nothing added the second time
        assert_eq!(Spi::get_one::<i32>(&format!("SELECT llm_cost.import_prices('{doc}', 'test')")).unwrap(), Some(0));
        // the imported row is in force from now(): price calls long after it.
        // Friday 2099-01-02 16:00 UTC is Saturday in Shanghai: off-peak, 0.5 + 2; 15:59 UTC is Friday there: 1 + 4
        assert_eq!(cost("'dsk', 'm', 1000000, 1000000, at => '2099-01-02 16:00:00+00'"), "2.5");
        assert_eq!(cost("'dsk', 'm', 1000000, 1000000, at => '2099-01-02 15:59:00+00'"), "5");
    }

    #[pg_test]
    fn unknown_model_is_null() {
        assert_eq!(cost("'openai', 'no-such-model-xyz', 10, 10"), "NULL");
        assert_eq!(cost("'no-such-provider', 'gpt-4o', 10, 10"), "NULL");
    }

    fn method(provider: &str, model: &str) -> (String, String) {
        let row = text(&format!(
            "SELECT (b -> 'resolution' ->> 'method') || '|' || (b -> 'resolution' ->> 'resolved_provider') || '/' || (b -> 'resolution' ->> 'resolved_model')
               FROM llm_cost.cost_breakdown('{provider}', '{model}', 1, 1) AS b"
        ))
        .unwrap_or_else(|| panic!("{provider}/{model} did not resolve"));
        let (m, target) = row.split_once('|').unwrap();
        (m.to_string(), target.to_string())
    }

    #[pg_test]
    fn each_name_resolution_path() {
        // the shipped catalog: gpt-4o is $2.50 / $10 per million
        assert_eq!(cost("'openai', 'gpt-4o', 1000000, 1000000"), "12.5");
        assert_eq!(method("openai", "gpt-4o"), ("exact".into(), "openai/gpt-4o".into()));
        assert_eq!(method("OpenAI", "GPT-4o"), ("case_insensitive".into(), "openai/gpt-4o".into()));
        run("INSERT INTO llm_cost.model_aliases VALUES ('acme', 'house-model', 'openai', 'gpt-4o')");
        assert_eq!(method("acme", "house-model"), ("alias".into(), "openai/gpt-4o".into()));
        assert_eq!(cost("'acme', 'house-model', 1000000, 1000000"), "12.5");
        // a dated name never prices as another snapshot, nor as an undated name that may point at one
        assert_eq!(method("openai", "gpt-4o-20240806"), ("variant".into(), "openai/gpt-4o-2024-08-06".into()));
        assert_eq!(cost("'openai', 'gpt-4o-2099-01-01', 1, 1"), "NULL");
        assert_eq!(cost("'mistral', 'mistral-large-2411', 1, 1"), "NULL");
        // (-0613 itself is in the catalog, from genai-prices' retired models; -0101 never existed)
        assert_eq!(method("openai", "gpt-3.5-turbo-0613"), ("exact".into(), "openai/gpt-3.5-turbo-0613".into()));
        assert_eq!(cost("'openai', 'gpt-3.5-turbo-0101', 1, 1"), "NULL");
        run("SELECT llm_cost.set_price('testco', 'undated', 1, 1, valid_from => '-infinity')");
        assert_eq!(method("testco", "undated-2025-01-01"), ("variant".into(), "testco/undated".into()));
        assert_eq!(
            method("anthropic", "claude-sonnet-4-5-latest"),
            ("variant".into(), "anthropic/claude-sonnet-4-5".into())
        );
        // -latest with only dated models: the newest date wins
        run("SELECT llm_cost.set_price('testco', 'dated-20240101', 1, 1, valid_from => '-infinity')");
        run("SELECT llm_cost.set_price('testco', 'dated-20250601', 2, 2, valid_from => '-infinity')");
        assert_eq!(method("testco", "dated-latest"), ("variant".into(), "testco/dated-20250601".into()));
        assert_eq!(method("my-gateway", "openai/gpt-4o"), ("provider_prefix".into(), "openai/gpt-4o".into()));
        // a router the catalog prices itself (genai-prices' OpenRouter rows) keeps its own price
        assert_eq!(method("openrouter", "openai/gpt-4o"), ("exact".into(), "openrouter/openai/gpt-4o".into()));
        assert_eq!(method("google", "gemini-2.5-pro").1, "gemini/gemini-2.5-pro");
        assert_eq!(
            method("vertex_ai", "claude-fable-5-1"),
            ("provider_family".into(), "vertex_ai-anthropic_models/vertex_ai/claude-fable-5-1".into())
        );
    }

    /// One name's row of llm_cost.model_resolution, as text.
    fn resolution_row(model: &str) -> String {
        text(&format!(
            "SELECT format('%s calls=%s unpriced=%s %s [%s] ft=%s -> %s/%s priced=%s',
                           provider, calls, unpriced_calls, coalesce(method, 'NULL'), array_to_string(rules, ','),
                           fine_tune, resolved_provider, resolved_model, price_id IS NOT NULL)
               FROM llm_cost.model_resolution WHERE model = '{model}'"
        ))
        .unwrap_or_else(|| panic!("no row for {model}"))
    }

    #[pg_test]
    fn names_as_apps_log_them_and_the_model_resolution_view() {
        test_prices();
        run("SELECT llm_cost.set_price('bedrock_converse', 'anthropic.claude-test-20250101-v1:0', 1, 2, valid_from => '-infinity')");
        run("SELECT llm_cost.set_price('testco', 'snap-20240101', 1, 1, valid_from => '-infinity')");
        run("SELECT llm_cost.set_price('testco', 'ft:m1', 6, 30, valid_from => '-infinity')");
        run("INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens) VALUES
             ('2025-03-01', 'testco', 'm1', 1000, 500), ('2025-03-02', 'testco', 'm1', 1000, 500),
             ('2025-03-01', 'aws.bedrock',
              'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-test-20250101-v1:0', 1000000, 0),
             ('2025-03-01', 'testco', 'snap-20240601', 10, 10),
             ('2025-03-01', 'testco', 'ft:m1:acme:bot:abc123', 1000000, 0)");
        assert_eq!(resolution_row("m1"), "testco calls=2 unpriced=0 exact [] ft=f -> testco/m1 priced=t");
        assert_eq!(
            resolution_row(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-test-20250101-v1:0"
            ),
            "aws.bedrock calls=1 unpriced=0 provider_sibling [bedrock_arn,region_prefix] ft=f \
             -> bedrock_converse/anthropic.claude-test-20250101-v1:0 priced=t"
        );
        assert_eq!(
            resolution_row("ft:m1:acme:bot:abc123"),
            "testco calls=1 unpriced=0 fine_tune [fine_tune] ft=t -> testco/ft:m1 priced=t"
        );
        // a dated name the catalog lacks, while it has another snapshot: unpriced, and why
        assert_eq!(resolution_row("snap-20240601"), "testco calls=1 unpriced=1 NULL [] ft=f -> / priced=f");
        let why = text("SELECT reason FROM llm_cost.model_resolution WHERE model = 'snap-20240601'").unwrap();
        assert!(why.contains("snap-20240101") && why.contains("different snapshot"), "{why}");
        // cost_breakdown says the same instead of returning NULL
        let b = text("SELECT llm_cost.cost_breakdown('testco', 'snap-20240601', 1, 1)::text").unwrap();
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert!(v["cost"].is_null() && v["price"].is_null(), "{b}");
        assert!(v["resolution"]["reason"].as_str().unwrap().contains("snap-20240101"), "{b}");
        let b = text("SELECT llm_cost.cost_breakdown('testco', 'ft:m1:acme:bot:abc123', 1000000, 0)::text").unwrap();
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!((v["cost"].to_string(), &v["resolution"]["fine_tune"]), ("6".into(), &serde_json::json!(true)));
        // resolve_model directly: provider spellings of the SDKs
        assert_eq!(
            text("SELECT method FROM llm_cost.resolve_model('openai.chat', 'gpt-4o')").as_deref(),
            Some("exact")
        );
        assert_eq!(
            text("SELECT resolved_provider FROM llm_cost.resolve_model('gcp.vertex_ai', 'models/gemini-2.5-flash')")
                .as_deref(),
            Some("vertex_ai-language-models")
        );
        assert!(text("SELECT reason FROM llm_cost.resolve_model('nobody', 'x')")
            .unwrap()
            .starts_with("unknown provider"));
        // a responses-mode entry gives way to the chat entry (llm_cost.models changes reload the catalog)
        run("SELECT llm_cost.set_price('testco', 'testco/m1', 9, 9, valid_from => '-infinity')");
        assert_eq!(
            text("SELECT resolved_model FROM llm_cost.resolve_model('testco', 'testco/m1')").as_deref(),
            Some("testco/m1")
        );
        run("INSERT INTO llm_cost.models (provider, model, mode) VALUES ('testco', 'testco/m1', 'responses'), ('testco', 'm1', 'chat')");
        assert_eq!(
            text("SELECT resolved_model || ' ' || array_to_string(rules, ',') FROM llm_cost.resolve_model('testco', 'testco/m1')").as_deref(),
            Some("m1 chat_over_responses")
        );
    }

    #[pg_test]
    fn breakdown_components_add_up() {
        test_prices();
        let b = text("SELECT llm_cost.cost_breakdown('testco', 'm1', 10000, 2000, 4000, 1000, 500)::text").unwrap();
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        // 5000*3 + 4000*0.3 + 1000*3.75 + 1500*15 + 500*15 = 49950 / 1e6
        assert_eq!(v["cost"].to_string(), "0.04995");
        assert_eq!(v["components"]["cache_read"]["cost"].to_string(), "0.0012");
        assert_eq!(v["components"]["input"]["tokens"].to_string(), "5000");
        assert_eq!(v["price"]["source"], "custom");
        assert_eq!(v["resolution"]["method"], "exact");
    }

    #[pg_test]
    fn usage_insert_prices_and_records_price_id() {
        test_prices();
        run("INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, cached_input_tokens)
             VALUES ('testco', 'm1', 10000, 500, 4000)");
        let row = text(
            "SELECT trim_scale(u.cost) || ' ' || u.currency || ' ' || (u.price_id = p.id)
               FROM llm_cost.usage u JOIN llm_cost.prices p ON p.provider = 'testco' AND p.model = 'm1'",
        );
        // 6000*3 + 4000*0.3 + 500*15 = 18000 + 1200 + 7500 = 26700 / 1e6
        assert_eq!(row.as_deref(), Some("0.0267 USD true"));
    }

    #[pg_test]
    fn app_supplied_cost_is_kept() {
        test_prices();
        run("INSERT INTO llm_cost.usage (provider, model, input_tokens, cost) VALUES ('testco', 'm1', 1000, 42)");
        assert_eq!(
            text("SELECT trim_scale(cost) || ' ' || coalesce(price_id::text, 'none') FROM llm_cost.usage").as_deref(),
            Some("42 none")
        );
    }

    /// Inserts one row with only raw_usage and returns its five token columns and cost.
    fn insert_raw(raw: &str) -> String {
        run(&format!("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('testco', 'm1', '{raw}')"));
        text(
            "SELECT concat_ws(' ', input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, trim_scale(cost))
               FROM llm_cost.usage ORDER BY id DESC LIMIT 1",
        )
        .unwrap()
    }

    #[pg_test]
    fn raw_usage_openai_chat() {
        test_prices();
        let got = insert_raw(
            r#"{"prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300,
                "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 100}}"#,
        );
        // 1000*3 + 1000*0.3 + 300*15 = 3000 + 300 + 4500 = 7800 / 1e6
        assert_eq!(got, "2000 1000 0 300 100 0.0078");
    }

    #[pg_test]
    fn raw_usage_openai_responses() {
        test_prices();
        let got = insert_raw(
            r#"{"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 2000},
                "output_tokens": 1000, "output_tokens_details": {"reasoning_tokens": 600}, "total_tokens": 6000}"#,
        );
        // 3000*3 + 2000*0.3 + 1000*15 = 9000 + 600 + 15000 = 24600 / 1e6
        assert_eq!(got, "5000 2000 0 1000 600 0.0246");
    }

    #[pg_test]
    fn raw_usage_anthropic() {
        test_prices();
        let got = insert_raw(
            r#"{"input_tokens": 100, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 8000,
                "output_tokens": 400, "service_tier": "standard"}"#,
        );
        // input = 100 + 2000 + 8000 = 10100; 100*3 + 8000*0.3 + 2000*3.75 + 400*15
        // = 300 + 2400 + 7500 + 6000 = 16200 / 1e6
        assert_eq!(got, "10100 8000 2000 400 0 0.0162");
    }

    #[pg_test]
    fn raw_usage_gemini() {
        test_prices();
        let got = insert_raw(
            r#"{"promptTokenCount": 4000, "cachedContentTokenCount": 1000, "candidatesTokenCount": 500,
                "thoughtsTokenCount": 250, "totalTokenCount": 4750}"#,
        );
        // output = 500 + 250 thoughts = 750; 3000*3 + 1000*0.3 + 750*15 = 9000 + 300 + 11250 = 20550 / 1e6
        assert_eq!(got, "4000 1000 0 750 250 0.02055");
    }

    #[pg_test]
    fn raw_usage_is_ignored_when_tokens_are_given() {
        test_prices();
        run(r#"INSERT INTO llm_cost.usage (provider, model, input_tokens, raw_usage)
               VALUES ('testco', 'm1', 7, '{"prompt_tokens": 1000}')"#);
        assert_eq!(text("SELECT input_tokens::text FROM llm_cost.usage").as_deref(), Some("7"));
    }

    #[pg_test]
    fn unpriced_rows_are_kept_and_repriced() {
        run("SET LOCAL llm_cost.on_unpriced = 'ignore'");
        run("INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens)
             VALUES ('2025-03-01', 'newco', 'fresh-1', 1000000, 1000000)");
        assert_eq!(text("SELECT count(*)::text FROM llm_cost.unpriced_usage").as_deref(), Some("1"));
        run("SELECT llm_cost.set_price('newco', 'fresh-1', 1, 3, valid_from => '2025-01-01')");
        assert_eq!(text("SELECT llm_cost.reprice('2025-01-01', '2026-01-01')::text").as_deref(), Some("1"));
        assert_eq!(text("SELECT count(*)::text FROM llm_cost.unpriced_usage").as_deref(), Some("0"));
        assert_eq!(text("SELECT trim_scale(cost)::text FROM llm_cost.usage").as_deref(), Some("4"));
        // a later price correction reprices the row; running it again changes nothing
        run("SELECT llm_cost.set_price('newco', 'fresh-1', 2, 3, valid_from => '2025-01-01')");
        assert_eq!(text("SELECT llm_cost.reprice()::text").as_deref(), Some("1"));
        assert_eq!(text("SELECT trim_scale(cost)::text FROM llm_cost.usage").as_deref(), Some("5"));
        assert_eq!(text("SELECT llm_cost.reprice()::text").as_deref(), Some("0"));
    }

    #[pg_test]
    fn set_price_replaces_same_valid_from() {
        let a = text("SELECT llm_cost.set_price('testco', 'x', 1, 1, valid_from => '2025-01-01')::text");
        let b = text("SELECT llm_cost.set_price('testco', 'x', 2, 2, valid_from => '2025-01-01')::text");
        assert_eq!(a, b);
        assert_eq!(cost("'testco', 'x', 1000000, 0, at => '2025-02-01'"), "2");
    }

    /// A row an import replaces (same key: a second write dated now() in one
    /// transaction) keeps its own currency and takes the list's prices
    /// (keep_currency); set_price replacing it sets its currency.
    #[pg_test]
    fn a_price_row_replaced_by_an_import_keeps_its_currency() {
        let id = text("SELECT llm_cost.set_price('keepco', 'k1', 1, 1, valid_from => now(), currency => 'EUR')::text");
        let doc = r#"{"keepco/k1": {"litellm_provider": "keepco", "mode": "chat",
                                    "input_cost_per_token": 2e-06, "output_cost_per_token": 3e-06}}"#;
        assert_eq!(text(&format!("SELECT llm_cost.import_prices('{doc}')::text")).as_deref(), Some("1"));
        let row =
            "SELECT id || ' ' || currency || ' ' || trim_scale(input_per_mtok) FROM llm_cost.prices WHERE model = 'k1'";
        assert_eq!(text(row), id.as_ref().map(|id| format!("{id} EUR 2")));
        run("SELECT llm_cost.set_price('keepco', 'k1', 4, 4, valid_from => now(), currency => 'GBP')");
        assert_eq!(text(row), id.map(|id| format!("{id} GBP 4")));
    }

    #[pg_test]
    fn import_prices_adds_only_changes_and_is_idempotent() {
        let doc = r#"{
            "imported-model": {"litellm_provider": "importco", "mode": "chat",
                               "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                               "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06},
            "importco/other": {"litellm_provider": "importco", "mode": "chat",
                               "input_cost_per_token": 6.25e-08, "output_cost_per_token": 3e-07},
            "an-embedding": {"litellm_provider": "importco", "mode": "embedding", "input_cost_per_token": 1e-07}
        }"#;
        let import = |d: &str| text(&format!("SELECT llm_cost.import_prices('{d}')::text")).unwrap();
        // imported-model standard + batch, other standard, and the embedding (every mode since 0.3)
        assert_eq!(import(doc), "4");
        assert_eq!(import(doc), "0");
        assert_eq!(
            text("SELECT input_per_mtok::text FROM llm_cost.prices WHERE model = 'other'").as_deref(),
            Some("0.0625")
        );
        assert_eq!(cost("'importco', 'imported-model', 1000000, 1000000, service_tier => 'batch'"), "6.25");
        let changed =
            doc.replace("2.5e-06, \"output_cost_per_token\": 1e-05,", "3e-06, \"output_cost_per_token\": 1e-05,");
        assert_eq!(import(&changed), "1");
    }

    /// genai-prices' data.json with one provider, genaico (not in the
    /// provider map, so its models keep that provider name).
    fn genai_doc(models: &str) -> String {
        format!(r#"[{{"id": "genaico", "models": [{models}]}}]"#)
    }

    fn import_genai(doc: &str) -> String {
        text(&format!("SELECT llm_cost.import_prices('{doc}')::text")).unwrap()
    }

    /// Each of a model's rows as "valid_from input output", oldest first.
    fn genaico_rows(model: &str) -> String {
        text(&format!(
            "SELECT string_agg(format('%s %s %s', CASE WHEN valid_from = now() THEN 'now' ELSE valid_from::date::text END,
                                      input_per_mtok, output_per_mtok), ', ' ORDER BY valid_from)
               FROM llm_cost.prices WHERE provider = 'genaico' AND model = '{model}'"
        ))
        .unwrap_or_default()
    }

    #[pg_test]
    fn genai_import_adds_new_models_and_changed_prices_once() {
        run("SET TIME ZONE 'UTC'");
        run("SELECT llm_cost.set_price('genaico', 'g-old', 1, 2, valid_from => '2020-01-01')");
        run("SELECT llm_cost.set_price('genaico', 'g-same', 3, 6, valid_from => '2020-01-01')");
        run("UPDATE llm_cost.prices SET verified_at = NULL WHERE provider = 'genaico'");
        let doc = genai_doc(
            r#"{"id": "g-new", "match": {"equals": "g-new"}, "prices": {"input_mtok": 2.5, "output_mtok": 10, "cache_read_mtok": 1.25}},
               {"id": "g-old", "prices": {"input_mtok": 1.5, "output_mtok": 2}},
               {"id": "g-same", "prices": {"input_mtok": 3, "output_mtok": 6}},
               {"id": "g-no-token-price", "prices": {}}"#,
        );
        assert_eq!(import_genai(&doc), "2"); // g-new (new) and g-old (changed), both dated now()
        assert_eq!(import_genai(&doc), "0");
        assert_eq!(genaico_rows("g-new"), "now 2.5 10");
        assert_eq!(genaico_rows("g-old"), "2020-01-01 1 2, now 1.5 2");
        assert_eq!(genaico_rows("g-same"), "2020-01-01 3 6");
        assert_eq!(
            text("SELECT (verified_at = now())::text FROM llm_cost.prices WHERE model = 'g-same'").as_deref(),
            Some("true")
        );
        assert_eq!(text("SELECT string_agg(DISTINCT source, ',') FROM llm_cost.prices WHERE provider = 'genaico' AND valid_from = now()").as_deref(),
                   Some("genai-prices"));
        assert_eq!(cost("'genaico', 'g-new', 1000000, 1000000, 400000"), "12"); // 0.6*2.5 + 0.4*1.25 + 10
        assert_eq!(cost("'genaico', 'g-old', 1000000, 0, at => '2021-01-01'"), "1");
        assert_eq!(cost("'genaico', 'g-old', 1000000, 0"), "1.5");
        assert_eq!(
            text("SELECT count(*)::text FROM llm_cost.prices WHERE model = 'g-no-token-price'").as_deref(),
            Some("0")
        );
        // an explicit source name is kept
        let changed = doc.replace("\"input_mtok\": 3,", "\"input_mtok\": 4,");
        assert_eq!(
            text(&format!("SELECT llm_cost.import_prices('{changed}', 'genai-2026-12')::text")).as_deref(),
            Some("1")
        );
        assert_eq!(
            text("SELECT source FROM llm_cost.prices WHERE model = 'g-same' AND valid_from = now()").as_deref(),
            Some("genai-2026-12")
        );
    }

    #[pg_test]
    fn genai_import_adds_dated_changes_past_and_future_never_rewriting() {
        run("SET TIME ZONE 'UTC'");
        // the catalog has g-hist since forever and its own row at 2020-01-01
        run("SELECT llm_cost.set_price('genaico', 'g-hist', 1, 2, valid_from => '-infinity')");
        run("SELECT llm_cost.set_price('genaico', 'g-hist', 9, 9, valid_from => '2020-01-01')");
        let doc = genai_doc(
            r#"{"id": "g-dated", "prices": [
                   {"prices": {"input_mtok": 1, "output_mtok": 2}},
                   {"constraint": {"start_date": "2020-01-01"}, "prices": {"input_mtok": 3, "output_mtok": 6}},
                   {"constraint": {"start_date": "2999-01-01"}, "prices": {"input_mtok": 5, "output_mtok": 10}}]},
               {"id": "g-hist", "prices": [
                   {"prices": {"input_mtok": 1, "output_mtok": 2}},
                   {"constraint": {"start_date": "2020-01-01"}, "prices": {"input_mtok": 3, "output_mtok": 6}},
                   {"constraint": {"start_date": "2021-06-01"}, "prices": {"input_mtok": 4, "output_mtok": 8}}]}"#,
        );
        assert_eq!(
            text(&format!(
                "SELECT string_agg(format('%s %s %s', valid_from, model, input_per_mtok), ', ' ORDER BY model, valid_from)
                   FROM llm_cost.genai_price_rows('{doc}')"
            ))
            .as_deref(),
            Some("-infinity g-dated 1, 2020-01-01 00:00:00+00 g-dated 3, 2999-01-01 00:00:00+00 g-dated 5, \
                  -infinity g-hist 1, 2020-01-01 00:00:00+00 g-hist 3, 2021-06-01 00:00:00+00 g-hist 4")
        );
        // g-dated (new): its dated changes, the one in force now among them, so
        // no row dated now(); the price before its first change is not back-dated.
        // g-hist: the 2020 row stays as the catalog has it; the 2021 change is added.
        assert_eq!(import_genai(&doc), "3");
        assert_eq!(import_genai(&doc), "0");
        assert_eq!(genaico_rows("g-dated"), "2020-01-01 3 6, 2999-01-01 5 10");
        assert_eq!(genaico_rows("g-hist"), "-infinity 1 2, 2020-01-01 9 9, 2021-06-01 4 8");
        assert_eq!(cost("'genaico', 'g-dated', 1000000, 0, at => '2019-06-01'"), "NULL");
        assert_eq!(cost("'genaico', 'g-dated', 1000000, 0"), "3");
        assert_eq!(cost("'genaico', 'g-dated', 1000000, 0, at => '2999-06-01'"), "5");
        assert_eq!(cost("'genaico', 'g-hist', 1000000, 0, at => '2021-05-31 23:59:59+00'"), "9");
        assert_eq!(cost("'genaico', 'g-hist', 1000000, 0, at => '2021-06-01 00:00:00+00'"), "4");
    }

    #[pg_test]
    fn genai_import_decides_in_time_order_so_a_second_import_adds_nothing() {
        run("SET TIME ZONE 'UTC'");
        // the catalog has 4/4; the file has 1/1 now and goes back to 4/4 in 2999:
        // the future change must be compared with the row dated now(), not with
        // the catalog as it was before the import (found by tests/import_fuzz.rs)
        run("SELECT llm_cost.set_price('genaico', 'g-back', 4, 4, valid_from => '-infinity')");
        let doc = genai_doc(
            r#"{"id": "g-back", "prices": [
                   {"prices": {"input_mtok": 1, "output_mtok": 1}},
                   {"constraint": {"start_date": "2999-06-01"}, "prices": {"input_mtok": 4, "output_mtok": 4}}]}"#,
        );
        assert_eq!(import_genai(&doc), "2");
        assert_eq!(import_genai(&doc), "0");
        assert_eq!(genaico_rows("g-back"), "-infinity 4 4, now 1 1, 2999-06-01 4 4");
    }

    #[pg_test]
    fn genai_tiers_per_request_fees_and_time_of_day_prices() {
        let doc = genai_doc(
            r#"{"id": "g-tiered", "prices": {
                   "input_mtok": {"base": 1, "tiers": [{"start": 200000, "price": 2}]},
                   "output_mtok": {"base": 4, "tiers": [{"start": 200000, "price": 8}]},
                   "cache_read_mtok": 0.1, "input_audio_mtok": 30}},
               {"id": "g-requests", "prices": {"input_mtok": 1, "output_mtok": 1, "requests_kcount": 5}},
               {"id": "g-offpeak", "prices": [
                   {"prices": {"input_mtok": 2, "output_mtok": 4}},
                   {"constraint": {"start_time": "16:30:00Z", "end_time": "00:30:00Z"}, "prices": {"input_mtok": 1, "output_mtok": 2}}]},
               {"id": "g-offpeak-long", "prices": [
                   {"prices": {"input_mtok": 2, "output_mtok": 4}},
                   {"constraint": {"start_time": "00:30:00Z", "end_time": "16:30:00Z"}, "prices": {"input_mtok": 1, "output_mtok": 2}}]}"#,
        );
        assert_eq!(
            text(&format!(
                "SELECT string_agg(format('%s: %s/%s cr %s tier %s %s/%s/%s req %s', model, input_per_mtok, output_per_mtok,
                                          v[1], v[2], v[3], v[4], v[5], v[6]), '; ' ORDER BY model)
                   FROM llm_cost.genai_price_rows('{doc}'),
                        LATERAL (SELECT ARRAY(SELECT coalesce(x, '<NULL>') FROM unnest(ARRAY[cache_read_per_mtok::text,
                                     tier_threshold_tokens::text, input_per_mtok_above_tier::text, output_per_mtok_above_tier::text,
                                     cache_read_per_mtok_above_tier::text, per_request::text]) WITH ORDINALITY AS u (x, i) ORDER BY i)) AS n (v)"
            ))
            .as_deref(),
            // an off-peak window shorter than half the day is left out, a longer one is the price
            Some("g-offpeak: 2/4 cr <NULL> tier <NULL> <NULL>/<NULL>/<NULL> req <NULL>; \
                  g-offpeak-long: 1/2 cr <NULL> tier <NULL> <NULL>/<NULL>/<NULL> req <NULL>; \
                  g-requests: 1/1 cr <NULL> tier <NULL> <NULL>/<NULL>/<NULL> req 0.005; \
                  g-tiered: 1/4 cr 0.1 tier 200000 2/8/<NULL> req <NULL>")
        );
        assert_eq!(import_genai(&doc), "4");
        // above 200k input tokens the whole call takes the tier's prices
        assert_eq!(cost("'genaico', 'g-tiered', 100000, 1000"), "0.104");
        assert_eq!(cost("'genaico', 'g-tiered', 300000, 1000"), "0.608");
        assert_eq!(cost("'genaico', 'g-requests', 1000000, 0"), "1.005");
    }

    #[pg_test]
    fn genai_import_never_forgets_a_retired_model() {
        let with_retired = genai_doc(
            r#"{"id": "g-retired", "deprecated": true, "prices": {"input_mtok": 1, "output_mtok": 1}},
               {"id": "g-live", "prices": {"input_mtok": 2, "output_mtok": 2}}"#,
        );
        assert_eq!(import_genai(&with_retired), "2");
        // a later file that dropped it imports nothing and deletes nothing
        assert_eq!(import_genai(&genai_doc(r#"{"id": "g-live", "prices": {"input_mtok": 2, "output_mtok": 2}}"#)), "0");
        assert_eq!(cost("'genaico', 'g-retired', 1000000, 0"), "1");
    }

    #[pg_test]
    fn genai_models_land_where_the_generator_puts_them() {
        // names the catalog already has under a sibling provider, one in another case
        run("SELECT llm_cost.set_price('bedrock_converse', 'genai-test.model-v1:0', 1, 1)");
        run("SELECT llm_cost.set_price('azure_ai', 'GenAI-Test-Phi', 1, 1)");
        let p = r#""prices": {"input_mtok": 1, "output_mtok": 1}"#;
        let doc = format!(
            r#"[{{"id": "aws", "models": [{{"id": "regional.genai-test.other-v1:0", {p}}}, {{"id": "genai-test.model-v1:0", {p}}}]}},
                {{"id": "x-ai", "models": [{{"id": "genai-test-grok", {p}}}]}},
                {{"id": "google", "models": [{{"id": "claude-genai-test", {p}}}, {{"id": "genai-test-gemini", {p}}}]}},
                {{"id": "fireworks", "models": [{{"id": "genai-test-fw", {p},
                    "match": {{"or": [{{"equals": "accounts/fireworks/models/genai-test-fw"}}, {{"starts_with": "genai-test-fw"}}]}}}}]}},
                {{"id": "azure", "models": [{{"id": "genai-test-phi", {p}}}]}},
                {{"id": "Genai-Co", "models": [{{"id": "genai-test-own", {p}}}]}}]"#
        );
        assert_eq!(
            text(&format!(
                "SELECT string_agg(provider || ' ' || model, ', ' ORDER BY provider, model) FROM llm_cost.genai_price_rows('{doc}')"
            ))
            .as_deref(),
            Some("azure_ai GenAI-Test-Phi, bedrock genai-test.other-v1:0, bedrock_converse genai-test.model-v1:0, \
                  fireworks_ai accounts/fireworks/models/genai-test-fw, gemini genai-test-gemini, genai-co genai-test-own, \
                  vertex_ai claude-genai-test, xai genai-test-grok")
        );
    }

    #[pg_test]
    fn shipped_catalog_covers_every_provider() {
        let providers: i64 = Spi::get_one("SELECT count(DISTINCT provider) FROM llm_cost.prices").unwrap().unwrap();
        let models: i64 =
            Spi::get_one("SELECT count(DISTINCT (provider, model)) FROM llm_cost.prices").unwrap().unwrap();
        assert!(providers >= 50, "{providers} providers");
        assert!(models >= 2000, "{models} models");
        // gpt-5 ships batch, flex and priority rows
        let tiers = text("SELECT string_agg(service_tier, ',' ORDER BY service_tier) FROM llm_cost.prices WHERE provider = 'openai' AND model = 'gpt-5'");
        assert_eq!(tiers.as_deref(), Some("batch,flex,priority,standard"));
    }

    #[pg_test]
    fn catalog_cache_reloads_after_a_price_change_in_this_session() {
        test_prices();
        assert_eq!(cost("'testco', 'm1', 100000, 0"), "0.3");
        let loads_before: i64 = Spi::get_one("SELECT llm_cost.catalog_load_count()").unwrap().unwrap();
        // many lookups, no reloads
        run("SELECT llm_cost.llm_cost('testco', 'm1', g, 0) FROM generate_series(1, 1000) g");
        let loads_mid: i64 = Spi::get_one("SELECT llm_cost.catalog_load_count()").unwrap().unwrap();
        assert_eq!(loads_before, loads_mid);
        run("SELECT llm_cost.set_price('testco', 'm1', 4, 15, valid_from => '-infinity')");
        assert_eq!(cost("'testco', 'm1', 100000, 0"), "0.4");
    }

    /// The budget triggers read costs and totals from numeric's stored digits;
    /// every value must read as its text would parse. The values come from a
    /// table, so they arrive packed (1-byte varlena headers) as rows do, in
    /// both the short and the long numeric format, and include what a Decimal
    /// cannot hold (NaN, infinities, more than 30 decimal places, huge). The
    /// text side drops trailing zeros first, as the stored digits do.
    #[pg_test]
    fn numeric_digits_read_as_their_text_parses() {
        use crate::pricing::decimal::Decimal;
        run("CREATE TEMP TABLE amounts (v numeric)");
        run("INSERT INTO amounts VALUES (0), (1), (-1), (0.5), (-0.0025), (12345.6780), (10000), (1e20), (-1e20),
                 (0.000000000000000000000000000001), (0.0000000000000000000000000000001), (1e-40), (1e38), (1e40),
                 (9999.9999), (123456789012345678901234567.123), ('NaN'), ('Infinity'), ('-Infinity'), (NULL),
                 (0.0055000000), (100.000000000000000000000000000000000000), (1e300), (-1e-300),
                 (round(-1.5, 70)), (round(1234.5678, 90)), (1e-260), (-12e250)");
        run("INSERT INTO amounts SELECT round(((random() - 0.5) * 10 ^ (random() * 24 - 8))::numeric, (random() * 30)::int)
               FROM generate_series(1, 5000)");
        // SAFETY: inside Spi::connect, so SPI is connected; SPI_tuptable and its
        // `rows` tuples belong to the query just run and live until the next one
        // or SPI_finish, after this closure; column 1 is numeric, 2 text.
        let checked = Spi::connect(|_| unsafe {
            let sql = c"SELECT v, trim_scale(v)::text FROM amounts WHERE v IS NOT NULL";
            assert_eq!(pg_sys::SPI_execute(sql.as_ptr(), false, 0), pg_sys::SPI_OK_SELECT as i32);
            let table = pg_sys::SPI_tuptable;
            let rows = pg_sys::SPI_processed as usize;
            for i in 0..rows {
                let tuple = *(*table).vals.add(i);
                let mut isnull = false;
                let datum = pg_sys::SPI_getbinval(tuple, (*table).tupdesc, 1, &mut isnull);
                let text = std::ffi::CStr::from_ptr(pg_sys::SPI_getvalue(tuple, (*table).tupdesc, 2))
                    .to_str()
                    .unwrap()
                    .to_string();
                let from_digits = crate::pg::numeric_datum::decimal_from_numeric(datum).map(|d| d.to_string());
                let from_text = Decimal::parse(&text).ok().map(|d| d.to_string());
                assert_eq!(from_digits, from_text, "{text}");
            }
            rows
        });
        assert!(checked > 5000, "{checked} values checked");
    }

    /// Instants at calendar edges for `calendar_edge_zones`: every 15 minutes
    /// for a day either side of each UTC-offset change (DST) in 2026-2028,
    /// instants around each local month start, and the leap day.
    fn calendar_edges() {
        run("SET LOCAL TimeZone = 'UTC'");
        run("CREATE TEMP TABLE calendar_edge_zones (tz) AS VALUES ('UTC'), ('America/New_York'), ('Europe/Berlin'),
                 ('Asia/Tokyo'), ('Asia/Kathmandu'), ('Australia/Lord_Howe'), ('America/Santiago'), ('America/Havana'),
                 ('Atlantic/Azores'), ('Asia/Beirut')");
        run("CREATE TEMP TABLE calendar_edges (tz text, at timestamptz, periods text[])");
        // Kathmandu is +5:45; Lord Howe moves its clocks by 30 minutes; Santiago,
        // Havana, Azores and Beirut change them at (or across) midnight.
        run("WITH hours AS (
                 SELECT z.tz, h, (h AT TIME ZONE z.tz) - (h AT TIME ZONE 'UTC') AS utc_offset
                   FROM calendar_edge_zones AS z,
                        generate_series(timestamptz '2026-01-01 00:00+00', '2029-01-01 00:00+00', '1 hour') AS h),
             changes AS (
                 SELECT tz, h FROM (SELECT tz, h, utc_offset, lag(utc_offset) OVER (PARTITION BY tz ORDER BY h) AS before
                                      FROM hours) AS x
                  WHERE utc_offset <> before)
             INSERT INTO calendar_edges
             SELECT c.tz, c.h + m * interval '15 minutes', '{day,week}'::text[] FROM changes AS c, generate_series(-104, 104) AS m
             UNION ALL
             SELECT z.tz, (make_timestamp(y, mo, 1, 0, 0, 0) AT TIME ZONE z.tz) + d, '{day,week,month,quarter,year}'
               FROM calendar_edge_zones AS z, generate_series(2026, 2028) AS y, generate_series(1, 12) AS mo,
                    (SELECT m * interval '1 minute' FROM unnest(ARRAY[-61, -60, -59, -31, -30, -29, -1, 0, 1, 29, 30, 31, 59, 60, 61]) AS m
                     UNION ALL VALUES (interval '-1 microsecond'), (interval '1 microsecond')) AS ds (d)
             UNION ALL
             SELECT z.tz, t, '{day,month}' FROM calendar_edge_zones AS z,
                    generate_series(timestamptz '2028-02-27 00:00+00', '2028-03-02 00:00+00', '20 minutes') AS t");
        let n = Spi::get_one::<i64>("SELECT count(*) FROM calendar_edges").unwrap().unwrap();
        assert!(n > 10_000, "{n} edge instants");
    }

    /// Periods tile time in every zone: each instant lies in [start, end), a
    /// period ends where the next starts, and a start is the first instant of
    /// its local calendar period (the earlier one where clocks go back across
    /// midnight, as in Havana and the Azores).
    #[pg_test]
    fn budget_periods_tile_time_at_calendar_edges() {
        calendar_edges();
        let broken = text(
            "SELECT string_agg(format('%s %s at %s: [%s, %s)', e.tz, p, e.at, b.s, b.en), E'\n')
               FROM (SELECT * FROM calendar_edges AS e, unnest(e.periods) AS p) AS e,
                    LATERAL (SELECT llm_cost.period_start(p, e.tz, e.at) AS s, llm_cost.period_end(p, e.tz, e.at) AS en) AS b
              WHERE NOT (b.s <= e.at AND e.at < b.en
                         AND llm_cost.period_start(p, e.tz, b.en) = b.en
                         AND llm_cost.period_end(p, e.tz, b.s - interval '1 microsecond') = b.s
                         AND date_trunc(p, b.s AT TIME ZONE e.tz) = date_trunc(p, e.at AT TIME ZONE e.tz)
                         AND date_trunc(p, (b.s - interval '1 microsecond') AT TIME ZONE e.tz) < date_trunc(p, e.at AT TIME ZONE e.tz))",
        );
        assert_eq!(broken, None);

        // Worked by hand.
        let bounds = |p: &str, tz: &str, at: &str| {
            text(&format!(
                "SELECT llm_cost.period_start('{p}', '{tz}', '{at}') || ' ' || llm_cost.period_end('{p}', '{tz}', '{at}')"
            ))
            .unwrap()
        };
        // Havana sets clocks back from 01:00 CDT to 00:00 CST on 2026-11-01: midnight
        // is at 04:00 UTC and again at 05:00 UTC; the day starts at the first.
        assert_eq!(
            bounds("day", "America/Havana", "2026-11-01 04:30+00"),
            "2026-11-01 04:00:00+00 2026-11-02 05:00:00+00"
        );
        assert_eq!(
            bounds("month", "America/Havana", "2026-11-01 05:30+00"),
            "2026-11-01 04:00:00+00 2026-12-01 05:00:00+00"
        );
        assert_eq!(
            bounds("day", "America/Havana", "2026-10-31 12:00+00"),
            "2026-10-31 04:00:00+00 2026-11-01 04:00:00+00"
        );
        // The Azores go from 01:00 UTC+0 back to 00:00 UTC-1 on 2026-10-25.
        assert_eq!(
            bounds("day", "Atlantic/Azores", "2026-10-25 00:30+00"),
            "2026-10-25 00:00:00+00 2026-10-26 01:00:00+00"
        );
        // New York: a 23-hour and a 25-hour day.
        assert_eq!(
            bounds("day", "America/New_York", "2026-03-08 12:00+00"),
            "2026-03-08 05:00:00+00 2026-03-09 04:00:00+00"
        );
        assert_eq!(
            bounds("day", "America/New_York", "2026-11-01 12:00+00"),
            "2026-11-01 04:00:00+00 2026-11-02 05:00:00+00"
        );
        // Quarters (period_end used to fail on '1 quarter'), ISO weeks, year end, leap day.
        assert_eq!(bounds("quarter", "UTC", "2026-12-31 23:59+00"), "2026-10-01 00:00:00+00 2027-01-01 00:00:00+00");
        assert_eq!(
            bounds("quarter", "Asia/Tokyo", "2026-12-31 15:30+00"),
            "2026-12-31 15:00:00+00 2027-03-31 15:00:00+00"
        );
        assert_eq!(bounds("week", "UTC", "2027-03-01 00:30+00"), "2027-03-01 00:00:00+00 2027-03-08 00:00:00+00");
        assert_eq!(bounds("year", "UTC", "2027-01-01 00:01+00"), "2027-01-01 00:00:00+00 2028-01-01 00:00:00+00");
        assert_eq!(bounds("day", "UTC", "2028-02-29 23:45+00"), "2028-02-29 00:00:00+00 2028-03-01 00:00:00+00");
        assert_eq!(bounds("month", "UTC", "2028-02-10 00:00+00"), "2028-02-01 00:00:00+00 2028-03-01 00:00:00+00");
    }

    /// The spend trigger (Rust) puts each row in the period `llm_cost.period_start`
    /// (SQL) gives, at every edge instant: one budget per zone and period kind,
    /// one $1 call per instant, and no drift between running totals and ledger.
    #[pg_test]
    fn spend_lands_in_the_sql_period_at_calendar_edges() {
        calendar_edges();
        run("INSERT INTO llm_cost.budgets (name, amount, period, timezone, tenant_id, thresholds)
             SELECT z.tz || ' ' || p, 1000000, p, z.tz, z.tz, '{100}'
               FROM calendar_edge_zones AS z, unnest(ARRAY['day', 'week', 'month', 'quarter', 'year']) AS p");
        run("INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id)
             SELECT DISTINCT at, 'x', 'y', 1, tz FROM calendar_edges ORDER BY 1");
        let drift = Spi::get_one::<i64>("SELECT count(*) FROM llm_cost.budget_spend_drift").unwrap().unwrap();
        assert_eq!(drift, 0, "running totals differ from the ledger's periods");
        let ambiguous_hour = text(
            "SELECT s.period_start::text FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id
              WHERE b.name = 'America/Havana day' AND s.period_start <= '2026-11-01 04:30+00'
              ORDER BY s.period_start DESC LIMIT 1",
        );
        assert_eq!(ambiguous_hour.as_deref(), Some("2026-11-01 04:00:00+00"));
        // budget_status for a quarterly budget (it used to fail computing the period end)
        let status = text(
            "SELECT period_end::text FROM llm_cost.budget_status_at('2027-02-10 00:00+00') WHERE name = 'UTC quarter'",
        );
        assert_eq!(status.as_deref(), Some("2027-04-01 00:00:00+00"));
    }
}
