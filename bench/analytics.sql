-- A generated ledger for the analytics benchmark: :rows calls over 90 days
-- ending :end_day, at the cardinality of issue #17: 5,000 users active every
-- day, 50 tenants, 40 agents, 6 operations, 8 models, with the correlations
-- real traffic has (a user belongs to one tenant and one of its 3 projects
-- and works through two agents; an agent uses one model for one kind of
-- operation), failures, and latencies.
TRUNCATE llm_cost.usage RESTART IDENTITY;
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, cached_input_tokens,
                            latency_ms, success, tenant_id, project_id, user_id, agent_id, operation)
SELECT :'end_day'::timestamptz - interval '90 days' + (g::float8 / :rows) * interval '90 days',
       'openai', bench.model(agent), 100 + g % 4000, 50 + g % 800, (100 + g % 4000) / 5,
       200 + (g * 31) % 4000, g % 50 <> 0,
       't' || u % 50, 'p' || u % 150, 'u' || u, 'agent' || agent,
       (ARRAY['chat', 'summarize', 'classify', 'extract', 'embed', 'rerank'])[1 + agent % 6]
  FROM (SELECT g, (g * 7919) % 5000 AS u, ((g * 7919) % 5000 * 3 + g % 2) % 40 AS agent
          FROM generate_series(1::bigint, :rows) g) AS s;
-- as autovacuum would have by now: summarizes the BRIN ranges, sets the visibility map
VACUUM ANALYZE llm_cost.usage;

-- Best-of-n wall time of a query, in ms (results are computed and discarded).
CREATE OR REPLACE FUNCTION bench.time_query(q text, n integer) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    best numeric;
    t0 timestamptz;
    ms numeric;
BEGIN
    FOR i IN 1..n LOOP
        t0 := clock_timestamp();
        EXECUTE q;
        ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
        best := least(best, ms);
    END LOOP;
    RETURN round(best, 1);
END $$;
