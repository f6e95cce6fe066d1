//! A throwaway PostgreSQL 15 cluster for client tests: initdb into a fresh
//! directory as the `postgres` OS user, start it on a private socket and a
//! free loopback port, stop and delete it on drop. The extension must already
//! be installed into the system PostgreSQL (`cargo pgrx test` or
//! `cargo pgrx install` does that).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct TestCluster {
    pub dir: PathBuf,
    pub port: u16,
    /// The server's clock offset under libfaketime, when `LLM_COST_TEST_CLOCK` is set.
    clock: Option<ServerClock>,
}

/// `LLM_COST_TEST_CLOCK=<timestamp>` (as `date -d` reads it, e.g. `2026-12-31
/// 23:59 UTC`) starts every test server with its clock at that instant, through
/// libfaketime (Debian's `faketime` package). The offset is fixed when the
/// cluster starts, so the clock then runs on normally, also across a restart.
/// `scripts/test-dates.sh` runs the client tests at calendar edges this way.
struct ServerClock {
    offset_seconds: i64,
}

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

impl ServerClock {
    fn from_env() -> Option<ServerClock> {
        let target = std::env::var("LLM_COST_TEST_CLOCK").ok().filter(|t| !t.is_empty())?;
        assert!(Path::new(LIBFAKETIME).exists(), "LLM_COST_TEST_CLOCK needs libfaketime (apt-get install faketime)");
        let epoch = |args: &[&str]| -> i64 {
            let out = Command::new("date").args(args).output().unwrap();
            assert!(out.status.success(), "date {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let offset_seconds = epoch(&["-u", "-d", &target, "+%s"]) - epoch(&["-u", "+%s"]);
        Some(ServerClock { offset_seconds })
    }

    /// The server's now() is the moved clock (so a sweep that silently ran on
    /// the real date fails instead of passing).
    fn assert_server_follows(&self, c: &mut postgres::Client) {
        let server: f64 = c.query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[]).unwrap().get(0);
        let real = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let drift = server - (real + self.offset_seconds as f64);
        assert!(drift.abs() < 120.0, "the test server's clock is not the moved one (off by {drift:.0} s)");
    }

    /// `env` arguments that start a program with the moved clock.
    fn env_args(&self) -> Vec<String> {
        vec![
            format!("LD_PRELOAD={LIBFAKETIME}"),
            format!("FAKETIME={:+}", self.offset_seconds),
            // Latch waits and timeouts keep real monotonic time.
            "FAKETIME_DONT_FAKE_MONOTONIC=1".to_string(),
        ]
    }
}

fn as_postgres(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    as_postgres_with_env(dir, &[], program, args)
}

/// Runs a PostgreSQL program as the `postgres` OS user (when root), through
/// `env` with `env_args` (VAR=value) first.
fn as_postgres_with_env(dir: &Path, env_args: &[String], program: &str, args: &[&str]) -> std::process::Output {
    let bin = format!("{PG_BIN}/{program}");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "env"]);
        c
    } else {
        Command::new("env")
    };
    let out =
        cmd.args(env_args).arg(&bin).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestCluster {
    /// Starts a new cluster; `extra_conf` lines are appended to postgresql.conf.
    pub fn start(name: &str, extra_conf: &[&str]) -> TestCluster {
        let dir = std::env::temp_dir().join(format!("llm_cost_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap().success();
            assert!(ok, "chown {dir:?}");
        }
        let data = dir.join("data");
        as_postgres(
            &dir,
            "initdb",
            &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
        );
        let port = free_port();
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 60\n",
            dir.display()
        );
        for line in extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = data.join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).unwrap();
        let cluster = TestCluster { dir, port, clock: ServerClock::from_env() };
        cluster.pg_ctl_start();
        cluster
    }

    fn pg_ctl_start(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let env_args = self.clock.as_ref().map(ServerClock::env_args).unwrap_or_default();
        as_postgres_with_env(
            &self.dir,
            &env_args,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "60", "start"],
        );
        if let Some(clock) = &self.clock {
            clock.assert_server_follows(&mut self.connect("postgres"));
        }
    }

    /// Stops the server the way an operator does (`pg_ctl stop -m fast`: sessions
    /// and background workers are ended) and starts it again; returns how long the stop took.
    pub fn restart(&self) -> std::time::Duration {
        let data = self.dir.join("data");
        let started = std::time::Instant::now();
        as_postgres(&self.dir, "pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "-t", "60", "stop"]);
        let stop_took = started.elapsed();
        self.pg_ctl_start();
        stop_took
    }

    pub fn conn_string(&self, db: &str) -> String {
        format!("host={} port={} user=postgres dbname={db}", self.dir.display(), self.port)
    }

    pub fn connect(&self, db: &str) -> postgres::Client {
        self.connect_as(db, "postgres")
    }

    /// Logs in as `user` (so session_user is that role, as for an application).
    pub fn connect_as(&self, db: &str, user: &str) -> postgres::Client {
        let conn = format!("host={} port={} user={user} dbname={db}", self.dir.display(), self.port);
        postgres::Client::connect(&conn, postgres::NoTls).unwrap_or_else(|e| panic!("connect as {user}: {e}"))
    }

    /// Kills the postmaster and every backend with SIGKILL (a crash), then
    /// starts the server again; it recovers from its WAL.
    pub fn crash_and_restart(&self) {
        let data = self.dir.join("data");
        let pid = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        let children = Command::new("pgrep").args(["-P", &pid]).output().unwrap();
        let mut victims = vec![pid.clone()];
        victims.extend(String::from_utf8_lossy(&children.stdout).split_whitespace().map(str::to_string));
        let status = Command::new("kill").arg("-9").args(&victims).status().unwrap();
        assert!(status.success(), "kill -9 {victims:?}");
        // wait for them to be gone before starting again
        for _ in 0..100 {
            let alive = Command::new("kill").args(["-0", &pid]).status().map(|s| s.success()).unwrap_or(false);
            if !alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.pg_ctl_start();
    }

    /// A fresh database with the extension created in it.
    pub fn database_with_extension(&self, db: &str) -> postgres::Client {
        let mut admin = self.connect("postgres");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let mut client = self.connect(db);
        client.batch_execute("CREATE EXTENSION llm_cost").expect("CREATE EXTENSION llm_cost");
        client
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new(if is_root() { "runuser" } else { "env" })
            .args(if is_root() { vec!["-u", "postgres", "--"] } else { vec![] })
            .arg(format!("{PG_BIN}/pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a PostgreSQL client program (pg_dump, pg_restore, psql) from PG_BIN;
/// panics with its stderr when it fails.
pub fn run_pg_program(program: &str, args: &[&str]) {
    let out = Command::new(format!("{PG_BIN}/{program}")).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(err: &postgres::Error) -> String {
    err.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {err}"))
}

/// How many (budget, period, per value, threshold) are wrong: reached but not
/// fired, fired but not reached, or fired more than once. 0 when alerts are
/// exactly once.
pub fn thresholds_not_fired_exactly_once(c: &mut postgres::Client) -> i64 {
    c.query_one(
        "WITH expected AS (
             SELECT s.budget_id, s.period_start, nullif(s.per_value, '') AS per_value, t AS threshold
               FROM llm_cost.budget_spend AS s
               JOIN llm_cost.budgets AS b ON b.id = s.budget_id, unnest(b.thresholds) AS t
              WHERE s.spent >= b.amount * t / 100),
         fired AS (
             SELECT budget_id, period_start, per_value, threshold, count(*) AS n
               FROM llm_cost.notifications WHERE kind IN ('budget_threshold', 'budget_exceeded')
              GROUP BY 1, 2, 3, 4)
         SELECT count(*) FROM expected e FULL JOIN fired f
             ON (e.budget_id, e.period_start, e.threshold) = (f.budget_id, f.period_start, f.threshold)
            AND e.per_value IS NOT DISTINCT FROM f.per_value
          WHERE e.budget_id IS NULL OR f.budget_id IS NULL OR f.n <> 1",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Each table of schema llm_cost with its row count and a checksum of its
/// rows; `rows_of` may replace a table's query (e.g. to leave out a timestamp).
pub fn table_checksums(
    c: &mut postgres::Client,
    rows_of: impl Fn(&str) -> Option<String>,
) -> Vec<(String, i64, String)> {
    let tables: Vec<String> = c
        // partitions are read through their parent (usage)
        .query(
            "SELECT c.relname::text FROM pg_class AS c
              WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let rows = rows_of(&t).unwrap_or_else(|| format!("SELECT * FROM llm_cost.{t}"));
            let r = c
                .query_one(
                    &format!("SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM ({rows}) AS x"),
                    &[],
                )
                .unwrap();
            (t, r.get(0), r.get(1))
        })
        .collect()
}

/// Budgets of every period kind (a `total` one over all tenants, a monthly one
/// of one tenant in New York time, a daily one per user in Tokyo time), then
/// `calls` calls for two tenants, nine users and two models, with latencies,
/// one every `minutes_apart` minutes back from 2026-06-15 10:00 UTC (fixed
/// timestamps: the same windows whatever the date the test runs).
pub fn budgets_and_calls(calls: u32, minutes_apart: u32) -> String {
    format!(
        "SET client_min_messages = error;
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds, timezone)
VALUES ('company forever', 100, 'total', NULL, NULL, '{{10,50,90}}', 'UTC'),
       ('acme monthly', 20, 'month', 'acme', NULL, '{{50,100}}', 'America/New_York'),
       ('every user daily', 0.5, 'day', NULL, 'user_id', '{{100}}', 'Asia/Tokyo');
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id)
SELECT timestamptz '2026-06-15 10:00+00' - (g * {minutes_apart} || ' minutes')::interval, 'openai',
       CASE WHEN g % 4 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 3000 + g, 400 + g % 90, 60 + (g * 31) % 700,
       CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, 'u' || g % 9
  FROM generate_series(1, {calls}) AS g;
"
    )
}

/// Everything derived from usage that moving or retiring ledger rows must
/// leave as it is: every budget's spend, the daily costs, a summary with
/// exact percentiles and costs by user over March to mid-June 2026, and the
/// alerts. Spend is compared by value: a running total's display scale is
/// that of the deltas added to it (written without trailing zeros), a
/// rebuild's that of SUM(cost), so the same amount can print as 0.35805 or
/// 0.3580500. daily_costs has a row per user and agent, so several rows share
/// a day, model and tenant: cost and calls break the tie (rows still tied
/// print alike), else string_agg's order would vary from run to run.
const FIGURES: &str = r#"
SELECT 'spend ' || string_agg(format('%s/%s/%s=%s,%s', budget_id, period_start, per_value, trim_scale(spent), calls), ' '
                              ORDER BY budget_id, period_start, per_value)
  FROM llm_cost.budget_spend
UNION ALL
SELECT 'daily ' || string_agg(format('%s/%s/%s=%s,%s', day, model, tenant_id, cost, calls), ' '
                              ORDER BY day, model, tenant_id, cost, calls)
  FROM llm_cost.daily_costs
UNION ALL
SELECT 'summary ' || s::text
  FROM llm_cost.cost_summary('2026-03-01 00:00+00', '2026-06-15 11:00+00') AS s
UNION ALL
SELECT 'by user ' || string_agg(format('%s=%s', b.value, b.cost), ' ' ORDER BY b.value)
  FROM llm_cost.cost_by('user_id', '2026-03-01 00:00+00', '2026-06-15 11:00+00') AS b
UNION ALL
SELECT 'alerts ' || count(*) FROM llm_cost.notifications
"#;

/// The FIGURES, one line each.
pub fn figures(c: &mut postgres::Client) -> Vec<String> {
    c.query(FIGURES, &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Asserts two FIGURES are equal, failing with the items (space-separated)
/// that differ rather than two walls of text.
pub fn assert_same_figures(now: &[String], expected: &[String], what: &str) {
    if now == expected {
        return;
    }
    for (n, e) in now.iter().zip(expected) {
        let only_now: Vec<&str> = n.split(' ').filter(|t| !e.split(' ').any(|x| x == *t)).collect();
        let only_expected: Vec<&str> = e.split(' ').filter(|t| !n.split(' ').any(|x| x == *t)).collect();
        assert!(
            only_now.is_empty() && only_expected.is_empty(),
            "{what}: now {only_now:?}, expected {only_expected:?}"
        );
    }
    assert_eq!(now, expected, "{what} (the same items, in another order or count)");
}

/// What `llm_cost.cost_summary` returns, as the select list of a plain
/// aggregate over usage rows (`SELECT {RAW_COST_SUMMARY} FROM <rows>`): the
/// raw GROUP BY its figures are checked against.
pub const RAW_COST_SUMMARY: &str =
    "trim_scale(CASE WHEN count(*) > 0 AND count(cost) = 0 THEN NULL ELSE coalesce(sum(cost), 0) END),
     count(*), count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success),
     coalesce(sum(input_tokens), 0)::numeric, coalesce(sum(output_tokens), 0)::numeric,
     round(avg(latency_ms), 2), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms),
     trim_scale(round(sum(cost) / nullif(count(cost), 0), 10)), count(*) - count(cost)";

/// Each row of a query as text, in the query's order: result sets compared
/// as lines.
pub fn rows(c: &mut postgres::Client, sql: &str) -> Vec<String> {
    c.query(&format!("SELECT t::text FROM ({sql}) AS t"), &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}
