-- llm_cost demo: a day of LLM calls from a small product team, priced on insert.
-- Run by scripts/demo.sh against a throwaway server.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION llm_cost;

\echo
\echo '== The catalog shipped with the extension'
SELECT count(DISTINCT provider) AS providers,
       count(DISTINCT (provider, model)) AS models,
       count(*) AS price_rows
  FROM llm_cost.prices;

\echo
\echo '== Budgets, set before the day starts (alerts go to the queue and to LISTEN llm_cost)'
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit, notify)
VALUES ('acme daily cap', 40, 'day', 'acme', true, '{"email": ["finops@acme.example"]}');
INSERT INTO llm_cost.budgets (name, amount, period, agent_id, per, thresholds, notify)
VALUES ('code-agent, per developer', 2.50, 'day', 'code-agent', 'user_id', '{80, 100}',
        '{"slack": "#dev-tools"}');
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, timezone)
VALUES ('globex monthly', 500, 'month', 'globex', 'America/New_York');
SELECT name, '$' || amount AS amount, period, timezone, coalesce(per, '') AS per, thresholds, hard_limit
  FROM llm_cost.budgets ORDER BY id;

\echo
\echo '== Recording the day; the listener prints alerts as they arrive'

-- A day (2026-11-21, UTC) of calls. Deterministic: the same day every run.
SELECT setseed(0.42) AS seed \gset

-- Support chatbot on gpt-4o-mini, prompts mostly served from OpenAI's cache.
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, cached_input_tokens, output_tokens,
                            latency_ms, tenant_id, project_id, user_id, agent_id, operation)
SELECT '2026-11-21'::timestamptz + (g * interval '43 seconds'),
       'openai', 'gpt-4o-mini-2024-07-18', 1800 + (random() * 2500)::int, 1536, 120 + (random() * 400)::int,
       300 + (random() * 900)::int, 'acme', 'support', 'customer-' || (g % 140), 'support-bot', 'chat'
  FROM generate_series(1, 1800) g;

-- Coding agent on Claude: raw Anthropic usage objects, with prompt caching.
INSERT INTO llm_cost.usage (occurred_at, provider, model, raw_usage, latency_ms, tenant_id, project_id, user_id, agent_id, operation)
SELECT '2026-11-21 08:00'::timestamptz + (g * interval '61 seconds'),
       'anthropic', 'claude-sonnet-4-5',
       jsonb_build_object('input_tokens', 200 + (random() * 3000)::int,
                          'cache_read_input_tokens', 20000 + (random() * 60000)::int,
                          'cache_creation_input_tokens', CASE WHEN g % 12 = 0 THEN 15000 ELSE 0 END,
                          'output_tokens', 300 + (random() * 2500)::int),
       2000 + (random() * 20000)::int, 'acme', 'devtools', 'dev-' || (g % 9), 'code-agent', 'edit'
  FROM generate_series(1, 520) g;

-- Research assistant on o3-mini: reasoning tokens, OpenAI Responses API usage.
INSERT INTO llm_cost.usage (occurred_at, provider, model, raw_usage, latency_ms, tenant_id, project_id, user_id, agent_id, operation)
SELECT '2026-11-21 09:00'::timestamptz + (g * interval '173 seconds'),
       'openai', 'o3-mini',
       jsonb_build_object('input_tokens', 3000 + o.input, 'input_tokens_details', jsonb_build_object('cached_tokens', 0),
                          'output_tokens', 800 + o.reasoning + 400, 'output_tokens_details', jsonb_build_object('reasoning_tokens', 800 + o.reasoning)),
       5000 + (random() * 30000)::int, 'globex', 'research', 'analyst-' || (g % 5), 'researcher', 'analyze'
  FROM generate_series(1, 240) g,
       LATERAL (SELECT (random() * 6000)::int AS input, (random() * 8000)::int AS reasoning) o;

-- Summaries on Gemini: raw usageMetadata with thinking tokens.
INSERT INTO llm_cost.usage (occurred_at, provider, model, raw_usage, latency_ms, tenant_id, project_id, user_id, agent_id, operation)
SELECT '2026-11-21'::timestamptz + (g * interval '97 seconds'),
       'google', 'gemini-2.5-flash',
       jsonb_build_object('promptTokenCount', 6000 + (random() * 20000)::int,
                          'candidatesTokenCount', 200 + (random() * 600)::int,
                          'thoughtsTokenCount', (random() * 1500)::int),
       800 + (random() * 3000)::int, 'globex', 'inbox', 'user-' || (g % 60), 'summarizer', 'summarize'
  FROM generate_series(1, 880) g;

-- Nightly evaluation run through the OpenAI Batch API: half price.
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, service_tier,
                            tenant_id, project_id, agent_id, operation)
SELECT '2026-11-21 02:00'::timestamptz + (g * interval '2 seconds'),
       'openai', 'gpt-5', 4000 + (random() * 4000)::int, 600 + (random() * 600)::int, 'batch',
       'acme', 'evals', 'eval-runner', 'grade'
  FROM generate_series(1, 1500) g;

-- A self-hosted fine-tune with no public price: kept, flagged, priced later.
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, output_tokens, tenant_id, project_id, agent_id, operation)
SELECT '2026-11-21 12:00'::timestamptz + (g * interval '300 seconds'),
       'acme-internal', 'ticket-router-ft', 900, 12, 'acme', 'support', 'router', 'classify'
  FROM generate_series(1, 100) g;

-- Every charge on the bill (0.3): embeddings for the docs index, transcribed
-- support calls, a research agent whose Claude calls search the web and write
-- 1-hour cache entries (from Anthropic's own usage objects), and product images.
INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, tenant_id, project_id, agent_id, operation)
SELECT '2026-11-21 03:00'::timestamptz + (g * interval '5 seconds'), 'openai', 'text-embedding-3-small',
       600 + (random() * 1500)::int, 'globex', 'docs', 'indexer', 'embed'
  FROM generate_series(1, 3000) g;
INSERT INTO llm_cost.usage (occurred_at, provider, model, units, tenant_id, project_id, agent_id, operation)
SELECT '2026-11-21 10:00'::timestamptz + (g * interval '3 minutes'), 'openai', 'whisper-1',
       jsonb_build_object('audio_seconds', 60 + (random() * 540)::int), 'acme', 'support', 'transcriber', 'transcribe'
  FROM generate_series(1, 120) g;
INSERT INTO llm_cost.usage (occurred_at, provider, model, raw_usage, tenant_id, project_id, user_id, agent_id, operation)
SELECT '2026-11-21 11:00'::timestamptz + (g * interval '4 minutes'), 'anthropic', 'claude-sonnet-4-5',
       jsonb_build_object('input_tokens', 3000, 'cache_read_input_tokens', 20000, 'cache_creation_input_tokens', 8000,
                          'cache_creation', jsonb_build_object('ephemeral_5m_input_tokens', 0, 'ephemeral_1h_input_tokens', 8000),
                          'output_tokens', 1500,
                          'server_tool_use', jsonb_build_object('web_search_requests', 1 + g % 4)),
       'globex', 'research', 'globex-analyst', 'researcher', 'research'
  FROM generate_series(1, 60) g;
INSERT INTO llm_cost.usage (occurred_at, provider, model, units, tenant_id, project_id, agent_id, operation)
SELECT '2026-11-21 15:00'::timestamptz + (g * interval '1 minute'), 'azure', 'dall-e-3',
       jsonb_build_object('images', 1, 'quality', CASE WHEN g % 3 = 0 THEN 'hd' ELSE 'standard' END, 'size', '1024x1792'),
       'acme', 'marketing', 'designer', 'illustrate'
  FROM generate_series(1, 40) g;

SELECT pg_sleep(1.5) \gset

\echo
\echo '== What 2026-11-21 cost'
SELECT count(*) AS calls,
       to_char(sum(input_tokens), 'FM999,999,999') AS input_tokens,
       to_char(sum(cached_input_tokens), 'FM999,999,999') AS cached,
       to_char(sum(output_tokens), 'FM999,999,999') AS output_tokens,
       to_char(sum(reasoning_tokens), 'FM999,999,999') AS reasoning,
       '$' || to_char(sum(cost), 'FM999,990.00') AS total_cost,
       count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls
  FROM llm_cost.usage;

\echo
\echo '== By provider and model'
SELECT provider, model, service_tier AS tier, count(*) AS calls,
       '$' || to_char(sum(cost), 'FM999,990.00') AS cost,
       '$' || to_char(avg(cost), 'FM990.000000') AS per_call,
       lpad(to_char(100 * sum(cost) / sum(sum(cost)) OVER (), 'FM990.0') || '%', 6) AS share
  FROM llm_cost.usage
 WHERE cost IS NOT NULL
 GROUP BY provider, model, service_tier
 ORDER BY sum(cost) DESC;

\echo
\echo '== By kind of call, with every charge beyond tokens (cost_by mode, daily_costs.units)'
SELECT value AS mode, calls, '$' || to_char(cost, 'FM999,990.00') AS cost, lpad(share || '%', 6) AS share
  FROM llm_cost.cost_by('mode', '2026-11-21', '2026-11-22');
SELECT key AS unit, to_char(sum(value::numeric), 'FM999,999,990.##') AS total
  FROM llm_cost.daily_costs, jsonb_each_text(units)
 WHERE day = '2026-11-21'
 GROUP BY key ORDER BY key;

\echo
\echo '== By tenant and agent'
SELECT tenant_id AS tenant, agent_id AS agent, count(*) AS calls,
       '$' || to_char(sum(cost), 'FM999,990.00') AS cost,
       to_char(sum(cached_input_tokens)::numeric * 100 / nullif(sum(input_tokens), 0), 'FM990') || '%' AS cache_hit
  FROM llm_cost.usage
 GROUP BY tenant_id, agent_id
 ORDER BY sum(cost) DESC NULLS LAST;

\echo
\echo '== The most expensive call, explained'
SELECT u.provider || '/' || u.model AS call, u.occurred_at, b -> 'price' ->> 'source' AS price_source,
       b -> 'resolution' ->> 'method' AS resolved_by, '$' || (b ->> 'cost') AS cost
  FROM (SELECT * FROM llm_cost.usage WHERE cost IS NOT NULL ORDER BY cost DESC LIMIT 1) AS u,
       LATERAL llm_cost.cost_breakdown(u.provider, u.model, u.input_tokens, u.output_tokens, u.cached_input_tokens,
                                       u.cache_write_tokens, u.reasoning_tokens, u.occurred_at, u.service_tier) AS b;
SELECT c.key AS component, to_char((c.value ->> 'tokens')::bigint, 'FM999,999,999') AS tokens,
       '$' || (c.value ->> 'per_mtok') AS per_million, '$' || (c.value ->> 'cost') AS cost
  FROM (SELECT * FROM llm_cost.usage WHERE cost IS NOT NULL ORDER BY cost DESC LIMIT 1) AS u,
       LATERAL llm_cost.cost_breakdown(u.provider, u.model, u.input_tokens, u.output_tokens, u.cached_input_tokens,
                                       u.cache_write_tokens, u.reasoning_tokens, u.occurred_at, u.service_tier) AS b,
       LATERAL jsonb_each(b -> 'components') AS c
 ORDER BY array_position(ARRAY['input', 'cache_read', 'cache_write', 'output', 'reasoning'], c.key);

\echo
\echo '== Model names resolve as people write them'
SELECT name.provider, name.model,
       b -> 'resolution' ->> 'method' AS resolved_by,
       (b -> 'resolution' ->> 'resolved_provider') || '/' || (b -> 'resolution' ->> 'resolved_model') AS priced_as,
       '$' || (b ->> 'cost') AS cost_of_1m_in_100k_out
  FROM (VALUES ('openai', 'gpt-4o'), ('OpenAI', 'GPT-4o'), ('openai', 'gpt-4o-mini-20240718'),
               ('aws.bedrock', 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0'),
               ('anthropic', 'claude-sonnet-4-5-latest'), ('openrouter', 'openai/gpt-4o-mini'),
               ('google', 'gemini-2.5-pro')) AS name (provider, model),
       LATERAL llm_cost.cost_breakdown(name.provider, name.model, 1000000, 100000) AS b;

\echo
\echo '== Calls without a price are kept, not lost (the WARNING above), and priced once a price exists'
SELECT provider, model, count(*) AS calls FROM llm_cost.unpriced_usage GROUP BY 1, 2;
SELECT llm_cost.set_price('acme-internal', 'ticket-router-ft', input_per_mtok => 0.40, output_per_mtok => 1.60,
                          valid_from => '2026-01-01') AS new_price_id \gset
SELECT llm_cost.reprice('2026-11-21', '2026-11-22') AS rows_repriced_after_set_price;
SELECT '$' || to_char(sum(cost), 'FM999,990.00') AS total_cost_now, count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls
  FROM llm_cost.usage;


\echo
\echo '== Budget status at the end of that day (spend is kept exactly, in the same transaction as each insert)'
SELECT name, coalesce(per_value, '') AS per_value, '$' || round(spent, 2) AS spent, '$' || amount AS amount,
       percent_used || '%' AS used, calls, status
  FROM llm_cost.budget_status_at('2026-11-21 23:59+00')
 ORDER BY percent_used DESC
 LIMIT 8;
SELECT count(*) AS budgets_differing_from_the_ledger FROM llm_cost.budget_spend_drift;

\echo
\echo '== Before the next call: may acme spend $2.50 more that day? (acme has a hard cap of $40)'
SELECT llm_cost.can_spend(2.50, tenant_id => 'acme', at => '2026-11-21 23:00+00') AS acme_may_spend,
       llm_cost.can_spend(2.50, tenant_id => 'globex', at => '2026-11-21 23:00+00') AS globex_may_spend;

\echo
\echo '== Draining the notification queue (what a consumer that missed a NOTIFY does)'
SELECT kind, count(*) AS queued FROM llm_cost.notifications WHERE delivered_at IS NULL GROUP BY kind ORDER BY kind;
SELECT count(*) FILTER (WHERE llm_cost.ack_notification(id)) AS claimed_and_acked
  FROM llm_cost.claim_notifications(1000);
SELECT count(*) AS still_undelivered FROM llm_cost.notifications WHERE delivered_at IS NULL;
