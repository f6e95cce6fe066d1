//! pg_dump and restore (custom format with pg_restore, and plain SQL with
//! psql) into a fresh database give back identical user data, budgets, custom
//! prices, spend totals, rollups and queue, with no duplicated catalog rows.

mod common;

use common::{run_pg_program, table_checksums, TestCluster};

/// Every table's rows as one checksum; budget_spend without its updated_at
/// (a restore recomputes it, so its timestamps are new).
fn contents(c: &mut postgres::Client) -> Vec<(String, i64, String)> {
    table_checksums(c, |t| {
        (t == "budget_spend_slots")
            .then(|| "SELECT budget_id, period_start, per_value, spent, calls FROM llm_cost.budget_spend".to_string())
    })
}

#[test]
fn dump_and_restore_give_back_the_same_ledger() {
    let cluster = TestCluster::start("dump_restore", &[]);
    let mut src = cluster.database_with_extension("src");
    src.batch_execute(
        "SET client_min_messages = error;
         INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('global', 0.05, 'month', '{50, 100}');
         INSERT INTO llm_cost.budgets (name, amount, period, per, includes) VALUES ('every user', 0.01, 'day', 'user_id', 'all');
         SELECT llm_cost.set_price('acme', 'router', 1, 2, valid_from => '2020-01-01');
         SELECT llm_cost.set_resource_price('gpu_hours', 'gpu_hour', 2.5, valid_from => '2020-01-01');
         INSERT INTO llm_cost.models (provider, model, mode, supports_vision) VALUES ('acme', 'router', 'chat', true);
         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, latency_ms, user_id)
         SELECT 'openai', 'gpt-4o', 1000, 100, 200 + g, 'u' || g % 3 FROM generate_series(1, 30) g;
         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens) VALUES ('acme', 'router', 1000, 100);
         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens) VALUES ('nobody', 'unknown', 1000, 100);
         INSERT INTO llm_cost.resource_usage (resource_type, quantity, unit, user_id) VALUES ('gpu_hours', 1, 'gpu_hour', 'u1');
         SELECT llm_cost.refresh_rollups();
         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens) VALUES ('openai', 'gpt-4o', 5, 5);
         SELECT llm_cost.ack_notification(id) FROM llm_cost.claim_notifications(2);",
    )
    .unwrap();
    let before = contents(&mut src);
    let dir = cluster.dir.to_str().unwrap().to_string();
    let port = cluster.port.to_string();
    let conn = ["-h", dir.as_str(), "-p", port.as_str(), "-U", "postgres"];
    let dump = cluster.dir.join("src.dump");
    let plain = cluster.dir.join("src.sql");
    run_pg_program("pg_dump", &[&conn[..], &["-Fc", "-f", dump.to_str().unwrap(), "src"]].concat());
    run_pg_program("pg_dump", &[&conn[..], &["-Fp", "-f", plain.to_str().unwrap(), "src"]].concat());

    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE DATABASE from_custom").unwrap();
    admin.batch_execute("CREATE DATABASE from_plain").unwrap();
    run_pg_program("pg_restore", &[&conn[..], &["-d", "from_custom", dump.to_str().unwrap()]].concat());
    run_pg_program(
        "psql",
        &[&conn[..], &["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "from_plain", "-f", plain.to_str().unwrap()]]
            .concat(),
    );

    for db in ["from_custom", "from_plain"] {
        let mut dst = cluster.connect(db);
        let after = contents(&mut dst);
        assert_eq!(after, before, "{db}: every table as it was (prices: the catalog once, plus the custom rows)");
        let drift: i64 = dst.query_one("SELECT count(*) FROM llm_cost.budget_spend_drift", &[]).unwrap().get(0);
        assert_eq!(drift, 0, "{db}: spend equals the ledger");
        // it keeps working: a new call is priced, counted, and alerts only for a new crossing
        dst.batch_execute(
            "INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id) VALUES ('acme', 'router', 5000, 100, 'u9')",
        )
        .unwrap();
        let (cost, notes, drift): (String, i64, i64) = {
            let r = dst
                .query_one(
                    "SELECT (SELECT cost::text FROM llm_cost.usage ORDER BY id DESC LIMIT 1),
                            (SELECT count(*) FROM llm_cost.notifications),
                            (SELECT count(*) FROM llm_cost.budget_spend_drift)",
                    &[],
                )
                .unwrap();
            (r.get(0), r.get(1), r.get(2))
        };
        assert_eq!(cost, "0.0052", "{db}: the custom price survived");
        let before_notes = before.iter().find(|t| t.0 == "notifications").unwrap().1;
        assert_eq!(
            notes,
            before_notes + 1,
            "{db}: one new alert (u9 crosses 50% of its per-user budget), no old one repeated"
        );
        assert_eq!(drift, 0);
    }
}
