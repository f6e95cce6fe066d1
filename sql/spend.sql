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

-- A running total is kept in slots: the total is the sum of its slots (the
-- budget_spend view). Writers sharing a budget each add to their own slot,
-- within its cap, so their commits do not queue on one row; near a threshold
-- they take the exact path through slot 0 (src/budgets/escrow.rs,
-- docs/escrow.md section 7). (0.2.0 kept one row per total, in a table named
-- budget_spend; the upgrade renames it.)
CREATE TABLE llm_cost.budget_spend_slots (
    budget_id    bigint NOT NULL REFERENCES llm_cost.budgets (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    per_value    text NOT NULL DEFAULT '',
    spent        numeric NOT NULL DEFAULT 0,
    calls        bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    tokens       bigint NOT NULL DEFAULT 0,
    slot         integer NOT NULL DEFAULT 0,
    cap          numeric,
    PRIMARY KEY (budget_id, period_start, per_value, slot)
);
COMMENT ON TABLE llm_cost.budget_spend_slots IS
  'Exact running spend per budget, period and per value, in slots whose sum is the total (read it through llm_cost.budget_spend), maintained in the same transaction as the usage it comes from.';
COMMENT ON COLUMN llm_cost.budget_spend_slots.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_spend_slots.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_spend_slots.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget).';
COMMENT ON COLUMN llm_cost.budget_spend_slots.spent IS 'This slot''s part of the spend in the period, in the budget''s currency.';
COMMENT ON COLUMN llm_cost.budget_spend_slots.calls IS 'Calls (usage rows) counted in spent.';
COMMENT ON COLUMN llm_cost.budget_spend_slots.updated_at IS 'When this row last changed.';
COMMENT ON COLUMN llm_cost.budget_spend_slots.tokens IS 'Input + output tokens of the calls counted (what a tokens budget limits).';
COMMENT ON COLUMN llm_cost.budget_spend_slots.slot IS 'Which part of the total this row holds: 0 for the exact path and the SQL paths, 1-64 one per backend.';
COMMENT ON COLUMN llm_cost.budget_spend_slots.cap IS 'How far this slot may grow, in the budget''s unit, without the exact path (NULL: not at all); the caps of a total sum to below its next threshold.';

CREATE VIEW llm_cost.budget_spend WITH (security_invoker = true) AS
SELECT s.budget_id, s.period_start, s.per_value, sum(s.spent) AS spent, sum(s.calls)::bigint AS calls,
       max(s.updated_at) AS updated_at, sum(s.tokens)::bigint AS tokens
  FROM llm_cost.budget_spend_slots AS s
 GROUP BY s.budget_id, s.period_start, s.per_value;
COMMENT ON VIEW llm_cost.budget_spend IS
  'Exact running spend per budget, period and per value, maintained in the same transaction as the usage it comes from (the sum of its slots in budget_spend_slots).';
COMMENT ON COLUMN llm_cost.budget_spend.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_spend.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_spend.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget).';
COMMENT ON COLUMN llm_cost.budget_spend.spent IS 'Spend in the period, in the budget''s currency.';
COMMENT ON COLUMN llm_cost.budget_spend.calls IS 'Calls (usage rows) counted in spent.';
COMMENT ON COLUMN llm_cost.budget_spend.updated_at IS 'When this total last changed.';
COMMENT ON COLUMN llm_cost.budget_spend.tokens IS 'Input + output tokens of the calls counted (what a tokens budget limits).';

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
    tokens       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, period_start, per_value)
);
COMMENT ON TABLE llm_cost.retired_spend IS
  'Spend of usage rows removed by retire_usage, per budget, period and per value: still counted in budget_spend, ledger_spend and budget_spend_drift.';
COMMENT ON COLUMN llm_cost.retired_spend.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.retired_spend.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget).';
COMMENT ON COLUMN llm_cost.retired_spend.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.retired_spend.spent IS 'Spend of the retired usage rows in the period, in the budget''s currency.';
COMMENT ON COLUMN llm_cost.retired_spend.calls IS 'Retired usage rows counted in spent.';
COMMENT ON COLUMN llm_cost.retired_spend.tokens IS 'Input + output tokens of the retired usage rows.';

---------------------------------------------------------------------------
-- Rolling windows: spend per slot, and each window's running total
---------------------------------------------------------------------------

-- A rolling budget's spend per slot (sql/budgets.sql: window_slot), kept while
-- the slot is in the window; the slots that leave it are deleted as the
-- window's total moves past them. Keyed per value first: a window's slots are
-- one index range.
CREATE TABLE llm_cost.window_spend (
    budget_id  bigint NOT NULL REFERENCES llm_cost.budgets (id) ON DELETE CASCADE,
    per_value  text NOT NULL DEFAULT '',
    slot_start timestamptz NOT NULL,
    spent      numeric NOT NULL DEFAULT 0,
    calls      bigint NOT NULL DEFAULT 0,
    tokens     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, per_value, slot_start)
);
COMMENT ON TABLE llm_cost.window_spend IS
  'Spend of rolling budgets per slot of their window (and per value), maintained in the same transaction as the usage; slots that leave the window are deleted.';
COMMENT ON COLUMN llm_cost.window_spend.budget_id IS 'The rolling budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.window_spend.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.window_spend.slot_start IS 'Start of the slot (llm_cost.window_slot) the calls occurred in.';
COMMENT ON COLUMN llm_cost.window_spend.spent IS 'Spend in the slot, in the budget''s currency.';
COMMENT ON COLUMN llm_cost.window_spend.calls IS 'Calls in the slot.';
COMMENT ON COLUMN llm_cost.window_spend.tokens IS 'Input + output tokens of the calls in the slot.';

-- The running total of each rolling window: the sum of its slots from
-- window_start on, moved forward when written (subtracting the slots that
-- left, each once), so a write costs O(1) however long the window.
CREATE TABLE llm_cost.budget_windows (
    budget_id    bigint NOT NULL REFERENCES llm_cost.budgets (id) ON DELETE CASCADE,
    per_value    text NOT NULL DEFAULT '',
    window_start timestamptz NOT NULL,
    spent        numeric NOT NULL DEFAULT 0,
    calls        bigint NOT NULL DEFAULT 0,
    tokens       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, per_value)
);
COMMENT ON TABLE llm_cost.budget_windows IS
  'Running totals of rolling budgets: the window_spend slots from window_start on. Derived: made again from window_spend when missing.';
COMMENT ON COLUMN llm_cost.budget_windows.budget_id IS 'The rolling budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_windows.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_windows.window_start IS 'The first slot the totals include (the window''s start when last written).';
COMMENT ON COLUMN llm_cost.budget_windows.spent IS 'Spend of the slots from window_start on.';
COMMENT ON COLUMN llm_cost.budget_windows.calls IS 'Calls of the slots from window_start on.';
COMMENT ON COLUMN llm_cost.budget_windows.tokens IS 'Tokens of the slots from window_start on.';

-- The window's total as of `at` without writing: the kept total minus the
-- slots that have left the window since (or, without a kept total, the sum
-- of the window's slots). STABLE: callers read it in one snapshot with the
-- holds they compare it with.
CREATE FUNCTION llm_cost._window_totals(budget_id bigint, per_value text, "window" interval, at timestamptz,
                                        OUT spent numeric, OUT calls bigint, OUT tokens bigint)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(w.spent, 0) - coalesce(gone.spent, 0) + coalesce(fresh.spent, 0),
           (coalesce(w.calls, 0) - coalesce(gone.calls, 0) + coalesce(fresh.calls, 0))::bigint,
           (coalesce(w.tokens, 0) - coalesce(gone.tokens, 0) + coalesce(fresh.tokens, 0))::bigint
      FROM (SELECT llm_cost.window_start("window", at) AS start) AS n
      LEFT JOIN llm_cost.budget_windows AS w
        ON w.budget_id = _window_totals.budget_id AND w.per_value = _window_totals.per_value
      LEFT JOIN LATERAL (   -- kept, but no longer in the window
            SELECT sum(s.spent) AS spent, sum(s.calls) AS calls, sum(s.tokens) AS tokens
              FROM llm_cost.window_spend AS s
             WHERE s.budget_id = _window_totals.budget_id AND s.per_value = _window_totals.per_value
               AND s.slot_start >= w.window_start AND s.slot_start < n.start) AS gone ON true
      LEFT JOIN LATERAL (   -- nothing kept: the window's slots
            SELECT sum(s.spent) AS spent, sum(s.calls) AS calls, sum(s.tokens) AS tokens
              FROM llm_cost.window_spend AS s
             WHERE w.budget_id IS NULL
               AND s.budget_id = _window_totals.budget_id AND s.per_value = _window_totals.per_value
               AND s.slot_start >= n.start) AS fresh ON true
$$;
COMMENT ON FUNCTION llm_cost._window_totals(bigint, text, interval, timestamptz) IS
  'Internal: a rolling budget''s spend, calls and tokens in the window ending at at, read without writing.';

-- Locks a window's running total (creating it from the slots when missing)
-- and moves it forward to the window ending at `at`: the slots that left are
-- subtracted and deleted, thresholds the total fell below re-arm.
CREATE FUNCTION llm_cost._window_advance(b llm_cost.budgets, per_value text, at timestamptz)
RETURNS llm_cost.budget_windows
LANGUAGE plpgsql AS $$
DECLARE
    w llm_cost.budget_windows;
    start timestamptz := llm_cost.window_start(b."window", at);
    gone record;
BEGIN
    SELECT * INTO w FROM llm_cost.budget_windows AS x
     WHERE x.budget_id = b.id AND x.per_value = _window_advance.per_value FOR UPDATE;
    IF NOT FOUND THEN
        -- A concurrent creator makes this wait for it, then do nothing.
        INSERT INTO llm_cost.budget_windows AS x (budget_id, per_value, window_start, spent, calls, tokens)
        SELECT b.id, _window_advance.per_value, start, t.spent, t.calls, t.tokens
          FROM llm_cost._window_totals(b.id, _window_advance.per_value, b."window", at) AS t
        ON CONFLICT DO NOTHING;
        SELECT * INTO STRICT w FROM llm_cost.budget_windows AS x
         WHERE x.budget_id = b.id AND x.per_value = _window_advance.per_value FOR UPDATE;
        -- Slots from before the total's start were never in it. Only those:
        -- a concurrent creator's total, started earlier, may hold slots that
        -- have left since, and the advance below must find them to take
        -- them out of it.
        DELETE FROM llm_cost.window_spend AS s
         WHERE s.budget_id = b.id AND s.per_value = _window_advance.per_value AND s.slot_start < w.window_start;
    END IF;
    IF w.window_start < start THEN
        WITH deleted AS (
            DELETE FROM llm_cost.window_spend AS s
             WHERE s.budget_id = b.id AND s.per_value = _window_advance.per_value
               AND s.slot_start >= w.window_start AND s.slot_start < start
            RETURNING s.spent, s.calls, s.tokens)
        SELECT coalesce(sum(d.spent), 0) AS spent, coalesce(sum(d.calls), 0) AS calls,
               coalesce(sum(d.tokens), 0) AS tokens
          INTO gone FROM deleted AS d;
        UPDATE llm_cost.budget_windows AS x
           SET window_start = start, spent = x.spent - gone.spent, calls = x.calls - gone.calls,
               tokens = x.tokens - gone.tokens
         WHERE x.budget_id = b.id AND x.per_value = _window_advance.per_value
        RETURNING x.* INTO w;
    END IF;
    RETURN w;
END $$;
COMMENT ON FUNCTION llm_cost._window_advance(llm_cost.budgets, text, timestamptz) IS
  'Internal: locks a rolling budget''s running total and moves it to the window ending at at.';

-- Adds spend to one slot of a rolling budget and to its window's total, and
-- queues each threshold the total crosses upward. The total only falls by
-- moving forward in time, which is done first: a threshold it fell below
-- since the last write is below it again here, so it fires again on the next
-- upward crossing and never twice for one (writers of a window serialise on
-- its total). The total is locked before its slots, by every writer: one lock
-- order, no deadlocks.
CREATE FUNCTION llm_cost._window_add(budget_id bigint, per_value text, slot_start timestamptz,
                                     spent numeric, calls bigint, tokens bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    b llm_cost.budgets;
    w llm_cost.budget_windows;
    at timestamptz := clock_timestamp();
    before numeric;
    after numeric;
    th numeric;
BEGIN
    -- FOR SHARE: a change of the budget (its UPDATE, then the rebuild of its
    -- windows) waits for this transaction, or this for it; a window is never
    -- moved by the old definition while the new one rebuilds it.
    SELECT * INTO b FROM llm_cost.budgets AS x WHERE x.id = _window_add.budget_id FOR SHARE;
    IF NOT FOUND OR b.period <> 'rolling' THEN
        RETURN;     -- deleted or changed meanwhile (a change rebuilds its spend)
    END IF;
    w := llm_cost._window_advance(b, per_value, at);
    IF slot_start < w.window_start THEN
        RETURN;     -- a call from before the window: it no longer counts
    END IF;
    INSERT INTO llm_cost.window_spend AS s (budget_id, per_value, slot_start, spent, calls, tokens)
    VALUES (b.id, per_value, slot_start, spent, calls, tokens)
    ON CONFLICT ON CONSTRAINT window_spend_pkey DO UPDATE
       SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, tokens = s.tokens + excluded.tokens;
    UPDATE llm_cost.budget_windows AS x
       SET spent = x.spent + _window_add.spent, calls = x.calls + _window_add.calls,
           tokens = x.tokens + _window_add.tokens
     WHERE x.budget_id = b.id AND x.per_value = _window_add.per_value;
    before := llm_cost._used(b.unit, w.spent, w.calls, w.tokens);
    after := llm_cost._used(b.unit, w.spent + spent, w.calls + calls, w.tokens + tokens);
    FOREACH th IN ARRAY b.thresholds LOOP
        IF 100 * before < b.amount * th AND 100 * after >= b.amount * th THEN
            PERFORM llm_cost._queue_window_alert(b.id, per_value, w.window_start, at, after, th);
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION llm_cost._window_add(bigint, text, timestamptz, numeric, bigint, bigint) IS
  'Internal: adds spend to a rolling budget''s slot and window total, queuing each threshold crossed upward.';

-- The alert for one upward crossing of a rolling window's threshold. Unlike a
-- calendar period's, the same threshold may fire again after the window's
-- total fell below it: the key names the crossing's instant (crossings of one
-- window are serialised by its running total's row lock).
CREATE FUNCTION llm_cost._queue_window_alert(budget_id bigint, per_value text, window_start timestamptz,
                                             at timestamptz, used numeric, threshold numeric) RETURNS bigint
LANGUAGE sql AS $$
    SELECT llm_cost._queue_notification(
               CASE WHEN threshold >= 100 THEN 'budget_exceeded' ELSE 'budget_threshold' END,
               format('window:%s:%s:%s:%s', b.id, per_value, trim_scale(threshold),
                      (extract(epoch FROM at) * 1000000)::bigint),
               jsonb_build_object('threshold', threshold, 'spent', used, 'amount', b.amount, 'unit', b.unit,
                                  'currency', b.currency, 'percent_used', round(100 * used / b.amount, 2),
                                  'period', b.period, 'window', b."window", 'period_start', window_start,
                                  'period_end', at,
                                  -- whom it is about, as _queue_budget_alert says it
                                  'budget_name', b.name, 'per', b.per, 'per_value', nullif(per_value, ''),
                                  'tenant_id', coalesce(b.tenant_id,
                                                        CASE WHEN b.per = 'tenant_id' THEN nullif(per_value, '') END)),
               b.id, window_start, nullif(per_value, ''), threshold)
      FROM llm_cost.budgets AS b
     WHERE b.id = _queue_window_alert.budget_id
$$;
COMMENT ON FUNCTION llm_cost._queue_window_alert(bigint, text, timestamptz, timestamptz, numeric, numeric) IS
  'Internal: queues the alert for one upward crossing of a threshold by a rolling budget''s window.';

---------------------------------------------------------------------------
-- Folding usage into budget spend
---------------------------------------------------------------------------

-- The spend deltas of usage rows per matching budget, period (for a rolling
-- budget, slot) and per value. Rows: (occurred_at, delta, calls, tokens,
-- source, the dimensions, tags) as parallel arrays, so callers pass a
-- transition table in one call and the query keeps a cached plan. A SQL
-- function of one SELECT: inlined where it is used.
CREATE FUNCTION llm_cost._spend_deltas(
    occurred_at timestamptz[], delta numeric[], calls integer[], tokens bigint[], source text[],
    tenant_id text[], project_id text[], user_id text[], agent_id text[], session_id text[],
    execution_id text[], operation text[], provider text[], model text[], tags jsonb[])
RETURNS TABLE (budget_id bigint, period_start timestamptz, per_value text, spend numeric, call_count bigint,
               token_count bigint, rolling boolean)
LANGUAGE sql STABLE AS $$
    WITH d AS (
        SELECT * FROM unnest(occurred_at, delta, calls, tokens, source, tenant_id, project_id, user_id, agent_id,
                             session_id, execution_id, operation, provider, model, tags)
                   AS d (occurred_at, delta, calls, tokens, source, tenant_id, project_id, user_id, agent_id,
                         session_id, execution_id, operation, provider, model, tags)
    ), masks AS (
        SELECT DISTINCT b.scope_mask FROM llm_cost.budgets AS b WHERE b.enabled
    ), hits AS (
        SELECT b.id AS budget_id,
               CASE WHEN b.period = 'rolling' THEN llm_cost.window_slot(b."window", d.occurred_at)
                    ELSE llm_cost.period_start(b.period, b.timezone, d.occurred_at) END AS period_start,
               llm_cost.per_value(b.per, d.tenant_id, d.project_id, d.user_id, d.agent_id, d.session_id,
                                  d.execution_id, d.operation, d.provider, d.model) AS per_value,
               d.delta, d.calls, d.tokens, b.period = 'rolling' AS rolling
          FROM d
         CROSS JOIN masks AS m
          JOIN llm_cost.budgets AS b
            ON b.enabled AND b.scope_mask = m.scope_mask
           AND b.scope_key = llm_cost.scope_key(m.scope_mask, d.tenant_id, d.project_id, d.user_id,
                                                d.agent_id, d.session_id, d.provider, d.model)
         WHERE b.includes IN ('all', d.source)
           AND (b.tags IS NULL OR d.tags @> b.tags)
    )
    SELECT h.budget_id, h.period_start, h.per_value, sum(h.delta), sum(h.calls), sum(h.tokens)::bigint, h.rolling
      FROM hits AS h
     WHERE h.per_value IS NOT NULL          -- a per budget skips rows without that dimension
     GROUP BY h.budget_id, h.period_start, h.per_value, h.rolling
$$;
COMMENT ON FUNCTION llm_cost._spend_deltas(timestamptz[], numeric[], integer[], bigint[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], jsonb[]) IS
  'Internal: usage rows'' spend, calls and tokens per matching enabled budget, period (slot for rolling budgets) and per value.';

-- Applies one statement's spend deltas to every matching budget and queues the
-- thresholds crossed. Called by the statement triggers below with their
-- transition tables as arrays (see _spend_deltas). Calendar totals first, in
-- key order, then rolling windows by (budget, per value, slot): the order the
-- commit-time writer (src/budgets/spend_trigger.rs) takes them in too.
CREATE FUNCTION llm_cost._fold_spend(
    occurred_at timestamptz[], delta numeric[], calls integer[], tokens bigint[], source text[],
    tenant_id text[], project_id text[], user_id text[], agent_id text[], session_id text[],
    execution_id text[], operation text[], provider text[], model text[], tags jsonb[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    t record;
    total record;
BEGIN
    PERFORM llm_cost.flush_spend();     -- earlier inserts first: thresholds cross in order
    FOR c IN
        SELECT * FROM llm_cost._spend_deltas(occurred_at, delta, calls, tokens, source, tenant_id, project_id,
                                             user_id, agent_id, session_id, execution_id, operation, provider,
                                             model, tags) AS a
         WHERE NOT a.rolling
         -- one lock order for every writer: concurrent statements cannot deadlock on spend rows
         -- (per values in byte order, COLLATE "C", as the Rust writer sorts them)
         ORDER BY a.budget_id, a.period_start, a.per_value COLLATE "C"
    LOOP
        -- slot 0 first, as every exact writer takes it (src/budgets/escrow.rs)
        INSERT INTO llm_cost.budget_spend_slots AS s (budget_id, period_start, per_value, slot, spent, calls, tokens)
        VALUES (c.budget_id, c.period_start, c.per_value, 0, c.spend, c.call_count, c.token_count)
        ON CONFLICT (budget_id, period_start, per_value, slot) DO UPDATE
           SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls,
               tokens = s.tokens + excluded.tokens, updated_at = now();
        -- the other slots' allowances end: their writers in flight finish
        -- first (the update waits for them) and later ones take the exact
        -- path, so the total read next is the exact one
        UPDATE llm_cost.budget_spend_slots AS s SET cap = NULL
         WHERE s.budget_id = c.budget_id AND s.period_start = c.period_start AND s.per_value = c.per_value
           AND s.slot <> 0 AND s.cap IS NOT NULL;
        SELECT s.spent, s.calls, s.tokens INTO total
          FROM llm_cost.budget_spend AS s
         WHERE s.budget_id = c.budget_id AND s.period_start = c.period_start AND s.per_value = c.per_value;
        -- The budget's thresholds in a statement of their own: on Citus
        -- budgets is a reference table, and a statement joining it with
        -- budget_spend (node-local) is planned through an intermediate
        -- result, which the triggers of two shards of one DELETE wrote under
        -- the same name ("received copy data after EOF marker").
        FOR t IN
            SELECT b.amount, x.threshold,
                   llm_cost._used(b.unit, total.spent, total.calls, total.tokens) AS after,
                   llm_cost._used(b.unit, total.spent - c.spend, total.calls - c.call_count,
                                  total.tokens - c.token_count) AS before
              FROM llm_cost.budgets AS b
             CROSS JOIN LATERAL unnest(b.thresholds) AS x (threshold)
             WHERE b.id = c.budget_id
             ORDER BY x.threshold
        LOOP
            IF 100 * t.before < t.amount * t.threshold AND 100 * t.after >= t.amount * t.threshold THEN
                PERFORM llm_cost._queue_budget_alert(c.budget_id, c.period_start, c.per_value, t.after, t.threshold);
            END IF;
        END LOOP;
    END LOOP;
    FOR c IN
        SELECT * FROM llm_cost._spend_deltas(occurred_at, delta, calls, tokens, source, tenant_id, project_id,
                                             user_id, agent_id, session_id, execution_id, operation, provider,
                                             model, tags) AS a
         WHERE a.rolling
         ORDER BY a.budget_id, a.per_value COLLATE "C", a.period_start
    LOOP
        PERFORM llm_cost._window_add(c.budget_id, c.per_value, c.period_start, c.spend, c.call_count, c.token_count);
    END LOOP;
END $$;
COMMENT ON FUNCTION llm_cost._fold_spend(timestamptz[], numeric[], integer[], bigint[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], jsonb[]) IS
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
        PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(-coalesce(cost, 0)), array_agg(-1),
                                     array_agg(-(input_tokens + output_tokens)), array_agg('llm'::text),
                                     array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                     array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                     array_agg(provider), array_agg(model), array_agg(tags))
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
        PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(delta), array_agg(calls), array_agg(tokens),
                                     array_agg('llm'::text),
                                     array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                     array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                     array_agg(provider), array_agg(model), array_agg(tags))
           FROM (SELECT occurred_at, -coalesce(cost, 0) AS delta, -1 AS calls, -(input_tokens + output_tokens) AS tokens,
                        tenant_id, project_id, user_id, agent_id, session_id, execution_id, operation, provider, model,
                        tags FROM old_rows
                 UNION ALL
                 SELECT occurred_at, coalesce(cost, 0), 1, input_tokens + output_tokens, tenant_id, project_id, user_id,
                        agent_id, session_id, execution_id, operation, provider, model, tags FROM new_rows) AS changes;
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
-- nothing here while no budget exists (unpriced rows still queue their alert,
-- and a row naming a reservation settles it).
CREATE TRIGGER usage_spend_add AFTER INSERT ON llm_cost.usage
    FOR EACH ROW WHEN (NEW.cost IS NULL OR NEW.reservation_id IS NOT NULL OR llm_cost.budgets_enabled())
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
        DELETE FROM llm_cost.budget_spend_slots;     -- nothing left to count
        DELETE FROM llm_cost.window_spend;
        DELETE FROM llm_cost.budget_windows;
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
            PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(coalesce(cost, 0)), array_agg(0),
                                         array_agg(0::bigint), array_agg('compute'::text),
                                         array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                         array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                         array_agg(NULL::text), array_agg(NULL::text), array_agg(tags))
               FROM new_rows;
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(-coalesce(cost, 0)), array_agg(0),
                                         array_agg(0::bigint), array_agg('compute'::text),
                                         array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                         array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                         array_agg(NULL::text), array_agg(NULL::text), array_agg(tags))
               FROM old_rows;
        ELSE
            PERFORM llm_cost._fold_spend(array_agg(occurred_at), array_agg(delta), array_agg(0),
                                         array_agg(0::bigint), array_agg('compute'::text),
                                         array_agg(tenant_id), array_agg(project_id), array_agg(user_id), array_agg(agent_id),
                                         array_agg(session_id), array_agg(execution_id), array_agg(operation),
                                         array_agg(NULL::text), array_agg(NULL::text), array_agg(tags))
               FROM (SELECT occurred_at, -coalesce(cost, 0) AS delta, tenant_id, project_id, user_id, agent_id,
                            session_id, execution_id, operation, tags FROM old_rows
                     UNION ALL
                     SELECT occurred_at, coalesce(cost, 0), tenant_id, project_id, user_id, agent_id,
                            session_id, execution_id, operation, tags FROM new_rows) AS changes;
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

-- What the ledger says a budget has spent, per period (slot, for a rolling
-- budget: those of its current window) and per value.
CREATE FUNCTION llm_cost.ledger_spend(budget_id bigint)
RETURNS TABLE (period_start timestamptz, per_value text, spent numeric, calls bigint, tokens bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.period_start, t.per_value, sum(t.spent), sum(t.calls)::bigint, sum(t.tokens)::bigint
      FROM (   -- the ledger's rows, then the retired rows' spend
        SELECT CASE WHEN b.period = 'rolling' THEN llm_cost.window_slot(b."window", x.occurred_at)
                    ELSE llm_cost.period_start(b.period, b.timezone, x.occurred_at) END AS period_start,
               x.per_value, sum(x.cost) AS spent, sum(x.calls) AS calls, sum(x.tokens) AS tokens
          FROM llm_cost.budgets AS b,
               LATERAL (
                SELECT u.occurred_at, coalesce(u.cost, 0) AS cost, 1 AS calls,
                       u.input_tokens + u.output_tokens AS tokens,
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
                   AND (b.tags IS NULL OR u.tags @> b.tags)
                UNION ALL
                SELECT r.occurred_at, coalesce(r.cost, 0), 0, 0,
                       llm_cost.per_value(b.per, r.tenant_id, r.project_id, r.user_id, r.agent_id, r.session_id,
                                          r.execution_id, r.operation, NULL, NULL)
                  FROM llm_cost.resource_usage AS r
                 WHERE b.includes IN ('all', 'compute') AND b.provider IS NULL AND b.model IS NULL
                   AND b.per IS DISTINCT FROM 'provider' AND b.per IS DISTINCT FROM 'model'
                   AND (b.tenant_id IS NULL OR r.tenant_id = b.tenant_id)
                   AND (b.project_id IS NULL OR r.project_id = b.project_id)
                   AND (b.user_id IS NULL OR r.user_id = b.user_id)
                   AND (b.agent_id IS NULL OR r.agent_id = b.agent_id)
                   AND (b.session_id IS NULL OR r.session_id = b.session_id)
                   AND (b.tags IS NULL OR r.tags @> b.tags)) AS x
         WHERE b.id = ledger_spend.budget_id AND x.per_value IS NOT NULL
         GROUP BY 1, 2
        UNION ALL
        SELECT r.period_start, r.per_value, r.spent, r.calls, r.tokens
          FROM llm_cost.retired_spend AS r
         WHERE r.budget_id = ledger_spend.budget_id) AS t
      JOIN llm_cost.budgets AS b ON b.id = ledger_spend.budget_id
     WHERE b.period <> 'rolling' OR t.period_start >= llm_cost.window_start(b."window", now())
     GROUP BY 1, 2
$$;
COMMENT ON FUNCTION llm_cost.ledger_spend(bigint) IS
  'A budget''s spend, calls and tokens per period (per slot of the current window for a rolling budget) and per value, summed from the ledger (a full scan of its rows) plus retired rows (retired_spend); what llm_cost.budget_spend (window_spend) must always equal.';

-- The running totals a budget keeps: budget_spend, or window_spend's slots
-- of the current window for a rolling budget.
CREATE FUNCTION llm_cost._kept_spend(budget_id bigint)
RETURNS TABLE (period_start timestamptz, per_value text, spent numeric, calls bigint, tokens bigint)
LANGUAGE sql STABLE AS $$
    SELECT s.period_start, s.per_value, s.spent, s.calls, s.tokens
      FROM llm_cost.budget_spend AS s
     WHERE s.budget_id = _kept_spend.budget_id
    UNION ALL
    SELECT w.slot_start, w.per_value, w.spent, w.calls, w.tokens
      FROM llm_cost.window_spend AS w
      JOIN llm_cost.budgets AS b ON b.id = w.budget_id
     WHERE w.budget_id = _kept_spend.budget_id AND w.slot_start >= llm_cost.window_start(b."window", now())
$$;
COMMENT ON FUNCTION llm_cost._kept_spend(bigint) IS
  'Internal: a budget''s running totals as kept (budget_spend, or the current window''s window_spend slots).';

-- Budgets whose running totals differ from the ledger: empty unless something
-- bypassed the triggers (e.g. session_replication_role = replica).
CREATE FUNCTION llm_cost._budget_spend_drift()
RETURNS TABLE (budget_id bigint, period_start timestamptz, per_value text, kept_spent numeric,
               ledger_spent numeric, kept_calls bigint, ledger_calls bigint, kept_tokens bigint, ledger_tokens bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM llm_cost.flush_spend();
    RETURN QUERY
    SELECT b.id, d.*
      FROM llm_cost.budgets AS b
     -- (a disabled budget's totals stand still on purpose; enabling it rebuilds them)
     CROSS JOIN LATERAL (
            SELECT coalesce(s.period_start, l.period_start),
                   coalesce(s.per_value, l.per_value),
                   s.spent, l.spent, s.calls, l.calls, s.tokens, l.tokens
              FROM llm_cost._kept_spend(b.id) AS s
              FULL JOIN llm_cost.ledger_spend(b.id) AS l
                ON l.period_start = s.period_start AND l.per_value = s.per_value
             WHERE (coalesce(s.spent, 0), coalesce(s.calls, 0), coalesce(s.tokens, 0))
                   IS DISTINCT FROM (coalesce(l.spent, 0), coalesce(l.calls, 0), coalesce(l.tokens, 0))) AS d
     WHERE b.enabled;
END $$;
COMMENT ON FUNCTION llm_cost._budget_spend_drift() IS 'Internal: what llm_cost.budget_spend_drift shows.';
CREATE VIEW llm_cost.budget_spend_drift WITH (security_invoker = true) AS
SELECT * FROM llm_cost._budget_spend_drift();
COMMENT ON VIEW llm_cost.budget_spend_drift IS
  'Running totals that differ from the ledger (should be empty); rebuild_budget_spend(id) repairs a budget.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.budget_id IS 'The budget (llm_cost.budgets.id).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.period_start IS 'Start of the budget''s period the spend falls in (-infinity for a total budget; the slot for a rolling one).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.per_value IS 'The value of the budget''s per dimension; '''' for budgets without per.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.kept_spent IS 'Spend in budget_spend or window_spend (NULL: no row there).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.ledger_spent IS 'Spend summed from the ledger and retired_spend (NULL: none).';
COMMENT ON COLUMN llm_cost.budget_spend_drift.kept_calls IS 'Calls in budget_spend or window_spend.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.ledger_calls IS 'Calls counted from the ledger and retired_spend.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.kept_tokens IS 'Tokens in budget_spend or window_spend.';
COMMENT ON COLUMN llm_cost.budget_spend_drift.ledger_tokens IS 'Tokens counted from the ledger and retired_spend.';

-- Recomputes one budget's running totals from the ledger (all periods), without
-- alerts: used when a budget is created or enabled, or its coverage changes.
CREATE FUNCTION llm_cost.rebuild_budget_spend(budget_id bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    rolling boolean;
BEGIN
    SELECT b.period = 'rolling' INTO rolling FROM llm_cost.budgets AS b WHERE b.id = rebuild_budget_spend.budget_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'llm_cost.rebuild_budget_spend: no budget %', budget_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM llm_cost.flush_spend();     -- or the pending spend would be counted twice
    -- The windows' totals before their slots, in key order, as every writer
    -- locks them (_window_add): slots first would deadlock with a writer.
    PERFORM FROM llm_cost.budget_windows AS s WHERE s.budget_id = rebuild_budget_spend.budget_id
      ORDER BY s.per_value COLLATE "C" FOR UPDATE;
    DELETE FROM llm_cost.budget_spend_slots AS s WHERE s.budget_id = rebuild_budget_spend.budget_id;
    DELETE FROM llm_cost.budget_windows AS s WHERE s.budget_id = rebuild_budget_spend.budget_id;
    DELETE FROM llm_cost.window_spend AS s WHERE s.budget_id = rebuild_budget_spend.budget_id;
    IF rolling THEN     -- the windows' totals are made again from these slots when next written
        INSERT INTO llm_cost.window_spend (budget_id, per_value, slot_start, spent, calls, tokens)
        SELECT rebuild_budget_spend.budget_id, l.per_value, l.period_start, l.spent, l.calls, l.tokens
          FROM llm_cost.ledger_spend(rebuild_budget_spend.budget_id) AS l;
    ELSE
        INSERT INTO llm_cost.budget_spend_slots (budget_id, period_start, per_value, spent, calls, tokens)
        SELECT rebuild_budget_spend.budget_id, l.period_start, l.per_value, l.spent, l.calls, l.tokens
          FROM llm_cost.ledger_spend(rebuild_budget_spend.budget_id) AS l;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION llm_cost.rebuild_budget_spend(bigint) IS
  'Recomputes a budget''s running spend for every period (every slot of the current window, for a rolling budget) from the ledger (no alerts are sent). Runs by itself when a budget is created or enabled, or its scope, period, window, tags, time zone or includes change.';

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
    -- (A disabled budget's totals stand still: enabling it counts what it missed.)
    IF (NEW.scope_mask, NEW.scope_key, NEW.period, NEW.timezone, NEW.per, NEW.includes, NEW."window", NEW.tags)
       IS DISTINCT FROM (OLD.scope_mask, OLD.scope_key, OLD.period, OLD.timezone, OLD.per, OLD.includes, OLD."window",
                         OLD.tags)
       OR (NEW.enabled AND NOT OLD.enabled) THEN
        PERFORM llm_cost.rebuild_budget_spend(NEW.id);
    ELSIF (NEW.amount, NEW.thresholds, NEW.unit) IS DISTINCT FROM (OLD.amount, OLD.thresholds, OLD.unit) THEN
        -- caps were computed from the old limits: the next writer of each
        -- slot takes the exact path, which computes them from the new ones
        -- (slots in key order, as every writer locks them)
        PERFORM FROM llm_cost.budget_spend_slots AS s
         WHERE s.budget_id = NEW.id AND s.cap IS NOT NULL
         ORDER BY s.period_start, s.per_value COLLATE "C", s.slot FOR UPDATE;
        UPDATE llm_cost.budget_spend_slots AS s SET cap = NULL WHERE s.budget_id = NEW.id AND s.cap IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION llm_cost._budget_changed() IS 'Trigger: rebuilds a budget''s running spend when its coverage changes, and ends its slots'' allowances when its limits change.';
CREATE TRIGGER budgets_rebuild_spend AFTER UPDATE ON llm_cost.budgets
    FOR EACH ROW EXECUTE FUNCTION llm_cost._budget_changed();

-- Pre-call checks (check_spend, can_spend) and reservations are in sql/reservations.sql.
-- budget_status and budget_status_at are in sql/forecast.sql: they show the forecast.

SELECT pg_catalog.pg_extension_config_dump('llm_cost.retired_spend', '');
-- budget_spend is not dumped: it is derived from the ledger, and a restore
-- recomputes it (the ledger's rows pass through the spend triggers, and new
-- budgets rebuild theirs). Dumping it too would count every row twice.
