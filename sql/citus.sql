-- Citus: the distributed layout (docs/scaling.md). Nothing here runs unless an
-- admin calls llm_cost.distribute_on_citus() on a Citus coordinator; a single
-- node never sees it.
--
-- The layout, and why:
--   * usage, resource_usage and the rollups are distributed by tenant_id,
--     co-located: all of a tenant's rows live in one shard, on one node.
--   * prices, aliases, models, resource_prices, budgets and the rollup and
--     retention state are reference tables: read by the pricing and spend
--     triggers on every node, from the node's own copy.
--   * budget_spend_slots (read through the budget_spend view), window_spend, budget_windows, retired_spend,
--     notifications, reservations and budget_holds stay plain tables on each
--     node. The usage triggers run on the shard, in the worker's backend, and
--     the commit-time writer adds to llm_cost.budget_spend_slots of that node: the
--     node that holds the tenant's shard. A budget of one tenant (tenant_id
--     set, or per = 'tenant_id') is therefore kept whole on one node, in the
--     same transaction as the rows, exact and alerting once, as on one node.
--   * A budget spanning tenants would need a cross-node write per row: it is
--     refused (0A000) once the ledger is distributed.
--   * can_spend, check_spend and reserve are delegated by Citus to the node of
--     their tenant_id argument, where that tenant's spend and holds are.

-- Refuses a budget that spans tenants on a distributed ledger: its spend would
-- be split over the nodes, and no node could keep it exact.
CREATE FUNCTION llm_cost._refuse_cross_tenant_budget() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS NULL AND NEW.per IS DISTINCT FROM 'tenant_id' THEN
        RAISE EXCEPTION 'llm_cost: budget "%" spans tenants, which a distributed ledger cannot keep exactly', NEW.name
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Give the budget a tenant_id, or per = ''tenant_id'' for the same amount per tenant (docs/scaling.md).';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION llm_cost._refuse_cross_tenant_budget() IS
  'Trigger (added by distribute_on_citus): refuses budgets that span tenants on a distributed ledger.';

-- The constraints of a table that are unique keys without tenant_id: Citus
-- needs the distribution column in each. Read from the catalog, so a ledger
-- partitioned by time (primary key including occurred_at) is handled alike.
CREATE FUNCTION llm_cost._keys_without_tenant(t regclass)
RETURNS TABLE (conname name, contype "char", columns text)
LANGUAGE sql STABLE AS $$
    SELECT c.conname, c.contype,
           (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
              FROM unnest(c.conkey) WITH ORDINALITY AS k (attnum, ord)
              JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.attnum)
      FROM pg_catalog.pg_constraint AS c
     WHERE c.conrelid = t AND c.contype IN ('p', 'u') AND c.conparentid = 0
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) AND a.attname = 'tenant_id')
$$;
COMMENT ON FUNCTION llm_cost._keys_without_tenant(regclass) IS
  'Internal: a table''s primary and unique keys that do not include tenant_id (distribute_on_citus adds it).';

-- Rewrites the set-returning SQL functions that read or write the given tables as
-- PL/pgSQL functions running the same query (RETURN QUERY), with the same
-- signature, attributes and settings. Column names win over parameter names,
-- as in SQL functions (variable_conflict use_column). Returns how many.
CREATE FUNCTION llm_cost._citus_plpgsql_functions(tables regclass[]) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    f record;
    n integer := 0;
    def text;
    names text := (SELECT string_agg(c.relname, '|') FROM pg_catalog.pg_class AS c WHERE c.oid = ANY (tables));
BEGIN
    -- set-returning ones as RETURN QUERY, scalar ones (a single SELECT) as
    -- RETURN (SELECT ...)
    FOR f IN SELECT p.oid, p.prosrc, p.proretset FROM pg_catalog.pg_proc AS p
              WHERE p.pronamespace = 'llm_cost'::regnamespace AND p.prokind = 'f'
                AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'sql')
                AND p.prosrc ~* ('(FROM|JOIN|INTO|UPDATE)\s+llm_cost\.(' || names || ')\M')
                AND (p.proretset OR p.prosrc ~* '^\s*SELECT\M')
    LOOP
        def := pg_catalog.pg_get_functiondef(f.oid);
        def := regexp_replace(def, '\n LANGUAGE sql\M', E'\n LANGUAGE plpgsql');
        def := replace(def, f.prosrc, E'\n#variable_conflict use_column\nBEGIN\n    '
                                      || CASE WHEN f.proretset
                                              THEN 'RETURN QUERY ' || regexp_replace(f.prosrc, ';\s*$', '')
                                              ELSE 'RETURN (' || regexp_replace(f.prosrc, ';\s*$', '') || ')' END
                                      || E';\nEND\n');
        EXECUTE def;
        n := n + 1;
    END LOOP;
    RETURN n;
END $fn$;
COMMENT ON FUNCTION llm_cost._citus_plpgsql_functions(regclass[]) IS
  'Internal (distribute_on_citus): rewrites the SQL functions reading the given tables (set-returning ones, and scalar ones made of one SELECT) as PL/pgSQL, which Citus can plan.';

-- Retention on Citus (retire_usage, as _citus_retire_usage once distributed).
-- What stays true is what the one-node retire_usage keeps (sql/retention.sql):
-- budget spend does not change, the retired rows' spend per budget, period and
-- per value goes to retired_spend (so ledger_spend and budget_spend_drift
-- still count it), and the dashboards keep the retired days' figures in the
-- rollups. How, on a distributed ledger:
--   * The rows go with one DELETE through the coordinator (every shard, in
--     one distributed transaction), which RETURNs them into a temporary table
--     on the coordinator: the rows rolled up are exactly the rows deleted,
--     whatever writers do meanwhile. The rollups (distributed tables) get
--     them from there with refresh's own statements (_rollup_sums_sql, ...),
--     INSERT ... SELECT that Citus runs through the coordinator.
--   * Their budget spend is read on the shards, by the DELETE's statement
--     trigger usage_retired_spend there (below): retired_spend is a plain
--     table on each node, beside that node's budget_spend, in the same
--     distributed transaction. The trigger reads only its transition table
--     and the node's copy of budgets (through arrays, as _fold_spend does):
--     no rollup written from a shard, no row lock on a reference table.
--   * The shards' triggers learn that the DELETE retires (budget spend and
--     rollups keep the rows) from llm_cost._retiring, set with SET LOCAL,
--     which Citus sends to every worker's transaction when
--     citus.propagate_set_commands = local (set for the call only).
--   * Monthly partitions wholly before the cutoff, empty then, are dropped
--     (Citus drops their shards). The usage lock that DROP takes anyway is
--     taken first, and rows that arrived in those months since the DELETE
--     are retired likewise before the drop: nothing is dropped unretired.
-- Unlike one node, every row before the cutoff goes, also one inserted a
-- moment before (no watermark: ids come from one sequence per node), and a
-- partition is dropped only after its rows were read and deleted, so a month
-- costs a DELETE, not a DROP alone.

-- Trigger (created by distribute_on_citus on usage, so on every shard): the
-- spend of the rows a retiring DELETE removes from this shard, per budget,
-- period (slot for a rolling budget) and per value, into this node's
-- retired_spend.
CREATE FUNCTION llm_cost._citus_retired_spend() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    g record;
BEGIN
    IF NOT llm_cost._retiring() OR NOT EXISTS (SELECT FROM llm_cost.budgets WHERE enabled) THEN
        RETURN NULL;
    END IF;
    -- the transition table as arrays first: the query reading budgets (a
    -- reference table) then names no table Citus cannot see
    SELECT array_agg(o.occurred_at) AS occurred_at, array_agg(coalesce(o.cost, 0)) AS delta, array_agg(1) AS calls,
           array_agg(o.input_tokens + o.output_tokens) AS tokens, array_agg('llm'::text) AS source,
           array_agg(o.tenant_id) AS tenant_id, array_agg(o.project_id) AS project_id, array_agg(o.user_id) AS user_id,
           array_agg(o.agent_id) AS agent_id, array_agg(o.session_id) AS session_id,
           array_agg(o.execution_id) AS execution_id, array_agg(o.operation) AS operation,
           array_agg(o.provider) AS provider, array_agg(o.model) AS model, array_agg(o.tags) AS tags
      INTO g
      FROM old_rows AS o;
    INSERT INTO llm_cost.retired_spend AS r (budget_id, period_start, per_value, spent, calls, tokens)
    SELECT s.budget_id, s.period_start, s.per_value, s.spend, s.call_count, s.token_count
      FROM llm_cost._spend_deltas(g.occurred_at, g.delta, g.calls, g.tokens, g.source, g.tenant_id, g.project_id,
                                  g.user_id, g.agent_id, g.session_id, g.execution_id, g.operation, g.provider,
                                  g.model, g.tags) AS s
     ORDER BY 1, 2, 3
    ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
       SET spent = r.spent + excluded.spent, calls = r.calls + excluded.calls, tokens = r.tokens + excluded.tokens;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._citus_retired_spend() IS
  'Trigger (added by distribute_on_citus, on every shard of usage): while retire_usage deletes, adds the deleted rows'' spend to this node''s retired_spend.';

-- Sets llm_cost._retiring for the rest of the transaction, here and in the
-- transaction of every worker (SET LOCAL, which Citus sends there under
-- citus.propagate_set_commands = local). Citus propagates a SET only where it
-- sees a transaction of several statements: in a function called by the
-- function that calls this one, not in the SQL of a function called at top
-- level (which is where retire_usage runs), so retire_usage calls this
-- through a query (PERFORM).
CREATE FUNCTION llm_cost._citus_set_retiring(retiring boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('citus.propagate_set_commands', 'local', true);
    IF retiring THEN
        SET LOCAL llm_cost._retiring = on;
    ELSE
        SET LOCAL llm_cost._retiring = '';
    END IF;
END $$;
COMMENT ON FUNCTION llm_cost._citus_set_retiring(boolean) IS
  'Internal (retire_usage on Citus): sets llm_cost._retiring until the end of the transaction, on this node and in every worker''s part of the transaction.';

-- One round: deletes every usage row before `before` and adds exactly those
-- rows not rolled up yet to the rollups; returns how many it deleted.
-- (llm_cost._retiring is on, and the rollup lock of every node is held: the
-- watermark does not move meanwhile.)
CREATE FUNCTION llm_cost._citus_retire_rows(before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    gone bigint;
    statement text;
    -- (rows up to the watermark are in the rollups already: they stay there)
    changed constant text :=
        'SELECT 1 AS sign, r.* FROM pg_temp.llm_cost_retiring AS r WHERE r.occurred_at >= $1 AND r.occurred_at < $2'
        || ' AND r.id > ' || llm_cost.rollup_watermark();
BEGIN
    IF pg_catalog.to_regclass('pg_temp.llm_cost_retiring') IS NULL THEN
        CREATE TEMPORARY TABLE llm_cost_retiring (LIKE llm_cost.usage) ON COMMIT DROP;
    END IF;
    DELETE FROM pg_temp.llm_cost_retiring;
    WITH d AS (DELETE FROM llm_cost.usage AS u WHERE u.occurred_at < before RETURNING u.*)
    INSERT INTO pg_temp.llm_cost_retiring SELECT * FROM d;
    GET DIAGNOSTICS gone = ROW_COUNT;
    IF gone > 0 THEN
        FOREACH statement IN ARRAY llm_cost._rollup_statements(changed) LOOP
            EXECUTE statement USING '-infinity'::timestamptz, before;
        END LOOP;
    END IF;
    RETURN gone;
END $$;
COMMENT ON FUNCTION llm_cost._citus_retire_rows(timestamptz) IS
  'Internal (retire_usage on Citus): deletes the usage rows before `before` through the coordinator and adds the deleted rows to the rollups; returns how many.';

CREATE FUNCTION llm_cost._citus_retire_usage(before timestamptz, batch_rows integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    whole regclass[];
    leaf regclass;
BEGIN
    PERFORM llm_cost._check_retire_arguments(before, batch_rows);
    -- a refresh, or a correction of rolled-up rows, waits for us (and we for
    -- those in progress): rows up to the watermark are rolled up, the others
    -- are not and will not be but by us
    PERFORM llm_cost._citus_lock_rollups('retire_usage');
    PERFORM FROM llm_cost.rollup_state FOR UPDATE;
    -- the shards' triggers see llm_cost._retiring too
    PERFORM llm_cost._citus_set_retiring(true);
    total := llm_cost._citus_retire_rows(before);
    SELECT array_agg(p.partition ORDER BY p.from_time) INTO whole
      FROM llm_cost._usage_partitions() AS p WHERE p.to_time <= before;
    IF whole IS NOT NULL THEN
        -- Writers wait from here until we commit, as DROP would make them:
        -- rows that came to these months since the DELETE go the same way
        -- first, then the empty partitions are dropped (their shards too).
        LOCK TABLE llm_cost.usage IN EXCLUSIVE MODE;
        total := total + llm_cost._citus_retire_rows(before);
        FOREACH leaf IN ARRAY whole LOOP
            EXECUTE pg_catalog.format('DROP TABLE %s', leaf);
        END LOOP;
    END IF;
    PERFORM llm_cost._citus_set_retiring(false);
    -- (retention_state is a reference table: Citus takes no now() in DO UPDATE)
    INSERT INTO llm_cost.retention_state AS s (retired_before, retired_rows, retired_at)
    VALUES (before, total, pg_catalog.now())
    ON CONFLICT (one) DO UPDATE
       SET retired_before = greatest(s.retired_before, excluded.retired_before),
           retired_rows = s.retired_rows + excluded.retired_rows, retired_at = excluded.retired_at;
    RETURN total;
END $$;
COMMENT ON FUNCTION llm_cost._citus_retire_usage(timestamptz, integer) IS
  'Internal: retire_usage on a distributed ledger (docs/scaling.md): deletes the usage rows of the UTC days before `before` through the coordinator, adds them to the rollups and their spend to retired_spend on each tenant''s node, and drops the monthly partitions wholly before it; returns the rows retired. batch_rows is checked, not used (one DELETE).';

-- budget_spend_drift on a distributed ledger (_budget_spend_drift once
-- distributed). The one-node query cannot run there, for two reasons:
--   * ledger_spend joins budgets (a reference table) laterally to a UNION ALL
--     of usage and resource_usage (distributed) that keeps no tenant_id:
--     Citus refuses it ("complex joins are only supported when all
--     distributed tables are co-located and joined on their distribution
--     columns");
--   * budget_spend, window_spend and retired_spend are plain tables on each
--     node (each tenant's totals on the node of its shard): read on the
--     coordinator they hold nothing, and every budget would show as drift.
-- So the kept totals and the retired spend are gathered from every node
-- (run_command_on_all_nodes: each total lives on one node, so their sum is
-- the total), and the ledger is summed through the coordinator budget by
-- budget, each a plain distributed aggregate with the budget's filters as
-- parameters; then compared as the one-node view does. The nodes are read
-- over their own connections: what this transaction has written but not
-- committed counts in the ledger only (run it on its own).
CREATE FUNCTION llm_cost._citus_budget_spend_drift()
RETURNS TABLE (budget_id bigint, period_start timestamptz, per_value text, kept_spent numeric,
               ledger_spent numeric, kept_calls bigint, ledger_calls bigint, kept_tokens bigint, ledger_tokens bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    b llm_cost.budgets;
BEGIN
    PERFORM llm_cost.flush_spend();
    IF pg_catalog.to_regclass('pg_temp._drift') IS NOT NULL THEN
        DROP TABLE pg_temp._drift;     -- a second call in one transaction
    END IF;
    CREATE TEMP TABLE _drift (kept boolean, budget_id bigint, period_start timestamptz, per_value text,
                              spent numeric, calls bigint, tokens bigint) ON COMMIT DROP;
    -- kept totals and retired spend, from every node (each total lives on one)
    INSERT INTO pg_temp._drift
    SELECT x.kept, x.budget_id, x.period_start, x.per_value, x.spent, x.calls, x.tokens
      FROM pg_catalog.run_command_on_all_nodes($q$
             SELECT coalesce(json_agg(t), '[]')
               FROM (SELECT true AS kept, b.id AS budget_id, k.period_start, k.per_value, k.spent, k.calls, k.tokens
                       FROM llm_cost.budgets AS b CROSS JOIN LATERAL llm_cost._kept_spend(b.id) AS k
                      WHERE b.enabled
                     UNION ALL
                     SELECT false, r.budget_id, r.period_start, r.per_value, r.spent, r.calls, r.tokens
                       FROM llm_cost.retired_spend AS r) AS t $q$) AS n,
           json_populate_recordset(NULL::pg_temp._drift, n.result::json) AS x
     WHERE n.success;
    -- the ledger, budget by budget: plain distributed aggregates
    FOR b IN SELECT * FROM llm_cost.budgets AS g WHERE g.enabled LOOP
        INSERT INTO pg_temp._drift
        SELECT false, b.id, CASE WHEN b.period = 'rolling' THEN llm_cost.window_slot(b."window", u.occurred_at)
                            ELSE llm_cost.period_start(b.period, b.timezone, u.occurred_at) END,
               llm_cost.per_value(b.per, u.tenant_id, u.project_id, u.user_id, u.agent_id, u.session_id,
                                  u.execution_id, u.operation, u.provider, u.model),
               sum(coalesce(u.cost, 0)), count(*), sum(u.input_tokens + u.output_tokens)
          FROM llm_cost.usage AS u
         WHERE b.includes IN ('all', 'llm')
           AND (b.tenant_id IS NULL OR u.tenant_id = b.tenant_id)
           AND (b.project_id IS NULL OR u.project_id = b.project_id)
           AND (b.user_id IS NULL OR u.user_id = b.user_id)
           AND (b.agent_id IS NULL OR u.agent_id = b.agent_id)
           AND (b.session_id IS NULL OR u.session_id = b.session_id)
           AND (b.provider IS NULL OR lower(u.provider) = b.provider)
           AND (b.model IS NULL OR u.model = b.model)
           AND (b.tags IS NULL OR u.tags @> b.tags)
         GROUP BY 3, 4;
        INSERT INTO pg_temp._drift
        SELECT false, b.id, CASE WHEN b.period = 'rolling' THEN llm_cost.window_slot(b."window", r.occurred_at)
                            ELSE llm_cost.period_start(b.period, b.timezone, r.occurred_at) END,
               llm_cost.per_value(b.per, r.tenant_id, r.project_id, r.user_id, r.agent_id, r.session_id,
                                  r.execution_id, r.operation, NULL, NULL),
               sum(coalesce(r.cost, 0)), 0, 0
          FROM llm_cost.resource_usage AS r
         WHERE b.includes IN ('all', 'compute') AND b.provider IS NULL AND b.model IS NULL
           AND b.per IS DISTINCT FROM 'provider' AND b.per IS DISTINCT FROM 'model'
           AND (b.tenant_id IS NULL OR r.tenant_id = b.tenant_id)
           AND (b.project_id IS NULL OR r.project_id = b.project_id)
           AND (b.user_id IS NULL OR r.user_id = b.user_id)
           AND (b.agent_id IS NULL OR r.agent_id = b.agent_id)
           AND (b.session_id IS NULL OR r.session_id = b.session_id)
           AND (b.tags IS NULL OR r.tags @> b.tags)
         GROUP BY 3, 4;
        -- a rolling budget: the slots of its current window only (as ledger_spend)
        DELETE FROM pg_temp._drift AS d
         WHERE d.budget_id = b.id AND NOT d.kept AND b.period = 'rolling'
           AND d.period_start < llm_cost.window_start(b."window", now());
    END LOOP;
    RETURN QUERY
    SELECT coalesce(k.budget_id, l.budget_id), coalesce(k.period_start, l.period_start), coalesce(k.per_value, l.per_value),
           k.spent, l.spent, k.calls, l.calls, k.tokens, l.tokens
      FROM (SELECT d.budget_id, d.period_start, d.per_value, sum(d.spent) AS spent, sum(d.calls)::bigint AS calls,
                   sum(d.tokens)::bigint AS tokens
              FROM pg_temp._drift AS d WHERE d.kept GROUP BY 1, 2, 3) AS k
      FULL JOIN (SELECT d.budget_id, d.period_start, d.per_value, sum(d.spent) AS spent, sum(d.calls)::bigint AS calls,
                        sum(d.tokens)::bigint AS tokens
                   FROM pg_temp._drift AS d WHERE NOT d.kept AND d.per_value IS NOT NULL GROUP BY 1, 2, 3) AS l
        ON l.budget_id = k.budget_id AND l.period_start = k.period_start AND l.per_value = k.per_value
     WHERE (coalesce(k.spent, 0), coalesce(k.calls, 0), coalesce(k.tokens, 0))
           IS DISTINCT FROM (coalesce(l.spent, 0), coalesce(l.calls, 0), coalesce(l.tokens, 0));
END $$;
COMMENT ON FUNCTION llm_cost._citus_budget_spend_drift() IS
  'Internal: budget_spend_drift on a distributed ledger: the kept totals and retired spend gathered from every node against the ledger summed through the coordinator.';

-- Rollups on Citus (refresh_rollups through the coordinator, corrections on
-- the shards). The rollups are distributed by tenant_id, co-located with
-- usage: a tenant's usage rows and its rollup rows are in shards of one
-- shard group, on one node.
--   * refresh_rollups runs on the coordinator (_citus_refresh_rollups): the
--     ids come from the coordinator's sequence, and writers through the
--     coordinator hold their lock on usage there, so _wait_for_usage_writers
--     holds for them as on one node. It rolls up with the one-node statements
--     (INSERT ... SELECT, which Citus runs through the coordinator).
--   * A DELETE or UPDATE of rolled-up rows is corrected on each shard by its
--     statement trigger (_citus_usage_rollup_changed), which writes the
--     co-located rollup shards of its own node with plain local SQL
--     (_citus_local_rollup_sql): the distributed rollup tables would make
--     Citus plan the statement through the coordinator, where the trigger's
--     transition table does not exist ("could not find named tuplestore").
--     Citus refuses DROP, TRUNCATE and LOCK of a shard by a client, not DML
--     (worker_shard_visibility.c), and the trigger runs in Citus's own
--     backend anyway.
--   * Serialisation. On one node a correction reads the watermark FOR SHARE,
--     so that a refresh in progress (it holds the row FOR UPDATE) finishes
--     first: otherwise a row deleted while a refresh reads it would be
--     rolled up and never taken out. On Citus that row lock is gone (a row
--     lock on a reference table from the shards of one statement on two
--     workers deadlocks, above), and is replaced by a transaction-level
--     advisory lock on each node, (1819045219, 2):
--       - a correction takes it shared on its node, then reads the watermark
--         in a statement of its own (a fresh snapshot: a refresh that
--         committed while it waited is seen);
--       - a refresh, and retire_usage, take it exclusively on every node
--         (_citus_lock_rollups: the trigger rollup_state_refreshing on each
--         node's copy of rollup_state, fired by the refresh's INSERT into
--         it) before they read usage rows, and keep it to their commit.
--     So on each node either the correction ran first (it holds the lock
--     until it commits: the refresh reads the node's rows after that and
--     does not see the deleted row, nor the old version of an updated one),
--     or the refresh did (the correction waits for it to commit there, then
--     reads the new watermark from the same local transaction that wrote
--     the node's rollup shards and copy of rollup_state).
--     Deadlocks: a correction of several shards holds the lock on one node
--     while it asks for it on another, so a refresh never waits for it: it
--     takes the lock on every node at once with pg_try_advisory_xact_lock,
--     and when one node refuses, rolls the attempt back (a savepoint, which
--     Citus rolls back on every node: the locks it got go too) and tries
--     again. While a refresh holds every node's lock, no correction has
--     written a rollup row it would wait for (that correction would hold
--     a lock the refresh could not have taken).

-- Trigger (created by distribute_on_citus on rollup_state, so on every
-- node's copy of the reference table): a write of the watermark takes this
-- node's rollup lock exclusively, or fails at once (55P03) when a correction
-- holds it. The refresh's INSERT ... ON CONFLICT DO NOTHING fires it too.
CREATE FUNCTION llm_cost._citus_refreshing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1819045219, 2) THEN
        RAISE EXCEPTION 'llm_cost: a correction of rolled-up rows is in progress on this node'
            USING ERRCODE = 'lock_not_available';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION llm_cost._citus_refreshing() IS
  'Trigger (added by distribute_on_citus, on every node''s copy of rollup_state): a write of the rollup watermark takes the node''s rollup lock exclusively, or fails with 55P03 while a correction of rolled-up rows holds it.';

-- Takes the rollup lock on every node, exclusively, for the rest of the
-- transaction: all of them or, after rolling the attempt back, again a
-- moment later (never waiting while holding one). Makes rollup_state's row
-- if missing. Only on the coordinator: a worker's sequence draws other ids.
CREATE FUNCTION llm_cost._citus_lock_rollups(caller text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'llm_cost.%: run it on the coordinator of the Citus cluster', caller
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'The usage ids and the writers the rollups wait for are the coordinator''s (docs/scaling.md).';
    END IF;
    LOOP
        BEGIN
            INSERT INTO llm_cost.rollup_state DEFAULT VALUES ON CONFLICT DO NOTHING;
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM pg_catalog.pg_sleep(0.01);
        END;
    END LOOP;
END $$;
COMMENT ON FUNCTION llm_cost._citus_lock_rollups(text) IS
  'Internal (refresh_rollups and retire_usage on Citus, on the coordinator): takes the rollup lock exclusively on every node until the end of the transaction, so that corrections of rolled-up rows wait; retries until no correction holds one.';

-- refresh_rollups on a distributed ledger (refresh_rollups once
-- distributed): the one-node refresh (sql/analytics.sql), run on the
-- coordinator, with the rollup lock of every node taken before any usage row
-- is read (above).
CREATE FUNCTION llm_cost._citus_refresh_rollups(max_ids bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    seen_mark bigint;
    old_mark bigint;
    new_mark bigint;
    statement text;
    rows_between constant text := 'SELECT 1 AS sign, u.* FROM llm_cost.usage AS u WHERE u.id > $1 AND u.id <= $2';
BEGIN
    IF max_ids IS NOT NULL AND max_ids < 1 THEN
        RAISE EXCEPTION 'llm_cost.refresh_rollups: max_ids must be positive (got %)', max_ids
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        PERFORM llm_cost._citus_lock_rollups('refresh_rollups');     -- (refuses)
    END IF;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END INTO new_mark FROM llm_cost.usage_id_seq AS s;
    seen_mark := llm_cost.rollup_watermark();
    IF new_mark <= seen_mark THEN
        RETURN 0;
    END IF;
    PERFORM llm_cost._wait_for_usage_writers();
    -- corrections on every node wait from here; then one refresh at a time
    PERFORM llm_cost._citus_lock_rollups('refresh_rollups');
    SELECT watermark INTO old_mark FROM llm_cost.rollup_state FOR UPDATE;
    IF old_mark < seen_mark OR (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END
                                  FROM llm_cost.usage_id_seq AS s) < new_mark THEN
        RETURN 0;
    END IF;
    new_mark := least(new_mark, old_mark + coalesce(max_ids, new_mark));
    IF new_mark <= old_mark THEN
        RETURN 0;
    END IF;
    FOREACH statement IN ARRAY llm_cost._rollup_statements(rows_between) LOOP
        EXECUTE statement USING old_mark, new_mark;
    END LOOP;
    -- (rollup_state is a reference table: now() is evaluated here)
    UPDATE llm_cost.rollup_state SET watermark = new_mark, refreshed_at = pg_catalog.now();
    RETURN new_mark - old_mark;
END $$;
COMMENT ON FUNCTION llm_cost._citus_refresh_rollups(bigint) IS
  'Internal: refresh_rollups on a distributed ledger, on the coordinator: rolls up the usage ids drawn from its sequence, with every node''s rollup lock held so that corrections of rolled-up rows on the shards wait for it.';

-- A rollup statement of _rollup_statements, writing instead of the distributed rollup table it
-- names the shard of that table co-located with the usage shard usage_shard,
-- on this node: the shard of the same shard group (same colocation group,
-- same hash range). Shard tables and their constraints are named after
-- their table's with _<shard id> appended.
CREATE FUNCTION llm_cost._citus_local_rollup_sql(stmt text, usage_shard bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    target constant text := substring(stmt FROM 'INSERT INTO llm_cost\.(\w+) AS');
    shard bigint;
BEGIN
    SELECT r.shardid INTO STRICT shard
      FROM pg_catalog.pg_dist_shard AS u
      JOIN pg_catalog.pg_dist_shard AS r ON r.shardminvalue = u.shardminvalue AND r.shardmaxvalue = u.shardmaxvalue
      JOIN pg_catalog.pg_dist_partition AS pu ON pu.logicalrelid = u.logicalrelid
      JOIN pg_catalog.pg_dist_partition AS pr ON pr.logicalrelid = r.logicalrelid AND pr.colocationid = pu.colocationid
     WHERE u.shardid = usage_shard AND r.logicalrelid = pg_catalog.to_regclass('llm_cost.' || target);
    RETURN regexp_replace(regexp_replace(stmt, 'INSERT INTO llm_cost\.(\w+) AS', 'INSERT INTO llm_cost.\1_' || shard || ' AS'),
                          'ON CONFLICT ON CONSTRAINT (\w+) DO', 'ON CONFLICT ON CONSTRAINT \1_' || shard || ' DO');
END $$;
COMMENT ON FUNCTION llm_cost._citus_local_rollup_sql(text, bigint) IS
  'Internal (rollup corrections on Citus): a rollup statement rewritten to write the rollup table''s shard co-located with a usage shard, on this node.';

-- Trigger (created by distribute_on_citus on usage, so on every shard, in
-- place of the one-node usage_rollup_deleted and usage_rollup_updated):
-- exact corrections of deleted and updated rolled-up rows, as
-- _usage_rollup_changed on one node, written into the co-located rollup
-- shards of this node (above).
CREATE FUNCTION llm_cost._citus_usage_rollup_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint;
    statement text;
    shard constant bigint := substring(TG_TABLE_NAME FROM '_([0-9]+)$')::bigint;
    changed constant text := 'SELECT -1 AS sign, o.* FROM old_rows AS o WHERE o.id <= $2'
                    || CASE WHEN TG_OP = 'UPDATE' THEN ' UNION ALL SELECT 1, n.* FROM new_rows AS n WHERE n.id <= $2' ELSE '' END;
BEGIN
    IF TG_OP = 'DELETE' AND llm_cost._retiring() THEN
        RETURN NULL;                    -- retire_usage: the rows stay in the rollups
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_shard AS s
                    WHERE s.shardid = shard AND s.logicalrelid = 'llm_cost.usage'::regclass) THEN
        RAISE EXCEPTION 'llm_cost: rollup correction fired on %, not a shard of llm_cost.usage', TG_RELID::regclass
            USING ERRCODE = 'internal_error';
    END IF;
    -- a refresh in progress on this node finishes first; then the watermark
    -- in a statement of its own (a snapshot taken after the wait)
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1819045219, 2);
    SELECT watermark INTO mark FROM llm_cost.rollup_state;
    IF mark IS NULL THEN
        RETURN NULL;                    -- nothing rolled up yet
    END IF;
    FOREACH statement IN ARRAY llm_cost._rollup_statements(changed) LOOP
        EXECUTE llm_cost._citus_local_rollup_sql(statement, shard) USING 0::bigint, mark;
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._citus_usage_rollup_changed() IS
  'Trigger (added by distribute_on_citus, on every shard of usage): takes deleted and updated rolled-up rows out of this node''s co-located rollup shards and puts their new versions in, after any refresh in progress on the node.';

-- _read_ledger on a distributed ledger: the one-node test (sql/retention.sql)
-- in steps Citus plans: a window reaching into retired days reads the
-- rollups (only they hold those days); otherwise the ledger alone when the
-- rows not rolled up yet outnumber a third of the window's rolled-up calls.
-- The watermark and that count are read first, so the probe of usage by id
-- is a plain distributed query with two parameters.
CREATE FUNCTION llm_cost._citus_read_ledger(from_time timestamptz, to_time timestamptz) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    floor_id bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM llm_cost.retention_state AS s WHERE s.retired_before > from_time) THEN
        RETURN false;
    END IF;
    SELECT llm_cost.rollup_watermark() + 1 + (coalesce(sum(r.calls), 0) / 3)::bigint INTO floor_id
      FROM llm_cost.usage_rollup AS r
     WHERE r.dimension = 'tenant_id'
       AND ((r.grain = 'day' AND r.bucket >= llm_cost._days_start(from_time, to_time)
                             AND r.bucket < llm_cost._days_end(from_time, to_time))
         OR (r.grain = 'hour' AND r.bucket >= llm_cost._hours_start(from_time, to_time)
                              AND r.bucket < llm_cost._days_start(from_time, to_time))
         OR (r.grain = 'hour' AND r.bucket >= llm_cost._days_end(from_time, to_time)
                              AND r.bucket < llm_cost._hours_end(from_time, to_time)));
    RETURN EXISTS (SELECT 1 FROM llm_cost.usage AS u WHERE u.id BETWEEN floor_id AND llm_cost._max_id());
END $$;
COMMENT ON FUNCTION llm_cost._citus_read_ledger(timestamptz, timestamptz) IS
  'Internal: _read_ledger on a distributed ledger (the same test, in steps Citus can plan).';

-- Rewrites, on the node it runs on, what the usage triggers and reprice do
-- that Citus cannot run from the shards of one statement over several
-- shards (found with pg_locks and citus_lock_waits on a hanging DELETE).
-- Returns how many functions it rewrote.
--   * Row locks on reference tables (SELECT ... FROM llm_cost.rollup_state FOR
--     SHARE in the rollup correction trigger, ... FROM llm_cost.budgets ... FOR
--     SHARE in _window_add) are dropped. Citus serialises a row lock on a
--     reference table through a lock on its shard on the first worker: the
--     trigger of a shard there took it (with RowExclusiveLock) in the worker's
--     backend of the DELETE, and the trigger of a shard on the other worker
--     asked for it (ShareLock) over a new connection to the first worker, a
--     second backend of the same distributed transaction, which waited for
--     the first until the end of that transaction: "canceling the transaction
--     since it was involved in a distributed deadlock". What those locks wait
--     for on one node does not happen on Citus (a budget change's rebuild:
--     its triggers are dropped there) or is serialised otherwise (a refresh
--     against the rollup corrections: the rollup lock of each node, above).
--   * reprice's self-join of usage, on the same row, compares tenant_id with
--     = (NOT NULL on the distributed ledger) instead of IS NOT DISTINCT FROM,
--     which Citus does not take for a join on the distribution column.
--   * retire_usage becomes _citus_retire_usage (below): the one-node
--     function keeps the retired rows' figures through the rollup watermark
--     (one id sequence; per node on Citus) and reads whole partitions in
--     Rust on the node it runs on. Replaced here, on the distributed
--     database only, rather than tested in its body.
--   * _read_ledger (whether a dashboard reads its window from the ledger
--     alone) becomes _citus_read_ledger: the one-node test in steps Citus
--     can plan (the watermark and the rolled-up calls read first, then the
--     probe of the backlog by id).
--   * _budget_spend_drift (what budget_spend_drift shows) becomes
--     _citus_budget_spend_drift (above).
--   * refresh_rollups becomes _citus_refresh_rollups (above: on the
--     coordinator, with every node's rollup lock); the corrections are
--     _citus_usage_rollup_changed's, on the shards (distribute_on_citus
--     swaps the triggers), so the one-node _usage_rollup_changed, rewritten
--     without its FOR SHARE here, is not used.
CREATE FUNCTION llm_cost._citus_rewrite_functions() RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    f record;
    n integer := 0;
    def text;
    reference_row_lock constant text := '(FROM llm_cost\.(rollup_state|budgets)\M[^;]*?)\s+FOR SHARE';
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc AS p
              WHERE p.pronamespace = 'llm_cost'::regnamespace
                AND (p.prosrc ~ reference_row_lock OR p.prosrc ~ 'u\.tenant_id IS NOT DISTINCT FROM src\.tenant_id')
    LOOP
        def := pg_catalog.pg_get_functiondef(f.oid);
        def := regexp_replace(def, reference_row_lock, '\1', 'g');
        def := replace(def, 'u.tenant_id IS NOT DISTINCT FROM src.tenant_id', 'u.tenant_id = src.tenant_id');
        EXECUTE def;
        n := n + 1;
    END LOOP;
    -- (SECURITY DEFINER and its search_path as privileges.sql gives the
    -- one-node function: dropping partitions needs their owner)
    CREATE OR REPLACE FUNCTION llm_cost.retire_usage(before timestamptz, batch_rows integer DEFAULT 50000)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
    BEGIN
        RETURN llm_cost._citus_retire_usage(before, batch_rows);
    END $body$;
    CREATE OR REPLACE FUNCTION llm_cost._read_ledger(from_time timestamptz, to_time timestamptz) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $body$
    BEGIN
        RETURN llm_cost._citus_read_ledger(from_time, to_time);
    END $body$;
    CREATE OR REPLACE FUNCTION llm_cost._budget_spend_drift()
    RETURNS TABLE (budget_id bigint, period_start timestamptz, per_value text, kept_spent numeric,
                   ledger_spent numeric, kept_calls bigint, ledger_calls bigint, kept_tokens bigint, ledger_tokens bigint)
    LANGUAGE plpgsql VOLATILE AS $body$
    BEGIN
        RETURN QUERY SELECT * FROM llm_cost._citus_budget_spend_drift();
    END $body$;
    CREATE OR REPLACE FUNCTION llm_cost.refresh_rollups(max_ids bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql AS $body$
    BEGIN
        RETURN llm_cost._citus_refresh_rollups(max_ids);
    END $body$;
    RETURN n + 4;
END $fn$;
COMMENT ON FUNCTION llm_cost._citus_rewrite_functions() IS
  'Internal (distribute_on_citus): drops the row locks on reference tables from the usage triggers, joins reprice''s self-join on tenant_id, so that statements over several shards run on Citus, makes retire_usage retire through the coordinator (_citus_retire_usage), dashboards choose between rollups and ledger as Citus can plan it (_citus_read_ledger), budget_spend_drift gather the kept totals from every node (_citus_budget_spend_drift), and refresh_rollups refresh through the coordinator with every node''s rollup lock (_citus_refresh_rollups).';

CREATE FUNCTION llm_cost.distribute_on_citus(shard_count integer DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    -- Kept on each node (the header says why).
    node_local text[] := ARRAY['budget_spend_slots', 'retired_spend', 'window_spend', 'budget_windows', 'notifications',
                               'reservations', 'budget_holds'];
    -- Every other table with a tenant_id is distributed by it (usage first:
    -- the others are co-located with it), the rest are reference tables.
    -- Found in the catalog, so tables added or renamed by later versions
    -- (a ledger partitioned by time, other rollups) are placed alike.
    distributed_tables regclass[];
    reference_tables regclass[];
    t regclass;
    k record;
    spanning text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'llm_cost.distribute_on_citus: the citus extension is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT citus_is_coordinator() THEN
        RAISE EXCEPTION 'llm_cost.distribute_on_citus: run it on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = 'llm_cost.usage'::regclass) THEN
        RETURN 'already distributed';
    END IF;
    SELECT array_agg(c.oid::regclass ORDER BY c.relname <> 'usage', c.relname)
           FILTER (WHERE c.relname <> 'budgets' AND EXISTS (
                       SELECT FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)),
           array_agg(c.oid::regclass ORDER BY c.relname)
           FILTER (WHERE c.relname = 'budgets' OR NOT EXISTS (
                       SELECT FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
      INTO distributed_tables, reference_tables
      FROM pg_catalog.pg_class AS c
     WHERE c.relnamespace = 'llm_cost'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND c.relname <> ALL (node_local);
    -- The ledger's spend is kept on the node that holds each row, from the
    -- row's insert on: rows already here would be counted on no worker.
    IF EXISTS (SELECT FROM llm_cost.usage) OR EXISTS (SELECT FROM llm_cost.resource_usage) THEN
        RAISE EXCEPTION 'llm_cost.distribute_on_citus: the ledger is not empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Distribute an empty ledger, then load it (pg_dump --data-only, COPY) through the coordinator.';
    END IF;
    SELECT string_agg(b.name, ', ') INTO spanning
      FROM llm_cost.budgets AS b WHERE b.tenant_id IS NULL AND b.per IS DISTINCT FROM 'tenant_id';
    IF spanning IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost.distribute_on_citus: budgets span tenants: %', spanning
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Give each a tenant_id or per = ''tenant_id'', or delete it (docs/scaling.md).';
    END IF;

    -- Spend, windows, alerts and holds stay node-local tables: no foreign key
    -- from them to budgets (a reference table), on any node.
    -- (Here in this transaction, which has read budgets; on the workers by
    -- their own connections.)
    FOR k IN SELECT c.conrelid::regclass AS t, c.conname FROM pg_catalog.pg_constraint AS c
              WHERE c.contype = 'f' AND c.confrelid = 'llm_cost.budgets'::regclass LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', k.t, k.conname);
    END LOOP;
    PERFORM run_command_on_workers($cmd$
        SET citus.enable_ddl_propagation = off;
        DO $do$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT c.conrelid::regclass AS t, c.conname FROM pg_catalog.pg_constraint AS c
                      WHERE c.contype = 'f' AND c.confrelid = 'llm_cost.budgets'::regclass LOOP
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname);
            END LOOP;
        END $do$;
    $cmd$);
    -- The spend triggers on each shard read budgets and prices (their local
    -- copies) from inside a query Citus sent to the worker, and from the
    -- commit-time writer: Citus calls that nested execution and refuses it
    -- unless allowed. Every such read is of a reference table's local copy.
    PERFORM run_command_on_workers(format(
        'SET citus.enable_ddl_propagation = off; ALTER DATABASE %I SET citus.allow_nested_distributed_execution = on',
        current_database()));
    -- One connection per worker for a statement over several shards, so one
    -- local transaction per node: node-local rows shared by shards of one
    -- node (the alert of an unpriced model, queued once per node)
    -- would otherwise be written by sibling transactions of one distributed
    -- transaction, each waiting for the other to end (seen: PREPARE
    -- TRANSACTION waiting on a transactionid for ever). New sessions only.
    EXECUTE format('ALTER DATABASE %I SET citus.multi_shard_modify_mode = sequential', current_database());
    -- A new or changed budget recounts the ledger (rebuild_budget_spend): on
    -- Citus that is a query of every node from inside a trigger on each copy
    -- of budgets, which Citus refuses. Budgets count from their creation on.
    DROP TRIGGER IF EXISTS budgets_rebuild_spend_inserted ON llm_cost.budgets;
    DROP TRIGGER IF EXISTS budgets_rebuild_spend ON llm_cost.budgets;
    CREATE TRIGGER budgets_within_one_tenant BEFORE INSERT OR UPDATE ON llm_cost.budgets
        FOR EACH ROW EXECUTE FUNCTION llm_cost._refuse_cross_tenant_budget();
    -- retire_usage's DELETE moves the spend of each shard's rows to
    -- retired_spend there (made before distributing: every shard gets it)
    CREATE TRIGGER usage_retired_spend AFTER DELETE ON llm_cost.usage
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._citus_retired_spend();
    -- Rollup corrections write the co-located rollup shards of the shard's
    -- node, after any refresh in progress there; a refresh's write of
    -- rollup_state takes every node's rollup lock (above, "Rollups on Citus").
    DROP TRIGGER usage_rollup_deleted ON llm_cost.usage;
    DROP TRIGGER usage_rollup_updated ON llm_cost.usage;
    CREATE TRIGGER usage_rollup_deleted AFTER DELETE ON llm_cost.usage
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._citus_usage_rollup_changed();
    CREATE TRIGGER usage_rollup_updated AFTER UPDATE ON llm_cost.usage
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._citus_usage_rollup_changed();
    CREATE TRIGGER rollup_state_refreshing BEFORE INSERT OR UPDATE ON llm_cost.rollup_state
        FOR EACH ROW EXECUTE FUNCTION llm_cost._citus_refreshing();

    -- Citus cannot plan a SQL function's parameterised query over its tables
    -- (nor one inlined into a caller); as PL/pgSQL the same query is planned
    -- with its parameters' values. Here and on every worker.
    PERFORM llm_cost._citus_plpgsql_functions(distributed_tables || reference_tables);
    PERFORM run_command_on_workers(format('SET citus.enable_ddl_propagation = off; SELECT llm_cost._citus_plpgsql_functions(%L)',
                                          distributed_tables || reference_tables));
    -- Statements over several shards (DELETE, reprice's UPDATE): no row
    -- locks on reference tables in the triggers of their shards.
    PERFORM llm_cost._citus_rewrite_functions();
    PERFORM run_command_on_workers('SET citus.enable_ddl_propagation = off; SELECT llm_cost._citus_rewrite_functions()');

    FOREACH t IN ARRAY reference_tables LOOP
        PERFORM create_reference_table(t);
        EXECUTE format('SELECT truncate_local_data_after_distributing_table(%L)', t);
    END LOOP;

    FOREACH t IN ARRAY distributed_tables LOOP
        -- (Citus refuses rows without a distribution value anyway.)
        EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant_id SET NOT NULL', t);
        -- the table's own keys and, when partitioned, its partitions' own
        FOR k IN SELECT p.relid, x.*
                   FROM (SELECT t AS relid UNION SELECT relid FROM pg_catalog.pg_partition_tree(t)) AS p,
                        LATERAL llm_cost._keys_without_tenant(p.relid) AS x LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s (%s, tenant_id)',
                           k.relid, k.conname, k.conname,
                           CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, k.columns);
        END LOOP;
        IF t = distributed_tables[1] THEN
            PERFORM create_distributed_table(t, 'tenant_id', shard_count => coalesce(shard_count, 32));
        ELSE
            PERFORM create_distributed_table(t, 'tenant_id', colocate_with => 'llm_cost.usage');
        END IF;
    END LOOP;

    -- Pre-call checks run where the tenant's spend and holds are.
    PERFORM create_distributed_function(f::regprocedure, 'tenant_id', colocate_with => 'llm_cost.usage')
       FROM unnest(ARRAY['llm_cost.can_spend(numeric, text, text, text, text, text, text, text, timestamptz, bigint, jsonb)',
                         'llm_cost.check_spend(numeric, text, text, text, text, text, text, text, timestamptz, bigint, jsonb)',
                         'llm_cost.reserve(numeric, text, text, text, text, text, text, text, interval, bigint, jsonb)'])
            AS f;
    RETURN 'distributed';
END $$;
COMMENT ON FUNCTION llm_cost.distribute_on_citus(integer) IS
  'Turns this database''s (empty) ledger into the Citus layout: usage, resource_usage and rollups distributed by tenant_id (shard_count shards, default 32), prices, aliases and budgets as reference tables, budget spend, alerts and reservations kept on the node of each tenant''s shard; budgets spanning tenants are refused from then on. Run once on the coordinator, after CREATE EXTENSION citus and llm_cost and citus_add_node (docs/scaling.md).';

REVOKE EXECUTE ON FUNCTION llm_cost.distribute_on_citus(integer), llm_cost._keys_without_tenant(regclass),
    llm_cost._refuse_cross_tenant_budget(), llm_cost._citus_plpgsql_functions(regclass[]),
    llm_cost._citus_rewrite_functions(), llm_cost._citus_retired_spend(), llm_cost._citus_retire_rows(timestamptz),
    llm_cost._citus_retire_usage(timestamptz, integer), llm_cost._citus_set_retiring(boolean),
    llm_cost._citus_budget_spend_drift(), llm_cost._citus_refreshing(), llm_cost._citus_lock_rollups(text),
    llm_cost._citus_refresh_rollups(bigint), llm_cost._citus_local_rollup_sql(text, bigint),
    llm_cost._citus_usage_rollup_changed(), llm_cost._citus_read_ledger(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.distribute_on_citus(integer), llm_cost._keys_without_tenant(regclass),
    llm_cost._citus_plpgsql_functions(regclass[]), llm_cost._citus_rewrite_functions() TO llm_cost_admin;
-- (refresh_rollups' and retire_usage's callers, who may correct rows too; the dashboards' readers)
GRANT EXECUTE ON FUNCTION llm_cost._citus_lock_rollups(text), llm_cost._citus_refresh_rollups(bigint),
    llm_cost._citus_local_rollup_sql(text, bigint) TO llm_cost_admin;
GRANT EXECUTE ON FUNCTION llm_cost._citus_read_ledger(timestamptz, timestamptz) TO llm_cost_admin, llm_cost_reader;
-- (budget_spend_drift's readers)
GRANT EXECUTE ON FUNCTION llm_cost._citus_budget_spend_drift() TO llm_cost_admin, llm_cost_reader;
