-- Maintenance that keeps itself going: after CREATE EXTENSION and nothing
-- else, a background worker per database calls llm_cost.run_maintenance()
-- every llm_cost.refresh_interval (src/maintenance/worker.rs), so rollups
-- keep up without pg_cron and without shared_preload_libraries.
--
-- The worker is a dynamic background worker: CREATE EXTENSION and ALTER
-- EXTENSION UPDATE start it (the statement at the end of this file), and an
-- insert into llm_cost.usage starts it again when it is missing (checked at
-- most once per session every 10 seconds): after a server restart, the first
-- write brings it back. It stops when the extension or the database is
-- dropped, when llm_cost.auto_refresh is off, and on pg_terminate_backend.

-- One round of background maintenance, in the caller's transaction. Each task
-- does a bounded amount of work and says whether more is left; the worker
-- calls this again, in a new transaction, until it returns false. Add a task
-- here and the worker runs it.
CREATE FUNCTION llm_cost.run_maintenance() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    batch constant bigint := 50000;
    more boolean := false;
BEGIN
    -- Ledger partitions: this UTC month and the next three, once the ledger
    -- is written in the present (this month has its partition already, or a
    -- row of this month waits in usage_default), and only after an id was
    -- drawn: a pg_restore creates the dumped months itself before it sets the
    -- id sequence, and a month made here first would collide with them.
    -- Moving waiting rows locks usage until commit, so when a month was made
    -- the refresh waits for the next call.
    IF (SELECT s.is_called FROM llm_cost.usage_id_seq AS s)
       AND (to_regclass('llm_cost.' || llm_cost._usage_partition_name(now())) IS NOT NULL
        -- (through usage: parent before partitions; a column: Citus plans a
        -- bare SELECT FROM a distributed table as a function returning record)
        OR EXISTS (SELECT 1 FROM llm_cost.usage
                    WHERE occurred_at >= date_trunc('month', now(), 'UTC')
                      AND occurred_at < date_trunc('month', now(), 'UTC') + interval '1 month'))
       AND llm_cost.ensure_usage_partitions() > 0 THEN
        RETURN true;
    END IF;
    -- Rollups: the next batch of usage ids not rolled up yet. A full batch
    -- means there may be more.
    more := llm_cost.refresh_rollups(batch) = batch OR more;
    RETURN more;
END $$;
COMMENT ON FUNCTION llm_cost.run_maintenance() IS
  'One round of the extension''s background maintenance (roll up the next 50,000 usage ids; make the ledger''s partitions for this UTC month and the next three once the ledger is written in the present), in the caller''s transaction; true when work is left for another call. The maintenance worker calls it every llm_cost.refresh_interval; safe to call by hand or from pg_cron at the same time.';

-- The worker holds a session advisory lock for its whole life, which is
-- also how the writes tell whether it runs (the keys are in
-- src/maintenance/worker.rs: pg_try_advisory_lock(1819045219, 1) fails while it runs).
CREATE FUNCTION llm_cost.maintenance_worker_pid() RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT l.pid FROM pg_catalog.pg_locks AS l
     WHERE l.locktype = 'advisory' AND l.granted
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
       AND l.classid = 1819045219 AND l.objid = 1 AND l.objsubid = 2
$$;

COMMENT ON FUNCTION llm_cost.start_maintenance_worker() IS
  'Starts this database''s maintenance worker unless one is running or llm_cost.auto_refresh is off; true when it started one. CREATE EXTENSION and inserts into usage call it for you (after a server restart, the first insert).';
COMMENT ON FUNCTION llm_cost.maintenance_worker_pid() IS
  'Process id of this database''s maintenance worker (pg_stat_activity.backend_type ''llm_cost maintenance''), or NULL when none runs.';

REVOKE EXECUTE ON FUNCTION llm_cost.run_maintenance(), llm_cost.start_maintenance_worker(),
                           llm_cost.maintenance_worker_pid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llm_cost.run_maintenance(), llm_cost.start_maintenance_worker(),
                          llm_cost.maintenance_worker_pid() TO llm_cost_admin;
GRANT EXECUTE ON FUNCTION llm_cost.maintenance_worker_pid() TO llm_cost_reader;
-- (a fresh install declares the Rust function before privileges.sql grants the reader every routine)
REVOKE EXECUTE ON FUNCTION llm_cost.start_maintenance_worker() FROM llm_cost_reader;

-- The worker waits for this transaction to end before its first round.
SELECT llm_cost.start_maintenance_worker();
