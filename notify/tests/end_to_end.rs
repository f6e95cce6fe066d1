//! End to end: a throwaway PostgreSQL cluster with the extension, the built
//! `llm-cost-notify` binary as a child process connecting as a role granted
//! llm_cost_admin, and loopback receivers (HTTP and SMTP) recording what
//! arrives. Needs the extension installed into the system PostgreSQL 15.

#[path = "../../tests/common/mod.rs"]
mod common;
mod receivers;

use common::TestCluster;
use receivers::{HttpReceiver, SmtpSink};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_llm-cost-notify");

/// The listener as a child process; its stderr is echoed and kept.
struct ListenerProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

fn command(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("LLM_COST_NOTIFY_") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(format!("LLM_COST_NOTIFY_{k}"), v);
    }
    cmd
}

impl ListenerProcess {
    fn start(env: &[(&str, String)]) -> ListenerProcess {
        let mut child =
            command(env, &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start llm-cost-notify");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let pid = child.id();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[listener {pid}] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        ListenerProcess { child, log }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn logged(&self, needle: &str) -> bool {
        self.log().iter().any(|l| l.contains(needle))
    }

    fn wait_for_log(&self, needle: &str, timeout: Duration) {
        wait_until(&format!("log line containing {needle:?}"), timeout, || self.logged(needle));
    }

    /// SIGTERM, then its exit status.
    fn terminate(&mut self) -> ExitStatus {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill -TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "the listener did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to clean up, as in a crash or an OOM kill.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ListenerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

fn wait_all_delivered(c: &mut postgres::Client, timeout: Duration) {
    wait_until("every notification delivered", timeout, || {
        count(c, "SELECT count(*) FROM llm_cost.notifications WHERE delivered_at IS NULL") == 0
    });
}

/// The listener's login: a role with llm_cost_admin, not a superuser.
fn create_listener_role(c: &mut postgres::Client) {
    c.batch_execute(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'notifier') THEN CREATE ROLE notifier LOGIN; END IF;
         END $$;
         GRANT llm_cost_admin TO notifier;",
    )
    .unwrap();
}

fn base_env(cluster: &TestCluster, db: &str, smtp: &SmtpSink) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", format!("host={} port={} user=notifier dbname={db}", cluster.dir.display(), cluster.port)),
        ("POLL_INTERVAL_SECS", "1".into()),
        ("LEASE_SECS", "60".into()),
        ("HTTP_TIMEOUT_SECS", "5".into()),
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", smtp.port.to_string()),
        ("SMTP_FROM", "llm-cost@example.com".into()),
        ("SMTP_TIMEOUT_SECS", "5".into()),
    ]
}

fn insert_usage(c: &mut postgres::Client, project: &str, user: Option<&str>, cost: &str) {
    c.execute(
        "INSERT INTO llm_cost.usage (provider, model, cost, project_id, user_id) VALUES ('x', 'y', $1::text::numeric, $2, $3)",
        &[&cost, &project, &user],
    )
    .unwrap();
}

#[test]
fn restart_while_alerts_are_pending_delivers_each_alert_exactly_once_per_route() {
    let cluster = TestCluster::start("notify_restart", &[]);
    let mut db = cluster.database_with_extension("restart");
    create_listener_role(&mut db);
    let http = HttpReceiver::start();
    let smtp = SmtpSink::start();
    let team_routes = serde_json::json!({
        "webhooks": [http.url("/hook")],
        "slack": http.url("/slack"),
        "emails": ["ops@example.com", "finance@example.com"],
    });
    db.execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, project_id, thresholds, notify)
         VALUES ('team-a', 1, 'month', 'a', '{50,100}', $1::text::jsonb)",
        &[&team_routes.to_string()],
    )
    .unwrap();
    db.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, project_id, per, thresholds)
              VALUES ('every user', 1, 'month', 'u', 'user_id', '{50,100}');
         INSERT INTO llm_cost.budgets (name, amount, period, project_id, thresholds, notify)
              VALUES ('silent', 1, 'month', 's', '{100}', '{\"webhooks\": []}');",
    )
    .unwrap();
    let mut env = base_env(&cluster, "restart", &smtp);
    env.push(("DEFAULT_WEBHOOKS", http.url("/default")));
    env.push(("DEFAULT_EMAILS", "oncall@example.com".into()));

    // Before the first start: alerts already waiting.
    insert_usage(&mut db, "a", None, "0.6");
    insert_usage(&mut db, "u", Some("user1"), "0.6");
    db.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens, project_id) VALUES ('acme', 'mystery-1', 1000, 'x')")
        .unwrap();
    assert_eq!(count(&mut db, "SELECT count(*) FROM llm_cost.notifications WHERE kind = 'unpriced_model'"), 1);
    let mut listener = ListenerProcess::start(&env);
    wait_all_delivered(&mut db, Duration::from_secs(30));
    let first_run = count(&mut db, "SELECT count(*) FROM llm_cost.notifications");
    assert!(first_run >= 3, "{first_run}");

    // Down hard; alerts keep coming while nobody listens.
    listener.kill();
    insert_usage(&mut db, "a", None, "0.5");
    insert_usage(&mut db, "u", Some("user1"), "0.5");
    insert_usage(&mut db, "u", Some("user2"), "0.6");
    insert_usage(&mut db, "s", None, "1.5");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&mut db, "SELECT count(*) FROM llm_cost.notifications WHERE delivered_at IS NULL"), 4);

    // Started again: it drains what it missed.
    let mut listener = ListenerProcess::start(&env);
    wait_all_delivered(&mut db, Duration::from_secs(30));
    assert!(
        listener.logged("has no route (its budget's notify lists no route)"),
        "the silent budget's alert is acked with a log line"
    );

    // A restart as systemd does it, SIGTERM, in the middle of a backlog: the
    // notification in hand is finished, the rest wait for the next start.
    http.set_delay("/default", Duration::from_millis(300));
    db.batch_execute(
        "INSERT INTO llm_cost.usage (provider, model, cost, project_id, user_id)
         SELECT 'x', 'y', 0.6, 'u', 'user' || i FROM generate_series(3, 8) AS i",
    )
    .unwrap();
    let backlog = "SELECT count(*) FROM llm_cost.notifications WHERE delivered_at IS NULL";
    wait_until("the backlog started", Duration::from_secs(20), || count(&mut db, backlog) < 6);
    let status = listener.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let left = count(&mut db, backlog);
    assert!((1..6).contains(&left), "{left} of 6 left undelivered at the stop");
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM llm_cost.notifications WHERE claimed_until > clock_timestamp()"),
        0,
        "a claim left behind"
    );
    let mut listener = ListenerProcess::start(&env);
    wait_all_delivered(&mut db, Duration::from_secs(30));
    // a little longer, so that a duplicate would have time to show up
    std::thread::sleep(Duration::from_millis(1500));
    assert!(listener.terminate().success());

    // What should have gone where, from the table.
    let rows = db
        .query(
            "SELECT n.id, n.kind, coalesce(b.name, ''), n.attempts, n.delivered_at IS NOT NULL
               FROM llm_cost.notifications AS n LEFT JOIN llm_cost.budgets AS b ON b.id = n.budget_id ORDER BY n.id",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len() as i64, first_run + 4 + 6);
    let by_budget = |name: &str| rows.iter().filter(|r| r.get::<_, String>(2) == name).count();
    assert_eq!((by_budget("team-a"), by_budget("every user"), by_budget("silent")), (2, 9, 1));

    let requests = http.requests();
    let mails = smtp.mails();
    let (mut want_hook, mut want_slack, mut want_default, mut want_mails) = (0, 0, 0, 0);
    for r in &rows {
        let (id, kind, budget, attempts, delivered): (i64, String, String, i32, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        assert!(delivered, "id {id} not delivered");
        assert_eq!(attempts, 1, "id {id} was claimed more than once");
        let webhook =
            |path: &str| requests.iter().filter(|q| q.path == path && q.json()["id"].as_i64() == Some(id)).count();
        let slack = requests
            .iter()
            .filter(|q| q.path == "/slack" && q.json()["text"].as_str().unwrap().ends_with(&format!("#{id})")))
            .count();
        let mail_to = |to: &str| {
            let message_id = format!("<llm-cost-notification-{id}@localhost>");
            mails.iter().filter(|m| m.to == [to] && m.header("Message-ID").as_deref() == Some(&message_id)).count()
        };
        let got = (
            webhook("/hook"),
            slack,
            mail_to("ops@example.com"),
            mail_to("finance@example.com"),
            webhook("/default"),
            mail_to("oncall@example.com"),
        );
        let want = match budget.as_str() {
            "team-a" => (1, 1, 1, 1, 0, 0),
            "silent" => (0, 0, 0, 0, 0, 0),
            // a budget without routing, and the unpriced_model alert: the defaults
            _ => (0, 0, 0, 0, 1, 1),
        };
        assert_eq!(
            got, want,
            "deliveries of id {id} ({kind}, budget {budget:?}): (hook, slack, ops, finance, default, oncall)"
        );
        want_hook += want.0;
        want_slack += want.1;
        want_default += want.4;
        want_mails += want.2 + want.3 + want.5;
    }
    // and nothing else arrived
    assert_eq!(http.to("/hook").len(), want_hook);
    assert_eq!(http.to("/slack").len(), want_slack);
    assert_eq!(http.to("/default").len(), want_default);
    assert_eq!(requests.len(), want_hook + want_slack + want_default);
    assert_eq!(mails.len(), want_mails);

    // What a generic webhook gets: the row, numbers with PostgreSQL's digits.
    let exceeded = db
        .query_one(
            "SELECT n.id, n.payload->>'spent', n.payload->>'percent_used', n.period_start::text
               FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id
              WHERE b.name = 'team-a' AND n.kind = 'budget_exceeded'",
            &[],
        )
        .unwrap();
    let id: i64 = exceeded.get(0);
    let spent: String = exceeded.get(1);
    let percent: String = exceeded.get(2);
    let hook = http.to("/hook").into_iter().find(|q| q.json()["id"].as_i64() == Some(id)).unwrap();
    let body = hook.json();
    assert_eq!(hook.headers["content-type"], "application/json");
    assert_eq!(hook.headers["x-llm-cost-notification-id"], id.to_string());
    assert_eq!(body["kind"], "budget_exceeded");
    assert_eq!(body["budget_name"], "team-a");
    assert_eq!(body["threshold"].to_string(), "100");
    assert_eq!(body["payload"]["spent"].to_string(), spent);
    assert_eq!(body["payload"]["amount"].to_string(), "1");
    assert_eq!(body["payload"]["currency"], "USD");
    assert!(body["period_start"].as_str().unwrap().ends_with("+00:00"), "{body}");
    assert!(body["created_at"].is_string() && body["per_value"].is_null());
    // Slack: one sentence with the figures.
    let slack = http
        .to("/slack")
        .into_iter()
        .find(|q| q.json()["text"].as_str().unwrap().ends_with(&format!("#{id})")))
        .unwrap();
    assert_eq!(
        slack.json()["text"],
        format!("Budget \"team-a\" is over {percent}% of this month's budget: {spent} of 1 USD spent (alert threshold 100%). (llm_cost notification #{id})")
    );
    // E-mail: plain text, from the configured sender.
    let mail = mails
        .iter()
        .find(|m| m.to == ["ops@example.com"] && m.data.contains(&format!("Notification: {id}\r\n")))
        .unwrap();
    assert_eq!(mail.from, "llm-cost@example.com");
    assert_eq!(mail.header("Subject").unwrap(), format!("[llm_cost] Budget \"team-a\" exceeded ({percent}%)"));
    assert_eq!(mail.header("Content-Type").unwrap(), "text/plain; charset=utf-8");
    assert!(mail.data.contains(&format!("\r\n\r\nBudget \"team-a\" is over {percent}% of this month's budget")));
    // the unpriced model went to the defaults with its own sentence
    let unpriced = http.to("/default").into_iter().find(|q| q.json()["kind"] == "unpriced_model").unwrap();
    assert_eq!(unpriced.json()["payload"]["model"], "mystery-1");
}

#[test]
fn a_failing_route_is_retried_with_backoff_and_the_others_are_not_repeated() {
    let cluster = TestCluster::start("notify_retry", &[]);
    let mut db = cluster.database_with_extension("retry");
    create_listener_role(&mut db);
    let http = HttpReceiver::start();
    let smtp = SmtpSink::start();
    let routes = serde_json::json!({"webhooks": [http.url("/hook")], "slack": [http.url("/slack")]});
    db.execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, project_id, thresholds, notify)
         VALUES ('flaky', 1, 'month', 'f', '{50}', $1::text::jsonb)",
        &[&routes.to_string()],
    )
    .unwrap();
    // a typo in the routing ("email"): an error in last_error, not a silent drop
    db.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, project_id, thresholds, notify)
         VALUES ('typo', 1, 'month', 't', '{50}', '{\"email\": [\"ops@example.com\"]}')",
    )
    .unwrap();
    http.set_status("/hook", 500);
    let mut listener = ListenerProcess::start(&base_env(&cluster, "retry", &smtp));
    insert_usage(&mut db, "f", None, "0.6");
    insert_usage(&mut db, "t", None, "0.6");
    let id_of = |db: &mut postgres::Client, budget: &str| -> i64 {
        db.query_one(
            "SELECT n.id FROM llm_cost.notifications n JOIN llm_cost.budgets b ON b.id = n.budget_id WHERE b.name = $1",
            &[&budget],
        )
        .unwrap()
        .get(0)
    };
    let flaky = id_of(&mut db, "flaky");
    let typo = id_of(&mut db, "typo");

    wait_until("the failure recorded", Duration::from_secs(20), || {
        count(
            &mut db,
            &format!("SELECT count(*) FROM llm_cost.notifications WHERE id = {flaky} AND last_error IS NOT NULL"),
        ) == 1
    });
    let row = db
        .query_one(
            "SELECT attempts, last_error, next_attempt_at > clock_timestamp(), delivered_at IS NULL, claimed_until IS NULL
               FROM llm_cost.notifications WHERE id = $1",
            &[&flaky],
        )
        .unwrap();
    let (attempts, error): (i32, String) = (row.get(0), row.get(1));
    assert!(attempts >= 1);
    assert!(row.get::<_, bool>(2) || attempts > 1, "no backoff: next_attempt_at is not in the future");
    assert!(row.get::<_, bool>(3) && row.get::<_, bool>(4));
    assert!(error.contains("HTTP 500: receiver says no"), "{error}");
    assert!(error.contains(&format!("webhook http://127.0.0.1:{}/…", http.port)), "{error}");
    assert!(!error.contains("/hook"), "the URL is redacted in last_error: {error}");
    assert_eq!(http.to("/slack").len(), 1, "the healthy route got it at once");

    wait_until("the routing error recorded", Duration::from_secs(20), || {
        count(
            &mut db,
            &format!("SELECT count(*) FROM llm_cost.notifications WHERE id = {typo} AND last_error IS NOT NULL"),
        ) == 1
    });
    let typo_error: String =
        db.query_one("SELECT last_error FROM llm_cost.notifications WHERE id = $1", &[&typo]).unwrap().get(0);
    assert!(typo_error.contains("unknown key \"email\""), "{typo_error}");

    // The receiver recovers; the typo is fixed.
    http.set_status("/hook", 200);
    db.execute(
        "UPDATE llm_cost.budgets SET notify = $1::text::jsonb WHERE name = 'typo'",
        &[&serde_json::json!({"webhooks": [http.url("/typo")]}).to_string()],
    )
    .unwrap();
    wait_all_delivered(&mut db, Duration::from_secs(40));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(listener.terminate().success());

    let hooks: Vec<_> = http.to("/hook").into_iter().filter(|q| q.json()["id"].as_i64() == Some(flaky)).collect();
    assert!(hooks.iter().filter(|q| q.status == 500).count() >= 1);
    assert_eq!(hooks.iter().filter(|q| q.status == 200).count(), 1, "delivered once after recovering");
    assert_eq!(hooks.last().unwrap().status, 200);
    assert_eq!(http.to("/slack").len(), 1, "a retry does not repeat the routes that had succeeded");
    assert!(listener.logged(&format!("id={flaky} already delivered to slack")));
    assert_eq!(http.to("/typo").len(), 1);
    let row = db
        .query_one("SELECT attempts, last_error IS NULL FROM llm_cost.notifications WHERE id = $1", &[&flaky])
        .unwrap();
    assert!(row.get::<_, i32>(0) >= 2);
    assert!(row.get::<_, bool>(1), "an ack clears last_error");
    assert!(smtp.mails().is_empty());
}

#[test]
fn notify_wakes_the_listener_it_reconnects_and_once_mode_drains() {
    let cluster = TestCluster::start("notify_wake", &[]);
    let mut db = cluster.database_with_extension("wake");
    create_listener_role(&mut db);
    let http = HttpReceiver::start();
    let smtp = SmtpSink::start();
    let routes = serde_json::json!({"webhooks": [http.url("/hook")]});
    db.execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, project_id, thresholds, notify)
         VALUES ('b', 10, 'month', 'p', '{10,20,30,40,50}', $1::text::jsonb)",
        &[&routes.to_string()],
    )
    .unwrap();
    let mut env = base_env(&cluster, "wake", &smtp);
    // The poll timer never fires during this test: only NOTIFY can wake it.
    env.retain(|(k, _)| *k != "POLL_INTERVAL_SECS");
    env.push(("POLL_INTERVAL_SECS", "600".into()));
    let mut listener = ListenerProcess::start(&env);
    listener.wait_for_log("listening on channel \"llm_cost\"", Duration::from_secs(20));
    insert_usage(&mut db, "p", None, "1.5");
    wait_all_delivered(&mut db, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500)); // idle, waiting

    let start = Instant::now();
    insert_usage(&mut db, "p", None, "1");
    let id: i64 = db.query_one("SELECT max(id) FROM llm_cost.notifications", &[]).unwrap().get(0);
    wait_all_delivered(&mut db, Duration::from_secs(5));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(listener.logged(&format!("woken by NOTIFY for id={id}")), "{:?}", listener.log());

    // The server crashes and comes back: the listener reconnects and drains.
    cluster.crash_and_restart();
    let mut db = cluster.connect("wake");
    insert_usage(&mut db, "p", None, "1");
    wait_all_delivered(&mut db, Duration::from_secs(40));
    assert!(listener.logged("reconnecting"));
    assert!(listener.terminate().success());
    assert_eq!(http.to("/hook").len(), 3);

    // --once: delivers what is due and exits 0 ...
    insert_usage(&mut db, "p", None, "1");
    let out = command(&env, &["--once"]).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(count(&mut db, "SELECT count(*) FROM llm_cost.notifications WHERE delivered_at IS NULL"), 0);
    assert_eq!(http.to("/hook").len(), 4);
    // ... or 1 when a delivery failed, which is recorded for the retry.
    http.set_status("/hook", 503);
    insert_usage(&mut db, "p", None, "1");
    let out = command(&env, &["--once"]).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let error: String =
        db.query_one("SELECT last_error FROM llm_cost.notifications WHERE delivered_at IS NULL", &[]).unwrap().get(0);
    assert!(error.contains("HTTP 503"), "{error}");

    // A bad configuration is a usage error (2), before any connection.
    let out = command(&[("DATABASE_URL", "x".into()), ("LEASE_SECS", "1".into())], &["--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lease_secs"));
}

/// Alerts say whom they are about: the budget's name, the per value and the
/// tenant reach every channel (the webhook's JSON, the Slack sentence, the
/// e-mail's subject and body), from the alert's own payload.
#[test]
fn every_channel_names_the_budget_the_per_value_and_the_tenant() {
    let cluster = TestCluster::start("notify_whom", &[]);
    let mut db = cluster.database_with_extension("whom");
    create_listener_role(&mut db);
    let http = HttpReceiver::start();
    let smtp = SmtpSink::start();
    let routes = serde_json::json!({"webhooks": [http.url("/hook")], "slack": [http.url("/slack")], "emails": ["ops@example.com"]});
    db.execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds, notify)
         VALUES ('acme developers', 1, 'total', 'acme', 'user_id', '{100}', $1::text::jsonb),
                ('each tenant', 1, 'total', NULL, 'tenant_id', '{100}', $1::text::jsonb)",
        &[&routes.to_string()],
    )
    .unwrap();
    db.batch_execute(
        "INSERT INTO llm_cost.usage (occurred_at, provider, model, cost, tenant_id, user_id)
         VALUES ('2026-03-10 12:00 UTC', 'x', 'y', 1.25, 'acme', 'alice')",
    )
    .unwrap();
    let out = command(&base_env(&cluster, "whom", &smtp), &["--once"]).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{out:?}");

    for (budget, whom, per_value, per_line) in [
        ("acme developers", "(user alice, tenant acme)", "alice", "Per user: alice"),
        ("each tenant", "(tenant acme)", "acme", "Per tenant: acme"),
    ] {
        let id: i64 = db
            .query_one(
                "SELECT n.id FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id
                  WHERE b.name = $1",
                &[&budget],
            )
            .unwrap()
            .get(0);
        let hook = http.to("/hook").into_iter().find(|q| q.json()["id"].as_i64() == Some(id)).unwrap();
        let body = hook.json();
        for (key, value) in [("budget_name", budget), ("per_value", per_value), ("tenant_id", "acme")] {
            assert_eq!(body[key], value, "{key} in {body}");
            assert_eq!(body["payload"][key], value, "payload.{key} in {body}");
        }
        let slack = http
            .to("/slack")
            .into_iter()
            .find(|q| q.json()["text"].as_str().unwrap().ends_with(&format!("#{id})")))
            .unwrap();
        assert_eq!(
            slack.json()["text"],
            format!("Budget \"{budget}\" {whom} is over 125.00% of its total budget: 1.25 of 1 USD spent (alert threshold 100%). (llm_cost notification #{id})")
        );
        let mail = smtp
            .mails()
            .into_iter()
            .find(|m| m.header("Message-ID").as_deref() == Some(&format!("<llm-cost-notification-{id}@localhost>")))
            .unwrap();
        assert_eq!(
            mail.header("Subject").unwrap(),
            format!("[llm_cost] Budget \"{budget}\" {whom} exceeded (125.00%)")
        );
        assert!(mail.data.contains(&format!("\r\n\r\nBudget \"{budget}\" {whom} is over 125.00%")), "{}", mail.data);
        for line in [format!("Budget: {budget}"), per_line.to_string(), "Tenant: acme".to_string()] {
            assert!(mail.data.contains(&format!("\r\n{line}\r\n")), "{line:?} in {}", mail.data);
        }
    }
}
