-- llm_cost 0.1.0 -> 0.2.0: tenant isolation, retention, and a cheaper commit-time budget write.
-- Edited with the schema until 0.2.0 is released, frozen from then on (RELEASING.md).
-- tests/upgrade.rs checks that 0.1.0 plus this script equals a fresh 0.2.0
-- install, object for object, and that the data survives.

-- The CHECK constraints' predicates become C functions: as SQL they were
-- inlined into every constraint at the start of every INSERT (sql/schema.sql).
CREATE OR REPLACE FUNCTION llm_cost.is_service_tier(tier text) RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'llm_cost_is_service_tier';
CREATE OR REPLACE FUNCTION llm_cost.is_valid_amount(price numeric) RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'llm_cost_is_valid_amount';

-- The session's tenant, and who sees every tenant (as in sql/schema.sql).
-- The tenant a session works for: the setting llm_cost.tenant_id, NULL when
-- unset or empty. Row-level security (sql/tenant_isolation.sql) limits roles
-- other than the admin to this tenant's rows, and new usage rows take it as
-- their tenant_id when the INSERT names none.
CREATE FUNCTION llm_cost.current_tenant() RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'llm_cost_current_tenant';
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

-- Retention (as in sql/budgets.sql, sql/analytics.sql and sql/retention.sql):
-- retire_usage, the retired spend it keeps, and the trigger changes it needs.
-- The spend of usage rows retired by llm_cost.retire_usage (the rows are gone,
-- their spend stays in budget_spend). User data: dumped, and added back to
-- budget_spend when restored; ledger_spend counts it, so rebuilds and
-- budget_spend_drift stay exact.
CREATE TABLE llm_cost.retired_spend (
    budget_id    bigint NOT NULL REFERENCES llm_cost.budgets (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    per_value    text NOT NULL DEFAULT '',
    spent        numeric NOT NULL DEFAULT 0,
    calls        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, period_start, per_value)
);
COMMENT ON TABLE llm_cost.retired_spend IS
  'Spend of usage rows removed by retire_usage, per budget, period and per value: still counted in budget_spend, ledger_spend and budget_spend_drift.';
SELECT pg_catalog.pg_extension_config_dump('llm_cost.retired_spend', '');

-- The spend deltas of usage rows per matching budget, period and per value.
-- Rows: (occurred_at, delta, calls, source, the dimensions) as parallel arrays,
-- so callers pass a transition table in one call and the query keeps a
-- cached plan. A SQL function of one SELECT: inlined where it is used.
CREATE FUNCTION llm_cost._spend_deltas(
    occurred_at timestamptz[], delta numeric[], calls integer[], source text[],
    tenant_id text[], project_id text[], user_id text[], agent_id text[], session_id text[],
    execution_id text[], operation text[], provider text[], model text[])
RETURNS TABLE (budget_id bigint, period_start timestamptz, per_value text, spend numeric, call_count bigint)
LANGUAGE sql STABLE AS $$
    WITH d AS (
        SELECT * FROM unnest(occurred_at, delta, calls, source, tenant_id, project_id, user_id, agent_id,
                             session_id, execution_id, operation, provider, model)
                   AS d (occurred_at, delta, calls, source, tenant_id, project_id, user_id, agent_id,
                         session_id, execution_id, operation, provider, model)
    ), masks AS (
        SELECT DISTINCT b.scope_mask FROM llm_cost.budgets AS b WHERE b.enabled
    ), hits AS (
        SELECT b.id AS budget_id,
               llm_cost.period_start(b.period, b.timezone, d.occurred_at) AS period_start,
               llm_cost.per_value(b.per, d.tenant_id, d.project_id, d.user_id, d.agent_id, d.session_id,
                                  d.execution_id, d.operation, d.provider, d.model) AS per_value,
               d.delta, d.calls
          FROM d
         CROSS JOIN masks AS m
          JOIN llm_cost.budgets AS b
            ON b.enabled AND b.scope_mask = m.scope_mask
           AND b.scope_key = llm_cost.scope_key(m.scope_mask, d.tenant_id, d.project_id, d.user_id,
                                                d.agent_id, d.session_id, d.provider, d.model)
         WHERE b.includes IN ('all', d.source)
    )
    SELECT h.budget_id, h.period_start, h.per_value, sum(h.delta), sum(h.calls)
      FROM hits AS h
     WHERE h.per_value IS NOT NULL          -- a per budget skips rows without that dimension
     GROUP BY h.budget_id, h.period_start, h.per_value
$$;
COMMENT ON FUNCTION llm_cost._spend_deltas(timestamptz[], numeric[], integer[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[]) IS
  'Internal: usage rows'' spend per matching enabled budget, period and per value.';

CREATE OR REPLACE FUNCTION llm_cost._fold_spend(
    occurred_at timestamptz[], delta numeric[], calls integer[], source text[],
    tenant_id text[], project_id text[], user_id text[], agent_id text[], session_id text[],
    execution_id text[], operation text[], provider text[], model text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    PERFORM llm_cost.flush_spend();     -- earlier inserts first: thresholds cross in order
    FOR c IN
        WITH agg AS (
            SELECT * FROM llm_cost._spend_deltas(occurred_at, delta, calls, source, tenant_id, project_id, user_id,
                                                 agent_id, session_id, execution_id, operation, provider, model)
        ), upserted AS (
            INSERT INTO llm_cost.budget_spend AS s (budget_id, period_start, per_value, spent, calls)
            SELECT a.budget_id, a.period_start, a.per_value, a.spend, a.call_count
              FROM agg AS a
             -- one lock order for every writer: concurrent statements cannot deadlock on spend rows
             ORDER BY a.budget_id, a.period_start, a.per_value
            ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
               SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, updated_at = now()
            RETURNING s.budget_id, s.period_start, s.per_value, s.spent
        )
        SELECT u.budget_id, u.period_start, u.per_value, u.spent, b.amount, b.currency, b.period, b.timezone,
               t.threshold
          FROM upserted AS u
          JOIN agg AS a USING (budget_id, period_start, per_value)
          JOIN llm_cost.budgets AS b ON b.id = u.budget_id
         CROSS JOIN LATERAL unnest(b.thresholds) AS t (threshold)
         WHERE a.spend > 0
           AND u.spent - a.spend < b.amount * t.threshold / 100
           AND u.spent >= b.amount * t.threshold / 100
         ORDER BY u.budget_id, u.period_start, u.per_value, t.threshold
    LOOP
        PERFORM llm_cost._queue_budget_alert(c.budget_id, c.period_start, c.per_value, c.spent, c.threshold);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION llm_cost.ledger_spend(budget_id bigint)
RETURNS TABLE (period_start timestamptz, per_value text, spent numeric, calls bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.period_start, t.per_value, sum(t.spent), sum(t.calls)::bigint
      FROM (   -- the ledger's rows, then the retired rows' spend
        SELECT llm_cost.period_start(b.period, b.timezone, x.occurred_at) AS period_start, x.per_value,
               sum(x.cost) AS spent, sum(x.calls) AS calls
          FROM llm_cost.budgets AS b,
               LATERAL (
                SELECT u.occurred_at, coalesce(u.cost, 0) AS cost, 1 AS calls,
                       llm_cost.per_value(b.per, u.tenant_id, u.project_id, u.user_id, u.agent_id, u.session_id,
                                          u.execution_id, u.operation, u.provider, u.model) AS per_value
                  FROM llm_cost.usage AS u
                 WHERE b.includes IN ('all', 'llm')
                   AND (b.tenant_id IS NULL OR u.tenant_id = b.tenant_id)
                   AND (b.project_id IS NULL OR u.project_id = b.project_id)
                   AND (b.user_id IS NULL OR u.user_id = b.user_id)
                   AND (b.agent_id IS NULL OR u.agent_id = b.agent_id)
                   AND (b.session_id IS NULL OR u.session_id = b.session_id)
                   AND (b.provider IS NULL OR lower(u.provider) = b.provider)
                   AND (b.model IS NULL OR u.model = b.model)
                UNION ALL
                SELECT r.occurred_at, coalesce(r.cost, 0), 0,
                       llm_cost.per_value(b.per, r.tenant_id, r.project_id, r.user_id, r.agent_id, r.session_id,
                                          r.execution_id, r.operation, NULL, NULL)
                  FROM llm_cost.resource_usage AS r
                 WHERE b.includes IN ('all', 'compute') AND b.provider IS NULL AND b.model IS NULL
                   AND b.per IS DISTINCT FROM 'provider' AND b.per IS DISTINCT FROM 'model'
                   AND (b.tenant_id IS NULL OR r.tenant_id = b.tenant_id)
                   AND (b.project_id IS NULL OR r.project_id = b.project_id)
                   AND (b.user_id IS NULL OR r.user_id = b.user_id)
                   AND (b.agent_id IS NULL OR r.agent_id = b.agent_id)
                   AND (b.session_id IS NULL OR r.session_id = b.session_id)) AS x
         WHERE b.id = ledger_spend.budget_id AND x.per_value IS NOT NULL
         GROUP BY 1, 2
        UNION ALL
        SELECT r.period_start, r.per_value, r.spent, r.calls
          FROM llm_cost.retired_spend AS r
         WHERE r.budget_id = ledger_spend.budget_id) AS t
     GROUP BY 1, 2
$$;
COMMENT ON FUNCTION llm_cost.ledger_spend(bigint) IS
  'A budget''s spend per period and per value summed from the ledger (a full scan of its rows) plus the spend of retired rows (retired_spend); what llm_cost.budget_spend must always equal.';

-- True while llm_cost.retire_usage deletes rows whose spend and rollups stay.
CREATE FUNCTION llm_cost._retiring() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(pg_catalog.current_setting('llm_cost._retiring', true), '') = 'on';
COMMENT ON FUNCTION llm_cost._retiring() IS 'Internal: true inside llm_cost.retire_usage (its deletes keep spend and rollups).';

CREATE OR REPLACE FUNCTION llm_cost._usage_spend_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM llm_cost.budgets WHERE enabled) AND NOT llm_cost._retiring() THEN
        PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(-coalesce(cost, 0)), array_agg(-1), array_agg('llm'::text),
                                     array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                     array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                     array_agg(provider), array_agg(model))
           FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION llm_cost._ledger_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM llm_cost.flush_spend();     -- pending spend of rows now gone must not land later
    IF TG_TABLE_NAME = 'usage' THEN
        DELETE FROM llm_cost.retired_spend;      -- an emptied ledger has no retired rows either
    END IF;
    IF EXISTS (SELECT FROM llm_cost.usage) OR EXISTS (SELECT FROM llm_cost.resource_usage)
       OR EXISTS (SELECT FROM llm_cost.retired_spend) THEN
        PERFORM llm_cost.rebuild_budget_spend(id) FROM llm_cost.budgets;
    ELSE
        DELETE FROM llm_cost.budget_spend;       -- nothing left to count
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION llm_cost._usage_rollup_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint;
    grain text;
    -- a DELETE trigger has no new_rows: the statements are built for TG_OP
    changed text := 'SELECT -1 AS sign, o.* FROM old_rows AS o WHERE o.id <= $2'
                    || CASE WHEN TG_OP = 'UPDATE' THEN ' UNION ALL SELECT 1, n.* FROM new_rows AS n WHERE n.id <= $2' ELSE '' END;
BEGIN
    IF TG_OP = 'DELETE' AND llm_cost._retiring() THEN
        RETURN NULL;                    -- retire_usage: the rows stay in the rollups
    END IF;
    -- FOR SHARE: a refresh in progress (it holds the row) finishes first.
    SELECT watermark INTO mark FROM llm_cost.rollup_state FOR SHARE;
    IF mark IS NULL THEN
        RETURN NULL;                    -- nothing rolled up yet
    END IF;
    FOREACH grain IN ARRAY ARRAY['day', 'hour'] LOOP
        EXECUTE llm_cost._rollup_sums_sql(changed, grain) USING 0::bigint, mark;
        EXECUTE llm_cost._rollup_latency_sql(changed, grain) USING 0::bigint, mark;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TABLE llm_cost.retention_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    retired_before timestamptz NOT NULL,
    retired_rows   bigint NOT NULL DEFAULT 0,
    retired_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE llm_cost.retention_state IS
  'How far retire_usage has gone: usage rows before retired_before are only in the rollups and retired_spend (retired_rows of them so far).';
SELECT pg_catalog.pg_extension_config_dump('llm_cost.retention_state', '');

-- A restore (or an INSERT by hand) adds retired spend to the running totals;
-- retire_usage itself inserts spend that budget_spend already holds.
CREATE FUNCTION llm_cost._retired_spend_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT llm_cost._retiring() THEN
        INSERT INTO llm_cost.budget_spend AS s (budget_id, period_start, per_value, spent, calls)
        SELECT n.budget_id, n.period_start, n.per_value, n.spent, n.calls
          FROM new_rows AS n
         ORDER BY 1, 2, 3
        ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
           SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, updated_at = now();
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._retired_spend_inserted() IS
  'Trigger: restored retired spend counts in budget_spend again.';
CREATE TRIGGER retired_spend_inserted AFTER INSERT ON llm_cost.retired_spend
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._retired_spend_inserted();

CREATE FUNCTION llm_cost.retire_usage(before timestamptz, batch_rows integer DEFAULT 50000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint;
    batch bigint;
    total bigint := 0;
BEGIN
    IF before IS NULL OR NOT isfinite(before) OR before <> llm_cost._utc_midnight(llm_cost._utc_day(before)) THEN
        RAISE EXCEPTION 'llm_cost.retire_usage: before must be a UTC midnight (got %)', coalesce(before::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Whole UTC days only, so every dashboard window stays exact: e.g. date_trunc(''day'', now() - interval ''400 days'', ''UTC'').';
    END IF;
    IF batch_rows IS NULL OR batch_rows < 1 THEN
        RAISE EXCEPTION 'llm_cost.retire_usage: batch_rows must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Everything that exists now goes into the rollups first; the refresh
    -- also holds rollup_state until we commit, so no other refresh or
    -- correction interleaves.
    PERFORM llm_cost.refresh_rollups();
    PERFORM llm_cost.flush_spend();
    mark := llm_cost.rollup_watermark();
    PERFORM pg_catalog.set_config('llm_cost._retiring', 'on', true);
    LOOP
        WITH gone AS (
            DELETE FROM llm_cost.usage AS u
             WHERE u.id IN (SELECT o.id FROM llm_cost.usage AS o
                             WHERE o.occurred_at < retire_usage.before AND o.id <= mark
                             ORDER BY o.id LIMIT batch_rows)
            RETURNING u.*
        ), spend AS (
            SELECT d.*
              FROM (SELECT array_agg(occurred_at) AS occurred_at, array_agg(coalesce(cost, 0)) AS delta,
                           array_agg(1) AS calls, array_agg('llm'::text) AS source, array_agg(tenant_id) AS tenant_id,
                           array_agg(project_id) AS project_id, array_agg(user_id) AS user_id,
                           array_agg(agent_id) AS agent_id, array_agg(session_id) AS session_id,
                           array_agg(execution_id) AS execution_id, array_agg(operation) AS operation,
                           array_agg(provider) AS provider, array_agg(model) AS model
                      FROM gone) AS g,
                   LATERAL llm_cost._spend_deltas(g.occurred_at, g.delta, g.calls, g.source, g.tenant_id,
                                                  g.project_id, g.user_id, g.agent_id, g.session_id,
                                                  g.execution_id, g.operation, g.provider, g.model) AS d
        ), kept AS (
            INSERT INTO llm_cost.retired_spend AS r (budget_id, period_start, per_value, spent, calls)
            SELECT s.budget_id, s.period_start, s.per_value, s.spend, s.call_count
              FROM spend AS s
             ORDER BY 1, 2, 3
            ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
               SET spent = r.spent + excluded.spent, calls = r.calls + excluded.calls
        )
        SELECT count(*) INTO batch FROM gone;
        total := total + batch;
        EXIT WHEN batch < batch_rows;
    END LOOP;
    PERFORM pg_catalog.set_config('llm_cost._retiring', '', true);
    INSERT INTO llm_cost.retention_state AS s (retired_before, retired_rows)
    VALUES (before, total)
    ON CONFLICT (one) DO UPDATE
       SET retired_before = greatest(s.retired_before, excluded.retired_before),
           retired_rows = s.retired_rows + excluded.retired_rows, retired_at = now();
    RETURN total;
END $$;
COMMENT ON FUNCTION llm_cost.retire_usage(timestamptz, integer) IS
  'Deletes the usage rows of the UTC days before `before` (a UTC midnight) in batches, after rolling them up; dashboards, budget spend, rebuilds and drift checks keep counting them (rollups and retired_spend). Returns the rows deleted. Rows of those days not yet rolled up when it starts stay. Budgets created or re-scoped later do not see the retired rows.';

REVOKE ALL ON llm_cost.retired_spend, llm_cost.retention_state FROM PUBLIC;
GRANT ALL ON llm_cost.retired_spend, llm_cost.retention_state TO llm_cost_admin;
GRANT SELECT ON llm_cost.retired_spend, llm_cost.retention_state TO llm_cost_reader;
REVOKE EXECUTE ON FUNCTION llm_cost._spend_deltas(timestamptz[], numeric[], integer[], text[], text[], text[], text[],
                                                  text[], text[], text[], text[], text[], text[]),
    llm_cost._retiring(), llm_cost._retired_spend_inserted(), llm_cost.retire_usage(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost._spend_deltas(timestamptz[], numeric[], integer[], text[], text[], text[], text[],
                                                 text[], text[], text[], text[], text[], text[]),
    llm_cost._retiring(), llm_cost._retired_spend_inserted(), llm_cost.retire_usage(timestamptz, integer)
    TO llm_cost_admin;
GRANT EXECUTE ON FUNCTION llm_cost._spend_deltas(timestamptz[], numeric[], integer[], text[], text[], text[], text[],
                                                 text[], text[], text[], text[], text[], text[]),
    llm_cost._retiring(), llm_cost._retired_spend_inserted()
    TO llm_cost_reader;

-- Row-level security (as in sql/tenant_isolation.sql).
-- Each table of tenant data: the admin sees every row; readers and writers
-- the rows of their session's tenant. Rows of a budget (its spend, its
-- alerts) belong to the budget's tenant.
DO $$
DECLARE
    t text;
    own_rows text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage', 'resource_usage', 'budgets', 'usage_daily', 'usage_hourly',
                             'usage_daily_latency', 'usage_hourly_latency', 'budget_spend', 'retired_spend',
                             'notifications'] LOOP
        own_rows := CASE WHEN t IN ('budget_spend', 'retired_spend', 'notifications')
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

-- set_price and import_prices refuse prices that pricing cannot hold exactly
-- and names too long for the prices_key index (as in sql/api.sql; found by
-- tests/import_fuzz.rs).
-- Why pricing could not hold one price row's amounts exactly, or NULL when it
-- can. Pricing (src/decimal.rs) keeps a call's cost in an i128 at the largest
-- scale among the row's amounts and ignores an amount with more than 30
-- decimal places: such a row would be stored but ignored, or make every call
-- of its model fail. 10^29 leaves room for calls of a billion tokens. Found by
-- the importer fuzz test (tests/import_fuzz.rs, corpus bug-*.json).
CREATE FUNCTION llm_cost._unpriceable(amounts numeric[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN r.largest >= 1e15 THEN
                   format('a price of %s per million tokens is not below 10^15', ltrim(to_char(r.largest, '9.9EEEE')))
               WHEN r.decimals > 30 THEN
                   format('a price has %s decimal places (at most 30)', r.decimals)
               WHEN r.largest * ('1e' || r.decimals)::numeric >= 1e29 THEN
                   format('its largest price (%s) written with as many decimal places as its most precise one (%s) has more than 29 digits',
                          r.largest, r.decimals)
           END
      FROM (SELECT max(a) AS largest, max(scale(trim_scale(a))) AS decimals FROM unnest(amounts) AS a) AS r
$$;
COMMENT ON FUNCTION llm_cost._unpriceable(numeric[]) IS
  'Internal: why pricing could not hold a price row''s amounts exactly (NULL when it can).';
REVOKE EXECUTE ON FUNCTION llm_cost._unpriceable(numeric[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost._unpriceable(numeric[]) TO llm_cost_admin, llm_cost_reader;

-- Time-of-day prices (as in sql/schema.sql and sql/api.sql): off-peak rates
-- and the windows they apply in, on every price row; set_price gains four
-- optional parameters at the end, litellm_price_rows four columns.
-- Off-peak windows as stored: valid and in their normalised form (src/off_peak.rs).
CREATE FUNCTION llm_cost.is_off_peak_windows(windows jsonb) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'llm_cost_is_off_peak_windows';
COMMENT ON FUNCTION llm_cost.is_off_peak_windows(jsonb) IS
  'True when off-peak windows are NULL or valid and normalised as llm_cost.prices stores them: an array of {hours_utc: ["HH:MM-HH:MM", ...], weekdays: [ISO day numbers, sorted], weekday_timezone: zone name}.';
REVOKE EXECUTE ON FUNCTION llm_cost.is_off_peak_windows(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.is_off_peak_windows(jsonb) TO llm_cost_admin, llm_cost_reader;

ALTER TABLE llm_cost.prices
    ADD COLUMN off_peak_input_per_mtok numeric,
    ADD COLUMN off_peak_output_per_mtok numeric,
    ADD COLUMN off_peak_cache_read_per_mtok numeric,
    ADD COLUMN off_peak_windows jsonb,
    ADD CONSTRAINT prices_off_peak_valid CHECK (
        llm_cost.is_valid_amount(off_peak_input_per_mtok) AND llm_cost.is_valid_amount(off_peak_output_per_mtok)
        AND llm_cost.is_valid_amount(off_peak_cache_read_per_mtok) AND llm_cost.is_off_peak_windows(off_peak_windows)),
    -- Windows come with off-peak input and output prices, and never with a long-context tier.
    ADD CONSTRAINT prices_off_peak_complete CHECK (
        (off_peak_windows IS NULL) = (off_peak_input_per_mtok IS NULL)
        AND (off_peak_windows IS NULL) = (off_peak_output_per_mtok IS NULL)
        AND (off_peak_windows IS NOT NULL OR off_peak_cache_read_per_mtok IS NULL)
        AND (off_peak_windows IS NULL OR tier_threshold_tokens IS NULL));
COMMENT ON COLUMN llm_cost.prices.off_peak_input_per_mtok IS 'Input price (per million tokens) of a call made inside one of off_peak_windows; NULL when the row has no time-of-day prices.';
COMMENT ON COLUMN llm_cost.prices.off_peak_output_per_mtok IS 'Output price of a call inside off_peak_windows; reasoning tokens without their own price use it too.';
COMMENT ON COLUMN llm_cost.prices.off_peak_cache_read_per_mtok IS 'Cache-read price of a call inside off_peak_windows; when NULL such calls keep cache_read_per_mtok (or, without one, the off-peak input price).';
COMMENT ON COLUMN llm_cost.prices.off_peak_windows IS 'When the off-peak prices apply (LiteLLM''s off_peak_pricing.windows, normalised): an array of {hours_utc: ["HH:MM-HH:MM" UTC, end 00:00 = midnight], weekdays: [1 = Monday .. 7], weekday_timezone: the zone the weekday is taken in}. A call is off-peak when its time (usage.occurred_at) is inside some window. NULL: one price all day.';

CREATE FUNCTION llm_cost._off_peak_windows(windows jsonb, caller text) RETURNS jsonb
STRICT STABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'off_peak_windows_wrapper';
COMMENT ON FUNCTION llm_cost._off_peak_windows(jsonb, text) IS
  'Internal: off-peak windows (an array, or LiteLLM''s off_peak_pricing object) validated and normalised as llm_cost.prices stores them; raises 22023 naming the caller otherwise.';
REVOKE EXECUTE ON FUNCTION llm_cost._off_peak_windows(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost._off_peak_windows(jsonb, text) TO llm_cost_admin, llm_cost_reader;

-- The views list the table's columns (SELECT *): rebuilt with the new ones.
DROP VIEW llm_cost.stale_prices;
CREATE OR REPLACE VIEW llm_cost.current_prices WITH (security_invoker = true) AS
SELECT DISTINCT ON (provider, model, service_tier) *
  FROM llm_cost.prices
 WHERE valid_from <= now()
 ORDER BY provider, model, service_tier, valid_from DESC;
CREATE VIEW llm_cost.stale_prices WITH (security_invoker = true) AS
SELECT c.*,
       now() - c.verified_at AS unverified_for
  FROM llm_cost.current_prices AS c
 WHERE c.verified_at IS NULL
    OR c.verified_at < now() - coalesce(nullif(current_setting('llm_cost.price_stale_after', true), ''), '30 days')::interval;
COMMENT ON VIEW llm_cost.stale_prices IS
  'Prices in force whose verified_at is older than llm_cost.price_stale_after (default 30 days), or never verified.';
GRANT ALL ON llm_cost.stale_prices TO llm_cost_admin;
GRANT SELECT ON llm_cost.stale_prices TO llm_cost_reader;

DROP FUNCTION llm_cost.litellm_price_rows(jsonb);
CREATE FUNCTION llm_cost.litellm_price_rows(catalog jsonb)
RETURNS TABLE (
    provider text, model text, service_tier text,
    input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric, cache_write_per_mtok numeric, reasoning_per_mtok numeric,
    tier_threshold_tokens bigint,
    input_per_mtok_above_tier numeric, output_per_mtok_above_tier numeric,
    cache_read_per_mtok_above_tier numeric, cache_write_per_mtok_above_tier numeric,
    per_request numeric,
    off_peak_input_per_mtok numeric, off_peak_output_per_mtok numeric,
    off_peak_cache_read_per_mtok numeric, off_peak_windows jsonb)
LANGUAGE sql STABLE AS $$
    WITH entries AS (
        SELECT DISTINCT ON (provider, model)
               e.key, e.value AS entry, provider, model
          FROM jsonb_each(catalog) AS e,
               LATERAL (SELECT e.value ->> 'litellm_provider' AS litellm_provider) AS lp,
               LATERAL (SELECT lower(btrim(lp.litellm_provider)) AS provider,
                               starts_with(e.key, lp.litellm_provider || '/') AS prefixed) AS p,
               LATERAL (SELECT CASE WHEN p.prefixed THEN substr(e.key, length(lp.litellm_provider) + 2)
                                    ELSE e.key END AS model) AS m
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND coalesce(lp.litellm_provider, '') <> ''
           AND (jsonb_typeof(e.value -> 'input_cost_per_token') = 'number'
                OR jsonb_typeof(e.value -> 'output_cost_per_token') = 'number')
         -- "deepseek/deepseek-chat" and "deepseek-chat" name one model: the prefixed key wins.
         ORDER BY provider, model, p.prefixed DESC
    ), tiered AS (
        SELECT entries.*, t.service_tier, t.suffix,
               (SELECT min(m[1]::bigint)
                  FROM jsonb_object_keys(entry) AS k,
                       regexp_match(k, '^input_cost_per_token_above_(\d+)k_tokens$') AS m) AS tier_k
          FROM entries
          CROSS JOIN (VALUES ('standard', '', 1), ('batch', '_batches', 2), ('flex', '_flex', 3), ('priority', '_priority', 4))
                  AS t (service_tier, suffix, ord)
         WHERE t.suffix = ''
            OR entry ? ('input_cost_per_token' || t.suffix)
            OR entry ? ('output_cost_per_token' || t.suffix)
    )
    SELECT provider, model, service_tier,
           coalesce(llm_cost._litellm_per_mtok(entry, 'input_cost_per_token', suffix), 0),
           coalesce(llm_cost._litellm_per_mtok(entry, 'output_cost_per_token', suffix), 0),
           llm_cost._litellm_per_mtok(entry, 'cache_read_input_token_cost', suffix),
           llm_cost._litellm_per_mtok(entry, 'cache_creation_input_token_cost', suffix),
           llm_cost._litellm_per_mtok(entry, 'output_cost_per_reasoning_token', suffix),
           tier_k * 1000,
           llm_cost._litellm_per_mtok(entry, format('input_cost_per_token_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('output_cost_per_token_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('cache_read_input_token_cost_above_%sk_tokens', tier_k), suffix),
           llm_cost._litellm_per_mtok(entry, format('cache_creation_input_token_cost_above_%sk_tokens', tier_k), suffix),
           trim_scale((entry ->> 'input_cost_per_request')::numeric),
           -- off_peak_pricing (DeepSeek's time-of-day prices) prices the standard tier
           CASE WHEN op.windows IS NOT NULL THEN
               coalesce(llm_cost._litellm_per_mtok(op.prices, 'input_cost_per_token', ''),
                        llm_cost._litellm_per_mtok(entry, 'input_cost_per_token', ''), 0) END,
           CASE WHEN op.windows IS NOT NULL THEN
               coalesce(llm_cost._litellm_per_mtok(op.prices, 'output_cost_per_token', ''),
                        llm_cost._litellm_per_mtok(entry, 'output_cost_per_token', ''), 0) END,
           CASE WHEN op.windows IS NOT NULL THEN
               llm_cost._litellm_per_mtok(op.prices, 'cache_read_input_token_cost', '') END,
           op.windows
      FROM tiered,
           LATERAL (SELECT entry -> 'off_peak_pricing' AS prices,
                           CASE WHEN service_tier = 'standard' AND jsonb_typeof(entry -> 'off_peak_pricing') = 'object'
                                THEN llm_cost._off_peak_windows(entry -> 'off_peak_pricing',
                                                                format('LiteLLM entry "%s" off_peak_pricing', key))
                           END AS windows) AS op
     ORDER BY provider, model, service_tier
$$;
COMMENT ON FUNCTION llm_cost.litellm_price_rows(jsonb) IS
  'The price rows (per million tokens, exact) that a LiteLLM model_prices_and_context_window.json document describes, without storing them. An entry''s off_peak_pricing gives the standard row''s off-peak prices and windows (normalised).';
REVOKE EXECUTE ON FUNCTION llm_cost.litellm_price_rows(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.litellm_price_rows(jsonb) TO llm_cost_admin, llm_cost_reader;

-- The old set_price signature goes: calls that name up to its 17 arguments
-- (positionally or by name) reach the new one, whose extra parameters default to NULL.
DROP FUNCTION llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric, numeric, numeric, numeric, numeric, text, text);
CREATE FUNCTION llm_cost.set_price(
    provider text,
    model text,
    input_per_mtok numeric,
    output_per_mtok numeric,
    cache_read_per_mtok numeric DEFAULT NULL,
    cache_write_per_mtok numeric DEFAULT NULL,
    reasoning_per_mtok numeric DEFAULT NULL,
    valid_from timestamptz DEFAULT now(),
    service_tier text DEFAULT 'standard',
    tier_threshold_tokens bigint DEFAULT NULL,
    input_per_mtok_above_tier numeric DEFAULT NULL,
    output_per_mtok_above_tier numeric DEFAULT NULL,
    cache_read_per_mtok_above_tier numeric DEFAULT NULL,
    cache_write_per_mtok_above_tier numeric DEFAULT NULL,
    per_request numeric DEFAULT NULL,
    currency text DEFAULT 'USD',
    source text DEFAULT 'custom',
    off_peak_input_per_mtok numeric DEFAULT NULL,
    off_peak_output_per_mtok numeric DEFAULT NULL,
    off_peak_cache_read_per_mtok numeric DEFAULT NULL,
    off_peak_windows jsonb DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
    problem text;
    windows jsonb;
BEGIN
    IF coalesce(btrim(provider), '') = '' OR coalesce(btrim(model), '') = '' THEN
        RAISE EXCEPTION 'llm_cost.set_price: provider and model must be non-empty (got provider %, model %)',
            coalesce(quote_literal(provider), 'NULL'), coalesce(quote_literal(model), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF input_per_mtok IS NULL OR output_per_mtok IS NULL THEN
        RAISE EXCEPTION 'llm_cost.set_price: input_per_mtok and output_per_mtok are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF valid_from IS NULL OR valid_from = 'infinity' THEN
        RAISE EXCEPTION 'llm_cost.set_price: valid_from must be a time or -infinity (got %)', coalesce(valid_from::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF service_tier IS NULL OR NOT llm_cost.is_service_tier(service_tier) THEN
        RAISE EXCEPTION 'llm_cost.set_price: unknown service_tier %; expected standard, batch, flex or priority',
            coalesce(quote_literal(service_tier), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF currency IS NULL OR currency !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'llm_cost.set_price: currency must be a three-letter ISO 4217 code such as USD (got %)',
            coalesce(quote_literal(currency), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM llm_cost._check_prices(jsonb_strip_nulls(jsonb_build_object(
        'input_per_mtok', input_per_mtok, 'output_per_mtok', output_per_mtok,
        'cache_read_per_mtok', cache_read_per_mtok, 'cache_write_per_mtok', cache_write_per_mtok,
        'reasoning_per_mtok', reasoning_per_mtok,
        'input_per_mtok_above_tier', input_per_mtok_above_tier,
        'output_per_mtok_above_tier', output_per_mtok_above_tier,
        'cache_read_per_mtok_above_tier', cache_read_per_mtok_above_tier,
        'cache_write_per_mtok_above_tier', cache_write_per_mtok_above_tier,
        'per_request', per_request,
        'off_peak_input_per_mtok', off_peak_input_per_mtok, 'off_peak_output_per_mtok', off_peak_output_per_mtok,
        'off_peak_cache_read_per_mtok', off_peak_cache_read_per_mtok)));
    problem := llm_cost._unpriceable(ARRAY[input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok,
                                           reasoning_per_mtok, input_per_mtok_above_tier, output_per_mtok_above_tier,
                                           cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier, per_request,
                                           off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok]);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost.set_price: % cannot be priced exactly: %', model, problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Prices per million tokens must be below 10^15 with at most 30 decimal places, and a row''s largest price written with as many decimal places as its most precise one must have at most 29 digits.';
    END IF;
    IF octet_length(provider) > 1000 OR octet_length(model) > 1000 THEN
        RAISE EXCEPTION 'llm_cost.set_price: provider and model must be at most 1000 bytes'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tier_threshold_tokens IS NOT NULL AND (tier_threshold_tokens <= 0 OR input_per_mtok_above_tier IS NULL) THEN
        RAISE EXCEPTION 'llm_cost.set_price: tier_threshold_tokens must be positive and comes with input_per_mtok_above_tier'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Time-of-day prices: windows, off-peak input and output come together.
    IF (off_peak_windows IS NULL) <> (off_peak_input_per_mtok IS NULL)
       OR (off_peak_windows IS NULL) <> (off_peak_output_per_mtok IS NULL)
       OR (off_peak_windows IS NULL AND off_peak_cache_read_per_mtok IS NOT NULL) THEN
        RAISE EXCEPTION 'llm_cost.set_price: off-peak prices need off_peak_windows, off_peak_input_per_mtok and off_peak_output_per_mtok together (off_peak_cache_read_per_mtok is optional)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off_peak_windows IS NOT NULL AND tier_threshold_tokens IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost.set_price: a price cannot have both off-peak windows and a long-context tier (tier_threshold_tokens)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off_peak_windows IS NOT NULL THEN
        windows := llm_cost._off_peak_windows(off_peak_windows, 'llm_cost.set_price');
    END IF;

    INSERT INTO llm_cost.prices AS p (
        provider, model, service_tier, valid_from,
        input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, reasoning_per_mtok,
        tier_threshold_tokens, input_per_mtok_above_tier, output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
        per_request, currency, source, verified_at,
        off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows)
    VALUES (
        lower(btrim(set_price.provider)), btrim(set_price.model), set_price.service_tier, set_price.valid_from,
        set_price.input_per_mtok, set_price.output_per_mtok, set_price.cache_read_per_mtok,
        set_price.cache_write_per_mtok, set_price.reasoning_per_mtok,
        set_price.tier_threshold_tokens, set_price.input_per_mtok_above_tier, set_price.output_per_mtok_above_tier,
        set_price.cache_read_per_mtok_above_tier, set_price.cache_write_per_mtok_above_tier,
        set_price.per_request, set_price.currency, set_price.source, now(),
        set_price.off_peak_input_per_mtok, set_price.off_peak_output_per_mtok, set_price.off_peak_cache_read_per_mtok,
        windows)
    ON CONFLICT ON CONSTRAINT prices_key DO UPDATE SET
        input_per_mtok = excluded.input_per_mtok,
        output_per_mtok = excluded.output_per_mtok,
        cache_read_per_mtok = excluded.cache_read_per_mtok,
        cache_write_per_mtok = excluded.cache_write_per_mtok,
        reasoning_per_mtok = excluded.reasoning_per_mtok,
        tier_threshold_tokens = excluded.tier_threshold_tokens,
        input_per_mtok_above_tier = excluded.input_per_mtok_above_tier,
        output_per_mtok_above_tier = excluded.output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier = excluded.cache_read_per_mtok_above_tier,
        cache_write_per_mtok_above_tier = excluded.cache_write_per_mtok_above_tier,
        per_request = excluded.per_request,
        currency = excluded.currency,
        source = excluded.source,
        verified_at = excluded.verified_at,
        off_peak_input_per_mtok = excluded.off_peak_input_per_mtok,
        off_peak_output_per_mtok = excluded.off_peak_output_per_mtok,
        off_peak_cache_read_per_mtok = excluded.off_peak_cache_read_per_mtok,
        off_peak_windows = excluded.off_peak_windows
    RETURNING p.id INTO new_id;
    RETURN new_id;
END $$;
COMMENT ON FUNCTION llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric, numeric, numeric, numeric, numeric, text, text, numeric, numeric, numeric, jsonb) IS
  'Sets a custom price (per million tokens) in force from valid_from; replaces the row with the same provider, model, service tier and valid_from. Time-of-day prices: off_peak_input_per_mtok, off_peak_output_per_mtok (and optionally off_peak_cache_read_per_mtok) apply to calls inside off_peak_windows, e.g. ''[{"hours_utc": ["16:30-00:00"], "weekdays": [1,2,3,4,5]}]'' (hours UTC, ISO weekdays, optional weekday_timezone). Returns the row id.';
REVOKE EXECUTE ON FUNCTION llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric, numeric, numeric, numeric, numeric, text, text, numeric, numeric, numeric, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric, numeric, numeric, numeric, numeric, text, text, numeric, numeric, numeric, jsonb) TO llm_cost_admin;

-- import_prices also reads pydantic genai-prices' data.json (a JSON array), with
-- dated price changes; source defaults to the format's name (as in sql/api.sql).
-- scripts/gen_catalog.py reads the same format to build sql/catalog.sql. The
-- provider map (_genai_providers = GENAI_PROVIDER_MAP and
-- genai_provider_targets), the names (_genai_names = genai_model_names), the
-- periods (_genai_periods = genai_periods), the prices (_genai_row =
-- genai_row) and the placement among sibling providers (genai_price_rows =
-- read_genai) must agree with the generator's: change both together.
-- tests/client.rs (importing_genai_prices_adds_exactly_the_prices_the_
-- generator_overrode) imports the real genai_prices_data.json into a fresh
-- install and fails unless it adds rows exactly for the models the generator
-- reports as conflicts (where it kept LiteLLM's price), nothing else.

-- genai-prices provider id -> llm_cost providers that may file its models,
-- the default first. Ids not listed keep their name, lower-cased.
CREATE FUNCTION llm_cost._genai_providers(provider_id text, model_id text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    -- Google lists the Claude models it sells on Vertex AI under "google".
    WHEN provider_id = 'google' AND starts_with(model_id, 'claude') THEN ARRAY['vertex_ai']
    WHEN provider_id = 'aws' THEN ARRAY['bedrock', 'bedrock_converse']
    WHEN provider_id = 'azure' THEN ARRAY['azure', 'azure_ai']
    WHEN provider_id = 'cohere' THEN ARRAY['cohere', 'cohere_chat']
    WHEN provider_id = 'fireworks' THEN ARRAY['fireworks_ai']
    WHEN provider_id = 'google' THEN ARRAY['gemini', 'vertex_ai-language-models', 'vertex_ai']
    WHEN provider_id = 'moonshotai' THEN ARRAY['moonshot']
    WHEN provider_id = 'openai' THEN ARRAY['openai', 'text-completion-openai']
    WHEN provider_id = 'together' THEN ARRAY['together_ai']
    WHEN provider_id = 'voyageai' THEN ARRAY['voyage']
    WHEN provider_id = 'x-ai' THEN ARRAY['xai']
    ELSE ARRAY[lower(btrim(provider_id))]
END;
COMMENT ON FUNCTION llm_cost._genai_providers(text, text) IS
  'Internal: the llm_cost providers (default first) that may file a genai-prices model of this provider id; the same map as scripts/gen_catalog.py.';

-- Every exact name of a genai-prices model, the one it is filed under first:
-- its id, except AWS "regional.<id>" (genai-prices' label for the in-region
-- price) is "<id>", and an id that is not itself an `equals` name of its match
-- rule but ends one as "/<id>" (Fireworks' accounts/fireworks/models/<id>) is
-- that name (the smallest, if several). Then the id and the `equals` names
-- under the rule's `or`s, depth first (never patterns, nothing under `and`).
CREATE FUNCTION llm_cost._genai_names(provider_id text, model jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH RECURSIVE rule (node, path) AS (
        SELECT model -> 'match', ARRAY[]::bigint[]
        UNION ALL
        SELECT s.value, rule.path || s.n
          FROM rule,
               jsonb_array_elements(CASE WHEN jsonb_typeof(rule.node -> 'or') = 'array' THEN rule.node -> 'or' END)
                   WITH ORDINALITY AS s (value, n)
         WHERE jsonb_typeof(rule.node) = 'object' AND jsonb_typeof(rule.node -> 'equals') IS DISTINCT FROM 'string'
    ), equals AS (
        SELECT coalesce(array_agg(node ->> 'equals' ORDER BY path), '{}') AS names
          FROM rule
         WHERE jsonb_typeof(node) = 'object' AND jsonb_typeof(node -> 'equals') = 'string'
    ), named AS (
        SELECT CASE
                   WHEN provider_id = 'aws' AND starts_with(model ->> 'id', 'regional.')
                       THEN substr(model ->> 'id', length('regional.') + 1)
                   WHEN model ->> 'id' = ANY (equals.names) THEN model ->> 'id'
                   ELSE coalesce((SELECT min(e COLLATE "C") FROM unnest(equals.names) AS e
                                   WHERE right(e, length(model ->> 'id') + 1) = '/' || (model ->> 'id')),
                                 model ->> 'id')
               END AS name,
               equals.names
          FROM equals
    )
    SELECT ARRAY[named.name] || coalesce((
               SELECT array_agg(n ORDER BY first)
                 FROM (SELECT n, min(i) AS first
                         FROM unnest(ARRAY[model ->> 'id'] || named.names) WITH ORDINALITY AS u (n, i)
                        WHERE n <> named.name
                        GROUP BY n) AS d), '{}')
      FROM named
$$;
COMMENT ON FUNCTION llm_cost._genai_names(text, jsonb) IS
  'Internal: the exact names of a genai-prices model, the name llm_cost files it under first (as scripts/gen_catalog.py names it).';

-- A genai-prices model's prices as periods, oldest first: the first in force
-- since -infinity, each later one from its start_date at 00:00 UTC
-- (genai-prices compares the request's UTC date). Its rule is "the last price
-- whose constraint holds": an unconstrained price after the first replaces
-- the one before; a start_date not after the previous one is skipped; a
-- time-of-day window (DeepSeek's off-peak prices) cannot be a row, so of it
-- and the price before it the one in force for more hours of the day is kept;
-- entries with other constraints are skipped. Expects a checked document.
CREATE FUNCTION llm_cost._genai_periods(price_list jsonb)
RETURNS TABLE (period integer, valid_from timestamptz, prices jsonb)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    entry jsonb;
    c jsonb;
    keys text[];
    starts timestamptz[] := '{}';
    sets jsonb[] := '{}';
    k integer;
    d timestamptz;
    window_minutes integer;
BEGIN
    IF jsonb_typeof(price_list) = 'object' THEN
        RETURN QUERY SELECT 1, '-infinity'::timestamptz, price_list;
        RETURN;
    ELSIF jsonb_typeof(price_list) IS DISTINCT FROM 'array' THEN
        RETURN;
    END IF;
    FOR entry IN SELECT value FROM jsonb_array_elements(price_list) LOOP
        CONTINUE WHEN jsonb_typeof(entry) <> 'object' OR jsonb_typeof(entry -> 'prices') IS DISTINCT FROM 'object';
        c := entry -> 'constraint';
        k := coalesce(array_length(starts, 1), 0);
        keys := CASE WHEN jsonb_typeof(c) = 'object'
                     THEN ARRAY(SELECT key FROM jsonb_object_keys(c) AS key ORDER BY key COLLATE "C") END;
        IF c IS NULL OR jsonb_typeof(c) = 'null' OR keys = '{}' THEN
            IF k > 0 THEN
                sets[k] := entry -> 'prices';
            ELSE
                starts := array_append(starts, '-infinity'::timestamptz);
                sets := array_append(sets, entry -> 'prices');
            END IF;
        ELSIF keys = ARRAY['start_date'] THEN
            d := (c ->> 'start_date')::date::timestamp AT TIME ZONE 'UTC';
            CONTINUE WHEN k > 0 AND starts[k] <> '-infinity' AND d <= starts[k];
            starts := array_append(starts, CASE WHEN k > 0 THEN d ELSE '-infinity'::timestamptz END);
            sets := array_append(sets, entry -> 'prices');
        ELSIF keys = ARRAY['end_time', 'start_time'] THEN
            window_minutes := (((split_part(c ->> 'end_time', ':', 1)::integer * 60 + split_part(c ->> 'end_time', ':', 2)::integer)
                                - (split_part(c ->> 'start_time', ':', 1)::integer * 60 + split_part(c ->> 'start_time', ':', 2)::integer))
                               % 1440 + 1440) % 1440;
            IF k = 0 THEN
                starts := array_append(starts, '-infinity'::timestamptz);
                sets := array_append(sets, entry -> 'prices');
            ELSIF window_minutes * 2 > 1440 THEN
                sets[k] := entry -> 'prices';
            END IF;
        END IF;
    END LOOP;
    RETURN QUERY SELECT i, starts[i], sets[i] FROM generate_subscripts(starts, 1) AS i;
END $$;
COMMENT ON FUNCTION llm_cost._genai_periods(jsonb) IS
  'Internal: a genai-prices model''s prices as dated periods (valid_from, price set), oldest first, as scripts/gen_catalog.py reads them.';

-- A genai-prices price: a number, or the base of a tiered price.
CREATE FUNCTION llm_cost._genai_base(price jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN trim_scale(CASE jsonb_typeof(price)
                      WHEN 'number' THEN (price #>> '{}')::numeric
                      WHEN 'object' THEN (price ->> 'base')::numeric
                  END);
COMMENT ON FUNCTION llm_cost._genai_base(jsonb) IS
  'Internal: a genai-prices price (per million tokens): the number, or a tiered price''s base.';

-- A tiered price's first tier, when it starts at the row's threshold.
CREATE FUNCTION llm_cost._genai_above(price jsonb, threshold bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN threshold IS NOT NULL AND jsonb_typeof(price) = 'object'
                 AND (price #>> '{tiers,0,start}') ~ '^[0-9]+$'
                 AND (price #>> '{tiers,0,start}')::numeric = threshold
            THEN trim_scale((price #>> '{tiers,0,price}')::numeric) END;
COMMENT ON FUNCTION llm_cost._genai_above(jsonb, bigint) IS
  'Internal: a tiered genai-prices price''s first tier price, when that tier starts at threshold.';

-- One genai-prices price set as an llm_cost price row (standard tier), or no
-- row when it has no input or output price. input_mtok, output_mtok,
-- cache_read_mtok and cache_write_mtok are per million tokens; a tiered price
-- {base, tiers: [{start, price}]} gives tier_threshold_tokens = the first
-- tier's start (genai-prices, like llm_cost, prices the whole call at the
-- tier when the input exceeds it; of several starts, the smallest as text,
-- as the generator sorts them) and the *_above_tier prices; requests_kcount
-- (per 1000 requests) / 1000 is per_request. Expects a checked price set.
CREATE FUNCTION llm_cost._genai_row(prices jsonb)
RETURNS TABLE (
    input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric, cache_write_per_mtok numeric,
    tier_threshold_tokens bigint,
    input_per_mtok_above_tier numeric, output_per_mtok_above_tier numeric,
    cache_read_per_mtok_above_tier numeric, cache_write_per_mtok_above_tier numeric,
    per_request numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH f AS (
        SELECT prices -> 'input_mtok' AS i, prices -> 'output_mtok' AS o,
               prices -> 'cache_read_mtok' AS cr, prices -> 'cache_write_mtok' AS cw
    ), t AS (
        SELECT f.*,
               (SELECT min(s COLLATE "C")::bigint
                  FROM unnest(ARRAY[f.i, f.o, f.cr, f.cw]) AS v,
                       LATERAL (SELECT v #>> '{tiers,0,start}' AS s) AS x
                 WHERE jsonb_typeof(v) = 'object' AND s ~ '^[0-9]+$' AND s::numeric BETWEEN 1 AND 9223372036854775807
               ) AS threshold
          FROM f
    )
    SELECT coalesce(llm_cost._genai_base(i), 0), coalesce(llm_cost._genai_base(o), 0),
           llm_cost._genai_base(cr), llm_cost._genai_base(cw),
           threshold,
           CASE WHEN threshold IS NOT NULL
                THEN coalesce(llm_cost._genai_above(i, threshold), llm_cost._genai_base(i), 0) END,
           llm_cost._genai_above(o, threshold), llm_cost._genai_above(cr, threshold), llm_cost._genai_above(cw, threshold),
           trim_scale((prices ->> 'requests_kcount')::numeric * 0.001)
      FROM t
     WHERE jsonb_typeof(i) = 'number' OR jsonb_typeof(i) = 'object'
        OR jsonb_typeof(o) = 'number' OR jsonb_typeof(o) = 'object'
$$;
COMMENT ON FUNCTION llm_cost._genai_row(jsonb) IS
  'Internal: one genai-prices price set as llm_cost price columns (standard tier), as scripts/gen_catalog.py converts it; no row without an input or output price.';

-- Raises 22023, naming the provider, model and field, unless the document is
-- genai-prices' data.json as llm_cost reads it: an array of providers, each
-- an object with a non-empty string id and an array of models; each model an
-- object with a non-empty string id and prices that are absent, null, one
-- price set, or an array of {constraint, prices}; a constraint absent, null
-- or an object whose start_date is a date (YYYY-MM-DD) and whose start_time
-- and end_time are times of day (HH:MM[:SS]Z); every field of a price set
-- null, a non-negative number or a tiered price {base, tiers: [{start,
-- price}]} with a non-negative base and prices and whole positive starts
-- (requests_kcount: a number).
CREATE FUNCTION llm_cost._genai_check(catalog jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    prov jsonb;
    m jsonb;
    e jsonb;
    pi bigint;
    mi bigint;
    ei bigint;
    pid text;
    here text;
    sets jsonb;
    f record;
    t record;
    what text;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) <> 'array' THEN
        RAISE EXCEPTION 'llm_cost: expected genai-prices'' data.json, a JSON array of providers, got %',
            coalesce(jsonb_typeof(catalog), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR prov, pi IN SELECT value, ordinality - 1 FROM jsonb_array_elements(catalog) WITH ORDINALITY LOOP
        IF jsonb_typeof(prov) <> 'object' OR jsonb_typeof(prov -> 'id') IS DISTINCT FROM 'string'
           OR btrim(prov ->> 'id') = '' THEN
            RAISE EXCEPTION 'llm_cost: genai-prices provider [%] must be an object with a non-empty string id', pi
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        pid := left(prov ->> 'id', 200);
        IF jsonb_typeof(prov -> 'models') IS DISTINCT FROM 'array' THEN
            RAISE EXCEPTION 'llm_cost: genai-prices provider "%": models must be an array, got %',
                pid, coalesce(jsonb_typeof(prov -> 'models'), 'nothing')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR m, mi IN SELECT value, ordinality - 1 FROM jsonb_array_elements(prov -> 'models') WITH ORDINALITY LOOP
            IF jsonb_typeof(m) <> 'object' OR jsonb_typeof(m -> 'id') IS DISTINCT FROM 'string'
               OR btrim(m ->> 'id') = '' THEN
                RAISE EXCEPTION 'llm_cost: genai-prices provider "%" model [%] must be an object with a non-empty string id', pid, mi
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            here := format('genai-prices provider "%s" model "%s"', pid, left(m ->> 'id', 200));
            -- Every price set of the model, with where it is.
            CASE coalesce(jsonb_typeof(m -> 'prices'), 'null')
                WHEN 'null' THEN
                    sets := '[]';
                WHEN 'object' THEN
                    sets := jsonb_build_array(jsonb_build_array('prices', m -> 'prices'));
                WHEN 'array' THEN
                    sets := '[]';
                    FOR e, ei IN SELECT value, ordinality - 1 FROM jsonb_array_elements(m -> 'prices') WITH ORDINALITY LOOP
                        IF jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'prices') IS DISTINCT FROM 'object' THEN
                            RAISE EXCEPTION 'llm_cost: % prices[%] must be an object {constraint, prices} whose prices is an object', here, ei
                                USING ERRCODE = 'invalid_parameter_value';
                        END IF;
                        IF coalesce(jsonb_typeof(e -> 'constraint'), 'null') NOT IN ('null', 'object') THEN
                            RAISE EXCEPTION 'llm_cost: % prices[%].constraint must be an object, got %', here, ei, jsonb_typeof(e -> 'constraint')
                                USING ERRCODE = 'invalid_parameter_value';
                        END IF;
                        IF e -> 'constraint' ? 'start_date' THEN
                            what := e #>> '{constraint,start_date}';
                            BEGIN
                                IF jsonb_typeof(e #> '{constraint,start_date}') <> 'string'
                                   OR what !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' OR what::date IS NULL THEN
                                    RAISE EXCEPTION USING ERRCODE = 'invalid_datetime_format';
                                END IF;
                            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
                                RAISE EXCEPTION 'llm_cost: % prices[%].constraint.start_date must be a date YYYY-MM-DD, got %',
                                    here, ei, left((e #> '{constraint,start_date}')::text, 100)
                                    USING ERRCODE = 'invalid_parameter_value';
                            END;
                        END IF;
                        FOR f IN SELECT key, value
                                   FROM jsonb_each(CASE WHEN jsonb_typeof(e -> 'constraint') = 'object' THEN e -> 'constraint' END)
                                  WHERE key IN ('start_time', 'end_time') LOOP
                            IF jsonb_typeof(f.value) <> 'string'
                               OR (f.value #>> '{}') !~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?Z?$' THEN
                                RAISE EXCEPTION 'llm_cost: % prices[%].constraint.% must be a UTC time of day HH:MM:SSZ, got %',
                                    here, ei, f.key, left(f.value::text, 100)
                                    USING ERRCODE = 'invalid_parameter_value';
                            END IF;
                        END LOOP;
                        sets := sets || jsonb_build_array(jsonb_build_array(format('prices[%s].prices', ei), e -> 'prices'));
                    END LOOP;
                ELSE
                    RAISE EXCEPTION 'llm_cost: % prices must be an object or an array, got %', here, jsonb_typeof(m -> 'prices')
                        USING ERRCODE = 'invalid_parameter_value';
            END CASE;
            -- Every field of every price set.
            FOR f IN SELECT s ->> 0 AS at, p.key, p.value
                       FROM jsonb_array_elements(sets) AS s, jsonb_each(s -> 1) AS p
                      WHERE jsonb_typeof(p.value) <> 'null' LOOP
                IF jsonb_typeof(f.value) = 'number' THEN
                    CONTINUE WHEN (f.value #>> '{}')::numeric >= 0;
                    RAISE EXCEPTION 'llm_cost: % %.% must not be negative (got %)', here, f.at, f.key, f.value
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF jsonb_typeof(f.value) <> 'object' OR f.key = 'requests_kcount' THEN
                    RAISE EXCEPTION 'llm_cost: % %.% must be a number%, got %', here, f.at, f.key,
                        CASE WHEN f.key = 'requests_kcount' THEN '' ELSE ' or a tiered price {base, tiers: [{start, price}]}' END,
                        jsonb_typeof(f.value)
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF jsonb_typeof(f.value -> 'base') IS DISTINCT FROM 'number' OR (f.value ->> 'base')::numeric < 0
                   OR jsonb_typeof(f.value -> 'tiers') IS DISTINCT FROM 'array' THEN
                    RAISE EXCEPTION 'llm_cost: % %.% must be a tiered price {base, tiers: [{start, price}]} with a non-negative base',
                        here, f.at, f.key
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                FOR t IN SELECT value, ordinality - 1 AS i FROM jsonb_array_elements(f.value -> 'tiers') WITH ORDINALITY LOOP
                    IF jsonb_typeof(t.value) <> 'object'
                       OR jsonb_typeof(t.value -> 'start') IS DISTINCT FROM 'number'
                       OR (t.value ->> 'start') !~ '^[0-9]+$'
                       OR (t.value ->> 'start')::numeric NOT BETWEEN 1 AND 9223372036854775807
                       OR jsonb_typeof(t.value -> 'price') IS DISTINCT FROM 'number'
                       OR (t.value ->> 'price')::numeric < 0 THEN
                        RAISE EXCEPTION 'llm_cost: % %.%.tiers[%] must be {start, price}: a whole number of tokens above 0 and a non-negative price',
                            here, f.at, f.key, t.i
                            USING ERRCODE = 'invalid_parameter_value';
                    END IF;
                END LOOP;
            END LOOP;
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION llm_cost._genai_check(jsonb) IS
  'Internal: raises 22023, naming the provider, model and field, unless the document is genai-prices'' data.json with usable prices.';

-- The price rows a genai-prices document describes, placed in this database's
-- catalog as scripts/gen_catalog.py places them in LiteLLM's: a model goes to
-- each provider of its _genai_providers under which the catalog (any row, any
-- time) already prices one of its _genai_names (compared case-insensitively,
-- as genai-prices matches, and filed under the catalog's spelling; an exact
-- match wins over others), else to the default provider under its first name.
-- Where two models give one (provider, model), the one whose first name it is
-- wins, then the first (providers by id, models in file order). (The
-- generator keeps the first; placing against LiteLLM's names alone, it meets
-- no such tie in genai-prices' file.) One row per period with a token price, standard
-- tier (genai-prices has no service tiers), consecutive equal prices merged.
CREATE FUNCTION llm_cost.genai_price_rows(catalog jsonb)
RETURNS TABLE (
    provider text, model text, service_tier text, valid_from timestamptz,
    input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric, cache_write_per_mtok numeric, reasoning_per_mtok numeric,
    tier_threshold_tokens bigint,
    input_per_mtok_above_tier numeric, output_per_mtok_above_tier numeric,
    cache_read_per_mtok_above_tier numeric, cache_write_per_mtok_above_tier numeric,
    per_request numeric,
    origin text)
-- The planner's guesses for the JSON functions add up past jit_above_cost:
-- compiling the query took a second, running it milliseconds.
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
BEGIN
    PERFORM llm_cost._genai_check(catalog);
    RETURN QUERY
    WITH providers AS (
        SELECT p.value AS prov, p.value ->> 'id' AS pid,
               row_number() OVER (ORDER BY p.value ->> 'id' COLLATE "C", p.n) AS pord
          FROM jsonb_array_elements(catalog) WITH ORDINALITY AS p (value, n)
    ), models AS (
        SELECT pr.pid, pr.pord, m.n AS mord, m.value ->> 'id' AS mid, m.value -> 'prices' AS prices,
               llm_cost._genai_names(pr.pid, m.value) AS names,
               llm_cost._genai_providers(pr.pid, m.value ->> 'id') AS targets
          FROM providers AS pr, jsonb_array_elements(pr.prov -> 'models') WITH ORDINALITY AS m (value, n)
    ), periods AS (
        SELECT m.pord, m.mord, m.pid, m.mid, per.period, per.valid_from, r.*
          FROM models AS m,
               LATERAL llm_cost._genai_periods(m.prices) AS per,
               LATERAL llm_cost._genai_row(per.prices) AS r
    ), merged AS (
        SELECT * FROM (
            SELECT periods.*,
                   coalesce(lag(price) OVER (PARTITION BY pord, mord ORDER BY period) = price, false) AS same_as_before
              FROM periods,
                   LATERAL (SELECT jsonb_build_array(input_per_mtok, output_per_mtok, cache_read_per_mtok,
                                                     cache_write_per_mtok, tier_threshold_tokens,
                                                     input_per_mtok_above_tier, output_per_mtok_above_tier,
                                                     cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                                                     per_request) AS price) AS pr) AS x
         WHERE NOT same_as_before
    ), priced AS (
        SELECT m.* FROM models AS m WHERE EXISTS (SELECT FROM merged WHERE (merged.pord, merged.mord) = (m.pord, m.mord))
    ), known AS (
        SELECT DISTINCT ON (c.pord, c.mord, c.provider, c.model) c.pord, c.mord, c.provider, c.model
          FROM (SELECT pm.pord, pm.mord, t.provider, n.name, cat.model,
                       bool_or(cat.model = n.name) OVER (PARTITION BY pm.pord, pm.mord, t.provider, n.name) AS exact_exists
                  FROM priced AS pm
                 CROSS JOIN unnest(pm.targets) AS t (provider)
                 CROSS JOIN unnest(pm.names) AS n (name)
                  JOIN (SELECT DISTINCT p.provider, p.model FROM llm_cost.prices AS p) AS cat
                    ON cat.provider = t.provider AND lower(cat.model) = lower(n.name)) AS c
         WHERE c.model = c.name OR NOT c.exact_exists
    ), placed AS (
        -- A model filed under its own first name wins over one that only
        -- knows it as an alias (else a model new in one import could take
        -- another's row in the next), then the first in the file.
        SELECT DISTINCT ON (provider, model) *
          FROM (SELECT k.pord, k.mord, k.provider, k.model, k.model = pm.names[1] AS own
                  FROM known AS k JOIN priced AS pm USING (pord, mord)
                UNION ALL
                SELECT pm.pord, pm.mord, pm.targets[1], pm.names[1], true
                  FROM priced AS pm
                 WHERE NOT EXISTS (SELECT FROM known AS k WHERE (k.pord, k.mord) = (pm.pord, pm.mord))) AS t
         ORDER BY provider, model, own DESC, pord, mord
    )
    SELECT pl.provider, pl.model, 'standard'::text, r.valid_from,
           r.input_per_mtok, r.output_per_mtok, r.cache_read_per_mtok, r.cache_write_per_mtok, NULL::numeric,
           r.tier_threshold_tokens, r.input_per_mtok_above_tier, r.output_per_mtok_above_tier,
           r.cache_read_per_mtok_above_tier, r.cache_write_per_mtok_above_tier, r.per_request,
           r.pid || '/' || r.mid
      FROM placed AS pl
      JOIN merged AS r USING (pord, mord)
     ORDER BY pl.provider, pl.model, r.valid_from;
END $$;
COMMENT ON FUNCTION llm_cost.genai_price_rows(jsonb) IS
  'The price rows (per million tokens, exact, standard tier, dated by valid_from) that a genai-prices data.json document describes, placed among this database''s providers and names as the shipped catalog places them, without storing them. origin names the genai-prices provider/model.';

REVOKE EXECUTE ON FUNCTION llm_cost._genai_providers(text, text), llm_cost._genai_names(text, jsonb),
    llm_cost._genai_periods(jsonb), llm_cost._genai_base(jsonb), llm_cost._genai_above(jsonb, bigint),
    llm_cost._genai_row(jsonb), llm_cost._genai_check(jsonb), llm_cost.genai_price_rows(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost._genai_providers(text, text), llm_cost._genai_names(text, jsonb),
    llm_cost._genai_periods(jsonb), llm_cost._genai_base(jsonb), llm_cost._genai_above(jsonb, bigint),
    llm_cost._genai_row(jsonb), llm_cost._genai_check(jsonb), llm_cost.genai_price_rows(jsonb)
    TO llm_cost_admin, llm_cost_reader;

CREATE OR REPLACE FUNCTION llm_cost.import_prices(catalog jsonb, source text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    added integer;
    more integer;
    genai boolean;
    phase integer;
    rec record;
    cur record;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'llm_cost.import_prices: expected a price list: LiteLLM''s (a JSON object mapping model names to price entries) or genai-prices'' data.json (a JSON array of providers), got %',
            coalesce(jsonb_typeof(catalog), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The format is the document's shape: LiteLLM's list is an object,
    -- genai-prices' data.json an array. The source defaults to its name.
    genai := jsonb_typeof(catalog) = 'array';
    source := coalesce(source, CASE WHEN genai THEN 'genai-prices' ELSE 'litellm' END);
    IF btrim(source) = '' THEN
        RAISE EXCEPTION 'llm_cost.import_prices: source must be a non-empty name'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('pg_temp.llm_cost_import') IS NOT NULL THEN   -- (IF EXISTS would NOTICE without a temp schema)
        DROP TABLE pg_temp.llm_cost_import;
    END IF;

    IF genai THEN
        -- genai_price_rows checks the document (22023 naming provider, model and field).
        -- (its rows carry no off-peak prices: genai-prices' time-of-day
        -- windows are folded as the generator folds them)
        CREATE TEMP TABLE llm_cost_import ON COMMIT DROP AS
            SELECT g.*, NULL::numeric AS off_peak_input_per_mtok, NULL::numeric AS off_peak_output_per_mtok,
                   NULL::numeric AS off_peak_cache_read_per_mtok, NULL::jsonb AS off_peak_windows
              FROM llm_cost.genai_price_rows(catalog) AS g;
    ELSE
        IF catalog <> '{}' AND NOT EXISTS (
            SELECT FROM jsonb_each(catalog) AS e
             WHERE jsonb_typeof(e.value) = 'object' AND e.value ? 'litellm_provider') THEN
            RAISE EXCEPTION 'llm_cost.import_prices: the document is not a price list: no entry has a litellm_provider'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'pass the contents of LiteLLM''s model_prices_and_context_window.json or genai-prices'' data.json';
        END IF;
        -- Every price field we read must be a number (or null); a string would be
        -- silently mispriced, so name the first offender.
        SELECT e.key AS model, f.key AS field, jsonb_typeof(f.value) AS type INTO bad
          FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND (f.key ~ '^(input|output)_cost_per_(token|reasoning_token|request)'
                OR f.key ~ '^cache_(read|creation)_input_token_cost')
           AND jsonb_typeof(f.value) NOT IN ('number', 'null')
         LIMIT 1;
        IF NOT FOUND THEN
            SELECT e.key AS model, 'off_peak_pricing.' || f.key AS field, jsonb_typeof(f.value) AS type INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value -> 'off_peak_pricing') AS f
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
               AND jsonb_typeof(e.value -> 'off_peak_pricing') = 'object'
               AND f.key IN ('input_cost_per_token', 'output_cost_per_token', 'cache_read_input_token_cost')
               AND jsonb_typeof(f.value) NOT IN ('number', 'null')
             LIMIT 1;
        END IF;
        IF NOT FOUND THEN
            SELECT e.key AS model, 'off_peak_pricing' AS field, jsonb_typeof(e.value -> 'off_peak_pricing') AS type INTO bad
              FROM jsonb_each(catalog) AS e
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
               AND jsonb_typeof(e.value -> 'off_peak_pricing') NOT IN ('object', 'null')
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field off_peak_pricing must be an object with windows, got %', bad.model, bad.type
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        IF FOUND THEN
            RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % must be a number, got %', bad.model, bad.field, bad.type
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT e.key AS model, f.key AS field, f.value #>> '{}' AS value INTO bad
          FROM jsonb_each(catalog) AS e, jsonb_each(e.value) AS f
         WHERE jsonb_typeof(e.value) = 'object'
           AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
           AND jsonb_typeof(f.value) = 'number' AND (f.value #>> '{}')::numeric < 0
           AND (f.key ~ '^(input|output)_cost_per_' OR f.key ~ '^cache_(read|creation)_input_token_cost')
         LIMIT 1;
        IF NOT FOUND THEN
            SELECT e.key AS model, 'off_peak_pricing.' || f.key AS field, f.value #>> '{}' AS value INTO bad
              FROM jsonb_each(catalog) AS e, jsonb_each(e.value -> 'off_peak_pricing') AS f
             WHERE jsonb_typeof(e.value) = 'object'
               AND e.value ->> 'mode' IN ('chat', 'completion', 'responses')
               AND jsonb_typeof(e.value -> 'off_peak_pricing') = 'object'
               AND jsonb_typeof(f.value) = 'number' AND (f.value #>> '{}')::numeric < 0
               AND f.key IN ('input_cost_per_token', 'output_cost_per_token', 'cache_read_input_token_cost')
             LIMIT 1;
        END IF;
        IF FOUND THEN
            RAISE EXCEPTION 'llm_cost.import_prices: entry "%" field % must not be negative (got %)', bad.model, bad.field, bad.value
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        CREATE TEMP TABLE llm_cost_import ON COMMIT DROP AS
            SELECT * FROM llm_cost.litellm_price_rows(catalog);
    END IF;

    SELECT i.provider, i.model INTO bad
      FROM pg_temp.llm_cost_import AS i
     WHERE i.provider = '' OR i.model = ''
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: an entry of provider "%" names no model', left(bad.provider, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Names go into the prices_key index: keep them well inside its size limit.
    SELECT i.provider, i.model INTO bad
      FROM pg_temp.llm_cost_import AS i
     WHERE octet_length(i.provider) > 1000 OR octet_length(i.model) > 1000
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: provider "%" or model "%" is longer than 1000 bytes',
            left(bad.provider, 40), left(bad.model, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A row pricing could not hold exactly would be stored but ignored, or
    -- make every call of its model fail (see _unpriceable).
    SELECT i.provider, i.model, i.service_tier, u.problem INTO bad
      FROM pg_temp.llm_cost_import AS i,
           LATERAL (SELECT llm_cost._unpriceable(ARRAY[i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok,
                                                       i.cache_write_per_mtok, i.reasoning_per_mtok,
                                                       i.input_per_mtok_above_tier, i.output_per_mtok_above_tier,
                                                       i.cache_read_per_mtok_above_tier,
                                                       i.cache_write_per_mtok_above_tier, i.per_request,
                                                       i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
                                                       i.off_peak_cache_read_per_mtok]) AS problem) AS u
     WHERE u.problem IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: model "%" of provider "%" (% tier) cannot be priced exactly: %',
            bad.model, bad.provider, bad.service_tier, bad.problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Prices per million tokens must be below 10^15 with at most 30 decimal places, and a row''s largest price written with as many decimal places as its most precise one must have at most 29 digits.';
    END IF;
    SELECT i.provider, i.model INTO bad
      FROM pg_temp.llm_cost_import AS i
     WHERE i.off_peak_windows IS NOT NULL AND i.tier_threshold_tokens IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'llm_cost.import_prices: model "%" of provider "%" has both off_peak_pricing and a long-context tier, which llm_cost cannot combine',
            bad.model, bad.provider
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF genai THEN
        -- In time order, each step seeing the rows the ones before it added
        -- (so that a second import finds every decision made): (1) the dated
        -- price changes the file records up to now that the catalog does not
        -- have yet, each compared with the price the catalog has in force at
        -- its date; (2) the price the file has in force now: confirmed where
        -- the catalog has it in force, else (a changed price, a new model) a
        -- row dated now(); (3) the dated changes after now, as in (1). A row
        -- already at a change's date is never rewritten. Compared are the
        -- columns genai-prices can set (it has no reasoning price), as the
        -- generator compares them.
        added := 0;
        FOR phase IN 1..3 LOOP
            IF phase = 2 THEN

                UPDATE llm_cost.prices AS p SET verified_at = now()
                  FROM llm_cost.current_prices AS c
                  JOIN (SELECT DISTINCT ON (n.provider, n.model, n.service_tier) n.*
                          FROM pg_temp.llm_cost_import AS n
                         WHERE n.valid_from <= now()
                         ORDER BY n.provider, n.model, n.service_tier, n.valid_from DESC) AS i
                 USING (provider, model, service_tier)
                 WHERE p.id = c.id
                   AND (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
                        i.tier_threshold_tokens, i.input_per_mtok_above_tier, i.output_per_mtok_above_tier,
                        i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier, i.per_request)
                       IS NOT DISTINCT FROM
                       (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
                        c.tier_threshold_tokens, c.input_per_mtok_above_tier, c.output_per_mtok_above_tier,
                        c.cache_read_per_mtok_above_tier, c.cache_write_per_mtok_above_tier, c.per_request);
                INSERT INTO llm_cost.prices AS p (
                    provider, model, service_tier, valid_from, input_per_mtok, output_per_mtok, cache_read_per_mtok,
                    cache_write_per_mtok, reasoning_per_mtok, tier_threshold_tokens, input_per_mtok_above_tier,
                    output_per_mtok_above_tier, cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                    per_request, currency, source, verified_at)
                SELECT i.provider, i.model, i.service_tier, now(), i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok,
                       i.cache_write_per_mtok, NULL, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
                       i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier,
                       i.per_request, 'USD', import_prices.source, now()
                  FROM (SELECT DISTINCT ON (n.provider, n.model, n.service_tier) n.*
                          FROM pg_temp.llm_cost_import AS n
                         WHERE n.valid_from <= now()
                         ORDER BY n.provider, n.model, n.service_tier, n.valid_from DESC) AS i
                  LEFT JOIN llm_cost.current_prices AS c USING (provider, model, service_tier)
                 WHERE c.id IS NULL
                    OR (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
                        i.tier_threshold_tokens, i.input_per_mtok_above_tier, i.output_per_mtok_above_tier,
                        i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier, i.per_request)
                       IS DISTINCT FROM
                       (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
                        c.tier_threshold_tokens, c.input_per_mtok_above_tier, c.output_per_mtok_above_tier,
                        c.cache_read_per_mtok_above_tier, c.cache_write_per_mtok_above_tier, c.per_request)
                -- A second import in the same transaction (same now()) replaces that row.
                ON CONFLICT ON CONSTRAINT prices_key DO UPDATE SET
                    input_per_mtok = excluded.input_per_mtok,
                    output_per_mtok = excluded.output_per_mtok,
                    cache_read_per_mtok = excluded.cache_read_per_mtok,
                    cache_write_per_mtok = excluded.cache_write_per_mtok,
                    reasoning_per_mtok = excluded.reasoning_per_mtok,
                    tier_threshold_tokens = excluded.tier_threshold_tokens,
                    input_per_mtok_above_tier = excluded.input_per_mtok_above_tier,
                    output_per_mtok_above_tier = excluded.output_per_mtok_above_tier,
                    cache_read_per_mtok_above_tier = excluded.cache_read_per_mtok_above_tier,
                    cache_write_per_mtok_above_tier = excluded.cache_write_per_mtok_above_tier,
                    per_request = excluded.per_request,
                    source = excluded.source,
                    verified_at = excluded.verified_at;
                GET DIAGNOSTICS more = ROW_COUNT;
                added := added + more;
                CONTINUE;
            END IF;
            FOR rec IN SELECT * FROM pg_temp.llm_cost_import AS i
                      WHERE i.valid_from > '-infinity' AND (i.valid_from <= now()) = (phase = 1)
                      ORDER BY i.provider, i.model, i.service_tier, i.valid_from LOOP
                CONTINUE WHEN EXISTS (
                    SELECT FROM llm_cost.prices AS p
                     WHERE (p.provider, p.model, p.service_tier, p.valid_from) = (rec.provider, rec.model, rec.service_tier, rec.valid_from));
                SELECT p.* INTO cur
                  FROM llm_cost.prices AS p
                 WHERE (p.provider, p.model, p.service_tier) = (rec.provider, rec.model, rec.service_tier)
                   AND p.valid_from <= rec.valid_from
                 ORDER BY p.valid_from DESC
                 LIMIT 1;
                CONTINUE WHEN FOUND
                    AND (rec.input_per_mtok, rec.output_per_mtok, rec.cache_read_per_mtok, rec.cache_write_per_mtok,
                         rec.tier_threshold_tokens, rec.input_per_mtok_above_tier, rec.output_per_mtok_above_tier,
                         rec.cache_read_per_mtok_above_tier, rec.cache_write_per_mtok_above_tier, rec.per_request)
                        IS NOT DISTINCT FROM
                        (cur.input_per_mtok, cur.output_per_mtok, cur.cache_read_per_mtok, cur.cache_write_per_mtok,
                         cur.tier_threshold_tokens, cur.input_per_mtok_above_tier, cur.output_per_mtok_above_tier,
                         cur.cache_read_per_mtok_above_tier, cur.cache_write_per_mtok_above_tier, cur.per_request);
                INSERT INTO llm_cost.prices (
                    provider, model, service_tier, valid_from, input_per_mtok, output_per_mtok, cache_read_per_mtok,
                    cache_write_per_mtok, reasoning_per_mtok, tier_threshold_tokens, input_per_mtok_above_tier,
                    output_per_mtok_above_tier, cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
                    per_request, currency, source, verified_at)
                VALUES (rec.provider, rec.model, rec.service_tier, rec.valid_from, rec.input_per_mtok, rec.output_per_mtok,
                        rec.cache_read_per_mtok, rec.cache_write_per_mtok, NULL, rec.tier_threshold_tokens,
                        rec.input_per_mtok_above_tier, rec.output_per_mtok_above_tier, rec.cache_read_per_mtok_above_tier,
                        rec.cache_write_per_mtok_above_tier, rec.per_request, 'USD', import_prices.source, now());
                added := added + 1;
            END LOOP;
        END LOOP;
        RETURN added;
    END IF;

    -- Prices that match the row in force are confirmed, not duplicated.
    UPDATE llm_cost.prices AS p SET verified_at = now()
      FROM llm_cost.current_prices AS c
      JOIN pg_temp.llm_cost_import AS i USING (provider, model, service_tier)
     WHERE p.id = c.id
       AND (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
            i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
            i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier,
            i.cache_write_per_mtok_above_tier, i.per_request, i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
            i.off_peak_cache_read_per_mtok, i.off_peak_windows)
           IS NOT DISTINCT FROM
           (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
            c.reasoning_per_mtok, c.tier_threshold_tokens, c.input_per_mtok_above_tier,
            c.output_per_mtok_above_tier, c.cache_read_per_mtok_above_tier,
            c.cache_write_per_mtok_above_tier, c.per_request, c.off_peak_input_per_mtok, c.off_peak_output_per_mtok,
            c.off_peak_cache_read_per_mtok, c.off_peak_windows);

    INSERT INTO llm_cost.prices AS p (
        provider, model, service_tier, valid_from, input_per_mtok, output_per_mtok, cache_read_per_mtok,
        cache_write_per_mtok, reasoning_per_mtok, tier_threshold_tokens, input_per_mtok_above_tier,
        output_per_mtok_above_tier, cache_read_per_mtok_above_tier, cache_write_per_mtok_above_tier,
        per_request, currency, source, verified_at,
        off_peak_input_per_mtok, off_peak_output_per_mtok, off_peak_cache_read_per_mtok, off_peak_windows)
    SELECT i.provider, i.model, i.service_tier, now(), i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok,
           i.cache_write_per_mtok, i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
           i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier, i.cache_write_per_mtok_above_tier,
           i.per_request, 'USD', import_prices.source, now(),
           i.off_peak_input_per_mtok, i.off_peak_output_per_mtok, i.off_peak_cache_read_per_mtok, i.off_peak_windows
      FROM pg_temp.llm_cost_import AS i
      LEFT JOIN llm_cost.current_prices AS c USING (provider, model, service_tier)
     WHERE c.id IS NULL
        OR (i.input_per_mtok, i.output_per_mtok, i.cache_read_per_mtok, i.cache_write_per_mtok,
            i.reasoning_per_mtok, i.tier_threshold_tokens, i.input_per_mtok_above_tier,
            i.output_per_mtok_above_tier, i.cache_read_per_mtok_above_tier,
            i.cache_write_per_mtok_above_tier, i.per_request, i.off_peak_input_per_mtok, i.off_peak_output_per_mtok,
            i.off_peak_cache_read_per_mtok, i.off_peak_windows)
           IS DISTINCT FROM
           (c.input_per_mtok, c.output_per_mtok, c.cache_read_per_mtok, c.cache_write_per_mtok,
            c.reasoning_per_mtok, c.tier_threshold_tokens, c.input_per_mtok_above_tier,
            c.output_per_mtok_above_tier, c.cache_read_per_mtok_above_tier,
            c.cache_write_per_mtok_above_tier, c.per_request, c.off_peak_input_per_mtok, c.off_peak_output_per_mtok,
            c.off_peak_cache_read_per_mtok, c.off_peak_windows)
    -- A second import in the same transaction (same now()) replaces that row.
    ON CONFLICT ON CONSTRAINT prices_key DO UPDATE SET
        input_per_mtok = excluded.input_per_mtok,
        output_per_mtok = excluded.output_per_mtok,
        cache_read_per_mtok = excluded.cache_read_per_mtok,
        cache_write_per_mtok = excluded.cache_write_per_mtok,
        reasoning_per_mtok = excluded.reasoning_per_mtok,
        tier_threshold_tokens = excluded.tier_threshold_tokens,
        input_per_mtok_above_tier = excluded.input_per_mtok_above_tier,
        output_per_mtok_above_tier = excluded.output_per_mtok_above_tier,
        cache_read_per_mtok_above_tier = excluded.cache_read_per_mtok_above_tier,
        cache_write_per_mtok_above_tier = excluded.cache_write_per_mtok_above_tier,
        per_request = excluded.per_request,
        source = excluded.source,
        verified_at = excluded.verified_at,
        off_peak_input_per_mtok = excluded.off_peak_input_per_mtok,
        off_peak_output_per_mtok = excluded.off_peak_output_per_mtok,
        off_peak_cache_read_per_mtok = excluded.off_peak_cache_read_per_mtok,
        off_peak_windows = excluded.off_peak_windows;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END $$;
COMMENT ON FUNCTION llm_cost.import_prices(jsonb, text) IS
  'Loads a price file, LiteLLM''s model_prices_and_context_window.json (a JSON object) or genai-prices'' data.json (a JSON array): adds a row dated now() for each (provider, model, service tier) whose price in force now changed or is new (LiteLLM''s off_peak_pricing included), and for genai-prices the dated price changes it records that the catalog lacks (valid_from = the start date, 00:00 UTC); marks unchanged prices verified; never deletes or rewrites a row. source defaults to ''litellm'' or ''genai-prices''. Idempotent; returns rows added.';

-- Window ceilings the planner can inline (as in sql/analytics.sql).
-- The ceilings below mention ts once and use only immutable operators
-- (timestamp, not timestamptz, arithmetic), so the planner inlines the whole
-- window split into builtins: a constant window folds to constants, and a
-- window like now() - interval '1 hour' costs a few builtin calls per row
-- instead of SQL function calls (measured: the last hour's cost_summary over
-- 127,000 rows 600 ms -> 142 ms).
CREATE OR REPLACE FUNCTION llm_cost._utc_day_ceil(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((ts AT TIME ZONE 'UTC') - interval '1 microsecond')::date + 1
$$;
CREATE OR REPLACE FUNCTION llm_cost._utc_hour_ceil(ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (date_trunc('hour', (ts AT TIME ZONE 'UTC') - interval '1 microsecond') + interval '1 hour') AT TIME ZONE 'UTC'
$$;

-- Inserted spend is written just before commit by the extension's pre-commit
-- callback, no longer by a deferred constraint trigger queued per transaction
-- (as in sql/budgets.sql). The library keeps answering the old trigger's WHEN
-- clause with false until this runs.
DROP TRIGGER usage_spend_flush ON llm_cost.usage;
DROP FUNCTION llm_cost.usage_spend_flush();
DROP FUNCTION llm_cost._spend_flush_wanted();
COMMENT ON FUNCTION llm_cost.usage_spend_add() IS 'Trigger: adds an inserted usage row to its transaction''s pending budget spend, which is written just before commit.';

-- Budget periods start at the first instant of their local midnight (as in
-- sql/budgets.sql): where clocks are set back across midnight (America/Havana,
-- Atlantic/Azores) date_trunc with a time zone started the day an hour late,
-- and period_end failed for 'quarter' budgets ('1 quarter' is no interval).
-- `later` is local AT TIME ZONE tz; the same wall-clock time under the UTC
-- offset in force just before `later`, if that is earlier and reads the same.
CREATE FUNCTION llm_cost._earlier_if_same_wall_clock(local timestamp, tz text, later timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT CASE WHEN e.earlier < later AND e.earlier AT TIME ZONE tz = local THEN e.earlier ELSE later END
          FROM (SELECT (local - (((later - interval '1 microsecond') AT TIME ZONE tz)
                                 - ((later - interval '1 microsecond') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' AS earlier) AS e);
COMMENT ON FUNCTION llm_cost._earlier_if_same_wall_clock(timestamp, text, timestamptz) IS
  'Internal: helper of _first_instant.';

-- The first instant at which the wall clock of zone `tz` reads `local`.
-- Where a wall-clock time occurs twice because clocks are set back across it
-- (at midnight in America/Havana and Atlantic/Azores), `local AT TIME ZONE tz`
-- gives the later instant, which would start that day an hour late and leave
-- the hour before it in no period; where it never occurs (clocks set forward
-- across it), Postgres gives the first instant after the gap, which is right.
-- The Rust spend trigger computes the same (spend_trigger::period_start).
CREATE FUNCTION llm_cost._first_instant(local timestamp, tz text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN llm_cost._earlier_if_same_wall_clock(local, tz, local AT TIME ZONE tz);
COMMENT ON FUNCTION llm_cost._first_instant(timestamp, text) IS
  'Internal: the first instant at which zone tz''s wall clock reads local (the earlier of two when clocks were set back across it).';

-- The length of one period, for period arithmetic on wall-clock times.
CREATE FUNCTION llm_cost._period_length(period text) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE period WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '7 days'
                   WHEN 'month' THEN interval '1 month' WHEN 'quarter' THEN interval '3 months'
                   WHEN 'year' THEN interval '1 year' END;
COMMENT ON FUNCTION llm_cost._period_length(text) IS 'Internal: one day, week, month, quarter or year as an interval.';

-- Start of the calendar period containing `at`, in time zone `tz`: the first
-- instant whose wall clock there reads the period's first midnight.
-- STABLE, like date_trunc with a time zone (zone rules can change); that lets
-- the planner inline it into the spend query instead of calling it per row.
CREATE OR REPLACE FUNCTION llm_cost.period_start(period text, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN period = 'total' THEN '-infinity'::timestamptz
            ELSE llm_cost._first_instant(date_trunc(period, at AT TIME ZONE tz), tz) END;
COMMENT ON FUNCTION llm_cost.period_start(text, text, timestamptz) IS
  'Start of the calendar period (day, week = ISO week from Monday, month, quarter, year; total = -infinity) containing at, in time zone tz.';

CREATE OR REPLACE FUNCTION llm_cost.period_end(period text, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN period = 'total' THEN 'infinity'::timestamptz
            ELSE llm_cost._first_instant(date_trunc(period, at AT TIME ZONE tz) + llm_cost._period_length(period), tz) END;
COMMENT ON FUNCTION llm_cost.period_end(text, text, timestamptz) IS
  'End (exclusive) of the calendar period containing at, in time zone tz: the start of the next one; infinity for total.';
REVOKE EXECUTE ON FUNCTION llm_cost._earlier_if_same_wall_clock(timestamp, text, timestamptz),
    llm_cost._first_instant(timestamp, text), llm_cost._period_length(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost._earlier_if_same_wall_clock(timestamp, text, timestamptz),
    llm_cost._first_instant(timestamp, text), llm_cost._period_length(text) TO llm_cost_admin, llm_cost_reader;
-- Running totals kept under a period start that is not one any more are
-- recomputed from the ledger (only budgets in such zones have any).
SELECT llm_cost.rebuild_budget_spend(b.id)
  FROM llm_cost.budgets AS b
 WHERE EXISTS (SELECT FROM llm_cost.budget_spend AS s
                WHERE s.budget_id = b.id AND s.period_start <> llm_cost.period_start(b.period, b.timezone, s.period_start));

-- Names as apps log them (sql/schema.sql, sql/api.sql, src/catalog.rs).
-- Provider spellings of OpenTelemetry, LangChain and the Vercel AI SDK; a
-- user's own alias of the same spelling is kept.
INSERT INTO llm_cost.provider_aliases (alias, provider, builtin) VALUES
    -- OpenTelemetry gen_ai.system (and the semantic conventions' older az.* spellings)
    ('aws.bedrock', 'bedrock', true),
    ('gcp.vertex_ai', 'vertex_ai', true),
    ('gcp.gemini', 'gemini', true),
    ('gcp.gen_ai', 'gemini', true),
    ('azure.ai.openai', 'azure', true),
    ('az.ai.openai', 'azure', true),
    ('azure.ai.inference', 'azure_ai', true),
    ('az.ai.inference', 'azure_ai', true),
    ('mistral_ai', 'mistral', true),
    ('x_ai', 'xai', true),
    ('ibm.watsonx.ai', 'watsonx', true),
    -- LangChain providers
    ('google_genai', 'gemini', true),
    ('google_vertexai', 'vertex_ai', true),
    ('google_anthropic_vertex', 'vertex_ai', true),
    ('amazon_bedrock', 'bedrock', true),
    ('ibm', 'watsonx', true),
    -- Vercel AI SDK provider ids (API suffixes such as .chat are dropped by the resolver)
    ('google.generative-ai', 'gemini', true),
    ('google.vertex', 'vertex_ai', true),
    ('google.vertex.anthropic', 'vertex_ai', true),
    ('amazon-bedrock', 'bedrock', true),
    ('azure-openai', 'azure', true),
    ('togetherai', 'together_ai', true),
    -- other common spellings
    ('vertexai', 'vertex_ai', true),
    ('vertex-ai', 'vertex_ai', true),
    ('google-vertex', 'vertex_ai', true),
    ('aws-bedrock', 'bedrock', true),
    -- pydantic genai-prices provider ids
    ('together-ai', 'together_ai', true),
    ('moonshotai', 'moonshot', true),
    ('zhipuai', 'zai', true),
    ('voyageai', 'voyage', true)
ON CONFLICT (alias) DO NOTHING;
COMMENT ON TABLE llm_cost.provider_aliases IS
  'Provider names as users write them (google, aws, ...) mapped to the catalog''s provider names: builtin rows cover the spellings of OpenTelemetry gen_ai.system (aws.bedrock, gcp.vertex_ai, azure.ai.openai, ...), LangChain (google_genai, amazon_bedrock, ...) and the Vercel AI SDK (google.generative-ai, amazon-bedrock, ...; a trailing API suffix such as .chat, .responses or .messages is dropped when the full name is not known).';
-- The catalog reads llm_cost.models (responses-mode entries give way to chat ones).
CREATE TRIGGER models_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON llm_cost.models
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost.catalog_changed();
CREATE FUNCTION llm_cost.resolve_model(provider text, model text, at timestamptz DEFAULT now())
RETURNS TABLE (method text, rules text[], fine_tune boolean, resolved_provider text, resolved_model text,
               price_id bigint, reason text)
STRICT STABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'resolve_model_wrapper';
COMMENT ON FUNCTION llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text) IS
  'Each component of a call''s cost, the price row used, the service tier priced, and how the model name was resolved (resolution: method, the rewrites of the name as rules, fine_tune); when there is no price, cost and price are null and resolution.reason says why.';
COMMENT ON FUNCTION llm_cost.resolve_model(text, text, timestamptz) IS
  'How a (provider, model) as an app logged it resolves, without pricing a call: method (exact, case_insensitive, alias, variant, normalised, fine_tune, provider_prefix, provider_family, provider_sibling), rules (the rewrites of the name), fine_tune, the catalog provider and model, the standard price row in force at at; or NULLs and the reason. A dated name never resolves to a different snapshot.';
-- Every (provider, model) the ledger holds and how it resolved: a fuzzy match
-- is never silent. One resolve_model() call per distinct name (memoised per
-- backend), at the name's newest call.
CREATE VIEW llm_cost.model_resolution WITH (security_invoker = true) AS
SELECT u.provider, u.model, u.calls, u.unpriced_calls, u.cost, u.first_call, u.last_call,
       r.method, r.rules, r.fine_tune, r.resolved_provider, r.resolved_model, r.price_id, r.reason
  FROM (SELECT provider, model, count(*) AS calls, count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls,
               sum(cost) AS cost, min(occurred_at) AS first_call, max(occurred_at) AS last_call
          FROM llm_cost.usage
         GROUP BY provider, model) AS u
  LEFT JOIN LATERAL llm_cost.resolve_model(u.provider, u.model, u.last_call) AS r ON true;
COMMENT ON VIEW llm_cost.model_resolution IS
  'Each distinct (provider, model) in the ledger (as the session may see it): its calls, unpriced calls and cost, and how the name resolves now: method (exact, case_insensitive, alias, variant, normalised, fine_tune, provider_prefix, provider_family, provider_sibling; NULL when unresolved), the rewrites applied (rules), the catalog model, the price row in force at its last call, or the reason there is none.';
COMMENT ON COLUMN llm_cost.model_resolution.calls IS 'Calls logged under this name.';
COMMENT ON COLUMN llm_cost.model_resolution.unpriced_calls IS 'Calls kept without a cost (see llm_cost.unpriced_usage and reprice()).';
COMMENT ON COLUMN llm_cost.model_resolution.cost IS 'Sum of the calls'' cost, each in its row''s currency.';
COMMENT ON COLUMN llm_cost.model_resolution.method IS 'How the name resolves (see llm_cost.resolve_model); NULL when it does not.';
COMMENT ON COLUMN llm_cost.model_resolution.rules IS 'Rewrites of the name that found the model: bedrock_arn, path, router_variant, region_prefix, bedrock_version, vertex_date, google_version, dotted_version, fireworks_path, fine_tune, fine_tune_base, chat_over_responses.';
COMMENT ON COLUMN llm_cost.model_resolution.price_id IS 'The llm_cost.prices row (standard tier) in force at the name''s last call; NULL when none.';
COMMENT ON COLUMN llm_cost.model_resolution.reason IS 'Why there is no price: e.g. a dated snapshot the catalog lacks while it has other snapshots of the model, an unknown provider, a :free variant with no free price.';
REVOKE ALL ON llm_cost.model_resolution FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION llm_cost.resolve_model(text, text, timestamptz) FROM PUBLIC;
GRANT ALL ON llm_cost.model_resolution TO llm_cost_admin;
GRANT SELECT ON llm_cost.model_resolution TO llm_cost_reader;
GRANT EXECUTE ON FUNCTION llm_cost.resolve_model(text, text, timestamptz) TO llm_cost_admin, llm_cost_reader;
