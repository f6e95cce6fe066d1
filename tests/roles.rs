//! Roles and privileges over real connections: llm_cost_writer inserts and
//! prices calls and asks can_spend, nothing else; llm_cost_reader reads;
//! only llm_cost_admin changes prices, budgets and the queue; PUBLIC gets
//! nothing; SECURITY DEFINER functions cannot be hijacked through search_path.

mod common;

use common::{sqlstate, TestCluster};

fn connect_as(cluster: &TestCluster, db: &str, role: &str) -> postgres::Client {
    let mut c = cluster.connect_as(db, role);
    // Non-admin roles work for one tenant (row-level security; tests/tenancy.rs).
    c.batch_execute("SET llm_cost.tenant_id = 'acme'").unwrap();
    c
}

fn denied(c: &mut postgres::Client, sql: &str) {
    match c.batch_execute(sql) {
        Ok(()) => panic!("allowed, expected permission denied: {sql}"),
        Err(e) => assert_eq!(sqlstate(&e), "42501", "{sql}: {e:?}"),
    }
}

fn allowed(c: &mut postgres::Client, sql: &str) {
    c.batch_execute(sql).unwrap_or_else(|e| panic!("denied, expected allowed: {sql}: {e:?}"));
}

#[test]
fn each_role_can_do_its_job_and_nothing_else() {
    let cluster = TestCluster::start("roles", &[]);
    let mut su = cluster.database_with_extension("roles");
    su.batch_execute(
        "CREATE ROLE app LOGIN; GRANT llm_cost_writer TO app;
         CREATE ROLE dashboards LOGIN; GRANT llm_cost_reader TO dashboards;
         CREATE ROLE finops LOGIN; GRANT llm_cost_admin TO finops;
         CREATE ROLE stranger LOGIN;
         INSERT INTO llm_cost.budgets (name, amount, period, thresholds, tenant_id) VALUES ('acme small', 0.01, 'month', '{50, 100}', 'acme');",
    )
    .unwrap();

    // the writer: insert, price, ask; its inserts keep budgets and raise alerts
    let mut app = connect_as(&cluster, "roles", "app");
    allowed(&mut app, "INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens) VALUES ('openai', 'gpt-4o', 1000, 100)");
    allowed(&mut app, "INSERT INTO llm_cost.usage (provider, model, raw_usage) VALUES ('anthropic', 'claude-sonnet-4-5', '{\"input_tokens\": 4000, \"output_tokens\": 900}')");
    allowed(
        &mut app,
        "INSERT INTO llm_cost.resource_usage (resource_type, quantity, unit) VALUES ('cpu_core_hours', 2, 'core_hour')",
    );
    allowed(&mut app, "SELECT llm_cost.llm_cost('openai', 'gpt-4o', 1, 1)");
    allowed(&mut app, "SELECT llm_cost.cost_breakdown('openai', 'gpt-4o', 1, 1)");
    let may: bool = app.query_one("SELECT llm_cost.can_spend(0.01)", &[]).unwrap().get(0);
    assert!(may, "no hard limit: can_spend is true");
    allowed(&mut app, "SELECT * FROM llm_cost.check_spend(0.01)");
    for sql in [
        "SELECT count(*) FROM llm_cost.usage",
        "SELECT * FROM llm_cost.budget_spend",
        "SELECT * FROM llm_cost.prices LIMIT 1",
        "UPDATE llm_cost.usage SET cost = 0",
        "DELETE FROM llm_cost.usage",
        "INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('mine', 1000, 'month')",
        "SELECT llm_cost.set_price('openai', 'gpt-4o', 0, 0)",
        "SELECT * FROM llm_cost.claim_notifications(10)",
        "SELECT * FROM llm_cost.cost_summary(now() - interval '1 day', now())",
        "SELECT llm_cost.refresh_rollups()",
    ] {
        denied(&mut app, sql);
    }
    let (spent, calls, alerts): (String, i64, i64) = {
        let r = su
            .query_one(
                "SELECT spent::text, calls, (SELECT count(*) FROM llm_cost.notifications) FROM llm_cost.budget_spend",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    let ledger: String = su.query_one("SELECT sum(cost)::text FROM llm_cost.usage", &[]).unwrap().get(0);
    assert_eq!((spent, calls), (ledger, 2), "the writer's inserts count against budgets");
    assert_eq!(alerts, 2, "and cross its thresholds");

    // the reader: tables, views, analytics, the report; no changes
    let mut dash = connect_as(&cluster, "roles", "dashboards");
    for sql in [
        "SELECT count(*) FROM llm_cost.usage",
        "SELECT * FROM llm_cost.budget_status",
        "SELECT * FROM llm_cost.daily_costs",
        "SELECT * FROM llm_cost.cost_summary(now() - interval '1 day', now() + interval '1 hour')",
        "SELECT * FROM llm_cost.cost_by('model', now() - interval '1 day', now() + interval '1 hour')",
        "SELECT * FROM llm_cost.forecast(1)",
        "SELECT llm_cost.report_html(now() - interval '1 day', now())",
        "SELECT * FROM llm_cost.notifications",
    ] {
        allowed(&mut dash, sql);
    }
    for sql in [
        "INSERT INTO llm_cost.usage (provider, model) VALUES ('openai', 'gpt-4o')",
        "UPDATE llm_cost.budgets SET amount = 1000",
        "SELECT llm_cost.set_price('openai', 'gpt-4o', 0, 0)",
        "SELECT * FROM llm_cost.claim_notifications(10)",
        "SELECT llm_cost.ack_notification(1)",
        "SELECT llm_cost.refresh_rollups()",
        "CALL llm_cost.refresh_rollups_in_batches()",
    ] {
        denied(&mut dash, sql);
    }

    // the admin: prices, budgets, the queue, rollups
    let mut finops = connect_as(&cluster, "roles", "finops");
    for sql in [
        "SELECT llm_cost.set_price('acme', 'router', 1, 2)",
        "INSERT INTO llm_cost.budgets (name, amount, period, tenant_id) VALUES ('acme', 100, 'month', 'acme')",
        "SELECT * FROM llm_cost.claim_notifications(10)",
        "SELECT llm_cost.refresh_rollups()",
        "SELECT llm_cost.reprice(now() - interval '1 day', now() + interval '1 hour')",
        "DELETE FROM llm_cost.usage WHERE model = 'claude-sonnet-4-5'",
    ] {
        allowed(&mut finops, sql);
    }

    // everyone else: nothing at all
    let mut stranger = connect_as(&cluster, "roles", "stranger");
    for sql in [
        "SELECT llm_cost.llm_cost('openai', 'gpt-4o', 1, 1)",
        "INSERT INTO llm_cost.usage (provider, model) VALUES ('openai', 'gpt-4o')",
        "SELECT * FROM llm_cost.budget_status",
        "SELECT llm_cost.can_spend(1)",
    ] {
        denied(&mut stranger, sql);
    }
    let public_grants: i64 = su
        .query_one(
            "SELECT count(*) FROM (
                 SELECT (aclexplode(relacl)).grantee FROM pg_class WHERE relnamespace = 'llm_cost'::regnamespace
                 UNION ALL
                 SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE pronamespace = 'llm_cost'::regnamespace) AS g
              WHERE grantee = 0",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(public_grants, 0, "PUBLIC has no privilege on any table, view or function");
}

#[test]
fn roles_survive_recreating_the_extension_and_a_second_database() {
    let cluster = TestCluster::start("roles_again", &[]);
    let mut first = cluster.database_with_extension("one");
    first.batch_execute("DROP EXTENSION llm_cost; CREATE EXTENSION llm_cost;").unwrap();
    let _second = cluster.database_with_extension("two");
    let roles: i64 = first
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('llm_cost_writer', 'llm_cost_reader', 'llm_cost_admin')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(roles, 3);
}

#[test]
fn security_definer_functions_cannot_be_hijacked_through_search_path() {
    let cluster = TestCluster::start("roles_hijack", &[]);
    let mut su = cluster.database_with_extension("hijack");
    su.batch_execute(
        "CREATE ROLE app LOGIN; GRANT llm_cost_writer TO app;
         CREATE SCHEMA trap AUTHORIZATION app;
         INSERT INTO llm_cost.budgets (name, amount, period, hard_limit) VALUES ('capped', 1, 'month', true);",
    )
    .unwrap();
    // every SECURITY DEFINER function pins its search_path
    let unpinned: Vec<String> = su
        .query(
            "SELECT p.oid::regprocedure::text FROM pg_proc AS p
              WHERE p.pronamespace = 'llm_cost'::regnamespace AND p.prosecdef
                AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(unpinned.is_empty(), "SECURITY DEFINER without a pinned search_path: {unpinned:?}");
    // the writer plants operators and functions named like the ones our code uses
    let mut app = connect_as(&cluster, "hijack", "app");
    app.batch_execute(
        "CREATE FUNCTION trap.hijacked(numeric, numeric) RETURNS boolean LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'hijacked: running as %', current_user; END $$;
         CREATE OPERATOR trap.> (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = trap.hijacked);
         CREATE OPERATOR trap.+ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = trap.hijacked);
         CREATE FUNCTION trap.coalesce_spend(numeric) RETURNS numeric LANGUAGE sql AS 'SELECT 0';
         CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;
         SET search_path = trap, pg_catalog, llm_cost, public;",
    )
    .unwrap();
    // the trap is live: unqualified SQL in this session does run it
    let sprung = app.batch_execute("SELECT 1::numeric > 2::numeric").unwrap_err();
    assert!(format!("{sprung:?}").contains("hijacked"), "{sprung:?}");
    let may: bool = app
        .query_one("SELECT llm_cost.can_spend(5)", &[])
        .unwrap_or_else(|e| panic!("can_spend was hijacked: {e:?}"))
        .get(0);
    assert!(!may, "the hard limit still applies: $5 > $1");
    app.batch_execute("INSERT INTO llm_cost.resource_usage (resource_type, quantity, unit, cost) VALUES ('gpu_hours', 1, 'gpu_hour', 2)")
        .unwrap_or_else(|e| panic!("the resource triggers were hijacked: {e:?}"));
    // inserts whose spend is written at commit, as the extension's owner, by Rust code running SQL
    app.batch_execute("INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens) VALUES ('openai', 'gpt-4o', 100000, 10000)")
        .unwrap_or_else(|e| panic!("the spend flush was hijacked: {e:?}"));
    app.batch_execute("BEGIN; INSERT INTO llm_cost.usage (provider, model, input_tokens) VALUES ('openai', 'gpt-4o', 100000); COMMIT;")
        .unwrap_or_else(|e| panic!("the spend flush was hijacked: {e:?}"));
    let (spent, ledger, alerts): (Option<String>, Option<String>, i64) = {
        let r = su
            .query_one(
                "SELECT (SELECT spent::text FROM llm_cost.budget_spend),
                        ((SELECT sum(cost) FROM llm_cost.usage) + (SELECT sum(cost) FROM llm_cost.resource_usage))::text,
                        (SELECT count(*) FROM llm_cost.notifications WHERE kind LIKE 'budget%')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(spent, ledger, "the spend was written exactly (model and compute spend)");
    assert!(alerts >= 1, "and the budget's threshold alert queued");
}
