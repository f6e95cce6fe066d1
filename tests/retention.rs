//! Retention: retire_usage drops old raw usage while the rollups, budget
//! spend, rebuilds, drift checks, alerts and a dump/restore keep counting it.

mod common;

use common::{run_pg_program, sqlstate, thresholds_not_fired_exactly_once, TestCluster};

/// 60 days of calls for two tenants with latencies, budgets of every period
/// kind (a `total` one spans retired and kept rows), compute usage. Fixed
/// timestamps (60 days up to 2026-06-15 10:00 UTC), so the cutoff and every
/// window below are the same on any date the test runs.
const SETUP: &str = r#"
SET client_min_messages = error;
SELECT llm_cost.set_resource_price('cpu', 'core-hour', 0.05, '2020-01-01');
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds, timezone)
VALUES ('company forever', 100, 'total', NULL, NULL, '{10,50,90}', 'UTC'),
       ('acme monthly', 20, 'month', 'acme', NULL, '{50,100}', 'America/New_York'),
       ('every user daily', 0.5, 'day', NULL, 'user_id', '{100}', 'Asia/Tokyo');
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id)
SELECT timestamptz '2026-06-15 10:00+00' - (g * 97 || ' minutes')::interval, 'openai',
       CASE WHEN g % 4 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 3000 + g, 400 + g % 90, 60 + (g * 31) % 700,
       CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, 'u' || g % 9
  FROM generate_series(1, 890) AS g;
INSERT INTO llm_cost.resource_usage (occurred_at, resource_type, quantity, tenant_id)
SELECT timestamptz '2026-06-15 10:00+00' - (g || ' days')::interval, 'cpu', 2, 'acme' FROM generate_series(1, 50, 7) AS g;
"#;

/// Everything derived from usage that retirement must leave as it is. Spend is
/// compared by value: a running total's display scale is that of the deltas
/// added to it (written without trailing zeros), a rebuild's that of SUM(cost),
/// so the same amount can print as 0.35805 or 0.3580500.
const FIGURES: &str = r#"
SELECT 'spend ' || string_agg(format('%s/%s/%s=%s,%s', budget_id, period_start, per_value, trim_scale(spent), calls), ' '
                              ORDER BY budget_id, period_start, per_value)
  FROM llm_cost.budget_spend
UNION ALL
SELECT 'daily ' || string_agg(format('%s/%s/%s=%s,%s', day, model, tenant_id, cost, calls), ' ' ORDER BY day, model, tenant_id)
  FROM llm_cost.daily_costs
UNION ALL
SELECT 'summary ' || s::text
  FROM llm_cost.cost_summary('2026-04-01 00:00+00', '2026-06-15 11:00+00') AS s
UNION ALL
SELECT 'by user ' || string_agg(format('%s=%s', b.value, b.cost), ' ' ORDER BY b.value)
  FROM llm_cost.cost_by('user_id', '2026-04-01 00:00+00', '2026-06-15 11:00+00') AS b
UNION ALL
SELECT 'alerts ' || count(*) FROM llm_cost.notifications
"#;

fn figures(c: &mut postgres::Client) -> Vec<String> {
    c.query(FIGURES, &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Fails with the items (space-separated) that differ, not two walls of text.
fn assert_same(now: Vec<String>, expected: &[String], what: &str) {
    for (n, e) in now.iter().zip(expected) {
        let only_now: Vec<&str> = n.split(' ').filter(|t| !e.split(' ').any(|x| x == *t)).collect();
        let only_expected: Vec<&str> = e.split(' ').filter(|t| !n.split(' ').any(|x| x == *t)).collect();
        assert!(
            only_now.is_empty() && only_expected.is_empty(),
            "{what}: now {only_now:?}, expected {only_expected:?}"
        );
    }
    assert_eq!(now.len(), expected.len(), "{what}");
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn retired_usage_keeps_rollups_spend_and_restores_exactly() {
    let cluster = TestCluster::start("retention", &[]);
    let mut c = cluster.database_with_extension("retention");
    c.batch_execute(SETUP).unwrap();
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
    assert_same(figures(&mut c), &before, "rollups, spend, costs, percentiles and alerts as before");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "spend = ledger + retired");
    assert!(count(&mut c, "SELECT count(*) FROM llm_cost.retired_spend") > 0);

    // Rebuilding from the ledger counts the retired spend too.
    c.batch_execute("SELECT llm_cost.rebuild_budget_spend(id) FROM llm_cost.budgets").unwrap();
    assert_same(figures(&mut c), &before, "a rebuild after retirement gives the same spend");

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
    assert_same(figures(&mut r), &after_inserts, "restored: the same spend, rollups and alerts");
    assert_eq!(count(&mut r, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "restored: no drift");
    assert_eq!(count(&mut r, "SELECT retired_rows FROM llm_cost.retention_state"), old_rows);

    // Emptying the ledger empties what came from it, retired spend included.
    c.batch_execute("TRUNCATE llm_cost.usage").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.retired_spend"), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0, "only compute spend is left");
}
