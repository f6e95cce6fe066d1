//! Crash safety: writers load usage against budgets, the postmaster and its
//! backends are killed with SIGKILL mid-load, the server recovers, and every
//! committed row is there, spend equals the ledger, and each threshold fired
//! exactly once.

mod common;

use common::{thresholds_not_fired_exactly_once, TestCluster};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_crash_mid_load_loses_no_committed_row_and_no_alert() {
    // fsync stays off in test clusters: a killed server (unlike a killed
    // machine) loses nothing the kernel already has, so recovery is the real
    // code path under test
    let cluster = TestCluster::start("crash", &[]);
    let mut c = cluster.database_with_extension("crash");
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('global', 2, 'month', '{10, 25, 50, 75, 100}');
         INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds) VALUES ('every user', 0.2, 'month', 'user_id', '{50, 100}');",
    )
    .unwrap();
    drop(c);
    let committed: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let conn = cluster.conn_string("crash");
            let committed = committed.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // one row per transaction, or five in one
                    let result = if i % 3 == 0 {
                        c.query(
                            "INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id)
                             SELECT 'openai', 'gpt-4o', 1000, 100, 'u' || (g % 7) FROM generate_series(1, 5) g RETURNING id",
                            &[],
                        )
                    } else {
                        c.query(
                            "INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, user_id)
                             VALUES ('openai', 'gpt-4o', 1000, 100, $1) RETURNING id",
                            &[&format!("w{w}")],
                        )
                    };
                    match result {
                        // autocommit: an answer means the commit happened
                        Ok(rows) => committed.lock().unwrap().extend(rows.iter().map(|r| r.get::<_, i64>(0))),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.crash_and_restart();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let committed = committed.lock().unwrap().clone();
    assert!(committed.len() > 100, "the writers got going before the crash ({} rows)", committed.len());

    let mut c = cluster.connect("crash");
    let missing: i64 = c
        .query_one(
            "SELECT count(*) FROM unnest($1::bigint[]) AS id WHERE id NOT IN (SELECT id FROM llm_cost.usage)",
            &[&committed],
        )
        .unwrap()
        .get(0);
    assert_eq!(missing, 0, "every committed row survived the crash");
    let drift: i64 = c.query_one("SELECT count(*) FROM llm_cost.budget_spend_drift", &[]).unwrap().get(0);
    assert_eq!(drift, 0, "spend equals the ledger after recovery");
    let wrong = thresholds_not_fired_exactly_once(&mut c);
    assert_eq!(wrong, 0, "each threshold reached fired exactly once, none lost, none repeated");
    // and the ledger takes writes again
    c.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('openai', 'gpt-4o', 10)")
        .unwrap();
}
