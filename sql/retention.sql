-- Retention: drop old raw usage rows and keep every figure derived from them.
--
-- retire_usage(before) deletes the ledger rows of whole UTC days before
-- `before`, after rolling them up. The rollups keep them (dashboards, costs
-- and exact percentiles of those days are unchanged, at hour granularity;
-- per user and per agent at day granularity, as those have no hourly rollup),
-- and so does budget_spend; their spend per budget moves to retired_spend,
-- which is dumped, added back on restore, and counted by ledger_spend, so
-- rebuild_budget_spend and budget_spend_drift stay exact.

CREATE TABLE llm_cost.retention_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    retired_before timestamptz NOT NULL,
    retired_rows   bigint NOT NULL DEFAULT 0,
    retired_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE llm_cost.retention_state IS
  'How far retire_usage has gone: usage rows before retired_before are only in the rollups and retired_spend (retired_rows of them so far).';
COMMENT ON COLUMN llm_cost.retention_state.one IS 'Always true: the table has at most one row.';
COMMENT ON COLUMN llm_cost.retention_state.retired_before IS 'Usage rows before this instant (a UTC midnight) have been retired.';
COMMENT ON COLUMN llm_cost.retention_state.retired_rows IS 'Usage rows retired so far.';
COMMENT ON COLUMN llm_cost.retention_state.retired_at IS 'When retire_usage last ran.';
SELECT pg_catalog.pg_extension_config_dump('llm_cost.retention_state', '');

-- Whether to read a window from the ledger alone, with a plain scan of its
-- rows, instead of rollups plus the rows not rolled up yet: those are found
-- by id, wherever they fall, and reading them costs more per row than a scan
-- of the window. So when the backlog above the watermark is more than a
-- third of the window's rolled-up calls (whole days and hours), the plain
-- scan is the cheaper one.
-- (An upper bound, from ids: one index probe, whatever the backlog.)
-- Never for a window that starts before the retired days: their calls are
-- only in the rollups, and the ledger alone would show them as empty days.
-- (retention_state has one row at most: one more cheap probe.)
CREATE FUNCTION llm_cost._read_ledger(from_time timestamptz, to_time timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM llm_cost.retention_state AS s WHERE s.retired_before > from_time)
       AND EXISTS (
        SELECT 1 FROM llm_cost.usage AS u          -- (a column: Citus plans a bare SELECT FROM here as a record)
         WHERE u.id BETWEEN llm_cost.rollup_watermark() + 1
                            + (SELECT (coalesce(sum(r.calls), 0) / 3)::bigint
                                 FROM llm_cost.usage_rollup AS r
                                WHERE r.dimension = 'tenant_id'
                                  AND ((r.grain = 'day' AND r.bucket >= llm_cost._days_start(from_time, to_time)
                                                        AND r.bucket < llm_cost._days_end(from_time, to_time))
                                    OR (r.grain = 'hour' AND r.bucket >= llm_cost._hours_start(from_time, to_time)
                                                         AND r.bucket < llm_cost._days_start(from_time, to_time))
                                    OR (r.grain = 'hour' AND r.bucket >= llm_cost._days_end(from_time, to_time)
                                                         AND r.bucket < llm_cost._hours_end(from_time, to_time))))
                        AND llm_cost._max_id())
$$;
COMMENT ON FUNCTION llm_cost._read_ledger(timestamptz, timestamptz) IS
  'Internal: true when the rows not rolled up yet are so many that a plain scan of the window''s ledger rows is cheaper than rollups plus those rows, and the window starts at or after the retired days (retention_state), which only the rollups hold.';

-- A restore (or an INSERT by hand) adds retired spend to the running totals;
-- retire_usage itself inserts spend that budget_spend already holds.
CREATE FUNCTION llm_cost._retired_spend_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT llm_cost._retiring() THEN
        INSERT INTO llm_cost.budget_spend_slots AS s (budget_id, period_start, per_value, spent, calls, tokens)
        SELECT n.budget_id, n.period_start, n.per_value, n.spent, n.calls, n.tokens
          FROM new_rows AS n
          JOIN llm_cost.budgets AS b ON b.id = n.budget_id AND b.period <> 'rolling'
         ORDER BY 1, 2, 3
        ON CONFLICT (budget_id, period_start, per_value, slot) DO UPDATE
           SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, tokens = s.tokens + excluded.tokens,
               updated_at = now();
        -- the totals grew outside the exact path: their slots' allowances end
        UPDATE llm_cost.budget_spend_slots AS s SET cap = NULL
          FROM new_rows AS n
         WHERE (s.budget_id, s.period_start, s.per_value) = (n.budget_id, n.period_start, n.per_value)
           AND s.cap IS NOT NULL;
        -- a rolling budget's: those still in its window (the window's total is made again)
        INSERT INTO llm_cost.window_spend AS s (budget_id, per_value, slot_start, spent, calls, tokens)
        SELECT n.budget_id, n.per_value, n.period_start, n.spent, n.calls, n.tokens
          FROM new_rows AS n
          JOIN llm_cost.budgets AS b ON b.id = n.budget_id AND b.period = 'rolling'
         WHERE n.period_start >= llm_cost.window_start(b."window", now())
         ORDER BY 1, 2, 3
        ON CONFLICT (budget_id, per_value, slot_start) DO UPDATE
           SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, tokens = s.tokens + excluded.tokens;
        DELETE FROM llm_cost.budget_windows AS w WHERE w.budget_id IN (SELECT n.budget_id FROM new_rows AS n);
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._retired_spend_inserted() IS
  'Trigger: restored retired spend counts in budget_spend again.';
CREATE TRIGGER retired_spend_inserted AFTER INSERT ON llm_cost.retired_spend
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost._retired_spend_inserted();

---------------------------------------------------------------------------
-- Monthly partitions of usage
---------------------------------------------------------------------------

-- usage is partitioned by UTC month of occurred_at (sql/schema.sql). Months
-- get their partition ahead of time from ensure_usage_partitions; rows of a
-- month without one land in usage_default and move to the month's partition
-- when it is made.

CREATE FUNCTION llm_cost._usage_partition_name(month timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN 'usage_' || pg_catalog.to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
COMMENT ON FUNCTION llm_cost._usage_partition_name(timestamptz) IS
  'Internal: the name of the partition of usage holding the UTC month that starts at month (usage_YYYY_MM).';

-- The monthly partitions of usage with their bounds (not usage_default).
CREATE FUNCTION llm_cost._usage_partitions()
RETURNS TABLE (partition regclass, from_time timestamptz, to_time timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass,
           (pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
      FROM pg_catalog.pg_inherits AS i
      JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'llm_cost.usage'::regclass
       AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
$$;
COMMENT ON FUNCTION llm_cost._usage_partitions() IS
  'Internal: the monthly partitions of usage and the range [from_time, to_time) each holds.';

-- An UPDATE that changes occurred_at so that the row belongs in another
-- partition would move it there as a DELETE and an INSERT, and the INSERT
-- fires the ledger's row triggers again (its spend would count twice, besides
-- the UPDATE's own correction). Refused: such a row is deleted and inserted
-- again instead, which budgets and rollups follow.
CREATE FUNCTION llm_cost._usage_stays_in_partition() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    home regclass;
BEGIN
    SELECT p.partition INTO home FROM llm_cost._usage_partitions() AS p
     WHERE NEW.occurred_at >= p.from_time AND NEW.occurred_at < p.to_time;
    IF coalesce(home, 'llm_cost.usage_default'::regclass) <> TG_RELID THEN
        RAISE EXCEPTION 'llm_cost.usage: occurred_at % would move usage row % to another partition (%)',
                        NEW.occurred_at, OLD.id, coalesce(home, 'llm_cost.usage_default'::regclass)
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Change occurred_at within the row''s UTC month, or delete the row and insert it again.';
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION llm_cost._usage_stays_in_partition() IS
  'Trigger: refuses an UPDATE of occurred_at that would move a usage row to another partition.';
CREATE TRIGGER usage_stays_in_partition BEFORE UPDATE OF occurred_at ON llm_cost.usage
    FOR EACH ROW WHEN (OLD.occurred_at IS DISTINCT FROM NEW.occurred_at)
    EXECUTE FUNCTION llm_cost._usage_stays_in_partition();

-- Makes the partition of one UTC month. Rows of that month already in
-- usage_default move into it first (ATTACH refuses while they are there).
-- The move fires no trigger, so budgets and rollups count those rows once:
-- they are deleted from the partition usage_default directly (the ledger's
-- DELETE triggers are statement triggers of usage, which fire only for
-- statements on usage) and inserted into the new table before it is
-- attached (it has no triggers until then).
CREATE FUNCTION llm_cost._create_usage_partition(month timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text := llm_cost._usage_partition_name(month);
    next_month timestamptz := ((month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    columns text;
    moving boolean;
BEGIN
    IF month <> pg_catalog.date_trunc('month', month, 'UTC') THEN
        RAISE EXCEPTION 'llm_cost._create_usage_partition: % is not the start of a UTC month', month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.to_regclass(pg_catalog.format('llm_cost.%I', name)) IS NOT NULL THEN
        RETURN false;                   -- the usual case: no lock taken
    END IF;
    -- Rows of the month waiting in usage_default move into the new table. A
    -- query that planned its scan of usage before the attach and ran after
    -- the move would find them in neither place, so a move shuts usage out
    -- (ACCESS EXCLUSIVE, taken on the parent first, in the order every query
    -- locks). A month with no such rows needs no move and blocks no one.
    -- (read through usage, which is locked before its partitions as everywhere;
    -- the month has no partition, so its rows are in usage_default)
    -- (SELECT 1: Citus plans a distributed SELECT of no column as a function
    -- returning record, and fails: "a column definition list is required")
    moving := EXISTS (SELECT 1 FROM llm_cost.usage WHERE occurred_at >= month AND occurred_at < next_month);
    IF moving THEN
        LOCK TABLE llm_cost.usage IN ACCESS EXCLUSIVE MODE;
    END IF;
    -- One maker at a time, and no row of the month lands in usage_default
    -- while we move them.
    LOCK TABLE llm_cost.usage_default IN SHARE ROW EXCLUSIVE MODE;
    IF pg_catalog.to_regclass(pg_catalog.format('llm_cost.%I', name)) IS NOT NULL
       OR EXISTS (SELECT FROM llm_cost._usage_partitions() AS p WHERE p.from_time < next_month AND p.to_time > month) THEN
        RETURN false;
    END IF;
    -- a row of the month arrived since we looked: next time, with the lock
    IF NOT moving AND EXISTS (SELECT 1 FROM llm_cost.usage WHERE occurred_at >= month AND occurred_at < next_month) THEN
        RETURN false;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
      FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = 'llm_cost.usage'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE pg_catalog.format('CREATE TABLE llm_cost.%I (LIKE llm_cost.usage INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE pg_catalog.format(
        'WITH moved AS (DELETE FROM llm_cost.usage_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING %s)
         INSERT INTO llm_cost.%I (%s) SELECT %s FROM moved', columns, name, columns, columns)
      USING month, next_month;
    PERFORM llm_cost._index_usage_partition(pg_catalog.format('llm_cost.%I', name)::regclass);
    -- the row triggers come from usage with the attach
    EXECUTE pg_catalog.format('ALTER TABLE llm_cost.usage ATTACH PARTITION llm_cost.%I FOR VALUES FROM (%L) TO (%L)',
                              name, month, next_month);
    -- On a Citus cluster the attach distributed the new table, copying the
    -- moved rows to its shards (no trigger fires: budgets count them once);
    -- the coordinator's own copy of them, never read again, goes.
    IF moving AND pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT pg_catalog.truncate_local_data_after_distributing_table($1)
                   FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1'
          USING pg_catalog.format('llm_cost.%I', name)::regclass;
    END IF;
    EXECUTE pg_catalog.format('COMMENT ON TABLE llm_cost.%I IS %L', name,
                              pg_catalog.format('Partition of llm_cost.usage: the calls of %s (UTC).',
                                                pg_catalog.to_char(month AT TIME ZONE 'UTC', 'YYYY-MM')));
    RETURN true;
END $$;
COMMENT ON FUNCTION llm_cost._create_usage_partition(timestamptz) IS
  'Internal: makes the partition of usage for the UTC month starting at month, moving that month''s rows out of usage_default; false when it exists.';

CREATE FUNCTION llm_cost.ensure_usage_partitions(since timestamptz DEFAULT now(),
                                                 through timestamptz DEFAULT now() + interval '3 months')
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month timestamp;
    made integer := 0;
BEGIN
    IF since IS NULL OR through IS NULL OR NOT isfinite(since) OR NOT isfinite(through) OR since > through THEN
        RAISE EXCEPTION 'llm_cost.ensure_usage_partitions: expected finite since <= through, got [%, %]', since, through
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF through > since + interval '10 years' THEN
        RAISE EXCEPTION 'llm_cost.ensure_usage_partitions: at most 10 years of monthly partitions at once'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- months counted in UTC whatever the session's time zone
    FOR month IN SELECT pg_catalog.generate_series(pg_catalog.date_trunc('month', since AT TIME ZONE 'UTC'),
                                                   pg_catalog.date_trunc('month', through AT TIME ZONE 'UTC'),
                                                   interval '1 month') LOOP
        IF llm_cost._create_usage_partition(month AT TIME ZONE 'UTC') THEN
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;
COMMENT ON FUNCTION llm_cost.ensure_usage_partitions(timestamptz, timestamptz) IS
  'Makes the monthly partitions of usage (usage_YYYY_MM, UTC months) from since''s month through through''s (default: this month and the next three) that do not exist yet, moving their rows out of usage_default; returns how many it made. Run it regularly (the maintenance run, or cron); a month without a partition still takes rows, in usage_default. Admin only.';

-- retire_usage's arguments, on one node and on Citus alike: whole UTC days,
-- so every dashboard window stays exact, and a positive batch size.
CREATE FUNCTION llm_cost._check_retire_arguments(before timestamptz, batch_rows integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF before IS NULL OR NOT isfinite(before) OR before <> llm_cost._utc_midnight(llm_cost._utc_day(before)) THEN
        RAISE EXCEPTION 'llm_cost.retire_usage: before must be a UTC midnight (got %)', coalesce(before::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Whole UTC days only, so every dashboard window stays exact: e.g. date_trunc(''day'', now() - interval ''400 days'', ''UTC'').';
    END IF;
    IF batch_rows IS NULL OR batch_rows < 1 THEN
        RAISE EXCEPTION 'llm_cost.retire_usage: batch_rows must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;
COMMENT ON FUNCTION llm_cost._check_retire_arguments(timestamptz, integer) IS
  'Internal: raises 22023 unless before is a UTC midnight and batch_rows is positive (retire_usage''s arguments).';

-- Whole monthly partitions before the cutoff go with DROP TABLE; the rest
-- (usage_default, the month the cutoff falls in, a month with rows not yet
-- rolled up) with batched DELETEs on each partition. Either way the rows'
-- budget spend moves to retired_spend first.
CREATE FUNCTION llm_cost.retire_usage(before timestamptz, batch_rows integer DEFAULT 50000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint;
    total bigint := 0;
    leaf regclass;
    whole regclass[];
BEGIN
    PERFORM llm_cost._check_retire_arguments(before, batch_rows);
    PERFORM llm_cost.ensure_usage_partitions();
    -- Everything that exists now goes into the rollups first; the refresh
    -- also holds rollup_state until we commit, so no other refresh or
    -- correction interleaves.
    PERFORM llm_cost.refresh_rollups();
    PERFORM FROM llm_cost.rollup_state FOR UPDATE;  -- also when the refresh had nothing to do
    PERFORM llm_cost.flush_spend();
    mark := llm_cost.rollup_watermark();
    PERFORM pg_catalog.set_config('llm_cost._retiring', 'on', true);
    -- Months wholly before the cutoff, every row rolled up: dropped whole.
    -- SHARE keeps late inserts out while we look (readers go on).
    FOR leaf IN SELECT p.partition FROM llm_cost._usage_partitions() AS p WHERE p.to_time <= before ORDER BY p.from_time LOOP
        EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', leaf);
        IF llm_cost._max_id_of(leaf) <= mark THEN
            whole := whole || leaf;
        END IF;
    END LOOP;
    -- The others' rows of those days, in batches: on each partition itself,
    -- so that the dropped months are not read again (the ledger's DELETE
    -- triggers, statement triggers of usage, have nothing to do while retiring).
    FOR leaf IN SELECT c.oid::regclass
                  FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'llm_cost.usage'::regclass AND c.oid <> ALL (coalesce(whole, '{}')::oid[])
                   AND NOT EXISTS (SELECT FROM llm_cost._usage_partitions() AS p
                                    WHERE p.partition = c.oid AND p.from_time >= before) LOOP
        total := total + llm_cost._retire_rows(leaf, before, mark, batch_rows, true);
    END LOOP;
    -- Last, as DROP TABLE locks usage until we commit: the whole months,
    -- each read once for its spend (in Rust) and dropped. With Citus, the
    -- rows are on the workers, out of that scan's reach: read through SQL.
    FOREACH leaf IN ARRAY coalesce(whole, '{}') LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
            total := total + llm_cost._retire_rows(leaf, before, mark, batch_rows, false);
        ELSE
            total := total + llm_cost._retire_spend_of(leaf, before, mark);
        END IF;
        EXECUTE pg_catalog.format('DROP TABLE %s', leaf);
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
  'Retires the usage rows of the UTC days before `before` (a UTC midnight), after rolling them up: months wholly before it are dropped as partitions, other rows deleted in batches of batch_rows; dashboards, budget spend, rebuilds and drift checks keep counting them (rollups and retired_spend). Returns the rows retired. Rows of those days not yet rolled up when it starts stay. Budgets created or re-scoped later do not see the retired rows. Its last step locks usage briefly (until commit).';

-- A month's rows read once, in Rust (src/budgets/retired_spend.rs): each
-- row matched to its budgets as the spend trigger matched it on insert.
CREATE FUNCTION llm_cost._retire_spend_of(part regclass, before timestamptz, mark bigint) RETURNS bigint
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', '_retire_spend_of_wrapper';
COMMENT ON FUNCTION llm_cost._retire_spend_of(regclass, timestamptz, bigint) IS
  'Internal: adds the spend of one partition''s rows before `before` (ids up to mark) to retired_spend, per enabled budget, period and per value, in one scan; returns how many rows it read.';

CREATE FUNCTION llm_cost._max_id_of(part regclass) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    top bigint;
BEGIN
    EXECUTE pg_catalog.format('SELECT max(id) FROM %s', part) INTO top;
    RETURN coalesce(top, 0);
END $$;
COMMENT ON FUNCTION llm_cost._max_id_of(regclass) IS 'Internal: the highest usage id in one partition of usage (0 when empty).';

-- One partition's rows before the cutoff with ids up to mark, batch by
-- batch: their spend per budget goes to retired_spend, and they are deleted
-- (or, when the partition is dropped next, only read). Returns how many.
CREATE FUNCTION llm_cost._retire_rows(part regclass, before timestamptz, mark bigint, batch_rows integer,
                                      remove boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    last_id bigint := 0;
    done bigint;
    total bigint := 0;
    counted boolean := EXISTS (SELECT FROM llm_cost.budgets);
    -- the next batch_rows rows, in id order (the partition's key)
    batch constant text := pg_catalog.format(
        'SELECT %%s FROM %s AS o WHERE o.occurred_at < $1 AND o.id <= $2 AND o.id > $3 ORDER BY o.id LIMIT $4', part);
BEGIN
    IF NOT remove AND NOT counted THEN
        -- no budget to move spend to: only the count
        EXECUTE pg_catalog.format('SELECT count(*) FROM %s WHERE occurred_at < $1 AND id <= $2', part)
          INTO total USING before, mark;
        RETURN total;
    END IF;
    LOOP
        EXECUTE pg_catalog.format($sql$
            WITH gone AS (
                %2$s
            ), spend AS (
                SELECT d.*
                  FROM (SELECT array_agg(occurred_at) AS occurred_at, array_agg(coalesce(cost, 0)) AS delta,
                               array_agg(1) AS calls, array_agg(input_tokens + output_tokens) AS tokens,
                               array_agg('llm'::text) AS source, array_agg(tenant_id) AS tenant_id,
                               array_agg(project_id) AS project_id, array_agg(user_id) AS user_id,
                               array_agg(agent_id) AS agent_id, array_agg(session_id) AS session_id,
                               array_agg(execution_id) AS execution_id, array_agg(operation) AS operation,
                               array_agg(provider) AS provider, array_agg(model) AS model, array_agg(tags) AS tags
                          FROM gone WHERE $5) AS g,
                       LATERAL llm_cost._spend_deltas(g.occurred_at, g.delta, g.calls, g.tokens, g.source, g.tenant_id,
                                                      g.project_id, g.user_id, g.agent_id, g.session_id,
                                                      g.execution_id, g.operation, g.provider, g.model, g.tags) AS d
            ), kept AS (
                INSERT INTO llm_cost.retired_spend AS r (budget_id, period_start, per_value, spent, calls, tokens)
                SELECT s.budget_id, s.period_start, s.per_value, s.spend, s.call_count, s.token_count
                  FROM spend AS s
                 ORDER BY 1, 2, 3
                ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
                   SET spent = r.spent + excluded.spent, calls = r.calls + excluded.calls, tokens = r.tokens + excluded.tokens
            )
            SELECT count(*), max(id) FROM gone$sql$,
            part,
            CASE WHEN remove
                 THEN pg_catalog.format('DELETE FROM %s AS u WHERE u.id IN (%s) RETURNING u.*', part,
                                        pg_catalog.format(batch, 'o.id'))
                 ELSE pg_catalog.format(batch, 'o.*')
            END)
          INTO done, last_id
          USING before, mark, last_id, batch_rows, counted;
        total := total + done;
        EXIT WHEN done < batch_rows;
    END LOOP;
    RETURN total;
END $$;
COMMENT ON FUNCTION llm_cost._retire_rows(regclass, timestamptz, bigint, integer, boolean) IS
  'Internal: moves the spend of one partition''s rows before `before` (ids up to mark) to retired_spend in batches, deleting them when remove.';
