-- Baselines the benchmarks compare against, in schema bench.

CREATE SCHEMA IF NOT EXISTS bench;

-- The same formula in plain SQL, looking the price up in the table for every
-- call (exact provider/model match only: simpler than llm_cost(), which also
-- resolves aliases, variants and above-tier prices).
CREATE OR REPLACE FUNCTION bench.sql_cost(p text, m text, i bigint, o bigint, c bigint, w bigint, r bigint,
                                          at timestamptz DEFAULT now(), tier text DEFAULT 'standard')
RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT ((i - c - w) * pr.input_per_mtok
            + c * coalesce(pr.cache_read_per_mtok, pr.input_per_mtok)
            + w * coalesce(pr.cache_write_per_mtok, pr.input_per_mtok)
            + (o - r) * pr.output_per_mtok
            + r * coalesce(pr.reasoning_per_mtok, pr.output_per_mtok)) / 1000000
           + coalesce(pr.per_request, 0)
      FROM llm_cost.prices AS pr
     WHERE pr.provider = p AND pr.model = m AND pr.service_tier = tier AND pr.valid_from <= at
     ORDER BY pr.valid_from DESC
     LIMIT 1
$$;

CREATE OR REPLACE FUNCTION bench.plpgsql_cost(p text, m text, i bigint, o bigint, c bigint, w bigint, r bigint,
                                              at timestamptz DEFAULT now(), tier text DEFAULT 'standard')
RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr llm_cost.prices;
BEGIN
    SELECT * INTO pr FROM llm_cost.prices AS x
     WHERE x.provider = p AND x.model = m AND x.service_tier = tier AND x.valid_from <= at
     ORDER BY x.valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN ((i - c - w) * pr.input_per_mtok
            + c * coalesce(pr.cache_read_per_mtok, pr.input_per_mtok)
            + w * coalesce(pr.cache_write_per_mtok, pr.input_per_mtok)
            + (o - r) * pr.output_per_mtok
            + r * coalesce(pr.reasoning_per_mtok, pr.output_per_mtok)) / 1000000
           + coalesce(pr.per_request, 0);
END $$;

-- The ledger table without any trigger: same columns, defaults, constraints, indexes.
DROP TABLE IF EXISTS bench.usage_bare;
CREATE TABLE bench.usage_bare (LIKE llm_cost.usage INCLUDING ALL);
-- usage is partitioned and its indexes are its partitions' (sql/schema.sql):
-- give the bare table the same key and BRIN index a partition has.
ALTER TABLE bench.usage_bare ADD PRIMARY KEY (id);
CREATE INDEX ON bench.usage_bare USING brin (occurred_at);
-- Without the trigger every row keeps cost NULL, so the copied partial index on
-- unpriced rows would index all of them there and (almost) none in the ledger.
-- Drop it: the baseline does strictly less work, the comparison is conservative.
DO $$
DECLARE
    idx text;
BEGIN
    FOR idx IN SELECT indexname FROM pg_indexes
                WHERE schemaname = 'bench' AND tablename = 'usage_bare' AND indexdef LIKE '%WHERE%' LOOP
        EXECUTE format('DROP INDEX bench.%I', idx);
    END LOOP;
END $$;

-- The floor of any design that keeps running totals in the inserting
-- transaction: the bare insert plus hand-written UPDATEs of total rows, in the
-- same statement (bench/budgets.sh): one global total, one per tenant, one
-- per user, as the budgets the ledger's lines use; each disjoint writer's
-- tenant and user totals; and 64 stripes of one
-- shared total, one per client, the floor of a design that splits a shared
-- budget's total per writer (docs/escrow.md, section 7).
DROP TABLE IF EXISTS bench.running_total;
CREATE TABLE bench.running_total (key text PRIMARY KEY, spent numeric NOT NULL, calls bigint NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO bench.running_total
SELECT key, 0, 0, now()
  FROM (SELECT 'global' UNION ALL SELECT 't' || g FROM generate_series(1, 8) g
        UNION ALL SELECT 'u' || g FROM generate_series(1, 1000) g
        -- the disjoint writers' own tenant and users (pgbench clients 0..7)
        UNION ALL SELECT 't0'
        UNION ALL SELECT 'c' || c || '-' || u FROM generate_series(0, 7) c, generate_series(1, 1000) u
        -- one stripe per pgbench client (client_id 0..63): the shared total split per writer
        UNION ALL SELECT 's' || g FROM generate_series(0, 63) g) AS k(key);

-- Models the benchmarks rotate through (all in the shipped catalog).
CREATE OR REPLACE FUNCTION bench.model(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
RETURN (ARRAY['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o3-mini', 'gpt-5', 'gpt-5-mini', 'gpt-4.1-nano', 'o1'])[1 + n % 8];

-- CPU per transaction without the client or the commit's fsync in the way
-- (BENCHMARKS.md, "What changed in session 4"): n single-row inserts, each
-- planned like a client's and committed on its own. With \timing and
-- SET synchronous_commit = off: CALL bench.insert_loop('llm_cost.usage', 10000);
CREATE OR REPLACE PROCEDURE bench.insert_loop(target regclass, n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        EXECUTE format('INSERT INTO %s (provider, model, input_tokens, output_tokens, tenant_id, user_id)
                        VALUES (''openai'', ''gpt-4o'', 1000, 300, %L, %L)', target, 't' || (i % 8 + 1), 'u' || (i % 1000 + 1));
        COMMIT;
    END LOOP;
END $$;

-- The floor of pricing rows with a BEFORE ROW trigger under COPY, which
-- PostgreSQL 15 then inserts one row at a time (no multi-insert): the bare
-- table plus a built-in C trigger that sets one column of each row
-- (tsvector_update_trigger, from tenant_id, which the COPY leaves NULL).
DROP TABLE IF EXISTS bench.usage_row_trigger;
CREATE TABLE bench.usage_row_trigger (LIKE bench.usage_bare INCLUDING ALL, tsv tsvector);
CREATE TRIGGER set_one_column BEFORE INSERT ON bench.usage_row_trigger
    FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(tsv, 'pg_catalog.simple', tenant_id);


-- The same floor for a ledger partitioned by month, as llm_cost.usage is:
-- PostgreSQL routes each row to its partition and, because of the BEFORE ROW
-- trigger there, checks the partition's bounds again after it (copyfrom.c).
-- Partitions for the months the benchmarks write (last month to three ahead,
-- as scripts/bench.sh makes the ledger's), each with the ledger's indexes.
DROP TABLE IF EXISTS bench.usage_part_row_trigger;
DROP SEQUENCE IF EXISTS bench.usage_part_row_trigger_id;
CREATE SEQUENCE bench.usage_part_row_trigger_id;
CREATE TABLE bench.usage_part_row_trigger (LIKE bench.usage_bare INCLUDING DEFAULTS INCLUDING CONSTRAINTS, tsv tsvector)
    PARTITION BY RANGE (occurred_at);
ALTER TABLE bench.usage_part_row_trigger ALTER COLUMN id SET DEFAULT nextval('bench.usage_part_row_trigger_id');
DO $$
DECLARE
    m timestamp;
    p text;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month',
                                    date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months', interval '1 month') LOOP
        p := 'usage_part_row_trigger_' || to_char(m, 'YYYY_MM');
        EXECUTE format('CREATE TABLE bench.%I PARTITION OF bench.usage_part_row_trigger FOR VALUES FROM (%L) TO (%L)',
                       p, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
        EXECUTE format('CREATE UNIQUE INDEX ON bench.%I (id)', p);
        EXECUTE format('CREATE INDEX ON bench.%I USING brin (occurred_at)', p);
    END LOOP;
END $$;
CREATE TABLE bench.usage_part_row_trigger_default PARTITION OF bench.usage_part_row_trigger DEFAULT;
CREATE TRIGGER set_one_column BEFORE INSERT ON bench.usage_part_row_trigger
    FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(tsv, 'pg_catalog.simple', tenant_id);
