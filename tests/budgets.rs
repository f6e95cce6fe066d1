//! Budgets, alerts and the queue over real connections to a throwaway server:
//! concurrent writers, LISTEN/NOTIFY at commit, competing consumers, periods in
//! a non-UTC time zone.

mod common;

use common::{sqlstate, thresholds_not_fired_exactly_once, TestCluster};
use postgres::fallible_iterator::FallibleIterator;
use std::collections::HashSet;
use std::time::Duration;

/// The first column of every row, as text.
fn column(c: &mut postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get(0)).collect()
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Every threshold that spend has reached fired exactly once per (budget,
/// period, per value), and none that it has not reached.
fn assert_alerts_match_spend(c: &mut postgres::Client) {
    assert_eq!(thresholds_not_fired_exactly_once(c), 0, "alerts do not match the thresholds spend reached");
}

#[test]
fn concurrent_writers_keep_spend_exact_and_fire_each_threshold_once() {
    let cluster = TestCluster::start("budgets_concurrent", &["max_connections = 60"]);
    let mut c = cluster.database_with_extension("conc");
    // Each row costs 1000 input tokens of gpt-4o = $0.0025; 16 x 2000 rows = $80.
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('global', 60, 'day');
         INSERT INTO llm_cost.budgets (name, amount, period, tenant_id) VALUES ('tenant-t1', 15, 'day', 't1');
         INSERT INTO llm_cost.budgets (name, amount, period, per) VALUES ('every user', 1, 'day', 'user_id');
         INSERT INTO llm_cost.budgets (name, amount, period, provider, model, thresholds)
              VALUES ('gpt-4o total', 50, 'total', 'OpenAI', 'gpt-4o', '{25, 50, 75, 100, 150}');",
    )
    .unwrap();
    let at = "2026-05-05 12:00:00+00";
    let handles: Vec<_> = (0..16)
        .map(|w| {
            let conn = cluster.conn_string("conc");
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                let tenant = format!("t{}", w % 4);
                for batch in 0..400 {
                    // 5 rows per statement, 4 users per writer
                    let mut sql = String::from(
                        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, tenant_id, user_id) VALUES ",
                    );
                    for r in 0..5 {
                        if r > 0 {
                            sql.push(',');
                        }
                        sql.push_str(&format!("('{at}', 'openai', 'gpt-4o', 1000, '{tenant}', 'w{w}-u{}')", (batch + r) % 4));
                    }
                    c.batch_execute(&sql).unwrap();
                    if batch % 50 == 7 {
                        // a transaction that rolls back counts for nothing and alerts nobody
                        c.batch_execute(&format!("BEGIN; {sql}; ROLLBACK")).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.usage"), 32_000);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    let global: String =
        c.query_one("SELECT spent::text FROM llm_cost.budget_spend WHERE budget_id = 1", &[]).unwrap().get(0);
    assert_eq!(global.parse::<f64>().unwrap(), 80.0);
    // 64 users x 500 rows x 0.0025 = 1.25 each: every user crossed all four thresholds
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend WHERE budget_id = 3"), 64);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE budget_id = 3"), 64 * 4);
    // the global budget crossed 50, 80, 90, 100; the gpt-4o budget 25..150
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE budget_id = 1"), 4);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE budget_id = 4"), 5);
    assert_alerts_match_spend(&mut c);

    // deletes and reprice corrections keep spend exact too
    c.batch_execute(
        "DELETE FROM llm_cost.usage WHERE user_id = 'w0-u0';
         SELECT llm_cost.set_price('openai', 'gpt-4o', 5, 10, valid_from => '2026-01-01');
         SELECT llm_cost.reprice('2026-05-01', '2026-06-01');",
    )
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    let global: String =
        c.query_one("SELECT spent::text FROM llm_cost.budget_spend WHERE budget_id = 1", &[]).unwrap().get(0);
    // 31,500 rows x 1000 tokens x $5 per million
    assert_eq!(global.parse::<f64>().unwrap(), 157.5);
}

#[test]
fn listeners_hear_alerts_at_commit_and_never_for_a_rollback() {
    let cluster = TestCluster::start("budgets_listen", &[]);
    let mut w = cluster.database_with_extension("listen");
    w.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('b', 1, 'month', '{50, 100}')",
    )
    .unwrap();
    let mut l = cluster.connect("listen");
    l.batch_execute("LISTEN llm_cost").unwrap();
    // Everything announced until nothing more arrives for wait_ms.
    let drain = |l: &mut postgres::Client, wait_ms: u64| -> Vec<String> {
        let mut notifications = l.notifications();
        let mut it = notifications.timeout_iter(Duration::from_millis(wait_ms));
        let mut heard = Vec::new();
        while let Some(n) = it.next().unwrap() {
            heard.push(n.payload().to_string());
        }
        heard
    };

    // Calls at one fixed instant, so both land in the same month on any date.
    // $0.75 crosses 50% inside an open transaction: nothing is heard before commit
    w.batch_execute("BEGIN; INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-06-15 12:00+00', 'x', 'y', 0.75)")
        .unwrap();
    assert!(drain(&mut l, 300).is_empty());
    w.batch_execute("ROLLBACK").unwrap();
    assert!(drain(&mut l, 300).is_empty(), "a rolled-back alert was announced");
    assert_eq!(count(&mut w, "SELECT count(*) FROM llm_cost.notifications WHERE kind LIKE 'budget%'"), 0);

    w.batch_execute("INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-06-15 12:00+00', 'x', 'y', 0.75)")
        .unwrap();
    let heard = drain(&mut l, 2000);
    let budget_alerts: Vec<serde_json::Value> = heard
        .iter()
        .map(|p| serde_json::from_str::<serde_json::Value>(p).unwrap())
        .filter(|v| v["kind"] == "budget_threshold")
        .collect();
    assert_eq!(budget_alerts.len(), 1, "{heard:?}");
    let id = budget_alerts[0]["id"].as_i64().unwrap();
    assert_eq!(budget_alerts[0]["budget_id"].as_i64(), Some(1));
    assert_eq!(budget_alerts[0]["threshold"].to_string(), "50");
    let kind: String = w.query_one("SELECT kind FROM llm_cost.notifications WHERE id = $1", &[&id]).unwrap().get(0);
    assert_eq!(kind, "budget_threshold");
    assert!(heard.iter().all(|p| p.len() < 8000));

    // crossing 100% in the next statement: exactly one more
    w.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-06-15 12:00+00', 'x', 'y', 0.5)",
    )
    .unwrap();
    let heard = drain(&mut l, 2000);
    assert_eq!(heard.iter().filter(|p| p.contains("budget_exceeded")).count(), 1, "{heard:?}");
}

#[test]
fn competing_consumers_never_get_the_same_notification() {
    let cluster = TestCluster::start("budgets_queue", &[]);
    let mut c = cluster.database_with_extension("queue");
    c.batch_execute(
        "SELECT llm_cost._queue_notification('test', 'k' || g, jsonb_build_object('n', g)) FROM generate_series(1, 600) g",
    )
    .unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let conn = cluster.conn_string("queue");
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                let mut got = Vec::new();
                loop {
                    let mut tx = c.transaction().unwrap();
                    let ids: Vec<i64> = tx
                        .query("SELECT id FROM llm_cost.claim_notifications(7)", &[])
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    if ids.is_empty() {
                        break;
                    }
                    for id in &ids {
                        let acked: bool = tx.query_one("SELECT llm_cost.ack_notification($1)", &[id]).unwrap().get(0);
                        assert!(acked);
                    }
                    tx.commit().unwrap();
                    got.extend(ids);
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in consumers {
        let got = h.join().unwrap();
        assert!(!got.is_empty(), "both consumers should get work");
        all.extend(got);
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a notification was claimed twice");
    assert_eq!(all.len(), 600);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE delivered_at IS NULL"), 0);

    // a claimed but unacked row returns after its lease; a failed one after its backoff
    c.batch_execute("SELECT llm_cost._queue_notification('test', 'lease', '{}')").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.claim_notifications(10, '300 milliseconds')"), 1);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.claim_notifications(10)"), 0);
    std::thread::sleep(Duration::from_millis(400));
    let row = c.query_one("SELECT id, attempts FROM llm_cost.claim_notifications(10)", &[]).unwrap();
    let (id, attempts): (i64, i32) = (row.get(0), row.get(1));
    assert_eq!(attempts, 2);
    c.query_one("SELECT llm_cost.fail_notification($1, 'smtp timeout')", &[&id]).unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.claim_notifications(10)"), 0, "retried before its backoff");
    let err: String =
        c.query_one("SELECT last_error FROM llm_cost.notifications WHERE id = $1", &[&id]).unwrap().get(0);
    assert_eq!(err, "smtp timeout");
}

#[test]
fn periods_follow_the_budget_time_zone() {
    let cluster = TestCluster::start("budgets_tz", &[]);
    let mut c = cluster.database_with_extension("tz");
    c.batch_execute(
        "SET TimeZone = 'UTC';
         INSERT INTO llm_cost.budgets (name, amount, period, timezone, thresholds)
              VALUES ('ny daily', 1, 'day', 'America/New_York', '{100}');
         -- 23:30 on March 7 in New York, then 00:30 on March 8
         INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-03-08 04:30+00', 'x', 'y', 1);
         INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-03-08 05:30+00', 'x', 'y', 1);",
    )
    .unwrap();
    let periods: Vec<String> =
        column(&mut c, "SELECT period_start::text FROM llm_cost.budget_spend ORDER BY period_start");
    assert_eq!(periods, vec!["2026-03-07 05:00:00+00", "2026-03-08 05:00:00+00"]);
    // each day fired its 100% once: a new period starts the thresholds again
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE kind = 'budget_exceeded'"), 2);
    // the same instants as seen by a session in another time zone change nothing
    c.batch_execute("SET TimeZone = 'Asia/Tokyo'; INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-03-08 05:45+00', 'x', 'y', 1)")
        .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE kind = 'budget_exceeded'"), 2);
    assert_alerts_match_spend(&mut c);
    // a weekly budget starts on Monday in its own zone
    let monday: String = c
        .query_one("SELECT llm_cost.period_start('week', 'Asia/Tokyo', '2026-03-08 16:00+00')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(monday, "2026-03-09 00:00:00+09");
}

#[test]
fn hard_limits_and_budget_validation() {
    let cluster = TestCluster::start("budgets_checks", &[]);
    let mut c = cluster.database_with_extension("checks");
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit) VALUES ('acme cap', 2, 'month', 'acme', true);
         INSERT INTO llm_cost.budgets (name, amount, period, per, hard_limit) VALUES ('per session', 0.5, 'total', 'session_id', true);
         INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('soft', 0.1, 'month');
         INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id, session_id)
              VALUES ('2026-06-15 12:00+00', 'x', 'y', 1.5, 'acme', 's1');",
    )
    .unwrap();
    // The checks ask about the month of the calls (at =>), not about today's.
    let can = |c: &mut postgres::Client, sql: &str| -> bool { c.query_one(sql, &[]).unwrap().get(0) };
    let at = "at => '2026-06-15 12:00+00'";
    assert!(can(&mut c, &format!("SELECT llm_cost.can_spend(0.4, tenant_id => 'acme', session_id => 's2', {at})")));
    assert!(!can(&mut c, &format!("SELECT llm_cost.can_spend(0.6, tenant_id => 'acme', session_id => 's2', {at})")));
    assert!(!can(&mut c, &format!("SELECT llm_cost.can_spend(0.01, tenant_id => 'acme', session_id => 's1', {at})")));
    assert!(
        can(&mut c, &format!("SELECT llm_cost.can_spend(5, tenant_id => 'other', {at})")),
        "a soft budget never blocks"
    );
    assert!(
        !can(&mut c, &format!("SELECT llm_cost.can_spend(0.6, tenant_id => 'acme', {at})")),
        "over acme's June cap"
    );
    assert!(
        can(&mut c, "SELECT llm_cost.can_spend(0.6, tenant_id => 'acme', at => '2026-07-01 00:00+00')"),
        "a new month starts the monthly cap again"
    );
    // over a hard limit the usage row is still recorded
    c.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id, session_id)
         VALUES ('2026-06-15 12:30+00', 'x', 'y', 9, 'acme', 's1')",
    )
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.usage"), 2);
    let status: String = c
        .query_one("SELECT status FROM llm_cost.budget_status_at('2026-06-15 13:00+00') WHERE name = 'acme cap'", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "exceeded");

    for (sql, code) in [
        ("INSERT INTO llm_cost.budgets (name, amount) VALUES ('a', 0)", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount) VALUES ('a', 'NaN')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('a', 1, 'fortnight')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount, timezone) VALUES ('a', 1, 'Mars/Olympus')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount, thresholds) VALUES ('a', 1, '{0}')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount, thresholds) VALUES ('a', 1, '{50, 1001}')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount, per) VALUES ('a', 1, 'favourite_colour')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount, includes) VALUES ('a', 1, 'everything')", "22023"),
        ("INSERT INTO llm_cost.budgets (name, amount) VALUES ('soft', 1)", "23505"),
        ("SELECT llm_cost.can_spend(-1)", "22023"),
        ("SELECT llm_cost.claim_notifications(0)", "22023"),
    ] {
        let err = c.batch_execute(sql).expect_err(sql);
        assert_eq!(sqlstate(&err), code, "{sql}: {err:?}");
    }
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budgets"), 3);
}

#[test]
fn compute_spend_counts_toward_budgets_and_executions() {
    let cluster = TestCluster::start("budgets_compute", &[]);
    let mut c = cluster.database_with_extension("compute");
    c.batch_execute(
        "SELECT llm_cost.set_resource_price('cpu', 'core-hour', 0.04, valid_from => '2026-01-01');
         SELECT llm_cost.set_resource_price('gpu', 'GPU-hour', 2.5, valid_from => '2026-01-01');
         INSERT INTO llm_cost.budgets (name, amount, period, includes) VALUES ('all', 100, 'month', 'all'), ('llm only', 100, 'month', 'llm');
         INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, execution_id)
              VALUES ('2026-04-01 10:00+00', 'openai', 'gpt-4o', 1000000, 'run-1');
         INSERT INTO llm_cost.resource_usage (occurred_at, resource_type, quantity, unit, duration_seconds, execution_id) VALUES
              ('2026-04-01 10:00+00', 'cpu', 2, 'core', 1800, 'run-1'),       -- 2 cores x 0.5 h x 0.04 = 0.04
              ('2026-04-01 10:00+00', 'gpu', 1.5, 'GPU-hour', NULL, 'run-1');  -- 1.5 x 2.5 = 3.75",
    )
    .unwrap();
    let row = c
        .query_one("SELECT model_cost::text, compute_cost::text, total_cost::text, calls FROM llm_cost.execution_costs WHERE execution_id = 'run-1'", &[])
        .unwrap();
    let (model, compute, total, calls): (String, String, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!((model.as_str(), compute.as_str(), total.as_str(), calls), ("2.5", "3.79", "6.29", 1));
    let spent: Vec<String> = column(&mut c, "SELECT spent::text FROM llm_cost.budget_spend ORDER BY budget_id");
    assert_eq!(spent, vec!["6.29", "2.5"]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    let err = c
        .batch_execute("INSERT INTO llm_cost.resource_usage (resource_type, quantity, unit) VALUES ('cpu', 1, 'GB')")
        .expect_err("unit mismatch");
    assert_eq!(sqlstate(&err), "22023");
    // TRUNCATE fires no row triggers; budgets are recomputed from what is left
    c.batch_execute("TRUNCATE llm_cost.usage").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    let spent: Vec<String> = column(&mut c, "SELECT spent::text FROM llm_cost.budget_spend ORDER BY budget_id");
    assert_eq!(spent, vec!["3.79"], "only the compute spend is left, in the 'all' budget");
}

/// Spend is kept in memory until commit: many statements in one transaction,
/// savepoints rolled back and released, and reads, budget deletes and
/// TRUNCATE inside the transaction all leave the totals equal to the ledger.
#[test]
fn transactions_savepoints_and_same_transaction_reads_keep_spend_exact() {
    let cluster = TestCluster::start("budgets_xact", &["max_prepared_transactions = 2"]);
    let mut c = cluster.database_with_extension("xact");
    // Each row: 1000 input tokens of gpt-4o = $0.0025.
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('global', 1, 'total');
         INSERT INTO llm_cost.budgets (name, amount, period, per) VALUES ('every user', 0.01, 'total', 'user_id');",
    )
    .unwrap();
    let insert = |user: &str| {
        format!("INSERT INTO llm_cost.usage (provider, model, input_tokens, user_id) VALUES ('openai', 'gpt-4o', 1000, '{user}');")
    };
    // 1,000 single-row statements in one transaction (what a driver's executemany does)
    let mut sql = String::from("BEGIN;");
    for i in 0..1000 {
        sql.push_str(&insert(&format!("u{}", i % 10)));
    }
    c.batch_execute(&sql).unwrap();
    // the transaction sees its own spend through the API before commit
    let own: Vec<bool> = c
        .query("SELECT spent = (SELECT sum(cost) FROM llm_cost.usage) AND calls = 1000 FROM llm_cost.budget_status WHERE budget_id = 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(own, vec![true], "budget_status in the inserting transaction shows its own spend");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    c.batch_execute(&insert("u0")).unwrap();
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 1001);
    assert_alerts_match_spend(&mut c);

    // savepoints: the first pending row of the transaction rolled back, then more
    c.batch_execute(&format!(
        "BEGIN; SAVEPOINT a; {i1} ROLLBACK TO a; {i2} SAVEPOINT b; {i3} SAVEPOINT c; {i4} ROLLBACK TO c; RELEASE b; COMMIT;",
        i1 = insert("sp1"),
        i2 = insert("sp2"),
        i3 = insert("sp3"),
        i4 = insert("sp4")
    ))
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 1003);
    assert_eq!(
        column(&mut c, "SELECT per_value FROM llm_cost.budget_spend WHERE per_value LIKE 'sp%' ORDER BY 1"),
        vec!["sp2".to_string(), "sp3".to_string()]
    );
    // a savepoint released before its parent's pending event fires
    c.batch_execute(&format!("BEGIN; SAVEPOINT a; {} RELEASE a; {} COMMIT;", insert("sp5"), insert("sp5"))).unwrap();
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE per_value = 'sp5'"), 2);
    // spend written early inside a savepoint that then rolls back: its writes
    // are undone, and the rows from before the savepoint still count
    c.batch_execute(&format!(
        "BEGIN; {} SAVEPOINT s; SELECT llm_cost.flush_spend(); {} ROLLBACK TO s; COMMIT;",
        insert("sp6"),
        insert("sp7")
    ))
    .unwrap();
    // written inside a released savepoint whose parent then rolls back: those rows are gone
    c.batch_execute(&format!(
        "BEGIN; SAVEPOINT a; {} SAVEPOINT b; SELECT llm_cost.flush_spend(); RELEASE b; ROLLBACK TO a; {} COMMIT;",
        insert("sp8"),
        insert("sp9")
    ))
    .unwrap();
    // a PL/pgSQL exception block (a subtransaction) around a budget check
    c.batch_execute(&format!(
        "DO $$ BEGIN {} BEGIN PERFORM llm_cost.can_spend(1); RAISE EXCEPTION 'no'; EXCEPTION WHEN raise_exception THEN NULL; END; END $$;",
        insert("sp10")
    ))
    .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(
        column(
            &mut c,
            "SELECT per_value || '=' || calls FROM llm_cost.budget_spend WHERE per_value ~ '^sp([6-9]|10)$' ORDER BY 1"
        ),
        vec!["sp10=1".to_string(), "sp6=1".to_string(), "sp9=1".to_string()]
    );
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 1008);

    // a budget deleted after the rows that count against it, in the same transaction
    c.batch_execute(&format!("BEGIN; {} DELETE FROM llm_cost.budgets WHERE id = 2; COMMIT;", insert("gone"))).unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend WHERE budget_id = 2"), 0);
    // rows inserted, then truncated away, in one transaction: only the rows
    // inserted after the TRUNCATE count
    c.batch_execute(&format!("BEGIN; {} TRUNCATE llm_cost.usage; {} COMMIT;", insert("t1"), insert("t2"))).unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 1);

    // usage inserted at commit by another deferred trigger is still counted:
    // the spend is written after every deferred trigger has fired
    c.batch_execute(
        "CREATE TABLE public.calls_done (user_id text);
         CREATE FUNCTION public.record_call() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO llm_cost.usage (provider, model, input_tokens, user_id) VALUES ('openai', 'gpt-4o', 1000, NEW.user_id);
             RETURN NULL;
         END $$;
         CREATE CONSTRAINT TRIGGER record_call AFTER INSERT ON public.calls_done
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.record_call();",
    )
    .unwrap();
    c.batch_execute("BEGIN; INSERT INTO public.calls_done VALUES ('deferred'); COMMIT;").unwrap();
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 2);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);

    // the spend rows moved (VACUUM FULL rewrites the table; this backend
    // remembers where it last wrote each total): still added to the right rows
    c.batch_execute("VACUUM FULL llm_cost.budget_spend_slots").unwrap();
    c.batch_execute(&format!("{} {}", insert("t2"), insert("t3"))).unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 4);

    // two-phase commit: the spend is written at PREPARE and lands (or not)
    // with COMMIT PREPARED (or ROLLBACK PREPARED)
    c.batch_execute(&format!("BEGIN; {} PREPARE TRANSACTION 'kept';", insert("2pc"))).unwrap();
    c.batch_execute("COMMIT PREPARED 'kept';").unwrap();
    c.batch_execute(&format!("BEGIN; {} PREPARE TRANSACTION 'dropped';", insert("2pc"))).unwrap();
    c.batch_execute("ROLLBACK PREPARED 'dropped';").unwrap();
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 5);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);

    // REPEATABLE READ writers on one shared total: the later commit adds to
    // the version committed after its snapshot instead of failing with a
    // serialization error (a running total only ever adds)
    let mut other = cluster.connect("xact");
    c.batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ; {}", insert("rr1"))).unwrap();
    other.batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ; {} COMMIT;", insert("rr2"))).unwrap();
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend WHERE budget_id = 1"), 7);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
}

/// The running totals' direct heap update (src/spend_store.rs) finds
/// budget_spend's columns by name, and refuses a table with what it would
/// bypass instead of silently skipping it.
#[test]
fn spend_store_checks_the_table_it_updates_directly() {
    let cluster = TestCluster::start("budgets_spend_store", &[]);
    let mut c = cluster.database_with_extension("spend_store");
    let insert = "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-06-15 12:00+00', 'x', 'y', 1.25)";
    let spent = |c: &mut postgres::Client| -> String {
        c.query_one("SELECT spent::text || '/' || calls FROM llm_cost.budget_spend", &[]).unwrap().get(0)
    };
    c.batch_execute("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('all', 100, 'month')").unwrap();
    c.batch_execute(insert).unwrap(); // the row's first version: the SQL upsert
    c.batch_execute(insert).unwrap(); // the direct update
    assert_eq!(spent(&mut c), "2.50/2");
    // Columns found by name: one added after them, and one added and dropped, change nothing.
    c.batch_execute(
        "ALTER TABLE llm_cost.budget_spend_slots ADD COLUMN gone int, ADD COLUMN note text DEFAULT 'kept';
         ALTER TABLE llm_cost.budget_spend_slots DROP COLUMN gone;
         CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
         CREATE TRIGGER on_insert_only BEFORE INSERT ON llm_cost.budget_spend_slots FOR EACH ROW EXECUTE FUNCTION public.noop();",
    )
    .unwrap();
    c.batch_execute(insert).unwrap();
    assert_eq!(spent(&mut c), "3.75/3");
    let note: String = c.query_one("SELECT DISTINCT note FROM llm_cost.budget_spend_slots", &[]).unwrap().get(0);
    assert_eq!(note, "kept");
    for (change, named) in [
        ("ALTER TABLE llm_cost.budget_spend_slots ADD CHECK (spent < 1000)", "CHECK constraints"),
        (
            "CREATE TRIGGER on_update BEFORE UPDATE ON llm_cost.budget_spend_slots FOR EACH ROW EXECUTE FUNCTION public.noop()",
            "trigger \"on_update\" on UPDATE",
        ),
        (
            "CREATE RULE no_update AS ON UPDATE TO llm_cost.budget_spend_slots DO INSTEAD NOTHING",
            "rules",
        ),
        (
            "ALTER TABLE llm_cost.budget_spend_slots ADD COLUMN doubled numeric GENERATED ALWAYS AS (spent * 2) STORED",
            "stored generated columns",
        ),
        ("ALTER TABLE llm_cost.budget_spend_slots ALTER COLUMN calls DROP NOT NULL", "calls is not bigint NOT NULL"),
        ("ALTER TABLE llm_cost.budget_spend_slots RENAME COLUMN spent TO total", "has no column \"spent\""),
    ] {
        let err = c.batch_execute(&format!("BEGIN; {change}; {insert}; COMMIT")).expect_err(change);
        let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(message.contains(named), "{change}: {message}");
        c.batch_execute("ROLLBACK").unwrap();
    }
    // nothing of the refused transactions was written
    c.batch_execute(insert).unwrap();
    assert_eq!(spent(&mut c), "5.00/4");
}

/// One call of the given cost on 2026-06-15, as an INSERT statement (the
/// escrow tests' writes: one month, one total).
fn insert_costing(cost: &str) -> String {
    format!("INSERT INTO llm_cost.usage (occurred_at, provider, model, cost) VALUES ('2026-06-15 12:00+00', 'x', 'y', {cost});")
}

/// Writers add to their own slot of a total within its cap (the escrow path,
/// src/budgets/escrow.rs), once they have met another writer of it (a writer
/// alone stays on slot 0), and a change of the budget's limits ends those
/// allowances: a threshold the new limits put just ahead still fires in the
/// commit that crosses it, once. Two REPEATABLE READ writers on the exact
/// path commit without a serialization error.
#[test]
fn slots_escrow_within_caps_and_budget_changes_end_the_allowances() {
    let cluster = TestCluster::start("budgets_escrow", &[]);
    let mut c = cluster.database_with_extension("escrow");
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('capped', 1000, 'month', '{50}')",
    )
    .unwrap();
    c.batch_execute(&insert_costing("0.5")).unwrap();
    let mut other = cluster.connect("escrow");
    other.batch_execute(&insert_costing("0.5")).unwrap();
    let backend_slots = "SELECT count(*) FROM llm_cost.budget_spend_slots WHERE slot <> 0";
    assert_eq!(count(&mut c, backend_slots), 0, "writers one after another keep to slot 0");

    // another writer holds slot 0 (its spend flushed, not committed): c's
    // next commit waits for it, and so meets another writer of the total
    other.batch_execute(&format!("BEGIN; {} SELECT llm_cost.flush_spend();", insert_costing("0.5"))).unwrap();
    let waiting = std::thread::spawn({
        let statement = insert_costing("0.5");
        move || {
            c.batch_execute(&statement).unwrap();
            c
        }
    });
    let mut watch = cluster.connect("escrow");
    wait_for_lock_waits(&mut watch, 1);
    other.batch_execute("COMMIT").unwrap();
    let mut c = waiting.join().unwrap();
    assert_eq!(count(&mut c, backend_slots), 0);

    // its next exact write makes its slot, the ones after stay within the slot's cap
    for _ in 0..3 {
        c.batch_execute(&insert_costing("0.5")).unwrap(); // each its own transaction
    }
    assert_eq!(count(&mut c, "SELECT calls FROM llm_cost.budget_spend_slots WHERE slot = 0"), 5);
    assert_eq!(count(&mut c, "SELECT sum(calls)::bigint FROM llm_cost.budget_spend_slots WHERE slot <> 0"), 2);
    assert_eq!(column(&mut c, "SELECT spent::text FROM llm_cost.budget_spend"), ["3.5"]);
    // one slot, allowed half the headroom from 2.5 (the total when it was made) to the 50% threshold (500)
    assert_eq!(column(&mut c, "SELECT cap::text FROM llm_cost.budget_spend_slots WHERE slot <> 0"), ["248.75"]);

    // new limits: 50% of 10 is 5, two calls ahead; the old cap (near 250) must not let the crossing through
    c.batch_execute("UPDATE llm_cost.budgets SET amount = 10").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_slots WHERE cap IS NOT NULL"), 0);
    c.batch_execute(&insert_costing("1")).unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE budget_id IS NOT NULL"), 0);
    c.batch_execute(&insert_costing("1")).unwrap();
    assert_eq!(column(&mut c, "SELECT spent::text FROM llm_cost.budget_spend"), ["5.5"]);
    assert_eq!(
        column(&mut c, "SELECT threshold::text FROM llm_cost.notifications WHERE budget_id IS NOT NULL"),
        ["50"]
    );

    // REPEATABLE READ writers of one total, the later one on the exact path
    // after the other committed: no serialization error, nothing lost
    let mut other = cluster.connect("escrow");
    c.batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ; {}", insert_costing("0.5"))).unwrap();
    other.batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ; {} COMMIT;", insert_costing("0.5"))).unwrap();
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(column(&mut c, "SELECT spent::text FROM llm_cost.budget_spend"), ["6.5"]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_alerts_match_spend(&mut c);
}

/// A backend that found no other slot of a total skips the scan for them
/// while slot 0 stays as it left it; once another backend has written slot
/// 0 (and made its own slot), the next exact write counts that slot: its
/// escrowed spend takes the total across the threshold, and the alert fires.
#[test]
fn exact_writes_count_slots_made_since_their_last_write() {
    let cluster = TestCluster::start("budgets_slots_since", &[]);
    let mut a = cluster.database_with_extension("since");
    a.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, thresholds) VALUES ('small', 10, 'month', '{50}')",
    )
    .unwrap();
    a.batch_execute(&insert_costing("1")).unwrap();
    // slot 0 as a left it; no other slot
    a.batch_execute(&insert_costing("1")).unwrap();

    // b meets a on slot 0, then makes its slot, then spends within its cap
    a.batch_execute(&format!("BEGIN; {} SELECT llm_cost.flush_spend();", insert_costing("1"))).unwrap();
    let b = cluster.connect("since");
    let waiting = std::thread::spawn({
        let statement = insert_costing("1");
        move || {
            let mut b = b;
            b.batch_execute(&statement).unwrap();
            b
        }
    });
    let mut watch = cluster.connect("since");
    wait_for_lock_waits(&mut watch, 1);
    a.batch_execute("COMMIT").unwrap();
    let mut b = waiting.join().unwrap();
    b.batch_execute(&insert_costing("0.5")).unwrap(); // makes b's slot: total 4.5, cap 0.25 to the 5.0 threshold
    assert_eq!(column(&mut b, "SELECT cap::text FROM llm_cost.budget_spend_slots WHERE slot <> 0"), ["0.25"]);
    b.batch_execute(&insert_costing("0.2")).unwrap(); // within the cap: b's slot only
    assert_eq!(count(&mut b, "SELECT sum(calls)::bigint FROM llm_cost.budget_spend_slots WHERE slot <> 0"), 1);
    assert_eq!(count(&mut b, "SELECT count(*) FROM llm_cost.notifications WHERE budget_id IS NOT NULL"), 0);
    // 4.7 + 0.4 crosses 5.0 only with b's slot counted (slot 0 alone: 4.9)
    a.batch_execute(&insert_costing("0.4")).unwrap();
    assert_eq!(column(&mut a, "SELECT spent::text FROM llm_cost.budget_spend"), ["5.1"]);
    assert_eq!(
        column(&mut a, "SELECT threshold::text FROM llm_cost.notifications WHERE budget_id IS NOT NULL"),
        ["50"]
    );
    assert_alerts_match_spend(&mut a);
}

/// Waits until `n` sessions of the database wait for a lock (30 s at most).
fn wait_for_lock_waits(watch: &mut postgres::Client, n: i64) {
    for _ in 0..1500 {
        let waiting = count(
            watch,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        if waiting >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{n} sessions never waited for a lock");
}

/// Every NOTIFY text heard on `l` until nothing more arrives for `wait_ms`.
fn heard_notifications(l: &mut postgres::Client, wait_ms: u64) -> Vec<String> {
    let mut notifications = l.notifications();
    let mut it = notifications.timeout_iter(Duration::from_millis(wait_ms));
    let mut heard = Vec::new();
    while let Some(n) = it.next().unwrap() {
        heard.push(n.payload().to_string());
    }
    heard
}

/// Alerts say whom they are about (SPEC 0.3): the NOTIFY text and the
/// notification row's payload both name the budget, its per value and the
/// tenant (the budget's own, or the per value of a budget kept per tenant_id).
#[test]
fn alerts_name_their_budget_per_value_and_tenant() {
    let cluster = TestCluster::start("budgets_whom", &[]);
    let mut w = cluster.database_with_extension("whom");
    w.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds)
              VALUES ('acme, every user', 1, 'total', 'acme', 'user_id', '{50}');
         INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds)
              VALUES ('every user', 2, 'total', 'user_id', '{50}'),
                     ('every tenant', 4, 'total', 'tenant_id', '{50}');
         INSERT INTO llm_cost.budgets (name, amount, period, timezone, thresholds)
              VALUES ('everything', 8, 'month', 'Europe/Berlin', '{50}');",
    )
    .unwrap();
    let mut l = cluster.connect("whom");
    l.batch_execute("LISTEN llm_cost").unwrap();
    w.batch_execute(
        "SET TimeZone = 'UTC';
         INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id, user_id)
         VALUES ('2026-03-10 12:00 UTC', 'x', 'y', 6, 'acme', 'alice')",
    )
    .unwrap();
    let heard: Vec<serde_json::Value> =
        heard_notifications(&mut l, 2000).iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    assert_eq!(heard.len(), 4, "{heard:?}");

    // (budget, per, per_value, tenant_id) as the alert must say them
    let expected = [
        ("acme, every user", Some("user_id"), Some("alice"), Some("acme")),
        ("every user", Some("user_id"), Some("alice"), None),
        ("every tenant", Some("tenant_id"), Some("acme"), Some("acme")),
        ("everything", None, None, None),
    ];
    for (name, per, per_value, tenant) in expected {
        let row = w
            .query_one(
                "SELECT n.id, n.payload::text, n.per_value
                   FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id
                  WHERE b.name = $1",
                &[&name],
            )
            .unwrap();
        let (id, payload, column): (i64, String, Option<String>) = (row.get(0), row.get(1), row.get(2));
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(payload["budget_name"], name, "{payload}");
        assert_eq!(payload["per"].as_str(), per, "{payload}");
        assert_eq!(payload["per_value"].as_str(), per_value, "{payload}");
        assert_eq!(column.as_deref(), per_value);
        assert_eq!(payload["tenant_id"].as_str(), tenant, "{payload}");
        for key in ["budget_name", "per_value", "tenant_id"] {
            assert!(payload.get(key).is_some(), "{key} missing (not even null) in {payload}");
        }
        // The NOTIFY text is the row's payload plus id, kind and budget_id.
        let mut notified = heard.iter().find(|h| h["id"].as_i64() == Some(id)).expect("announced").clone();
        assert_eq!(notified["kind"], "budget_threshold");
        let object = notified.as_object_mut().unwrap();
        for key in ["id", "kind", "budget_id"] {
            object.remove(key).unwrap();
        }
        assert_eq!(notified, payload, "NOTIFY of {name}");
    }
    // the month in the budget's time zone, written in the writer's (UTC)
    let everything = heard.iter().find(|h| h["budget_name"] == "everything").unwrap();
    assert_eq!(everything["period"], "month");
    assert_eq!(everything["period_start"], "2026-02-28T23:00:00+00:00");
}

/// Names are unbounded text, pg_notify takes less than 8000 bytes: a longer
/// text falls back to the ids (the row keeps everything); up to 7999 bytes it
/// is sent whole.
#[test]
fn notify_text_stays_under_8000_bytes_with_long_names() {
    let cluster = TestCluster::start("budgets_long_names", &[]);
    let mut w = cluster.database_with_extension("long_names");
    let long_name = "n".repeat(9000);
    let long_user = "é".repeat(5000); // 10,000 bytes in UTF-8
    w.execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds) VALUES ($1, 1, 'total', 'user_id', '{50, 100}')",
        &[&long_name],
    )
    .unwrap();
    w.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds) VALUES ('short', 1, 'total', 'user_id', '{50}')",
    )
    .unwrap();
    let mut l = cluster.connect("long_names");
    l.batch_execute("LISTEN llm_cost").unwrap();
    w.execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id, user_id)
         VALUES ('2026-03-10 12:00 UTC', 'x', 'y', 0.75, 't', $1)",
        &[&long_user],
    )
    .unwrap();
    let heard = heard_notifications(&mut l, 2000);
    assert_eq!(heard.len(), 2, "{heard:?}");
    for text in &heard {
        assert!(text.len() < 8000, "{} bytes", text.len());
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["truncated"], true, "{text:.200}");
        assert_eq!(v["kind"], "budget_threshold");
        assert!(v["id"].is_i64() && v["budget_id"].is_i64(), "{text}");
        let row = w
            .query_one(
                "SELECT payload->>'budget_name', payload->>'per_value' FROM llm_cost.notifications WHERE id = $1",
                &[&v["id"].as_i64()],
            )
            .unwrap();
        let (name, user): (String, String) = (row.get(0), row.get(1));
        assert_eq!(user, long_user, "the row keeps the whole per value");
        assert!(name == long_name || name == "short");
    }

    // Around the limit, byte by byte (two-byte characters included): every
    // text is sent whole up to 7999 bytes, and cut to the ids from 8000.
    w.batch_execute(
        "SELECT llm_cost._queue_notification('test', 'edge' || n, jsonb_build_object('budget_name', repeat('é', 3) || repeat('a', n)))
           FROM generate_series(7880, 7960) AS n",
    )
    .unwrap();
    let heard = heard_notifications(&mut l, 2000);
    assert_eq!(heard.len(), 81);
    let mut longest_whole = 0;
    for text in &heard {
        assert!(text.len() < 8000, "{} bytes", text.len());
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        if v["truncated"] == true {
            assert!(v.get("budget_name").is_none());
        } else {
            assert!(v["budget_name"].as_str().unwrap().starts_with("ééé"));
            longest_whole = longest_whole.max(text.len());
        }
    }
    assert_eq!(longest_whole, 7999, "a text of 7999 bytes is sent whole");
    assert!(heard.iter().any(|t| t.contains("\"truncated\": true")));
}
