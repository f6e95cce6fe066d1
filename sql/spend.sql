-- Budget spend: exact running totals, folded in the same transaction.
--
-- How spend stays exact: every change to the ledgers reaches
-- llm_cost.budget_spend in the same transaction. Usage inserts (INSERT, COPY)
-- pass a row trigger, usage_spend_add (Rust, src/budgets/spend_trigger.rs), that
-- adds each row to the transaction's pending totals in memory; those are written
-- once, just before commit (or earlier when something in the transaction calls
-- flush_spend()), one write per (budget, period, per value) touched. UPDATEs of
-- usage (reprice(), corrections) and DELETEs, and every change to
-- llm_cost.resource_usage, are folded by statement-level triggers with
-- transition tables (_fold_spend); TRUNCATE recomputes. A row finds
-- its budgets through (scope_mask, scope_key): for each scope shape in use
-- (which scope columns a budget sets) one index probe, however many budgets
-- exist. Thresholds crossed queue their alert once (sql/queue.sql).

---------------------------------------------------------------------------
-- Running spend
---------------------------------------------------------------------------

CREATE TABLE llm_cost.budget_spend (
    budget_id    bigint NOT NULL REFERENCES llm_cost.budgets (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    per_value    text NOT NULL DEFAULT '',
    spent        numeric NOT NULL DEFAULT 0,
    calls        bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (budget_id, period_start, per_value)
);
COMMENT ON TABLE llm_cost.budget_spend IS
  'Exact running spend per budget, period and per value, maintained in the same transaction as the usage it comes from.';
COMMENT ON COLUMN llm_cost.budget_spend.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_spend.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_spend.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget).';
COMMENT ON COLUMN llm_cost.budget_spend.spent IS 'Spend in the period, in the budget''s currency.';
COMMENT ON COLUMN llm_cost.budget_spend.calls IS 'Calls (usage rows) counted in spent.';
COMMENT ON COLUMN llm_cost.budget_spend.updated_at IS 'When this row last changed.';

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
COMMENT ON COLUMN llm_cost.retired_spend.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.retired_spend.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget).';
COMMENT ON COLUMN llm_cost.retired_spend.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.retired_spend.spent IS 'Spend of the retired usage rows in the period, in the budget''s currency.';
COMMENT ON COLUMN llm_cost.retired_spend.calls IS 'Retired usage rows counted in spent.';

---------------------------------------------------------------------------
-- Folding usage into budget spend
---------------------------------------------------------------------------

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

-- Applies one statement's spend deltas to every matching budget and queues the
-- thresholds crossed. Called by the statement triggers below with their
-- transition tables as arrays (see _spend_deltas).
CREATE FUNCTION llm_cost._fold_spend(
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
COMMENT ON FUNCTION llm_cost._fold_spend(timestamptz[], numeric[], integer[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[]) IS
  'Internal: adds spend deltas to every matching budget''s running total and queues each threshold crossed.';

-- The statement triggers: each passes its transition table to _fold_spend as
-- arrays, so the big query in _fold_spend keeps a cached plan instead of being
-- planned again for every statement.
-- True while llm_cost.retire_usage deletes rows whose spend and rollups stay.
CREATE FUNCTION llm_cost._retiring() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(pg_catalog.current_setting('llm_cost._retiring', true), '') = 'on';
COMMENT ON FUNCTION llm_cost._retiring() IS 'Internal: true inside llm_cost.retire_usage (its deletes keep spend and rollups).';

CREATE FUNCTION llm_cost._usage_spend_deleted() RETURNS trigger
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

-- An update (reprice(), a corrected cost or dimension) is the old row removed
-- and the new one added.
CREATE FUNCTION llm_cost._usage_spend_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM llm_cost.budgets WHERE enabled) THEN
        PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(delta), array_agg(calls), array_agg('llm'::text),
                                     array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                     array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                     array_agg(provider), array_agg(model))
           FROM (SELECT occurred_at, -coalesce(cost, 0) AS delta, -1 AS calls, tenant_id, project_id, user_id, agent_id,
                        session_id, execution_id, operation, provider, model FROM old_rows
                 UNION ALL
                 SELECT occurred_at, coalesce(cost, 0), 1, tenant_id, project_id, user_id, agent_id,
                        session_id, execution_id, operation, provider, model FROM new_rows) AS changes;
    END IF;
    RETURN NULL;
END $$;

-- Inserts, the hot path, are folded in Rust (src/budgets/spend_trigger.rs): an AFTER ROW
-- trigger matches each inserted row against the cached budget index and adds
-- it to the transaction's pending totals in memory; they are written just
-- before the transaction commits (src/budgets/pending_spend.rs says why).
-- Whatever reads or rewrites budget_spend in the same transaction calls
-- llm_cost.flush_spend() first.
CREATE FUNCTION llm_cost.usage_spend_add() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'usage_spend_add';
COMMENT ON FUNCTION llm_cost.usage_spend_add() IS 'Trigger: adds an inserted usage row to its transaction''s pending budget spend, which is written just before commit.';
COMMENT ON FUNCTION llm_cost.flush_spend() IS
  'Writes this transaction''s pending budget spend now instead of at commit, queuing crossed thresholds; returns the number of running totals written. The budget functions and views call it themselves; call it before reading llm_cost.budget_spend directly in a transaction that inserted usage.';
COMMENT ON FUNCTION llm_cost.budgets_enabled() IS
  'True when any enabled budget counts model calls (from the per-backend budget index).';
-- WHEN is evaluated before an after-trigger event is queued: priced rows cost
-- nothing here while no budget exists (unpriced rows still queue their alert).
CREATE TRIGGER usage_spend_add AFTER INSERT ON llm_cost.usage
    FOR EACH ROW WHEN (NEW.cost IS NULL OR llm_cost.budgets_enabled())
    EXECUTE FUNCTION llm_cost.usage_spend_add();
CREATE TRIGGER budgets_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON llm_cost.budgets
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost.catalog_changed();
CREATE TRIGGER usage_spend_deleted AFTER DELETE ON llm_cost.usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_spend_deleted();
CREATE TRIGGER usage_spend_updated AFTER UPDATE ON llm_cost.usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._usage_spend_updated();
-- TRUNCATE fires no row or transition-table triggers: recompute every budget
-- from what is left in the ledger.
CREATE FUNCTION llm_cost._ledger_truncated() RETURNS trigger
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
COMMENT ON FUNCTION llm_cost._ledger_truncated() IS 'Trigger: after TRUNCATE of a ledger, recomputes every budget''s running spend.';
CREATE TRIGGER usage_spend_truncated AFTER TRUNCATE ON llm_cost.usage
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._ledger_truncated();
CREATE TRIGGER resource_spend_truncated AFTER TRUNCATE ON llm_cost.resource_usage
    FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._ledger_truncated();

COMMENT ON FUNCTION llm_cost._usage_spend_deleted() IS 'Trigger: takes deleted usage out of budget spend.';
COMMENT ON FUNCTION llm_cost._usage_spend_updated() IS 'Trigger: applies changed usage (reprice, corrections) to budget spend.';

-- Compute spend folds the same way (source 'compute'; no provider or model).
CREATE FUNCTION llm_cost._resource_spend_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM llm_cost.budgets WHERE enabled AND includes <> 'llm') THEN
        IF TG_OP = 'INSERT' THEN
            PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(coalesce(cost, 0)), array_agg(0), array_agg('compute'::text),
                                         array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                         array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                         array_agg(NULL::text), array_agg(NULL::text))
               FROM new_rows;
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(-coalesce(cost, 0)), array_agg(0), array_agg('compute'::text),
                                         array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                         array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                         array_agg(NULL::text), array_agg(NULL::text))
               FROM old_rows;
        ELSE
            PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(delta), array_agg(0), array_agg('compute'::text),
                                         array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                         array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                         array_agg(NULL::text), array_agg(NULL::text))
               FROM (SELECT occurred_at, -coalesce(cost, 0) AS delta, tenant_id, project_id, user_id, agent_id,
                            session_id, execution_id, operation FROM old_rows
                     UNION ALL
                     SELECT occurred_at, coalesce(cost, 0), tenant_id, project_id, user_id, agent_id,
                            session_id, execution_id, operation FROM new_rows) AS changes;
        END IF;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._resource_spend_changed() IS 'Trigger: applies inserted, updated or deleted compute spend to budgets.';
CREATE TRIGGER resource_spend_inserted AFTER INSERT ON llm_cost.resource_usage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._resource_spend_changed();
CREATE TRIGGER resource_spend_deleted AFTER DELETE ON llm_cost.resource_usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._resource_spend_changed();
CREATE TRIGGER resource_spend_updated AFTER UPDATE ON llm_cost.resource_usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._resource_spend_changed();

---------------------------------------------------------------------------
-- A new budget counts the spend already in the ledger
---------------------------------------------------------------------------

-- What the ledger says a budget has spent, per period and per value.
CREATE FUNCTION llm_cost.ledger_spend(budget_id bigint)
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

-- Budgets whose running totals differ from the ledger: empty unless something
-- bypassed the triggers (e.g. session_replication_role = replica).
CREATE FUNCTION llm_cost._budget_spend_drift()
RETURNS TABLE (budget_id bigint, period_start timestamptz, per_value text, kept_spent numeric,
               ledger_spent numeric, kept_calls bigint, ledger_calls bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM llm_cost.flush_spend();
    RETURN QUERY
    SELECT b.id, d.*
      FROM llm_cost.budgets AS b
     CROSS JOIN LATERAL (
            SELECT coalesce(s.period_start, l.period_start),
                   coalesce(s.per_value, l.per_value),
                   s.spent, l.spent, s.calls, l.calls
              FROM (SELECT * FROM llm_cost.budget_spend AS x WHERE x.budget_id = b.id) AS s
              FULL JOIN llm_cost.ledger_spend(b.id) AS l
                ON l.period_start = s.period_start AND l.per_value = s.per_value
             WHERE (coalesce(s.spent, 0), coalesce(s.calls, 0)) IS DISTINCT FROM (coalesce(l.spent, 0), coalesce(l.calls, 0))) AS d;
END $$;
COMMENT ON FUNCTION llm_cost._budget_spend_drift() IS 'Internal: what llm_cost.budget_spend_drift shows.';
CREATE VIEW llm_cost.budget_spend_drift WITH (security_invoker = true) AS
SELECT * FROM llm_cost._budget_spend_drift();
COMMENT ON VIEW llm_cost.budget_spend_drift IS
  'Running totals that differ from the ledger (should be empty); rebuild_budget_spend(id) repairs a budget.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.kept_spent IS 'Spend in budget_spend (NULL: no row there).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.ledger_spent IS 'Spend summed from the ledger and retired_spend (NULL: none).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.kept_calls IS 'Calls in budget_spend.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.ledger_calls IS 'Calls counted from the ledger and retired_spend.';

-- Recomputes one budget's running totals from the ledger (all periods), without
-- alerts: used when a budget is created or its scope, period or time zone change.
CREATE FUNCTION llm_cost.rebuild_budget_spend(budget_id bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM llm_cost.budgets AS b WHERE b.id = rebuild_budget_spend.budget_id) THEN
        RAISE EXCEPTION 'llm_cost.rebuild_budget_spend: no budget %', budget_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM llm_cost.flush_spend();     -- or the pending spend would be counted twice
    DELETE FROM llm_cost.budget_spend AS s WHERE s.budget_id = rebuild_budget_spend.budget_id;
    INSERT INTO llm_cost.budget_spend (budget_id, period_start, per_value, spent, calls)
    SELECT rebuild_budget_spend.budget_id, l.period_start, l.per_value, l.spent, l.calls
      FROM llm_cost.ledger_spend(rebuild_budget_spend.budget_id) AS l;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION llm_cost.rebuild_budget_spend(bigint) IS
  'Recomputes a budget''s running spend for every period from the ledger (no alerts are sent). Runs by itself when a budget is created or its scope, period, time zone or includes change.';

-- Statement level: creating 100,000 per-user budgets on an empty ledger costs
-- one check, not 100,000 rebuilds.
CREATE FUNCTION llm_cost._budgets_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM llm_cost.usage) OR EXISTS (SELECT FROM llm_cost.resource_usage) THEN
        PERFORM llm_cost.rebuild_budget_spend(id) FROM new_budgets;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._budgets_inserted() IS 'Trigger: new budgets count the spend already in the ledger.';
CREATE TRIGGER budgets_rebuild_spend_inserted AFTER INSERT ON llm_cost.budgets
    REFERENCING NEW TABLE AS new_budgets FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._budgets_inserted();

CREATE FUNCTION llm_cost._budget_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.scope_mask, NEW.scope_key, NEW.period, NEW.timezone, NEW.per, NEW.includes)
       IS DISTINCT FROM (OLD.scope_mask, OLD.scope_key, OLD.period, OLD.timezone, OLD.per, OLD.includes) THEN
        PERFORM llm_cost.rebuild_budget_spend(NEW.id);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._budget_changed() IS 'Trigger: rebuilds a budget''s running spend when its coverage changes.';
CREATE TRIGGER budgets_rebuild_spend AFTER UPDATE ON llm_cost.budgets
    FOR EACH ROW EXECUTE FUNCTION llm_cost._budget_changed();

---------------------------------------------------------------------------
-- Pre-call checks and status
---------------------------------------------------------------------------

CREATE FUNCTION llm_cost.check_spend(estimated_cost numeric DEFAULT 0, tenant_id text DEFAULT NULL,
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

CREATE FUNCTION llm_cost.can_spend(estimated_cost numeric DEFAULT 0, tenant_id text DEFAULT NULL,
                                   project_id text DEFAULT NULL, user_id text DEFAULT NULL,
                                   agent_id text DEFAULT NULL, provider text DEFAULT NULL,
                                   model text DEFAULT NULL, session_id text DEFAULT NULL,
                                   at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT NOT EXISTS (
        SELECT FROM llm_cost.check_spend(estimated_cost, tenant_id, project_id, user_id, agent_id,
                                         provider, model, session_id, at) AS c
         WHERE c.hard_limit AND c.would_exceed)
$$;
COMMENT ON FUNCTION llm_cost.can_spend(numeric, text, text, text, text, text, text, text, timestamptz) IS
  'False when a matching hard-limit budget would go over its amount with estimated_cost more spend this period. Usage rows are recorded whatever this says.';

-- budget_status and budget_status_at are in sql/forecast.sql: they show the forecast.

SELECT pg_catalog.pg_extension_config_dump('llm_cost.retired_spend', '');
-- budget_spend is not dumped: it is derived from the ledger, and a restore
-- recomputes it (the ledger's rows pass through the spend triggers, and new
-- budgets rebuild theirs). Dumping it too would count every row twice.
