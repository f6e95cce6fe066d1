-- Tenant isolation with row-level security. A session names its tenant with
--   SET llm_cost.tenant_id = 'acme';
-- and then, for llm_cost_writer and llm_cost_reader (and roles granted them),
-- every table of tenant data shows and accepts only acme's rows. Without the
-- setting they see none. Views are security_invoker and the analytics, export
-- and report functions run as their caller, so they all inherit the same
-- filter; the few SECURITY DEFINER functions (check_spend) apply it
-- themselves. llm_cost_admin sees and changes every row; the owner and
-- superusers bypass row-level security as usual, which is what the
-- extension's own triggers rely on (they run as the owner).
--
-- Rows with no tenant_id belong to no tenant: only the admin sees them.
-- Prices, aliases, models and rollup_state are not tenant data.
--
-- The setting is the application's statement of whom it serves; a role that
-- may run arbitrary SQL can SET it to any tenant. Give mutually untrusted
-- tenants separate databases, or separate login roles with policies of your
-- own on top of these.

-- Each table of tenant data: the admin sees every row; readers and writers
-- the rows of their session's tenant. Rows of a budget (its spend, its
-- alerts) belong to the budget's tenant.
DO $$
DECLARE
    t text;
    own_rows text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage', 'resource_usage', 'budgets', 'usage_daily', 'usage_daily_costs', 'usage_rollup',
                             'usage_daily_latency', 'usage_hourly_latency', 'budget_spend_slots', 'retired_spend',
                             'notifications', 'window_spend', 'budget_windows', 'budget_holds',
                             'reservations'] LOOP
        own_rows := CASE WHEN t IN ('budget_spend_slots', 'retired_spend', 'notifications', 'window_spend',
                                    'budget_windows', 'budget_holds')
                         THEN 'EXISTS (SELECT FROM llm_cost.budgets AS b '
                              'WHERE b.id = budget_id AND b.tenant_id = llm_cost.current_tenant())'
                         ELSE 'tenant_id = llm_cost.current_tenant()' END;
        EXECUTE format('ALTER TABLE llm_cost.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY admin_all ON llm_cost.%I TO llm_cost_admin USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY own_tenant ON llm_cost.%I TO llm_cost_reader, llm_cost_writer '
                       'USING (%s) WITH CHECK (%s)', t, own_rows, own_rows);
    END LOOP;
END $$;

COMMENT ON POLICY own_tenant ON llm_cost.usage IS
  'Readers and writers see and insert only the rows of their session''s tenant (SET llm_cost.tenant_id).';
COMMENT ON POLICY admin_all ON llm_cost.usage IS 'The admin sees and changes every tenant''s rows.';
