//! Rollups that keep up by themselves: after CREATE EXTENSION and inserts,
//! with nothing scheduled, the maintenance worker rolls the ledger up; it comes
//! back after pg_terminate_backend and after a server restart at the next
//! write, stops when the extension or the database is dropped or when
//! llm_cost.auto_refresh is off, and a manual refresh_rollups() beside it
//! keeps every figure exact. (Waits poll with a bound; none asserts timing.)

mod common;

use common::TestCluster;
use std::time::{Duration, Instant};

/// The servers run a round every second, so the waits below stay short.
const FAST_ROUNDS: &[&str] = &["llm_cost.refresh_interval = 1"];
const PATIENCE: Duration = Duration::from_secs(60);

fn one<T: for<'a> postgres::types::FromSql<'a>>(c: &mut postgres::Client, sql: &str) -> T {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Polls `sql` (a boolean) until it is true; panics with `what` after PATIENCE.
fn wait_until(c: &mut postgres::Client, sql: &str, what: &str) {
    let started = Instant::now();
    while !one::<bool>(c, sql) {
        assert!(started.elapsed() < PATIENCE, "{what}: still not so after {PATIENCE:?} ({sql})");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const CAUGHT_UP: &str = "SELECT llm_cost.rollup_watermark() = (SELECT coalesce(max(id), 0) FROM llm_cost.usage)";
const WORKER_RUNS: &str = "SELECT llm_cost.maintenance_worker_pid() IS NOT NULL";
/// Any worker process of ours in this database (also after DROP EXTENSION, when the function is gone).
const ANY_WORKER: &str = "SELECT EXISTS (SELECT FROM pg_stat_activity
                                         WHERE backend_type = 'llm_cost maintenance' AND datname = current_database())";

fn insert_calls(c: &mut postgres::Client, n: i32) {
    c.execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, user_id)
         SELECT '2026-03-01 00:00+00'::timestamptz + g * interval '7 minutes', 'openai', 'gpt-4o-mini',
                100 + g % 50, 10 + g % 7, 20 + g % 90, 'u' || g % 5
           FROM generate_series(1, $1) AS g",
        &[&n],
    )
    .unwrap();
}

/// The rollups hold every row exactly once (sums per day equal the ledger's).
fn assert_rollups_exact(c: &mut postgres::Client, when: &str) {
    let same: bool = one(
        c,
        "SELECT (SELECT array_agg(x::text ORDER BY x::text)
                   FROM (SELECT day, sum(calls)::bigint, sum(cost), sum(input_tokens) FROM llm_cost.usage_daily GROUP BY 1) x)
              IS NOT DISTINCT FROM
                (SELECT array_agg(x::text ORDER BY x::text)
                   FROM (SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(cost), sum(input_tokens)::numeric
                           FROM llm_cost.usage GROUP BY 1) x)",
    );
    assert!(same, "{when}: the rollups differ from the ledger");
}

#[test]
fn rollups_keep_up_by_themselves_and_the_worker_comes_back() {
    let cluster = TestCluster::start("autorefresh", FAST_ROUNDS);
    let mut c = cluster.database_with_extension("auto");
    assert!(
        one::<bool>(&mut c, WORKER_RUNS) || {
            wait_until(&mut c, WORKER_RUNS, "CREATE EXTENSION starts it");
            true
        }
    );

    // nothing scheduled, no refresh called: the worker rolls the rows up
    insert_calls(&mut c, 500);
    wait_until(&mut c, CAUGHT_UP, "the worker rolls up new rows");
    assert_rollups_exact(&mut c, "after the worker's refresh");

    // a transaction that inserts and then corrects rolled-up rows, while the
    // worker's refresh waits for it: both finish (the refresh locks
    // rollup_state only once the writers it waits for are done)
    c.batch_execute(
        "SET statement_timeout = '30s';
         BEGIN;
         INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens) VALUES ('openai', 'gpt-4o', 1, 1);
         SELECT pg_sleep(2.5);
         DELETE FROM llm_cost.usage WHERE id = (SELECT min(id) FROM llm_cost.usage);
         COMMIT;
         RESET statement_timeout;",
    )
    .expect("insert, then delete a rolled-up row, in one transaction beside the worker");
    wait_until(&mut c, CAUGHT_UP, "the worker rolls up after the correction");
    assert_rollups_exact(&mut c, "after a correction beside the worker");

    // killed: the next write (a session that has not checked yet) starts it again
    let pid: i32 = one(&mut c, "SELECT llm_cost.maintenance_worker_pid()");
    assert!(one::<bool>(&mut c, &format!("SELECT pg_terminate_backend({pid})")));
    wait_until(&mut c, &format!("SELECT llm_cost.maintenance_worker_pid() IS DISTINCT FROM {pid}"), "it exits");
    let mut writer = cluster.connect("auto");
    insert_calls(&mut writer, 100);
    wait_until(&mut c, WORKER_RUNS, "the next write restarts it");
    wait_until(&mut c, CAUGHT_UP, "the restarted worker rolls up");

    // a server restart: the stop is quick with the worker running, and the first write brings it back
    drop((c, writer));
    let stop_took = cluster.restart();
    assert!(stop_took < Duration::from_secs(30), "pg_ctl stop -m fast took {stop_took:?}");
    let mut c = cluster.connect("auto");
    assert!(!one::<bool>(&mut c, ANY_WORKER), "dynamic workers do not survive a restart");
    insert_calls(&mut c, 100);
    wait_until(&mut c, WORKER_RUNS, "the first write after a restart starts it");
    wait_until(&mut c, CAUGHT_UP, "and it rolls up");
    assert_rollups_exact(&mut c, "after the restart");

    // manual refreshes (as from pg_cron) while the worker runs and writers write: still exact
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let conn = cluster.conn_string("auto");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if i == 0 {
                        c.batch_execute("SELECT llm_cost.refresh_rollups()").unwrap();
                    } else {
                        insert_calls(&mut c, 7);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    wait_until(&mut c, CAUGHT_UP, "the worker catches up after the manual refreshes");
    assert_rollups_exact(&mut c, "after manual and background refreshes together");
    assert_eq!(one::<i64>(&mut c, "SELECT llm_cost.refresh_rollups()"), 0, "nothing left for a manual refresh");

    // DROP EXTENSION stops it
    c.batch_execute("DROP EXTENSION llm_cost").unwrap();
    wait_until(&mut c, &ANY_WORKER.replace("SELECT EXISTS", "SELECT NOT EXISTS"), "DROP EXTENSION stops it");

    // DROP DATABASE is not held up by the worker connected to it
    let mut d = cluster.database_with_extension("doomed");
    insert_calls(&mut d, 10);
    wait_until(&mut d, WORKER_RUNS, "the doomed database's worker runs");
    drop(d);
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("DROP DATABASE doomed").expect("DROP DATABASE with the worker running");

    // all along: no failed round, no crashed process
    let log = std::fs::read_to_string(cluster.dir.join("server.log")).unwrap();
    for bad in ["llm_cost maintenance: ", "terminated by signal", "PANIC"] {
        assert!(!log.contains(bad), "the server log has {bad:?}:\n{log}");
    }
}

#[test]
fn alter_extension_update_starts_the_worker() {
    let cluster = TestCluster::start("autorefresh_update", FAST_ROUNDS);
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE DATABASE old").unwrap();
    let mut c = cluster.connect("old");
    c.batch_execute("CREATE EXTENSION llm_cost VERSION '0.2.0'").unwrap();
    insert_calls(&mut c, 50);
    // 0.2.0 has no run_maintenance: a worker started by the write waits idle
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM llm_cost.rollup_state"), 0, "nothing rolled up in 0.2.0");
    c.batch_execute("ALTER EXTENSION llm_cost UPDATE").unwrap();
    wait_until(&mut c, WORKER_RUNS, "a worker runs after the update");
    wait_until(&mut c, CAUGHT_UP, "and rolls up what 0.2.0 left");
    assert_rollups_exact(&mut c, "after the update");
}

#[test]
fn auto_refresh_off_means_no_worker_and_on_again_brings_it_back() {
    let cluster = TestCluster::start("autorefresh_off", FAST_ROUNDS);
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE DATABASE quiet").unwrap();
    admin.batch_execute("ALTER DATABASE quiet SET llm_cost.auto_refresh = off").unwrap();
    let mut c = cluster.connect("quiet");
    c.batch_execute("CREATE EXTENSION llm_cost").unwrap();
    insert_calls(&mut c, 200);
    // several rounds' worth of time: nothing rolls up, no worker
    std::thread::sleep(Duration::from_secs(3));
    assert!(!one::<bool>(&mut c, ANY_WORKER), "no worker with auto_refresh off");
    assert_eq!(one::<i64>(&mut c, "SELECT llm_cost.rollup_watermark()"), 0, "nothing rolled up");
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM llm_cost.rollup_state"), 0);

    // on again: the next session's write starts it
    admin.batch_execute("ALTER DATABASE quiet SET llm_cost.auto_refresh = on").unwrap();
    let mut c = cluster.connect("quiet");
    insert_calls(&mut c, 10);
    wait_until(&mut c, WORKER_RUNS, "a write with auto_refresh on starts it");
    wait_until(&mut c, CAUGHT_UP, "and it rolls up");

    // off while it runs: it sees the database's new setting and stops
    admin.batch_execute("ALTER DATABASE quiet SET llm_cost.auto_refresh = off").unwrap();
    wait_until(&mut c, &ANY_WORKER.replace("SELECT EXISTS", "SELECT NOT EXISTS"), "it stops when turned off");
    assert_rollups_exact(&mut c, "after turning it off");
}
