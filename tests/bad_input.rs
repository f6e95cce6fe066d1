//! The bad-input wall: hostile and malformed input to every public function
//! and table gets a clear error with a standard SQLSTATE (or a documented safe
//! result), the backend survives, and nothing already stored changes.

mod common;

use common::{sqlstate, table_checksums, TestCluster};

/// (statement, expected SQLSTATE). Every one of these must fail.
const REJECTED: &[(&str, &str)] = &[
    // pricing functions
    ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', -1, 0)", "22023"),
    ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', 10, 10, 20)", "22023"),
    ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', 10, 10, service_tier => 'platinum')", "22023"),
    ("SELECT llm_cost.llm_cost(E'open\\xffai', 'gpt-4o', 1, 1)", "22021"),
    // the ledger
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('openai', 'gpt-4o', -1)", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('openai', 'gpt-4o', 99999999999999999999)", "22003"),
    ("INSERT INTO llm_cost.usage (provider, model, cost) VALUES ('x', 'y', 'NaN')", "23514"),
    ("INSERT INTO llm_cost.usage (provider, model, cost) VALUES ('x', 'y', 'Infinity')", "23514"),
    ("INSERT INTO llm_cost.usage (provider, model, cost) VALUES ('x', 'y', -1)", "23514"),
    ("INSERT INTO llm_cost.usage (provider, model, cost) VALUES ('x', 'y', 1e400)", "23514"),
    ("INSERT INTO llm_cost.usage (provider, model, latency_ms) VALUES ('openai', 'gpt-4o', -5)", "23514"),
    ("INSERT INTO llm_cost.usage (provider, model, occurred_at) VALUES ('openai', 'gpt-4o', 'infinity')", "23514"),
    ("INSERT INTO llm_cost.usage (provider, model, occurred_at) VALUES ('openai', 'gpt-4o', '294277-01-01')", "22008"),
    ("INSERT INTO llm_cost.usage (provider, model) VALUES (NULL, 'gpt-4o')", "23502"),
    ("INSERT INTO llm_cost.usage (provider, model, service_tier) VALUES ('openai', 'gpt-4o', 'gold')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-4o', '\"just a string\"')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-4o', '{\"prompt_tokens\": \"\\ud800\"}')", "22P02"),
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-4o', '{\"prompt_tokens\": 1e400}')", "22003"),
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-4o', '{\"prompt_tokens\": -3}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-4o', '{\"prompt_tokens\": [1]}')", "22023"),
    (
        "INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'gpt-4o',
             (SELECT ('{\"usage\": ' || repeat('{\"a\":', 3000) || '1' || repeat('}', 3000) || '}')::jsonb))",
        "22023",
    ),
    // found by the property test in src/ledger/raw_usage.rs: cached tokens without a prompt count
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('google', 'gemini-2.5-pro', '{\"cachedContentTokenCount\": 261, \"totalTokenCount\": 3294}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('openai', 'o3-mini', '{\"prompt_tokens\": 5, \"completion_tokens\": 1, \"completion_tokens_details\": {\"reasoning_tokens\": 9}}')", "22023"),
    ("INSERT INTO llm_cost.resource_usage (resource_type, quantity) VALUES ('cpu_core_hours', -1)", "22023"),
    // budgets
    ("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('b', 0, 'month')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('b', 'NaN', 'month')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('b', 1e400, 'month')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('b', 10, 'fortnight')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period, timezone) VALUES ('b', 10, 'month', 'Mars/Olympus')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('b', 10, 'month', '{0}')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('b', 10, 'month', '{1001}')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period, per) VALUES ('b', 10, 'month', 'favourite_colour')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period, includes) VALUES ('b', 10, 'month', 'everything')", "22023"),
    ("INSERT INTO llm_cost.budgets (name, amount, period) VALUES (NULL, 10, 'month')", "23502"),
    ("UPDATE llm_cost.budgets SET amount = -5", "22023"),
    // prices
    ("SELECT llm_cost.set_price('openai', 'x', -1, 1)", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 'NaN', 1)", "22023"),
    ("SELECT llm_cost.set_price('', 'x', 1, 1)", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, currency => 'dollars')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, valid_from => 'infinity')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, service_tier => 'x')", "22023"),
    // prices pricing could not hold exactly (found for import_prices by tests/import_fuzz.rs)
    ("SELECT llm_cost.set_price('openai', 'x', 0.0000000000000000000000000000001, 1)", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 999999999999, 0.0000000000000000000001)", "22023"),
    ("SELECT llm_cost.set_price('openai', repeat('x', 5000), 1, 1)", "22023"),
    // time-of-day prices: bad windows, incomplete off-peak prices
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"22:00-02:00\"}]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"25:00-26:00\"}]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"00:00-00:00\", \"weekdays\": [0]}]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"00:00-00:00\", \"weekday_timezone\": \"Mars/Olympus\"}]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '[]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '\"nights\"')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"00:00-01:00\"}]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5)", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, off_peak_input_per_mtok => -1, off_peak_output_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"00:00-01:00\"}]')", "22023"),
    ("SELECT llm_cost.set_price('openai', 'x', 1, 1, tier_threshold_tokens => 1000, input_per_mtok_above_tier => 2, off_peak_input_per_mtok => 0.5, off_peak_output_per_mtok => 0.5, off_peak_windows => '[{\"hours_utc\": \"00:00-01:00\"}]')", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": 1e-06, \"off_peak_pricing\": {\"input_cost_per_token\": 5e-07, \"windows\": [{\"hours_utc\": \"18:00-06:00\"}]}}}')", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": 1e-06, \"off_peak_pricing\": {\"input_cost_per_token\": \"cheap\", \"windows\": [{\"hours_utc\": \"00:00-06:00\"}]}}}')", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": 1e-06, \"off_peak_pricing\": {\"input_cost_per_token\": -5e-07, \"windows\": [{\"hours_utc\": \"00:00-06:00\"}]}}}')", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": 1e-06, \"off_peak_pricing\": [1]}}')", "22023"),
    ("INSERT INTO llm_cost.prices (provider, model, input_per_mtok, output_per_mtok, off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_windows) VALUES ('openai', 'x', 1, 1, 0.5, 0.5, '[{\"hours_utc\": \"00:00-01:00\"}]')", "23514"),
    ("SELECT llm_cost.import_prices('\"a string\"')", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\"}}', '  ')", "22023"),
    // genai-prices' data.json (a JSON array of providers): the error names provider, model and field
    ("SELECT llm_cost.import_prices('[1]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"\", \"models\": []}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\"}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": 7}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": \"cheap\"}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": {\"input_mtok\": \"1\"}}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": {\"input_mtok\": -1}}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": {\"input_mtok\": 1, \"requests_kcount\": {\"base\": 1, \"tiers\": []}}}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": {\"input_mtok\": {\"base\": 1, \"tiers\": [{\"start\": 0, \"price\": 2}]}}}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": {\"input_mtok\": {\"tiers\": []}}}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": [{\"constraint\": {\"start_date\": \"2025-02-30\"}, \"prices\": {\"input_mtok\": 1}}]}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": [{\"constraint\": {\"start_time\": \"25:00\", \"end_time\": \"01:00\"}, \"prices\": {\"input_mtok\": 1}}]}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": [{\"prices\": 5}]}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"prices\": {\"input_mtok\": 1e20}}]}]')", "22023"),
    ("SELECT llm_cost.import_prices('[{\"id\": \"aws\", \"models\": [{\"id\": \"regional.\", \"prices\": {\"input_mtok\": 1}}]}]')", "22023"),
    ("SELECT * FROM llm_cost.genai_price_rows('{}')", "22023"),
    ("SELECT llm_cost.import_prices(NULL)", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": \"abc\"}}')", "22023"),
    ("SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": -1}}')", "22023"),
    ("SELECT llm_cost.reprice('infinity', '-infinity')", "22023"),
    ("SELECT llm_cost.set_resource_price(NULL, NULL, NULL)", "22023"),
    // checks and the queue
    ("SELECT llm_cost.can_spend(-1)", "22023"),
    ("SELECT llm_cost.can_spend('NaN')", "22023"),
    ("SELECT * FROM llm_cost.check_spend(NULL)", "22023"),
    ("SELECT * FROM llm_cost.claim_notifications(-5, '1 minute')", "22023"),
    ("SELECT * FROM llm_cost.claim_notifications(5, '-1 minute')", "22023"),
    ("SELECT llm_cost.rebuild_budget_spend(123456)", "22023"),
    // analytics
    ("SELECT * FROM llm_cost.cost_summary('infinity', '-infinity')", "22023"),
    ("SELECT * FROM llm_cost.cost_summary(NULL, now())", "22023"),
    ("SELECT * FROM llm_cost.cost_by(NULL, now() - interval '1 day', now())", "22023"),
    ("SELECT * FROM llm_cost.cost_by('user_id; DROP TABLE llm_cost.usage', now() - interval '1 day', now())", "22023"),
    ("SELECT * FROM llm_cost.cost_by('tags', now() - interval '1 day', now())", "22023"),
    ("SELECT * FROM llm_cost.cost_by('tags.', now() - interval '1 day', now())", "22023"),
    ("SELECT * FROM llm_cost.cost_by('tags.team', 'infinity', now())", "22023"),
    ("SELECT * FROM llm_cost.cost_trend(-3)", "22023"),
    ("SELECT * FROM llm_cost.cost_trend(NULL)", "22023"),
    ("SELECT * FROM llm_cost.forecast(NULL)", "22023"),
    ("SELECT * FROM llm_cost.forecast_spend(NULL)", "22023"),
    ("SELECT * FROM llm_cost.forecast_spend('1000000 years')", "22023"),
    ("SELECT * FROM llm_cost.anomalies(now(), now() - interval '1 day')", "22023"),
    ("SELECT * FROM llm_cost.anomalies(threshold => 'NaN')", "22023"),
    ("SELECT * FROM llm_cost.anomalies('-infinity', 'infinity')", "22023"),
    ("SELECT * FROM llm_cost.anomalies(dimension => 'cost')", "22023"),
    ("SELECT * FROM llm_cost.recommendations(max_input_tokens => 0)", "22023"),
    ("SELECT llm_cost.export_json('infinity', '-infinity')", "22023"),
    ("SELECT llm_cost.export_json(NULL, NULL)", "22023"),
    ("SELECT llm_cost.report_html('-infinity', 'infinity')", "22023"),
    ("SELECT llm_cost.histogram_percentile('{1,2}', 2)", "22023"),
    ("SELECT llm_cost.histogram_percentile('{1,NULL}', 0.5)", "22023"),
    ("SELECT llm_cost.latency_histogram_add('{1,2}', '{1}', 1)", "22023"),
    ("SELECT llm_cost.latency_histogram_add('{1,2}', '{1,2}', 5)", "22023"),
    ("SELECT llm_cost.refresh_rollups(0)", "22023"),
    ("SELECT llm_cost.queue_anomaly_alerts(NULL)", "22023"),
    ("SELECT llm_cost.spend_forecast(current_date - g, 1, current_date, -1) FROM generate_series(1, 3) g", "22023"),
    ("SELECT llm_cost.anomaly_scan(current_date, 1, NULL, current_date, 3.5)", "22023"),
    // units (docs/charges.md): unknown names, negative or non-numeric quantities, a subset above its parent
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"web_searches\": 1}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"images\": -1}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"images\": \"two\"}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"size\": 1024}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '[1]')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"audio_input_tokens\": 1.5}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"audio_input_tokens\": 11}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, cached_input_tokens, units) VALUES ('openai', 'gpt-4o', 10, 5, '{\"image_input_tokens\": 6}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, cache_write_tokens, units) VALUES ('openai', 'gpt-4o', 10, 5, '{\"cache_write_1h_tokens\": 6}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, output_tokens, reasoning_tokens, units) VALUES ('openai', 'gpt-4o', 10, 5, '{\"audio_output_tokens\": 6}')", "22023"),
    ("INSERT INTO llm_cost.usage (provider, model, input_tokens, units) VALUES ('openai', 'gpt-4o', 10, '{\"pages\": 1e400}')", "22023"),
    ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', 10, 10, units => '{\"web_searches\": 1}')", "22023"),
    ("SELECT llm_cost.cost_breakdown('openai', 'gpt-4o', 10, 10, units => '{\"images\": -2}')", "22023"),
    // unit prices: the normaliser set_price and import_prices use, and the table's CHECK
    ("SELECT llm_cost._unit_prices('{\"images\": -1}', 'test')", "22023"),
    ("SELECT llm_cost._unit_prices('{\"tokens\": 1}', 'test')", "22023"),
    ("SELECT llm_cost._unit_prices('{\"images\": {}}', 'test')", "22023"),
    ("UPDATE llm_cost.prices SET unit_prices = '{\"images\": {\"HD\": 1}}' WHERE provider = 'openai'", "23514"),
    ("UPDATE llm_cost.prices SET audio_input_per_mtok = -1 WHERE provider = 'openai'", "23514"),
];

/// A fingerprint of everything stored in the extension's tables.
fn fingerprint(c: &mut postgres::Client) -> Vec<(String, i64, String)> {
    table_checksums(c, |_| None)
}

#[test]
fn hostile_input_gets_a_clear_error_and_changes_nothing() {
    assert!(REJECTED.len() >= 40, "at least 40 hostile inputs");
    let cluster = TestCluster::start("bad_input", &[]);
    let mut c = cluster.database_with_extension("wall");
    // something stored that a bad statement could damage
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('global', 1, 'month', '{50, 100}');
         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, latency_ms, user_id)
         SELECT 'openai', 'gpt-4o', 100000, 20000, 300, 'u' || g FROM generate_series(1, 20) g;
         SELECT llm_cost.refresh_rollups();",
    )
    .unwrap();
    let before = fingerprint(&mut c);
    let mut wrong = Vec::new();
    for (sql, expected) in REJECTED {
        match c.batch_execute(sql) {
            Ok(()) => wrong.push(format!("accepted: {sql}")),
            Err(e) => {
                let got = sqlstate(&e);
                if got != *expected {
                    wrong.push(format!("{got} (expected {expected}): {sql}\n    {e:?}"));
                }
                if got == "XX000" {
                    wrong.push(format!("internal error, not a user error: {sql}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} inputs misbehaved:\n{}", wrong.len(), REJECTED.len(), wrong.join("\n"));
    assert_eq!(fingerprint(&mut c), before, "a rejected statement changed stored data");
    let alive: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(alive, 1);
}

/// Inputs that are odd but legal: documented safe results.
#[test]
fn odd_but_legal_input_has_a_documented_result() {
    let cluster = TestCluster::start("odd_input", &[]);
    let mut c = cluster.database_with_extension("odd");
    let text = |c: &mut postgres::Client, sql: &str| -> Option<String> {
        c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e:?}")).get(0)
    };
    // unknown or absurd names price as NULL (no price), never an error
    assert_eq!(text(&mut c, "SELECT llm_cost.llm_cost('', '', 10, 10)::text"), None);
    assert_eq!(text(&mut c, "SELECT llm_cost.llm_cost('openai', repeat('x', 1000000), 10, 10)::text"), None);
    assert_eq!(text(&mut c, "SELECT llm_cost.llm_cost(NULL, 'gpt-4o', 10, 10)::text"), None);
    // the largest token counts price exactly
    assert_eq!(
        text(&mut c, "SELECT (llm_cost.llm_cost('openai', 'gpt-4o', 9223372036854775807, 0) = 9223372036854775807 * 2.5 * 0.000001)::text"),
        Some("true".into())
    );
    // SQL metacharacters and 1 MB strings are stored verbatim
    c.batch_execute(
        "INSERT INTO llm_cost.usage (provider, model, input_tokens, user_id, tags)
         VALUES ('openai', 'gpt-4o', 10, repeat('u', 1000000), '{\"k\": \"''; DROP TABLE llm_cost.usage; --\"}')",
    )
    .unwrap();
    assert_eq!(text(&mut c, "SELECT length(user_id)::text FROM llm_cost.usage"), Some("1000000".into()));
    assert_eq!(text(&mut c, "SELECT tags->>'k' FROM llm_cost.usage"), Some("'; DROP TABLE llm_cost.usage; --".into()));
    // the oldest date Postgres has is a date like any other
    c.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens, occurred_at) VALUES ('openai', 'gpt-4o', 10, '4713-01-01 BC')")
        .unwrap();
    assert_eq!(text(&mut c, "SELECT count(*)::text FROM llm_cost.usage WHERE cost IS NOT NULL"), Some("2".into()));
    // an empty histogram has no percentile; acking an unknown id is false
    assert_eq!(text(&mut c, "SELECT llm_cost.histogram_percentile('{}', 0.5)::text"), None);
    assert_eq!(text(&mut c, "SELECT llm_cost.ack_notification(-1)::text"), Some("false".into()));
    // a 50,000-entry price import goes through in one statement
    let imported = text(
        &mut c,
        "SELECT llm_cost.import_prices((SELECT jsonb_object_agg('m' || g, jsonb_build_object('litellm_provider', 'bulk', 'mode', 'chat',
                    'input_cost_per_token', 1e-6, 'output_cost_per_token', 2e-6)) FROM generate_series(1, 50000) g))::text",
    );
    assert_eq!(imported, Some("50000".into()));
    assert_eq!(text(&mut c, "SELECT llm_cost.llm_cost('bulk', 'm49999', 1000000, 0)::text"), Some("1".into()));
    // empty price lists of either format import nothing
    assert_eq!(text(&mut c, "SELECT llm_cost.import_prices('{}')::text"), Some("0".into()));
    assert_eq!(text(&mut c, "SELECT llm_cost.import_prices('[]')::text"), Some("0".into()));
}
