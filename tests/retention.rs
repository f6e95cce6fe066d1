//! Retention: retire_usage drops old raw usage while the rollups, budget
//! spend, rebuilds, drift checks, alerts and a dump/restore keep counting it.

mod common;

use common::{
    assert_same_figures, budgets_and_calls, figures, run_pg_program, sqlstate, thresholds_not_fired_exactly_once,
    TestCluster,
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
