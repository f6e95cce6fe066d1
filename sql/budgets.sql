-- Budgets: what a budget is (the vocabulary of periods, time zones, scopes and
-- per dimensions) and the llm_cost.budgets table. Their running spend is
-- sql/spend.sql; their alerts go through the notification queue (sql/queue.sql).


---------------------------------------------------------------------------
-- Vocabulary
---------------------------------------------------------------------------

CREATE FUNCTION llm_cost.is_budget_period(period text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN period IN ('day', 'week', 'month', 'quarter', 'year', 'total', 'rolling');
COMMENT ON FUNCTION llm_cost.is_budget_period(text) IS
  'True for a budget period: day, week, month, quarter, year, total, or rolling (a sliding window).';

CREATE FUNCTION llm_cost.is_budget_unit(unit text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN unit IN ('cost', 'tokens', 'calls');
COMMENT ON FUNCTION llm_cost.is_budget_unit(text) IS
  'True for what a budget limits: cost (in its currency), tokens (input + output) or calls.';

-- A budget's use in its unit, from the three running figures every total keeps.
CREATE FUNCTION llm_cost._used(unit text, spent numeric, calls bigint, tokens bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE unit WHEN 'tokens' THEN tokens WHEN 'calls' THEN calls ELSE spent END;
COMMENT ON FUNCTION llm_cost._used(text, numeric, bigint, bigint) IS
  'Internal: spent, calls or tokens, whichever the budget''s unit counts.';

---------------------------------------------------------------------------
-- Rolling windows
---------------------------------------------------------------------------

-- A rolling budget counts its spend in slots: whole seconds, or for windows
-- longer than an hour 1/3600 of the window (24 s for a day, 12 min for 30
-- days), aligned on the Unix epoch. A slot is in the window at T while any
-- part of it is: the window covers [slot_start(T - window), T], between
-- `window` and `window` + one slot long. It never covers less than the
-- window, so a hard limit holds over every exact window of that length; and
-- it is a sum of whole slots, so ingest adds to one slot and the window's
-- total moves on by subtracting the slots that leave it (sql/spend.sql).
-- Windows are fixed durations (no months): '30 days' is 720 hours even
-- across a DST change. src/budgets/budget_period.rs computes the same.
CREATE FUNCTION llm_cost.window_slot_seconds("window" interval) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN greatest(1, floor(extract(epoch FROM "window") / 3600))::bigint;
COMMENT ON FUNCTION llm_cost.window_slot_seconds(interval) IS
  'The slot width, in seconds, in which a rolling budget of this window counts spend: 1 s up to a one-hour window, window/3600 beyond.';

CREATE FUNCTION llm_cost.window_slot("window" interval, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_timestamp(floor(extract(epoch FROM at) / llm_cost.window_slot_seconds("window"))
                    * llm_cost.window_slot_seconds("window"));
-- (Epoch arithmetic rather than timestamptz - interval: the same instants
-- whatever the session's TimeZone, so these stay immutable.)
COMMENT ON FUNCTION llm_cost.window_slot(interval, timestamptz) IS
  'Start of the slot of a rolling budget''s window that contains at.';

CREATE FUNCTION llm_cost.window_start("window" interval, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_timestamp(floor((extract(epoch FROM at) - extract(epoch FROM "window")) / llm_cost.window_slot_seconds("window"))
                    * llm_cost.window_slot_seconds("window"));
COMMENT ON FUNCTION llm_cost.window_start(interval, timestamptz) IS
  'Where a rolling window ending at at begins: the start of the slot containing at - window (the window covers whole slots, at least window long).';

-- The dimensions a budget can be kept "per" (one amount for each value).
CREATE FUNCTION llm_cost.is_budget_dimension(dimension text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN dimension IN ('tenant_id', 'project_id', 'user_id', 'agent_id', 'session_id', 'execution_id',
                     'operation', 'provider', 'model');
COMMENT ON FUNCTION llm_cost.is_budget_dimension(text) IS
  'True for a dimension a budget can apply per value of: tenant_id, project_id, user_id, agent_id, session_id, execution_id, operation, provider, model.';

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
-- The Rust spend trigger computes the same (src/budgets/budget_period.rs).
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
CREATE FUNCTION llm_cost.period_start(period text, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN period = 'total' THEN '-infinity'::timestamptz
            ELSE llm_cost._first_instant(date_trunc(period, at AT TIME ZONE tz), tz) END;
COMMENT ON FUNCTION llm_cost.period_start(text, text, timestamptz) IS
  'Start of the calendar period (day, week = ISO week from Monday, month, quarter, year; total = -infinity) containing at, in time zone tz.';

CREATE FUNCTION llm_cost.period_end(period text, tz text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN period = 'total' THEN 'infinity'::timestamptz
            ELSE llm_cost._first_instant(date_trunc(period, at AT TIME ZONE tz) + llm_cost._period_length(period), tz) END;
COMMENT ON FUNCTION llm_cost.period_end(text, text, timestamptz) IS
  'End (exclusive) of the calendar period containing at, in time zone tz: the start of the next one; infinity for total.';

-- Which scope columns a budget sets, as bits, and the row-side key for a mask.
-- Bits: tenant 1, project 2, user 4, agent 8, session 16, provider 32, model 64.
CREATE FUNCTION llm_cost.scope_mask(tenant_id text, project_id text, user_id text, agent_id text,
                                    session_id text, provider text, model text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- (Sums, not | and <<: SQL gives those operators one precedence, left to right.)
RETURN (tenant_id IS NOT NULL)::int + 2 * (project_id IS NOT NULL)::int + 4 * (user_id IS NOT NULL)::int
       + 8 * (agent_id IS NOT NULL)::int + 16 * (session_id IS NOT NULL)::int
       + 32 * (provider IS NOT NULL)::int + 64 * (model IS NOT NULL)::int;
COMMENT ON FUNCTION llm_cost.scope_mask(text, text, text, text, text, text, text) IS
  'Internal: which of a budget''s scope columns are set, as bits.';

-- Only immutable operators (|| rather than concat_ws), so it can be inlined and
-- used in the budgets' generated columns.
CREATE FUNCTION llm_cost.scope_key(mask integer, tenant_id text, project_id text, user_id text, agent_id text,
                                   session_id text, provider text, model text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN mask & 1 <> 0 THEN coalesce(tenant_id, E'\x1e') ELSE '' END || E'\x1f'
    || CASE WHEN mask & 2 <> 0 THEN coalesce(project_id, E'\x1e') ELSE '' END || E'\x1f'
    || CASE WHEN mask & 4 <> 0 THEN coalesce(user_id, E'\x1e') ELSE '' END || E'\x1f'
    || CASE WHEN mask & 8 <> 0 THEN coalesce(agent_id, E'\x1e') ELSE '' END || E'\x1f'
    || CASE WHEN mask & 16 <> 0 THEN coalesce(session_id, E'\x1e') ELSE '' END || E'\x1f'
    || CASE WHEN mask & 32 <> 0 THEN coalesce(lower(provider), E'\x1e') ELSE '' END || E'\x1f'
    || CASE WHEN mask & 64 <> 0 THEN coalesce(model, E'\x1e') ELSE '' END;
COMMENT ON FUNCTION llm_cost.scope_key(integer, text, text, text, text, text, text, text) IS
  'Internal: the lookup key of a usage row for budgets whose scope sets the columns in mask (NULLs never match a budget value).';

-- The value a row counts under for a budget kept per `per`: '' without per,
-- NULL when the row lacks that dimension (the budget does not cover it).
CREATE FUNCTION llm_cost.per_value(per text, tenant_id text, project_id text, user_id text, agent_id text,
                                   session_id text, execution_id text, operation text, provider text, model text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE per
           WHEN 'tenant_id' THEN tenant_id WHEN 'project_id' THEN project_id
           WHEN 'user_id' THEN user_id WHEN 'agent_id' THEN agent_id
           WHEN 'session_id' THEN session_id WHEN 'execution_id' THEN execution_id
           WHEN 'operation' THEN operation WHEN 'provider' THEN lower(provider)
           WHEN 'model' THEN model
           ELSE '' END;
COMMENT ON FUNCTION llm_cost.per_value(text, text, text, text, text, text, text, text, text, text) IS
  'The value a row counts under for a budget kept per the given dimension (empty without per; NULL when the row lacks it).';

---------------------------------------------------------------------------
-- Budgets
---------------------------------------------------------------------------

CREATE TABLE llm_cost.budgets (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    amount      numeric NOT NULL,
    currency    text NOT NULL DEFAULT 'USD',
    period      text NOT NULL DEFAULT 'month',
    timezone    text NOT NULL DEFAULT 'UTC',
    tenant_id   text,
    project_id  text,
    user_id     text,
    agent_id    text,
    session_id  text,
    provider    text,
    model       text,
    per         text,
    thresholds  numeric[] NOT NULL DEFAULT '{50,80,90,100}',
    hard_limit  boolean NOT NULL DEFAULT false,
    enabled     boolean NOT NULL DEFAULT true,
    notify      jsonb,
    includes    text NOT NULL DEFAULT 'all',
    created_at  timestamptz NOT NULL DEFAULT now(),
    scope_mask  integer GENERATED ALWAYS AS (
                    llm_cost.scope_mask(tenant_id, project_id, user_id, agent_id, session_id, provider, model)) STORED,
    scope_key   text GENERATED ALWAYS AS (
                    llm_cost.scope_key(llm_cost.scope_mask(tenant_id, project_id, user_id, agent_id, session_id, provider, model),
                                       tenant_id, project_id, user_id, agent_id, session_id, provider, model)) STORED,
    unit        text NOT NULL DEFAULT 'cost',
    "window"    interval,
    tags        jsonb,
    CONSTRAINT budgets_amount_positive CHECK (amount > 0 AND amount < 'Infinity'),
    CONSTRAINT budgets_period_known CHECK (llm_cost.is_budget_period(period)),
    CONSTRAINT budgets_per_known CHECK (per IS NULL OR llm_cost.is_budget_dimension(per)),
    CONSTRAINT budgets_includes_known CHECK (includes IN ('llm', 'compute', 'all')),
    CONSTRAINT budgets_currency_code CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT budgets_unit_known CHECK (llm_cost.is_budget_unit(unit)),
    CONSTRAINT budgets_window_rolling CHECK ((period = 'rolling') = ("window" IS NOT NULL)),
    CONSTRAINT budgets_window_valid CHECK ("window" > interval '0' AND "window" <= interval '366 days'
                                          AND extract(month FROM "window") = 0 AND extract(year FROM "window") = 0),
    CONSTRAINT budgets_tags_object CHECK (jsonb_typeof(tags) = 'object')
);
CREATE INDEX budgets_scope ON llm_cost.budgets (scope_mask, scope_key) WHERE enabled;
COMMENT ON TABLE llm_cost.budgets IS
  'Spending limits. A budget covers the usage rows matching all its non-NULL scope columns, per calendar period in its time zone; with per set, the amount applies to each value of that dimension separately.';
COMMENT ON COLUMN llm_cost.budgets.thresholds IS 'Percentages of amount at which an alert fires, once per period (and per value); values in (0, 1000].';
COMMENT ON COLUMN llm_cost.budgets.hard_limit IS 'When true, llm_cost.can_spend() answers false for calls that would take the budget over its amount. Usage rows are always recorded.';
COMMENT ON COLUMN llm_cost.budgets.notify IS 'Routing for alert listeners (e-mails, webhooks); stored and passed on, not interpreted by the extension.';
COMMENT ON COLUMN llm_cost.budgets.includes IS 'Which spend counts: llm (model calls), compute (resource usage) or all.';
COMMENT ON COLUMN llm_cost.budgets.scope_mask IS 'Internal: which scope columns are set, as bits (see llm_cost.scope_key).';
COMMENT ON COLUMN llm_cost.budgets.id IS 'Row id; budget_spend, retired_spend and notifications refer to it.';
COMMENT ON COLUMN llm_cost.budgets.name IS 'Unique name of the budget.';
COMMENT ON COLUMN llm_cost.budgets.amount IS 'Limit per period or window (and per value when per is set), in the budget''s unit: currency for cost, else tokens or calls.';
COMMENT ON COLUMN llm_cost.budgets.currency IS 'Currency of amount (ISO 4217 code).';
COMMENT ON COLUMN llm_cost.budgets.period IS 'Calendar period the amount applies to: day, week, month, quarter, year, total (no period), or rolling (the last window, see window).';
COMMENT ON COLUMN llm_cost.budgets.timezone IS 'Time zone whose calendar the periods follow (default UTC).';
COMMENT ON COLUMN llm_cost.budgets.tenant_id IS 'Scope: only usage of this tenant counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.project_id IS 'Scope: only usage of this project counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.user_id IS 'Scope: only usage of this user counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.agent_id IS 'Scope: only usage of this agent counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.session_id IS 'Scope: only usage of this session counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.provider IS 'Scope: only usage of this provider counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.model IS 'Scope: only usage of this model counts; NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.per IS 'NULL, or a dimension (tenant_id, project_id, user_id, agent_id, session_id, execution_id, operation, provider, model): the amount then applies to each of its values separately.';
COMMENT ON COLUMN llm_cost.budgets.enabled IS 'False: the budget is left out of spend tracking, can_spend, alerts and budget_status.';
COMMENT ON COLUMN llm_cost.budgets.created_at IS 'When the budget was created.';
COMMENT ON COLUMN llm_cost.budgets.unit IS 'What amount limits: cost (default, in currency), tokens (input + output tokens) or calls.';
COMMENT ON COLUMN llm_cost.budgets."window" IS 'For period rolling: the sliding window (e.g. 1 minute, 24 hours, 30 days; no months), counted in whole slots (llm_cost.window_slot_seconds). NULL for calendar periods.';
COMMENT ON COLUMN llm_cost.budgets.tags IS 'Scope: only usage whose tags contain this JSON object counts (usage.tags @> budgets.tags); NULL: any.';
COMMENT ON COLUMN llm_cost.budgets.scope_key IS 'Internal: the set scope values as one key, for looking up the budgets a row matches.';

-- Clear messages (22023) for what the constraints would reject with 23514.
CREATE FUNCTION llm_cost._validate_budget() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t numeric;
    zone_ok boolean;
BEGIN
    IF NEW.amount IS NULL OR NOT (NEW.amount > 0 AND llm_cost.is_valid_amount(NEW.amount)) THEN
        RAISE EXCEPTION 'llm_cost: budget "%": amount must be a positive number below 10^15 (got %)', NEW.name, NEW.amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.period IS NULL OR NOT llm_cost.is_budget_period(NEW.period) THEN
        RAISE EXCEPTION 'llm_cost: budget "%": unknown period %; expected day, week, month, quarter, year, total or rolling',
            NEW.name, coalesce(quote_literal(NEW.period), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.period = 'rolling' AND NEW."window" IS NULL THEN
        RAISE EXCEPTION 'llm_cost: budget "%": a rolling budget needs a window', NEW.name
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. window => ''1 minute'', ''24 hours'' or ''30 days''';
    END IF;
    IF NEW.period <> 'rolling' AND NEW."window" IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost: budget "%": window is only for period rolling (period is %)', NEW.name, NEW.period
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW."window" IS NOT NULL AND NOT (NEW."window" > interval '0' AND NEW."window" <= interval '366 days'
                                         AND extract(month FROM NEW."window") = 0 AND extract(year FROM NEW."window") = 0) THEN
        RAISE EXCEPTION 'llm_cost: budget "%": window must be positive, at most 366 days and without months (got %)',
            NEW.name, NEW."window"
            USING ERRCODE = 'invalid_parameter_value', HINT = 'a window is a fixed duration: write ''30 days'', not ''1 month''';
    END IF;
    IF NEW.unit IS NULL OR NOT llm_cost.is_budget_unit(NEW.unit) THEN
        RAISE EXCEPTION 'llm_cost: budget "%": unit must be cost, tokens or calls (got %)',
            NEW.name, coalesce(quote_literal(NEW.unit), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.tags IS NOT NULL AND jsonb_typeof(NEW.tags) <> 'object' THEN
        RAISE EXCEPTION 'llm_cost: budget "%": tags must be a JSON object (got %)', NEW.name, NEW.tags
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. {"team": "search"}: the budget covers rows whose tags contain it';
    END IF;
    -- Checked by using it (pg_timezone_names reads the whole zone database, far
    -- too slow for 100,000 budgets in one INSERT); only when it changed.
    IF TG_OP = 'INSERT' OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN
        zone_ok := NEW.timezone IS NOT NULL;
        BEGIN
            PERFORM date_trunc('day', now(), NEW.timezone);
        EXCEPTION WHEN invalid_parameter_value OR feature_not_supported THEN
            zone_ok := false;
        END;
        IF NOT zone_ok THEN
            RAISE EXCEPTION 'llm_cost: budget "%": unknown time zone %', NEW.name, coalesce(quote_literal(NEW.timezone), 'NULL')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'use a name from pg_timezone_names, such as UTC or Europe/Berlin';
        END IF;
    END IF;
    IF NEW.per IS NOT NULL AND NOT llm_cost.is_budget_dimension(NEW.per) THEN
        RAISE EXCEPTION 'llm_cost: budget "%": unknown per dimension %', NEW.name, quote_literal(NEW.per)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'per takes tenant_id, project_id, user_id, agent_id, session_id, execution_id, operation, provider or model';
    END IF;
    IF NEW.includes IS NULL OR NEW.includes NOT IN ('llm', 'compute', 'all') THEN
        RAISE EXCEPTION 'llm_cost: budget "%": includes must be llm, compute or all (got %)',
            NEW.name, coalesce(quote_literal(NEW.includes), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.thresholds IS NULL OR array_position(NEW.thresholds, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'llm_cost: budget "%": thresholds must be an array of percentages without NULLs', NEW.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH t IN ARRAY NEW.thresholds LOOP
        IF NOT (t > 0 AND t <= 1000) THEN
            RAISE EXCEPTION 'llm_cost: budget "%": threshold % is outside (0, 1000] percent', NEW.name, t
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    -- Sorted and distinct, so alerts come in order and each fires once.
    NEW.thresholds := ARRAY(SELECT DISTINCT x FROM unnest(NEW.thresholds) AS x ORDER BY x);
    NEW.provider := lower(NEW.provider);
    RETURN NEW;
END $$;
COMMENT ON FUNCTION llm_cost._validate_budget() IS
  'Trigger: rejects invalid budgets with clear messages (22023) and normalises thresholds and provider.';
CREATE TRIGGER budgets_validate BEFORE INSERT OR UPDATE ON llm_cost.budgets
    FOR EACH ROW EXECUTE FUNCTION llm_cost._validate_budget();

SELECT pg_catalog.pg_extension_config_dump('llm_cost.budgets', '');
SELECT pg_catalog.pg_extension_config_dump('llm_cost.budgets_id_seq', '');
