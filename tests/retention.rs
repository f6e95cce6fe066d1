//! Retention: retire_usage drops old raw usage while the rollups, budget
//! spend, rebuilds, drift checks, alerts and a dump/restore keep counting it.

mod common;

use common::{
    assert_same_figures, budgets_and_calls, figures, rows, run_pg_program, sqlstate, thresholds_not_fired_exactly_once,
    TestCluster, RAW_COST_SUMMARY,
};

/// 60 days of calls (common::budgets_and_calls) and compute usage.
fn setup() -> String {
    budgets_and_calls(890, 97)
        + "SELECT llm_cost.set_resource_price('cpu', 'core-hour', 0.05, '2020-01-01');
INSERT INTO llm_cost.resource_usage (occurred_at, resource_type, quantity, tenant_id)
SELECT timestamptz '2026-06-15 10:00+00' - (g || ' days')::interval, 'cpu', 2, 'acme' FROM generate_series(1, 50, 7) AS g;"
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn retired_usage_keeps_rollups_spend_and_restores_exactly() {
    let cluster = TestCluster::start("retention", &[]);
    let mut c = cluster.database_with_extension("retention");
    c.batch_execute(&setup()).unwrap();
    let before = figures(&mut c);
    let cutoff = "timestamptz '2026-05-16 00:00+00'";
    let old_rows = count(&mut c, &format!("SELECT count(*) FROM llm_cost.usage WHERE occurred_at < {cutoff}"));
    assert!(old_rows > 300, "the setup has old rows to retire ({old_rows})");

    // Bad calls change nothing.
    for bad in ["now()", "NULL", "'infinity'", "date_trunc('day', now(), 'America/New_York')"] {
        let err = c.query_one(&format!("SELECT llm_cost.retire_usage({bad})"), &[]).unwrap_err();
        assert_eq!(sqlstate(&err), "22023", "retire_usage({bad})");
    }
    c.batch_execute("CREATE ROLE dash LOGIN; GRANT llm_cost_reader TO dash").unwrap();
    c.batch_execute("SET ROLE dash").unwrap();
    let err = c.query_one(&format!("SELECT llm_cost.retire_usage({cutoff})"), &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "only the admin retires usage");
    c.batch_execute("RESET ROLE").unwrap();

    // Small batches, so the loop runs many times.
    let retired: i64 = c.query_one(&format!("SELECT llm_cost.retire_usage({cutoff}, 37)"), &[]).unwrap().get(0);
    assert_eq!(retired, old_rows, "every old row (all rolled up) is retired");
    assert_eq!(count(&mut c, &format!("SELECT count(*) FROM llm_cost.usage WHERE occurred_at < {cutoff}")), 0);
    assert_same_figures(&figures(&mut c), &before, "rollups, spend, costs, percentiles and alerts as before");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "spend = ledger + retired");
    assert!(count(&mut c, "SELECT count(*) FROM llm_cost.retired_spend") > 0);

    // Rebuilding from the ledger counts the retired spend too.
    c.batch_execute("SELECT llm_cost.rebuild_budget_spend(id) FROM llm_cost.budgets").unwrap();
    assert_same_figures(&figures(&mut c), &before, "a rebuild after retirement gives the same spend");

    // New usage still counts, crossing the total budget's next threshold once.
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, user_id)
         SELECT '2026-06-15 10:30+00', 'openai', 'gpt-4o', 2000000, 200000, 'acme', 'big' FROM generate_series(1, 10)",
    )
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(thresholds_not_fired_exactly_once(&mut c), 0, "every threshold reached fired exactly once");
    let after_inserts = figures(&mut c);

    // Dump and restore: retired spend comes back into the running totals.
    let dir = cluster.dir.to_str().unwrap().to_string();
    let port = cluster.port.to_string();
    let conn = ["-h", dir.as_str(), "-p", port.as_str(), "-U", "postgres"];
    let dump = cluster.dir.join("retention.dump");
    run_pg_program("pg_dump", &[&conn[..], &["-Fc", "-f", dump.to_str().unwrap(), "retention"]].concat());
    cluster.connect("postgres").batch_execute("CREATE DATABASE restored").unwrap();
    run_pg_program("pg_restore", &[&conn[..], &["-d", "restored", dump.to_str().unwrap()]].concat());
    let mut r = cluster.connect("restored");
    assert_same_figures(&figures(&mut r), &after_inserts, "restored: the same spend, rollups and alerts");
    assert_eq!(count(&mut r, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "restored: no drift");
    assert_eq!(count(&mut r, "SELECT retired_rows FROM llm_cost.retention_state"), old_rows);

    // Emptying the ledger empties what came from it, retired spend included.
    c.batch_execute("TRUNCATE llm_cost.usage").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.retired_spend"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "only compute spend is left");
}

/// Calls every 37 minutes in [from, to): three priced models and one
/// without a price, failures, missing latencies, two tenants, seven users.
fn calls_between(from: &str, to: &str) -> String {
    format!(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, success,
                                     tenant_id, user_id)
         SELECT t, 'openai', CASE WHEN g % 29 = 0 THEN 'house-model-unpriced'
                                  ELSE (ARRAY['gpt-4o', 'gpt-4o-mini', 'o3-mini'])[1 + g % 3] END,
                100 + g % 900, 20 + g % 300, CASE WHEN g % 11 = 0 THEN NULL ELSE 50 + (g * 7919) % 3000 END,
                g % 13 <> 0, 't' || g % 2, 'u' || g % 7
           FROM generate_series('{from}'::timestamptz, '{to}'::timestamptz - interval '1 second', '37 minutes')
                WITH ORDINALITY AS s (t, g)"
    )
}

/// The dashboards that choose between rollups and a plain scan of the
/// ledger (_read_ledger), for [from, to), as lines to compare.
fn dashboards(c: &mut postgres::Client, from: &str, to: &str) -> Vec<String> {
    let mut lines = rows(
        c,
        &format!(
            "SELECT trim_scale(total_cost), calls, successful_calls, failed_calls, input_tokens, output_tokens,
                    avg_latency_ms, p95_latency_ms, trim_scale(cost_per_call), unpriced_calls
               FROM llm_cost.cost_summary('{from}', '{to}')"
        ),
    );
    for dim in ["model", "user_id"] {
        lines.extend(rows(
            c,
            &format!(
                "SELECT 'by', value, trim_scale(cost), calls, input_tokens, output_tokens, unpriced_calls
                   FROM llm_cost.cost_by('{dim}', '{from}', '{to}') ORDER BY value"
            ),
        ));
    }
    lines.extend(rows(
        c,
        &format!(
            "SELECT 'daily', day, value, trim_scale(cost), calls, unpriced_calls
               FROM llm_cost.daily_cost_by('model', '{from}', '{to}') ORDER BY 2, 3"
        ),
    ));
    lines
}

/// The same figures as `dashboards`, by plain GROUP BYs over `calls`.
fn raw_figures(c: &mut postgres::Client, calls: &str, from: &str, to: &str) -> Vec<String> {
    let w = format!("(SELECT * FROM {calls} WHERE occurred_at >= '{from}' AND occurred_at < '{to}') AS u");
    let mut lines = rows(c, &format!("SELECT {RAW_COST_SUMMARY} FROM {w}"));
    for dim in ["model", "user_id"] {
        lines.extend(rows(
            c,
            &format!(
                "SELECT 'by', {dim}, trim_scale(sum(cost)), count(*), sum(input_tokens)::numeric,
                        sum(output_tokens)::numeric, count(*) - count(cost)
                   FROM {w} GROUP BY 2 ORDER BY 2"
            ),
        ));
    }
    lines.extend(rows(
        c,
        &format!(
            "SELECT 'daily', (occurred_at AT TIME ZONE 'UTC')::date, model, trim_scale(sum(cost)), count(*),
                    count(*) - count(cost)
               FROM {w} GROUP BY 2, 3 ORDER BY 2, 3"
        ),
    ));
    lines
}

/// Retired days live only in the rollups: a window reaching into them must
/// read the rollups, however large the backlog of rows not rolled up yet
/// (where a window of live days alone is read from the ledger by a plain scan).
#[test]
fn dashboards_keep_retired_days_with_a_large_backlog() {
    // No maintenance worker: the backlog is the test's to make.
    let cluster = TestCluster::start("retention_backlog", &["llm_cost.auto_refresh = off"]);
    let mut c = cluster.database_with_extension("retention_backlog");
    let (from, cutoff, to) = ("2026-04-01 00:00+00", "2026-05-01 00:00+00", "2026-06-01 00:00+00");
    c.batch_execute("SET client_min_messages = error").unwrap(); // the unpriced calls' warnings
    c.batch_execute(&calls_between(from, to)).unwrap();
    c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
    let whole = dashboards(&mut c, from, to);
    let april = dashboards(&mut c, from, cutoff);
    assert_eq!(whole, raw_figures(&mut c, "llm_cost.usage", from, to), "the dashboards are exact before retiring");
    assert!(whole.len() > 40, "the window has figures: {whole:?}");
    // The rows about to be retired, kept aside to compute the expected figures.
    c.batch_execute(&format!(
        "CREATE TABLE public.retired_calls AS SELECT * FROM llm_cost.usage WHERE occurred_at < '{cutoff}'"
    ))
    .unwrap();
    let retired: i64 = c.query_one(&format!("SELECT llm_cost.retire_usage('{cutoff}')"), &[]).unwrap().get(0);
    assert_eq!(retired, count(&mut c, "SELECT count(*) FROM public.retired_calls"));
    assert!(retired > 1000, "a month retired ({retired} rows)");
    assert_eq!(dashboards(&mut c, from, to), whole, "retiring changes no figure");

    // May again, not rolled up: more than a third of the window's rolled-up calls.
    c.batch_execute(&calls_between("2026-05-01 00:10+00", "2026-05-31 00:00+00")).unwrap();
    let backlog = count(&mut c, "SELECT count(*) FROM llm_cost.usage WHERE id > llm_cost.rollup_watermark()");
    let rolled_up = count(
        &mut c,
        &format!(
            "SELECT sum(calls)::bigint FROM llm_cost.usage_rollup
              WHERE dimension = 'tenant_id' AND grain = 'day' AND bucket >= '{from}' AND bucket < '{to}'"
        ),
    );
    assert!(3 * backlog > rolled_up, "a large backlog: {backlog} rows against {rolled_up} rolled up");

    assert_eq!(dashboards(&mut c, from, cutoff), april, "the retired month alone, as before retiring");
    let all_calls = "(SELECT * FROM public.retired_calls UNION ALL SELECT * FROM llm_cost.usage) AS a";
    let expected = raw_figures(&mut c, all_calls, from, to);
    assert_eq!(dashboards(&mut c, from, to), expected, "the whole window: retired days plus every live row");
    let april_days: Vec<&String> = expected.iter().filter(|l| l.starts_with("(daily,2026-04-")).collect();
    assert_eq!(april_days.len(), 30 * 4, "every April day, by model");
    // A window of live days alone still may take the plain scan, exact.
    let may = ("2026-05-01 00:00+00", "2026-06-01 00:00+00");
    assert_eq!(dashboards(&mut c, may.0, may.1), raw_figures(&mut c, "llm_cost.usage", may.0, may.1), "May alone");
}
