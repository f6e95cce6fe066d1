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
            writeln!(buf, "openai\tgpt-4o\t0\t0\t{{\"prompt_tokens\": {}, \"completion_tokens\": 20}}\tcopy", 100 + i).unwrap();
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
    assert_eq!(one_text(&mut c, "SELECT trim_scale(cost)::text FROM llm_cost.usage WHERE user_id = 'u1'").as_deref(), Some("3.5"));
    // the raw Anthropic row: input 100 + 900 cached
    assert_eq!(
        one_text(&mut c, "SELECT input_tokens || '/' || cached_input_tokens FROM llm_cost.usage WHERE provider = 'anthropic'")
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
    let price = |c: &mut postgres::Client| one_text(c, "SELECT trim_scale(llm_cost.llm_cost('openai', 'gpt-4o', 1000000, 0))::text");

    assert_eq!(price(&mut a).as_deref(), Some("2.5")); // a has loaded its catalog
    // a change rolled back in b is never seen
    b.batch_execute("BEGIN; SELECT llm_cost.set_price('openai', 'gpt-4o', 7, 10); ROLLBACK").unwrap();
    assert_eq!(price(&mut a).as_deref(), Some("2.5"));
    assert_eq!(price(&mut b).as_deref(), Some("2.5"));
    // a committed change is seen by a's very next statement
    b.batch_execute("SELECT llm_cost.set_price('openai', 'gpt-4o', 5, 10)").unwrap();
    assert_eq!(price(&mut a).as_deref(), Some("5"));
    a.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('openai', 'gpt-4o', 1000000)").unwrap();
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
    let ins = |cols: &str, vals: &str| format!("INSERT INTO llm_cost.usage (provider, model, {cols}) VALUES ('openai', 'gpt-4o', {vals})");
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
    c.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens, user_id) VALUES ('openai', 'gpt-4o', 1000, 'good')")
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
    let rows: Vec<String> = c.query("SELECT user_id FROM llm_cost.usage", &[]).unwrap().iter().map(|r| r.get(0)).collect();
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
    c.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('newco', 'm', 10), ('newco', 'm', 20)")
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
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/model_prices_and_context_window.json");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cluster = TestCluster::start("import", &[]);
    let mut c = cluster.database_with_extension("import");
    let shipped: i64 = c.query_one("SELECT count(*) FROM llm_cost.prices", &[]).unwrap().get(0);
    let described: i64 = c
        .query_one("SELECT count(*) FROM llm_cost.litellm_price_rows($1::text::jsonb)", &[&doc])
        .unwrap()
        .get(0);
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
    let added: i32 = c.query_one("SELECT llm_cost.import_prices($1::text::jsonb, 'litellm-again')", &[&doc]).unwrap().get(0);
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
              WHERE n.nspname = 'llm_cost' AND c.relkind IN ('r', 'v', 'm', 'p')
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
    assert!(started, "genai_prices_data.json has a price change in the future: this comparison does not hold before it");
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
              WHERE p.id IS NULL OR p.verified_at <> now()
                 OR (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
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
