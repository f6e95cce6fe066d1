//! Tenant isolation: with `SET llm_cost.tenant_id`, a reader or writer sees
//! and writes only that tenant's rows on every surface (tables, views,
//! analytics, exports, the HTML report, pre-call checks); without it, none.
//! Two tenants, acme and globex, plus a company-wide budget only the admin
//! sees. Every value of a tenant carries its name, so another tenant's data
//! showing up anywhere is found by a text search of what a surface returns.

mod common;

use common::{sqlstate, TestCluster};

const SETUP: &str = r#"
CREATE ROLE app LOGIN;       GRANT llm_cost_writer TO app;
CREATE ROLE dashboard LOGIN; GRANT llm_cost_reader TO dashboard;
SELECT llm_cost.set_resource_price('cpu', 'core-hour', 0.05, '2026-01-01');
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, per, thresholds, hard_limit)
VALUES ('company', 100, 'month', NULL, NULL, '{1}', false),
       ('acme cap', 2, 'total', 'acme', NULL, '{50,100}', true),
       ('acme per user', 1, 'month', 'acme', 'user_id', '{50}', false),
       ('globex cap', 3, 'total', 'globex', NULL, '{50,100}', true);
-- 30 days of calls for both tenants, some rolled up and some not. The data
-- hangs off now() because some surfaces show the recent past; what the test
-- asserts holds on any date: the caps are 'total' budgets that the six late
-- calls of each tenant (6 x $0.35) exceed by themselves, and the company
-- budget's 1% ($1) threshold is crossed by the late calls, whatever day of the
-- month it is.
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, latency_ms,
                            tenant_id, user_id, agent_id, project_id, execution_id, success)
SELECT now() - (g * 71 || ' minutes')::interval, 'openai', CASE WHEN g % 5 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END,
       2000 + g, 300 + g % 50, CASE WHEN t = 'acme' THEN 100 + g % 40 ELSE 900 + g % 300 END,
       t, t || '-user-' || g % 4, t || '-agent', t || '-project', t || '-exec-' || g % 3, g % 17 <> 0
  FROM generate_series(1, 600) AS g, unnest(ARRAY['acme', 'globex']) AS t;
INSERT INTO llm_cost.resource_usage (resource_type, quantity, tenant_id, execution_id)
VALUES ('cpu', 3, 'acme', 'acme-exec-1'), ('cpu', 5, 'globex', 'globex-exec-1');
SELECT llm_cost.refresh_rollups();
INSERT INTO llm_cost.usage (provider, model, input_tokens, output_tokens, latency_ms, tenant_id, user_id)
SELECT 'openai', 'gpt-4o', 100000, 10000, 70, t, t || '-user-late'
  FROM generate_series(1, 6), unnest(ARRAY['acme', 'globex']) AS t;
"#;

/// What each surface returns, as queries. A tenant's session must get rows
/// from each (its own) and none from the other tenant or the company.
const SURFACES: &[&str] = &[
    "SELECT * FROM llm_cost.usage",
    "SELECT * FROM llm_cost.resource_usage",
    "SELECT * FROM llm_cost.budgets",
    "SELECT s.*, b.name FROM llm_cost.budget_spend AS s JOIN llm_cost.budgets AS b ON b.id = s.budget_id",
    "SELECT n.*, b.name FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id",
    "SELECT * FROM llm_cost.usage_daily",
    "SELECT * FROM llm_cost.usage_rollup",
    "SELECT * FROM llm_cost.daily_cost_by('tenant_id', now() - interval '40 days', now() + interval '1 hour')",
    "SELECT * FROM llm_cost.usage_daily_latency",
    "SELECT * FROM llm_cost.usage_hourly_latency",
    "SELECT * FROM llm_cost.daily_costs",
    "SELECT * FROM llm_cost.recent_calls",
    "SELECT * FROM llm_cost.usage_export",
    "SELECT * FROM llm_cost.execution_costs",
    "SELECT * FROM llm_cost.budget_status",
    "SELECT * FROM llm_cost.usage_facts(now() - interval '40 days', now() + interval '1 hour')",
    "SELECT * FROM llm_cost.cost_by('user_id', now() - interval '40 days', now() + interval '1 hour')",
    "SELECT * FROM llm_cost.cost_by('tenant_id', now() - interval '40 days', now() + interval '1 hour')",
    "SELECT * FROM llm_cost.cost_by('agent_id', now() - interval '31 days' + interval '17 minutes', now())",
    "SELECT llm_cost.export_json(now() - interval '40 days', now() + interval '1 hour') AS export",
    "SELECT llm_cost.report_html(now() - interval '40 days', now() + interval '1 hour') AS report",
    "SELECT b.name, f.* FROM llm_cost.budgets AS b, llm_cost.forecast(b.id) AS f",
    "SELECT * FROM llm_cost.check_spend(0.5)",
];

/// Runs `sql` as `role` for `tenant` (None: the setting unset) and returns
/// each row as JSON text.
fn rows_as(
    c: &mut postgres::Client,
    role: &str,
    tenant: Option<&str>,
    sql: &str,
) -> Result<Vec<String>, postgres::Error> {
    c.batch_execute("RESET ROLE; RESET llm_cost.tenant_id").unwrap();
    if let Some(t) = tenant {
        c.batch_execute(&format!("SET llm_cost.tenant_id = '{t}'")).unwrap();
    }
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    let rows = c.query(&format!("SELECT row_to_json(x)::text FROM ({sql}) AS x"), &[]);
    c.batch_execute("RESET ROLE; RESET llm_cost.tenant_id").unwrap();
    Ok(rows?.iter().map(|r| r.get(0)).collect())
}

#[test]
fn each_tenant_sees_only_its_own_rows_on_every_surface() {
    let cluster = TestCluster::start("tenancy", &[]);
    let mut c = cluster.database_with_extension("tenancy");
    c.batch_execute(SETUP).unwrap();
    let company_alerts: i64 = c
        .query_one("SELECT count(*) FROM llm_cost.notifications AS n JOIN llm_cost.budgets AS b ON b.id = n.budget_id WHERE b.name = 'company'", &[])
        .unwrap()
        .get(0);
    assert!(company_alerts > 0, "the company budget fired (so hiding it is tested)");

    for surface in SURFACES {
        // The admin sees both tenants (check_spend without a tenant: only company-wide budgets).
        let all = rows_as(&mut c, "llm_cost_admin", None, surface).unwrap().join("\n");
        if !surface.contains("check_spend") {
            assert!(all.contains("acme") && all.contains("globex"), "admin sees both tenants in {surface}");
        }
        for (tenant, other) in [("acme", "globex"), ("globex", "acme")] {
            let seen = rows_as(&mut c, "llm_cost_reader", Some(tenant), surface).unwrap().join("\n");
            assert!(seen.contains(tenant), "{tenant} sees its rows in {surface}");
            assert!(
                !seen.contains(other),
                "{tenant} sees {other}'s rows in {surface}:\n{}",
                &seen[..seen.len().min(2000)]
            );
            if !surface.contains("check_spend") {
                assert!(!seen.contains("company"), "{tenant} sees the company budget in {surface}");
            }
        }
        let unset = rows_as(&mut c, "llm_cost_reader", None, surface).unwrap().join("\n");
        assert!(!unset.contains("acme") && !unset.contains("globex"), "no tenant set: {surface} shows tenant rows");
    }

    // Figures, not only rows: a tenant's summary equals its own rows' totals.
    for tenant in ["acme", "globex"] {
        let expected = c
            .query_one(
                "SELECT sum(cost)::text, count(*), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms)
                   FROM llm_cost.usage WHERE tenant_id = $1",
                &[&tenant],
            )
            .unwrap();
        let (total, calls, p95): (String, i64, i32) = (expected.get(0), expected.get(1), expected.get(2));
        let seen = rows_as(
            &mut c,
            "llm_cost_reader",
            Some(tenant),
            "SELECT total_cost::text AS total, calls, p95_latency_ms FROM llm_cost.cost_summary(now() - interval '40 days', now() + interval '1 hour')",
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![format!(r#"{{"total":"{total}","calls":{calls},"p95_latency_ms":{p95}}}"#)],
            "{tenant}'s cost_summary"
        );
    }

    // Writers: inserts land in the session's tenant, never in another.
    let mut app = cluster.connect_as("tenancy", "app");
    let err =
        app.batch_execute("INSERT INTO llm_cost.usage (provider, model) VALUES ('openai', 'gpt-4o')").unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "no tenant set: the writer may not insert");
    app.batch_execute("SET llm_cost.tenant_id = 'acme'").unwrap();
    app.batch_execute(
        "INSERT INTO llm_cost.usage (provider, model, user_id) VALUES ('openai', 'gpt-4o', 'acme-by-default')",
    )
    .unwrap();
    let err = app
        .batch_execute("INSERT INTO llm_cost.usage (provider, model, tenant_id) VALUES ('openai', 'gpt-4o', 'globex')")
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "acme's writer may not insert for globex");
    let err = app
        .batch_execute(
            "INSERT INTO llm_cost.resource_usage (resource_type, quantity, tenant_id) VALUES ('cpu', 1, 'globex')",
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
    let defaulted: String =
        c.query_one("SELECT tenant_id FROM llm_cost.usage WHERE user_id = 'acme-by-default'", &[]).unwrap().get(0);
    assert_eq!(defaulted, "acme", "an insert without tenant_id takes the session's tenant");

    // Pre-call checks (SECURITY DEFINER, so they apply the rule themselves).
    let budgets: Vec<String> = app
        .query("SELECT name FROM llm_cost.check_spend(0.01) ORDER BY name", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(budgets, ["acme cap", "company"], "acme's writer checks acme's budgets and the company-wide one");
    let acme_over: bool = app.query_one("SELECT NOT llm_cost.can_spend(0.01)", &[]).unwrap().get(0);
    assert!(acme_over, "acme is over its hard limit");
    let err = app.query("SELECT * FROM llm_cost.check_spend(0.01, tenant_id => 'globex')", &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "acme's writer may not ask about globex");
    app.batch_execute("RESET llm_cost.tenant_id").unwrap();
    let none: i64 =
        app.query_one("SELECT count(*) FROM llm_cost.check_spend(0.01, tenant_id => 'acme')", &[]).unwrap().get(0);
    assert_eq!(none, 0, "no tenant set: check_spend shows no budget");

    // The admin (a login role granted llm_cost_admin) still sees every budget.
    c.batch_execute("CREATE ROLE ops LOGIN; GRANT llm_cost_admin TO ops").unwrap();
    let mut ops = cluster.connect_as("tenancy", "ops");
    let n: i64 =
        ops.query_one("SELECT count(*) FROM llm_cost.check_spend(0.01, tenant_id => 'globex')", &[]).unwrap().get(0);
    assert_eq!(n, 2, "the admin checks globex's budgets (globex cap and company)");
    let tenants: i64 = ops.query_one("SELECT count(DISTINCT tenant_id) FROM llm_cost.usage", &[]).unwrap().get(0);
    assert_eq!(tenants, 2);

    // A reader writes nothing, whatever its tenant.
    let mut dashboard = cluster.connect_as("tenancy", "dashboard");
    dashboard.batch_execute("SET llm_cost.tenant_id = 'acme'").unwrap();
    let err = dashboard
        .batch_execute("INSERT INTO llm_cost.usage (provider, model) VALUES ('openai', 'gpt-4o')")
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
    let err = dashboard.batch_execute("UPDATE llm_cost.budgets SET amount = 100").unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
}
