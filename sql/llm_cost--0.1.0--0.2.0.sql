-- llm_cost 0.1.0 -> 0.2.0: tenant isolation.
-- Edited with the schema until 0.2.0 is released, frozen from then on (RELEASING.md).
-- tests/upgrade.rs checks that 0.1.0 plus this script equals a fresh 0.2.0
-- install, object for object, and that the data survives.

-- The session's tenant, and who sees every tenant (as in sql/schema.sql).
-- The tenant a session works for: the setting llm_cost.tenant_id, NULL when
-- unset or empty. Row-level security (sql/tenant_isolation.sql) limits roles
-- other than the admin to this tenant's rows, and new usage rows take it as
-- their tenant_id when the INSERT names none.
CREATE FUNCTION llm_cost.current_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN nullif(pg_catalog.current_setting('llm_cost.tenant_id', true), '');
COMMENT ON FUNCTION llm_cost.current_tenant() IS
  'The tenant of this session: SET llm_cost.tenant_id = ''acme''. NULL when unset. Non-admin roles see and write only its rows; new usage rows default to it.';

-- Whether this session may see every tenant: its login role is the admin
-- (or owns the extension, or is a superuser). Used by the SECURITY DEFINER
-- functions, which cannot rely on row-level security (they run as the owner);
-- session_user rather than current_user because inside them current_user is
-- the owner, and a session can always take its login role's rights back.
CREATE FUNCTION llm_cost._sees_all_tenants() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN pg_catalog.pg_has_role(session_user, 'llm_cost_admin', 'USAGE')
    OR pg_catalog.pg_has_role(session_user,
                              (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'llm_cost'), 'USAGE');
COMMENT ON FUNCTION llm_cost._sees_all_tenants() IS
  'Internal: true when the session''s login role is llm_cost_admin, the extension''s owner or a superuser.';

REVOKE EXECUTE ON FUNCTION llm_cost.current_tenant(), llm_cost._sees_all_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.current_tenant(), llm_cost._sees_all_tenants()
    TO llm_cost_admin, llm_cost_reader, llm_cost_writer;

-- New usage rows take the session's tenant when the INSERT names none.
ALTER TABLE llm_cost.usage ALTER COLUMN tenant_id SET DEFAULT llm_cost.current_tenant();
ALTER TABLE llm_cost.resource_usage ALTER COLUMN tenant_id SET DEFAULT llm_cost.current_tenant();

-- Latency histograms per tenant. They are rollups: drop them, create them as a
-- fresh install does, and roll the ledger's rolled-up rows into them again.
-- Out of the extension first: that also takes them out of its list of
-- tables pg_dump dumps (DROP TABLE alone would leave their OIDs behind there).
ALTER EXTENSION llm_cost DROP TABLE llm_cost.usage_daily_latency;
ALTER EXTENSION llm_cost DROP TABLE llm_cost.usage_hourly_latency;
DROP TABLE llm_cost.usage_daily_latency, llm_cost.usage_hourly_latency;
-- Per tenant too: row-level security hands each tenant its own histograms.
CREATE TABLE llm_cost.usage_daily_latency (
    day       date NOT NULL,
    tenant_id text,
    histogram bigint[] NOT NULL,
    CONSTRAINT usage_daily_latency_key UNIQUE NULLS NOT DISTINCT (day, tenant_id)
);
-- Histograms run to thousands of pairs; uncompressed they are read faster.
ALTER TABLE llm_cost.usage_daily_latency ALTER COLUMN histogram SET STORAGE EXTERNAL;
COMMENT ON TABLE llm_cost.usage_daily_latency IS
  'Exact latency histograms (see llm_cost.latency_histogram) per UTC day and tenant, for rolled-up rows.';

CREATE TABLE llm_cost.usage_hourly_latency (
    hour      timestamptz NOT NULL,
    tenant_id text,
    histogram bigint[] NOT NULL,
    CONSTRAINT usage_hourly_latency_key UNIQUE NULLS NOT DISTINCT (hour, tenant_id)
);
ALTER TABLE llm_cost.usage_hourly_latency ALTER COLUMN histogram SET STORAGE EXTERNAL;
COMMENT ON TABLE llm_cost.usage_hourly_latency IS 'Exact latency histograms per UTC hour and tenant, for rolled-up rows.';

SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_daily_latency', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.usage_hourly_latency', '');
REVOKE ALL ON llm_cost.usage_daily_latency, llm_cost.usage_hourly_latency FROM PUBLIC;
GRANT ALL ON llm_cost.usage_daily_latency, llm_cost.usage_hourly_latency TO llm_cost_admin;
GRANT SELECT ON llm_cost.usage_daily_latency, llm_cost.usage_hourly_latency TO llm_cost_reader;

CREATE OR REPLACE FUNCTION llm_cost._rollup_latency_sql(changed text, grain text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT format($sql$
    WITH changed AS (%1$s), deltas AS (
        SELECT %2$s AS bucket, c.tenant_id,
               llm_cost.latency_histogram(c.latency_ms) FILTER (WHERE c.sign = 1) AS added,
               llm_cost.latency_histogram(c.latency_ms) FILTER (WHERE c.sign = -1) AS removed
          FROM changed AS c
         WHERE c.latency_ms IS NOT NULL
         GROUP BY 1, 2
    )
    INSERT INTO llm_cost.%3$I AS l (%4$I, tenant_id, histogram)
    SELECT bucket, tenant_id, llm_cost.latency_histogram_add(added, removed, -1)  -- may hold negative counts
      FROM deltas
     ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT %5$I DO UPDATE
       SET histogram = llm_cost.latency_histogram_add(l.histogram, excluded.histogram, 1)
    $sql$, changed, llm_cost._rollup_bucket_sql(grain),
           CASE grain WHEN 'day' THEN 'usage_daily_latency' WHEN 'hour' THEN 'usage_hourly_latency' END, grain,
           CASE grain WHEN 'day' THEN 'usage_daily_latency_key' WHEN 'hour' THEN 'usage_hourly_latency_key' END)
$fn$;
COMMENT ON FUNCTION llm_cost._rollup_latency_sql(text, text) IS 'Internal: the statement adding signed usage rows'' latencies to usage_daily_latency or usage_hourly_latency.';

DO $$
DECLARE
    grain text;
BEGIN
    FOREACH grain IN ARRAY ARRAY['day', 'hour'] LOOP
        EXECUTE llm_cost._rollup_latency_sql('SELECT 1 AS sign, u.* FROM llm_cost.usage AS u WHERE u.id > $1 AND u.id <= $2', grain)
          USING 0::bigint, llm_cost.rollup_watermark();
    END LOOP;
END $$;

-- check_spend applies the tenant rule itself (it runs as the owner).
CREATE OR REPLACE FUNCTION llm_cost.check_spend(estimated_cost numeric DEFAULT 0, tenant_id text DEFAULT NULL,
                                     project_id text DEFAULT NULL, user_id text DEFAULT NULL,
                                     agent_id text DEFAULT NULL, provider text DEFAULT NULL,
                                     model text DEFAULT NULL, session_id text DEFAULT NULL,
                                     at timestamptz DEFAULT now())
RETURNS TABLE (budget_id bigint, name text, per_value text, period_start timestamptz, period_end timestamptz,
               amount numeric, spent numeric, remaining numeric, headroom_after numeric,
               hard_limit boolean, would_exceed boolean)
LANGUAGE plpgsql VOLATILE AS $$     -- volatile: it may write this transaction's pending spend first
DECLARE
    session_tenant text := llm_cost.current_tenant();
BEGIN
    PERFORM llm_cost.flush_spend();
    IF estimated_cost IS NULL OR NOT llm_cost.is_valid_amount(estimated_cost) THEN
        RAISE EXCEPTION 'llm_cost.check_spend: estimated_cost must be a finite, non-negative number (got %)',
            coalesce(estimated_cost::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A call without a tenant is recorded for the session's tenant (the
    -- column default), so it counts against that tenant's budgets.
    tenant_id := coalesce(check_spend.tenant_id, session_tenant);
    -- This runs as the owner, past row-level security: apply the same rule
    -- here. A non-admin session sees only its own tenant's budgets (and the
    -- tenant-wide ones that cover it), and none without a tenant.
    IF NOT llm_cost._sees_all_tenants() THEN
        IF session_tenant IS NULL THEN
            RETURN;
        END IF;
        IF tenant_id IS DISTINCT FROM session_tenant THEN
            RAISE EXCEPTION 'llm_cost.check_spend: this session works for tenant %, not %', session_tenant, tenant_id
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Leave tenant_id out, or SET llm_cost.tenant_id first.';
        END IF;
    END IF;
    RETURN QUERY
    WITH masks AS (SELECT DISTINCT b.scope_mask FROM llm_cost.budgets AS b WHERE b.enabled),
    matched AS (
        SELECT b.*,
               llm_cost.per_value(b.per, check_spend.tenant_id, check_spend.project_id, check_spend.user_id,
                                  check_spend.agent_id, check_spend.session_id, NULL, NULL,
                                  check_spend.provider, check_spend.model) AS the_per_value
          FROM masks AS m
          JOIN llm_cost.budgets AS b
            ON b.enabled AND b.scope_mask = m.scope_mask
           AND b.scope_key = llm_cost.scope_key(m.scope_mask, check_spend.tenant_id, check_spend.project_id,
                                                check_spend.user_id, check_spend.agent_id, check_spend.session_id,
                                                check_spend.provider, check_spend.model)
         WHERE b.includes IN ('all', 'llm'))
    SELECT b.id, b.name, nullif(b.the_per_value, ''),
           llm_cost.period_start(b.period, b.timezone, at), llm_cost.period_end(b.period, b.timezone, at),
           b.amount, coalesce(s.spent, 0), b.amount - coalesce(s.spent, 0),
           b.amount - coalesce(s.spent, 0) - estimated_cost,
           b.hard_limit, coalesce(s.spent, 0) + estimated_cost > b.amount
      FROM matched AS b
      LEFT JOIN llm_cost.budget_spend AS s
        ON s.budget_id = b.id AND s.period_start = llm_cost.period_start(b.period, b.timezone, at)
       AND s.per_value = b.the_per_value
     WHERE b.the_per_value IS NOT NULL          -- a per budget needs that dimension to apply
     ORDER BY b.amount - coalesce(s.spent, 0) - estimated_cost, b.id;
END $$;
COMMENT ON FUNCTION llm_cost.check_spend(numeric, text, text, text, text, text, text, text, timestamptz) IS
  'The budgets a call with these dimensions would count against, with spent, remaining and the headroom left after estimated_cost; tightest first. tenant_id defaults to the session''s llm_cost.tenant_id; a non-admin session may only ask about its own tenant (budgets without a tenant that cover it included).';
ALTER FUNCTION llm_cost.check_spend(numeric, text, text, text, text, text, text, text, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Row-level security (as in sql/tenant_isolation.sql).
-- Tables whose rows carry a tenant_id.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage', 'resource_usage', 'budgets', 'usage_daily', 'usage_hourly',
                             'usage_daily_latency', 'usage_hourly_latency'] LOOP
        EXECUTE format('ALTER TABLE llm_cost.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY admin_all ON llm_cost.%I TO llm_cost_admin USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY own_tenant ON llm_cost.%I TO llm_cost_reader, llm_cost_writer '
                       'USING (tenant_id = llm_cost.current_tenant()) '
                       'WITH CHECK (tenant_id = llm_cost.current_tenant())', t);
    END LOOP;
END $$;

-- Tables that belong to a budget: visible with their budget.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['budget_spend', 'notifications'] LOOP
        EXECUTE format('ALTER TABLE llm_cost.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY admin_all ON llm_cost.%I TO llm_cost_admin USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY own_tenant ON llm_cost.%I TO llm_cost_reader, llm_cost_writer '
                       'USING (EXISTS (SELECT FROM llm_cost.budgets AS b '
                       'WHERE b.id = budget_id AND b.tenant_id = llm_cost.current_tenant()))', t);
    END LOOP;
END $$;

COMMENT ON POLICY own_tenant ON llm_cost.usage IS
  'Readers and writers see and insert only the rows of their session''s tenant (SET llm_cost.tenant_id).';
COMMENT ON POLICY admin_all ON llm_cost.usage IS 'The admin sees and changes every tenant''s rows.';
