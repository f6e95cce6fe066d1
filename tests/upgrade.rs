//! Upgrades: every released version (sql/releases) is installed, filled with
//! data, and updated to the current version with ALTER EXTENSION ... UPDATE.
//! Afterwards the schema must equal a fresh install's, object for object, and
//! the data must be all there and keep working.
//!
//! Needs the current extension installed (`cargo pgrx test` / `install`); the
//! released install scripts are copied next to it here.

mod common;

use common::{table_checksums, thresholds_not_fired_exactly_once, TestCluster};
use std::path::Path;

/// The released versions, oldest first, from sql/releases/llm_cost--X.sql.
fn released_versions() -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/releases"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("llm_cost--")?.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    versions.sort_by_key(|v| v.split('.').map(|p| p.parse::<u32>().unwrap()).collect::<Vec<_>>());
    versions
}

/// Puts the released install scripts beside the current one, where
/// CREATE EXTENSION ... VERSION finds them.
fn install_released_scripts() {
    let out = std::process::Command::new(format!("{}/pg_config", common::PG_BIN)).arg("--sharedir").output().unwrap();
    let extension_dir = Path::new(String::from_utf8(out.stdout).unwrap().trim()).join("extension");
    for version in released_versions() {
        let name = format!("llm_cost--{version}.sql");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/releases").join(&name);
        std::fs::copy(&source, extension_dir.join(&name)).unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
}

/// Every object of the extension, described so that two databases with the
/// same schema give the same lines: definitions of functions, views, tables
/// (columns, defaults, storage), constraints, indexes, triggers, policies,
/// privileges, comments, the tables pg_dump dumps, and extension membership.
const SCHEMA_FINGERPRINT: &str = r#"
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'llm_cost'),
     ns AS (SELECT 'llm_cost'::regnamespace AS oid)
SELECT line FROM (
    SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid) AS line
      FROM pg_depend AS d, ext, pg_identify_object(d.classid, d.objid, d.objsubid) AS o
     WHERE d.refobjid = ext.oid AND d.deptype = 'e'
       -- cargo pgrx test installs its #[pg_test] functions in schema tests
       AND o.schema IS DISTINCT FROM 'tests' AND NOT (o.type = 'schema' AND o.identity = 'tests')
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' ' ||
           CASE WHEN p.prokind = 'a' THEN (SELECT format('agg %s %s %s %s %s %s', a.aggtransfn, a.aggfinalfn,
                                                  a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggtranstype::regtype)
                                             FROM pg_aggregate AS a WHERE a.aggfnoid = p.oid)
                ELSE pg_get_functiondef(p.oid) END
           || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) AS x), 'default')
           || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM pg_proc AS p, ns WHERE p.pronamespace = ns.oid
    UNION ALL
    SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity
           || ' force=' || c.relforcerowsecurity || ' options=' || coalesce(c.reloptions::text, '')
           || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) AS x), 'default')
           || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
           || CASE WHEN c.relkind = 'v' THEN ' view=' || pg_get_viewdef(c.oid) ELSE '' END
      FROM pg_class AS c, ns WHERE c.relnamespace = ns.oid
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass || ' #' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)
           || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
           || ' storage=' || a.attstorage::text || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
           || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
           || ' comment=' || coalesce(col_description(a.attrelid, a.attnum), '')
      FROM pg_attribute AS a
      JOIN pg_class AS c ON c.oid = a.attrelid
      JOIN ns ON c.relnamespace = ns.oid
      LEFT JOIN pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
      FROM pg_constraint AS co, ns WHERE co.connamespace = ns.oid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid, ns WHERE c.relnamespace = ns.oid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
      FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid, ns
     WHERE c.relnamespace = ns.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s.%s %s %s roles=%s using=%s check=%s', p.tablename, p.policyname, p.permissive, p.cmd,
                  p.roles, p.qual, p.with_check)
      FROM pg_policies AS p WHERE p.schemaname = 'llm_cost'
    UNION ALL
    SELECT 'dumped ' || x.rel::regclass || ' where=' || coalesce(x.cond, '')
      FROM pg_extension AS e, unnest(e.extconfig, e.extcondition) AS x (rel, cond) WHERE e.extname = 'llm_cost'
    UNION ALL
    SELECT 'schema acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(n.nspacl) AS x), 'default')
      FROM pg_namespace AS n, ns WHERE n.oid = ns.oid
) AS everything
ORDER BY line
"#;

fn schema_fingerprint(c: &mut postgres::Client) -> Vec<String> {
    c.query(SCHEMA_FINGERPRINT, &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Lines only in `a` and only in `b`.
fn differences(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let only_a = a.iter().filter(|l| !b.contains(l)).cloned().collect();
    let only_b = b.iter().filter(|l| !a.contains(l)).cloned().collect();
    (only_a, only_b)
}

/// What a team's database holds after some use: two tenants, custom prices,
/// budgets (global, per tenant, per user) past thresholds, compute, rolled-up
/// and not-yet-rolled-up calls with latencies, and a queue in every state.
/// Fixed timestamps (the ten hours before 2026-06-15 12:00 UTC), so the
/// periods they fall in are the same on any date the test runs.
const FILL: &str = r#"
SELECT llm_cost.set_price('acme-ai', 'house-model', 1.5, 6, valid_from => '2026-01-01');
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds, hard_limit, timezone)
VALUES ('company', 50, 'month', NULL, NULL, '{50,100}', false, 'UTC'),
       ('acme', 5, 'month', 'acme', NULL, '{50,80,100}', true, 'Europe/Berlin'),
       ('globex per user', 1, 'day', 'globex', 'user_id', '{50}', false, 'UTC');
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id)
SELECT timestamptz '2026-06-15 12:00+00' - (g || ' minutes')::interval, CASE WHEN g % 3 = 0 THEN 'acme-ai' ELSE 'openai' END,
       CASE WHEN g % 3 = 0 THEN 'house-model' ELSE 'gpt-4o' END,
       1000 + g * 10, 100 + g, 50 + (g * 37) % 900,
       CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, 'u' || (g % 7)
  FROM generate_series(1, 600) AS g;
SELECT llm_cost.set_resource_price('cpu', 'core-hour', 0.05, '2026-01-01');
INSERT INTO llm_cost.resource_usage (occurred_at, resource_type, quantity, tenant_id) VALUES ('2026-06-15 11:00+00', 'cpu', 2, 'acme');
SELECT llm_cost.refresh_rollups();
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id)
SELECT '2026-06-15 11:59+00', 'openai', 'gpt-4o-mini', 5000, 500, 80 + g, 'globex', 'u1' FROM generate_series(1, 40) AS g;
SELECT llm_cost.ack_notification(min(id)) FROM llm_cost.notifications;
SELECT count(*) FROM llm_cost.claim_notifications(1, '1 hour');
"#;

/// Every table but the latency rollups (rebuilt per tenant by 0.1.0 -> 0.2.0;
/// checked by what they answer instead), budget_spend's timestamps, the
/// builtin provider aliases and the shipped catalog (data an update brings up
/// to date; compared with a fresh install's instead, see `catalog`). Columns
/// a later version adds are left out here and checked empty after the update.
fn contents(c: &mut postgres::Client) -> Vec<(String, i64, String)> {
    slots_as_totals(table_checksums(c, rows_of))
}

/// 0.3.0 keeps 0.2.0's budget_spend table in slots, read through the
/// budget_spend view: compared as the totals they hold (`rows_of`), under
/// the old table's name.
fn slots_as_totals(mut tables: Vec<(String, i64, String)>) -> Vec<(String, i64, String)> {
    for table in &mut tables {
        if table.0 == "budget_spend_slots" {
            table.0 = "budget_spend".into();
        }
    }
    tables
}

/// The rows `contents` compares of one table (None: all of them).
fn rows_of(t: &str) -> Option<String> {
    {
        match t {
        "budget_spend" | "budget_spend_slots" => {
            Some("SELECT budget_id, period_start, per_value, spent, calls FROM llm_cost.budget_spend".into())
        }
        "provider_aliases" => Some("SELECT alias, provider FROM llm_cost.provider_aliases WHERE NOT builtin".into()),
        "usage_daily_latency" | "usage_hourly_latency" => Some("SELECT 1 WHERE false".into()),
        // 0.1.0's columns of the user's own prices; off-peak (0.2.0) and unit prices (0.3.0) are checked empty
        "prices" => Some(
            "SELECT id, provider, model, service_tier, valid_from, input_per_mtok, output_per_mtok, cache_read_per_mtok,
                    cache_write_per_mtok, reasoning_per_mtok, tier_threshold_tokens, input_per_mtok_above_tier,
                    output_per_mtok_above_tier, cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                    per_request, currency, source, verified_at
               FROM llm_cost.prices WHERE source <> 'catalog'"
                .into(),
        ),
        "models" => Some("SELECT * FROM llm_cost.models WHERE source <> 'catalog'".into()),
        // units and reservation_id (0.3.0) are checked NULL after the update
        "usage" => Some("SELECT to_jsonb(t) - 'units' - 'reservation_id' FROM llm_cost.usage AS t".into()),
        "usage_daily" | "usage_hourly" => Some(format!("SELECT to_jsonb(t) - 'units' FROM llm_cost.{t} AS t")),
        // unit, window and tags (0.3.0) are checked at their defaults after the update
        "budgets" => Some("SELECT to_jsonb(t) - 'unit' - 'window' - 'tags' FROM llm_cost.budgets AS t".into()),
        _ => None,
    }
    }
}

/// The shipped catalog's rows, all columns but ids, one text per row.
fn catalog(c: &mut postgres::Client) -> (Vec<String>, Vec<String>) {
    let rows = |c: &mut postgres::Client, sql: &str| -> Vec<String> {
        c.query(sql, &[]).unwrap().iter().map(|r| r.get::<_, String>(0)).collect()
    };
    (
        rows(c, "SELECT (to_jsonb(p) - 'id')::text FROM llm_cost.prices AS p WHERE source = 'catalog' ORDER BY 1"),
        rows(c, "SELECT to_jsonb(m)::text FROM llm_cost.models AS m WHERE source = 'catalog' ORDER BY 1"),
    )
}

#[test]
fn every_released_version_updates_to_the_current_schema_keeping_its_data() {
    install_released_scripts();
    // No maintenance worker: the update must leave every table as it was, and
    // the worker would roll up the FILL's tail (same answers, other rows).
    let cluster = TestCluster::start("upgrade", &["llm_cost.auto_refresh = off"]);
    let mut fresh = cluster.database_with_extension("fresh");
    let current: String =
        fresh.query_one("SELECT extversion FROM pg_extension WHERE extname = 'llm_cost'", &[]).unwrap().get(0);
    // the partition of June 2026, which the update makes for FILL's rows
    fresh
        .batch_execute("SELECT llm_cost.ensure_usage_partitions('2026-06-01 00:00+00', '2026-06-01 00:00+00')")
        .unwrap();
    let expected = schema_fingerprint(&mut fresh);
    let (fresh_prices, fresh_models) = catalog(&mut fresh);
    assert!(expected.len() > 500, "the fingerprint covers the schema ({} lines)", expected.len());

    let versions = released_versions();
    assert!(!versions.is_empty(), "sql/releases holds the released versions");
    for version in versions.iter().filter(|v| **v != current) {
        let db = format!("from_{}", version.replace('.', "_"));
        let mut admin = cluster.connect("postgres");
        admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let mut c = cluster.connect(&db);
        c.batch_execute(&format!("CREATE EXTENSION llm_cost VERSION '{version}'")).unwrap();
        c.batch_execute(FILL).unwrap();
        // usage_hourly becomes usage_rollup (0.3.0): checked by what it answers (below)
        let mut before = contents(&mut c);
        before.retain(|(t, _, _)| t != "usage_hourly");
        let p95_by_tenant = "SELECT tenant_id, percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms)
                               FROM llm_cost.usage GROUP BY 1 ORDER BY 1";
        let raw_p95: Vec<(String, i32)> =
            c.query(p95_by_tenant, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();

        c.batch_execute("ALTER EXTENSION llm_cost UPDATE").unwrap_or_else(|e| panic!("update from {version}: {e}"));
        let now: String =
            c.query_one("SELECT extversion FROM pg_extension WHERE extname = 'llm_cost'", &[]).unwrap().get(0);
        assert_eq!(now, current, "updated from {version}");

        let (missing, extra) = differences(&expected, &schema_fingerprint(&mut c));
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{version} updated differs from a fresh {current} install.\nonly in fresh:\n{}\nonly in updated:\n{}",
            missing.join("\n"),
            extra.join("\n")
        );
        // Every table that was there holds what it held; tables the update
        // adds start empty.
        let (kept, added): (Vec<_>, Vec<_>) =
            contents(&mut c).into_iter().partition(|(t, _, _)| before.iter().any(|(b, _, _)| b == t));
        assert_eq!(before, kept, "data of {version} changed by the update");
        let off_peak: i64 = c
            .query_one(
                "SELECT count(*) FROM llm_cost.prices
                  WHERE source <> 'catalog' AND (off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows)
                        IS DISTINCT FROM (NULL::numeric, NULL::numeric, NULL::numeric, NULL::jsonb)",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(off_peak, 0, "user prices of {version} have no off-peak prices after the update");
        let new_columns: i64 = c
            .query_one(
                "SELECT (SELECT count(*) FROM llm_cost.prices
                          WHERE source <> 'catalog'
                            AND (cache_write_1h_per_mtok, audio_input_per_mtok, image_input_per_mtok, audio_output_per_mtok,
                                 image_output_per_mtok, unit_prices) IS DISTINCT FROM
                                (NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::jsonb))
                      + (SELECT count(*) FROM llm_cost.usage WHERE units IS NOT NULL)
                      + (SELECT count(*) FROM llm_cost.usage_daily WHERE units IS NOT NULL)
                      + (SELECT count(*) FROM llm_cost.usage WHERE reservation_id IS NOT NULL)
                      + (SELECT count(*) FROM llm_cost.budgets
                          WHERE (unit, \"window\", tags) IS DISTINCT FROM ('cost', NULL::interval, NULL::jsonb))
                      -- the running totals' tokens are the ledger's, spent and calls unchanged (above)
                      + (SELECT count(*) FROM llm_cost.budget_spend_drift)",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(new_columns, 0, "user prices and usage of {version} have no units after the update");
        // The shipped catalog is the current one: every row of a fresh
        // install, equal; rows only older catalogs had are kept (a model a
        // source drops stays priced for its past calls), never duplicated.
        let (prices, models) = catalog(&mut c);
        let missing: Vec<&String> = fresh_prices.iter().filter(|r| prices.binary_search(r).is_err()).collect();
        assert!(
            missing.is_empty(),
            "{} catalog prices of a fresh install differ or are missing after the update from {version}, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        let missing: Vec<&String> = fresh_models.iter().filter(|r| models.binary_search(r).is_err()).collect();
        assert!(
            missing.is_empty(),
            "{} catalog models of a fresh install differ or are missing after the update from {version}, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        let kept = prices.len() - fresh_prices.len();
        println!(
            "{version}: {kept} catalog price rows of older catalogs kept besides the {} shipped",
            fresh_prices.len()
        );
        // set_price: the old 17 positional arguments still work, and the off-peak ones are there
        c.batch_execute(
            "SELECT llm_cost.set_price('upgradeco', 'm', 1, 4, NULL, NULL, NULL, '-infinity', 'standard', NULL, NULL, NULL,
                                       NULL, NULL, NULL, 'USD', 'custom');
             SELECT llm_cost.set_price('upgradeco', 'op', 1, 4, valid_from => '-infinity', off_peak_input_per_mtok => 0.5,
                                       off_peak_output_per_mtok => 2, off_peak_windows => '[{\"hours_utc\": \"00:00-01:00\"}]')",
        )
        .unwrap();
        let costs: String = c
            .query_one(
                "SELECT concat_ws(',', trim_scale(llm_cost.llm_cost('upgradeco', 'm', 1000000, 1000000, at => '2026-06-15 00:30+00')),
                                       trim_scale(llm_cost.llm_cost('upgradeco', 'op', 1000000, 1000000, at => '2026-06-15 00:30+00')),
                                       trim_scale(llm_cost.llm_cost('upgradeco', 'op', 1000000, 1000000, at => '2026-06-15 01:00+00')))",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(costs, "5,2.5,5", "prices set after the update from {version}");
        c.batch_execute("DELETE FROM llm_cost.prices WHERE provider = 'upgradeco'").unwrap();
        for (table, rows, _) in added {
            if table != "usage_rollup" && table != "usage_daily_costs" {
                assert_eq!(rows, 0, "{table}, added by the update, starts empty");
            }
        }
        // usage_daily_costs is made from usage_daily as the update found it:
        // daily_costs answers row by row as a raw GROUP BY
        let regrouped: bool = c
            .query_one(
                "SELECT count(*) > 0 AND count(*) = (SELECT count(*) FROM (SELECT DISTINCT day, provider, model, tenant_id,
                                                                           project_id, user_id, agent_id
                                                                      FROM llm_cost.usage_daily) AS k)
                   FROM llm_cost.usage_daily_costs",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(regrouped, "usage_daily_costs holds one row per key of usage_daily after the update from {version}");
        let same_daily: bool = c
            .query_one(
                "SELECT (SELECT array_agg(x::text ORDER BY x::text)
                           FROM (SELECT day, provider, model, tenant_id, project_id, user_id, agent_id, calls, failed_calls,
                                        input_tokens, output_tokens, cost, unpriced_calls
                                   FROM llm_cost.daily_costs) AS x)
                        IS NOT DISTINCT FROM
                        (SELECT array_agg(x::text ORDER BY x::text)
                           FROM (SELECT (occurred_at AT TIME ZONE 'UTC')::date, provider, model, tenant_id, project_id,
                                        user_id, agent_id, count(*), count(*) FILTER (WHERE NOT success),
                                        sum(input_tokens)::numeric, sum(output_tokens)::numeric, sum(cost),
                                        count(*) - count(cost)
                                   FROM llm_cost.usage GROUP BY 1, 2, 3, 4, 5, 6, 7) AS x)",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(same_daily, "daily_costs row by row after the update from {version}");
        // usage_rollup is made from the rollups the update found: every
        // dimension answers as a raw GROUP BY, for whole days and partial ones
        let rolled: i64 = c
            .query_one("SELECT count(*) FROM llm_cost.usage_rollup WHERE grain = 'hour' AND dimension = 'model'", &[])
            .unwrap()
            .get(0);
        assert!(rolled > 0, "hourly rows converted from usage_hourly");
        for (from, to) in
            [("2026-06-13 00:00+00", "2026-06-16 00:00+00"), ("2026-06-15 02:30+00", "2026-06-15 11:15+00")]
        {
            for dim in ["provider", "model", "tenant_id", "project_id", "user_id", "agent_id", "operation"] {
                let same: bool = c
                    .query_one(
                        &format!(
                            "SELECT (SELECT array_agg(x::text ORDER BY x::text) FROM (SELECT value, cost, calls, input_tokens, output_tokens, unpriced_calls
                                                                                      FROM llm_cost.cost_by('{dim}', '{from}', '{to}')) x)
                                  IS NOT DISTINCT FROM
                                    (SELECT array_agg(x::text ORDER BY x::text) FROM (SELECT {dim}, sum(cost), count(*), sum(input_tokens), sum(output_tokens), count(*) - count(cost)
                                                                                      FROM llm_cost.usage WHERE occurred_at >= '{from}' AND occurred_at < '{to}' GROUP BY 1) x)"
                        ),
                        &[],
                    )
                    .unwrap()
                    .get(0);
                assert!(same, "cost_by {dim} {from}..{to} after the update from {version}");
            }
        }
        let builtin_aliases = "SELECT string_agg(alias || '=' || provider, ',' ORDER BY alias)
                                 FROM llm_cost.provider_aliases WHERE builtin";
        let shipped: String = fresh.query_one(builtin_aliases, &[]).unwrap().get(0);
        let updated: String = c.query_one(builtin_aliases, &[]).unwrap().get(0);
        assert_eq!(updated, shipped, "builtin provider aliases after the update from {version}");

        // The rollups answer as before, per tenant too (p95 from the rebuilt histograms).
        for (tenant, p95) in raw_p95 {
            c.batch_execute(&format!("SET llm_cost.tenant_id = '{tenant}'; SET ROLE llm_cost_reader")).unwrap();
            let from_rollups: i32 = c
                .query_one(
                    "SELECT p95_latency_ms FROM llm_cost.cost_summary('2026-06-13 00:00+00', '2026-06-16 00:00+00')",
                    &[],
                )
                .unwrap()
                .get(0);
            c.batch_execute("RESET ROLE; RESET llm_cost.tenant_id").unwrap();
            assert_eq!(from_rollups, p95, "p95 of tenant {tenant} after the update");
        }
        let drift: i64 = c.query_one("SELECT count(*) FROM llm_cost.budget_spend_drift", &[]).unwrap().get(0);
        assert_eq!(drift, 0, "budget spend equals the ledger after the update");

        // And it keeps working: new usage is priced, counted and alerts once.
        c.batch_execute(
            "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
             SELECT '2026-06-15 12:00+00', 'openai', 'gpt-4o', 400000, 40000, 'acme', 'u2' FROM generate_series(1, 10);
             SELECT llm_cost.refresh_rollups();",
        )
        .unwrap();
        let unpriced: i64 = c.query_one("SELECT count(*) FROM llm_cost.usage WHERE cost IS NULL", &[]).unwrap().get(0);
        assert_eq!(unpriced, 0);
        let drift: i64 = c.query_one("SELECT count(*) FROM llm_cost.budget_spend_drift", &[]).unwrap().get(0);
        assert_eq!(drift, 0, "budget spend equals the ledger after new inserts");
        assert_eq!(thresholds_not_fired_exactly_once(&mut c), 0, "every threshold reached fired exactly once");
        let acme_exceeded: bool = c
            .query_one("SELECT NOT llm_cost.can_spend(0.01, tenant_id => 'acme', at => '2026-06-15 12:00+00')", &[])
            .unwrap()
            .get(0);
        assert!(acme_exceeded, "acme's hard limit is over after the new usage");
    }
}

/// A million-row 0.2.0 ledger (five months of calls, two far in the past and
/// future, rolled up but for a tail, three budgets) updated to the
/// partitioned ledger: every row is in its month's partition with its id
/// (the update makes one for each month with rows),
/// and budget spend, rollups, alerts and the id sequence are exactly as
/// before; new calls are counted once.
#[test]
fn a_million_row_ledger_is_partitioned_by_the_update_exactly() {
    const ROWS: i64 = 1_000_000;
    install_released_scripts();
    let cluster = TestCluster::start("upgrade_million", &["llm_cost.auto_refresh = off"]);
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE DATABASE million").unwrap();
    let mut c = cluster.connect("million");
    c.batch_execute(&format!(
        "CREATE EXTENSION llm_cost VERSION '0.2.0';
         SET client_min_messages = error;
         INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds, timezone)
         VALUES ('company forever', 100000, 'total', NULL, NULL, '{{10,50,90}}', 'UTC'),
                ('acme monthly', 2000, 'month', 'acme', NULL, '{{50,100}}', 'America/New_York'),
                ('every user daily', 5, 'day', NULL, 'user_id', '{{100}}', 'Asia/Tokyo');
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id)
         SELECT timestamptz '2026-01-01 00:00+00' + (g * 13 || ' seconds')::interval, 'openai',
                CASE WHEN g % 4 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 1000 + g % 3000, 100 + g % 400,
                20 + g % 900, CASE WHEN g % 3 = 0 THEN 'acme' ELSE 'globex' END, 'u' || g % 50
           FROM generate_series(1, {}) AS g;
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
         VALUES ('1999-03-01 00:00+00', 'openai', 'gpt-4o', 1000, 100, 'acme', 'old'),
                ('2140-01-01 00:00+00', 'openai', 'gpt-4o', 1000, 100, 'globex', 'future');
         SELECT llm_cost.refresh_rollups();
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
         SELECT timestamptz '2026-05-20 00:00+00' + (g || ' minutes')::interval, 'openai', 'gpt-4o', 5000, 500, 'acme', 'tail'
           FROM generate_series(1, 1000) AS g;",
        ROWS - 2 - 1000
    ))
    .unwrap();
    // a hash per row: a million rows' text at once would be too long a string
    let million = |c: &mut postgres::Client| {
        slots_as_totals(table_checksums(c, |t| match t {
            "usage" => {
                Some("SELECT md5((to_jsonb(t) - 'units' - 'reservation_id')::text) FROM llm_cost.usage AS t".into())
            }
            _ => rows_of(t),
        }))
    };
    let before = million(&mut c);
    let sequence = "SELECT last_value::text || ' ' || is_called FROM llm_cost.usage_id_seq";
    let seq_before: String = c.query_one(sequence, &[]).unwrap().get(0);
    // the columns 0.2.0 has (0.3.0 adds unpriced_calls)
    let summary = "SELECT (s.total_cost, s.calls, s.successful_calls, s.failed_calls, s.input_tokens, s.output_tokens,
                           s.avg_latency_ms, s.p95_latency_ms, s.cost_per_call)::text
                     FROM llm_cost.cost_summary('2026-01-01 00:00+00', '2026-06-01 00:00+00') AS s";
    let summary_before: String = c.query_one(summary, &[]).unwrap().get(0);

    let started = std::time::Instant::now();
    c.batch_execute("ALTER EXTENSION llm_cost UPDATE").unwrap();
    println!("ALTER EXTENSION llm_cost UPDATE of {ROWS} rows: {:.1}s", started.elapsed().as_secs_f64());

    // usage_hourly becomes usage_rollup (by dimension, checked against the
    // raw GROUP BY in the test above); every other table is compared as is
    let before: Vec<_> = before.into_iter().filter(|(t, _, _)| t != "usage_hourly").collect();
    let (kept, _added): (Vec<_>, Vec<_>) =
        million(&mut c).into_iter().partition(|(t, _, _)| before.iter().any(|(b, _, _)| b == t));
    assert_eq!(before, kept, "every row, budget total, rollup and alert as before the update");
    let layout: String = c
        .query_one(
            "SELECT string_agg(format('%s=%s', p.relid::regclass, (xpath('/row/n/text()',
                        query_to_xml(format('SELECT count(*) AS n FROM %s', p.relid::regclass), false, true, '')))[1]),
                        ' ' ORDER BY p.relid::regclass::text)
               FROM pg_partition_tree('llm_cost.usage') AS p WHERE p.isleaf",
            &[],
        )
        .unwrap()
        .get(0);
    let per_month: String = c
        .query_one(
            "SELECT string_agg(format('llm_cost.usage_%s=%s', m, n), ' ' ORDER BY m) || ' llm_cost.usage_default=0'
               FROM (SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY_MM') AS m, count(*) AS n FROM llm_cost.usage
                      GROUP BY 1) AS x",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(layout, per_month, "each month with rows in a partition of its own (1999 and 2140 too)");
    assert!(layout.contains("usage_2026_01=") && layout.contains("usage_2026_05="), "{layout}");
    let total: i64 = c.query_one("SELECT count(*) FROM llm_cost.usage", &[]).unwrap().get(0);
    assert_eq!(total, ROWS);
    let seq_after: String = c.query_one(sequence, &[]).unwrap().get(0);
    assert_eq!(seq_after, seq_before, "the id sequence goes on where it was");
    let summary_after: String = c.query_one(summary, &[]).unwrap().get(0);
    assert_eq!(summary_after, summary_before, "rollups and the unrolled tail answer as before");
    let drift: i64 = c.query_one("SELECT count(*) FROM llm_cost.budget_spend_drift", &[]).unwrap().get(0);
    assert_eq!(drift, 0, "budget spend equals the ledger after the update");

    // New calls: the next id, their month's partition, counted once.
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
         SELECT '2026-05-31 12:00+00', 'openai', 'gpt-4o', 400000, 40000, 'acme', 'u2' FROM generate_series(1, 10);
         SELECT llm_cost.refresh_rollups();",
    )
    .unwrap();
    let partition: String = c
        .query_one(
            "SELECT string_agg(DISTINCT tableoid::regclass::text, ',') FROM llm_cost.usage
              WHERE occurred_at = '2026-05-31 12:00+00'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(partition, "llm_cost.usage_2026_05");
    let last_before: i64 = seq_before.split(' ').next().unwrap().parse().unwrap();
    let first_new: i64 = c
        .query_one("SELECT min(id) FROM llm_cost.usage WHERE occurred_at = '2026-05-31 12:00+00'", &[])
        .unwrap()
        .get(0);
    assert_eq!(first_new, last_before + 1, "ids go on from the sequence's value");
    let drift: i64 = c.query_one("SELECT count(*) FROM llm_cost.budget_spend_drift", &[]).unwrap().get(0);
    assert_eq!(drift, 0, "budget spend equals the ledger after new inserts");
    assert_eq!(thresholds_not_fired_exactly_once(&mut c), 0, "every threshold reached fired exactly once");
}
