-- llm_cost demo, part 3: the same ledger seen by two tenants' dashboards, and
-- retiring old raw rows while every figure stays. Run by scripts/demo.sh after
-- analytics.sql (same throwaway server).
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo
\echo '== Tenants: a dashboard role per tenant (row-level security, SET llm_cost.tenant_id)'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_dashboard') THEN
        CREATE ROLE demo_dashboard NOLOGIN;
    END IF;
END $$;
GRANT llm_cost_reader TO demo_dashboard;
SET ROLE demo_dashboard;
SELECT 'no tenant set' AS session, count(*) AS calls_visible FROM llm_cost.usage;
SET llm_cost.tenant_id = 'initech';
SELECT 'initech' AS session, '$' || to_char(total_cost, 'FM999,990.00') AS total_cost, calls
  FROM llm_cost.cost_summary(now() - interval '30 days', now());
SELECT value AS tenants_initech_can_see FROM llm_cost.cost_by('tenant_id', now() - interval '30 days', now());
SET llm_cost.tenant_id = 'globex';
SELECT 'globex' AS session, '$' || to_char(total_cost, 'FM999,990.00') AS total_cost, calls
  FROM llm_cost.cost_summary(now() - interval '30 days', now());
RESET llm_cost.tenant_id;
RESET ROLE;

\echo
\echo '== Retention: retire the raw rows of the days before two weeks ago (llm_cost.retire_usage)'
CREATE TEMP TABLE figures_before AS
SELECT (SELECT total_cost FROM llm_cost.cost_summary(date_trunc('day', now() - interval '31 days', 'UTC'), now())) AS total_cost,
       (SELECT spent FROM llm_cost.budget_status WHERE name = 'initech monthly') AS initech_spent;
SELECT llm_cost.retire_usage(date_trunc('day', now() - interval '14 days', 'UTC')) AS rows_retired;
SELECT count(*) AS raw_rows_left FROM llm_cost.usage;
SELECT b.total_cost = a.total_cost AS "30-day total unchanged", b.initech_spent = a.initech_spent AS "budget spend unchanged",
       (SELECT count(*) FROM llm_cost.budget_spend_drift) AS drift
  FROM figures_before AS b,
       (SELECT (SELECT total_cost FROM llm_cost.cost_summary(date_trunc('day', now() - interval '31 days', 'UTC'), now())) AS total_cost,
               (SELECT spent FROM llm_cost.budget_status WHERE name = 'initech monthly') AS initech_spent) AS a;
