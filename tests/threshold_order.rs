//! Thresholds crossed by many clients at once fire in the right transaction.
//!
//! `tests/budgets.rs` checks that each threshold spend reached fired exactly
//! once. This checks *when*: the alert must be queued by the transaction whose
//! commit takes the total across the threshold, and by no other. With
//! `track_commit_timestamp` every row of the ledger and every alert carries the
//! time its transaction committed. Transactions that add to the same running
//! total commit one after another (the total's row stays locked until the
//! commit is durable), so for one budget key that timestamp is the commit
//! order. For every alert, the spend of the key's rows committed up to and
//! including the alert's transaction must have reached the threshold, and the
//! spend committed strictly before it must not have.

mod common;

use common::{thresholds_not_fired_exactly_once, TestCluster};

/// A tiny deterministic generator (no dependency, same schedule every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const CLIENTS: u64 = 32;
const TRANSACTIONS: u64 = 120;
const TENANTS: u64 = 4;
const USERS_PER_TENANT: u64 = 8;

/// One client's transactions: single rows, several rows with a savepoint that
/// is sometimes rolled back, and whole transactions that roll back.
fn run_client(conn: String, client: u64) {
    let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
    let mut rng = Lcg(client * 7919 + 1);
    let tenant = client % TENANTS;
    let row = |rng: &mut Lcg| {
        let user = rng.next(USERS_PER_TENANT);
        let cents = 1 + rng.next(9);
        format!(
            "INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, cost, tenant_id, user_id) \
             VALUES ('2026-05-05 12:00+00', 'openai', 'gpt-4o', 1000, 0.0{cents}, 't{tenant}', 't{tenant}-u{user}');"
        )
    };
    for _ in 0..TRANSACTIONS {
        let sql = match rng.next(6) {
            0..=2 => row(&mut rng),
            3 => format!("BEGIN; {} {} COMMIT;", row(&mut rng), row(&mut rng)),
            4 => format!(
                "BEGIN; {} SAVEPOINT s; {} {} {} COMMIT;",
                row(&mut rng),
                row(&mut rng),
                if rng.next(2) == 0 { "ROLLBACK TO SAVEPOINT s;" } else { "RELEASE SAVEPOINT s;" },
                row(&mut rng)
            ),
            _ => format!("BEGIN; {} ROLLBACK;", row(&mut rng)),
        };
        c.batch_execute(&sql).unwrap_or_else(|e| panic!("client {client}: {sql}: {e}"));
    }
}

#[test]
fn each_threshold_fires_in_the_transaction_whose_commit_crosses_it() {
    let cluster = TestCluster::start("threshold_order", &["max_connections = 80", "track_commit_timestamp = on"]);
    let mut c = cluster.database_with_extension("ordering");
    // Expected spend: 32 clients x 120 transactions x ~1.25 committed rows x
    // $0.05 = ~$240 in all, ~$60 per tenant, ~$7.5 per user. Thresholds every 10% up
    // to 150% of amounts below those, so every key crosses many of them, most
    // while other clients are writing to the same total.
    c.batch_execute(
        "INSERT INTO llm_cost.budgets (name, amount, period, thresholds)
              VALUES ('shared', 150, 'day', ARRAY(SELECT generate_series(10, 150, 10))::numeric[]);
         INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, thresholds)
              SELECT 'tenant t' || g, 35, 'day', 't' || g, ARRAY(SELECT generate_series(10, 150, 10))::numeric[]
                FROM generate_series(0, 3) g;
         INSERT INTO llm_cost.budgets (name, amount, period, per, thresholds)
              VALUES ('every user', 4, 'day', 'user_id', '{25, 50, 75, 100, 125}');",
    )
    .unwrap();

    let handles: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let conn = cluster.conn_string("ordering");
            std::thread::spawn(move || run_client(conn, client))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    let count = |c: &mut postgres::Client, sql: &str| -> i64 { c.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.budget_spend_drift"), 0);
    assert_eq!(thresholds_not_fired_exactly_once(&mut c), 0, "a threshold reached did not fire exactly once");
    assert_eq!(count(&mut c, "SELECT count(*) FROM llm_cost.usage WHERE pg_xact_commit_timestamp(xmin) IS NULL"), 0);

    // The test has teeth only if many thresholds were crossed under contention.
    let fired = count(&mut c, "SELECT count(*) FROM llm_cost.notifications WHERE budget_id IS NOT NULL");
    let shared_fired = count(
        &mut c,
        "SELECT count(*) FROM llm_cost.notifications n JOIN llm_cost.budgets b ON b.id = n.budget_id WHERE b.name = 'shared'",
    );
    assert!(shared_fired >= 13, "the shared budget crossed only {shared_fired} thresholds");
    assert!(fired >= 13 + 4 * 13 + 32 * 4, "only {fired} alerts: too few crossings to test");
    // ... and the writers' own slots (the escrow path, src/budgets/escrow.rs) took part
    let escrowed = count(
        &mut c,
        "SELECT coalesce(sum(s.calls), 0)::bigint FROM llm_cost.budget_spend_slots s
           JOIN llm_cost.budgets b ON b.id = s.budget_id WHERE b.name = 'shared' AND s.slot <> 0",
    );
    assert!(escrowed > 0, "no call of the shared budget went through a writer's own slot");

    // Every alert: spend committed up to its transaction >= the threshold's
    // level, spend committed before it < that level.
    let wrong: Vec<String> = c
        .query(
            "WITH spend AS (
                 SELECT b.id AS budget_id,
                        CASE WHEN b.per = 'user_id' THEN u.user_id END AS per_value,
                        u.cost, pg_xact_commit_timestamp(u.xmin) AS committed
                   FROM llm_cost.usage AS u
                   JOIN llm_cost.budgets AS b ON b.tenant_id IS NULL OR b.tenant_id = u.tenant_id),
             alerts AS (
                 SELECT n.id, n.budget_id, n.per_value, n.threshold, b.amount * n.threshold / 100 AS level,
                        pg_xact_commit_timestamp(n.xmin) AS committed
                   FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id)
             SELECT format('alert %s (budget %s, %s, %s%%): level %s, spend at its commit %s, before it %s',
                           a.id, a.budget_id, a.per_value, a.threshold, a.level, at_commit, before_commit)
               FROM alerts AS a,
                    LATERAL (SELECT coalesce(sum(s.cost) FILTER (WHERE s.committed <= a.committed), 0) AS at_commit,
                                    coalesce(sum(s.cost) FILTER (WHERE s.committed < a.committed), 0) AS before_commit
                               FROM spend AS s
                              WHERE s.budget_id = a.budget_id AND s.per_value IS NOT DISTINCT FROM a.per_value) AS x
              WHERE a.committed IS NULL OR at_commit < a.level OR before_commit >= a.level
              ORDER BY a.id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(wrong.is_empty(), "alerts not queued by the crossing commit:\n{}", wrong.join("\n"));
}
