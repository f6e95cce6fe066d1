-- Roles and privileges. Three roles, created if missing (they are cluster-wide:
-- a second database, or the extension created again, finds them there):
--   llm_cost_writer  inserts usage and resource usage, prices calls, asks
--                    can_spend / check_spend; nothing else
--   llm_cost_reader  reads the tables, views and analytics
--   llm_cost_admin   everything: prices, budgets, the queue, rollups
-- PUBLIC gets nothing. Grant a role to your application's login roles:
--   GRANT llm_cost_writer TO app;  GRANT llm_cost_reader TO grafana;
--
-- What the writer's inserts need besides (reading prices and budgets,
-- writing budget spend and alerts) runs as the extension's owner: in Rust
-- (src/pg/extension_owner.rs) for the usage triggers, and as SECURITY DEFINER
-- with a pinned search_path for the PL/pgSQL ones below.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['llm_cost_writer', 'llm_cost_reader', 'llm_cost_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;

-- Nothing for PUBLIC (functions are executable by PUBLIC unless revoked).
REVOKE ALL ON SCHEMA llm_cost FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA llm_cost FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA llm_cost FROM PUBLIC;
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA llm_cost FROM PUBLIC;

GRANT USAGE ON SCHEMA llm_cost TO llm_cost_writer, llm_cost_reader, llm_cost_admin;

-- The admin: everything.
GRANT ALL ON ALL TABLES IN SCHEMA llm_cost TO llm_cost_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA llm_cost TO llm_cost_admin;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA llm_cost TO llm_cost_admin;

-- The reader: every table and view, every function but those that change
-- something.
GRANT SELECT ON ALL TABLES IN SCHEMA llm_cost TO llm_cost_reader;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA llm_cost TO llm_cost_reader;
REVOKE EXECUTE ON FUNCTION
    llm_cost.set_price(text, text, numeric, numeric, numeric, numeric, numeric, timestamptz, text, bigint, numeric,
                       numeric, numeric, numeric, numeric, text, text, numeric, numeric, numeric, jsonb, numeric, numeric,
                       numeric, numeric, numeric, jsonb),
    llm_cost.import_prices(jsonb, text),
    llm_cost._upsert_prices(text[], text[], text[], timestamptz[], numeric[], numeric[], numeric[], numeric[],
                            numeric[], bigint[], numeric[], numeric[], numeric[], numeric[], numeric[], text[], text[],
                            timestamptz[], numeric[], numeric[], numeric[], jsonb[], numeric[], numeric[], numeric[],
                            numeric[], numeric[], jsonb[], boolean),
    llm_cost.reprice(timestamptz, timestamptz),
    llm_cost.set_resource_price(text, text, numeric, timestamptz, text),
    llm_cost.rebuild_budget_spend(bigint),
    llm_cost.refresh_rollups(bigint),
    llm_cost.retire_usage(timestamptz, integer),
    llm_cost.ensure_usage_partitions(timestamptz, timestamptz),
    llm_cost._create_usage_partition(timestamptz),
    llm_cost._index_usage_partition(regclass),
    llm_cost._retire_rows(regclass, timestamptz, bigint, integer, boolean),
    llm_cost._retire_spend_of(regclass, timestamptz, bigint),
    llm_cost.queue_anomaly_alerts(date, text[], double precision),
    llm_cost.claim_notifications(integer, interval),
    llm_cost.ack_notification(bigint),
    llm_cost.fail_notification(bigint, text),
    llm_cost._queue_notification(text, text, jsonb, bigint, timestamptz, text, numeric),
    llm_cost._queue_budget_alert(bigint, timestamptz, text, numeric, numeric),
    llm_cost._queue_window_alert(bigint, text, timestamptz, timestamptz, numeric, numeric),
    llm_cost._fold_spend(timestamptz[], numeric[], integer[], bigint[], text[], text[], text[], text[], text[], text[],
                         text[], text[], text[], text[], jsonb[]),
    llm_cost._window_add(bigint, text, timestamptz, numeric, bigint, bigint),
    llm_cost._window_advance(llm_cost.budgets, text, timestamptz),
    llm_cost._drop_reservations(bigint[]),
    llm_cost.reserve(numeric, text, text, text, text, text, text, text, interval, bigint, jsonb),
    llm_cost.release(bigint)
    FROM llm_cost_reader;
REVOKE EXECUTE ON PROCEDURE llm_cost.refresh_rollups_in_batches(bigint) FROM llm_cost_reader;

-- The writer: insert calls, price them, ask before a call.
GRANT INSERT ON llm_cost.usage, llm_cost.resource_usage TO llm_cost_writer;
GRANT USAGE ON SEQUENCE llm_cost.usage_id_seq, llm_cost.resource_usage_id_seq TO llm_cost_writer;
GRANT EXECUTE ON FUNCTION
    llm_cost.llm_cost(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.cost_breakdown(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.price_usage(text, text, bigint, bigint, bigint, bigint, bigint, timestamptz, text, jsonb),
    llm_cost.can_spend(numeric, text, text, text, text, text, text, text, timestamptz, bigint, jsonb),
    llm_cost.check_spend(numeric, text, text, text, text, text, text, text, timestamptz, bigint, jsonb),
    llm_cost.reserve(numeric, text, text, text, text, text, text, text, interval, bigint, jsonb),
    llm_cost.release(bigint),
    llm_cost.flush_spend(),
    -- evaluated as the inserting role: CHECK constraints and trigger WHEN clauses
    llm_cost.is_valid_amount(numeric),
    llm_cost.is_service_tier(text),
    llm_cost.is_units(jsonb),
    llm_cost.budgets_enabled(),
    -- the tenant_id column default and the row-level security policies
    llm_cost.current_tenant(),
    llm_cost._sees_all_tenants()
    TO llm_cost_writer;

-- PL/pgSQL that a writer's statements reach and that reads or writes what
-- the writer may not: run as the owner, with a search_path no caller can
-- put objects into ahead of pg_catalog (every name of ours is qualified).
ALTER FUNCTION llm_cost.check_spend(numeric, text, text, text, text, text, text, text, timestamptz, bigint, jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION llm_cost.reserve(numeric, text, text, text, text, text, text, text, interval, bigint, jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION llm_cost.release(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION llm_cost._price_resource_usage() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION llm_cost._resource_spend_changed() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The partitions of usage are reached through usage only, where row-level
-- security and the ledger's statement triggers apply: nobody but the owner
-- reads or changes one directly (the monthly ones are made with no grants).
REVOKE ALL ON llm_cost.usage_default FROM llm_cost_admin, llm_cost_reader;
-- Making, and dropping, partitions needs the owner: admins run these.
ALTER FUNCTION llm_cost.ensure_usage_partitions(timestamptz, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION llm_cost.retire_usage(timestamptz, integer) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
