//! Client tests: a throwaway server started by each test, real connections.
//! Covers what a `#[pg_test]` cannot: INSERT and COPY over the wire, catalog
//! invalidation across sessions, committed errors and what they leave behind.

mod common;

use common::{sqlstate, TestCluster};
use std::io::Write;

fn one_text(c: &mut postgres::Client, sql: &str) -> Option<String> {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

#[test]
fn insert_and_copy_rows_over_a_real_connection() {
    let cluster = TestCluster::start("ingest", &[]);
    let mut c = cluster.database_with_extension("ingest");

    // single-row INSERT
    c.execute(
        "INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id) VALUES ($1, $2, $3, $4, $5)",
        &[&"openai", &"gpt-4o", &1_000_000i64, &100_000i64, &"u1"],
    )
    .unwrap();
    // multi-row INSERT, one row with a raw Anthropic usage object
    c.batch_execute(
        r#"INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, raw_usage) VALUES
             ('openai', 'gpt-4o-mini', 2000, 100, NULL),
             ('anthropic', 'claude-sonnet-4-5', 0, 0,
              '{"input_tokens": 100, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 0, "output_tokens": 50}')"#,
    )
    .unwrap();

    // COPY 5,000 rows, every tenth with a raw OpenAI usage object instead of token columns
    let mut writer = c
        .copy_in("COPY llm_cost.usage (provider, model, input_tokens, output_tokens, raw_usage, tenant_id) FROM STDIN")
        .unwrap();
    let mut buf = Vec::new();
    for i in 0..5000 {
        if i % 10 == 0 {
            writeln!(buf, "openai\tgpt-4o\t0\t0\t{{\"prompt_tokens\": {}, \"completion_tokens\": 20}}\tcopy", 100 + i)
                .unwrap();
        } else {
            writeln!(buf, "openai\tgpt-4o\t{}\t{}\t\\N\tcopy", 100 + i, i % 50).unwrap();
        }
    }
    writer.write_all(&buf).unwrap();
    assert_eq!(writer.finish().unwrap(), 5000);

    // every row priced, and each cost equals llm_cost() of its own tokens
    let bad: i64 = c
        .query_one(
            "SELECT count(*) FROM llm_cost.usage
              WHERE cost IS DISTINCT FROM llm_cost.llm_cost(provider, model, input_tokens, output_tokens,
                        cached_input_tokens, cache_write_tokens, reasoning_tokens, occurred_at, service_tier)
                 OR price_id IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bad, 0);
    let n: i64 = c.query_one("SELECT count(*) FROM llm_cost.usage WHERE tenant_id = 'copy'", &[]).unwrap().get(0);
    assert_eq!(n, 5000);
    // gpt-4o at $2.50/$10: 1M in + 100k out = 2.5 + 1 = 3.5
    assert_eq!(
        one_text(&mut c, "SELECT trim_scale(cost)::text FROM llm_cost.usage WHERE user_id = 'u1'").as_deref(),
        Some("3.5")
    );
    // the raw Anthropic row: input 100 + 900 cached
    assert_eq!(
        one_text(
            &mut c,
            "SELECT input_tokens || '/' || cached_input_tokens FROM llm_cost.usage WHERE provider = 'anthropic'"
        )
        .as_deref(),
        Some("1000/900")
    );
    // the raw rows of the COPY were normalised
    let raw_rows: i64 = c
        .query_one("SELECT count(*) FROM llm_cost.usage WHERE tenant_id = 'copy' AND raw_usage IS NOT NULL AND output_tokens = 20", &[])
        .unwrap()
        .get(0);
    assert_eq!(raw_rows, 500);
}

#[test]
fn a_price_changed_in_one_session_is_used_by_another_at_its_next_statement() {
    let cluster = TestCluster::start("inval", &[]);
    let mut a = cluster.database_with_extension("inval");
    let mut b = cluster.connect("inval");
    let price = |c: &mut postgres::Client| {
        one_text(c, "SELECT trim_scale(llm_cost.llm_cost('openai', 'gpt-4o', 1000000, 0))::text")
    };

    assert_eq!(price(&mut a).as_deref(), Some("2.5")); // a has loaded its catalog
                                                       // a change rolled back in b is never seen
    b.batch_execute("BEGIN; SELECT llm_cost.set_price('openai', 'gpt-4o', 7, 10); ROLLBACK").unwrap();
    assert_eq!(price(&mut a).as_deref(), Some("2.5"));
    assert_eq!(price(&mut b).as_deref(), Some("2.5"));
    // a committed change is seen by a's very next statement
    b.batch_execute("SELECT llm_cost.set_price('openai', 'gpt-4o', 5, 10)").unwrap();
    assert_eq!(price(&mut a).as_deref(), Some("5"));
    a.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('openai', 'gpt-4o', 1000000)")
        .unwrap();
    assert_eq!(one_text(&mut a, "SELECT trim_scale(cost)::text FROM llm_cost.usage").as_deref(), Some("5"));
    // aliases invalidate too
    b.batch_execute("INSERT INTO llm_cost.model_aliases VALUES ('acme', 'house', 'openai', 'gpt-4o')").unwrap();
    assert_eq!(
        one_text(&mut a, "SELECT trim_scale(llm_cost.llm_cost('acme', 'house', 1000000, 0))::text").as_deref(),
        Some("5")
    );
}

/// Each bad input fails with its SQLSTATE inside a transaction that already
/// holds a good row; after rolling back to the savepoint the good row commits
/// and nothing else changed.
#[test]
fn bad_input_gets_a_clear_sqlstate_and_loses_nothing() {
    let cluster = TestCluster::start("badinput", &[]);
    let mut c = cluster.database_with_extension("badinput");
    let prices_before: i64 = c.query_one("SELECT count(*) FROM llm_cost.prices", &[]).unwrap().get(0);
    let ins = |cols: &str, vals: &str| {
        format!("INSERT INTO llm_cost.usage (provider, model, {cols}) VALUES ('openai', 'gpt-4o', {vals})")
    };
    let cases: Vec<(String, &str)> = vec![
        (ins("input_tokens", "-1"), "22023"),
        (ins("output_tokens, reasoning_tokens", "10, -1"), "22023"),
        (ins("input_tokens, cached_input_tokens, cache_write_tokens", "10, 6, 5"), "22023"),
        (ins("output_tokens, reasoning_tokens", "10, 11"), "22023"),
        (ins("input_tokens, service_tier", "10, 'gold'"), "22023"),
        (ins("raw_usage", "'[1, 2]'"), "22023"),
        (ins("raw_usage", "'{\"foo\": 1}'"), "22023"),
        (ins("raw_usage", "'{\"prompt_tokens\": \"12\"}'"), "22023"),
        (ins("raw_usage", "'{\"prompt_tokens\": -3}'"), "22023"),
        (ins("raw_usage", "'{\"prompt_tokens\": 1.5}'"), "22023"),
        (ins("raw_usage", "'{\"prompt_tokens\": 10, \"prompt_tokens_details\": 5}'"), "22023"),
        (ins("raw_usage", "'{\"prompt_tokens\": 1e30}'"), "22003"),
        (ins("raw_usage", "'{\"prompt_tokens\": 10, \"prompt_tokens_details\": {\"cached_tokens\": 11}}'"), "22023"),
        (ins("input_tokens", "99999999999999999999"), "22003"),
        (ins("input_tokens, cost", "1, 'NaN'"), "23514"),
        ("INSERT INTO llm_cost.usage (provider, model) VALUES (NULL, 'gpt-4o')".into(), "23502"),
        ("INSERT INTO llm_cost.usage (provider, model) VALUES ('openai', NULL)".into(), "23502"),
        ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', -5, 0)".into(), "22023"),
        ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', 5, 0, service_tier => 'gold')".into(), "22023"),
        ("SELECT llm_cost.llm_cost('openai', 'gpt-4o', 5, 5, reasoning_tokens => 6)".into(), "22023"),
        ("SELECT llm_cost.set_price('x', 'y', 'NaN', 1)".into(), "22023"),
        ("SELECT llm_cost.set_price('x', 'y', -1, 1)".into(), "22023"),
        ("SELECT llm_cost.set_price('x', 'y', 1, 'Infinity')".into(), "22023"),
        ("SELECT llm_cost.set_price('x', 'y', 1, 1, cache_read_per_mtok => -0.1)".into(), "22023"),
        ("SELECT llm_cost.set_price('x', 'y', 1, 1, service_tier => 'gold')".into(), "22023"),
        ("SELECT llm_cost.set_price('x', 'y', 1, 1, currency => 'dollars')".into(), "22023"),
        ("SELECT llm_cost.set_price('', 'y', 1, 1)".into(), "22023"),
        ("SELECT llm_cost.set_price(NULL, 'y', 1, 1)".into(), "22023"),
        ("SELECT llm_cost.import_prices('[1, 2]')".into(), "22023"),
        ("SELECT llm_cost.import_prices('{\"a\": 1, \"b\": {\"c\": 2}}')".into(), "22023"),
        (
            "SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"x\", \"mode\": \"chat\", \"input_cost_per_token\": \"abc\"}}')".into(),
            "22023",
        ),
        (
            "SELECT llm_cost.import_prices('{\"m\": {\"litellm_provider\": \"x\", \"mode\": \"chat\", \"input_cost_per_token\": -1e-06}}')".into(),
            "22023",
        ),
        ("SELECT llm_cost.reprice('2025-01-01', '2024-01-01')".into(), "22023"),
        (
            "SET LOCAL llm_cost.on_unpriced = 'error'; INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('nobody', 'nothing', 1)".into(),
            "22023",
        ),
    ];
    c.batch_execute("BEGIN").unwrap();
    c.batch_execute(
        "INSERT INTO llm_cost.usage (provider, model, input_tokens, user_id) VALUES ('openai', 'gpt-4o', 1000, 'good')",
    )
    .unwrap();
    for (sql, expected) in &cases {
        c.batch_execute("SAVEPOINT s").unwrap();
        let err = c.batch_execute(sql).expect_err(sql);
        assert_eq!(&sqlstate(&err), expected, "{sql}: {err:?}");
        let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(!message.is_empty() && !message.contains("panicked"), "{sql}: unclear message {message:?}");
        c.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
    }
    c.batch_execute("COMMIT").unwrap();
    let rows: Vec<String> =
        c.query("SELECT user_id FROM llm_cost.usage", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(rows, vec!["good".to_string()]);
    let prices_after: i64 = c.query_one("SELECT count(*) FROM llm_cost.prices", &[]).unwrap().get(0);
    assert_eq!(prices_before, prices_after);

    // a COPY with one bad line stores none of its lines
    let mut w = c.copy_in("COPY llm_cost.usage (provider, model, input_tokens) FROM STDIN").unwrap();
    w.write_all(b"openai\tgpt-4o\t10\nopenai\tgpt-4o\t-10\nopenai\tgpt-4o\t30\n").unwrap();
    let err = w.finish().expect_err("COPY with a negative token count");
    assert_eq!(sqlstate(&err), "22023");
    let n: i64 = c.query_one("SELECT count(*) FROM llm_cost.usage", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn unpriced_rows_are_kept_per_setting() {
    let cluster = TestCluster::start("unpriced", &[]);
    let mut c = cluster.database_with_extension("unpriced");
    // default 'warn': kept with cost NULL
    c.batch_execute(
        "INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('newco', 'm', 10), ('newco', 'm', 20)",
    )
    .unwrap();
    c.batch_execute("SET llm_cost.on_unpriced = 'ignore'; INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('newco', 'm', 30)")
        .unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM llm_cost.unpriced_usage", &[]).unwrap().get(0);
    assert_eq!(n, 3);
    c.batch_execute("SELECT llm_cost.set_price('newco', 'm', 1000, 0, valid_from => '-infinity')").unwrap();
    let repriced: i64 = c.query_one("SELECT llm_cost.reprice()", &[]).unwrap().get(0);
    assert_eq!(repriced, 3);
    // (10 + 20 + 30) * 1000 / 1e6 = 0.06
    assert_eq!(one_text(&mut c, "SELECT trim_scale(sum(cost))::text FROM llm_cost.usage").as_deref(), Some("0.06"));
}

/// The shipped catalog and `import_prices` apply the same mapping: importing the
/// very LiteLLM file the catalog was generated from adds nothing and verifies every
/// row it describes. The catalog also holds genai-prices' rows (models LiteLLM
/// lacks, prices before a dated change), but for every (provider, model, tier)
/// LiteLLM describes, the price in force is LiteLLM's.
#[test]
fn importing_the_source_price_list_adds_nothing() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/model_prices_and_context_window.json");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cluster = TestCluster::start("import", &[]);
    let mut c = cluster.database_with_extension("import");
    let shipped: i64 = c.query_one("SELECT count(*) FROM llm_cost.prices", &[]).unwrap().get(0);
    let described: i64 =
        c.query_one("SELECT count(*) FROM llm_cost.litellm_price_rows($1::text::jsonb)", &[&doc]).unwrap().get(0);
    assert!(shipped > described, "shipped {shipped}, LiteLLM describes {described}");
    let mismatches: i64 = c
        .query_one(
            "SELECT count(*) FROM llm_cost.litellm_price_rows($1::text::jsonb) AS i
              LEFT JOIN llm_cost.current_prices AS p USING (provider, model, service_tier)
              WHERE p.id IS NULL
                 OR (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
                     i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
                     i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier,
                     i.cache_write_per_mtok_above_tier, i.per_request, i.off_peak_input_per_mtok,
                     i.off_peak_output_per_mtok, i.off_peak_cache_read_per_mtok, i.off_peak_windows)
                    IS DISTINCT FROM
                    (p.input_per_mtok, p.output_per_mtok, p.cache_read_per_mtok, p.cache_write_per_mtok,
                     p.reasoning_per_mtok, p.tier_threshold_tokens, p.input_per_mtok_above_tier,
                     p.output_per_mtok_above_tier, p.cache_read_per_mtok_above_tier,
                     p.cache_write_per_mtok_above_tier, p.per_request, p.off_peak_input_per_mtok,
                     p.off_peak_output_per_mtok, p.off_peak_cache_read_per_mtok, p.off_peak_windows)",
            &[&doc],
        )
        .unwrap()
        .get(0);
    assert_eq!(mismatches, 0);
    let added: i32 = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb)", &[&doc]).unwrap().get(0);
    assert_eq!(added, 0);
    let stale: i64 = c
        .query_one(
            "SELECT count(*) FROM llm_cost.stale_prices AS s
               JOIN llm_cost.litellm_price_rows($1::text::jsonb) AS i USING (provider, model, service_tier)",
            &[&doc],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale, 0, "an import that finds a price unchanged verifies it");
    // and again: still idempotent
    let added: i32 =
        c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'litellm-again')", &[&doc]).unwrap().get(0);
    assert_eq!(added, 0);
}

/// `warn` raises one WARNING per unpriced model per transaction, not one per row.
#[test]
fn unpriced_warning_once_per_model_per_transaction() {
    use std::sync::{Arc, Mutex};
    let cluster = TestCluster::start("warn", &[]);
    drop(cluster.database_with_extension("warn"));
    let notices = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = notices.clone();
    let mut config: postgres::Config = cluster.conn_string("warn").parse().unwrap();
    config.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let mut c = config.connect(postgres::NoTls).unwrap();
    c.batch_execute(
        "BEGIN;
         INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('newco', 'a', 1), ('newco', 'a', 2), ('newco', 'b', 3);
         INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('newco', 'a', 4);
         COMMIT;
         INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('newco', 'a', 5);",
    )
    .unwrap();
    let got = notices.lock().unwrap().clone();
    let about = |m: &str| got.iter().filter(|n| n.contains(&format!("model \"{m}\""))).count();
    assert_eq!((about("a"), about("b")), (2, 1), "{got:?}");
    let kept: i64 = c.query_one("SELECT count(*) FROM llm_cost.unpriced_usage", &[]).unwrap().get(0);
    assert_eq!(kept, 5);
}

/// Every table, view and function the extension creates says what it is
/// (`\d+` and `\df+` show it).
#[test]
fn every_public_object_has_a_comment() {
    let cluster = TestCluster::start("comments", &[]);
    let mut c = cluster.database_with_extension("comments");
    let missing: Vec<String> = c
        .query(
            "SELECT 'function ' || p.oid::regprocedure::text
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'llm_cost' AND obj_description(p.oid, 'pg_proc') IS NULL
             UNION ALL
             SELECT 'relation ' || c.oid::regclass::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'llm_cost' AND c.relkind IN ('r', 'v', 'm', 'p') AND NOT c.relispartition
                AND obj_description(c.oid, 'pg_class') IS NULL
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(missing.is_empty(), "objects without COMMENT ON: {missing:#?}");
}

/// scripts/gen_catalog.py and `import_prices` read genai-prices alike (the
/// provider map, names, periods, prices and placement in sql/api.sql mirror
/// the generator's). The shipped catalog is the generator's output for
/// ../shared/data, so the two agree when importing genai_prices_data.json
/// into a fresh install adds rows for exactly the (provider, model) pairs
/// where the generator reports a conflict (both sources price the model now
/// and disagree, and it kept LiteLLM's price), one row each, and nothing for
/// any other model: every model only genai-prices has, and every dated change,
/// is already shipped under the provider and name the import gives it.
#[test]
fn importing_genai_prices_adds_exactly_the_prices_the_generator_overrode() {
    use std::collections::BTreeSet;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../shared/data/genai_prices_data.json");
    let doc = std::fs::read_to_string(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));

    // The generator's conflicts, from the same inputs as the shipped catalog
    // (whose header gives its verified-at date): the output must be the shipped file.
    let shipped_sql = std::fs::read_to_string(root.join("sql/catalog.sql")).unwrap();
    let verified_at = shipped_sql
        .lines()
        .find_map(|l| l.split("prices verified at ").nth(1))
        .map(|d| d.trim_end_matches('.').to_string())
        .expect("sql/catalog.sql names its verified-at date");
    let out = std::env::temp_dir().join(format!("llm_cost_genai_agree_{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let status = std::process::Command::new("python3")
        .arg(root.join("scripts/gen_catalog.py"))
        .args(["--verified-at", &verified_at, "--output"])
        .arg(out.join("catalog.sql"))
        .arg("--conflicts")
        .arg(out.join("conflicts.tsv"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("python3 runs scripts/gen_catalog.py");
    assert!(status.success(), "gen_catalog.py failed");
    assert!(
        std::fs::read_to_string(out.join("catalog.sql")).unwrap() == shipped_sql,
        "sql/catalog.sql is not what scripts/gen_catalog.py makes of ../shared/data: regenerate it"
    );
    let conflicts: BTreeSet<(String, String)> = std::fs::read_to_string(out.join("conflicts.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect();
    let _ = std::fs::remove_dir_all(&out);
    assert!(!conflicts.is_empty());

    let cluster = TestCluster::start("genai_import", &[]);
    let mut c = cluster.database_with_extension("genai");
    // The generator takes genai-prices' last price as its current one: so does
    // the import once the file's last dated change has started.
    let started: bool = c
        .query_one("SELECT max(valid_from) <= now() FROM llm_cost.genai_price_rows($1::text::jsonb)", &[&doc])
        .unwrap()
        .get(0);
    assert!(
        started,
        "genai_prices_data.json has a price change in the future: this comparison does not hold before it"
    );
    c.batch_execute("BEGIN").unwrap(); // one now(): the import's and the checks'
    let added: i32 = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb)", &[&doc]).unwrap().get(0);
    let imported: BTreeSet<(String, String)> = c
        .query("SELECT DISTINCT provider, model FROM llm_cost.prices WHERE source = 'genai-prices'", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let only_import: Vec<_> = imported.difference(&conflicts).collect();
    let only_generator: Vec<_> = conflicts.difference(&imported).collect();
    assert!(
        only_import.is_empty() && only_generator.is_empty(),
        "import_prices and gen_catalog.py disagree: rows added for models without a conflict {only_import:?}; \
         conflicts the import left alone {only_generator:?}"
    );
    assert_eq!(added as usize, conflicts.len(), "one row per conflicting model");
    // now every price in force is genai-prices' own, confirmed by the import
    let differing: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT DISTINCT ON (provider, model) * FROM llm_cost.genai_price_rows($1::text::jsonb)
                                    WHERE valid_from <= now() ORDER BY provider, model, valid_from DESC) AS i
               LEFT JOIN llm_cost.current_prices AS p USING (provider, model, service_tier)
               -- the rates genai-prices leaves implicit, as the import fills them in
               CROSS JOIN LATERAL llm_cost._provider_defaults(i.provider, i.model, i.input_per_mtok, i.cache_read_per_mtok,
                                                              i.cache_write_per_mtok, NULL) AS d
              WHERE p.id IS NULL OR p.verified_at <> now()
                 OR (i.input_per_mtok, i.output_per_mtok, d.cache_read_per_mtok, i.cache_write_per_mtok,
                     i.tier_threshold_tokens, i.input_per_mtok_above_tier, i.output_per_mtok_above_tier,
                     i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier, i.per_request)
                    IS DISTINCT FROM
                    (p.input_per_mtok, p.output_per_mtok, p.cache_read_per_mtok, p.cache_write_per_mtok,
                     p.tier_threshold_tokens, p.input_per_mtok_above_tier, p.output_per_mtok_above_tier,
                     p.cache_read_per_mtok_above_tier, p.cache_write_per_mtok_above_tier, p.per_request)",
            &[&doc],
        )
        .unwrap()
        .get(0);
    assert_eq!(differing, 0);
    c.batch_execute("COMMIT").unwrap();
    let again: i32 = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb)", &[&doc]).unwrap().get(0);
    assert_eq!(again, 0, "a second import adds nothing");
}

// ---------------------------------------------------------------------------
// Every charge on the bill: import_prices and set_price with subset prices and
// unit prices (docs/charges.md, "Mapping from LiteLLM's price list").
// ---------------------------------------------------------------------------

/// A LiteLLM document with each kind of new field.
const LITELLM_UNITS_DOC: &str = r#"{
  "claude-units-test": {"litellm_provider": "anthropic", "mode": "chat",
      "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
      "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
      "input_cost_per_token_batches": 1.5e-06, "output_cost_per_token_batches": 7.5e-06,
      "cache_creation_input_token_cost_above_1hr_batches": 3e-06,
      "search_context_cost_per_query": {"search_context_size_low": 0.01, "search_context_size_medium": 0.01, "search_context_size_high": 0.01}},
  "gpt-audio-units-test": {"litellm_provider": "openai", "mode": "chat",
      "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
      "input_cost_per_audio_token": 4e-05, "output_cost_per_audio_token": 8e-05, "input_cost_per_image_token": 1e-05},
  "perplexity/sonar-units-test": {"litellm_provider": "perplexity", "mode": "chat",
      "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06,
      "search_context_cost_per_query": {"search_context_size_low": 0.005, "search_context_size_medium": 0.008, "search_context_size_high": 0.012}},
  "gemini/gemini-units-test": {"litellm_provider": "gemini", "mode": "chat",
      "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06, "google_maps_grounding_cost_per_query": 0.025,
      "input_cost_per_token_priority": 5.4e-07, "output_cost_per_token_priority": 4.5e-06,
      "search_context_cost_per_query": {"search_context_size_low": 0.035, "search_context_size_medium": 0.035, "search_context_size_high": 0.035}},
  "gpt-image-units-test": {"litellm_provider": "openai", "mode": "image_generation",
      "input_cost_per_token": 5e-06, "input_cost_per_image_token": 1e-05, "output_cost_per_image_token": 4e-05},
  "low/1024-x-1024/gpt-image-units-test": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.011},
  "hd/1024-x-1792/gpt-image-units-test": {"litellm_provider": "openai", "mode": "image_generation",
      "input_cost_per_pixel": 7e-08, "output_cost_per_pixel": 0.0},
  "azure/standard/1024-x-1024/dall-e-units-test": {"litellm_provider": "azure", "mode": "image_generation",
      "input_cost_per_pixel": 4e-08, "output_cost_per_token": 0.0},
  "1024-x-1024/50-steps/stability-units-test": {"litellm_provider": "bedrock", "mode": "image_generation", "output_cost_per_image": 0.04},
  "1024-x-1024/max-steps/stability-units-test": {"litellm_provider": "bedrock", "mode": "image_generation", "output_cost_per_image": 0.08},
  "fal_ai/nano-units-test": {"litellm_provider": "fal_ai", "mode": "image_generation",
      "output_cost_per_image": 0.08, "output_cost_per_image_1K": 0.08, "output_cost_per_image_4K": 0.16, "output_cost_per_image_0.5K": 0.06},
  "whisper-units-test": {"litellm_provider": "openai", "mode": "audio_transcription",
      "input_cost_per_second": 0.0001, "output_cost_per_second": 0.0001},
  "tts-units-test": {"litellm_provider": "openai", "mode": "audio_speech",
      "input_cost_per_character": 1.5e-05, "output_cost_per_second": 0.00025},
  "vertex_ai/veo-units-test": {"litellm_provider": "vertex_ai", "mode": "video_generation",
      "output_cost_per_second": 0.4, "output_cost_per_second_720p": 0.2, "output_cost_per_second_1080p": 0.4},
  "embed-units-test": {"litellm_provider": "vertex_ai", "mode": "embedding",
      "input_cost_per_token": 1e-07, "input_cost_per_video_per_second": 0.0005, "input_cost_per_image": 0.0001,
      "input_cost_per_audio_per_second": 0.0002, "input_cost_per_character": 2.5e-08},
  "cohere/rerank-units-test": {"litellm_provider": "cohere", "mode": "rerank", "input_cost_per_query": 0.002},
  "mistral/ocr-units-test": {"litellm_provider": "mistral", "mode": "ocr",
      "ocr_cost_per_page": 0.001, "ocr_cost_per_page_batches": 0.0005},
  "evaluation-units-test": {"litellm_provider": "openai", "mode": "evaluation", "input_cost_per_query": 1},
  "unpriced-units-test": {"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_second": 0.0001}
}"#;

/// The rows LITELLM_UNITS_DOC gives: provider, model, tier, input, output,
/// cache_write_1h, audio_in, image_in, audio_out, image_out, unit_prices.
const LITELLM_UNITS_ROWS: &str = r#"(VALUES
  ('anthropic', 'claude-units-test', 'standard', 3, 15, 6, NULL, NULL, NULL, NULL,
   '{"web_search_queries": {"low": 0.01, "medium": 0.01, "high": 0.01, "default": 0.01}}'),
  ('anthropic', 'claude-units-test', 'batch', 1.5, 7.5, 3, NULL, NULL, NULL, NULL,
   '{"web_search_queries": {"low": 0.01, "medium": 0.01, "high": 0.01, "default": 0.01}}'),
  ('openai', 'gpt-audio-units-test', 'standard', 2.5, 10, NULL, 40, 10, 80, NULL, NULL),
  ('perplexity', 'sonar-units-test', 'standard', 1, 1, NULL, NULL, NULL, NULL, NULL,
   '{"requests": {"low": 0.005, "medium": 0.008, "high": 0.012, "default": 0.005}}'),
  ('gemini', 'gemini-units-test', 'standard', 0.3, 2.5, NULL, NULL, NULL, NULL, NULL,
   '{"maps_queries": 0.025, "web_search_queries": {"low": 0.035, "medium": 0.035, "high": 0.035, "default": 0.035}}'),
  ('gemini', 'gemini-units-test', 'priority', 0.54, 4.5, NULL, NULL, NULL, NULL, NULL,
   '{"maps_queries": 0.025, "web_search_queries": {"low": 0.035, "medium": 0.035, "high": 0.035, "default": 0.035}}'),
  ('openai', 'gpt-image-units-test', 'standard', 5, 40, NULL, NULL, 10, NULL, 40,
   '{"images": {"low/1024x1024": 0.011, "hd/1024x1792": 0.12845056}}'),
  ('azure', 'dall-e-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL,
   '{"images": {"standard/1024x1024": 0.04194304}}'),
  ('bedrock', 'stability-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL,
   '{"images": {"1024x1024": 0.04, "premium/1024x1024": 0.08}}'),
  ('fal_ai', 'nano-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL,
   '{"images": {"1k": 0.08, "4k": 0.16, "0.5k": 0.06, "default": 0.08}}'),
  ('openai', 'whisper-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL, '{"audio_seconds": 0.0001}'),
  ('openai', 'tts-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL,
   '{"characters": 0.000015, "output_audio_seconds": 0.00025}'),
  ('vertex_ai', 'veo-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL,
   '{"video_seconds": {"720p": 0.2, "1080p": 0.4, "default": 0.4}}'),
  ('vertex_ai', 'embed-units-test', 'standard', 0.1, 0, NULL, NULL, NULL, NULL, NULL,
   '{"video_seconds": 0.0005, "input_images": 0.0001, "audio_seconds": 0.0002, "characters": 0.000000025}'),
  ('cohere', 'rerank-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL, '{"queries": 0.002}'),
  ('mistral', 'ocr-units-test', 'standard', 0, 0, NULL, NULL, NULL, NULL, NULL, '{"pages": 0.001}'),
  ('mistral', 'ocr-units-test', 'batch', 0, 0, NULL, NULL, NULL, NULL, NULL, '{"pages": 0.0005}')
) AS e (provider, model, service_tier, input_per_mtok, output_per_mtok, cache_write_1h_per_mtok,
        audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok, image_output_per_mtok, unit_prices)"#;

/// The differences between the stored rows of `source` and `expected` (a
/// VALUES list as LITELLM_UNITS_ROWS), as text; empty when they agree.
fn unit_price_row_differences(c: &mut postgres::Client, source: &str, expected: &str) -> Vec<String> {
    let sql = format!(
        "WITH e AS (SELECT provider, model, service_tier, input_per_mtok::numeric, output_per_mtok::numeric,
                           cache_write_1h_per_mtok::numeric, audio_input_per_mtok::numeric,
                           image_input_per_mtok::numeric, audio_output_per_mtok::numeric,
                           image_output_per_mtok::numeric, unit_prices::jsonb
                      FROM {expected}),
              s AS (SELECT provider, model, service_tier, input_per_mtok, output_per_mtok, cache_write_1h_per_mtok,
                           audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok, image_output_per_mtok,
                           unit_prices
                      FROM llm_cost.prices WHERE source = '{source}')
         SELECT format('expected %s, stored %s', to_jsonb(e), to_jsonb(s))
           FROM e FULL JOIN s USING (provider, model, service_tier)
          WHERE e IS NULL OR s IS NULL
             OR (e.input_per_mtok, e.output_per_mtok, e.cache_write_1h_per_mtok, e.audio_input_per_mtok,
                 e.image_input_per_mtok, e.audio_output_per_mtok, e.image_output_per_mtok, e.unit_prices)
                IS DISTINCT FROM
                (s.input_per_mtok, s.output_per_mtok, s.cache_write_1h_per_mtok, s.audio_input_per_mtok,
                 s.image_input_per_mtok, s.audio_output_per_mtok, s.image_output_per_mtok, s.unit_prices)
          ORDER BY 1"
    );
    c.query(&sql, &[]).unwrap_or_else(|e| panic!("{e}")).iter().map(|r| r.get(0)).collect()
}

#[test]
fn importing_litellm_unit_prices_stores_each_new_field() {
    let cluster = TestCluster::start("import_units", &[]);
    let mut c = cluster.database_with_extension("import_units");
    let added: i32 = c
        .query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'units-test')", &[&LITELLM_UNITS_DOC])
        .unwrap()
        .get(0);
    let differences = unit_price_row_differences(&mut c, "units-test", LITELLM_UNITS_ROWS);
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(added, 17);
    // Numbers are stored in their shortest exact form (1.5e-05 -> 0.000015).
    assert_eq!(
        one_text(
            &mut c,
            "SELECT unit_prices::text FROM llm_cost.prices WHERE model = 'tts-units-test' AND source = 'units-test'"
        )
        .as_deref(),
        Some(r#"{"characters": 0.000015, "output_audio_seconds": 0.00025}"#)
    );

    // Unchanged: nothing added (numbers written differently are the same price).
    let respelled = LITELLM_UNITS_DOC.replace("\"ocr_cost_per_page\": 0.001", "\"ocr_cost_per_page\": 1.000e-3");
    assert_ne!(respelled, LITELLM_UNITS_DOC);
    let again: i32 =
        c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'units-test')", &[&respelled]).unwrap().get(0);
    assert_eq!(again, 0, "an unchanged document adds nothing");
    // One changed unit price: exactly one new row, dated now, with the new price.
    let changed =
        LITELLM_UNITS_DOC.replace("\"search_context_size_high\": 0.012", "\"search_context_size_high\": 0.014");
    assert_ne!(changed, LITELLM_UNITS_DOC);
    let added: i32 =
        c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'units-test-2')", &[&changed]).unwrap().get(0);
    assert_eq!(added, 1);
    assert_eq!(
        one_text(&mut c, "SELECT model || ' ' || (unit_prices #>> '{requests,high}') FROM llm_cost.prices WHERE source = 'units-test-2'")
            .as_deref(),
        Some("sonar-units-test 0.014")
    );
    let again: i32 =
        c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'units-test-3')", &[&changed]).unwrap().get(0);
    assert_eq!(again, 0);

    // The imported prices price calls: Perplexity's search fee once per call by
    // context size (default low), image selectors, per-second audio.
    let cost = |c: &mut postgres::Client, sql: &str| one_text(c, &format!("SELECT trim_scale({sql})::text"));
    // 2000 tokens at 1/M = 0.002, + 0.014 (high)
    assert_eq!(
        cost(&mut c, "llm_cost.llm_cost('perplexity', 'sonar-units-test', 1000, 1000, units => '{\"search_context_size\": \"high\"}')")
            .as_deref(),
        Some("0.016")
    );
    assert_eq!(
        cost(&mut c, "llm_cost.llm_cost('perplexity', 'sonar-units-test', 1000, 1000)").as_deref(),
        Some("0.007")
    );
    assert_eq!(
        cost(&mut c, "llm_cost.llm_cost('openai', 'gpt-image-units-test', 0, 0, units => '{\"images\": 2, \"quality\": \"HD\", \"size\": \"1024 x 1792\"}')")
            .as_deref(),
        Some("0.25690112")
    );
    // no selector for this size and no default: unpriced, not 0
    assert_eq!(
        cost(&mut c, "llm_cost.llm_cost('openai', 'gpt-image-units-test', 0, 0, units => '{\"images\": 1, \"size\": \"512x512\"}')"),
        None
    );
    assert_eq!(
        cost(&mut c, "llm_cost.llm_cost('openai', 'whisper-units-test', 0, 0, units => '{\"audio_seconds\": 60}')")
            .as_deref(),
        Some("0.006")
    );
}

#[test]
fn importing_genai_prices_audio_prices() {
    let cluster = TestCluster::start("import_units_genai", &[]);
    let mut c = cluster.database_with_extension("import_units_genai");
    let doc = r#"[{"id": "openai", "models": [
        {"id": "gpt-audio-genai-test", "match": {"equals": "gpt-audio-genai-test"},
         "prices": {"input_mtok": 2.5, "output_mtok": 10, "input_audio_mtok": 40, "output_audio_mtok": 80}}]},
      {"id": "acme-genai-test", "models": [
        {"id": "search-genai-test", "match": {"equals": "search-genai-test"},
         "prices": {"input_mtok": 1, "output_mtok": 1, "requests_kcount": 5}}]}]"#;
    let added: i32 = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb)", &[&doc]).unwrap().get(0);
    assert_eq!(added, 2);
    let rows: Vec<String> = c
        .query(
            "SELECT concat_ws(' ', provider, model, service_tier, input_per_mtok, output_per_mtok, audio_input_per_mtok,
                              audio_output_per_mtok, per_request, coalesce(unit_prices::text, '-'),
                              coalesce(cache_write_1h_per_mtok::text, '-'), coalesce(image_input_per_mtok::text, '-'))
               FROM llm_cost.prices WHERE source = 'genai-prices' ORDER BY provider",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rows,
        vec![
            "acme-genai-test search-genai-test standard 1 1 0.005 - - -".to_string(),
            "openai gpt-audio-genai-test standard 2.5 10 40 80 - - -".to_string(),
        ]
    );
    let again: i32 = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb)", &[&doc]).unwrap().get(0);
    assert_eq!(again, 0);
    let changed = doc.replace("\"output_audio_mtok\": 80", "\"output_audio_mtok\": 64");
    let added: i32 =
        c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'genai-2')", &[&changed]).unwrap().get(0);
    assert_eq!(added, 1);
    assert_eq!(
        one_text(&mut c, "SELECT model || ' ' || audio_output_per_mtok FROM llm_cost.prices WHERE source = 'genai-2'")
            .as_deref(),
        Some("gpt-audio-genai-test 64")
    );
    // 1000 tokens, 400 of them audio: 600 * 2.5 + 400 * 40 per million
    assert_eq!(
        one_text(
            &mut c,
            "SELECT trim_scale(llm_cost.llm_cost('openai', 'gpt-audio-genai-test', 1000, 0, units => '{\"audio_input_tokens\": 400}'))::text"
        )
        .as_deref(),
        Some("0.0175")
    );
}

/// Bad prices of the new kinds fail with 22023 naming what is wrong, and store nothing.
#[test]
fn bad_unit_prices_are_refused() {
    let cluster = TestCluster::start("bad_units", &[]);
    let mut c = cluster.database_with_extension("bad_units");
    let prices_before: i64 = c.query_one("SELECT count(*) FROM llm_cost.prices", &[]).unwrap().get(0);
    let litellm = |fields: &str, mode: &str| {
        format!(
            "SELECT llm_cost.import_prices('{{\"good-units\": {{\"litellm_provider\": \"openai\", \"mode\": \"chat\", \"input_cost_per_token\": 1e-06}},
                                             \"bad-units\": {{\"litellm_provider\": \"openai\", \"mode\": \"{mode}\", {fields}}}}}')"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (litellm("\"input_cost_per_image\": -0.01", "image_generation"), "bad-units"),
        (litellm("\"ocr_cost_per_page\": \"0.001\"", "ocr"), "ocr_cost_per_page"),
        (litellm("\"output_cost_per_second_720p\": true", "video_generation"), "output_cost_per_second_720p"),
        (litellm("\"input_cost_per_token\": 1e-06, \"search_context_cost_per_query\": 0.01", "chat"), "search_context_cost_per_query"),
        (
            litellm("\"input_cost_per_token\": 1e-06, \"search_context_cost_per_query\": {\"search_context_size_low\": \"x\"}", "chat"),
            "search_context_size_low",
        ),
        (
            litellm("\"input_cost_per_token\": 1e-06, \"search_context_cost_per_query\": {\"search_context_size_low\": -1}", "chat"),
            "must not be negative",
        ),
        (
            litellm("\"input_cost_per_token\": 1e-06, \"search_context_cost_per_query\": {\"low\": 0.01}", "chat"),
            "unknown key \"low\"",
        ),
        (litellm("\"input_cost_per_pixel\": -1e-08", "image_generation").replace("bad-units", "hd/1024-x-1024/bad-units"), "input_cost_per_pixel"),
        (litellm("\"input_cost_per_audio_token\": 1e20", "chat"), "cannot be priced exactly"),
        (
            "SELECT llm_cost.import_prices('[{\"id\": \"openai\", \"models\": [{\"id\": \"bad-units\", \"prices\": {\"input_mtok\": 1, \"input_audio_mtok\": -1}}]}]')"
                .into(),
            "input_audio_mtok",
        ),
        (
            "SELECT llm_cost.import_prices('[{\"id\": \"openai\", \"models\": [{\"id\": \"bad-units\", \"prices\": {\"input_mtok\": 1, \"output_audio_mtok\": \"8\"}}]}]')"
                .into(),
            "output_audio_mtok",
        ),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '{\"images\": -1}')".into(), "must not be negative"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '{\"images\": \"0.04\"}')".into(), "unit_prices.images"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '{\"images\": [0.04]}')".into(), "unit_prices.images"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '{\"images\": {\" \": 0.04}}')".into(), "empty selector"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '{\"images\": {}}')".into(), "unit_prices.images"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '{\"web_searches\": 0.01}')".into(), "unknown unit"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, unit_prices => '[1]')".into(), "unit_prices"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, audio_input_per_mtok => -1)".into(), "audio_input_per_mtok"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, image_output_per_mtok => 'NaN')".into(), "image_output_per_mtok"),
        ("SELECT llm_cost.set_price('acme', 'm', 1, 1, cache_write_1h_per_mtok => 1e16)".into(), "cache_write_1h_per_mtok"),
    ];
    for (sql, says) in &cases {
        let err = c.batch_execute(sql).expect_err(sql);
        assert_eq!(sqlstate(&err), "22023", "{sql}: {err:?}");
        let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(message.contains(says), "{sql}: {message:?} does not say {says:?}");
    }
    let prices_after: i64 = c.query_one("SELECT count(*) FROM llm_cost.prices", &[]).unwrap().get(0);
    assert_eq!(prices_before, prices_after, "a refused import or set_price stores nothing");
}

#[test]
fn set_price_with_unit_prices_round_trips_and_prices_calls() {
    let cluster = TestCluster::start("set_price_units", &[]);
    let mut c = cluster.database_with_extension("set_price_units");
    c.batch_execute(
        "SELECT llm_cost.set_price('acme', 'omni', 1, 2, valid_from => '-infinity',
                                   cache_write_per_mtok => 1.25, cache_write_1h_per_mtok => 2,
                                   audio_input_per_mtok => 40, image_input_per_mtok => 10,
                                   audio_output_per_mtok => 80, image_output_per_mtok => 30,
                                   unit_prices => '{\"images\": {\"HD/1024 x 1792\": 0.12, \"Default\": 0.04},
                                                    \"web_search_queries\": 1e-2, \"requests\": {\"low\": 0.005}}')",
    )
    .unwrap();
    assert_eq!(
        one_text(
            &mut c,
            "SELECT concat_ws(' ', cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok,
                              image_output_per_mtok, unit_prices = '{\"images\": {\"hd/1024x1792\": 0.12, \"default\": 0.04},
                                                                    \"web_search_queries\": 0.01, \"requests\": {\"low\": 0.005}}')
               FROM llm_cost.prices WHERE (provider, model) = ('acme', 'omni')"
        )
        .as_deref(),
        Some("2 40 10 80 30 t")
    );
    assert_eq!(
        one_text(&mut c, "SELECT unit_prices -> 'images' ->> 'hd/1024x1792' FROM llm_cost.prices WHERE model = 'omni'")
            .as_deref(),
        Some("0.12")
    );
    // input 1000 (100 audio, 50 image), output 500 (200 audio, 100 image),
    // cache writes 300 (100 of them 1-hour): per million
    //   (1000 - 300 - 150) * 1 + 100 * 40 + 50 * 10 + (300 - 100) * 1.25 + 100 * 2
    //   + (500 - 300) * 2 + 200 * 80 + 100 * 30                                   = 24900 (0.0249)
    // + 2 hd images at 0.12 + 3 searches at 0.01 + the low request fee 0.005    = 0.2999
    let cost = one_text(
        &mut c,
        "SELECT trim_scale(llm_cost.llm_cost('acme', 'omni', 1000, 500, cache_write_tokens => 300,
                                             units => '{\"audio_input_tokens\": 100, \"image_input_tokens\": 50,
                                                        \"audio_output_tokens\": 200, \"image_output_tokens\": 100,
                                                        \"cache_write_1h_tokens\": 100, \"images\": 2, \"quality\": \"hd\",
                                                        \"size\": \"1024x1792\", \"web_search_queries\": 3,
                                                        \"search_context_size\": \"low\"}'))::text",
    );
    assert_eq!(cost.as_deref(), Some("0.2999"));
    // set_price again at the same valid_from replaces the row, unit prices included
    c.batch_execute("SELECT llm_cost.set_price('acme', 'omni', 1, 2, valid_from => '-infinity')").unwrap();
    assert_eq!(
        one_text(&mut c, "SELECT concat_ws(' ', count(*), count(unit_prices), count(audio_input_per_mtok)) FROM llm_cost.prices WHERE model = 'omni'")
            .as_deref(),
        Some("1 0 0")
    );
    // the 0.2.0 arguments still work by position and name
    c.batch_execute(
        "SELECT llm_cost.set_price('acme', 'old', 1, 2, NULL, NULL, NULL, '-infinity', 'standard', NULL, NULL, NULL, NULL, NULL,
                                   0.5, 'USD', 'custom', NULL, NULL, NULL, NULL)",
    )
    .unwrap();
}
